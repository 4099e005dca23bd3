"""The promotion gate and registry on a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hpo.errors import StoreStateError
from hpo.promotions import registry
from hpo.promotions.service import promote_best
from hpo.query import StudyClient
from hpo.search_spaces.loader import parse_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker


def _tuned_study(study_name: str, low: float, high: float, n_trials: int = 6) -> str:
    """A study of `quadratic` (min 0 at x = 2) whose x is confined to [low, high]."""
    spec = parse_spec(
        {
            "name": "promo",
            "objective": "tests.objectives_fixture:quadratic",
            "params": {"x": {"type": "float", "low": low, "high": high}},
        }
    )
    plan = StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=n_trials, seed=0)
    open_study(plan, get_storage())
    run_worker(plan, WorkerIdentity(name="t"))
    return study_name


def _pipeline() -> str:
    return f"pipe-{uuid.uuid4().hex[:8]}"


def test_promote_then_idempotent_then_better_then_worse(pg_url: str) -> None:
    storage = get_storage()
    pipeline = _pipeline()
    far = _tuned_study(f"far-{uuid.uuid4().hex[:6]}", 4.0, 5.0)  # best value >= 4
    near = _tuned_study(f"near-{uuid.uuid4().hex[:6]}", 1.5, 2.5)  # best value <= 0.25
    worse = _tuned_study(f"worse-{uuid.uuid4().hex[:6]}", -3.0, -2.0)  # best value >= 16

    first = promote_best(far, pipeline, "staging", storage=storage, reeval_seeds=2)
    assert first.decision == "promoted" and first.is_champion
    assert first.reeval_detail is not None and len(first.reeval_detail["scores"]) == 2
    assert first.code_version and first.code_version.startswith("prefect-hpo")

    again = promote_best(far, pipeline, "staging", storage=storage)
    assert again.decision == "unchanged" and not again.is_champion

    better = promote_best(near, pipeline, "staging", storage=storage, margin=0.5)
    assert better.decision == "promoted"
    assert better.champion_reeval_value == pytest.approx(first.reeval_value)

    rejected = promote_best(worse, pipeline, "staging", storage=storage)
    assert rejected.decision == "rejected"
    assert "does not beat the champion" in rejected.reason

    champions = registry.champions(storage.engine, pipeline)
    assert [(c.study_name, c.stage) for c in champions] == [(near, "staging")]
    history = registry.history(storage.engine, pipeline)
    assert [h.decision for h in history] == ["rejected", "promoted", "unchanged", "promoted"]

    # The same, through the query API.
    client = StudyClient()
    assert client.champions(pipeline) == champions
    assert client.promotion_history(pipeline) == history
    assert [h.decision for h in client.promotion_history(pipeline, "staging", limit=1)] == [
        "rejected"
    ]


def test_the_database_allows_one_champion_per_stage(pg_url: str) -> None:
    storage = get_storage()
    pipeline = _pipeline()
    study = _tuned_study(f"one-{uuid.uuid4().hex[:6]}", 1.0, 3.0, n_trials=2)
    row = promote_best(study, pipeline, "prod", storage=storage)
    forged = row.model_dump(exclude={"id", "created_at"})
    forged["idempotency_key"] = "another-key"
    with pytest.raises(IntegrityError, match="hpo_promotions_one_champion"):
        with storage.engine.begin() as conn:
            conn.execute(sa.insert(registry.promotions).values(**forged))


def test_concurrent_gate_runs_promote_once(pg_url: str) -> None:
    storage = get_storage()
    pipeline = _pipeline()
    study = _tuned_study(f"race-{uuid.uuid4().hex[:6]}", 1.0, 3.0, n_trials=3)
    results: list[str] = []

    def gate() -> None:
        results.append(promote_best(study, pipeline, "staging", storage=storage).decision)

    threads = [threading.Thread(target=gate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["promoted", "unchanged", "unchanged", "unchanged"]
    assert len(registry.champions(storage.engine, pipeline)) == 1


def test_a_study_without_a_completed_trial_cannot_be_promoted(pg_url: str, study_name: str) -> None:
    spec = parse_spec(
        {
            "name": "empty",
            "objective": "tests.objectives_fixture:quadratic",
            "params": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        }
    )
    open_study(StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=1, seed=0),
               get_storage())  # fmt: skip
    with pytest.raises(StoreStateError, match="no completed trial to promote"):
        promote_best(study_name, _pipeline(), "staging", storage=get_storage())
