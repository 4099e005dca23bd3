"""The process pools' flow-run command (``python -m hpo.flows.engine``): what it loads before
Prefect's engine runs. That the pools run flows through it, one process per flow run, is checked
on the real fleet (tests/flows/test_tune_pools.py, the SIGKILL test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hpo.infra.local_fleet import LocalFleet

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


OBSERVER_PROBE = """
import json, threading
from prefect import flow, get_client
from prefect.client.schemas.objects import State, StateType
from prefect._flow_run_suspension import mark_flow_run_suspension_requested
from prefect.flow_engine import FlowRunEngine
from hpo.flows import engine
from hpo.flows.trial_worker import trial_worker_flow

@flow(name="some-other-flow")
def other() -> None: ...

engine.unobserved()
engine.unobserved()  # a second call wraps nothing twice
seen = {}
with get_client(sync_client=True) as client:
    for name, f in (("trial-worker", trial_worker_flow), ("other", other)):
        run = client.create_flow_run(f)  # a real run, read back by the observer
        run.deployment_id = run.id  # as a deployment's run: Prefect observes only those
        eng = FlowRunEngine(flow=f, flow_run=run)
        before = threading.active_count()
        with eng.setup_flow_run_suspension_request():
            seen[name] = {
                "threads": threading.active_count() - before,
                "registered": mark_flow_run_suspension_requested(
                    run.id, State(type=StateType.PAUSED, name="Suspended")
                ),
            }
print(json.dumps(seen))
"""


def test_trial_workers_start_without_the_suspension_observer(session_fleet: LocalFleet) -> None:
    """The engine runs trial-worker flows without Prefect's suspension observer (a thread, an
    event-stream subscription and a read of the run before the run may start): entering the
    step starts no thread for them, and their suspension request is still registered; any other
    flow deployed keeps its observer thread."""
    out = subprocess.run(
        [sys.executable, "-c", OBSERVER_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PREFECT_API_URL": session_fleet.api_url},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["trial-worker"] == {"threads": 0, "registered": True}
    assert seen["other"]["threads"] >= 1 and seen["other"]["registered"] is True
