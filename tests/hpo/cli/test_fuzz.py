"""Hostile input, as a fuzzer would give it (hypothesis): every spec field, every argument of
the read-only commands and of ``hpo tune --check``, and every ``HPO_*`` setting. Whatever comes
in, the CLI exits 0 or 2 (``studies best``: 1 when there is nothing to show), never prints a
traceback or the store's password, and leaves stored data as it was (real PostgreSQL)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from hpo.cli.main import main
from hpo.errors import ConfigError
from hpo.settings import _GROUPS, get_settings

SECRET = "Fuzz-Secret-77"
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(["", " ", "\n", "x\nINFO forged", "../../etc/passwd", "%s%n", "*", "a:b"])
hostile_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
hostile_value = st.one_of(
    hostile_scalar,
    st.lists(hostile_scalar, max_size=4),
    st.dictionaries(st.text(max_size=8), hostile_scalar, max_size=3),
)
# Objective strings are imported (never called): keep them to names that import nothing odd.
objective = st.sampled_from(
    [
        "branin",
        "xgboost",
        "lightgbm",
        "torch_mlp",
        "no_such_mod:fn",
        "tests.objectives_fixture:quadratic",
        "",
    ]
) | st.text(alphabet="abcdefghij_.", max_size=12)

BASE: dict[str, Any] = {
    "name": "fuzz-base",
    "objective": "branin",
    "params": {
        "x1": {"type": "float", "low": -5, "high": 10},
        "x2": {"type": "int", "low": 0, "high": 15},
    },
}
PRUNERS = ["median", "successive_halving", "hyperband", "none", "x"]
PRUNER_OPTIONS = ["n_startup_trials", "n_warmup_steps", "min_resource", "reduction_factor", "bogus"]
SPEC_FIELDS = [
    "name", "description", "dataset", "metric", "direction", "cv_folds", "seed", "sampler",
    "pruner", "budget", "grid", "params", "unknown_field",
]  # fmt: skip


@st.composite
def hostile_spec(draw: st.DrawFn) -> Any:
    spec: dict[str, Any] = yaml.safe_load(yaml.safe_dump(BASE))
    spec["objective"] = draw(objective)
    for key in draw(
        st.lists(st.sampled_from(["type", "low", "high", "step", "log", "choices"]), max_size=3)
    ):
        spec["params"]["x1"][key] = draw(hostile_value)  # type: ignore[index]
    for field in draw(st.lists(st.sampled_from(SPEC_FIELDS), max_size=3, unique=True)):
        spec[field] = draw(hostile_value)
    if draw(st.booleans()):
        options = st.dictionaries(st.sampled_from(PRUNER_OPTIONS), hostile_scalar, max_size=2)
        spec["pruner"] = {"name": draw(st.sampled_from(PRUNERS)), "options": draw(options)}
    if draw(st.booleans()):
        spec["budget"] = {"n_trials": draw(hostile_scalar), "timeout_s": draw(hostile_scalar)}
    return (
        draw(st.sampled_from([spec, [spec], "just text", None, 42]))
        if draw(st.integers(0, 9)) == 0
        else spec
    )


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


def _assert_clean(code: int, output: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert code in allowed, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    assert SECRET not in output


@pytest.fixture(scope="module")
def secret_store(pg_url: str) -> Iterator[str]:
    """The tests' PostgreSQL named with a password (trust auth ignores it), and a canary study
    whose trials must come out of the fuzzing unchanged."""
    url = make_url(pg_url)
    if url.host is None:
        pytest.skip("the tests' PostgreSQL has no TCP address to add a password to")
    secret_url = url.set(password=SECRET).render_as_string(hide_password=False)
    saved = os.environ["HPO_DATABASE_URL"]
    os.environ["HPO_DATABASE_URL"] = secret_url
    get_settings.cache_clear()
    canary = optuna.create_study(
        study_name=f"fuzz-canary-{os.getpid()}", storage=pg_url, load_if_exists=True
    )
    if not canary.trials:
        canary.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    before = [(t.number, t.state, t.params, t.value) for t in canary.trials]
    yield canary.study_name
    after = optuna.load_study(study_name=canary.study_name, storage=pg_url).trials
    assert [(t.number, t.state, t.params, t.value) for t in after] == before
    os.environ["HPO_DATABASE_URL"] = saved
    get_settings.cache_clear()


@FUZZ
@given(spec=hostile_spec())
def test_hostile_specs(secret_store: str, capsys: pytest.CaptureFixture[str], spec: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
        code, output = _run(["tune", str(path), "--check", "--study", "fuzz-spec"], capsys)
    _assert_clean(code, output)


tune_args = st.fixed_dictionaries(
    {},
    optional={
        "--n-trials": st.integers(-(2**64), 2**64).map(str) | hostile_text,
        "--workers": st.integers(-(2**40), 2**40).map(str),
        "--cpu-workers": st.integers(-5, 100).map(str),
        "--seed": st.integers(-(2**70), 2**70).map(str) | hostile_text,
        "--study": hostile_text,
        "--sampler": st.sampled_from(["tpe", "random", "grid", "qmc", "cmaes", "gp"])
        | hostile_text,
    },
)


@FUZZ
@given(args=tune_args, spec=st.sampled_from(["branin", "hartmann6", "nope", "", "-"]))
def test_hostile_tune_arguments(
    secret_store: str, capsys: pytest.CaptureFixture[str], args: dict[str, str], spec: str
) -> None:
    argv = ["tune", spec, "--check"] + [part for kv in args.items() for part in kv]
    code, output = _run(argv, capsys)
    _assert_clean(code, output)


STUDY_FLAGS = ["--param", "--value", "--sort", "--limit", "--state"]
read_commands = st.one_of(
    st.tuples(
        st.just(["studies", "list"]),
        st.lists(
            st.sampled_from(["--name", "--sampler", "--state", "--limit", "--offset"]), max_size=3
        ),
    ),
    st.tuples(
        st.sampled_from([["studies", a] for a in ("show", "best", "trials", "importances")]),
        st.lists(st.sampled_from(STUDY_FLAGS), max_size=3),
    ),
    st.tuples(
        st.just(["promotions", "list"]),
        st.lists(st.sampled_from(["--pipeline", "--stage", "--limit"]), max_size=2),
    ),
    st.tuples(st.just(["promotions", "champions"]), st.lists(st.just("--pipeline"), max_size=1)),
)


@FUZZ
@given(command=read_commands, data=st.data())
def test_hostile_query_arguments(
    secret_store: str, capsys: pytest.CaptureFixture[str], command: Any, data: st.DataObject
) -> None:
    words, flags = command
    argv = list(words)
    if words[0] == "studies" and words[1] != "list":
        argv.append(data.draw(st.sampled_from([secret_store, "no-such-study"]) | hostile_text))
    for flag in flags:
        argv += [flag, data.draw(hostile_text | st.integers(-(2**40), 2**40).map(str))]
    if data.draw(st.booleans()):
        argv.append("--json")  # every one of these commands takes it
    code, output = _run(argv, capsys)
    _assert_clean(code, output, (0, 1, 2) if words[1] == "best" else (0, 2))


SETTINGS_VARS = sorted(
    {
        (str(group.model_config.get("env_prefix", "")) + name).upper()
        for group in _GROUPS.values()
        for name in group.model_fields
        if name not in ("url", "data_dir")  # the store's URL: test_redaction; a path: any text
    }
)


@FUZZ
@given(
    var=st.sampled_from(SETTINGS_VARS), value=hostile_text | st.integers(-(2**70), 2**70).map(str)
)
def test_hostile_settings(var: str, value: str) -> None:
    if "\x00" in value:
        value = value.replace("\x00", "")  # the environment cannot hold NUL
    saved = os.environ.get(var)
    os.environ[var] = value
    get_settings.cache_clear()
    try:
        get_settings()
    except ConfigError as exc:
        assert str(exc).startswith(f"invalid setting {var}")
    finally:
        if saved is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = saved
        get_settings.cache_clear()
