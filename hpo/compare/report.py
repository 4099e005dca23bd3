"""The comparison report: pure functions from run traces to numbers a person can defend.

Per sampler, over its runs (one run per seed): the best value at the budget (median, IQR, range),
the simple regret when the objective's optimum is known, the best-so-far curve (median and IQR
per finished trial), trials and time to reach a target, wall time and compute. Then a ranking by
median, each sampler tested against the leader with a two-sided Mann-Whitney U test on the final
bests (Holm-adjusted across the comparisons) and a bootstrap 95% interval of the median gap, and a
verdict in plain words that never calls a difference the test does not support.

Several objectives: each run's trace is first turned into its hypervolume after each finished
trial (:mod:`hpo.compare.hypervolume`); everything above then applies to that number, maximised
(hypervolume regret where the optimal hypervolume is known).

The grid sampler is deterministic: its one run stands for every seed (``stands_for``), so it
enters the statistics as K identical runs, which is what K runs would have produced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from hpo.compare.hypervolume import hypervolume_trace
from hpo.compare.models import ComparisonReport, Metric, PairTest, SamplerResult, Spread
from hpo.compare.plan import ComparisonPlan
from hpo.compare.stats import bootstrap_gap_ci, holm, mann_whitney_p, min_p_value, sign_test_p
from hpo.compare.traces import RunTrace
from hpo.compare.verdict import verdict_text
from hpo.search_spaces.schema import Direction
from hpo.study_setup import effective_direction, spec_hash


def known_optimum(objective: str, direction: str) -> float | None:
    """The global minimum of a built-in benchmark objective (None for anything else)."""
    from hpo.workers.objectives.synthetic import SYNTHETIC_FUNCTIONS

    fn = SYNTHETIC_FUNCTIONS.get(objective)
    return fn.optimum if fn is not None and direction == "minimize" else None


def best_so_far(values: Sequence[float | None], sign: float) -> list[float | None]:
    """Running best (min when ``sign`` is 1, max when -1); None until a trial completes."""
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and (best is None or sign * v < sign * best):
            best = v
        out.append(best)
    return out


def _median(values: Sequence[float]) -> float | None:
    """Median with not-reached runs given as inf; None when at least half did not reach."""
    if not values:
        return None
    med = float(np.median(values))
    return None if math.isinf(med) else med


def _curves(
    traces: Sequence[RunTrace], sign: float
) -> tuple[list[float | None], list[float | None], list[float | None]]:
    runs = [best_so_far(t.values, sign) for t in traces]
    length = max((len(r) for r in runs), default=0)
    med: list[float | None] = []
    q1: list[float | None] = []
    q3: list[float | None] = []
    for k in range(length):
        at_k = [v for r in runs if k < len(r) and (v := r[k]) is not None]
        lo: float | None = None
        mid: float | None = None
        hi: float | None = None
        if at_k:
            lo, mid, hi = (float(v) for v in np.percentile(at_k, [25, 50, 75]))
        med.append(mid)
        q1.append(lo)
        q3.append(hi)
    return med, q1, q3


def _to_target(
    trace: RunTrace, target: float | None, sign: float
) -> tuple[int | None, float | None]:
    if target is None:
        return None, None
    for k, best in enumerate(best_so_far(trace.values, sign)):
        if best is not None and sign * best <= sign * target:
            return k + 1, trace.finished_at_s[k]
    return None, None


def _sampler_result(
    plan: ComparisonPlan,
    sampler: str,
    traces: dict[str, RunTrace],
    target: float | None,
    sign: float,
    optimum: float | None,
) -> SamplerResult:
    members = plan.members_of(sampler)
    own = [traces[m.study_name] for m in members]
    finals: list[float | None] = []
    for member, trace in zip(members, own, strict=True):
        completed = [v for v in trace.values if v is not None]
        final = (min(completed) if sign > 0 else max(completed)) if completed else None
        finals.extend([final] * len(member.stands_for))
    present = [v for v in finals if v is not None]
    curve, q1, q3 = _curves(own, sign)
    reach = [_to_target(t, target, sign) for t in own]
    compute = [t.compute_s for t in own if t.values or t.failed]
    return SamplerResult(
        sampler=sampler,
        budget=members[0].budget,
        note=members[0].note,
        studies=tuple(m.study_name for m in members),
        runs=len(finals),
        deterministic=len(members) == 1 and len(members[0].stands_for) > 1,
        final_values=tuple(finals),
        best=Spread.of(present),
        regret=Spread.of([sign * (v - optimum) for v in present]) if optimum is not None else None,
        curve=tuple(curve),
        curve_q1=tuple(q1),
        curve_q3=tuple(q3),
        trials_to_target=tuple(k for k, _ in reach),
        time_to_target_s=tuple(s for _, s in reach),
        reached=sum(k is not None for k, _ in reach),
        median_trials_to_target=_median([k if k is not None else math.inf for k, _ in reach]),
        median_time_to_target_s=_median([s if s is not None else math.inf for _, s in reach]),
        wall_s=Spread.of([t.wall_s for t in own if t.values]),
        compute_s=Spread.of(compute),
        compute_s_total=sum(compute),
        finished_trials=sum(len(t.values) for t in own),
        failed_trials=sum(t.failed for t in own),
    )


def build_report(
    plan: ComparisonPlan,
    traces: Sequence[RunTrace],
    *,
    target: float | None = None,
    alpha: float = 0.05,
) -> ComparisonReport:
    """The report of ``plan`` from its studies' traces (see :func:`hpo.compare.traces`)."""

    basis = plan.hypervolume
    metric: Metric
    direction: Direction
    if basis is not None:
        traces = [hypervolume_trace(t, basis) for t in traces]
        direction = "maximize"
        optimum = basis.optimal
        metric = "hypervolume regret" if optimum is not None else "hypervolume"
    else:
        direction = effective_direction(plan.spec)
        optimum = known_optimum(plan.spec.objective, direction)
        metric = "regret" if optimum is not None else "best value"
    sign = 1.0 if direction == "minimize" else -1.0
    by_study = {t.study_name: t for t in traces}
    target_source = "given"
    if target is None:
        finals = []
        for t in traces:
            done = [v for v in t.values if v is not None]
            if done:
                finals.append(min(done) if sign > 0 else max(done))
        target = float(np.median(finals)) if finals else None
        value_name = "hypervolume" if basis is not None else "best value"
        target_source = f"median of every run's {value_name}" if finals else "none"
    results = [_sampler_result(plan, arm, by_study, target, sign, optimum) for arm in plan.arms]
    ranked = sorted(
        results,
        key=lambda r: (
            r.best is None,
            sign * r.best.median if r.best else 0.0,
            sign * float(np.mean([v for v in r.final_values if v is not None])) if r.best else 0.0,
            r.sampler,
        ),
    )
    leader = ranked[0] if ranked and ranked[0].best is not None else None
    tests = _tests(leader, ranked, sign, optimum, alpha)
    notes = [f"{r.sampler}: {r.note}" for r in results if r.note]
    if tests and all(min_p_value(t.test, t.n, t.n_leader) >= alpha for t in tests):
        notes.append(
            f"with {len(plan.seeds)} seed{'s' if len(plan.seeds) > 1 else ''} no test here can "
            f"reach p < {alpha}, so no "
            "difference can be called significant; use more seeds (5 or more; 6 or more "
            "against grid, which is one run)"
        )
    elif any(min_p_value(t.test, t.n, t.n_leader) >= alpha for t in tests):
        notes.append(
            f"with {len(plan.seeds)} seeds a sampler cannot be shown to differ from grid "
            f"(one deterministic run, sign test) at p < {alpha}; use 6 or more seeds"
        )
    failed = sum(r.failed_trials for r in results)
    if failed:
        notes.append(f"{failed} trial(s) failed; they do not count toward any budget")
    report = ComparisonReport(
        group=plan.group,
        spec_name=plan.spec.name,
        spec_hash=spec_hash(plan.spec),
        objective=plan.spec.objective,
        direction=direction,
        n_trials=plan.n_trials,
        seeds=plan.seeds,
        samplers=plan.arms,
        workers=plan.workers,
        metric=metric,
        known_optimum=optimum,
        target=target,
        target_source=target_source,
        alpha=alpha,
        results=tuple(results),
        ranking=tuple(r.sampler for r in ranked),
        leader=leader.sampler if leader else None,
        tests=tuple(tests),
        verdict="",
        notes=tuple(notes),
        created_at=datetime.now(UTC),
        hypervolume=basis,
    )
    return report.model_copy(update={"verdict": verdict_text(report)})


def _tests(
    leader: SamplerResult | None,
    ranked: Sequence[SamplerResult],
    sign: float,
    optimum: float | None,
    alpha: float,
) -> list[PairTest]:
    if leader is None:
        return []

    def shown(value: float) -> float:  # regret when the optimum is known, as the report shows
        return sign * (value - optimum) if optimum is not None else value

    lead = [v for v in leader.final_values if v is not None]
    rows: list[tuple[SamplerResult, list[float], float]] = []
    for other in ranked[1:]:
        values = [v for v in other.final_values if v is not None]
        if not values:
            continue
        if leader.deterministic and not other.deterministic:
            rows.append((other, values, sign_test_p(values, lead[0])))
        elif other.deterministic and not leader.deterministic:
            rows.append((other, values, sign_test_p(lead, values[0])))
        else:
            rows.append((other, values, mann_whitney_p(values, lead)))
    adjusted = holm([p for _, _, p in rows])
    out = []
    for (other, values, p), p_adj in zip(rows, adjusted, strict=True):
        sign_test = leader.deterministic != other.deterministic
        low, high = bootstrap_gap_ci([sign * v for v in values], [sign * v for v in lead])
        assert other.best is not None and leader.best is not None
        out.append(
            PairTest(
                sampler=other.sampler,
                leader=leader.sampler,
                test="sign" if sign_test else "mann-whitney-u",
                n=1 if other.deterministic else len(values),
                n_leader=1 if leader.deterministic else len(lead),
                median=shown(other.best.median),
                median_leader=shown(leader.best.median),
                gap=sign * (other.best.median - leader.best.median),
                gap_ci=(low, high),
                p_value=p,
                p_holm=p_adj,
                significant=p_adj < alpha,
            )
        )
    return out
