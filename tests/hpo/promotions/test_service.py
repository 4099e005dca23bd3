"""The promotion gate and registry on a real PostgreSQL (several objectives: real XGBoost
studies, the front point the rule picks, checked against stock Optuna's front)."""

from __future__ import annotations

import threading
import uuid

import optuna
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hpo.errors import ConfigError, StoreStateError
from hpo.promotions import registry
from hpo.promotions.service import promote_best
from hpo.query import StudyClient
from hpo.search_spaces.loader import load_spec, parse_spec
from hpo.search_spaces.schema import PromotionRuleSpec, SearchSpaceSpec
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


# --- Several objectives: a point of the feasible front, picked by the declared rule ----------


def _mo_spec(n_estimators: tuple[int, int], max_depth: tuple[int, int]) -> SearchSpaceSpec:
    """XGBoost on breast_cancer: roc_auc (max) against model size (min), models <= 30 KiB."""
    return parse_spec(
        {
            "name": "mo-promo",
            "objective": "xgboost",
            "dataset": "breast_cancer",
            "metric": "roc_auc",
            "cv_folds": 3,
            "objectives": [
                {"metric": "roc_auc", "direction": "maximize"},
                {"metric": "model_size_kb", "direction": "minimize"},
            ],
            "constraints": [{"metric": "model_size_kb", "op": "<=", "value": 30}],
            "promotion": {"rule": "constrained_best", "primary": "roc_auc"},
            "params": {
                "n_estimators": {"type": "int", "low": n_estimators[0], "high": n_estimators[1]},
                "max_depth": {"type": "int", "low": max_depth[0], "high": max_depth[1]},
            },
        }
    )


def _tuned_front(prefix: str, spec: SearchSpaceSpec) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(study_name=name, spec=spec, sampler="random", n_trials=10, seed=0)
    open_study(plan, get_storage())
    run_worker(plan, WorkerIdentity(name="t"))
    return name


@pytest.fixture(scope="module")
def fronts(pg_url: str) -> tuple[str, str]:
    """A study of larger models (the best roc_auc is beyond the size bound) and one of 2-3
    stumps (worse roc_auc, many identical points), 10 trials each."""
    return (
        _tuned_front("mo-good", _mo_spec((5, 40), (1, 4))),
        _tuned_front("mo-stumps", _mo_spec((2, 3), (1, 1))),
    )


def _stock_front(name: str) -> list[optuna.trial.FrozenTrial]:
    """The feasible front as stock Optuna computes it (`best_trials` honours constraints)."""
    return optuna.load_study(study_name=name, storage=get_storage()).best_trials


def test_a_front_point_is_promoted_by_the_rule_and_a_worse_one_rejected(
    fronts: tuple[str, str],
) -> None:
    good, stumps = fronts
    storage = get_storage()
    pipeline = _pipeline()
    front = _stock_front(good)
    every = optuna.load_study(study_name=good, storage=storage).trials
    assert any(t.values[1] > 30 for t in every)  # the bound cut some trials off the front
    # constrained_best on roc_auc: the highest roc_auc; ties by the smaller model, then number.
    expected = max(front, key=lambda t: (t.values[0], -t.values[1], -t.number))
    assert all(t.values[1] <= 30 for t in front)

    first = promote_best(good, pipeline, "staging", storage=storage, reeval_seeds=2)
    assert first.decision == "promoted" and first.trial_number == expected.number
    assert first.params == expected.params and first.value == expected.values[0]
    selection = first.selection
    assert selection is not None
    assert selection["rule"] == {"rule": "constrained_best", "primary": "roc_auc"}
    assert selection["front"] == sorted(t.number for t in front)
    assert selection["study_values"] == {
        "roc_auc": expected.values[0],
        "model_size_kb": expected.values[1],
    }
    candidate = selection["candidate"]
    assert set(candidate) == {"roc_auc", "model_size_kb"} and selection["champion"] is None
    assert first.reeval_value == candidate["roc_auc"]
    assert candidate["model_size_kb"] == pytest.approx(expected.values[1], rel=0.05)
    assert selection["candidate_constraints"]["model_size_kb <= 30"] <= 0
    assert len(first.reeval_detail["points"]) == 2  # type: ignore[index]
    assert first.metric == "roc_auc" and first.direction == "maximize"
    assert registry.get(storage.engine, first.id) == first  # stored as returned

    # The stumps' study: its rule picks among identical points (the lowest trial number)...
    stump_front = _stock_front(stumps)
    best_stump = max(stump_front, key=lambda t: (t.values[0], -t.values[1], -t.number))
    worse = promote_best(stumps, pipeline, "staging", storage=storage, reeval_seeds=2)
    assert worse.trial_number == best_stump.number
    assert worse.selection is not None
    assert set(worse.selection["tied"]) == {
        t.number for t in stump_front if t.values == best_stump.values and t is not best_stump
    }
    # ... and the champion, re-evaluated on the same seeds, beats it on roc_auc.
    assert worse.decision == "rejected"
    assert worse.selection["champion"] == pytest.approx(candidate)
    assert worse.champion_reeval_value == pytest.approx(first.reeval_value)
    assert "does not beat the champion's" in worse.reason
    assert "worse on roc_auc" in worse.reason and "model_size_kb" in worse.reason
    assert "worse on model_size_kb" not in worse.reason  # the stumps are smaller
    assert [c.study_name for c in registry.champions(storage.engine, pipeline)] == [good]


def test_a_rule_given_overrides_the_spec_and_unknown_metrics_are_refused(
    fronts: tuple[str, str],
) -> None:
    good, _ = fronts
    storage = get_storage()
    rule = PromotionRuleSpec(rule="weighted", weights={"roc_auc": 1.0, "model_size_kb": -0.001})
    front = _stock_front(good)
    expected = max(front, key=lambda t: (t.values[0] - 0.001 * t.values[1], -t.number))
    chosen = promote_best(good, _pipeline(), "staging", storage=storage, reeval_seeds=1, rule=rule)
    assert chosen.decision == "promoted" and chosen.trial_number == expected.number
    assert chosen.value == pytest.approx(expected.values[0] - 0.001 * expected.values[1])
    assert chosen.selection is not None and chosen.selection["rule"]["rule"] == "weighted"
    assert chosen.metric == "weighted score" and chosen.direction == "maximize"

    unknown = PromotionRuleSpec(rule="weighted", weights={"latency_ms": -1.0})
    with pytest.raises(ConfigError, match="names 'latency_ms', which is not an objective"):
        promote_best(good, _pipeline(), "staging", storage=storage, rule=unknown)


def test_an_infeasible_front_or_a_rule_on_one_objective_is_refused(pg_url: str) -> None:
    storage = get_storage()
    zdt1 = parse_spec(
        {
            **load_spec("zdt1").model_dump(mode="json", exclude_none=True),
            "constraints": [{"metric": "f1", "op": "<=", "value": -1}],  # f1 >= 0: never met
            "promotion": {"rule": "weighted", "weights": {"f1": -1, "f2": -1}},
        }
    )
    name = _tuned_front("zdt1-infeasible", zdt1)
    with pytest.raises(StoreStateError, match="feasible Pareto front is empty"):
        promote_best(name, _pipeline(), "staging", storage=storage)
    one = _tuned_study(f"one-{uuid.uuid4().hex[:6]}", 1.0, 3.0, n_trials=2)
    rule = PromotionRuleSpec(rule="constrained_best", primary="x")
    with pytest.raises(ConfigError, match="has one objective: its best trial is promoted"):
        promote_best(one, _pipeline(), "staging", storage=storage, rule=rule)


def test_a_registry_made_before_the_selection_column_keeps_its_rows(pg_url: str) -> None:
    """The table as it was before `selection`, in a schema of its own: create_tables adds the
    column and the stored row reads back unchanged, with no selection."""
    schema = f"old_{uuid.uuid4().hex[:8]}"
    base = get_storage().engine
    with base.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = sa.create_engine(
        base.url, connect_args={"options": f"-csearch_path={schema}"}, poolclass=sa.pool.NullPool
    )
    row = promote_row("p", "s")
    try:
        registry.metadata.create_all(engine)  # today's table, then as it was: no `selection`
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE hpo_promotions DROP COLUMN selection"))
            conn.execute(sa.insert(registry.promotions).values(**row))
        registry.create_tables(engine)
        registry.create_tables(engine)  # twice: nothing left to add
        (kept,) = registry.history(engine)
        assert kept.selection is None and kept.study_name == row["study_name"]
        assert kept.params == row["params"] and kept.reason == row["reason"]
    finally:
        engine.dispose()
        with base.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


def promote_row(pipeline: str, stage: str) -> dict[str, object]:
    return {
        "pipeline": pipeline, "stage": stage, "decision": "rejected", "reason": "an old row",
        "study_name": "old-study", "trial_number": 3, "params": {"x": 1.5}, "value": 0.2,
        "direction": "minimize", "margin": 0.0, "objective": "quadratic",
        "promoted_by": "hpo", "idempotency_key": "k",
    }  # fmt: skip
