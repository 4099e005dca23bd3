"""The ``hpo-promote`` flow: run the promotion gate on a study's best trial and, when it wins,
announce it with the ``hpo.config.promoted`` event (which starts the ``train-best`` deployment).

The event's resource is ``hpo.pipeline.<pipeline>.<stage>``; its payload is the promoted
configuration (params, value, metric, study, trial, lineage): no secret is ever in it.
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
    }
    return resource, payload


@task(name="promotion-gate", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def gate_task(
    study_name: str, pipeline: str, stage: str, margin: float, reeval_seeds: int, by: str
) -> Promotion:
    """Re-evaluate the best trial and the champion; record the decision."""
    return promote_best(
        study_name, pipeline, stage, storage=get_storage(), margin=margin,
        reeval_seeds=reeval_seeds, promoted_by=by,
    )  # fmt: skip


@flow(name="hpo-promote", flow_run_name="promote-{study_name}-to-{pipeline}-{stage}")
def promote_flow(
    study_name: str,
    pipeline: str,
    stage: str = "staging",
    margin: float = 0.0,
    reeval_seeds: int = 3,
) -> Promotion:
    """Promote the best configuration of ``study_name`` to ``pipeline``/``stage`` if it beats
    the current champion by ``margin``."""
    from prefect.runtime import flow_run

    by = f"prefect flow run {flow_run.id}" if flow_run.id else "hpo"
    promotion = gate_task(study_name, pipeline, stage, margin, reeval_seeds, by)
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
    return "\n".join(
        [
            f"# {p.decision.upper()}: `{p.pipeline}` / `{p.stage}`",
            "",
            f"* candidate: study `{p.study_name}`, trial {p.trial_number} "
            f"(value {p.value}, re-evaluated {p.reeval_value})",
            f"* champion re-evaluated: {p.champion_reeval_value}",
            f"* reason: {p.reason}",
            f"* metric: {p.metric} ({p.direction}), margin {p.margin}",
            f"* lineage: spec {p.spec_hash}, data {p.dataset_fingerprint}, {p.code_version}",
        ]
    )
