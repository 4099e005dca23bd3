"""The report's statistics and verdict on hand-made traces (pure functions, no store)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from hpo.compare.models import ComparisonReport
from hpo.compare.plan import ComparisonPlan, plan_comparison
from hpo.compare.render import render_markdown, table_rows, write_report_files
from hpo.compare.report import best_so_far, build_report
from hpo.compare.stats import bootstrap_gap_ci, holm, mann_whitney_p, min_p_value, sign_test_p
from hpo.compare.traces import RunTrace
from hpo.search_spaces.loader import load_spec, parse_spec


def _trace(
    plan: ComparisonPlan, sampler: str, seed: int, values: Sequence[float | None]
) -> RunTrace:
    return RunTrace(
        sampler=sampler,
        seed=seed,
        study_name=f"{plan.group}-{sampler}-s{seed}",
        values=tuple(values),
        finished_at_s=tuple(0.5 * (k + 1) for k in range(len(values))),
        compute_s=0.4 * len(values),
        wall_s=0.5 * len(values),
        failed=0,
    )


def _curve(final: float, n: int, start: float = 10.0) -> list[float]:
    """n values decreasing geometrically from ``start`` to ``final``."""
    return [start * (final / start) ** (k / (n - 1)) for k in range(n)]


def test_helpers() -> None:
    assert best_so_far([3.0, None, 1.0, 2.0], 1.0) == [3.0, 3.0, 1.0, 1.0]
    assert best_so_far([None, 1.0, 3.0], -1.0) == [None, 1.0, 3.0]
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)
    assert mann_whitney_p([1, 1], [1, 1]) == 1.0
    assert sign_test_p([1, 2, 3, 4, 5], 9.0) == pytest.approx(0.0625)
    assert sign_test_p([9.0, 9.0], 9.0) == 1.0
    assert min_p_value("mann-whitney-u", 3, 3) == pytest.approx(0.1)
    assert min_p_value("mann-whitney-u", 5, 5) < 0.05
    assert min_p_value("sign", 5, 1) == pytest.approx(0.0625)
    low, high = bootstrap_gap_ci([5, 6, 7, 8, 9], [1, 2, 3, 4, 5])
    assert 0 < low <= 4 <= high


def test_clear_winner_with_regret_on_branin() -> None:
    plan = plan_comparison(load_spec("branin"), ["random", "tpe"], 20, 5, group="r1")
    opt = 0.397887357729738
    traces = [_trace(plan, "random", s, _curve(opt + 1.0 + 0.1 * s, 20)) for s in range(5)]
    traces += [_trace(plan, "tpe", s, _curve(opt + 0.01 + 0.001 * s, 20)) for s in range(5)]
    report = build_report(plan, traces)
    assert report.metric == "regret" and report.known_optimum == pytest.approx(opt)
    assert report.ranking == ("tpe", "random") and report.leader == "tpe"
    tpe, random = report.result("tpe"), report.result("random")
    assert tpe.regret is not None and random.regret is not None
    assert tpe.regret.median == pytest.approx(0.012)
    assert random.regret.median == pytest.approx(1.2)
    assert len(tpe.curve) == 20 and tpe.curve[-1] == pytest.approx(opt + 0.012)
    (test,) = report.tests
    assert test.sampler == "random" and test.test == "mann-whitney-u"
    assert test.p_value == pytest.approx(2 / 252) and test.significant
    assert test.gap == pytest.approx(1.188) and test.gap_ci[0] > 0
    assert "tpe reached a lower median regret than random (0.012 vs 1.2, p=0.0079 over 5 seeds" in (
        report.verdict
    )
    assert "Verdict: tpe pays off on this problem at 20 trials" in report.verdict
    # Default target: the median of the ten runs' bests; all tpe runs reach it, no random run.
    assert report.target_source == "median of every run's best value"
    assert tpe.reached == 5 and random.reached == 0
    assert random.median_trials_to_target is None
    assert tpe.median_trials_to_target is not None and tpe.median_time_to_target_s is not None
    assert tpe.wall_s is not None and tpe.wall_s.median == pytest.approx(10.0)
    assert tpe.compute_s_total == pytest.approx(5 * 8.0)


def test_few_seeds_never_overclaim() -> None:
    plan = plan_comparison(load_spec("branin"), ["random", "tpe"], 10, 3, group="r2")
    traces = [_trace(plan, "random", s, _curve(5.0 + s, 10)) for s in range(3)]
    traces += [_trace(plan, "tpe", s, _curve(1.0 + s * 0.1, 10)) for s in range(3)]
    report = build_report(plan, traces)
    assert report.leader == "tpe"
    assert not report.tests[0].significant  # 3 vs 3: the smallest possible p is 0.1
    assert "not separable" in report.verdict
    assert "no sampler is clearly better" in report.verdict
    assert any("with 3 seeds no test here can reach p < 0.05" in n for n in report.notes)


def test_grid_is_one_run_tested_with_the_sign_test() -> None:
    spec = parse_spec(
        {
            "name": "q",
            "objective": "tests.objectives_fixture:quadratic",
            "params": {"x": {"type": "int", "low": 0, "high": 3}},
        }
    )
    plan = plan_comparison(spec, ["grid", "random"], 6, 5, group="r3")
    traces = [_trace(plan, "grid", 0, [4.0, 1.0, 0.0, 1.0])]
    traces += [_trace(plan, "random", s, [4.0, 1.0 + s]) for s in range(5)]
    report = build_report(plan, traces, target=0.5)
    grid = report.result("grid")
    assert grid.deterministic and grid.runs == 5 and grid.studies == ("r3-grid-s0",)
    assert grid.best is not None and grid.best.median == 0.0 and grid.best.q3 == 0.0
    assert grid.budget == 4 and grid.note is not None and "capped at 4" in grid.note
    assert report.metric == "best value" and report.known_optimum is None
    assert report.leader == "grid"
    (test,) = report.tests
    assert test.test == "sign" and test.n_leader == 1
    assert test.p_value == pytest.approx(0.0625) and not test.significant
    assert "sign test against grid's single run" in report.verdict
    assert any("6 or more against grid" in n for n in report.notes)
    assert report.target == 0.5 and report.target_source == "given"
    assert grid.trials_to_target == (3,) and grid.time_to_target_s == (1.5,)


def test_maximize_ranks_the_highest_first() -> None:
    spec = parse_spec(
        {
            "name": "m",
            "objective": "tests.objectives_fixture:quadratic",
            "direction": "maximize",
            "params": {"x": {"type": "float", "low": 0, "high": 1}},
        }
    )
    plan = plan_comparison(spec, ["random", "tpe"], 3, 5, group="r4")
    traces = [_trace(plan, "random", s, [0.1, 0.2 + s * 0.01, 0.15]) for s in range(5)]
    traces += [_trace(plan, "tpe", s, [0.5, 0.9 + s * 0.01, None]) for s in range(5)]
    report = build_report(plan, traces)
    assert report.leader == "tpe"
    assert report.result("tpe").curve[-1] == pytest.approx(0.92)
    assert report.tests[0].gap == pytest.approx(0.7)  # random is worse by 0.7
    assert "tpe reached a higher median best value than random" in report.verdict


def test_a_sampler_with_no_completed_trial() -> None:
    plan = plan_comparison(load_spec("branin"), ["random", "tpe"], 3, 2, group="r5")
    traces = [_trace(plan, "random", s, [None, None]) for s in range(2)]
    traces += [_trace(plan, "tpe", s, [2.0, 1.0]) for s in range(2)]
    report = build_report(plan, traces)
    assert report.ranking == ("tpe", "random") and report.tests == ()
    assert report.result("random").best is None
    assert "Only one sampler has results" in report.verdict


def test_files_and_markdown(tmp_path: Path) -> None:
    plan = plan_comparison(load_spec("branin"), ["random", "tpe"], 10, 5, group="r6")
    traces = [_trace(plan, "random", s, _curve(3.0 + s, 10)) for s in range(5)]
    traces += [_trace(plan, "tpe", s, _curve(0.5 + s * 0.01, 10)) for s in range(5)]
    report = build_report(plan, traces)
    files = write_report_files(report, tmp_path / "out")
    assert ComparisonReport.model_validate_json(files.json_path.read_text()) == report
    assert files.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = files.markdown.read_text()
    assert markdown == render_markdown(report, files.png)
    assert report.verdict in markdown and "![convergence](convergence.png)" in markdown
    rows = table_rows(report)
    assert [r["sampler"] for r in rows] == ["tpe", "random"]
    assert rows[0]["reached target"] == "5/5" and rows[0]["runs"] == 5
    assert not math.isnan(float(rows[0]["compute s (total)"]))
