"""A study's plots as small PNGs: optimization history (best so far), parameter importances and
parameter-vs-value; and how to show PNGs in the Prefect UI.

Drawn on bare matplotlib ``Figure`` objects (the Agg canvas; pyplot is not used, so no display
and no global backend state), small (about 20 KB each) so they can be inlined. The Prefect 3.8 UI
renders a markdown artifact's ``![alt](data:image/png;base64,...)`` image (checked with a
headless-Chromium screenshot, tests/hpo/cli/test_server.py), while a relative link such as
``convergence.png`` points nowhere the browser can reach: :func:`inline_images` turns such links
into data URIs.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo.front_plot import front_png
from hpo.search_spaces.schema import Direction
from hpo.study_setup import study_id_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Plot names, in the order they are shown; also the file stems of `hpo studies plot`.
PLOTS = ("history", "importances", "params")
MAX_PARAMS = 6
#: Importances need this many COMPLETE trials: PED-ANOVA compares the top 10% of trials with
#: the rest, which means little on fewer; and importing ``optuna.importance`` (scikit-learn)
#: costs seconds that a short run should not pay.
MIN_TRIALS_FOR_IMPORTANCES = 20
_SIZE = (6.0, 3.2)
_DPI = 80


def _figure(size: tuple[float, float] = _SIZE) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=_DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def best_so_far(values: Sequence[float], maximize: bool) -> list[float]:
    """The best value among the first 1, 2, ... values."""
    best: list[float] = []
    for v in values:
        best.append(v if not best else (max(best[-1], v) if maximize else min(best[-1], v)))
    return best


def history_png(trials: Sequence[FrozenTrial], maximize: bool, title: str) -> bytes:
    """Each COMPLETE trial's value by trial number, and the best value so far as a step line."""
    done = sorted(_complete(trials), key=lambda t: t.number)
    fig = _figure()
    ax = fig.add_subplot()
    xs = [t.number for t in done]
    ys = [float(t.value) for t in done if t.value is not None]
    best = best_so_far(ys, maximize)
    ax.scatter(xs, ys, s=12, color="#7aa6d6", label="trial value")
    ax.step(xs, best, where="post", color="#d62728", linewidth=1.8, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective value")
    ax.set_title(f"Optimization history · {title}", fontsize=10)
    if done:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no completed trial yet", ha="center", transform=ax.transAxes)
    return _png(fig)


def importances(trials: Sequence[FrozenTrial], maximize: bool) -> dict[str, float]:
    """PED-ANOVA importances of the COMPLETE trials (empty when there are fewer than
    :data:`MIN_TRIALS_FOR_IMPORTANCES`)."""
    done = _complete(trials)
    if len(done) < MIN_TRIALS_FOR_IMPORTANCES:
        return {}
    direction = StudyDirection.MAXIMIZE if maximize else StudyDirection.MINIMIZE
    quiet = logging.getLogger("optuna.storages._in_memory")  # no "A new study created" line
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        study = optuna.create_study(direction=direction)  # in memory: the evaluator wants one
    finally:
        quiet.setLevel(level)
    study.add_trials(done)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

        try:
            return dict(get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()))
        except (RuntimeError, ValueError):  # e.g. a single distinct value per param
            return {}


def importances_png(values: dict[str, float], title: str) -> bytes:
    """Horizontal bars, most important parameter on top."""
    fig = _figure()
    ax = fig.add_subplot()
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names], color="#2ca02c")
    ax.set_xlabel("importance (PED-ANOVA)")
    ax.set_title(f"Parameter importances · {title}", fontsize=10)
    if not values:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(
            0.5,
            0.5,
            f"needs {MIN_TRIALS_FOR_IMPORTANCES} completed trials",
            ha="center",
            transform=ax.transAxes,
        )
    return _png(fig)


def params_png(trials: Sequence[FrozenTrial], order: Sequence[str], title: str) -> bytes:
    """One small scatter per parameter (most important first): its value against the
    objective's; log axes for log-scale distributions, categories as labels."""
    done = _complete(trials)
    names = list(order) or sorted({p for t in done for p in t.params})
    names = names[:MAX_PARAMS]
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = _figure((6.0, 2.2 * rows))
    fig.suptitle(f"Parameter vs value · {title}", fontsize=10)
    if not names:
        fig.text(0.5, 0.5, "no completed trial yet", ha="center")
        return _png(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        have = [t for t in done if name in t.params]
        dist = have[0].distributions[name] if have else None
        ys = [float(t.value) for t in have if t.value is not None]
        if isinstance(dist, CategoricalDistribution):
            labels = [str(c) for c in dist.choices]
            xs: list[float] = [float(labels.index(str(t.params[name]))) for t in have]
            ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=30)
        else:
            xs = [float(t.params[name]) for t in have]
            if isinstance(dist, FloatDistribution | IntDistribution) and dist.log:
                ax.set_xscale("log")
                ax.tick_params(axis="x", which="minor", labelbottom=False)
        ax.scatter(xs, ys, s=8, color="#1f77b4", alpha=0.7)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    return _png(fig)


def study_plots(storage: optuna.storages.RDBStorage, study_name: str) -> dict[str, bytes]:
    """The three plots of a study, by name (:data:`PLOTS`), as PNG bytes; for a study of
    several objectives, its Pareto front instead (``front``, :mod:`hpo.front_plot`)."""
    study_id = study_id_of(storage, study_name)
    directions = storage.get_study_directions(study_id)
    maximize = directions[0] == StudyDirection.MAXIMIZE
    trials = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
    if len(directions) > 1:
        names = optuna.Study(study_name=study_name, storage=storage).metric_names
        names = names or [f"objective {i}" for i in range(len(directions))]
        senses: list[Direction] = [
            "maximize" if d == StudyDirection.MAXIMIZE else "minimize" for d in directions
        ]
        return {"front": front_png(trials, senses, names, study_name)}
    ranked = importances(trials, maximize)
    return {
        "history": history_png(trials, maximize, study_name),
        "importances": importances_png(ranked, study_name),
        "params": params_png(trials, list(ranked), study_name),
    }


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def plots_markdown(study_name: str, pngs: dict[str, bytes], n_complete: int) -> str:
    """The plots as one markdown document with inline images (what the Prefect UI shows)."""
    lines = [f"# Plots of study `{study_name}`", "", f"{n_complete} completed trials.", ""]
    for name, png in pngs.items():
        lines += [f"![{name}]({data_uri(png)})", ""]
    return "\n".join(lines)


_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s:]+\.png)\)")


def inline_images(markdown: str, base: Path) -> str:
    """Replace ``![alt](relative.png)`` links to files under ``base`` by data URIs, so the
    Prefect UI shows them (a relative link is a broken image there)."""

    def swap(match: re.Match[str]) -> str:
        path = base / match.group(2)
        if not path.is_file():
            return match.group(0)
        return f"![{match.group(1)}]({data_uri(path.read_bytes())})"

    return _IMAGE_LINK.sub(swap, markdown)


def write_plots(pngs: dict[str, bytes], directory: Path) -> list[Path]:
    """Write each plot as ``<name>.png`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, png in pngs.items():
        path = directory / f"{name}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths
