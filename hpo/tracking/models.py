"""Promoted models in MLflow's model registry (layer: services): the mirror of the promotion
registry.

After ``train-best`` saved a promotion's final model, :func:`mirror_promotion` logs it with its
MLflow flavour (``mlflow.xgboost``, ``mlflow.lightgbm``, ``mlflow.pytorch``) in a run of its
own, registers it as a version of the model ``<HPO_MLFLOW_MODEL_PREFIX><pipeline>`` and points
the alias named after the stage at the stage's champion, so ``models:/<name>@staging`` loads
it. The PostgreSQL registry (:mod:`hpo.promotions.registry`) decides and stays the source of
truth: the mirror is recorded ``pending`` first (:mod:`hpo.tracking.marks`), so MLflow being
down never loses a promotion; every later mirror and ``hpo promotions sync-mlflow`` retry what
is pending, oldest first, and move each alias to the champion PostgreSQL names.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from hpo.errors import HpoError, StoreStateError, TrackingError
from hpo.promotions import registry
from hpo.redaction import redact
from hpo.settings import HpoSettings
from hpo.store import LOCK_NAMESPACE
from hpo.tracking import marks
from hpo.tracking.client import Mlflow, connect, server_key
from hpo.workers.datasets import load_dataset

logger = logging.getLogger(__name__)

#: The MLflow flavour of each model file train-best writes, by suffix.
FLAVOURS = {".json": "xgboost", ".txt": "lightgbm", ".pt": "pytorch"}
_SYNC_LOCK = sa.text("SELECT pg_advisory_xact_lock(:ns, hashtext(:key))")


class MirrorResult(BaseModel):
    """One promotion's mirror in MLflow."""

    model_config = ConfigDict(frozen=True)

    promotion_id: int
    pipeline: str
    stage: str
    state: str  # synced | pending
    model_uri: str | None = None  # models:/<name>/<version>
    alias_uri: str | None = None  # models:/<name>@<stage>, when it points at this version
    error: str | None = None

    def line(self) -> str:
        head = f"promotion {self.promotion_id} ({self.pipeline}/{self.stage}): "
        if self.state == "pending":
            return head + f"pending MLflow sync: {(self.error or '').splitlines()[0]}"
        return head + f"{self.model_uri}" + (f", alias {self.alias_uri}" if self.alias_uri else "")


class MirrorReport(BaseModel):
    """What a mirror or sync did, one result per promotion it touched."""

    model_config = ConfigDict(frozen=True)

    results: list[MirrorResult]
    error: str | None = None  # aliases that could not be set (masked)

    @property
    def ok(self) -> bool:
        """Everything mirrored and every alias set."""
        return not self.pending and self.error is None

    @property
    def pending(self) -> list[MirrorResult]:
        return [r for r in self.results if r.state == "pending"]

    def lines(self) -> list[str]:
        tail = [f"aliases not updated: {self.error.splitlines()[0]}"] if self.error else []
        if not self.results:
            return ["MLflow: nothing pending", *tail]
        return [r.line() for r in self.results] + tail


def model_name(settings: HpoSettings, pipeline: str) -> str:
    """The registered model of a pipeline: ``HPO_MLFLOW_MODEL_PREFIX`` + the pipeline."""
    return settings.mlflow.model_prefix + pipeline


def _model_name(conn: Mlflow, pipeline: str) -> str:
    return conn.settings.model_prefix + pipeline


def mirror_promotion(
    engine: Engine, promotion: registry.Promotion, model_path: Path, settings: HpoSettings
) -> MirrorReport | None:
    """Record that ``promotion``'s model (saved at ``model_path``) is to be in MLflow, then
    sync every pending promotion (this one and earlier failures). None when MLflow is off.
    Never raises for MLflow trouble: the report says what stays pending."""
    secret = settings.mlflow.tracking_uri
    if secret is None:
        return None
    marks.create_tables(engine)
    server = server_key(secret.get_secret_value())
    insert = pg_insert(marks.promotions).values(
        server=server, promotion_id=promotion.id, state="pending", model_path=str(model_path)
    )
    with engine.begin() as conn:  # a model trained again replaces the file to mirror
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["server", "promotion_id"],
                set_={"model_path": str(model_path), "updated_at": sa.func.now()},
                where=marks.promotions.c.state == "pending",
            )
        )
    return sync_promotions(engine, settings)


def pending_promotions(engine: Engine, settings: HpoSettings) -> list[int]:
    """Ids of the promotions whose mirror in MLflow is pending (no MLflow call)."""
    secret = settings.mlflow.tracking_uri
    if secret is None:
        return []
    marks.create_tables(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(marks.promotions.c.promotion_id)
            .where(marks.promotions.c.server == server_key(secret.get_secret_value()))
            .where(marks.promotions.c.state == "pending")
            .order_by(marks.promotions.c.promotion_id)
        )
        return [int(r.promotion_id) for r in rows]


def sync_promotions(engine: Engine, settings: HpoSettings) -> MirrorReport:
    """Log and register every pending promotion's model, oldest first (one sync at a time, under
    a PostgreSQL lock), then point each stage's alias at its champion's version."""
    secret = settings.mlflow.tracking_uri
    if secret is None:
        raise HpoError(
            "MLflow tracking is off: HPO_MLFLOW_TRACKING_URI is not set",
            fix="set HPO_MLFLOW_TRACKING_URI=http://HOST:5000",
        )
    uri = secret.get_secret_value()
    server = server_key(uri)
    marks.create_tables(engine)
    registry.create_tables(engine)
    with engine.begin() as lock:
        lock.execute(_SYNC_LOCK, {"ns": LOCK_NAMESPACE, "key": f"hpo_mlflow:models:{server}"})
        rows = _pending_rows(engine, server)
        try:
            conn = connect(settings)
            assert conn is not None
        except HpoError as exc:
            error = redact(str(exc), uri)
            for row in rows:
                _mark(engine, server, row.promotion_id, error=error)
            return MirrorReport(results=[_result(engine, row, error=error) for row in rows])
        results = [_sync_one(conn, engine, row) for row in rows]
        alias_error = None
        try:
            aliases = _align_aliases(conn, engine, settings)
        except HpoError as exc:
            aliases, alias_error = {}, redact(str(exc), uri)
        results = [r.model_copy(update={"alias_uri": aliases.get(r.promotion_id)}) for r in results]
        return MirrorReport(results=results, error=alias_error)


def _pending_rows(engine: Engine, server: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(marks.promotions)
                .where(marks.promotions.c.server == server)
                .where(marks.promotions.c.state == "pending")
                .order_by(marks.promotions.c.promotion_id)
            )
        )


def _sync_one(conn: Mlflow, engine: Engine, row: Any) -> MirrorResult:
    promotion = registry.get(engine, row.promotion_id)
    if promotion is None:  # cannot happen while rows are never deleted; say so if it does
        error = f"promotion {row.promotion_id} is not in the registry"
        _mark(engine, conn.server, row.promotion_id, error=error)
        return MirrorResult(
            promotion_id=row.promotion_id, pipeline="?", stage="?", state="pending", error=error
        )
    try:
        name, version = _log_and_register(conn, engine, promotion, row)
    except HpoError as exc:
        error = redact(str(exc), conn.uri)
        _mark(engine, conn.server, promotion.id, error=error)
        logger.warning("promotion %d: MLflow sync pending: %s", promotion.id, error)
        return _result(engine, row, error=error)
    _mark(engine, conn.server, promotion.id, name=name, version=version)
    return MirrorResult(
        promotion_id=promotion.id, pipeline=promotion.pipeline, stage=promotion.stage,
        state="synced", model_uri=f"models:/{name}/{version}",
    )  # fmt: skip


def _log_and_register(
    conn: Mlflow, engine: Engine, promotion: registry.Promotion, row: Any
) -> tuple[str, str]:
    """Log the model file in a run of the promotion and register it: (name, version). A run
    that an earlier attempt registered already is not logged again."""
    name = _model_name(conn, promotion.pipeline)
    path = Path(row.model_path)
    if not path.is_file():
        raise StoreStateError(
            f"the model file of promotion {promotion.id} is gone: {path}",
            fix=f"run train-best again: prefect deployment run 'hpo-train-best/...' -p "
            f"promotion_id={promotion.id}",
        )
    client = conn.client
    run_id = row.run_id
    if run_id is not None:
        versions = conn.call(
            "look for an earlier registration",
            lambda: client.search_model_versions(f"run_id = '{run_id}'"),
        )
        if versions:
            best = max(versions, key=lambda v: int(v.version))
            return str(best.name), str(best.version)
    else:
        tags = {
            "hpo.promotion_id": str(promotion.id),
            "hpo.pipeline": promotion.pipeline,
            "hpo.stage": promotion.stage,
            "hpo.study": promotion.study_name,
            "hpo.trial_number": str(promotion.trial_number),
            "hpo.objective": promotion.objective,
            "hpo.spec_hash": promotion.spec_hash or "",
            "hpo.dataset_fingerprint": promotion.dataset_fingerprint or "",
            "hpo.code_version": promotion.code_version or "",
        }
        if promotion.selection:  # several objectives: the rule that picked the point
            tags["hpo.rule"] = str(promotion.selection.get("rule_text", ""))
        run = conn.call(
            f"create the run of promotion {promotion.id}",
            lambda: client.create_run(
                conn.experiment_id,
                run_name=f"{promotion.pipeline}-{promotion.stage}-promotion-{promotion.id}",
                tags=tags,
            ),
        )
        run_id = run.info.run_id
        with engine.begin() as db:
            db.execute(
                sa.update(marks.promotions)
                .where(marks.promotions.c.server == conn.server)
                .where(marks.promotions.c.promotion_id == promotion.id)
                .values(run_id=run_id)
            )
    version = conn.call(
        f"log and register the model of promotion {promotion.id}",
        lambda: _log_model(conn, run_id, promotion, path, name),
    )
    return name, version


def _log_model(
    conn: Mlflow, run_id: str, promotion: registry.Promotion, path: Path, name: str
) -> str:
    """Log the model with its flavour in ``run_id`` and register it under ``name``."""
    import mlflow
    from mlflow.entities import Metric, Param

    flavour = FLAVOURS.get(path.suffix)
    if flavour is None:
        raise TrackingError(
            f"no MLflow flavour for the model file {path.name} of promotion {promotion.id}",
            fix=f"train-best writes {', '.join(FLAVOURS)} files; log this one by hand",
        )
    model, signature, example = _load(flavour, path, promotion)
    metrics = [
        Metric(k, float(v), 0, 0)
        for k, v in (("value", promotion.value), ("reeval_value", promotion.reeval_value))
        if v is not None
    ]
    # Several objectives: the re-evaluated value of each, ``reeval.<metric>``.
    chosen = (promotion.selection or {}).get("candidate") or {}
    metrics += [Metric(f"reeval.{k}", float(v), 0, 0) for k, v in chosen.items()]
    params = [Param(k, str(v)[:6000]) for k, v in list(promotion.params.items())[:100]]
    conn.client.log_batch(run_id, metrics=metrics, params=params)
    mlflow.set_tracking_uri(conn.uri)
    mlflow.set_registry_uri(conn.uri)
    with mlflow.start_run(run_id=run_id):
        log_model = getattr(mlflow, flavour).log_model
        info = log_model(
            model, name="model", registered_model_name=name, signature=signature,
            **({"input_example": example} if flavour == "pytorch" else {}),
        )  # fmt: skip
    version = str(info.registered_model_version)
    conn.client.set_model_version_tag(name, version, "hpo.promotion_id", str(promotion.id))
    return version


def _load(flavour: str, path: Path, promotion: registry.Promotion) -> tuple[Any, Any, Any]:
    """The saved model as its library's object, its MLflow signature and an input example
    (a few rows of the promotion's dataset; mlflow.pytorch traces the module on it)."""
    import numpy as np
    from mlflow.models import infer_signature

    X = np.array(load_dataset(promotion.dataset).X[:5]) if promotion.dataset else None
    if flavour == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(path))
        out = booster.predict(xgb.DMatrix(X)) if X is not None else None
        return booster, infer_signature(X, out) if X is not None else None, X
    if flavour == "lightgbm":
        import lightgbm as lgb

        lgb_booster = lgb.Booster(model_file=str(path))
        lgb_out = lgb_booster.predict(X) if X is not None else None
        return lgb_booster, infer_signature(X, lgb_out) if X is not None else None, X
    import torch

    from hpo.workers.objectives.torch_mlp import load_mlp

    module = load_mlp(path).as_module()  # train-best's model.pt: scaling + network + softmax
    module.eval()
    if X is None:
        raise TrackingError(
            f"promotion {promotion.id} names no dataset to trace its torch module on",
            fix="log this model by hand with mlflow.pytorch.log_model(..., input_example=...)",
        )
    X = X.astype(np.float32)
    with torch.no_grad():
        torch_out = module(torch.from_numpy(X)).numpy()
    return module, infer_signature(X, torch_out), X


def _align_aliases(conn: Mlflow, engine: Engine, settings: HpoSettings) -> dict[int, str]:
    """Point the alias of each (pipeline, stage) at the version of its champion in PostgreSQL
    (when that one is mirrored); returns ``models:/<name>@<stage>`` by promotion id."""
    with engine.connect() as db:
        rows = db.execute(
            sa.select(marks.promotions.c.promotion_id, marks.promotions.c.model_name,
                      marks.promotions.c.model_version)
            .where(marks.promotions.c.server == conn.server)
            .where(marks.promotions.c.state == "synced")
        ).all()  # fmt: skip
    mirrored = {int(r.promotion_id): (str(r.model_name), str(r.model_version)) for r in rows}
    aliases: dict[int, str] = {}
    for champion in registry.champions(engine):
        if champion.id not in mirrored:
            continue
        name, version = mirrored[champion.id]
        conn.call(
            f"set the alias {champion.stage!r} of {name!r}",
            partial(conn.client.set_registered_model_alias, name, champion.stage, version),
        )
        aliases[champion.id] = f"models:/{name}@{champion.stage}"
    return aliases


def _mark(
    engine: Engine,
    server: str,
    promotion_id: int,
    *,
    error: str | None = None,
    name: str | None = None,
    version: str | None = None,
) -> None:
    values: dict[str, Any] = {"updated_at": sa.func.now(), "error": error}
    if error is None:
        values.update(state="synced", model_name=name, model_version=version)
    else:
        values["attempts"] = marks.promotions.c.attempts + 1
    with engine.begin() as conn:
        conn.execute(
            sa.update(marks.promotions)
            .where(marks.promotions.c.server == server)
            .where(marks.promotions.c.promotion_id == promotion_id)
            .values(**values)
        )


def _result(engine: Engine, row: Any, *, error: str) -> MirrorResult:
    promotion = registry.get(engine, row.promotion_id)
    return MirrorResult(
        promotion_id=row.promotion_id,
        pipeline=promotion.pipeline if promotion else "?",
        stage=promotion.stage if promotion else "?",
        state="pending",
        error=error,
    )
