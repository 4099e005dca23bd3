"""The tune flow: open (or resume) a study, fan W trial workers out over it, report the best.

Thin by design: the work is in :func:`hpo.study_setup.open_study` and
:func:`hpo.workers.trial_runner.run_worker`, which are tested without Prefect. Parameters carry
the spec and the budget, never the database URL: every worker reads its store from its own
settings.
"""

from __future__ import annotations

import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from pydantic import BaseModel, ConfigDict

from hpo.monitoring import ProgressArtifact, publish_study, study_links
from hpo.query import StudySummary
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.settings import HpoSettings, get_settings, sized_for_threads
from hpo.store import get_storage, retry_store
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.interrupt import TrialCut, cut, grace_over
from hpo.workers.trial_runner import WorkerIdentity, WorkerReport, default_worker_name, run_worker


class TuneResult(BaseModel):
    """What a tune run returns: the study's state after the run and what each worker did."""

    model_config = ConfigDict(frozen=True)

    summary: StudySummary
    workers: list[WorkerReport]


def _settings(workers: int) -> HpoSettings:
    # In-process workers are threads sharing this process's one engine: size its pool for them.
    return sized_for_threads(get_settings(), workers)


@task(name="open-study", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def open_study_task(plan: StudyPlan, workers: int = 1) -> None:
    """Create or resume the study (and enqueue grid points)."""
    storage = get_storage(_settings(workers))
    retry_store(lambda: open_study(plan, storage), what="open the study")


@task(
    name="trial-worker",
    task_run_name="{plan.study_name}-worker-{index}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
)
def trial_worker_task(
    plan: StudyPlan, index: int, workers: int, deadline: float | None
) -> WorkerReport:
    """Run trials until the study's budget is taken."""
    identity = WorkerIdentity(name=default_worker_name(index))
    return run_worker(plan, identity, settings=_settings(workers), deadline=deadline)


@flow(name="hpo-tune", flow_run_name="tune-{study_name}-{sampler}", log_prints=True)
def tune_flow(
    spec: SearchSpaceSpec,
    study_name: str,
    sampler: str,
    n_trials: int,
    workers: int = 1,
    seed: int = 0,
) -> TuneResult:
    """Tune ``spec`` with ``workers`` parallel trial workers until the study holds ``n_trials``
    finished trials."""
    plan = StudyPlan(
        study_name=study_name, spec=spec, sampler=sampler, n_trials=n_trials, seed=seed
    )
    open_study_task(plan, workers)
    timeout = spec.budget.timeout_s
    deadline = time.time() + timeout if timeout else None
    storage = get_storage(_settings(workers))
    progress = ProgressArtifact(study_name, n_trials)
    futures = [trial_worker_task.submit(plan, i, workers, deadline) for i in range(workers)]
    # Every read rides out a store restart, as the workers do (hpo.store.retry_store).
    grace, cut_sent = get_settings().worker.interrupt_grace_s, False
    while wait(futures, timeout=2).not_done:
        retry_store(lambda: progress.update(storage), what="update the progress")
        if grace_over(grace) and not cut_sent:  # Ctrl-C, and trials still run: cut them
            cut(TrialCut)
            cut_sent = True
    retry_store(lambda: progress.update(storage), what="update the progress")
    reports = [f.result() for f in futures]
    summary = retry_store(
        lambda: publish_study(storage, study_name, study_links(storage, study_name)),
        what="publish the study",
    )
    return TuneResult(summary=summary, workers=reports)
