"""`hpo metrics serve` scraped by a real Prometheus (Debian's `prometheus` package) during a
short study run by a real worker: the series come back through Prometheus' HTTP API with the
values the store holds. Loopback only; Prometheus gets its own tmp config and storage."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from pydantic import SecretStr

from hpo.cli.main import main
from hpo.cli.metrics import serve_command
from hpo.search_spaces.loader import parse_spec
from hpo.settings import DatabaseSettings, HpoSettings, get_settings
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, run_worker

N_TRIALS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def exporter(pg_url: str, study_name: str) -> Iterator[int]:
    """`hpo metrics serve --study NAME` in a thread of this process (stopped at the end); the
    test store holds every other test's studies too."""
    get_settings.cache_clear()
    port = _free_port()
    stop = threading.Event()
    args = argparse.Namespace(port=port, host="127.0.0.1", study=study_name)
    thread = threading.Thread(target=serve_command, args=(args, stop), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).close()
            break
        except OSError:
            time.sleep(0.2)
    yield port
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def prometheus(tmp_path: Path, exporter: int) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: hpo\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    q = urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _eventually(url: str, promql: str, timeout_s: float = 90) -> list[dict[str, Any]]:
    """The query's result once it is non-empty (Prometheus scrapes every second)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = _query(url, promql)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_prometheus_scrapes_the_store_during_a_run(
    prometheus: str, pg_url: str, study_name: str
) -> None:
    spec = parse_spec(
        {
            "name": "metrics",
            "objective": "tests.objectives_fixture:sleep_param",
            "params": {
                "x": {"type": "float", "low": -3.0, "high": 5.0},
                "sleep_s": {"type": "categorical", "choices": [1.5]},
            },
        }
    )
    plan = StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=N_TRIALS, seed=3)
    settings = HpoSettings(database=DatabaseSettings(url=SecretStr(pg_url), pool_size=4))
    storage = get_storage(settings)
    open_study(plan, storage)
    report = run_worker(plan, WorkerIdentity(name="metrics-w0", pool="cpu"), settings=settings)
    assert report.counts.complete == N_TRIALS and report.pool == "cpu"

    study = optuna.load_study(study_name=study_name, storage=storage)
    finished = _eventually(
        prometheus, f'hpo_trials_finished_total{{study="{study_name}"}} == {N_TRIALS}'
    )
    assert finished, "Prometheus never saw the study's finished trials"
    best = _eventually(prometheus, f'hpo_best_value{{study="{study_name}"}}')
    assert best and best[0]["metric"]["direction"] == "minimize"
    assert float(best[0]["value"][1]) == pytest.approx(study.best_value)
    complete = _query(prometheus, f'hpo_trials{{study="{study_name}",state="complete"}}')
    assert float(complete[0]["value"][1]) == N_TRIALS
    # During the run (6 trials of 1.5 s), the worker was alive on the cpu pool at some scrape.
    alive = _query(prometheus, 'max_over_time(hpo_workers_alive{pool="cpu",device="cpu"}[10m])')
    assert alive and float(alive[0]["value"][1]) >= 1
    peak = _query(prometheus, f'max_over_time(hpo_trials_per_minute{{study="{study_name}"}}[10m])')
    assert peak and 1 <= float(peak[0]["value"][1]) <= N_TRIALS
    scrape = _query(prometheus, "hpo_scrape_duration_seconds")
    assert scrape and float(scrape[0]["value"][1]) > 0


def test_metrics_port_in_use_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["metrics", "serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "Traceback" not in err


def test_grafana_dashboard_queries_only_exported_series(pg_url: str, study_name: str) -> None:
    import re

    from hpo.metrics import StoreCollector
    from hpo.query import StudyClient

    storage = get_storage(HpoSettings(database=DatabaseSettings(url=SecretStr(pg_url))))
    study = optuna.create_study(study_name=study_name, storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)
    collector = StoreCollector(StudyClient(), 60.0, study_pattern=study_name)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in collector.collect()
        for s in f.samples
    }
    assert samples[("hpo_trials_finished_total", (("study", study_name),))] == 3
    best = samples[("hpo_best_value", (("direction", "minimize"), ("study", study_name)))]
    assert best == pytest.approx(study.best_value)
    families = {f.name for f in collector.collect()} | {s[0] for s in samples}
    dashboard = (
        Path(__file__).resolve().parents[3] / "infra/grafana/hpo-dashboard.json"
    ).read_text()
    used = set(re.findall(r"\bhpo_[a-z_]+", dashboard))
    assert used and used <= families, used - families
