"""The tune flow: open (or resume) a study, fan W trial workers out over it, report the best.

Thin by design: the work is in :func:`hpo.studies.open_study` and
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

from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.store import get_storage
from hpo.studies import StudyPlan, open_study
from hpo.summary import StudySummary, summarize_study
from hpo.workers.trial_runner import WorkerIdentity, WorkerReport, default_worker_name, run_worker


class TuneResult(BaseModel):
    """What a tune run returns: the study's state after the run and what each worker did."""

    model_config = ConfigDict(frozen=True)

    summary: StudySummary
    workers: list[WorkerReport]


@task(name="open-study", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def open_study_task(plan: StudyPlan) -> None:
    """Create or resume the study (and enqueue grid points)."""
    open_study(plan, get_storage())


@task(
    name="trial-worker",
    task_run_name="{plan.study_name}-worker-{index}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
)
def trial_worker_task(plan: StudyPlan, index: int, deadline: float | None) -> WorkerReport:
    """Run trials until the study's budget is taken."""
    return run_worker(plan, WorkerIdentity(name=default_worker_name(index)), deadline=deadline)


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
    open_study_task(plan)
    timeout = spec.budget.timeout_s
    deadline = time.time() + timeout if timeout else None
    futures = [trial_worker_task.submit(plan, i, deadline) for i in range(workers)]
    wait(futures)
    reports = [f.result() for f in futures]
    return TuneResult(summary=summarize_study(study_name, get_storage()), workers=reports)
