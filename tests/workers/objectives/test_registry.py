from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hpo.errors import ConfigError, ObjectiveImportError, UnknownNameError
from hpo.workers.objectives import (
    BUILTIN_OBJECTIVES,
    EvaluationSetup,
    Objective,
    TrialContext,
    builtin_objective_names,
    get_builtin_objective,
    is_builtin,
    load_user_objective,
    resolve_objective,
)

FIXTURE = "tests.workers.objectives.user_objectives_fixture"


def _context(report: list[tuple[int, float]] | None = None) -> TrialContext:
    sink = report if report is not None else []
    return TrialContext(
        trial_number=4,
        device="cpu",
        setup=EvaluationSetup(dataset="iris", metric="accuracy"),
        report=lambda step, value: sink.append((step, value)),
    )


def test_builtin_names() -> None:
    assert builtin_objective_names() == [
        *["ackley", "branin", "hartmann6", "lightgbm", "rosenbrock", "six_hump_camel"],
        *["torch_mlp", "xgboost", "zdt1", "zdt2"],
    ]
    assert sorted(BUILTIN_OBJECTIVES) == builtin_objective_names()
    assert all(isinstance(fn, Objective) for fn in BUILTIN_OBJECTIVES.values())
    assert is_builtin("xgboost") and not is_builtin(f"{FIXTURE}:one_arg")


def test_importing_the_registry_imports_no_model_library() -> None:
    code = (
        "import sys, hpo.workers.objectives as o; "
        "assert o.BUILTIN_OBJECTIVES; "
        "loaded = [m for m in ('torch', 'xgboost', 'lightgbm') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_get_builtin_objective_imports_the_real_function() -> None:
    from hpo.workers.objectives.xgboost_objective import xgboost_objective

    assert get_builtin_objective("xgboost") is xgboost_objective
    assert resolve_objective("xgboost") is xgboost_objective


def test_lazy_builtin_runs() -> None:
    context = TrialContext(
        trial_number=0,
        device="cpu",
        setup=EvaluationSetup(dataset="iris", metric="accuracy", cv_folds=3),
    )
    score = BUILTIN_OBJECTIVES["lightgbm"]({"n_estimators": 10}, context)
    assert 0.8 < score <= 1.0


def test_unknown_builtin_lists_names_and_user_form() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_builtin_objective("catboost")
    message = str(info.value)
    assert "'catboost'" in message
    assert "lightgbm, rosenbrock, six_hump_camel, torch_mlp, xgboost" in message
    assert "package.module:function" in message


def test_user_objective_with_one_arg() -> None:
    fn = load_user_objective(f"{FIXTURE}:one_arg")
    assert fn({"x": 3}, _context()) == 9.0


def test_user_objective_with_two_args_gets_the_context() -> None:
    reports: list[tuple[int, float]] = []
    fn = resolve_objective(f"{FIXTURE}:two_args")
    assert fn({"x": 2.5}, _context(reports)) == 6.5
    assert reports == [(1, 2.5)]


def test_user_objective_shapes_that_are_accepted() -> None:
    assert load_user_objective(f"{FIXTURE}:optional_context")({}, _context()) == 3.0
    assert load_user_objective(f"{FIXTURE}:callable_instance")({}, _context()) == 7.0


@pytest.mark.parametrize(
    "path", ["no_colon", "pkg.mod:", ":func", "pkg..mod:f", "pkg.mod:f:g", "pkg mod:f", ""]
)
def test_bad_format(path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_user_objective(path)
    assert "'package.module:function'" in str(info.value)
    assert repr(path) in str(info.value)


def test_module_not_found() -> None:
    with pytest.raises(ObjectiveImportError) as info:
        load_user_objective("tests.workers.objectives.no_such_module:f")
    message = str(info.value)
    assert "ModuleNotFoundError" in message
    assert "no_such_module" in message
    assert "python -c 'import tests.workers.objectives.no_such_module'" in message
    assert isinstance(info.value, ImportError)


def test_module_that_fails_while_importing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_objective_module.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ObjectiveImportError) as info:
        load_user_objective("broken_objective_module:f")
    assert "RuntimeError: boom" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_attribute_missing() -> None:
    with pytest.raises(ObjectiveImportError) as info:
        load_user_objective(f"{FIXTURE}:nope")
    assert "has no attribute 'nope'" in str(info.value)


def test_not_callable() -> None:
    with pytest.raises(ConfigError) as info:
        load_user_objective(f"{FIXTURE}:not_callable")
    assert "must be callable" in str(info.value) and "int" in str(info.value)


@pytest.mark.parametrize("attr", ["three_args", "required_keyword", "var_args"])
def test_signature_that_is_not_params_or_params_context(attr: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_user_objective(f"{FIXTURE}:{attr}")
    assert "one positional parameter (params) or two (params, context)" in str(info.value)
    assert attr in str(info.value)


def test_non_number_result_is_an_error() -> None:
    fn = load_user_objective(f"{FIXTURE}:returns_text")
    with pytest.raises(ConfigError, match="must return a number"):
        fn({}, _context())
