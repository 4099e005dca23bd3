"""`hpo dashboard`: optuna-dashboard serves the service's store and shows the study's metric name
(not "Objective 0"); without optuna-dashboard installed, one line and exit 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from hpo.cli.main import main
from hpo.search_spaces.loader import load_spec
from hpo.settings import ArtifactSettings, DatabaseSettings, HpoSettings
from hpo.store import get_storage, mask_url
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.artifacts import TrialArtifacts

REPO = Path(__file__).resolve().parents[3]


def test_dashboard_serves_the_store_with_metric_names(
    pg_url: str, study_name: str, tmp_path: Path
) -> None:
    pytest.importorskip("optuna_dashboard")
    spec = load_spec("xgboost_breast_cancer")
    plan = StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=1, seed=0)
    settings = HpoSettings(
        database=DatabaseSettings(url=SecretStr(pg_url)),
        artifacts=ArtifactSettings(store=str(tmp_path / "store")),
    )
    storage = get_storage(settings)
    study = open_study(plan, storage)
    assert study.metric_names == [spec.metric]
    trial = study.ask()  # a trial with an artifact, as context.save_artifact leaves it
    artifact_id = TrialArtifacts(study, trial, settings).save(b"weights", "model.bin")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HPO_DATABASE_URL": pg_url, "HPO_ARTIFACTS_STORE": str(tmp_path / "store")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpo", "dashboard", "--port", str(port)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        url = f"http://127.0.0.1:{port}/api/studies/{study._study_id}?after=0"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    body = json.load(resp)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "hpo dashboard did not answer"
                time.sleep(0.5)
        assert body["objective_names"] == [spec.metric]
        assert body["name"] == study_name
        (listed,) = body["trials"][0]["artifacts"]
        assert (listed["artifact_id"], listed["filename"]) == (artifact_id, "model.bin")
        served = f"http://127.0.0.1:{port}/artifacts/{study._study_id}/{trial._trial_id}/"
        with urllib.request.urlopen(served + artifact_id, timeout=10) as resp:
            assert resp.read() == b"weights"  # from the service's artifact store
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert f"http://127.0.0.1:{port}/dashboard" in out
    assert (
        f"optuna-dashboard on {mask_url(pg_url)}, artifacts in {tmp_path / 'store'}:" in out
    )  # masked: never a password


def test_dashboard_without_the_extra_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import fails as if absent
    assert main(["dashboard"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: `hpo dashboard` needs optuna-dashboard, which is not installed")
    assert "pip install 'prefect-hpo[dashboard]'" in err and "Traceback" not in err
