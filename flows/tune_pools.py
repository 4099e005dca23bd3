"""The ``hpo-tune-pools`` flow: fan a study out over the CPU and GPU work pools.

It opens the study, starts ``cpu_workers`` runs of the ``trial-worker-cpu`` deployment and
``gpu_workers`` runs of ``trial-worker-gpu`` (each a process on some Prefect worker, on any
machine), then supervises them with :func:`hpo.fanout.supervise` until the study's budget is
taken: crashed runs are replaced, silent ones cancelled. Needs a Prefect server
(``PREFECT_API_URL``) with the pools and deployments created (``hpo pools create``,
``hpo deploy``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import arun_deployment, run_deployment
from prefect.states import Cancelled
from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import BaseModel, ConfigDict

from hpo.claims import count_trials
from hpo.fanout import WorkerRun, budget_taken, fell_short, states_due, supervise
from hpo.flows.trial_worker import trial_worker_run_name
from hpo.flows.tune import open_study_task
from hpo.monitoring import ProgressArtifact, publish_study, study_links
from hpo.query import StudyClient, StudySummary, WorkerTally
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.store import get_storage, retry_store
from hpo.study_setup import StudyPlan, study_id_of
from hpo.workers.interrupt import stop_requested

TRIAL_WORKER_FLOW = "hpo-trial-worker"
#: Seconds between refreshes of the progress artifact (the supervision itself polls every
#: ``poll_s``: the run ends that soon after its last trial-worker run; the runs' states are read
#: once a second until the budget is taken, :func:`hpo.fanout.states_due`).
PROGRESS_EVERY_S = 2.0


def deployment_name(pool: str) -> str:
    return f"{TRIAL_WORKER_FLOW}/trial-worker-{pool}"


class PoolsTuneResult(BaseModel):
    """What a tune run over the pools returns."""

    model_config = ConfigDict(frozen=True)

    summary: StudySummary
    workers: list[WorkerTally]
    runs: dict[str, str]  # flow run id -> final state
    relaunched: int
    reason: str


@flow(name="hpo-tune-pools", flow_run_name="tune-{study_name}-{sampler}-pools", log_prints=True)
def tune_on_pools_flow(
    spec: SearchSpaceSpec,
    study_name: str,
    sampler: str,
    n_trials: int,
    cpu_workers: int = 1,
    gpu_workers: int = 0,
    seed: int = 0,
    max_relaunches: int = 3,
    linger_s: float = 30.0,
    poll_s: float = 0.25,
) -> PoolsTuneResult:
    """Tune ``spec`` with trial-worker runs on the pools until the study holds ``n_trials``
    finished trials."""
    logger = get_run_logger()
    plan = StudyPlan(
        study_name=study_name, spec=spec, sampler=sampler, n_trials=n_trials, seed=seed
    )
    open_study_task(plan)
    timeout = spec.budget.timeout_s
    deadline = time.time() + timeout if timeout else None
    tags = [f"study:{study_name}", f"sampler:{sampler}"]
    runs: dict[str, WorkerRun] = {}
    failures: dict[str, str] = {}  # run id -> why it failed, for the final report

    def options(pool: str, index: int) -> dict[str, Any]:
        parameters = {"plan": plan, "index": index, "pool": pool, "deadline": deadline}
        return {"name": deployment_name(pool), "parameters": parameters, "timeout": 0,
                "as_subflow": True, "tags": tags,
                "flow_run_name": trial_worker_run_name(study_name, pool, index)}  # fmt: skip

    def launch(pool: str, index: int) -> None:
        flow_run = run_deployment(**options(pool, index))
        assert isinstance(flow_run, FlowRun)  # sync context: run_deployment does not await
        runs[str(flow_run.id)] = WorkerRun(str(flow_run.id), pool, index, "SCHEDULED")

    async def launch_all(pools: list[str]) -> list[FlowRun]:
        # One event loop: the W creations overlap, and each subflow's parent task run gets its
        # own dynamic key (computed between awaits, never by two coroutines at once).
        return await asyncio.gather(
            *(arun_deployment(**options(pool, i)) for i, pool in enumerate(pools))
        )

    def read_states(client: SyncPrefectClient) -> None:
        """Update ``runs`` (and ``failures``) from the Prefect API: one call for all runs."""
        ids = [UUID(i) for i in runs]
        for fr in client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
        ):
            old = runs[str(fr.id)]
            state = fr.state.type.value if fr.state else "SCHEDULED"
            if state in ("FAILED", "CRASHED") and fr.state and fr.state.message:
                failures[str(fr.id)] = f"{fr.name}: {fr.state.message}"
            runs[str(fr.id)] = WorkerRun(old.run_id, old.pool, old.index, state, old.relaunched)

    pools = ["cpu"] * cpu_workers + ["gpu"] * gpu_workers
    created = run_coro_as_sync(launch_all(pools)) if pools else []
    for index, (pool, flow_run) in enumerate(zip(pools, created or [], strict=True)):
        runs[str(flow_run.id)] = WorkerRun(str(flow_run.id), pool, index, "SCHEDULED")
    logger.info(
        "started %d trial-worker runs (%d cpu, %d gpu)", len(pools), cpu_workers, gpu_workers
    )

    storage = get_storage()
    # Like every store read below: the trial workers may already be running (and a store
    # restart under way) by the time the launches return.
    study_id = retry_store(lambda: study_id_of(storage, study_name), what="read the study id")
    relaunched = 0
    taken_since: float | None = None
    progress = ProgressArtifact(study_name, n_trials)
    progress_at = 0.0
    states_at: float | None = None  # when the runs' states were last read
    with get_client(sync_client=True) as client:
        while True:
            time.sleep(poll_s)
            counts = retry_store(lambda: count_trials(storage, study_id), what="count trials")
            if taken_since is None and budget_taken(counts, n_trials, grid=sampler == "grid"):
                taken_since = time.monotonic()
            since = None if states_at is None else time.monotonic() - states_at
            if states_due(since, budget_is_taken=taken_since is not None):
                states_at = time.monotonic()
                read_states(client)
            if time.monotonic() - progress_at >= PROGRESS_EVERY_S:
                retry_store(lambda: progress.update(storage), what="update progress")
                progress_at = time.monotonic()
            decision = supervise(
                list(runs.values()),
                counts,
                n_trials,
                grid=sampler == "grid",
                relaunches_left=max_relaunches - relaunched,
                seconds_since_budget_taken=(
                    time.monotonic() - taken_since if taken_since is not None else None
                ),
                linger_s=linger_s,
            )
            for run in decision.relaunch:
                logger.warning("worker run %s crashed; starting a replacement", run.run_id)
                runs[run.run_id] = WorkerRun(run.run_id, run.pool, run.index, run.state, True)
                relaunched += 1
                launch(run.pool, len(runs))
            for run in decision.cancel:
                logger.warning(
                    "worker run %s did not stop after the budget; cancelling", run.run_id
                )
                client.set_flow_run_state(
                    UUID(run.run_id), Cancelled(message="study budget taken"), force=True
                )
                runs[run.run_id] = WorkerRun(run.run_id, run.pool, run.index, "CANCELLED", True)
            if decision.done:
                reason = decision.reason
                break
            if stop_requested():  # Ctrl-C of `hpo tune`: cancel every run still going
                for run in runs.values():
                    if not run.final:
                        client.set_flow_run_state(
                            UUID(run.run_id), Cancelled(message="interrupted"), force=True
                        )
                reason = "interrupted"
                break

    retry_store(lambda: progress.update(storage), what="update progress")  # the final count
    summary = retry_store(
        lambda: publish_study(storage, study_name, study_links(storage, study_name)),
        what="publish the study",
    )
    result = PoolsTuneResult(
        summary=summary,
        workers=retry_store(
            lambda: StudyClient(storage=storage).trials_by_worker(study_name),
            what="count trials by worker",
        ),
        runs={r.run_id: r.state for r in runs.values()},
        relaunched=relaunched,
        reason=reason,
    )
    timed_out = deadline is not None and time.time() >= deadline
    finished = summary.counts.finished
    short = fell_short(finished, n_trials, grid=sampler == "grid", timed_out=timed_out)
    if short and not stop_requested():  # after a Ctrl-C, the CLI says what is missing
        why = "; ".join(sorted(set(failures.values()))[:3]) or "see the trial-worker runs' logs"
        raise RuntimeError(
            f"study {study_name!r} holds {finished} of {n_trials} finished trials: {reason}. {why}"
        )
    return result
