"""The promotion gate, end to end: take a study's best trial, re-evaluate it (and the current
champion, on the same seeds and data), decide, and record the decision in the registry.

A study of several objectives has no best trial: the promotion rule (the spec's ``promotion:``
or ``rule=``, :mod:`hpo.promotions.rules`) picks a point of its feasible Pareto front, both are
re-evaluated on every objective and constraint, and :func:`~hpo.promotions.gate.decide_front`
decides by the rule's score.

Plain functions: the ``hpo-promote`` flow wraps :func:`promote_best` and emits the event.
"""

from __future__ import annotations

import hashlib
import statistics
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError

from hpo.errors import ConfigError, StoreStateError
from hpo.objectives_spec import is_finite, objective_names, study_directions, trial_values
from hpo.pareto import pareto_front
from hpo.promotions import registry
from hpo.promotions.gate import GateDecision, decide, decide_front
from hpo.promotions.lineage import code_version, dataset_fingerprint
from hpo.promotions.rules import Choice, FrontPoint, choose, resolve_rule, score, score_direction
from hpo.search_spaces.schema import PromotionRuleSpec, SearchSpaceSpec
from hpo.settings import HpoSettings, get_settings
from hpo.study_setup import effective_direction, study_id_of
from hpo.workers.reevaluate import evaluations, reevaluate


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


def promotion_rule(
    storage: optuna.storages.RDBStorage, study_name: str, given: PromotionRuleSpec | None
) -> PromotionRuleSpec | None:
    """The rule that picks the point to promote: None for a study of one objective (its best
    trial; a rule ``given`` for it is an error), else ``given`` or the spec's ``promotion``
    (ConfigError naming the field when neither, or when it names no objective)."""
    study_id = study_id_of(storage, study_name)
    what = f"study {study_name!r}"
    if len(storage.get_study_directions(study_id)) == 1:
        if given is not None:
            raise ConfigError(
                f"{what} has one objective: its best trial is promoted, no rule chooses it",
                where="--rule",
                fix="drop --rule (and --primary/--weight)",
            )
        return None
    spec = study_spec(storage, study_name)
    if not spec.multi_objective:
        raise StoreStateError(
            f"{what} has several objectives, but its spec declares one",
            fix="promote a study created with `hpo tune` from a spec listing `objectives`",
        )
    return resolve_rule(spec, given, what=what)


class _Point(BaseModel):
    """One configuration re-evaluated on every seed: mean values per objective, mean metrics,
    the constraints on those means, and the rule's score per seed."""

    model_config = ConfigDict(frozen=True)

    values: dict[str, float]
    metrics: dict[str, float]
    constraints: dict[str, float]
    scores: list[float]
    per_seed: list[dict[str, float]]


def _reevaluate_point(
    spec: SearchSpaceSpec,
    rule: PromotionRuleSpec,
    params: dict[str, Any],
    seeds: list[int],
    settings: HpoSettings,
) -> _Point:
    names = objective_names(spec)
    runs = []
    for run in evaluations(spec, params, seeds, settings):
        result = trial_values(run.result, run.metrics, spec)  # ConfigError: does not fit the spec
        if not is_finite(result.values):
            raise ConfigError(
                f"re-evaluating params {params} with seed {run.seed} gave {result.values}",
                fix="a configuration must score finite numbers to be promoted",
            )
        runs.append(result)
    metrics = {
        m: statistics.fmean(r.metrics[m] for r in runs)
        for m in runs[0].metrics
        if all(m in r.metrics for r in runs)
    }
    values = {n: statistics.fmean(r.values[i] for r in runs) for i, n in enumerate(names)}
    per_seed = [dict(zip(names, r.values, strict=True)) for r in runs]
    return _Point(
        values=values,
        metrics=metrics,
        constraints={str(c): c.violation(metrics[c.metric]) for c in spec.constraints},
        scores=[score(rule, v) for v in per_seed],
        per_seed=per_seed,
    )


def _choose_on_front(
    storage: optuna.storages.RDBStorage,
    study_id: int,
    spec: SearchSpaceSpec,
    rule: PromotionRuleSpec,
) -> tuple[FrozenTrial, Choice, list[int]]:
    """The trial the rule picks from the study's feasible front, the choice, the front."""
    names = objective_names(spec)
    trials = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
    front = pareto_front(trials, study_directions(spec))
    points = [
        FrontPoint(trial_number=t.number, values=dict(zip(names, t.values, strict=True)))
        for t in front
    ]
    choice = choose(rule, points, spec.objectives or ())
    trial = next(t for t in front if t.number == choice.point.trial_number)
    return trial, choice, [t.number for t in front]


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
    rule: PromotionRuleSpec | None = None,
) -> registry.Promotion:
    """Run the gate for the best trial of ``study_name`` (several objectives: the point of its
    feasible front ``rule``, or the spec's ``promotion``, picks); returns the decision row."""
    if reeval_seeds < 1:
        raise ConfigError(f"`reeval_seeds >= 1` must hold, but got {reeval_seeds}")
    if margin < 0:
        raise ConfigError(f"`margin >= 0` must hold, but got {margin}")
    settings = settings or get_settings()
    registry.create_tables(storage.engine)
    study_id = study_id_of(storage, study_name)
    chosen_rule = promotion_rule(storage, study_name, rule)
    if chosen_rule is not None:
        return _promote_front(
            study_name, pipeline, stage, storage=storage, rule=chosen_rule, margin=margin,
            reeval_seeds=reeval_seeds, promoted_by=promoted_by, settings=settings,
        )  # fmt: skip
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
            _check_comparable(current, spec, pipeline, stage)
            champion_scores = reevaluate(spec, current.params, seeds, settings)
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
        **_lineage(spec, attrs, pipeline, stage, study_name, best, promoted_by, key),
        "decision": verdict.decision,
        "reason": verdict.reason,
        "value": best.value,
        "reeval_value": candidate,
        "reeval_detail": {"seeds": seeds, "scores": candidate_scores, "champion": champion_scores},
        "champion_reeval_value": champion_score,
        "metric": spec.metric,
        "direction": direction,
        "margin": margin,
    }
    recorded = _record(storage, pipeline, stage, current, values)
    if recorded is not None:
        return recorded
    # Another gate run changed the champion while we re-evaluated: decide again against it
    # (outside the transaction above, so no connection is held while re-evaluating).
    return promote_best(
        study_name, pipeline, stage, storage=storage, margin=margin,
        reeval_seeds=reeval_seeds, promoted_by=promoted_by, settings=settings,
    )  # fmt: skip


def _promote_front(
    study_name: str,
    pipeline: str,
    stage: str,
    *,
    storage: optuna.storages.RDBStorage,
    rule: PromotionRuleSpec,
    margin: float,
    reeval_seeds: int,
    promoted_by: str,
    settings: HpoSettings,
) -> registry.Promotion:
    """The gate for a study of several objectives: the point ``rule`` picks from the feasible
    front, re-evaluated with the champion on every objective and constraint."""
    study_id = study_id_of(storage, study_name)
    spec = study_spec(storage, study_name)
    attrs = storage.get_study_user_attrs(study_id)
    chosen, choice, front = _choose_on_front(storage, study_id, spec, rule)
    directions = {o.metric: o.direction for o in spec.objectives or ()}
    key = idempotency_key(pipeline, stage, study_name, chosen.number)
    seeds = [spec.seed + 1000 + i for i in range(reeval_seeds)]

    with storage.engine.connect() as conn:
        current = registry.champion(conn, pipeline, stage)
    same = current is not None and current.idempotency_key == key
    candidate: _Point | None = None
    champion: _Point | None = None
    if not same:
        candidate = _reevaluate_point(spec, rule, dict(chosen.params), seeds, settings)
        if current is not None:
            _check_comparable(current, spec, pipeline, stage)
            champion = _reevaluate_point(spec, rule, dict(current.params), seeds, settings)
    verdict = (
        decide_front(
            candidate.values,
            champion.values if champion else None,
            rule=rule,
            directions=directions,
            violations=candidate.constraints,
            margin=margin,
        )  # fmt: skip
        if candidate is not None
        else GateDecision("unchanged", "the candidate already is the champion")
    )
    selection = {
        "rule": rule.model_dump(mode="json", exclude_none=True),
        "rule_text": str(rule),
        "objectives": [o.model_dump(mode="json") for o in spec.objectives or ()],
        "constraints": [str(c) for c in spec.constraints],
        "front": front,
        "tied": list(choice.tied),
        "study_values": choice.point.values,
        "candidate": candidate.values if candidate else None,
        "candidate_constraints": candidate.constraints if candidate else None,
        "champion": champion.values if champion else None,
        "champion_constraints": champion.constraints if champion else None,
    }
    values: dict[str, Any] = {
        **_lineage(spec, attrs, pipeline, stage, study_name, chosen, promoted_by, key),
        "decision": verdict.decision,
        "reason": verdict.reason,
        "value": choice.score,
        "reeval_value": score(rule, candidate.values) if candidate else None,
        "reeval_detail": {
            "seeds": seeds,
            "scores": candidate.scores if candidate else [],
            "champion": champion.scores if champion else [],
            "points": candidate.per_seed if candidate else [],
            "champion_points": champion.per_seed if champion else [],
            "metrics": candidate.metrics if candidate else {},
        },
        "champion_reeval_value": score(rule, champion.values) if champion else None,
        "metric": rule.primary if rule.rule == "constrained_best" else "weighted score",
        "direction": score_direction(rule, directions),
        "margin": margin,
        "selection": selection,
    }
    recorded = _record(storage, pipeline, stage, current, values)
    if recorded is not None:
        return recorded
    return _promote_front(
        study_name, pipeline, stage, storage=storage, rule=rule, margin=margin,
        reeval_seeds=reeval_seeds, promoted_by=promoted_by, settings=settings,
    )  # fmt: skip


def _check_comparable(
    current: registry.Promotion, spec: SearchSpaceSpec, pipeline: str, stage: str
) -> None:
    if current.objective != spec.objective or current.dataset != spec.dataset:
        raise StoreStateError(
            f"pipeline {pipeline!r} stage {stage!r} holds a champion for objective "
            f"{current.objective!r} on {current.dataset!r}, not {spec.objective!r} on "
            f"{spec.dataset!r}: their scores cannot be compared",
            fix="promote into another pipeline or stage",
        )


def _lineage(
    spec: SearchSpaceSpec,
    attrs: dict[str, Any],
    pipeline: str,
    stage: str,
    study_name: str,
    trial: FrozenTrial,
    promoted_by: str,
    key: str,
) -> dict[str, Any]:
    """The columns that say what was sent through the gate and where it came from."""
    return {
        "pipeline": pipeline,
        "stage": stage,
        "study_name": study_name,
        "trial_number": trial.number,
        "params": dict(trial.params),
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


def _record(
    storage: optuna.storages.RDBStorage,
    pipeline: str,
    stage: str,
    current: registry.Promotion | None,
    values: dict[str, Any],
) -> registry.Promotion | None:
    """Insert the decision if the champion is still ``current``; None when another gate run
    changed it meanwhile (the caller decides again)."""
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
    return None
