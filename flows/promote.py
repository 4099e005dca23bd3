"""The ``hpo-promote`` flow: run the promotion gate on a study's best trial and, when it wins,
announce it with the ``hpo.config.promoted`` event (which starts the ``train-best`` deployment).

The event's resource is ``hpo.pipeline.<pipeline>.<stage>``; its payload is the promoted
configuration (params, value, metric, study, trial, lineage; for a study of several objectives,
the rule and the values per objective in ``selection``): no secret is ever in it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from hpo.monitoring import artifact_key
from hpo.promotions.registry import Promotion
from hpo.promotions.service import promote_best
from hpo.search_spaces.schema import PromotionRuleSpec
from hpo.store import get_storage

PROMOTED_EVENT = "hpo.config.promoted"


def promoted_event(promotion: Promotion) -> tuple[dict[str, str], dict[str, Any]]:
    """The event's resource and payload for a promotion (plain data, no secrets)."""
    resource = {
        "prefect.resource.id": f"hpo.pipeline.{promotion.pipeline}.{promotion.stage}",
        "prefect.resource.name": f"{promotion.pipeline}/{promotion.stage}",
        "hpo.pipeline": promotion.pipeline,
        "hpo.stage": promotion.stage,
    }
    payload = {
        "promotion_id": promotion.id,
        "pipeline": promotion.pipeline,
        "stage": promotion.stage,
        "study_name": promotion.study_name,
        "trial_number": promotion.trial_number,
        "params": promotion.params,
        "value": promotion.value,
        "reeval_value": promotion.reeval_value,
        "metric": promotion.metric,
        "direction": promotion.direction,
        "objective": promotion.objective,
        "dataset": promotion.dataset,
        "spec_hash": promotion.spec_hash,
        "dataset_fingerprint": promotion.dataset_fingerprint,
        "code_version": promotion.code_version,
        "selection": promotion.selection,
    }
    return resource, payload


@task(name="promotion-gate", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def gate_task(
    study_name: str,
    pipeline: str,
    stage: str,
    margin: float,
    reeval_seeds: int,
    by: str,
    rule: dict[str, Any] | None = None,
) -> Promotion:
    """Re-evaluate the best trial (or the front point the rule picks) and the champion; record
    the decision."""
    return promote_best(
        study_name, pipeline, stage, storage=get_storage(), margin=margin,
        reeval_seeds=reeval_seeds, promoted_by=by,
        rule=PromotionRuleSpec.model_validate(rule) if rule is not None else None,
    )  # fmt: skip


@flow(name="hpo-promote", flow_run_name="promote-{study_name}-to-{pipeline}-{stage}")
def promote_flow(
    study_name: str,
    pipeline: str,
    stage: str = "staging",
    margin: float = 0.0,
    reeval_seeds: int = 3,
    rule: dict[str, Any] | None = None,
) -> Promotion:
    """Promote the best configuration of ``study_name`` to ``pipeline``/``stage`` if it beats
    the current champion by ``margin``. A study of several objectives: ``rule`` (a
    ``promotion:`` mapping; default the spec's) picks the point of its feasible front."""
    from prefect.runtime import flow_run

    by = f"prefect flow run {flow_run.id}" if flow_run.id else "hpo"
    promotion = gate_task(study_name, pipeline, stage, margin, reeval_seeds, by, rule)
    create_markdown_artifact(
        markdown=_decision_markdown(promotion),
        key=artifact_key("promotion", f"{pipeline}-{stage}"),
        description=f"Promotion decision for {pipeline}/{stage}",
    )
    if promotion.decision == "promoted":
        resource, payload = promoted_event(promotion)
        emit_event(event=PROMOTED_EVENT, resource=resource, payload=payload)
    return promotion


def _decision_markdown(p: Promotion) -> str:
    return "\n".join([*_header(p), *_selection_markdown(p.selection)])


def _header(p: Promotion) -> list[str]:
    return [
        f"# {p.decision.upper()}: `{p.pipeline}` / `{p.stage}`",
        "",
        f"* candidate: study `{p.study_name}`, trial {p.trial_number} "
        f"(value {p.value}, re-evaluated {p.reeval_value})",
        f"* champion re-evaluated: {p.champion_reeval_value}",
        f"* reason: {p.reason}",
        f"* metric: {p.metric} ({p.direction}), margin {p.margin}",
        f"* lineage: spec {p.spec_hash}, data {p.dataset_fingerprint}, {p.code_version}",
    ]


def _selection_markdown(selection: dict[str, Any] | None) -> list[str]:
    """Several objectives: the rule and a table of the chosen point's values per objective."""
    if not selection:
        return []

    def cell(values: dict[str, float] | None, metric: str) -> str:
        return f"{values[metric]:.6g}" if values and metric in values else ""

    lines = [
        "",
        f"## Rule: {selection['rule_text']}",
        "",
        f"Front of {len(selection['front'])} feasible trials; constraints: "
        + (", ".join(f"`{c}`" for c in selection["constraints"]) or "none")
        + (f"; tied on the score: trials {selection['tied']}" if selection["tied"] else ""),
        "",
        "| objective | direction | in the study | re-evaluated | champion re-evaluated |",
        "|---|---|---:|---:|---:|",
    ]
    for o in selection["objectives"]:
        m = o["metric"]
        lines.append(
            f"| {m} | {o['direction']} | {cell(selection['study_values'], m)} | "
            f"{cell(selection['candidate'], m)} | {cell(selection['champion'], m)} |"
        )
    return lines
