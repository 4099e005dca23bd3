"""The ``train-best`` flow: fit the final model of the current champion on the full data.

Deployed with a trigger on the ``hpo.config.promoted`` event (``prefect.yaml``), so every
promotion starts it; it can also be run by hand for any (pipeline, stage).
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from hpo.errors import StoreStateError
from hpo.monitoring import artifact_key
from hpo.promotions import registry
from hpo.settings import artifacts_dir, get_settings
from hpo.store import get_storage
from hpo.tracking.models import mirror_promotion
from hpo.workers.devices import resolve_device
from hpo.workers.final_model import train_final_model


@flow(name="hpo-train-best", flow_run_name="train-best-{pipeline}-{stage}")
def train_best_flow(pipeline: str, stage: str = "staging", promotion_id: int | None = None) -> str:
    """Train the promoted configuration (``promotion_id``, default: the current champion) on
    all the data; returns the model file's path."""
    settings = get_settings()
    storage = get_storage()
    registry.create_tables(storage.engine)
    if promotion_id is not None:
        promotion = registry.get(storage.engine, promotion_id)
    else:
        current = registry.champions(storage.engine, pipeline)
        promotion = next((p for p in current if p.stage == stage), None)
    if promotion is None or promotion.decision != "promoted":
        raise StoreStateError(
            f"no promoted configuration for {pipeline}/{stage}"
            + (f" with id {promotion_id}" if promotion_id is not None else ""),
            fix="promote one first: hpo promote STUDY --pipeline P --stage S",
        )
    if promotion.dataset is None:
        raise StoreStateError(
            f"promotion {promotion.id} is of a user objective ({promotion.objective}); "
            "the service has no data to train its final model on",
            fix="train it in your own pipeline step from the event payload's params",
        )
    out_dir = artifacts_dir(settings) / "models" / pipeline / stage / f"promotion-{promotion.id}"
    device = resolve_device(settings.worker.device, settings.worker.allow_cpu_fallback)
    model = train_final_model(
        promotion.objective,
        promotion.dataset,
        promotion.params,
        out_dir,
        promotion.model_dump(mode="json"),
        device=device,
        threads=settings.worker.threads,
        seed=promotion.seed or 0,
    ).path
    log = get_run_logger()
    log.info("model of promotion %d saved to %s", promotion.id, model)
    # MLflow (when on): log, register, alias; never fails the run, pending is retried later.
    mirror = mirror_promotion(storage.engine, promotion, model, settings)
    if mirror is not None:
        (log.info if mirror.ok else log.warning)("MLflow: %s", "; ".join(mirror.lines()))
    mlflow = "".join(f"\n* MLflow: {line}" for line in (mirror.lines() if mirror else []))
    create_markdown_artifact(
        markdown=f"# Model of `{pipeline}/{stage}`\n\n* promotion {promotion.id} "
        f"(study `{promotion.study_name}`, trial {promotion.trial_number})\n"
        f"* file: `{model}`\n* lineage: `{model.parent / 'lineage.json'}`{mlflow}",
        key=artifact_key("model", f"{pipeline}-{stage}"),
    )
    return str(model)
