"""Trial-worker runs started because the worker was told of them (hpo.infra.process_worker): the
shared fleet's CPU worker (two slots) polls once when it starts and then once an hour."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml

from hpo.infra.local_fleet import LocalFleet
from tests.support import prefect_client, trial_worker_runs

pytestmark = pytest.mark.slow


def test_runs_are_started_when_announced_and_when_a_slot_frees(
    shared_fleet: LocalFleet, tmp_path: Path
) -> None:
    """`hpo tune --cpu-workers 3` on a worker of two slots that will not poll again for an hour:
    the first two trial-worker runs start because the server announced them (Scheduled events),
    the third because a slot freed while it waited. A stock process worker starts none of them
    (checked by hand with one slot: a run created before its one poll ran, and the coordinator
    cancelled the next, still waiting, 30 s after the budget was taken)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "sleepy",
                "objective": "tests.objectives_fixture:sleepy",
                "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
            }
        )
    )
    study = f"wake-{uuid.uuid4().hex[:8]}"
    proc = shared_fleet.hpo("tune", str(spec), "--n-trials", "9", "--cpu-workers", "3",
                            "--study", study, "--no-progress", timeout_s=240)  # fmt: skip
    assert "finished: 9/9" in proc.stdout + proc.stderr
    trials = optuna.load_study(study_name=study, storage=shared_fleet.study_db_url).trials
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 9})
    assert len({t.params["x"] for t in trials}) == 9

    runs = trial_worker_runs(shared_fleet, study)
    assert sorted((r.name, r.state_name) for r in runs) == [
        (f"{study}-cpu-{i}", "Completed") for i in range(3)
    ]
    with prefect_client(shared_fleet) as client:
        assert client.read_work_pool("hpo-cpu").type == "process"  # a stock process pool
    log = (shared_fleet.home / "logs" / "worker-cpu-0.log").read_text()
    assert sum(f"'{study}-cpu-" in line and "Beginning" in line for line in log.splitlines()) == 3
