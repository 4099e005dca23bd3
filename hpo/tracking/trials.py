"""Studies and trials in MLflow (layer: execution): each study is one MLflow run, each finished
trial (COMPLETE, PRUNED or FAIL) one run nested in it, with its params, value, intermediate
values, where it ran (worker, host, pool, device) and its duration.

Who logs: the worker that finished a trial, right after recording it, in a thread of its own
(:class:`TrialLogger`), so logging scales with the workers and no trial waits for MLflow. What
makes it safe with many workers and MLflow outages is PostgreSQL (:mod:`hpo.tracking.marks`):
a trial is logged under a claim on its row, at most once per server; a trial that could not be
logged stays pending and is logged by the next sync, which every worker runs when it stops
(:meth:`TrialLogger.flush`) and which ``hpo studies sync-mlflow NAME`` runs by hand. A failure
to reach MLflow never fails a trial.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import optuna
import sqlalchemy as sa
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict

from hpo.errors import HpoError
from hpo.redaction import redact
from hpo.settings import HpoSettings
from hpo.store import LOCK_NAMESPACE
from hpo.tracking import marks
from hpo.tracking.client import Mlflow, connect

if TYPE_CHECKING:
    from mlflow.entities import Metric

logger = logging.getLogger(__name__)

#: Seconds a worker may take to log one trial before another may take it over.
LEASE_S = 120.0
#: MLflow's limits of metrics and params in one ``log_batch`` call.
BATCH_METRICS, BATCH_PARAMS = 1000, 100
#: A study's own run in ``hpo_mlflow_runs``.
STUDY_RUN = -1
_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}
_STUDY_LOCK = sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))")


class SyncReport(BaseModel):
    """What a sync of one study did."""

    model_config = ConfigDict(frozen=True)

    study_name: str
    run_id: str | None  # the study's MLflow run
    logged: int  # trials logged by this sync
    synced: int  # trials of the study in MLflow after it
    pending: int  # finished trials not in MLflow (still failing, or logged by another worker)
    error: str | None = None  # why some are pending (masked)

    def line(self) -> str:
        text = (
            f"{self.study_name}: {self.logged} trial(s) logged to MLflow now, {self.synced} in "
            f"MLflow, {self.pending} pending"
        )
        return text + (f" ({self.error.splitlines()[0]})" if self.error else "")


def study_run(conn: Mlflow, storage: optuna.storages.RDBStorage, study_id: int, name: str) -> str:
    """The MLflow run of a study: created once per server, whatever the number of workers
    asking at the same time (under a PostgreSQL advisory lock), then read back."""
    engine = storage.engine
    marks.create_tables(engine)
    key = f"hpo_mlflow:{conn.server}:{study_id}"
    with engine.begin() as db:
        db.execute(_STUDY_LOCK, {"ns": LOCK_NAMESPACE, "key": key})
        run_id = db.execute(
            sa.select(marks.runs.c.run_id).where(
                marks.runs.c.server == conn.server,
                marks.runs.c.study_id == study_id,
                marks.runs.c.trial_number == STUDY_RUN,
            )
        ).scalar_one_or_none()
        if run_id:
            return str(run_id)
        attrs = storage.get_study_user_attrs(study_id)
        tags = {"hpo.study": name, "hpo.study_id": str(study_id)}
        for field in ("objective", "dataset", "metric", "sampler", "n_trials", "spec_hash"):
            if attrs.get(f"hpo.{field}") is not None:
                tags[f"hpo.{field}"] = str(attrs[f"hpo.{field}"])
        tags["hpo.direction"] = storage.get_study_directions(study_id)[0].name.lower()
        run = conn.call(
            f"create the run of study {name!r}",
            lambda: conn.client.create_run(conn.experiment_id, run_name=name, tags=tags),
        )
        db.execute(
            sa.insert(marks.runs).values(
                server=conn.server, study_id=study_id, trial_number=STUDY_RUN,
                run_id=run.info.run_id, synced=True,
            )
        )  # fmt: skip
        return str(run.info.run_id)


def log_trial(
    conn: Mlflow,
    storage: optuna.storages.RDBStorage,
    study_id: int,
    parent_run_id: str,
    trial_id: int,
    number: int,
    metric_name: str | None = None,
) -> bool:
    """Log one finished trial as a nested run; False when it is logged already or another
    worker logs it now. Raises :class:`~hpo.errors.TrackingUnavailableError` (or
    :class:`~hpo.errors.TrackingError`) with the trial left pending."""
    engine = storage.engine
    claimed = marks.claim_trial(engine, conn.server, study_id, number, LEASE_S)
    if claimed is None:
        return False
    try:
        trial = storage.get_trial(trial_id)
        run_id = claimed.run_id
        if run_id is None:  # else: an earlier attempt created the run; finish that one
            tags = _trial_tags(trial, parent_run_id)
            run = conn.call(
                f"create the run of trial {number}",
                lambda: conn.client.create_run(
                    conn.experiment_id, start_time=_ms(trial.datetime_start), tags=tags,
                    run_name=f"trial-{number}",
                ),
            )  # fmt: skip
            run_id = run.info.run_id
            marks.set_run(engine, conn.server, study_id, number, run_id)
        params = [(k, _param(v)) for k, v in trial.params.items()]
        metrics = _trial_metrics(trial, metric_name)
        _log_batch(conn, run_id, params, metrics, f"log trial {number}")
        conn.call(
            f"end the run of trial {number}",
            lambda: conn.client.set_terminated(
                run_id, _STATUS.get(trial.state, "FINISHED"), end_time=_ms(trial.datetime_complete)
            ),
        )
    except BaseException as exc:
        error = str(exc)[:2000] if isinstance(exc, HpoError) else f"{type(exc).__name__}"
        marks.release(engine, conn.server, study_id, number, error=error)
        raise
    marks.release(engine, conn.server, study_id, number)
    return True


def sync_study(
    settings: HpoSettings,
    storage: optuna.storages.RDBStorage,
    study_name: str,
    *,
    metric_name: str | None = None,
) -> SyncReport:
    """Log every finished trial of ``study_name`` that is not in MLflow yet (idempotent, safe
    beside running workers); stops at the first failure, the rest left pending. Raises
    :class:`~hpo.errors.TrackingUnavailableError` when MLflow cannot be reached at all."""
    conn = connect(settings)
    if conn is None:
        raise HpoError(
            "MLflow tracking is off: HPO_MLFLOW_TRACKING_URI is not set",
            fix="set HPO_MLFLOW_TRACKING_URI=http://HOST:5000 (and pip install "
            "'prefect-hpo[mlflow]')",
        )
    study_id = storage.get_study_id_from_name(study_name)
    if metric_name is None:
        metric_name = storage.get_study_user_attrs(study_id).get("hpo.metric")
    parent = study_run(conn, storage, study_id, study_name)
    logged, error = 0, None
    for trial_id, number in marks.unsynced_trials(storage.engine, conn.server, study_id):
        try:
            logged += log_trial(conn, storage, study_id, parent, trial_id, number, metric_name)
        except HpoError as exc:
            error = redact(str(exc), conn.uri)
            break
    if error is None:
        try:
            _log_study_best(conn, storage, study_id, parent)
        except HpoError as exc:
            error = redact(str(exc), conn.uri)
    synced = marks.synced_count(storage.engine, conn.server, study_id)
    pending = len(marks.unsynced_trials(storage.engine, conn.server, study_id))
    if error is None and pending == 0:
        try:
            _end_study_run(conn, storage, study_id, parent)
        except HpoError as exc:
            error = redact(str(exc), conn.uri)
    return SyncReport(
        study_name=study_name, run_id=parent, logged=logged, synced=synced, pending=pending,
        error=error,
    )  # fmt: skip


class TrialLogger:
    """A worker's MLflow logging: :meth:`after_trial` hands the trial it just finished to a
    logging thread and returns at once (the next trial does not wait for MLflow);
    :meth:`flush` waits for that thread, then syncs what is still pending when the worker
    stops. Neither ever raises: MLflow being down leaves trials pending (logged later), never
    fails one. A trial queued in a process that dies is logged by the next sync."""

    def __init__(
        self, settings: HpoSettings, storage: optuna.storages.RDBStorage, study_name: str
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._study_name = study_name
        self._study_id = storage.get_study_id_from_name(study_name)
        self._metric = storage.get_study_user_attrs(self._study_id).get("hpo.metric")
        self._parent: str | None = None
        self._behind = False  # a trial was left pending: sync at the next success
        self._queue: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_study(
        cls, settings: HpoSettings, storage: optuna.storages.RDBStorage, study_name: str
    ) -> TrialLogger | None:
        """A logger when MLflow tracking is on (HPO_MLFLOW_TRACKING_URI), else None."""
        if settings.mlflow.tracking_uri is None:
            return None
        return cls(settings, storage, study_name)

    def after_trial(self, trial_id: int, number: int) -> None:
        """Queue a finished trial for the logging thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._drain, name=f"mlflow-{self._study_name}", daemon=True
            )
            self._thread.start()
        self._queue.put((trial_id, number))

    def flush(self) -> SyncReport | None:
        """Wait for the queued trials, then sync the study's pending ones (the worker stops);
        None when MLflow failed."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        try:
            report = self._sync()
        except Exception as exc:
            logger.warning("MLflow sync of %s failed: %s", self._study_name, self._masked(exc))
            return None
        (logger.warning if report.pending else logger.info)("%s", report.line())
        return report

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            self.log(*item)

    def log(self, trial_id: int, number: int) -> None:
        """Log one trial now (the logging thread's work)."""
        started = time.perf_counter()
        try:
            conn = connect(self._settings)
            assert conn is not None
            if self._parent is None:
                self._parent = study_run(conn, self._storage, self._study_id, self._study_name)
            log_trial(
                conn, self._storage, self._study_id, self._parent, trial_id, number, self._metric
            )
            if self._behind:
                self._behind = False
                logger.info("MLflow is back: %s", self._sync().line())
        except Exception as exc:  # never fail the trial loop: the trial stays pending
            self._behind = True
            logger.warning(
                "trial %d not logged to MLflow (pending, synced later): %s",
                number,
                self._masked(exc),
            )
        logger.debug("MLflow logging of trial %d: %.1f ms", number, _ms_since(started))

    def _sync(self) -> SyncReport:
        return sync_study(self._settings, self._storage, self._study_name, metric_name=self._metric)

    def _masked(self, exc: BaseException) -> str:
        uri = self._settings.mlflow.tracking_uri
        text = str(exc) if isinstance(exc, HpoError) else f"{type(exc).__name__}: {exc}"
        return redact(text.splitlines()[0] if text else "", uri.get_secret_value() if uri else None)


def _log_study_best(
    conn: Mlflow, storage: optuna.storages.RDBStorage, study_id: int, run_id: str
) -> None:
    """The study's run gets the best value so far (step = finished trials) and best params."""
    try:
        best = storage.get_best_trial(study_id)
    except ValueError:
        return  # no COMPLETE trial yet
    except RuntimeError:
        return  # several objectives: a front, no best trial (hpo studies front)
    n = storage.get_n_trials(study_id, (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    from mlflow.entities import Metric, RunTag

    stamp = _ms(best.datetime_complete)
    assert best.value is not None
    metrics = [
        Metric("best_value", best.value, stamp, n),
        Metric("best_trial", best.number, stamp, n),
    ]
    tags = [RunTag(f"best.{k}", _param(v)) for k, v in list(best.params.items())[:90]]
    conn.call(
        "update the study's run",
        lambda: conn.client.log_batch(run_id, metrics=metrics, tags=tags),
    )


def _end_study_run(
    conn: Mlflow, storage: optuna.storages.RDBStorage, study_id: int, run_id: str
) -> None:
    """The study's run ends (FINISHED) once the study holds its budget of COMPLETE trials and
    every finished trial is in MLflow; a resume with a larger budget logs into it again."""
    target = storage.get_study_user_attrs(study_id).get("hpo.n_trials")
    done = storage.get_n_trials(study_id, (TrialState.COMPLETE,))
    if target is None or done < int(target):
        return
    conn.call(
        "end the study's run",
        lambda: conn.client.set_terminated(run_id, "FINISHED"),
    )


def _trial_tags(trial: FrozenTrial, parent_run_id: str) -> dict[str, str]:
    tags = {
        "mlflow.parentRunId": parent_run_id,
        "hpo.trial_number": str(trial.number),
        "hpo.state": trial.state.name,
    }
    for key in ("worker", "host", "pool", "device"):
        if key in trial.user_attrs:
            tags[key] = str(trial.user_attrs[key])[:250]
    for key in ("fail_reason", "failed_trial"):
        if key in trial.system_attrs:
            tags[f"hpo.{key}"] = str(trial.system_attrs[key])[:5000]
    return tags


def _trial_metrics(trial: FrozenTrial, metric_name: str | None) -> list[Metric]:
    from mlflow.entities import Metric

    stamp = _ms(trial.datetime_complete)
    metrics: list[Metric] = []
    if trial.values is not None and len(trial.values) == 1:
        metrics.append(Metric("value", trial.values[0], stamp, 0))
        if metric_name and metric_name != "value":
            metrics.append(Metric(metric_name, trial.values[0], stamp, 0))
    elif trial.values is not None:
        metrics.extend(Metric(f"value_{i}", v, stamp, 0) for i, v in enumerate(trial.values))
    metrics.extend(
        Metric("intermediate_value", v, stamp, int(step))
        for step, v in sorted(trial.intermediate_values.items())
    )
    if trial.duration is not None:
        metrics.append(Metric("duration_s", trial.duration.total_seconds(), stamp, 0))
    return metrics


def _log_batch(
    conn: Mlflow, run_id: str, params: list[tuple[str, str]], metrics: list[Metric], what: str
) -> None:
    """As few ``log_batch`` calls as MLflow's limits allow (one for every built-in spec)."""
    from mlflow.entities import Param

    n = max(1, -(-len(metrics) // BATCH_METRICS), -(-len(params) // BATCH_PARAMS))
    for i in range(n):
        chunk = metrics[i * BATCH_METRICS : (i + 1) * BATCH_METRICS]
        some = [Param(k, v) for k, v in params[i * BATCH_PARAMS : (i + 1) * BATCH_PARAMS]]
        conn.call(what, partial(conn.client.log_batch, run_id, metrics=chunk, params=some))


def _param(value: Any) -> str:
    return str(value)[:6000]


def _ms(moment: datetime | None) -> int:
    """Milliseconds since the epoch of one of Optuna's (naive, local) datetimes."""
    return int((moment or datetime.now()).timestamp() * 1000)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
