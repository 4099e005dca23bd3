"""The report as a person reads it: markdown, table rows (Prefect table artifact), and the files
``report.md``, ``report.json`` and ``convergence.png`` under an output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from hpo.compare.models import ComparisonReport, Spread
from hpo.compare.plot import plot_convergence
from hpo.compare.verdict import num, pval


class ReportFiles(BaseModel):
    """Where a report was written."""

    model_config = ConfigDict(frozen=True)

    directory: Path
    markdown: Path
    json_path: Path
    png: Path


def default_output_dir(group: str) -> Path:
    return Path("artifacts") / "compare" / group


def _spread(s: Spread | None) -> str:
    if s is None:
        return "-"
    return f"{num(s.median)} [{num(s.q1)}, {num(s.q3)}]"


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def table_rows(report: ComparisonReport) -> list[dict[str, Any]]:
    """One row per sampler, in ranking order (the table artifact and the markdown table)."""
    rows = []
    for rank, sampler in enumerate(report.ranking, start=1):
        r = report.result(sampler)
        value = "hypervolume" if report.hypervolume is not None else "best"
        row: dict[str, Any] = {
            "rank": rank,
            "sampler": sampler,
            "budget": r.budget,
            "runs": r.runs,
            f"{value} (median [IQR])": _spread(r.best),
        }
        if report.regret:
            row[f"{report.metric} (median [IQR])"] = _spread(r.regret)
            row[f"{report.metric} min-max"] = (
                f"{num(r.regret.min)} - {num(r.regret.max)}" if r.regret else "-"
            )
        else:
            row[f"{value} min-max"] = f"{num(r.best.min)} - {num(r.best.max)}" if r.best else "-"
        row["reached target"] = f"{r.reached}/{len(r.studies)}"
        row["trials to target (median)"] = num(r.median_trials_to_target)
        row["time to target s (median)"] = _secs(r.median_time_to_target_s)
        row["wall s (median)"] = _secs(r.wall_s.median if r.wall_s else None)
        row["compute s (total)"] = _secs(r.compute_s_total)
        row["failed"] = r.failed_trials
        rows.append(row)
    return rows


def _md_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(row[h]) for h in head) + " |" for row in rows]
    return lines


def render_markdown(report: ComparisonReport, png: Path | None = None) -> str:
    """The whole report as markdown."""
    target = (
        f"{num(report.shown(report.target))} ({report.target_source})"
        if report.target is not None
        else "none"
    )
    optimum = f", known optimum {report.known_optimum}" if report.known_optimum is not None else ""
    objective = f"objective `{report.objective}` ({report.direction}{optimum})"
    basis = report.hypervolume
    if basis is not None:
        objectives = ", ".join(
            f"`{m}` ({d})" for m, d in zip(basis.metrics, basis.directions, strict=True)
        )
        optimal = f", optimal hypervolume {num(basis.optimal)}" if basis.optimal is not None else ""
        objective = (
            f"objective `{report.objective}` with objectives {objectives}, compared by "
            f"hypervolume (higher is better) against the reference point {basis.describe()} "
            f"({basis.source}{optimal})"
        )
    lines = [
        f"# Sampler comparison `{report.group}`",
        "",
        f"Spec `{report.spec_name}` (hash `{report.spec_hash}`), {objective}; budget "
        f"{report.n_trials} finished "
        f"trials per study; {'arms (sampler@workers)' if len(report.workers) > 1 else 'samplers'} "
        f"{', '.join(report.samplers)}; in-process workers per study "
        f"{', '.join(map(str, report.workers))}; seeds "
        f"{', '.join(map(str, report.seeds))}; target {report.metric} {target}.",
        "",
        "## Verdict",
        "",
        report.verdict,
        "",
        f"## Results at the budget ({report.metric}; IQR = 25th-75th percentile over runs)",
        "",
        *_md_table(table_rows(report)),
        "",
    ]
    if report.tests:
        lines += [
            f"## Each sampler against the leader ({report.leader})",
            "",
            f"Two-sided Mann-Whitney U on the runs' {report.value_name}s"
            + (
                " (against grid, which is one deterministic run, the exact sign test of the "
                "other sampler's runs against grid's value)"
                if any(t.test == "sign" for t in report.tests)
                else ""
            )
            + "; p-values Holm-adjusted across the comparisons; gap = median difference in "
            f"{'hypervolume' if basis is not None else 'the objective'}'s units (positive: worse "
            "than the leader) with a 95% bootstrap "
            f"interval. Significant when the adjusted p < {report.alpha}.",
            "",
            "| sampler | median | leader median | gap [95% CI] | test | p | p (Holm) "
            "| significant |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for t in report.tests:
            lines.append(
                f"| {t.sampler} | {num(t.median)} | {num(t.median_leader)} | {num(t.gap)} "
                f"[{num(t.gap_ci[0])}, {num(t.gap_ci[1])}] | {t.test} | {pval(t.p_value)} | "
                f"{pval(t.p_holm)} | {'yes' if t.significant else 'no'} |"
            )
        lines.append("")
    if report.notes:
        lines += ["## Notes", "", *(f"* {n}" for n in report.notes), ""]
    lines += [
        "## How to read the times",
        "",
        "Wall time is a study's first trial start to its last trial end; compute is the sum of "
        "its trials' durations, sampling included (so a costly sampler shows there on a cheap "
        "objective). Studies of one comparison run at the same time on shared machines: compare "
        "trials to target first, times second.",
        "",
    ]
    if png is not None:
        lines += ["## Convergence", "", f"![convergence]({png.name})", "", f"PNG: `{png}`", ""]
    lines.append(f"Studies: {', '.join(s for r in report.results for s in r.studies)}")
    return "\n".join(lines) + "\n"


def write_report_files(report: ComparisonReport, directory: Path | None = None) -> ReportFiles:
    """Write ``report.json``, ``convergence.png`` and ``report.md`` under ``directory``
    (default ``artifacts/compare/<group>/``)."""
    directory = (directory or default_output_dir(report.group)).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        directory=directory,
        markdown=directory / "report.md",
        json_path=directory / "report.json",
        png=directory / "convergence.png",
    )
    files.json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    plot_convergence(report, files.png)
    files.markdown.write_text(render_markdown(report, files.png), encoding="utf-8")
    return files
