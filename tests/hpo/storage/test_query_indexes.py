"""The query indexes: made once per store, idempotent, invisible to stock Optuna (a fresh
store getting them, and getting a dropped one back, is in test_plans.py)."""

from __future__ import annotations

import logging
import uuid

import optuna
import pytest
from sqlalchemy import text

from hpo.storage.query_indexes import INDEXES, ensure_query_indexes
from hpo.store import get_storage


def _existing(names: list[str]) -> set[str]:
    with get_storage().engine.connect() as conn:
        sql = "SELECT n FROM unnest(CAST(:n AS text[])) AS n WHERE to_regclass(n) IS NOT NULL"
        rows = conn.execute(text(sql), {"n": names})
        return set(rows.scalars())


def test_the_store_has_the_indexes(pg_url: str) -> None:
    assert _existing(list(INDEXES)) == set(INDEXES)
    assert ensure_query_indexes(get_storage().engine) == []  # nothing left to create


def test_an_index_that_cannot_be_made_only_warns(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"ix_hpo_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(INDEXES, name, "ON no_such_table (x)")
    with caplog.at_level(logging.WARNING, logger="hpo.storage.indexes"):
        created = ensure_query_indexes(get_storage().engine)
    assert created == []
    assert f"index {name} not created" in caplog.text
    assert "no_such_table" in caplog.text


def test_stock_optuna_works_with_the_indexes(pg_url: str, study_name: str) -> None:
    study = optuna.create_study(study_name=study_name, storage=pg_url, direction="maximize")
    study.optimize(lambda t: t.suggest_int("n", 0, 10), n_trials=5)
    loaded = optuna.load_study(study_name=study_name, storage=pg_url)
    assert len(loaded.trials) == 5 and loaded.best_value == max(t.value for t in loaded.trials)
    optuna.delete_study(study_name=study_name, storage=pg_url)
