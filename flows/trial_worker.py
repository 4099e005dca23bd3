"""The trial-worker flow: one worker process on a work pool, running trials of one study.

Deployed once per pool (``prefect.yaml``: ``trial-worker-cpu``, ``trial-worker-gpu``); the
``hpo-tune-pools`` flow starts W runs of it. On a GPU worker the run occupies the GPU's strict
global concurrency slot (``HPO_WORKER_GPU_SLOT``) for as long as it runs trials.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from hpo.errors import RetryableError
from hpo.settings import get_settings
from hpo.study_setup import StudyPlan
from hpo.workers.trial_runner import WorkerIdentity, WorkerReport, default_worker_name, run_worker


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass (the store restarting); a bad spec or a missing GPU fails fast."""
    try:
        state.result()
    except RetryableError:
        return True
    except Exception:
        return False
    return False


@task(
    name="run-trials",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_transient,
)
def run_trials_task(plan: StudyPlan, index: int, pool: str, deadline: float | None) -> WorkerReport:
    """Run trials until the study's budget is taken."""
    identity = WorkerIdentity(name=default_worker_name(index), pool=pool)
    return run_worker(plan, identity, deadline=deadline)


def trial_worker_run_name(study_name: str, pool: str, index: int) -> str:
    """The name of a trial-worker run, given when the run is created (``hpo-tune-pools``).

    Not the flow's ``flow_run_name``: with one, Prefect's engine renames the run as it starts,
    one more API call before Running, paid by each of the W runs starting at once on a server
    they all wait for. Named at creation, the run also carries its name to the worker, so a
    container or a Kubernetes job is named after it (``{{ flow_run.name }}``)."""
    return f"{study_name}-{pool}-{index}"


@flow(name="hpo-trial-worker")
def trial_worker_flow(
    plan: StudyPlan, index: int = 0, pool: str = "cpu", deadline: float | None = None
) -> WorkerReport:
    """Join ``plan``'s study and run trials on this worker's device until the budget is taken."""
    slot = get_settings().worker.gpu_slot
    guard = concurrency(slot, occupy=1, strict=True) if slot else nullcontext()
    with guard:
        return run_trials_task(plan, index, pool, deadline)
