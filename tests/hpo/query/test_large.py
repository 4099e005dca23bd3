"""A large generated study (100,000 trials) in a database of its own: stock Optuna still reads
it with the extra indexes, and the client's pages, filters and best trial match plain SQL and
Optuna. No timing here: speed is measured by benchmarks/query_latency.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optuna
import pytest
from sqlalchemy import text

from hpo.query import StudyClient
from hpo.query import trials as plans
from hpo.query.records import value_key
from hpo.query.testing import GeneratedStudy, generate_study
from hpo.store import get_storage
from tests.hpo.query.conftest import isolated_store

N_TRIALS = 100_000


@pytest.fixture(scope="module")
def large(pg_url: str) -> Iterator[tuple[StudyClient, GeneratedStudy, str]]:
    with isolated_store(pg_url, "hpo_large") as settings:
        storage = get_storage(settings)
        generate_study(storage, "neighbour", 1_000, seed=5)  # another study in the store
        study = generate_study(storage, "large", N_TRIALS, seed=1)
        assert settings.database.url is not None
        yield StudyClient(settings), study, settings.database.url.get_secret_value()


def _oracle(client: StudyClient, where: str, order: str, limit: int) -> list[int]:
    """Trial numbers by a plain SQL query (no buckets, no hydration)."""
    sql = f"""
        SELECT t.number FROM trials t JOIN studies s ON s.study_id = t.study_id
        LEFT JOIN trial_values v ON v.trial_id = t.trial_id AND v.objective = 0
        WHERE s.study_name = 'large' AND {where}
        ORDER BY {value_key()} {order}, t.number LIMIT {limit}
    """
    with client._storage.engine.connect() as conn:
        return list(conn.execute(text(sql)).scalars())


def test_stock_optuna_reads_the_large_study(
    large: tuple[StudyClient, GeneratedStudy, str],
) -> None:
    client, study, url = large
    loaded = optuna.load_study(study_name="large", storage=url)
    assert loaded.user_attrs["hpo.n_trials"] == N_TRIALS
    best = client.best_trial("large")
    assert best is not None
    assert (best.number, best.value, best.params) == (
        loaded.best_trial.number,
        loaded.best_value,
        loaded.best_params,
    )


def test_pages_match_plain_sql(
    large: tuple[StudyClient, GeneratedStudy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, study, _ = large
    merged: list[int] = []
    bucket_sql = plans._bucket_sql

    def spy(n_buckets: int, *args: Any) -> str:
        merged.append(n_buckets)
        return bucket_sql(n_buckets, *args)

    monkeypatch.setattr(plans, "_bucket_sql", spy)
    page = client.trials("large", sort="value", limit=100)
    assert [t.number for t in page.items] == _oracle(client, "true", "ASC NULLS LAST", 100)
    page = client.trials("large", sort="-value", limit=100, offset=200)
    assert [t.number for t in page.items] == _oracle(client, "true", "DESC NULLS LAST", 300)[200:]
    filtered = client.trials(
        "large",
        state="complete",
        param_filter={"max_depth": (3, 6), "booster": ["gbtree", "dart"]},
        sort="best",
        limit=100,
        with_total=True,
    )
    where = """t.state = 'COMPLETE'
        AND EXISTS (SELECT 1 FROM trial_params p WHERE p.trial_id = t.trial_id
                    AND p.param_name = 'max_depth' AND p.param_value BETWEEN 3 AND 6)
        AND EXISTS (SELECT 1 FROM trial_params p WHERE p.trial_id = t.trial_id
                    AND p.param_name = 'booster' AND p.param_value IN (0, 1))"""
    expected = _oracle(client, where, "ASC NULLS LAST", 100_000)
    assert [t.number for t in filtered.items] == expected[:100]
    assert filtered.total == len(expected)
    assert merged == [4, 4, 4]  # the bucket merge answered every page: 100,000 ids, 4 buckets


def test_number_pages_and_counts(large: tuple[StudyClient, GeneratedStudy, str]) -> None:
    client, study, _ = large
    page = client.trials("large", sort="-number", limit=100, offset=99_900, with_total=True)
    assert [t.number for t in page.items] == list(range(99, -1, -1))
    assert page.total == N_TRIALS and not page.has_more
    failed = client.trials("large", state="fail", limit=10_000, with_total=True)
    assert failed.total == len(failed.items) == study.states["FAIL"]
    assert {t.fail_reason for t in failed.items} == {"ValueError: synthetic failure"}
    detail = client.summary("large")
    assert detail.counts.model_dump() == {k.lower(): v for k, v in study.states.items()}
    assert detail.devices == {"cpu": 69_998, "cuda": 30_000}  # 30 % on cuda; WAITING have none
