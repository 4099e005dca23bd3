"""Spec files that are not what they should be: each a SpecError naming the file and the fix,
found before anything is parsed into a study (and fast: no exponential YAML)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo.errors import SpecError
from hpo.search_spaces.loader import MAX_SPEC_BYTES, load_spec

GOOD = "name: t\nobjective: branin\nparams:\n  x1: {type: float, low: -5, high: 10}\n"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.encode() + "description: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "not UTF-8" in str(err.value)
    assert "save the spec as UTF-8" in str(err.value)


def test_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text(
        GOOD + "pruner:\n  name: median\n  options:\n" + "".join(f"    {line}\n" for line in lines)
    )
    with pytest.raises(SpecError) as err:  # 10**9 strings if expanded
        load_spec(path)
    assert "aliases" in str(err.value) and f"{path}:" in str(err.value)


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "description: " + "x" * MAX_SPEC_BYTES + "\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "over the 1,000,000 a spec may have" in str(err.value)


def test_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(GOOD + "description: " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(SpecError):
        load_spec(path)


def test_a_good_spec_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert load_spec(path).params["x1"].type == "float"
