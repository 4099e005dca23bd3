"""The verdict of a comparison in plain words, from the report's numbers.

Rules: a sampler is said to beat another only when the Holm-adjusted Mann-Whitney U p-value is
below ``alpha``; otherwise the two are called tied, with the numbers shown. Budget notes (a capped
or thinned grid) are repeated, and with too few seeds for the test to ever be significant the
verdict says so instead of naming a winner. With several objectives the runs are compared by
hypervolume (higher is better; hypervolume regret, lower is better, where the true front is
known) and the verdict opens with the reference point it was measured against.
"""

from __future__ import annotations

from hpo.compare.models import ComparisonReport, PairTest


def num(x: float | None) -> str:
    """A number with 4 significant digits (``-`` for none): enough to tell 0.9953 from 0.9949."""
    if x is None:
        return "-"
    return f"{x:.4g}"


def pval(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def _better(report: ComparisonReport) -> str:
    if report.regret or report.direction == "minimize":
        return "lower"
    return "higher"


def _basis(report: ComparisonReport) -> str | None:
    """The opening sentence of a comparison of fronts: what was measured, against what."""
    basis = report.hypervolume
    if basis is None:
        return None
    text = (
        f"Fronts compared by the hypervolume of each run's feasible trials against the reference "
        f"point {basis.describe()} ({basis.source}); higher hypervolume is better"
    )
    if basis.optimal is not None:
        text += (
            f"; hypervolume regret is the true front's {num(basis.optimal)} minus a run's "
            "(lower is better)"
        )
    return text + "."


def _evidence(report: ComparisonReport, t: PairTest) -> str:
    how = f"over {len(report.seeds)} seeds"
    if t.test == "sign":
        how += ", sign test against grid's single run"
    return f"{num(t.median_leader)} vs {num(t.median)}, {pval(t.p_holm)} {how}"


def _beat(report: ComparisonReport, t: PairTest) -> str:
    return (
        f"{t.leader} reached a {_better(report)} median {report.metric} than {t.sampler} "
        f"({_evidence(report, t)}; gap {num(t.gap)}, 95% CI {num(t.gap_ci[0])} to "
        f"{num(t.gap_ci[1])})."
    )


def _tie(report: ComparisonReport, t: PairTest) -> str:
    return f"{t.leader} and {t.sampler} are not separable ({_evidence(report, t)})."


def verdict_text(report: ComparisonReport) -> str:
    """A few sentences a person can repeat and defend."""
    budget = f"{report.n_trials} trials"
    if report.leader is None:
        return f"No sampler completed a trial at {budget}: nothing to compare."
    lead = report.result(report.leader)
    assert lead.best is not None
    shown = lead.regret if lead.regret is not None else lead.best
    assert shown is not None
    lines = [line for line in [_basis(report)] if line]
    lines += [
        f"At {budget}, {report.leader} had the best median {report.metric}: "
        f"{num(shown.median)} (IQR {num(shown.q1)} to {num(shown.q3)} over {lead.runs} runs)."
    ]
    if not report.tests:
        lines.append("Only one sampler has results: nothing to compare it with.")
    beaten = [t for t in report.tests if t.significant]
    tied = [t for t in report.tests if not t.significant]
    lines += [_beat(report, t) for t in beaten]
    lines += [_tie(report, t) for t in tied]
    if report.tests:
        if not beaten:
            lines.append(
                f"Verdict: no sampler is clearly better at {budget} with "
                f"{len(report.seeds)} seeds; {report.leader}'s lead may be noise. Run more seeds "
                "or a larger budget before choosing."
            )
        elif not tied:
            lines.append(
                f"Verdict: {report.leader} pays off on this problem at {budget}: it beat every "
                "other sampler."
            )
        else:
            front = ", ".join([report.leader, *(t.sampler for t in tied)])
            behind = ", ".join(t.sampler for t in beaten)
            lines.append(
                f"Verdict: {front} lead at {budget} (not separable with {len(report.seeds)} "
                f"seeds); {behind} fell behind."
            )
    fastest = _fastest(report)
    if fastest:
        lines.append(fastest)
    lines += [f"Note: {n}." for n in report.notes]
    return " ".join(lines)


def _fastest(report: ComparisonReport) -> str | None:
    timed = [r for r in report.results if r.median_trials_to_target is not None]
    if report.target is None or not timed:
        return None
    best = min(timed, key=lambda r: (r.median_trials_to_target, r.sampler))
    target = report.shown(report.target)
    return (
        f"Fastest to the target ({report.metric} {num(target)}, {report.target_source}): "
        f"{best.sampler}, median {num(best.median_trials_to_target)} trials "
        f"({best.reached}/{len(best.studies)} runs reached it)."
    )
