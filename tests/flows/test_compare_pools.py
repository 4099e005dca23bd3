"""`hpo compare --cpu-workers` on the real thing: a `prefect server` process, the pools and
deployments of prefect.yaml, a `prefect worker` on the CPU pool. Each study of the comparison is
fanned out over the pool by an hpo-tune-pools subflow."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest

from hpo.compare import load_group
from hpo.infra.local_fleet import LocalFleet
from hpo.pareto import hypervolume, pareto_front

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(shared_fleet: LocalFleet) -> LocalFleet:
    return shared_fleet


def test_compare_on_the_pools(fleet: LocalFleet, tmp_path: Path) -> None:
    group = f"pools-cmp-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [
            sys.executable, "-m", "hpo", "compare", "branin", "--samplers", "random,tpe",
            "--n-trials", "6", "--seeds", "1", "--cpu-workers", "1", "--group", group,
            "--target", "5.0", "--output", str(tmp_path), "--json",
        ],
        env=fleet.env,
        cwd=fleet.home,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    assert result["group"] == group
    assert result["report"]["target"] == 5.0
    for sampler in ("random", "tpe"):
        trials = optuna.load_study(
            study_name=f"{group}-{sampler}-s0", storage=fleet.study_db_url
        ).trials
        assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 6})
        assert {t.user_attrs["pool"] for t in trials} == {"cpu"}  # ran on the pool
    assert load_group(group).status == "done"
    assert (tmp_path / "report.md").exists()


def test_compare_of_fronts_on_the_pools(fleet: LocalFleet, tmp_path: Path) -> None:
    """A spec of several objectives on the pools: the same report step, hypervolumes of the
    trials the pool ran."""
    group = f"pools-hv-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [
            sys.executable, "-m", "hpo", "compare", "zdt1", "--samplers", "random,nsga2",
            "--n-trials", "4", "--seeds", "1", "--cpu-workers", "1", "--group", group,
            "--output", str(tmp_path), "--json",
        ],
        env=fleet.env,
        cwd=fleet.home,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)["report"]
    assert report["metric"] == "hypervolume regret"
    assert report["hypervolume"]["reference_point"] == [11.0, 11.0]
    for result in report["results"]:
        trials = optuna.load_study(
            study_name=result["studies"][0], storage=fleet.study_db_url
        ).trials
        assert {t.user_attrs["pool"] for t in trials} == {"cpu"}  # ran on the pool
        front = pareto_front(trials, ["minimize", "minimize"])
        expected = hypervolume([t.values for t in front], ["minimize"] * 2, (11.0, 11.0))
        assert result["final_values"] == [pytest.approx(expected)]
