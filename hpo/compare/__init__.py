"""Sampler comparisons: one study per (sampler, seed) on the same space and budget, tied together
by a comparison group in the study store, and a report a person can defend.

>>> from hpo.compare import load_report
>>> report = load_report("branin-cmp-1a2b3c")       # what `hpo compare` stored
>>> report.leader, report.verdict
>>> report.result("tpe").regret.median

See ``docs/compare.md``. Modules: ``plan`` (studies and fair budgets), ``groups`` (the tables),
``traces`` (trial data by SQL), ``hypervolume`` (several objectives: fronts measured by their
hypervolume against a stated reference point), ``stats``, ``report`` and ``verdict`` (pure),
``plot`` and ``render`` (PNG, markdown, files), ``run`` (the steps, and an in-process runner
without Prefect).
"""

from __future__ import annotations

from hpo.compare.groups import GroupRecord, MemberRecord, list_groups, load_group, load_report
from hpo.compare.hypervolume import HypervolumeBasis
from hpo.compare.models import ComparisonReport, PairTest, SamplerResult, Spread
from hpo.compare.plan import ComparisonPlan, MemberPlan, plan_comparison
from hpo.compare.render import ReportFiles, render_markdown, table_rows, write_report_files
from hpo.compare.report import build_report
from hpo.compare.run import ComparisonOutcome, run_comparison
from hpo.compare.traces import RunTrace, load_traces

__all__ = [
    "ComparisonOutcome",
    "ComparisonPlan",
    "ComparisonReport",
    "GroupRecord",
    "HypervolumeBasis",
    "MemberPlan",
    "MemberRecord",
    "PairTest",
    "ReportFiles",
    "RunTrace",
    "SamplerResult",
    "Spread",
    "build_report",
    "list_groups",
    "load_group",
    "load_report",
    "load_traces",
    "plan_comparison",
    "render_markdown",
    "run_comparison",
    "table_rows",
    "write_report_files",
]
