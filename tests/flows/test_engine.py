"""The process pools' flow-run command (``python -m hpo.flows.engine``): what it loads before
Prefect's engine runs. That the pools run flows through it, one process per flow run, is checked
on the real fleet (tests/flows/test_tune_pools.py, the SIGKILL test)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, sys
from hpo.flows import engine
engine.preload()
heavy = ("sklearn", "xgboost", "torch", "mlflow", "matplotlib")
import pydantic
from optuna.storages._rdb.models import TrialModel
from sqlalchemy.orm import class_mapper
from hpo.storage.schema_version import optuna_schema_head
models, pending = [], pydantic.BaseModel.__subclasses__()
while pending:
    cls = pending.pop()
    pending.extend(cls.__subclasses__())
    models.append(cls)
print(json.dumps({
    "models": len(models),
    "deferred": [c.__qualname__ for c in models
                 if not c.__dict__.get("__pydantic_complete__", True)],
    "head_read": optuna_schema_head.cache_info().currsize,
    "mapped": class_mapper(TrialModel).configured,
    "enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "loaded": [m for m in ("prefect.flow_engine", "optuna", "hpo.flows.trial_worker")
               if m in sys.modules],
    "heavy": [m for m in heavy if m in sys.modules],
}))
"""


def test_preload_freezes_what_a_trial_worker_imports_and_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["enabled"] is True  # the collector is back on before the flow runs
    assert seen["frozen"] > 100_000  # Prefect, Optuna, SQLAlchemy: out of every collection
    assert seen["loaded"] == ["prefect.flow_engine", "optuna", "hpo.flows.trial_worker"]
    assert seen["heavy"] == []  # a function objective's worker imports no ML framework
    # What each flow run would do on its way to its first trial is done once, before forking:
    # Prefect's deferred Pydantic schemas, Optuna's schema head, SQLAlchemy's mappers.
    assert seen["models"] > 200 and seen["deferred"] == []
    assert seen["head_read"] == 1
    assert seen["mapped"] is True
