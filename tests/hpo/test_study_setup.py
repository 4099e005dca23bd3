"""Resuming a study: a new budget or sampler resumes it; another search space, objective or
direction is refused before anything is written (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from hpo.cli.main import main
from hpo.errors import StoreStateError
from hpo.search_spaces.loader import load_spec, parse_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, check_resume, open_study, resume_conflicts

SPEC: dict[str, Any] = {
    "name": "resume-test",
    "objective": "branin",
    "direction": "minimize",
    "params": {
        "x1": {"type": "float", "low": -5, "high": 10},
        "x2": {"type": "float", "low": 0, "high": 15},
    },
}


def _plan(name: str, n_trials: int = 4, sampler: str = "random", **changes: Any) -> StudyPlan:
    spec = parse_spec({**SPEC, **changes})
    return StudyPlan(study_name=name, spec=spec, sampler=sampler, n_trials=n_trials, seed=0)


def test_conflicts_in_words() -> None:
    old = _plan("s")
    attrs = {"hpo.spec": old.spec.model_dump(mode="json")}
    assert resume_conflicts(_plan("s", n_trials=99, sampler="tpe"), attrs, ["minimize"]) == []
    new = _plan("s", params={"x1": {"type": "float", "low": -5, "high": 20}})
    assert resume_conflicts(new, attrs, ["minimize"]) == [
        "search space (x1 float [-5.0, 10.0] -> float [-5.0, 20.0], x2 float [0.0, 15.0] -> (none))"
    ]
    assert resume_conflicts(_plan("s", direction="maximize"), attrs, ["minimize"]) == [
        "direction: 'minimize' -> 'maximize'"
    ]
    assert resume_conflicts(_plan("s", objective="hartmann6"), attrs, ["minimize"]) == [
        "objective: 'branin' -> 'hartmann6'"
    ]
    # A study made by plain Optuna carries no spec: only its direction can disagree.
    assert resume_conflicts(new, {}, ["minimize"]) == []


def test_refused_before_anything_is_written(pg_url: str, study_name: str) -> None:
    storage = get_storage()
    study = open_study(_plan(study_name), storage)
    before = dict(study.user_attrs)
    changed = _plan(study_name, params={"x1": {"type": "int", "low": 0, "high": 3}})
    with pytest.raises(StoreStateError) as err:
        open_study(changed, storage)
    assert "already exists with a different search space (x1 float" in str(err.value)
    assert "fix: pass a new --study name" in str(err.value)
    assert optuna.load_study(study_name=study_name, storage=pg_url).user_attrs == before
    check_resume(_plan(study_name, n_trials=40, sampler="tpe"), storage)  # a resume: fine


def test_cli_refuses_a_resume_with_another_spec(
    pg_url: str, study_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_study(_plan(study_name), get_storage())
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "direction": "maximize"}))
    assert load_spec(path).direction == "maximize"
    code = main(["tune", str(path), "--study", study_name, "--check"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"study {study_name!r} already exists with a different direction" in err
    path.write_text(yaml.safe_dump(SPEC))
    assert main(["tune", str(path), "--study", study_name, "--n-trials", "9", "--check"]) == 0


def test_resume_with_other_objectives_or_constraints_is_a_conflict() -> None:
    from hpo.search_spaces.loader import parse_spec
    from hpo.study_setup import StudyPlan, resume_conflicts

    base = {
        "name": "t",
        "objective": "zdt1",
        "params": {"x0": {"type": "float", "low": 0, "high": 1}},
    }
    two = [{"metric": "f1", "direction": "minimize"}, {"metric": "f2", "direction": "minimize"}]
    old = parse_spec({**base, "objectives": two})
    stored = {"hpo.spec": old.model_dump(mode="json")}
    flipped = parse_spec({**base, "objectives": two[::-1]})
    plan = StudyPlan(study_name="s", spec=flipped, sampler="nsga2", n_trials=5, seed=0)
    assert resume_conflicts(plan, stored, ["minimize", "minimize"]) == ["objectives"]
    bound = parse_spec(
        {**base, "objectives": two, "constraints": [{"metric": "f1", "op": "<=", "value": 1}]}
    )
    plan = plan.model_copy(update={"spec": bound})
    assert resume_conflicts(plan, stored, ["minimize", "minimize"]) == ["constraints"]
    # A spec stored before `objectives`/`constraints` existed resumes as before.
    single = parse_spec({**base, "objective": "branin"})
    legacy = single.model_dump(mode="json")
    del legacy["objectives"], legacy["constraints"]
    plan = plan.model_copy(update={"spec": single})
    assert resume_conflicts(plan, {"hpo.spec": legacy}, ["minimize"]) == []
