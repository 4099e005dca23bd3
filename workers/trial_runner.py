"""The trial loop one worker runs: claim a slot, sample, evaluate, record; until the budget is
taken. Plain functions, no Prefect: flows call :func:`run_worker`, tests call it directly.

Each trial records in its user attributes where it ran (``worker``, ``host``, ``pool``,
``device``) and, when it failed, why (``fail_reason`` in system attributes, as Optuna's own
``optimize`` does). An objective that raises or returns NaN/inf fails its trial; the worker goes
on with the next one. A heartbeat thread keeps the trial's lease while it runs; a trial whose
worker died is failed by the next claim after the grace period and its params are retried.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict

from hpo.claims import claim_next
from hpo.leases import reap_orphans, running_trials
from hpo.objectives_spec import CONSTRAINTS_KEY, METRICS_ATTR, TrialValues, trial_values
from hpo.search_spaces.schema import CategoricalParam, FloatParam, IntParam, SearchSpaceSpec
from hpo.settings import HpoSettings, get_settings
from hpo.storage import deferred_writes
from hpo.storage.counts import StateCounts
from hpo.store import get_storage, is_transient, retry_store
from hpo.study_setup import StudyPlan, join_study
from hpo.tracking.trials import TrialLogger
from hpo.workers.artifacts import TrialArtifacts, keep_best_models, open_artifact_store
from hpo.workers.devices import resolve_device
from hpo.workers.heartbeat import Heartbeat
from hpo.workers.interrupt import (
    TrialCut,
    TrialInterrupted,
    TrialTimedOut,
    cut,
    interruptible,
    stop_requested,
)
from hpo.workers.objectives.base import EvaluationSetup, TrialContext
from hpo.workers.objectives.registry import resolve_objective

logger = logging.getLogger(__name__)

#: How one trial ended, named as the trial states are counted (:class:`StateCounts` fields).
Outcome = Literal["complete", "pruned", "fail"]

#: Seconds between claims of a worker that waits for other workers' last trials (the time its
#: flow run may end after the study's last trial).
LINGER_POLL_S = 0.25
#: The fail reason of a trial cut by Ctrl-C.
INTERRUPTED = "interrupted (Ctrl-C)"


class WorkerReport(BaseModel):
    """What one worker did (returned by the worker task, shown in the flow's summary)."""

    model_config = ConfigDict(frozen=True)

    worker: str
    host: str
    device: str
    pool: str
    #: The trials it ran, by final state (COMPLETE, PRUNED, FAIL).
    counts: StateCounts
    stopped_because: str
    seconds: float


@dataclass(frozen=True)
class WorkerIdentity:
    name: str
    pool: str = "in-process"
    host: str = socket.gethostname()


def suggest_params(trial: optuna.Trial, spec: SearchSpaceSpec) -> dict[str, Any]:
    """Sample every param of the spec through the trial (fixed params of enqueued trials win)."""
    params: dict[str, Any] = {}
    for name, p in spec.params.items():
        if isinstance(p, IntParam):
            params[name] = trial.suggest_int(name, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, FloatParam):
            params[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, CategoricalParam):
            params[name] = trial.suggest_categorical(name, list(p.choices))
    return params


def run_worker(
    plan: StudyPlan,
    identity: WorkerIdentity,
    *,
    settings: HpoSettings | None = None,
    deadline: float | None = None,
) -> WorkerReport:
    """Run trials of ``plan`` until the budget is taken, the deadline passes or too many trials
    failed. Safe to run in many threads and processes at once."""
    settings = settings or get_settings()
    started = time.monotonic()
    storage = get_storage(settings)
    study = join_study(plan, storage)
    device = resolve_device(settings.worker.device, settings.worker.allow_cpu_fallback)
    objective = resolve_objective(plan.spec.objective)
    setup = EvaluationSetup(
        dataset=plan.spec.dataset or "",
        metric=plan.spec.metric or "",
        cv_folds=plan.spec.cv_folds,
        seed=plan.spec.seed,
        pruning_metric=plan.spec.pruner.metric or "",
    )
    max_failed = plan.spec.budget.max_failed_trials
    max_failed = plan.n_trials if max_failed is None else max_failed
    tally: dict[Outcome, int] = {"complete": 0, "pruned": 0, "fail": 0}
    waiting_only = plan.sampler == "grid"
    where: dict[str, str | int] = {
        "worker": identity.name,
        "host": identity.host,
        "pid": os.getpid(),  # with the host: tells a dead worker's trials (hpo.leases)
        "pool": identity.pool,
        "device": device,
    }

    mlflow_log = TrialLogger.for_study(settings, storage, plan.study_name)  # None: MLflow off
    heartbeat = Heartbeat(storage)  # one thread for the worker's trials, not one per trial
    watchdog = _timeout_watchdog(deadline)
    try:
        while True:
            if deadline is not None and time.time() >= deadline:
                reason = "timeout"
                break
            if stop_requested():
                reason = "interrupted"
                break
            claim = retry_store(
                lambda: claim_next(
                    study, storage, plan.n_trials, waiting_only=waiting_only, max_failed=max_failed
                ),
                what="claim a trial",
            )
            trial = claim.trial
            if trial is None:
                reason = claim.stopped_because or "budget reached"
                if "budget reached" in reason and _lease_pending(study, storage, identity.host):
                    continue  # a dead worker's trial holds a slot: retry it, do not end short
                break
            try:
                with heartbeat.running(trial._trial_id):
                    outcome = _run_one(
                        study, trial, plan.spec, objective, setup, device, settings, where
                    )
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # The store went away mid-trial: this trial stays RUNNING without heartbeats,
                # so after the grace period a claim fails it and its params run again. Go on.
                logger.warning(
                    "store unreachable during trial %d; it will be retried", trial.number
                )
                continue
            tally[outcome] += 1
            if mlflow_log is not None:  # never raises: MLflow down leaves the trial pending
                mlflow_log.after_trial(trial._trial_id, trial.number)
        if mlflow_log is not None:
            mlflow_log.flush()  # what other trials left pending (the last worker gets all)
    finally:
        heartbeat.close()
        if watchdog is not None:
            watchdog.cancel()

    report = WorkerReport(
        worker=identity.name,
        host=identity.host,
        device=device,
        pool=identity.pool,
        stopped_because=reason,
        seconds=round(time.monotonic() - started, 3),
        counts=StateCounts(**tally),
    )
    logger.info("worker %s stopped: %s", identity.name, report)
    return report


def _timeout_watchdog(deadline: float | None) -> threading.Timer | None:
    """At the deadline, cut this worker's trial if it still runs (a trial that never returns
    must not hold the study past ``budget.timeout_s``)."""
    if deadline is None:
        return None
    me = threading.get_ident()
    timer = threading.Timer(max(deadline - time.time(), 0.0), cut, args=(TrialTimedOut, {me}))
    timer.daemon = True
    timer.start()
    return timer


def _lease_pending(study: optuna.Study, storage: optuna.storages.RDBStorage, host: str) -> bool:
    """The budget is taken, but maybe not by trials that will finish. A RUNNING trial of a dead
    process on this host is failed now (its slot and params come back: claim again). While
    other trials run, the worker stays (claims again after a second): should one of them die,
    its lease ends, a claim fails it and its params run here. False: nothing runs, stop."""
    if retry_store(lambda: reap_orphans(study, storage, host), what="reap dead workers' trials"):
        return True
    running = retry_store(
        lambda: running_trials(storage, study._study_id), what="count running trials"
    )
    if not running:
        return False
    time.sleep(LINGER_POLL_S)
    return True


def _run_one(
    study: optuna.Study,
    trial: optuna.Trial,
    spec: SearchSpaceSpec,
    objective: Any,
    setup: EvaluationSetup,
    device: str,
    settings: HpoSettings,
    where: dict[str, str | int],
) -> Outcome:
    def report(step: int, value: float) -> None:
        if stop_requested():  # Ctrl-C: a trial that reports is cut here
            raise TrialInterrupted
        if spec.multi_objective:
            return  # Optuna keeps no intermediate values (and prunes nothing) then
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}")

    models = spec.artifacts.models
    files = TrialArtifacts(study, trial, settings, keep_models=models is not None)
    context = TrialContext(
        trial_number=trial.number,
        device=device,
        setup=setup,
        threads=settings.worker.threads,
        report=report,
        files=files,
    )
    outcome = _evaluate(study, trial, spec, objective, context, where)
    files.finish()  # the lineage is over: no retry will want its checkpoint
    if outcome == "complete" and models is not None:
        engine = get_storage(settings).engine
        keep_best_models(study, engine, models.best_k, open_artifact_store(settings))
    return outcome


def _evaluate(
    study: optuna.Study,
    trial: optuna.Trial,
    spec: SearchSpaceSpec,
    objective: Any,
    context: TrialContext,
    where: dict[str, str | int],
) -> Outcome:
    try:
        # Where the trial runs and its params: one write with a fast store.
        with deferred_writes(study._storage, trial._trial_id):
            for key, attr in where.items():
                trial.set_user_attr(key, attr)
            params = suggest_params(trial, spec)
        with interruptible():
            result = objective(params, context)
        outcome = trial_values(result, context.metrics, spec)  # ConfigError: it does not fit
    except optuna.TrialPruned:
        _tell(study, trial, state=optuna.trial.TrialState.PRUNED)
        return "pruned"
    except TrialCut:
        return _fail(study, trial, f"{INTERRUPTED}: still running at the end of the grace period")
    except TrialInterrupted:
        return _fail(study, trial, INTERRUPTED)
    except TrialTimedOut:
        return _fail(study, trial, "timeout: still running when budget.timeout_s ran out")
    except Exception as exc:  # the objective is user code: any error fails only this trial
        if is_transient(exc):  # ...unless it is the store going away under suggest/report
            raise
        return _fail(study, trial, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    except (SystemExit, KeyboardInterrupt) as exc:
        if (
            isinstance(exc, KeyboardInterrupt)
            and threading.current_thread() is threading.main_thread()
        ):
            # A real Ctrl-C (signals reach the main thread only): the trial is cut, the run ends.
            _fail(study, trial, INTERRUPTED)
            raise
        # The objective called sys.exit() or raised KeyboardInterrupt itself: a failed trial,
        # not the end of the worker (nor of the CLI around it).
        what = f"SystemExit({exc.code!r})" if isinstance(exc, SystemExit) else "KeyboardInterrupt"
        return _fail(study, trial, f"the objective raised {what}", traceback.format_exc())
    bad = [v for v in (*outcome.values, *outcome.constraints.values()) if not math.isfinite(v)]
    if bad:
        return _fail(study, trial, f"objective returned {bad[0]}, which is not a finite number")
    _record_metrics(study, trial, outcome)
    if isinstance(context.files, TrialArtifacts):
        try:
            context.files.store_model()  # before tell: a finished trial takes no attributes
        except Exception as exc:  # the value counts; a store that fails loses only the model
            if is_transient(exc):
                raise
            logger.warning("trial %d: model not stored: %s", trial.number, exc)
    _tell(study, trial, value=list(outcome.values))
    return "complete"


def _record_metrics(study: optuna.Study, trial: optuna.Trial, outcome: TrialValues) -> None:
    """The reported metrics (user attribute ``metrics``) and constraint values (system
    attributes ``constraints:<constraint>``, as Optuna 5's ``Trial.set_constraint`` writes them:
    its samplers and the Pareto front read them)."""
    if not outcome.metrics and not outcome.constraints:
        return
    with deferred_writes(study._storage, trial._trial_id):
        if outcome.metrics:
            trial.set_user_attr(METRICS_ATTR, outcome.metrics)
        for name, value in outcome.constraints.items():
            study._storage.set_trial_system_attr(
                trial._trial_id, f"{CONSTRAINTS_KEY}:{name}", value
            )


def _tell(
    study: optuna.Study,
    trial: optuna.Trial,
    *,
    value: float | list[float] | None = None,
    state: optuna.trial.TrialState | None = None,
) -> None:
    """Record the outcome, riding out a store restart: a finished trial is never dropped."""

    def tell() -> None:
        try:
            study.tell(trial, value, state=state, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # an earlier attempt committed before the connection dropped

    retry_store(tell, what=f"record trial {trial.number}")


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str, tb: str | None = None) -> Outcome:
    logger.warning("trial %d failed: %s", trial.number, reason)
    with deferred_writes(study._storage, trial._trial_id):
        study._storage.set_trial_system_attr(trial._trial_id, "fail_reason", reason[:2000])
        if tb:
            study._storage.set_trial_system_attr(trial._trial_id, "fail_traceback", tb[-4000:])
    _tell(study, trial, state=optuna.trial.TrialState.FAIL)
    return "fail"


def default_worker_name(index: int) -> str:
    return f"{socket.gethostname()}-{os.getpid()}-w{index}"
