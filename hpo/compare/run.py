"""The steps of a comparison as plain functions (no Prefect): the ``hpo-compare`` flow strings
them together as tasks, and :func:`run_comparison` runs them in threads for tests and notebooks.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import optuna
from pydantic import BaseModel, ConfigDict

from hpo.compare.groups import GroupRecord, create_group, set_status
from hpo.compare.models import ComparisonReport
from hpo.compare.plan import ComparisonPlan
from hpo.compare.render import ReportFiles, write_report_files
from hpo.compare.report import build_report
from hpo.compare.traces import load_traces
from hpo.settings import HpoSettings, get_settings, sized_for_threads
from hpo.store import get_storage
from hpo.study_setup import open_study
from hpo.workers.trial_runner import WorkerIdentity, WorkerReport, default_worker_name, run_worker


class ComparisonOutcome(BaseModel):
    """What a comparison run returns: the report and where its files are."""

    model_config = ConfigDict(frozen=True)

    group: str
    report: ComparisonReport
    files: ReportFiles


def start_group(
    plan: ComparisonPlan, storage: optuna.storages.RDBStorage, *, target: float | None = None
) -> GroupRecord:
    """Store (or resume) the group, then create (or resume) each of its studies."""
    record = create_group(plan, target=target, storage=storage)
    for member in plan.members:
        open_study(member.plan, storage)
    return record


def finish_group(
    plan: ComparisonPlan,
    storage: optuna.storages.RDBStorage,
    *,
    target: float | None = None,
    output_dir: Path | None = None,
) -> ComparisonOutcome:
    """Build the report from the studies, write its files, store it in the group row."""
    objectives = len(plan.hypervolume.metrics) if plan.hypervolume is not None else 1
    traces = load_traces(
        storage, [(m.arm, m.seed, m.study_name) for m in plan.members], objectives=objectives
    )
    report = build_report(plan, traces, target=target)
    files = write_report_files(report, output_dir)
    set_status(plan.group, "done", report=report, storage=storage)
    return ComparisonOutcome(group=plan.group, report=report, files=files)


def comparison_settings(threads: int) -> HpoSettings:
    """Settings whose engine pool fits ``threads`` in-process trial workers."""
    return sized_for_threads(get_settings(), threads)


def run_comparison(
    plan: ComparisonPlan,
    *,
    workers_per_study: int | None = None,
    target: float | None = None,
    output_dir: Path | None = None,
) -> ComparisonOutcome:
    """Run every study of ``plan`` at once in this process (each with its member's worker
    count, or ``workers_per_study`` threads when given and the plan does not compare worker
    counts), then report. Without Prefect: the ``hpo-compare`` flow is the tracked way."""
    counts = [
        workers_per_study if workers_per_study and len(plan.workers) == 1 else m.workers
        for m in plan.members
    ]
    threads = sum(counts)
    settings = comparison_settings(threads)
    storage = get_storage(settings)
    start_group(plan, storage, target=target)
    timeout = plan.spec.budget.timeout_s
    deadline = time.time() + timeout if timeout else None
    errors: list[BaseException] = []
    reports: list[WorkerReport] = []

    def work(member_index: int, worker: int) -> None:
        member = plan.members[member_index]
        identity = WorkerIdentity(name=f"{default_worker_name(worker)}-{member.study_name}")
        try:
            reports.append(run_worker(member.plan, identity, settings=settings, deadline=deadline))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others end
            errors.append(exc)

    pool = [
        threading.Thread(target=work, args=(m, w), name=f"hpo-compare-{m}-{w}")
        for m in range(len(plan.members))
        for w in range(counts[m])
    ]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        set_status(plan.group, "failed", storage=storage)
        raise errors[0]
    return finish_group(plan, storage, target=target, output_dir=output_dir)
