"""The promotion gate, end to end: take a study's best trial, re-evaluate it (and the current
champion, on the same seeds and data), decide, and record the decision in the registry.

Plain functions: the ``hpo-promote`` flow wraps :func:`promote_best` and emits the event.
"""

from __future__ import annotations

import hashlib
import statistics
from typing import Any

import optuna
from sqlalchemy.exc import IntegrityError

from hpo.errors import ConfigError, StoreStateError
from hpo.objectives_spec import refuse_several_objectives
from hpo.promotions import registry
from hpo.promotions.gate import decide
from hpo.promotions.lineage import code_version, dataset_fingerprint
from hpo.search_spaces.schema import SearchSpaceSpec
from hpo.settings import HpoSettings, get_settings
from hpo.study_setup import effective_direction, study_id_of
from hpo.workers.reevaluate import reevaluate


def idempotency_key(pipeline: str, stage: str, study_name: str, trial_number: int) -> str:
    raw = f"{pipeline}\x00{stage}\x00{study_name}\x00{trial_number}"
    return hashlib.sha256(raw.encode()).hexdigest()


def study_spec(storage: optuna.storages.RDBStorage, study_name: str) -> SearchSpaceSpec:
    """The spec a study was made from (kept in its ``hpo.spec`` user attribute)."""
    attrs = storage.get_study_user_attrs(study_id_of(storage, study_name))
    raw = attrs.get("hpo.spec")
    if raw is None:
        raise StoreStateError(
            f"study {study_name!r} was not made by this service (no `hpo.spec` attribute)",
            fix="promote a study created with `hpo tune`",
        )
    return SearchSpaceSpec.model_validate(raw)


def promote_best(
    study_name: str,
    pipeline: str,
    stage: str,
    *,
    storage: optuna.storages.RDBStorage,
    margin: float = 0.0,
    reeval_seeds: int = 3,
    promoted_by: str = "hpo",
    settings: HpoSettings | None = None,
) -> registry.Promotion:
    """Run the gate for the best trial of ``study_name``; returns the decision row."""
    if reeval_seeds < 1:
        raise ConfigError(f"`reeval_seeds >= 1` must hold, but got {reeval_seeds}")
    if margin < 0:
        raise ConfigError(f"`margin >= 0` must hold, but got {margin}")
    settings = settings or get_settings()
    registry.create_tables(storage.engine)
    study_id = study_id_of(storage, study_name)
    n_objectives = len(storage.get_study_directions(study_id))
    refuse_several_objectives(f"study {study_name!r}", n_objectives)
    try:
        best = storage.get_best_trial(study_id)
    except ValueError:
        raise StoreStateError(
            f"study {study_name!r} has no completed trial to promote",
            fix="tune it first: hpo tune SPEC --study " + study_name,
        ) from None
    spec = study_spec(storage, study_name)
    attrs = storage.get_study_user_attrs(study_id)
    direction = effective_direction(spec)
    key = idempotency_key(pipeline, stage, study_name, best.number)
    seeds = [spec.seed + 1000 + i for i in range(reeval_seeds)]

    with storage.engine.connect() as conn:
        current = registry.champion(conn, pipeline, stage)
    same = current is not None and current.idempotency_key == key
    candidate_scores: list[float] = []
    champion_scores: list[float] = []
    if not same:
        candidate_scores = reevaluate(spec, best.params, seeds, settings)
        if current is not None:
            champion_spec = spec
            if current.objective != spec.objective or current.dataset != spec.dataset:
                raise StoreStateError(
                    f"pipeline {pipeline!r} stage {stage!r} holds a champion for objective "
                    f"{current.objective!r} on {current.dataset!r}, not {spec.objective!r} on "
                    f"{spec.dataset!r}: their scores cannot be compared",
                    fix="promote into another pipeline or stage",
                )
            champion_scores = reevaluate(champion_spec, current.params, seeds, settings)
    candidate = statistics.fmean(candidate_scores) if candidate_scores else None
    champion_score = statistics.fmean(champion_scores) if champion_scores else None
    verdict = decide(
        candidate if candidate is not None else float("nan"),
        champion_score,
        direction=direction,
        margin=margin,
        same_config=same,
    )
    values: dict[str, Any] = {
        "pipeline": pipeline,
        "stage": stage,
        "decision": verdict.decision,
        "reason": verdict.reason,
        "study_name": study_name,
        "trial_number": best.number,
        "params": dict(best.params),
        "value": best.value,
        "reeval_value": candidate,
        "reeval_detail": {"seeds": seeds, "scores": candidate_scores, "champion": champion_scores},
        "champion_reeval_value": champion_score,
        "metric": spec.metric,
        "direction": direction,
        "margin": margin,
        "objective": spec.objective,
        "dataset": spec.dataset,
        "sampler": attrs.get("hpo.sampler"),
        "seed": spec.seed,
        "spec_hash": attrs.get("hpo.spec_hash"),
        "dataset_fingerprint": dataset_fingerprint(spec.dataset),
        "code_version": code_version(),
        "promoted_by": promoted_by,
        "idempotency_key": key,
    }
    try:
        with storage.engine.begin() as conn:
            registry.lock_pipeline_stage(conn, pipeline, stage)
            latest = registry.champion(conn, pipeline, stage)
            if (latest.id if latest else None) == (current.id if current else None):
                return registry.insert(conn, values)
    except IntegrityError:
        # The same promotion committed concurrently: record that it is already done.
        with storage.engine.begin() as conn:
            values.update(decision="unchanged", reason="the same promotion was just recorded")
            return registry.insert(conn, values)
    # Another gate run changed the champion while we re-evaluated: decide again against it
    # (outside the transaction above, so no connection is held while re-evaluating).
    return promote_best(
        study_name, pipeline, stage, storage=storage, margin=margin,
        reeval_seeds=reeval_seeds, promoted_by=promoted_by, settings=settings,
    )  # fmt: skip
