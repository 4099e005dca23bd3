"""From a tuning run to a trained model, on a real `prefect server` with a real worker:

* a tune run shows its progress, leaderboard and best configuration as artifacts (read back
  through the API), and its flow-run page renders in headless Chromium (screenshot);
* `hpo promote` records the decision and emits `hpo.config.promoted`; the deployment trigger of
  prefect.yaml starts `train-best` on the control pool's worker, and the model file appears;
* the same for the point of a front a promotion rule picks (several objectives).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import optuna
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
)

from hpo.infra.local_fleet import LocalFleet
from hpo.monitoring import artifact_key
from hpo.search_spaces.loader import parse_spec
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(shared_fleet: LocalFleet) -> LocalFleet:
    return shared_fleet


def _api(fleet: LocalFleet, fn: Any) -> Any:
    """Run an async Prefect-client call against the fleet's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def call() -> Any:
        async with get_client() as client:
            return await fn(client)

    with temporary_settings({PREFECT_API_URL: fleet.api_url}):
        return anyio.run(call)


def _flow_run(fleet: LocalFleet, name: str) -> Any:
    async def read(client: Any) -> Any:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        return runs[0] if runs else None

    return _api(fleet, read)


@pytest.fixture(scope="module")
def tuned(shared_fleet: LocalFleet) -> str:
    fleet = shared_fleet
    study = f"promo-{uuid.uuid4().hex[:8]}"
    fleet.hpo("tune", "xgboost_breast_cancer", "--n-trials", "4", "--workers", "2",
              "--study", study, "--no-progress")  # fmt: skip
    return study


def test_tune_run_publishes_progress_leaderboard_and_best_config(
    fleet: LocalFleet, tuned: str, tmp_path: Path
) -> None:
    run = _flow_run(fleet, f"tune-{tuned}-tpe")
    assert run is not None and run.state.is_completed()
    assert {f"study:{tuned}", "sampler:tpe"} <= set(run.tags)

    async def artifacts(client: Any) -> Any:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )

    by_type = {a.type: a for a in _api(fleet, artifacts)}
    assert by_type["progress"].data == 100.0
    assert by_type["progress"].description == f"**4 of 4** finished trials of `{tuned}`"
    table = by_type["table"].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert len(rows) == 4 and rows[0]["rank"] == 1
    assert {r["device"] for r in rows} == {"cpu"}
    # One column per param and the value named by its metric, rounded for reading.
    assert {"roc_auc", "max_depth", "learning_rate"} <= set(rows[0]) and "params" not in rows[0]
    assert all(len(repr(r["roc_auc"])) <= 8 for r in rows)  # 6 significant digits at most
    assert "-" not in {v for r in rows for v in r.values()}  # the UI shows "-" as a bullet
    by_key = {a.key: a for a in _api(fleet, artifacts)}
    markdown = by_key[f"best-config-{tuned}"].data
    plots = by_key[f"plots-{tuned}"].data  # live plots, inlined PNGs (issue 17)
    assert "4 completed trials" in plots and "![history](data:image/png;base64," in plots
    assert f"# Study `{tuned}`" in markdown and "Best configuration" in markdown
    assert "* best roc_auc: **" in markdown
    assert f"/runs/flow-run/{run.id}" in markdown  # link back to this run in the UI

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    shot = tmp_path / "flow-run.png"
    url = fleet.api_url.removesuffix("/api") + f"/runs/flow-run/{run.id}"
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'chrome'}",
            "--window-size=1400,1000", "--virtual-time-budget=15000",
            f"--screenshot={shot}", url,
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page, not a blank one
    docs_shot = Path(__file__).resolve().parents[2] / "docs" / "img" / "flow-run.png"
    if docs_shot.parent.exists():
        shutil.copy(shot, docs_shot)


def test_promotion_event_starts_train_best_and_the_model_appears(
    fleet: LocalFleet, tuned: str
) -> None:
    pipeline = f"bc-{uuid.uuid4().hex[:6]}"
    out = fleet.hpo("promote", tuned, "--pipeline", pipeline, "--stage", "staging",
                    "--reeval-seeds", "2", "--json").stdout  # fmt: skip
    promotion = json.loads(out[out.index("{") :])
    assert promotion["decision"] == "promoted"
    lineage = _trained_model(fleet, pipeline, promotion["id"])
    assert lineage["study_name"] == tuned
    assert lineage["params"] == promotion["params"]
    assert lineage["trained_on"]["full_data"] is True
    run = _flow_run(fleet, f"train-best-{pipeline}-staging")
    assert run is not None  # started by the deployment trigger, not by this test


def test_a_front_point_is_promoted_by_its_rule_and_its_model_trained(
    fleet: LocalFleet, pg_url: str
) -> None:
    """`hpo promote --rule weighted` on a real study of two objectives: exit 0, the chosen point
    is the one the rule picks from stock Optuna's front, the artifact shows the rule and values
    per objective, and train-best (started by the event) trains that point's params."""
    spec = parse_spec(
        {
            "name": "front-promo",
            "objective": "xgboost",
            "dataset": "breast_cancer",
            "metric": "roc_auc",
            "cv_folds": 3,
            "objectives": [
                {"metric": "roc_auc", "direction": "maximize"},
                {"metric": "model_size_kb", "direction": "minimize"},
            ],
            "params": {
                "n_estimators": {"type": "int", "low": 5, "high": 40},
                "max_depth": {"type": "int", "low": 1, "high": 4},
            },
        }
    )
    study = f"front-{uuid.uuid4().hex[:8]}"
    plan = StudyPlan(study_name=study, spec=spec, sampler="random", n_trials=6, seed=0)
    open_study(plan, get_storage())
    run_worker(plan, WorkerIdentity(name="t"))
    front = optuna.load_study(study_name=study, storage=pg_url).best_trials
    expected = max(front, key=lambda t: (t.values[0] - 0.001 * t.values[1], -t.number))

    pipeline = f"front-{uuid.uuid4().hex[:6]}"
    out = fleet.hpo("promote", study, "--pipeline", pipeline, "--reeval-seeds", "1",
                    "--rule", "weighted", "--weight", "roc_auc=1", "--weight",
                    "model_size_kb=-0.001", "--json").stdout  # fmt: skip
    promotion = json.loads(out[out.index("{") :])
    assert promotion["decision"] == "promoted"
    assert promotion["trial_number"] == expected.number
    assert promotion["selection"]["study_values"] == {
        "roc_auc": expected.values[0],
        "model_size_kb": expected.values[1],
    }

    async def artifact(client: Any) -> Any:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key("promotion", f"{pipeline}-staging")])
            )
        )

    (shown,) = _api(fleet, artifact)
    assert "## Rule: weighted (highest 1*roc_auc -0.001*model_size_kb" in shown.data
    assert f"| roc_auc | maximize | {expected.values[0]:.6g} |" in shown.data

    lineage = _trained_model(fleet, pipeline, promotion["id"])
    assert lineage["params"] == expected.params == promotion["params"]
    assert lineage["selection"]["rule"] == {
        "rule": "weighted",
        "weights": {"roc_auc": 1.0, "model_size_kb": -0.001},
    }


def _trained_model(fleet: LocalFleet, pipeline: str, promotion_id: int) -> Any:
    """The lineage of the model train-best writes for a promotion (waits 180 s)."""
    model_dir = (
        Path(fleet.extra_env["HPO_ARTIFACTS_DIR"])
        / "models" / pipeline / "staging" / f"promotion-{promotion_id}"
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (model_dir / "lineage.json").exists():
        time.sleep(1)
    assert (model_dir / "model.json").exists(), f"no model after 180 s; see {fleet.home}/logs"
    return json.loads((model_dir / "lineage.json").read_text())
