"""What a person sees of a study in the Prefect UI: a live progress artifact, live plots (history,
importances, parameter-vs-value as inline PNGs, :mod:`hpo.plots`), a leaderboard table and the
best configuration, published by the tune flows.

Everything here reads the study store (a few SQL queries; the study summary is the query API's,
so this module sits in the query layer) and writes Prefect artifacts; nothing here carries a
secret (the store's URL is never put in an artifact: it is shown masked at most).
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any
from uuid import UUID

import optuna
from sqlalchemy import text

from hpo.claims import count_trials
from hpo.query import StudyClient, StudySummary
from hpo.settings import get_settings
from hpo.storage.counts import StateCounts
from hpo.study_setup import study_id_of

LEADERBOARD_SIZE = 10


def artifact_key(kind: str, study_name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{kind}-{study_name}".lower()).strip("-")[:120]


class PlotsArtifact:
    """One markdown artifact holding the study's plots, redrawn in place at most every
    ``interval_s`` seconds (``HPO_MONITORING_PLOT_INTERVAL_S``) and once more at the end."""

    def __init__(self, study_name: str, interval_s: float) -> None:
        self.study_name = study_name
        self.interval_s = interval_s
        self.artifact_id: UUID | None = None
        self._last_drawn = time.monotonic()  # the first drawing waits one interval
        self._last_count = -1
        # matplotlib takes a second or two to import: do it while the first trials run, not
        # when the first drawing is due (for a short run: at the end, on the command's clock).
        threading.Thread(target=_preload_matplotlib, daemon=True).start()

    def refresh(self, storage: optuna.storages.RDBStorage, *, final: bool = False) -> bool:
        """Redraw when due (or ``final``) and there are new completed trials; True if drawn."""
        due = self.interval_s > 0 and time.monotonic() - self._last_drawn >= self.interval_s
        if not (final or due):
            return False
        from hpo.plots import plots_markdown, study_plots

        self._last_drawn = time.monotonic()
        n_complete = count_trials(storage, study_id_of(storage, self.study_name)).complete
        if n_complete == self._last_count:
            return False
        pngs = study_plots(storage, self.study_name)
        self._publish(plots_markdown(self.study_name, pngs, n_complete))
        self._last_count = n_complete
        return True

    def _publish(self, markdown: str) -> None:
        if self.artifact_id is None:
            from prefect.artifacts import create_markdown_artifact

            artifact_id = create_markdown_artifact(
                markdown=markdown,
                key=artifact_key("plots", self.study_name),
                description=f"History, importances and parameter plots of {self.study_name}",
            )
            assert isinstance(artifact_id, UUID)  # sync call in a sync flow
            self.artifact_id = artifact_id
            return
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import ArtifactUpdate

        with get_client(sync_client=True) as client:
            client.update_artifact(self.artifact_id, ArtifactUpdate(data=markdown))


def _preload_matplotlib() -> None:
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401


class ProgressArtifact:
    """A progress bar in the flow run's Artifacts tab: finished trials / budget; each update
    also refreshes the run's :class:`PlotsArtifact` when due, and at the end."""

    def __init__(self, study_name: str, n_trials: int) -> None:
        from prefect.artifacts import create_progress_artifact

        self.study_name = study_name
        self.n_trials = n_trials
        self._last = -1.0
        self._text = ""
        artifact_id = create_progress_artifact(
            progress=0.0,
            key=artifact_key("progress", study_name),
            description=f"**0 of {n_trials}** finished trials of `{study_name}`",
        )
        assert isinstance(artifact_id, UUID)  # sync call in a sync flow
        self.artifact_id = artifact_id
        self.plots = PlotsArtifact(study_name, get_settings().monitoring.plot_interval_s)

    def update(self, storage: optuna.storages.RDBStorage) -> float:
        """Set the bar and the card's text (counts by state) from the store, when they moved."""
        from prefect.artifacts import update_progress_artifact

        counts = count_trials(storage, study_id_of(storage, self.study_name))
        progress = min(100.0, 100.0 * counts.finished / self.n_trials)
        text = progress_text(self.study_name, self.n_trials, counts)
        if (progress, text) != (self._last, self._text):
            update_progress_artifact(self.artifact_id, progress=progress, description=text)
            self._last, self._text = progress, text
        self.plots.refresh(storage, final=progress >= 100.0)
        return progress


def progress_text(study_name: str, n_trials: int, counts: StateCounts) -> str:
    """What the progress card says besides its bar (the UI shows nothing else on it)."""
    parts = [f"**{counts.finished} of {n_trials}** finished trials of `{study_name}`"]
    parts += [f"{n} {label}" for n, label in ((counts.running, "running"),
              (counts.pruned, "pruned"), (counts.fail, "failed")) if n]  # fmt: skip
    return " · ".join(parts)


_TOP_SQL = text(
    """
    SELECT t.trial_id, t.number, v.value, t.datetime_start, t.datetime_complete
    FROM trials t JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
    WHERE t.study_id = :sid AND t.state = 'COMPLETE'
    ORDER BY v.value {order}, t.number
    LIMIT :n
    """
)


def leaderboard(
    storage: optuna.storages.RDBStorage, study_name: str, n: int = LEADERBOARD_SIZE
) -> list[dict[str, Any]]:
    """The best ``n`` completed trials (one indexed query plus one trial read per row): one
    column per param, numbers rounded for reading, the value column named after the study's
    metric; an empty cell (never "-", which the UI's table shows as a bullet) where a trial
    lacks a param."""
    study_id = study_id_of(storage, study_name)
    direction = storage.get_study_directions(study_id)[0]
    metric = storage.get_study_user_attrs(study_id).get("hpo.metric") or "value"
    order = "DESC" if direction == optuna.study.StudyDirection.MAXIMIZE else "ASC"
    with storage.engine.connect() as conn:
        rows = conn.execute(
            text(_TOP_SQL.text.format(order=order)), {"sid": study_id, "n": n}
        ).all()
    trials = [storage.get_trial(row[0]) for row in rows]
    params = list(dict.fromkeys(name for trial in trials for name in trial.params))
    board = []
    for rank, ((_, number, value, start, end), trial) in enumerate(
        zip(rows, trials, strict=True), start=1
    ):
        seconds = (end - start).total_seconds() if start and end else None
        row: dict[str, Any] = {
            "rank": rank,
            "trial": number,
            metric: _readable(value),
            "seconds": round(seconds, 2) if seconds is not None else "",
            "worker": trial.user_attrs.get("worker") or "",
            "device": trial.user_attrs.get("device") or "",
        }
        for name in params:
            row[f"param {name}" if name in row else name] = _readable(trial.params.get(name))
        board.append(row)
    return board


def _readable(value: Any) -> Any:
    """Six significant digits for floats, an empty cell for a missing value."""
    if value is None:
        return ""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def best_config_markdown(summary: StudySummary, links: dict[str, str]) -> str:
    counts, best = summary.counts, summary.best_trial
    lines = [
        f"# Study `{summary.study_name}`",
        "",
        f"* sampler: **{summary.sampler}** · direction: {summary.direction}",
        f"* finished: **{counts.finished}** / {summary.n_trials_budget} "
        f"(complete {counts.complete}, pruned {counts.pruned}, failed {counts.fail})",
    ]
    if best is None or best.value is None:
        lines.append("* no completed trial yet")
    else:
        lines += [
            f"* best {summary.metric or 'value'}: **{best.value:.6g}** (trial {best.number})",
            "",
            "## Best configuration",
            "",
            "```json",
            json.dumps(best.params, indent=2, sort_keys=True, default=str),
            "```",
        ]
    if links:
        lines += ["", "## Links", ""] + [f"* [{name}]({url})" for name, url in links.items()]
    return "\n".join(lines)


def front_table(
    storage: optuna.storages.RDBStorage, study_name: str
) -> list[dict[str, Any]] | None:
    """The Pareto front as table rows (trial, each objective, params), or None for a study of
    one objective. The front plot is in the plots artifact (:mod:`hpo.front_plot`)."""
    study_id = study_id_of(storage, study_name)
    if len(storage.get_study_directions(study_id)) < 2:
        return None
    front = StudyClient(storage=storage).pareto_front(study_name)
    rows = []
    for trial in front.trials:
        row: dict[str, Any] = {"trial": trial.number}
        row.update(
            {n: _readable(v) for n, v in zip(front.objectives, trial.values or (), strict=True)}
        )
        row.update({k: _readable(v) for k, v in trial.params.items() if k not in row})
        rows.append(row)
    return rows


def study_links(storage: optuna.storages.RDBStorage, study_name: str) -> dict[str, str]:
    """Where else to look at the study: optuna-dashboard (``HPO_DASHBOARD_URL``) and this flow
    run's page in the Prefect UI."""
    from prefect.runtime import flow_run
    from prefect.settings import PREFECT_UI_URL

    links: dict[str, str] = {}
    dashboard = get_settings().dashboard_url
    if dashboard:
        study_id = study_id_of(storage, study_name)
        links["optuna-dashboard"] = f"{dashboard.rstrip('/')}/dashboard/studies/{study_id}"
    ui = PREFECT_UI_URL.value()
    if ui and flow_run.id:
        links["this flow run"] = f"{str(ui).rstrip('/')}/runs/flow-run/{flow_run.id}"
    return links


def publish_study(
    storage: optuna.storages.RDBStorage, study_name: str, links: dict[str, str] | None = None
) -> StudySummary:
    """Leaderboard table + best-config markdown artifacts for the current flow run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    summary = StudyClient(storage=storage).summary(study_name)
    front = front_table(storage, study_name)
    if front is not None:  # several objectives: the front, not a best configuration
        create_table_artifact(
            table=front,
            key=artifact_key("pareto-front", study_name),
            description=f"Pareto front of {study_name} (feasible COMPLETE trials)",
        )
    create_table_artifact(
        table=leaderboard(storage, study_name),
        key=artifact_key("leaderboard", study_name),
        description=f"Top {LEADERBOARD_SIZE} trials of {study_name}",
    )
    create_markdown_artifact(
        markdown=best_config_markdown(summary, links or {}),
        key=artifact_key("best-config", study_name),
        description=f"Best configuration of {study_name}",
    )
    return summary
