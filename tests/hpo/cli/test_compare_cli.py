"""`hpo compare`: what cannot work is refused with exit code 2 before any study exists. Real runs:
``tests/flows/test_compare_flow.py`` (in-process, on the Prefect test server) and
``tests/flows/test_compare_pools.py`` (on the work pools)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo.cli.main import main
from hpo.compare import load_group
from hpo.errors import StoreStateError
from hpo.store import get_storage


def _spec(tmp_path: Path, params: dict[str, Any]) -> str:
    path = tmp_path / "spec.yaml"
    raw = {"name": "cli-cmp", "objective": "tests.objectives_fixture:quadratic", "params": params}
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["compare", *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_cmaes_on_a_categorical_only_space_fails_before_anything_runs(
    pg_url: str, study_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _spec(tmp_path, {"c": {"type": "categorical", "choices": ["a", "b", "c"]}})
    err = _refused(
        capsys, path, "--samplers", "random,tpe,cmaes", "--n-trials", "5", "--group", study_name
    )
    assert f"{path}: --samplers cmaes: sampler 'cmaes' needs at least one int or float param" in err
    assert "every param of 'cli-cmp' is categorical" in err
    assert "fix: use tpe, random or grid for a categorical-only space" in err
    with pytest.raises(StoreStateError):
        load_group(study_name)  # no group...
    with pytest.raises(KeyError):
        get_storage().get_study_id_from_name(f"{study_name}-random-s0")  # ...and no study


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--samplers", "random,bayes"], "unknown sampler 'bayes'"),
        (["--samplers", "random,random"], "must not repeat a sampler"),
        (["--samplers", "random", "--seeds", "0"], "--seeds must be at least 1"),
        (["--samplers", "random", "--n-trials", "0"], "--n-trials must be between 1"),
        (["--samplers", "random", "--workers", "0"], "--workers must be at least 1"),
        (["--samplers", "random", "--workers", "1,x"], "--workers takes a count or comma"),
        (["--samplers", "random", "--workers", "4,4"], "--workers must not repeat a count"),
        (["--samplers", "random", "--workers", "1,4", "--cpu-workers", "1"], "in-process only"),
        (["--samplers", "random", "--seeds", "10", "--workers", "1,8"], "more than 64"),
        (["--samplers", "random", "--seeds", "40", "--workers", "2"], "more than 64"),
        (["--samplers", "random,grid"], "sampler 'grid' cannot build a grid"),
        (["--samplers", "random", "--group", "a b"], "comparison group name"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    path = _spec(tmp_path, {"x": {"type": "float", "low": -3.0, "high": 5.0}})
    assert expected in _refused(capsys, path, *args)


def test_missing_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert "spec file not found" in _refused(capsys, "no/such.yaml", "--samplers", "tpe")
