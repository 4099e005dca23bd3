"""`hpo studies ...`: tables for people, `--json` for scripts, exit codes 0 / 1 / 2."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest

from hpo.cli.main import main
from hpo.query import StudyClient
from hpo.query.testing import GeneratedStudy, generate_study
from hpo.store import get_storage

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def studies(pg_url: str) -> dict[str, Any]:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    generated = generate_study(get_storage(), f"{prefix}-gen", 300, seed=3, sampler="random")
    empty = f"{prefix}-empty"
    optuna.create_study(study_name=empty, storage=get_storage())
    return {"prefix": prefix, "gen": generated, "empty": empty}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_list(capsys: pytest.CaptureFixture[str], studies: dict[str, Any]) -> None:
    data = run_json(capsys, "studies", "list", "--name", studies["prefix"] + "-*")
    assert data["total"] == 2 and data["has_more"] is False
    assert [s["study_name"] for s in data["items"]] == [studies["empty"], studies["gen"].study_name]
    assert data["items"][1]["counts"]["complete"] == studies["gen"].states["COMPLETE"]
    assert data["items"][1]["state"] == "running" and data["items"][0]["state"] == "empty"
    data = run_json(capsys, "studies", "list", "--name", studies["prefix"], "--sampler", "random")
    assert [s["study_name"] for s in data["items"]] == [studies["gen"].study_name]
    data = run_json(capsys, "studies", "list", "--name", studies["prefix"], "--limit", "1")
    assert len(data["items"]) == 1 and data["has_more"] is True

    code, out, _ = run(capsys, "studies", "list", "--name", studies["prefix"], "--limit", "1")
    assert code == 0
    assert studies["empty"] in out
    assert "studies 1-1 of 2; next page: --offset 1" in out


def test_show(capsys: pytest.CaptureFixture[str], studies: dict[str, Any]) -> None:
    gen: GeneratedStudy = studies["gen"]
    data = run_json(capsys, "studies", "show", gen.study_name)
    assert data["counts"] == {k.lower(): v for k, v in gen.states.items()}
    assert data["best_trial"]["number"] == StudyClient().best_trial(gen.study_name).number  # type: ignore[union-attr]
    assert set(data["devices"]) == {"cpu", "cuda"} and data["spec_hash"] == "synthetic-3"
    code, out, _ = run(capsys, "studies", "show", gen.study_name)
    assert code == 0
    for text in ("trials / minute", "best params", "cuda", gen.study_name):
        assert text in out
    assert "best value" in out  # generated without a metric: the value has no name


def test_show_names_the_metric(capsys: pytest.CaptureFixture[str], pg_url: str) -> None:
    study = optuna.create_study(
        study_name=f"metric-{uuid.uuid4().hex[:8]}", storage=pg_url, direction="maximize"
    )
    study.set_user_attr("hpo.metric", "roc_auc")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    code, out, _ = run(capsys, "studies", "show", study.study_name)
    assert code == 0 and "best roc_auc" in out and "best value" not in out
    assert run_json(capsys, "studies", "show", study.study_name)["metric"] == "roc_auc"


def test_trials(capsys: pytest.CaptureFixture[str], studies: dict[str, Any]) -> None:
    name = studies["gen"].study_name
    args = ["--state", "complete,pruned", "--param", "max_depth=3:6", "--param", "lr=:0.05"]
    args += ["--param", "booster=gbtree,dart", "--sort", "best", "--limit", "5", "--offset", "2"]
    data = run_json(capsys, "studies", "trials", name, *args)
    expected = StudyClient().trials(
        name,
        state=["complete", "pruned"],
        param_filter={"max_depth": (3, 6), "lr": (None, 0.05), "booster": ["gbtree", "dart"]},
        sort="best",
        limit=5,
        offset=2,
        with_total=True,
    )
    assert [t["number"] for t in data["items"]] == [t.number for t in expected.items]
    assert data["offset"] == 2 and data["limit"] == 5 and len(data["items"]) == 5
    for t in data["items"]:
        assert t["state"] in ("COMPLETE", "PRUNED")
        assert 3 <= t["params"]["max_depth"] <= 6 and t["params"]["lr"] <= 0.05

    code, out, _ = run(capsys, "studies", "trials", name, *args)
    assert code == 0 and "max_depth" in out
    assert f"trials 3-7 of {expected.total}; next page: --offset 7" in out


def test_best(capsys: pytest.CaptureFixture[str], studies: dict[str, Any], pg_url: str) -> None:
    name = studies["gen"].study_name
    data = run_json(capsys, "studies", "best", name)
    stock = optuna.load_study(study_name=name, storage=pg_url).best_trial
    assert (data["number"], data["value"], data["params"]) == (
        stock.number,
        stock.value,
        stock.params,
    )
    code, out, _ = run(capsys, "studies", "best", name)
    assert code == 0 and f"{stock.number}" in out and "params.lr" in out

    code, out, _ = run(capsys, "studies", "best", studies["empty"], "--json")
    assert (code, out.strip()) == (1, "null")
    code, out, _ = run(capsys, "studies", "best", studies["empty"])
    assert code == 1 and "no COMPLETE trial yet" in out


def test_export(
    capsys: pytest.CaptureFixture[str], studies: dict[str, Any], tmp_path: Path
) -> None:
    gen: GeneratedStudy = studies["gen"]
    path = tmp_path / "t.csv"
    code, out, _ = run(
        capsys, "studies", "export", gen.study_name, "--format", "csv", "--output", str(path)
    )
    assert code == 0 and f"wrote {gen.n_trials} trials" in out
    with path.open(newline="") as f:
        assert len(list(csv.DictReader(f))) == gen.n_trials
    path = tmp_path / "t.json"
    args = ["--format", "json", "--output", str(path), "--state", "fail"]
    code, _, _ = run(capsys, "studies", "export", gen.study_name, *args)
    assert code == 0
    assert {t["state"] for t in json.loads(path.read_text())} == {"FAIL"}


def test_importances(capsys: pytest.CaptureFixture[str], studies: dict[str, Any]) -> None:
    data = run_json(capsys, "studies", "importances", studies["gen"].study_name)
    assert data["n_trials"] == studies["gen"].states["COMPLETE"]
    assert next(iter(data["importances"])) == "lr"
    code, out, _ = run(capsys, "studies", "importances", studies["gen"].study_name)
    assert code == 0 and "PED-ANOVA" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["studies", "show", "no-such-study-x"], "no study named 'no-such-study-x'"),
        (["studies", "trials", "{gen}", "--param", "max_depth"], "is not NAME=LOW:HIGH"),
        (["studies", "trials", "{gen}", "--param", "max_depth=6:3"], "`low <= high` must hold"),
        (["studies", "trials", "{gen}", "--param", "max_depth=a:3"], "'a' is not a number"),
        (["studies", "trials", "{gen}", "--param", "depth=1:2"], "no param named 'depth'"),
        (["studies", "trials", "{gen}", "--state", "finished"], "unknown trial state"),
        (["studies", "trials", "{gen}", "--value", "3"], "is not a LOW:HIGH range"),
        (["studies", "trials", "{gen}", "--limit", "0"], "`1 <= limit <= 10000`"),
        (["studies", "importances", "{empty}"], "at least 2 COMPLETE trials"),
    ],
)
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], studies: dict[str, Any], args: list[str], message: str
) -> None:
    args = [a.format(gen=studies["gen"].study_name, empty=studies["empty"]) for a in args]
    code, out, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "fix:" in err and "Traceback" not in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["studies", "trials", "x", "--sort", "random"])
    assert info.value.code == 2
    assert "invalid choice: 'random'" in capsys.readouterr().err


def test_unreachable_store_exits_2_masked() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hpo", "studies", "list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "HPO_DATABASE_URL": "postgresql://eve:sesame@127.0.0.1:1/hpo",
            "HPO_DATABASE_CONNECT_TIMEOUT_S": "2",
        },
    )
    assert proc.returncode == 2
    assert "cannot reach the study store at postgresql+psycopg://eve:***@127.0.0.1:1/hpo" in (
        proc.stderr
    )
    assert "sesame" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_show_reports_duplicate_params(
    capsys: pytest.CaptureFixture[str], studies: dict[str, Any]
) -> None:
    """A study made before issue 11's fix (two workers seeded alike) shows its repeats."""
    name = f"{studies['prefix']}-dups"
    optuna.create_study(study_name=name, storage=get_storage())
    for _ in range(2):
        worker = optuna.load_study(
            study_name=name, storage=get_storage(), sampler=optuna.samplers.RandomSampler(seed=4)
        )
        worker.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    assert run_json(capsys, "studies", "show", name)["duplicate_params"] == 3
    code, out, _ = run(capsys, "studies", "show", name)
    assert code == 0 and "duplicate params" in out and "3 finished trials repeat" in out
    code, out, _ = run(capsys, "studies", "show", studies["gen"].study_name)
    assert code == 0 and "duplicate params" not in out
