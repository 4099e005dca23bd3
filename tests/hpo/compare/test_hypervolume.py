"""Fronts compared by hypervolume (pure, no store): the reference point a comparison states, the
hypervolume after each finished trial, and the report, tests and verdict built on it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from hpo.compare.hypervolume import (
    hypervolume_curve,
    hypervolume_trace,
    parse_reference_point,
    resolve_basis,
)
from hpo.compare.models import ComparisonReport
from hpo.compare.plan import ComparisonPlan, plan_comparison
from hpo.compare.render import render_markdown, table_rows, write_report_files
from hpo.compare.report import build_report
from hpo.compare.traces import RunTrace
from hpo.errors import ConfigError
from hpo.pareto import hypervolume
from hpo.search_spaces.loader import load_spec, parse_spec

ZDT1 = load_spec("zdt1")
OPTIMAL = 121.0 - 1.0 / 3.0
# A user's front: maximise accuracy, minimise latency; no known optimum.
USER = {
    "name": "acc-latency",
    "objective": "tests.objectives_fixture:quadratic",
    "objectives": [
        {"metric": "accuracy", "direction": "maximize"},
        {"metric": "latency_ms", "direction": "minimize"},
    ],
    "params": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
}


def test_parse_reference_point() -> None:
    assert parse_reference_point("f1=11, f2=1e1") == {"f1": 11.0, "f2": 10.0}
    for bad in ("f1=11,f2", "f1=11,=3", "f1=inf,f2=1", "f1=1,f1=2", ""):
        with pytest.raises(ConfigError) as info:
            parse_reference_point(bad)
        assert info.value.where == "--reference-point" and info.value.fix


def test_the_reference_point_is_stated_cli_first() -> None:
    known = resolve_basis(ZDT1)
    assert known is not None and known.reference_point == (11.0, 11.0)
    assert known.source == "known for zdt1" and known.optimal == pytest.approx(OPTIMAL)
    # Another point on zdt1: hypervolume, but no regret (the optimum is known at (11, 11) only).
    given = resolve_basis(ZDT1, {"f2": 3.0, "f1": 2.0})
    assert given is not None and given.reference_point == (2.0, 3.0)
    assert given.source == "--reference-point" and given.optimal is None
    user = parse_spec({**USER, "reference_point": {"accuracy": 0.5, "latency_ms": 10}})
    from_spec = resolve_basis(user)
    assert from_spec is not None and from_spec.reference_point == (0.5, 10.0)
    assert from_spec.source == "the spec's reference_point"
    assert from_spec.directions == ("maximize", "minimize")
    wins = resolve_basis(user, {"accuracy": 0.0, "latency_ms": 5})
    assert wins is not None and wins.reference_point == (0.0, 5.0)
    with pytest.raises(ConfigError) as info:
        resolve_basis(parse_spec(USER), source="u.yaml")
    assert info.value.where == "u.yaml: reference_point"
    assert "reference_point: {accuracy: ..., latency_ms: ...}" in (info.value.fix or "")
    assert resolve_basis(load_spec("branin")) is None


def test_hypervolume_curve_counts_feasible_points_only() -> None:
    basis = resolve_basis(ZDT1)
    assert basis is not None
    points: list[tuple[float, float] | None] = [
        None,  # pruned, or infeasible: no point
        (0.5, 5.0),
        (0.6, 6.0),  # dominated: the volume stays
        None,
        (0.1, 9.0),
        (12.0, 0.0),  # outside the reference box: adds nothing
        (0.0, 1.0),  # dominates every point so far
    ]
    curve = hypervolume_curve(points, basis)
    expected = [
        0.0,
        10.5 * 6.0,
        10.5 * 6.0,
        10.5 * 6.0,
        hypervolume([(0.5, 5.0), (0.1, 9.0)], ["minimize"] * 2, (11, 11)),
        hypervolume([(0.5, 5.0), (0.1, 9.0)], ["minimize"] * 2, (11, 11)),
        110.0,
    ]
    assert curve == pytest.approx(expected)
    assert expected[4] == pytest.approx(63.0 + 0.4 * 2.0)
    trace = RunTrace(
        sampler="random",
        seed=0,
        study_name="s",
        values=(None, 1.0, 2.0, None, 3.0, 4.0, 5.0),  # objective 0 only: replaced
        finished_at_s=tuple(float(k) for k in range(7)),
        compute_s=7.0,
        wall_s=7.0,
        failed=0,
        points=tuple(points),
    )
    assert list(hypervolume_trace(trace, basis).values) == pytest.approx(expected)
    with pytest.raises(ValueError, match="objectives=2"):
        hypervolume_trace(trace.model_copy(update={"points": None}), basis)


def _trace(plan: ComparisonPlan, sampler: str, seed: int, f2: Sequence[float]) -> RunTrace:
    """A run whose k-th trial lands at (0, f2[k]): its hypervolume is 11 * (11 - min f2)."""
    points = tuple((0.0, v) for v in f2)
    return RunTrace(
        sampler=sampler,
        seed=seed,
        study_name=f"{plan.group}-{sampler}-s{seed}",
        values=tuple(0.0 for _ in f2),
        finished_at_s=tuple(0.5 * (k + 1) for k in range(len(f2))),
        compute_s=0.4 * len(f2),
        wall_s=0.5 * len(f2),
        failed=0,
        points=points,
    )


def test_clear_winner_by_hypervolume_regret_on_zdt1(tmp_path: Path) -> None:
    plan = plan_comparison(ZDT1, ["random", "nsga2"], 4, 5, group="hv1")
    assert plan.hypervolume is not None and plan.hypervolume.optimal == pytest.approx(OPTIMAL)
    traces = [_trace(plan, "random", s, [9.0, 8.0, 8.5, 7.0 + 0.1 * s]) for s in range(5)]
    traces += [_trace(plan, "nsga2", s, [9.0, 3.0, 2.0 + 0.1 * s, 6.0]) for s in range(5)]
    report = build_report(plan, traces)
    assert report.metric == "hypervolume regret" and report.direction == "maximize"
    assert report.hypervolume == plan.hypervolume
    assert report.known_optimum == pytest.approx(OPTIMAL)
    nsga2, random = report.result("nsga2"), report.result("random")
    assert report.leader == "nsga2" and report.ranking == ("nsga2", "random")
    assert nsga2.final_values == pytest.approx([11 * (9.0 - 0.1 * s) for s in range(5)])
    assert random.final_values == pytest.approx([11 * (4.0 - 0.1 * s) for s in range(5)])
    assert nsga2.best is not None and nsga2.best.median == pytest.approx(11 * 8.8)
    assert nsga2.regret is not None and nsga2.regret.median == pytest.approx(OPTIMAL - 96.8)
    assert nsga2.curve == pytest.approx([22.0, 88.0, 96.8, 96.8])  # median HV after each trial
    (test,) = report.tests
    assert test.sampler == "random" and test.significant and test.p_value == pytest.approx(2 / 252)
    assert test.median == pytest.approx(OPTIMAL - 11 * 3.8)  # shown as regret
    assert test.median_leader == pytest.approx(OPTIMAL - 96.8)
    assert test.gap == pytest.approx(11 * 5.0) and test.gap_ci[0] > 0  # positive: random worse
    assert report.verdict.startswith(
        "Fronts compared by the hypervolume of each run's feasible trials against the reference "
        "point f1=11, f2=11 (known for zdt1); higher hypervolume is better"
    )
    assert "nsga2 reached a lower median hypervolume regret than random (" in report.verdict
    assert "Verdict: nsga2 pays off on this problem at 4 trials" in report.verdict
    assert report.target_source == "median of every run's hypervolume"
    row = table_rows(report)[0]
    assert row["hypervolume (median [IQR])"].startswith("96.8 [")
    assert row["hypervolume regret min-max"] == "21.67 - 26.07"  # 120.67 - 11 * (9 - 0.1 s)
    markdown = render_markdown(report)
    assert "compared by hypervolume (higher is better) against the reference point" in markdown
    assert "Mann-Whitney U on the runs' hypervolumes" in markdown
    files = write_report_files(report, tmp_path)
    assert files.png.read_bytes()[:4] == b"\x89PNG"
    assert ComparisonReport.model_validate(json.loads(files.json_path.read_text())) == report


def test_a_users_front_is_compared_by_higher_hypervolume() -> None:
    spec = parse_spec({**USER, "reference_point": {"accuracy": 0.0, "latency_ms": 10.0}})
    plan = plan_comparison(spec, ["random", "tpe"], 2, 3, group="hv2")

    def run(sampler: str, seed: int, acc: float) -> RunTrace:
        return RunTrace(
            sampler=sampler,
            seed=seed,
            study_name=f"hv2-{sampler}-s{seed}",
            values=(acc, acc),
            finished_at_s=(1.0, 2.0),
            compute_s=2.0,
            wall_s=2.0,
            failed=0,
            points=((acc, 5.0), None),  # the second trial infeasible
        )

    traces = [run("random", s, 0.5 + 0.01 * s) for s in range(3)]
    traces += [run("tpe", s, 0.9 + 0.01 * s) for s in range(3)]
    report = build_report(plan, traces)
    assert report.metric == "hypervolume" and report.known_optimum is None
    tpe = report.result("tpe")
    assert tpe.final_values == pytest.approx([5.0 * (0.9 + 0.01 * s) for s in range(3)])
    assert report.leader == "tpe"
    (test,) = report.tests
    assert not test.significant  # 3 seeds against 3: p >= 0.1 whatever the values
    assert "At 2 trials, tpe had the best median hypervolume: 4.55" in report.verdict
    assert "tpe and random are not separable (4.55 vs 2.55, p=0.1 over 3 seeds)" in report.verdict
    assert "the spec's reference_point" in report.verdict


def test_a_stored_single_objective_report_still_loads() -> None:
    """Reports stored before comparisons of fronts (no ``hypervolume`` field) load as before."""
    plan = plan_comparison(load_spec("branin"), ["random"], 2, 1, group="old")
    trace = RunTrace(
        sampler="random",
        seed=0,
        study_name="old-random-s0",
        values=(3.0, 1.0),
        finished_at_s=(1.0, 2.0),
        compute_s=2.0,
        wall_s=2.0,
        failed=0,
    )
    stored = build_report(plan, [trace]).model_dump(mode="json")
    del stored["hypervolume"]
    report = ComparisonReport.model_validate(stored)
    assert report.hypervolume is None and report.metric == "regret" and report.regret
    assert report.shown(1.0) == pytest.approx(1.0 - 0.397887357729738)
    assert "best (median [IQR])" in table_rows(report)[0]
