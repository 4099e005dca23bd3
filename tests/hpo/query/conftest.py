"""Studies shared by the query tests (read-only once built; unique names, never wiped).

* ``generated``: 2,000 trials bulk-loaded by ``hpo.query.testing`` (every state, conditional
  params, user attributes, fail reasons), with ``optuna_trials``, stock Optuna's view of it.
* ``api_study``: a small study written through Optuna's API with the edge cases: maximize,
  +/-inf values, tied values, mixed categorical choices, a pruned trial with reports, a failed
  one with a reason, a RUNNING and a WAITING trial.
* ``multi_study``: two objectives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from hpo.query import StudyClient
from hpo.query.testing import GeneratedStudy, generate_study
from hpo.settings import DatabaseSettings, HpoSettings
from hpo.store import get_storage, libpq_url

TrialState = optuna.trial.TrialState


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def isolated_store(pg_url: str, prefix: str) -> Iterator[HpoSettings]:
    """Settings of a fresh database on the test server (tables and indexes made by
    ``hpo.store`` on first use), dropped afterwards: for tests that need to know everything the
    store holds, or that would leave large studies behind."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = libpq_url(str(make_url(pg_url).set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    settings = HpoSettings(database=DatabaseSettings(url=SecretStr(url)))
    try:
        yield settings
    finally:
        get_storage(settings).engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def client(pg_url: str) -> StudyClient:
    return StudyClient()


@pytest.fixture(scope="session")
def generated(pg_url: str) -> GeneratedStudy:
    return generate_study(get_storage(), unique("query-gen"), 2_000, seed=7)


@pytest.fixture(scope="session")
def optuna_trials(pg_url: str, generated: GeneratedStudy) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=generated.study_name, storage=pg_url).trials


@pytest.fixture(scope="session")
def api_study(pg_url: str) -> str:
    storage = get_storage()
    name = unique("query-api")
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr("hpo.sampler", "random")
    study.set_user_attr("hpo.n_trials", 12)
    study.set_user_attr("hpo.spec_hash", "abc123")
    for i in range(11):
        trial = study.ask()
        x = trial.suggest_float("x", -5.0, 5.0)
        trial.suggest_categorical("k", [None, "s", 2.5, False])
        trial.suggest_int("n", 1, 9, log=True)
        trial.set_user_attr("device", "cuda" if i % 2 else "cpu")
        trial.set_user_attr("meta", {"a": [1, 2], "i": i})
        if i == 3:
            study.tell(trial, float("inf"))
        elif i == 4:
            study.tell(trial, float("-inf"))
        elif i == 5:
            trial.report(0.5, 0)
            trial.report(0.25, 1)
            study.tell(trial, state=TrialState.PRUNED)
        elif i == 6:
            storage.set_trial_system_attr(trial._trial_id, "fail_reason", "ValueError: boom")
            study.tell(trial, state=TrialState.FAIL)
        elif i in (7, 8, 9):
            study.tell(trial, 1.0)  # three-way tie
        elif i == 10:
            pass  # left RUNNING
        else:
            study.tell(trial, x / 10)  # below the tie
    study.enqueue_trial({"x": 1.0})  # WAITING
    return name


@pytest.fixture(scope="session")
def multi_study(pg_url: str) -> str:
    name = unique("query-multi")
    study = optuna.create_study(
        study_name=name, storage=get_storage(), directions=["minimize", "maximize"]
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), 8)
    return name
