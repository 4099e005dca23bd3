"""`hpo tune`: bad input gives a short error and exit code 2; a real run stores exactly N trials
that stock Optuna reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from hpo.cli.main import main
from hpo.query import StudyClient

REPO = Path(__file__).resolve().parents[3]

GOOD: dict[str, Any] = {
    "name": "cli-test",
    "objective": "xgboost",
    "dataset": "breast_cancer",
    "metric": "roc_auc",
    "params": {"max_depth": {"type": "int", "low": 2, "high": 6}},
}


def _spec(tmp_path: Path, **changes: Any) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**GOOD, **changes}))
    return str(path)


BAD_SPECS: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown param type",
        {"params": {"d": {"type": "integer", "low": 1, "high": 3}}},
        "params.d: unknown param type 'integer'",
    ),
    (
        "low > high",
        {"params": {"d": {"type": "int", "low": 9, "high": 3}}},
        "`low <= high` must hold, but got low=9, high=3",
    ),
    (
        "log with low <= 0",
        {"params": {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}},
        "`log: true` needs `low > 0`",
    ),
    (
        "empty choices",
        {"params": {"b": {"type": "categorical", "choices": []}}},
        "params.b.choices",
    ),
    ("grid outside range", {"grid": {"max_depth": [1, 3]}}, "grid.max_depth value 1 is outside"),
    ("unknown objective", {"objective": "catboost"}, "objective"),
    ("unknown dataset", {"dataset": "mnist"}, "dataset"),
    ("unknown metric", {"metric": "auc-pr"}, "metric"),
    ("objective does not import", {"objective": "no_such_pkg.mod:fn"}, "no_such_pkg.mod:fn"),
    ("unknown sampler", {"sampler": "bayes"}, "unknown sampler 'bayes'"),
    (
        "pruning metric that does not fit",
        {"pruner": {"name": "median", "metric": "rmse"}},
        "pruner.metric: metric 'rmse' fits regression tasks only",
    ),
    (
        "NaN bound",
        {"params": {"lr": {"type": "float", "low": float("nan"), "high": 1.0}}},
        "`low` must be a finite number, but got nan",
    ),
    (
        "infinite bound",
        {"params": {"lr": {"type": "float", "low": 0.0, "high": float("inf")}}},
        "`high` must be a finite number, but got inf",
    ),
    (
        "enormous grid",
        {
            "sampler": "grid",
            "params": {
                "a": {"type": "int", "low": 0, "high": 10**9},
                "b": {"type": "int", "low": 0, "high": 10**9},
            },
        },
        "the grid has 1,000,000,002,000,000,001 points, over the 100,000",
    ),
    (
        "pruner option Optuna rejects",
        {"pruner": {"name": "median", "options": {"n_startup_trials": -3}}},
        "pruner.options: pruner 'median' rejects these options",
    ),
    (
        "pruner option Optuna does not know",
        {"pruner": {"name": "hyperband", "options": {"eta": 3}}},
        "pruner.options: pruner 'hyperband' does not take these options",
    ),
    ("negative seed", {"seed": -1}, "seed: Input should be greater than or equal to 0"),
]


@pytest.mark.parametrize(("case", "changes", "expected"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_input_exits_2_with_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    changes: dict[str, Any],
    expected: str,
) -> None:
    path = _spec(tmp_path, **changes)
    code = main(["tune", path, "--n-trials", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ")
    assert path in err  # the file
    assert expected in err  # the field and the rule
    assert "fix:" in err  # the fix
    assert "Traceback" not in err


def test_unknown_sampler_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["tune", _spec(tmp_path), "--sampler", "annealing"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown sampler 'annealing'" in err
    assert "fix: use one of: cmaes, gp, grid, nsga2, nsga3, qmc, random, tpe" in err


BAD_ARGS: list[tuple[list[str], str]] = [
    (["--n-trials", str(10**12)], "--n-trials must be between 1 and 1,000,000"),
    (["--n-trials", "0"], "--n-trials must be between 1 and 1,000,000"),
    (["--study", ""], "--study: a study name must not be empty"),
    (["--study", "   "], "--study: a study name must not be empty"),
    (["--study", "x\nINFO forged log line"], "--study: a study name must be printable"),
    (["--study", "x" * 201], "--study: a study name must have at most 200 characters"),
    (["--seed", "-5"], "--seed must be between 0 and 4294967295"),
    (["--seed", str(2**40)], "--seed must be between 0 and 4294967295"),
    (["--workers", "0"], "--workers must be between 1 and 32"),
]


@pytest.mark.parametrize(("extra", "expected"), BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments_exit_2_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    code = main(["tune", _spec(tmp_path), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and expected in err
    assert "Traceback" not in err


def _hpo(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hpo", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=timeout,
    )


def test_unreachable_database_is_masked(tmp_path: Path) -> None:
    proc = _hpo(
        "tune",
        _spec(tmp_path),
        "--n-trials",
        "2",
        env={
            "HPO_DATABASE_URL": "postgresql://bob:hunter2@127.0.0.1:1/hpo",
            "HPO_DATABASE_CONNECT_TIMEOUT_S": "2",
        },
    )
    assert proc.returncode == 2
    assert (
        "cannot reach the study store at postgresql+psycopg://bob:***@127.0.0.1:1/hpo"
        in proc.stderr
    )
    assert "hunter2" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_tune_bundled_xgboost_spec_end_to_end(
    pg_url: str, study_name: str, prefect_api_env: dict[str, str]
) -> None:
    proc = _hpo(
        "tune",
        "xgboost_breast_cancer",
        "--n-trials",
        "8",  # the quickstart runs 30: the same path, more training
        "--workers",
        "2",
        "--study",
        study_name,
        env=prefect_api_env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "best roc_auc:" in proc.stdout
    study = optuna.load_study(study_name=study_name, storage=pg_url)  # stock Optuna reads it
    assert Counter(t.state.name for t in study.trials) == Counter({"COMPLETE": 8})
    assert study.best_value > 0.95  # ROC AUC on breast_cancer
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2

    # Re-running with the same --study resumes it: at the same budget there is nothing to do
    # (resuming to a larger budget: tests/workers/test_trial_runner.py).
    proc = _hpo(
        "tune", "xgboost_breast_cancer", "--n-trials", "8", "--workers", "2",
        "--study", study_name, "--no-progress", env=prefect_api_env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming: 8 finished trial(s) already, 0 to go" in proc.stderr
    assert "finished: 8/8" in proc.stderr
    study = optuna.load_study(study_name=study_name, storage=pg_url)
    assert Counter(t.state.name for t in study.trials) == Counter({"COMPLETE": 8})


@pytest.mark.slow
def test_a_short_study_exits_1_saying_what_is_missing(
    pg_url: str, study_name: str, tmp_path: Path, prefect_api_env: dict[str, str]
) -> None:
    spec = tmp_path / "fails.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "fails",
                "objective": "tests.objectives_fixture:always_fails",
                "params": {"x": {"type": "float", "low": 0, "high": 1}},
                "budget": {"n_trials": 3, "max_failed_trials": 2},
            }
        )
    )
    proc = _hpo(
        "tune", str(spec), "--study", study_name, "--json", env=prefect_api_env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert (
        f"error: study {study_name!r} holds 0 of 3 finished trials (2 trials failed "
        "(budget.max_failed_trials)); run the same command again to resume it\n"
    ) in proc.stderr
    assert "Traceback" not in proc.stderr
    # --json prints the flow's result: the study summary of `hpo studies show --json`.
    result = json.loads(proc.stdout)
    summary = result["summary"]
    assert summary == json.loads(StudyClient().summary(study_name).model_dump_json())
    assert summary["counts"] == {"running": 0, "waiting": 0, "complete": 0, "pruned": 0, "fail": 2}
    assert summary["state"] == "stopped" and summary["best_trial"] is None
    assert summary["n_trials_budget"] == 3 and summary["metric"] is None
    (worker,) = result["workers"]  # what the one in-process worker ran, in the same counts
    assert worker["counts"] == summary["counts"]
    assert "budget.max_failed_trials" in worker["stopped_because"]


def test_every_command_is_registered_by_its_module() -> None:
    """`hpo COMMAND` imports only the module named for it in COMMANDS: that module must
    register exactly the commands listed for it, and no command may be missing."""
    import argparse
    import importlib

    from hpo.cli.main import COMMANDS, build_parser

    full = build_parser()
    choices = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(choices) == set(COMMANDS)
    for module in set(COMMANDS.values()):
        parser = argparse.ArgumentParser()
        importlib.import_module(module).register(parser.add_subparsers())
        registered = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        ).choices
        assert set(registered) == {c for c, m in COMMANDS.items() if m == module}
