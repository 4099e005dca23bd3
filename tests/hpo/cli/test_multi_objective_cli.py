"""Several objectives from the command line: what cannot work (an objective count that does not
fit, a constraint or objective on a metric the objective does not report, CMA-ES on several
objectives, a pruner on several objectives, a comparison of fronts with no or a misnamed
reference point, promote of a front without a usable rule) is refused with exit 2 and one
clear error before anything runs; `hpo studies front` fits 80 columns."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from hpo.cli.main import main
from hpo.search_spaces.loader import load_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker
from tests.hpo.cli.test_tables import _assert_fits, run_in_terminal

ZDT1 = load_spec("zdt1").model_dump(mode="json", exclude_none=True)
XGB: dict[str, Any] = {
    "name": "mo-cli",
    "objective": "xgboost",
    "dataset": "breast_cancer",
    "metric": "accuracy",
    "objectives": [
        {"metric": "accuracy", "direction": "maximize"},
        {"metric": "latency_ms", "direction": "minimize"},
    ],
    "params": {"max_depth": {"type": "int", "low": 2, "high": 6}},
}


def _write(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert len([line for line in err.splitlines() if not line.startswith("  fix:")]) == 1
    return err


BAD: list[tuple[str, dict[str, Any], list[str], str]] = [
    (
        "objective count mismatch",
        {**{k: v for k, v in ZDT1.items() if k != "objectives"}, "direction": "minimize"},
        [],
        "objectives: the built-in objective 'zdt1' returns several values (f1, f2), but the "
        "spec declares one objective",
    ),
    (
        "objective on an unreported metric",
        {**ZDT1, "objectives": [{"metric": "f1", "direction": "minimize"},
                                {"metric": "f3", "direction": "minimize"}]},
        [],
        "objectives[1].metric: the objective 'zdt1' does not report 'f3'; it reports f1, f2",
    ),
    (
        "constraint on an unreported metric",
        {**XGB, "constraints": [{"metric": "ram_mb", "op": "<=", "value": 5}]},
        [],
        "constraints[0].metric: the objective 'xgboost' does not report 'ram_mb'; it reports "
        "accuracy, fit_time_s, latency_ms, model_size_kb",
    ),
    (
        "cmaes with several objectives",
        ZDT1,
        ["--sampler", "cmaes"],
        "sampler: sampler 'cmaes' optimises one objective, but the spec declares 2",
    ),
    (
        "best-k models with several objectives",
        {**XGB, "artifacts": {"models": {"best_k": 2}}},
        [],
        "artifacts.models: `artifacts.models` keeps the models of the best trials by one value",
    ),
    (
        "pruner with several objectives",
        {**XGB, "pruner": {"name": "median"}},
        [],
        "pruner.name: pruner 'median' cannot prune a study of several objectives",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw", "args", "expected"), BAD, ids=[c[0] for c in BAD])
def test_bad_input_exits_2_before_anything_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    raw: dict[str, Any],
    args: list[str],
    expected: str,
) -> None:
    path = _write(tmp_path, raw)
    err = _refused(capsys, "tune", path, "--n-trials", "2", *args)
    assert f"{path}: {expected}" in err and "fix:" in err


COMPARE_BAD: list[tuple[str, dict[str, Any] | None, list[str], str]] = [
    (
        "no reference point for a user's front",
        XGB,
        [],
        "{path}: reference_point: comparing fronts measures each by its hypervolume against a "
        "reference point, but spec 'mo-cli' states none for its objectives (accuracy, latency_ms)",
    ),
    (
        "a reference point missing an objective",
        None,
        ["--reference-point", "f1=11"],
        "--reference-point: the reference point must give one value per objective (f1, f2), but "
        "it gives f1",
    ),
    (
        "a reference point naming another metric",
        None,
        ["--reference-point", "f1=11,f3=2"],
        "--reference-point: the reference point must give one value per objective (f1, f2)",
    ),
    (
        "a reference point that is no number",
        None,
        ["--reference-point", "f1=11,f2=x"],
        "--reference-point: --reference-point takes metric=value pairs separated by commas, but "
        "got 'f2=x'",
    ),
    (
        "a spec reference point of the wrong dimension",
        {**ZDT1, "reference_point": {"f1": 11.0}},
        [],
        "{path}: `reference_point` must give one value per objective (f1, f2), but it gives f1",
    ),
    (
        "a reference point on one objective",
        {k: v for k, v in XGB.items() if k != "objectives"},
        ["--reference-point", "accuracy=0"],
        "--reference-point: --reference-point is the hypervolume reference of a front, but spec "
        "'mo-cli' has one objective (accuracy)",
    ),
    (
        "cmaes on a front",
        None,
        [],
        "--samplers cmaes: sampler 'cmaes' optimises one objective, but the spec declares 2",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "raw", "args", "expected"), COMPARE_BAD, ids=[c[0] for c in COMPARE_BAD]
)
def test_compare_of_fronts_refuses_bad_reference_points(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    raw: dict[str, Any] | None,
    args: list[str],
    expected: str,
) -> None:
    """A comparison of fronts needs a stated reference point that names every objective; a
    sampler of one objective is refused as `hpo tune` refuses it: exit 2, one line."""
    path = _write(tmp_path, raw) if raw is not None else "zdt1"
    samplers = "random,cmaes" if "cmaes" in case else "random,nsga2"
    err = _refused(capsys, "compare", path, "--samplers", samplers, "--n-trials", "2", *args)
    assert expected.format(path=path) in err and "fix:" in err


@pytest.fixture(scope="module")
def zdt1_study(pg_url: str) -> str:
    """A real zdt1 study (8 trials, microseconds each) made by the service, no rule declared."""
    name = f"mo-promote-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(study_name=name, spec=load_spec("zdt1"), sampler="random", n_trials=8, seed=0)
    open_study(plan, get_storage())
    run_worker(plan, WorkerIdentity(name="t"))
    return name


PROMOTE_BAD: list[tuple[str, list[str], str]] = [
    (
        "no rule",
        [],
        "promotion: study '{study}' has 2 objectives and no promotion rule",
    ),
    (
        "weight on an unknown objective",
        ["--rule", "weighted", "--weight", "f1=-1", "--weight", "f3=-1"],
        "--weight: the promotion rule names 'f3', which is not an objective of study '{study}' "
        "(f1, f2)",
    ),
    (
        "primary without a rule",
        ["--primary", "f1"],
        "--rule: --primary and --weight belong to a rule, but no --rule is given",
    ),
    (
        "weighted without weights",
        ["--rule", "weighted"],
        "--rule: rule `weighted` takes `weights: {METRIC: WEIGHT, ...}`",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "args", "expected"), PROMOTE_BAD, ids=[c[0] for c in PROMOTE_BAD])
def test_promote_of_a_front_without_a_usable_rule_exits_2(
    zdt1_study: str,
    capsys: pytest.CaptureFixture[str],
    case: str,
    args: list[str],
    expected: str,
) -> None:
    err = _refused(capsys, "promote", zdt1_study, "--pipeline", "p", *args)
    assert expected.replace("{study}", zdt1_study) in err and "fix:" in err
    assert "PREFECT" not in err  # refused before a Prefect server or flow run was needed


def test_promote_an_unknown_rule_exits_2(
    zdt1_study: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["promote", zdt1_study, "--pipeline", "p", "--rule", "pareto_knee"])
    assert exit_.value.code == 2
    assert "argument --rule: invalid choice: 'pareto_knee'" in capsys.readouterr().err


def test_promote_a_study_of_another_tool_exits_2(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"mo-foreign-{uuid.uuid4().hex[:6]}"
    study = optuna.create_study(
        study_name=name, storage=get_storage(), directions=["minimize", "minimize"]
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    err = _refused(capsys, "promote", name, "--pipeline", "p")
    assert f"study {name!r} was not made by this service" in err


def test_front_fits_80_columns(pg_url: str) -> None:
    name = f"xgb-front-{uuid.uuid4().hex[:6]}"
    study = optuna.create_study(
        study_name=name, storage=get_storage(), directions=["maximize", "minimize"]
    )
    study.set_metric_names(["accuracy", "latency_ms"])

    def objective(t: optuna.Trial) -> tuple[float, float]:
        params = [t.suggest_float(f"param_{i}", 0, 1) for i in range(8)]
        return sum(params), params[0]

    study.optimize(objective, n_trials=12)
    screen = run_in_terminal("studies", "front", name)
    _assert_fits(screen)
    assert "accuracy (max)" in screen and "latency_ms (min)" in screen and "…" not in screen
    assert "trials on the front of 12 COMPLETE" in screen
