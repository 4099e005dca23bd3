"""The two plans of ``hpo.query.trials`` (bucket merge, study-wide) give the same pages, and
the bucket merge is picked when it pays.

The plans depend on how the store lays trial ids out, so most tests run in a database of their
own (created and dropped here), laid out on purpose: ``spread`` spans four id buckets, shares
two of them with ``other`` (trials interleaved in chunks), and ``lowest`` holds the store's
lowest values. A last test runs on the shared test store, whatever it holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from hpo.query import StudyClient
from hpo.query import trials as plans
from hpo.query.filters import ParamCondition, TrialQuery
from hpo.query.meta import StudyMeta, study_meta
from hpo.query.records import TRIAL_ID_BUCKET
from hpo.query.testing import GeneratedStudy, generate_study
from hpo.storage.query_indexes import INDEXES, ensure_query_indexes
from hpo.store import get_storage
from tests.hpo.query.conftest import isolated_store

PLANS: dict[str, dict[str, float]] = {
    "buckets": {"BUCKET_MIN_TRIALS": 0, "PROBE_COST": 0.0},  # whenever the study has buckets
    "study-wide": {"BUCKET_MIN_TRIALS": 10**9},
}

QUERIES: list[dict[str, Any]] = [
    {"sort": "best", "limit": 1},
    {"sort": "value", "limit": 100},
    {"sort": "-value", "limit": 7, "offset": 40},
    {"sort": "value", "limit": 30, "state": "complete", "param_filter": {"max_depth": (3, 6)}},
    {"sort": "-value", "limit": 30, "param_filter": {"booster": ["gblinear"]}},
    {"sort": "value", "limit": 25, "value_range": (1.0, 2.0), "state": ["pruned"]},
    {"sort": "best", "limit": 500, "offset": 1_900},  # runs into the valueless trials
    {"sort": "value", "limit": 10, "param_filter": {"lr": (0.1, 1.0), "max_depth": (10, 12)}},
]


@pytest.fixture(scope="module")
def isolated(pg_url: str) -> Iterator[tuple[StudyClient, dict[str, GeneratedStudy]]]:
    with isolated_store(pg_url, "hpo_plans") as settings:
        storage = get_storage(settings)

        def next_bucket() -> None:  # leave the rest of the current id bucket empty
            with storage.engine.begin() as conn:
                last = conn.execute(text("SELECT last_value FROM trials_trial_id_seq")).scalar_one()
                start = (last // TRIAL_ID_BUCKET + 1) * TRIAL_ID_BUCKET
                conn.execute(text("SELECT setval('trials_trial_id_seq', :n)"), {"n": start})

        studies = {"spread": generate_study(storage, "spread", 500, seed=1)}
        next_bucket()
        generate_study(storage, "spread", 500, seed=2, append=True)
        studies["other"] = generate_study(storage, "other", 300, seed=3)
        for seed in range(4, 8):  # interleaved with `other` in chunks
            generate_study(storage, "spread", 100, seed=seed, append=True)
            generate_study(storage, "other", 100, seed=seed + 10, append=True)
        next_bucket()
        generate_study(storage, "spread", 600, seed=20, append=True)
        next_bucket()
        generate_study(storage, "spread", 2, seed=21, n_running=0, append=True)  # a sliver
        studies["lowest"] = generate_study(storage, "lowest", 1_000, seed=30, value_offset=-100)
        yield StudyClient(settings), studies


def pages_by_plan(
    client: StudyClient, study: str, query: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], dict[str, bool]]:
    """The page under each plan, and whether the bucket merge ran for it."""
    pages: dict[str, Any] = {}
    merged: dict[str, bool] = {}
    bucket_sql = plans._bucket_sql
    for plan, settings in PLANS.items():
        ran: list[bool] = []

        def spy(*args: Any, ran: list[bool] = ran, **kwargs: Any) -> str:
            ran.append(True)
            return bucket_sql(*args, **kwargs)

        with monkeypatch.context() as patch:
            for setting, value in settings.items():
                patch.setattr(plans, setting, value)
            patch.setattr(plans, "_bucket_sql", spy)
            pages[plan] = client.trials(study, **query)
        merged[plan] = bool(ran)
    return pages, merged


def test_the_layout(isolated: tuple[StudyClient, dict[str, GeneratedStudy]]) -> None:
    client, _ = isolated
    with client._read() as conn:
        spread = study_meta(conn, "spread", max_buckets=64)
        lowest = study_meta(conn, "lowest", max_buckets=64)
    assert spread.n_trials == 2_002 and spread.buckets is not None and len(spread.buckets) == 4
    assert spread.id_share < 0.5  # the emptied buckets and `other` in between
    assert lowest.buckets is not None and len(lowest.buckets) == 1 and lowest.id_share == 1.0


@pytest.mark.parametrize("study", ["spread", "lowest"])
@pytest.mark.parametrize("query", QUERIES)
def test_plans_agree(
    isolated: tuple[StudyClient, dict[str, GeneratedStudy]],
    monkeypatch: pytest.MonkeyPatch,
    study: str,
    query: dict[str, Any],
) -> None:
    client, _ = isolated
    pages, merged = pages_by_plan(client, study, query, monkeypatch)
    assert merged == {"buckets": True, "study-wide": False}
    assert pages["buckets"] == pages["study-wide"]
    if study == "spread":
        assert pages["buckets"].items  # every query finds some of its trials


def test_a_new_store_gets_the_indexes_and_a_dropped_one_back(
    isolated: tuple[StudyClient, dict[str, GeneratedStudy]],
) -> None:
    engine = isolated[0]._storage.engine

    def existing() -> set[str]:
        with engine.connect() as conn:
            sql = "SELECT n FROM unnest(CAST(:n AS text[])) AS n WHERE to_regclass(n) IS NOT NULL"
            return set(conn.execute(text(sql), {"n": list(INDEXES)}).scalars())

    assert existing() == set(INDEXES)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_hpo_trial_values_bucket"))
    assert ensure_query_indexes(engine) == ["ix_hpo_trial_values_bucket"]
    assert existing() == set(INDEXES)


def _meta(n_trials: int, buckets: int, first_id: int = 1, last_id: int | None = None) -> StudyMeta:
    return StudyMeta(
        study_id=1,
        study_name="s",
        directions=("MINIMIZE",),
        n_trials=n_trials,
        distributions={},
        first_id=first_id,
        last_id=last_id if last_id is not None else first_id + n_trials - 1,
        buckets=tuple(range(buckets)),
    )


def test_the_plan_choice() -> None:
    page = TrialQuery(sort="value", limit=100)
    assert plans.choose_buckets(_meta(100_000, 4), page, ())
    assert plans.choose_buckets(_meta(100_000, 4), TrialQuery(sort="best", limit=1), ())
    assert not plans.choose_buckets(_meta(100_000, 4), TrialQuery(sort="number"), ())
    assert not plans.choose_buckets(_meta(1_000, 1), page, ())  # small: sorting it is cheap
    assert not plans.choose_buckets(_meta(100_000, 65), page, ())  # spread too wide
    # One trial in a hundred of its id range: the merge would meet ~100 rows per page row.
    assert not plans.choose_buckets(_meta(10_000, 31, last_id=1_000_000), page, ())
    deep = TrialQuery(sort="value", limit=100, offset=50_000)
    assert not plans.choose_buckets(_meta(100_000, 4), deep, ())
    narrow = (ParamCondition(name="x", low=0.0, high=0.001),)
    meta = _meta(100_000, 4)
    meta.distributions["x"] = plans.FloatDistribution(0.0, 1.0)
    assert not plans.choose_buckets(meta, page, narrow)  # keeps ~0.1 %: sort the study


def test_default_plans_agree_on_the_shared_store(
    client: StudyClient, generated: GeneratedStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a store holding whatever other tests and runs left, the plans still agree."""
    for query in QUERIES:
        pages, _ = pages_by_plan(client, generated.study_name, query, monkeypatch)
        assert pages["buckets"] == pages["study-wide"], query
