"""The compare flow: one study per (sampler, seed) on the same space and budget, all run at once,
then a report published as Prefect artifacts and files.

Thin by design: planning, the group tables, the statistics and the files are plain functions of
:mod:`hpo.compare` (tested without Prefect). In-process, every (study, worker) pair is one
``trial-worker`` task of :mod:`hpo.flows.tune` on a thread pool sized to the total. With
``cpu_workers``/``gpu_workers``, each study is fanned out over the work pools by the
``hpo-tune-pools`` flow (:mod:`hpo.flows.tune_pools`), run as a subflow of one task per study so
the studies proceed side by side; ``cpu_workers``/``gpu_workers`` are trial-worker runs *per study*.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, wait
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, ConfigDict

from hpo.compare.groups import set_status
from hpo.compare.models import ComparisonReport
from hpo.compare.plan import ComparisonPlan, MemberPlan, plan_comparison
from hpo.compare.render import ReportFiles, render_markdown, table_rows
from hpo.compare.run import ComparisonOutcome, comparison_settings, finish_group, start_group
from hpo.errors import ConfigError
from hpo.flows.tune import trial_worker_task
from hpo.plots import inline_images
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.store import get_storage


class ComparisonResult(BaseModel):
    """What a compare run returns: the report, its files and the artifact keys."""

    model_config = ConfigDict(frozen=True)

    group: str
    report: ComparisonReport
    files: ReportFiles
    artifact_keys: list[str]


def artifact_key(group: str) -> str:
    """``compare-<group>`` in the alphabet Prefect allows for keys (lowercase, digits, dashes)."""
    return "compare-" + re.sub(r"[^a-z0-9-]+", "-", group.lower()).strip("-")


@task(name="start-comparison", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def start_group_task(plan: ComparisonPlan, threads: int, target: float | None) -> None:
    """Store (or resume) the comparison group and open every study."""
    start_group(plan, get_storage(comparison_settings(threads)), target=target)


@task(
    name="study-on-pools",
    task_run_name="{member.plan.study_name}-on-pools",
    cache_policy=NO_CACHE,
)
def study_on_pools_task(member: MemberPlan, cpu_workers: int, gpu_workers: int) -> str:
    """Run one study's trials on the work pools (the hpo-tune-pools flow, as a subflow)."""
    from hpo.flows.tune_pools import tune_on_pools_flow

    result = tune_on_pools_flow(
        spec=member.plan.spec,
        study_name=member.plan.study_name,
        sampler=member.plan.sampler,
        n_trials=member.plan.n_trials,
        cpu_workers=cpu_workers,
        gpu_workers=gpu_workers,
        seed=member.plan.seed,
    )
    return result.reason


@task(name="build-comparison-report", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def report_task(
    plan: ComparisonPlan, threads: int, target: float | None, output_dir: str | None
) -> ComparisonOutcome:
    """Read the studies, compute the report, write its files, store it in the group row."""
    return finish_group(
        plan,
        get_storage(comparison_settings(threads)),
        target=target,
        output_dir=Path(output_dir) if output_dir else None,
    )


@task(name="publish-comparison-artifacts", cache_policy=NO_CACHE)
def publish_task(outcome: ComparisonOutcome) -> list[str]:
    """The report as a markdown artifact and the per-sampler table as a table artifact."""
    key = artifact_key(outcome.group)
    report, files = outcome.report, outcome.files
    create_markdown_artifact(
        # The PNG inlined as a data URI: a relative link is a broken image in the Prefect UI.
        markdown=inline_images(render_markdown(report, files.png), files.png.parent),
        key=key,
        description=f"Sampler comparison {outcome.group}: verdict, results, tests",
    )
    create_table_artifact(
        table=table_rows(report),
        key=f"{key}-table",
        description=f"Sampler comparison {outcome.group}: one row per sampler",
    )
    return [key, f"{key}-table"]


def _run_all(fn: Task[..., Any], calls: list[dict[str, Any]], *, threads: int) -> list[Any]:
    """Submit one task run per call on a thread pool of ``threads`` (sized per run, whatever
    task runner the flow was deployed with); wait for all, then raise the first error."""
    runner: ThreadPoolTaskRunner[Any]
    with ThreadPoolTaskRunner(max_workers=threads) as runner:
        futures: list[PrefectFuture[Any]] = [runner.submit(fn, call) for call in calls]
        wait(futures)
        return [f.result() for f in futures]


@flow(name="hpo-compare", flow_run_name="compare-{group}", log_prints=True)
def compare_flow(
    spec: SearchSpaceSpec,
    group: str,
    samplers: list[str],
    n_trials: int,
    seeds: int | list[int] = 5,
    workers_per_study: int | list[int] = 1,
    cpu_workers: int = 0,
    gpu_workers: int = 0,
    target: float | None = None,
    output_dir: str | None = None,
    reference_point: dict[str, float] | None = None,
) -> ComparisonResult:
    """Compare ``samplers`` on ``spec``: ``n_trials`` finished trials per study, one study per
    (sampler, seed) (``seeds``: a count K for seeds 0..K-1, or the seeds), all at once.
    ``workers_per_study``: in-process workers per study; a list of counts compares them
    (arms ``sampler@wN``, in-process only). A spec of several objectives is compared by
    hypervolume against ``reference_point`` (objective metric -> value; default: the spec's,
    or the known one of a benchmark problem)."""
    logger = get_run_logger()
    plan = plan_comparison(  # fails before any run
        spec,
        samplers,
        n_trials,
        seeds,
        group=group,
        workers=workers_per_study,
        reference_point=reference_point,
    )
    on_pools = cpu_workers + gpu_workers > 0
    if on_pools and len(plan.workers) > 1:
        raise ConfigError(
            "worker counts are compared in-process only (--workers 1,4), not on the pools",
            fix="drop --cpu-workers/--gpu-workers, or give --workers one count",
        )
    threads = 1 if on_pools else sum(m.workers for m in plan.members)
    start_group_task(plan, threads, target)
    logger.info(
        "comparison %s: %d studies (%s x seeds %s), %s",
        plan.group,
        len(plan.members),
        ",".join(plan.arms),
        ",".join(map(str, plan.seeds)),
        f"{cpu_workers} cpu + {gpu_workers} gpu worker runs per study"
        if on_pools
        else f"{threads} in-process trial workers",
    )
    try:
        if on_pools:
            calls = [
                {"member": m, "cpu_workers": cpu_workers, "gpu_workers": gpu_workers}
                for m in plan.members
            ]
            _run_all(study_on_pools_task, calls, threads=len(calls))
        else:
            timeout = spec.budget.timeout_s
            deadline = time.time() + timeout if timeout else None
            calls = [
                {"plan": m.plan, "index": i, "workers": threads, "deadline": deadline}
                for m in plan.members
                for i in range(m.workers)
            ]
            _run_all(trial_worker_task, calls, threads=threads)
    except BaseException:
        set_status(plan.group, "failed", storage=get_storage(comparison_settings(threads)))
        raise
    outcome = report_task(plan, threads, target, output_dir)
    keys = publish_task(outcome)
    print(outcome.report.verdict)
    print(f"report: {outcome.files.markdown}")
    return ComparisonResult(
        group=plan.group, report=outcome.report, files=outcome.files, artifact_keys=keys
    )
