"""The fan-out on Docker pools, for real: a `prefect server`, `hpo pools create --type docker`,
`hpo deploy --target docker`, one `prefect worker --type docker` (through `hpo worker start`)
on podman's Docker API, the CPU image, the tests' PostgreSQL as the study store.

`hpo tune --cpu-workers 3` runs its trial workers as 3 containers of the image; the objective
comes from a read-only bind mount of tests/ (users' code is mounted, not baked in). The store URL
reaches the containers only as a file mounted from this (the worker) host.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from hpo.infra.local_fleet import LocalFleet, create_prefect_database
from tests.containers_fixture import docker_client, worker_image  # noqa: F401 (fixtures)
from tests.support import prefect_client, trial_worker_runs, wait_for

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def docker_fleet(
    tmp_path_factory: pytest.TempPathFactory,
    pg_url: str,
    docker_client: Any,  # noqa: F811
    worker_image: str,  # noqa: F811
) -> Iterator[LocalFleet]:
    home = Path(tmp_path_factory.mktemp("docker-fleet"))
    home.chmod(0o755)
    url_file = home / "database-url"  # the worker host's secret, readable by the image's user
    url_file.write_text(pg_url)
    url_file.chmod(0o644)
    prefect_db, drop = create_prefect_database(pg_url)
    fleet = LocalFleet(home=home, study_db_url=pg_url, prefect_db_url=prefect_db)
    try:
        fleet.start_server()
        fleet.hpo(
            "pools", "create", "--type", "docker", "--kind", "cpu",
            "--image", worker_image, "--url-file", str(url_file),
            "--volume", f"{REPO / 'tests'}:/user/tests:ro", "--env", "PYTHONPATH=/user",
            "--env", "HPO_WORKER_HEARTBEAT_INTERVAL_S=1", "--env", "HPO_WORKER_GRACE_PERIOD_S=4",
        )  # fmt: skip
        fleet.hpo("deploy", "--target", "docker")
        fleet.start_worker("cpu", limit=3, worker_type="docker")
        yield fleet
    finally:
        fleet.stop()
        for container in docker_client.containers.list(all=True):  # this fleet's, if any left
            if f"PREFECT_API_URL={fleet.api_url}" in container.attrs["Config"]["Env"]:
                container.remove(force=True)
        drop()


def _spec(tmp_path: Path, sleep_s: float) -> str:
    params = {
        "x": {"type": "float", "low": -3.0, "high": 5.0},
        "sleep_s": {"type": "categorical", "choices": [sleep_s]},
    }
    raw = {"name": "docker", "objective": "tests.objectives_fixture:sleep_param", "params": params}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _tune(fleet: LocalFleet, *args: str) -> subprocess.Popen[str]:
    env = dict(fleet.env, PYTHONPATH=str(REPO))  # the coordinator imports the spec's objective
    return subprocess.Popen(
        [sys.executable, "-m", "hpo", "tune", *args, "--no-progress"],
        env=env, cwd=fleet.home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _trials(fleet: LocalFleet, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=fleet.study_db_url).trials


def test_thirty_trials_in_three_containers_and_a_killed_one_replaced(
    docker_fleet: LocalFleet,
    docker_client: Any,  # noqa: F811
    worker_image: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    study = f"docker-{uuid.uuid4().hex[:8]}"
    trial_s = 1.0
    proc = _tune(docker_fleet, _spec(tmp_path, trial_s), "--n-trials", "30", "--cpu-workers", "3",
                 "--study", study)  # fmt: skip

    def fresh_running_trial() -> optuna.trial.FrozenTrial | None:
        try:
            trials = _trials(docker_fleet, study)
        except KeyError:
            return None
        now = datetime.now()
        done = sum(t.state.name == "COMPLETE" for t in trials)
        running = [
            t for t in trials
            if t.state.name == "RUNNING" and "worker" in t.user_attrs
            and t.datetime_start is not None
            and (now - t.datetime_start).total_seconds() < trial_s / 2
        ]  # fmt: skip
        return running[0] if done >= 3 and running else None

    victim = wait_for(fresh_running_trial, 240, "no trial ran in a container")
    # Its flow run (the `index` parameter is in the worker's name), then that run's container.
    index = int(victim.user_attrs["worker"].rsplit("-w", 1)[1])
    runs = trial_worker_runs(docker_fleet, study)
    (run,) = [r for r in runs if r.parameters.get("index") == index]
    (container,) = docker_client.containers.list(
        filters={"label": f"io.prefect.flow-run-id={run.id}"}
    )
    container.kill()  # SIGKILL through the Docker API: `podman kill` / `docker kill`

    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-4000:]
    assert "finished: 30/30" in out

    trials = _trials(docker_fleet, study)
    states = Counter(t.state.name for t in trials)
    assert states["COMPLETE"] == 30 and states["RUNNING"] == 0, states
    # The trial its container was in when the kill landed (the one picked, or the next if the
    # lookup outlasted it): failed for want of heartbeats, retried once with its params.
    (failed,) = [t for t in trials if t.state.name == "FAIL"]
    assert failed.user_attrs["worker"] == victim.user_attrs["worker"]
    assert failed.number >= victim.number
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    retries = [t for t in complete if t.system_attrs.get("failed_trial") == failed.number]
    assert len(retries) == 1 and retries[0].params == failed.params
    fresh = [t for t in complete if t not in retries]
    assert len({t.params["x"] for t in fresh}) == 29  # every other point distinct
    assert "crashed; starting a replacement" in out
    # Three containers at first, then the replacement: each one's own worker name.
    assert len({t.user_attrs["worker"] for t in trials}) >= 3
    assert {t.user_attrs["device"] for t in trials} == {"cpu"}

    # The flow runs: 3 + 1 replacement, one crashed; the containers' logs are in them, and the
    # store URL is in none of their parameters, job variables or logs.
    runs = trial_worker_runs(docker_fleet, study)
    states_of_runs = {r.name: r.state.type.value for r in runs}
    assert len(runs) == 4, states_of_runs  # 3 + the replacement
    assert {r.id: r.state.type.value for r in runs}[run.id] == "CRASHED", (
        states_of_runs
    )  # the killed container's run
    assert all(s in ("COMPLETED", "CRASHED") for s in states_of_runs.values()), states_of_runs
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    secret = docker_fleet.study_db_url.split("@")[-1]  # host:port/db part of the URL
    with prefect_client(docker_fleet) as client:
        for run in runs:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
            )
            text = "\n".join(log.message for log in logs)
            if run.state.type.value == "COMPLETED":
                assert "trial" in text.lower(), text[:2000]  # the container's own log lines
            exposed = str(run.parameters) + str(run.job_variables) + text
            assert docker_fleet.study_db_url not in exposed and secret not in exposed


def test_the_kubernetes_job_command_starts_a_trial_worker_in_the_image(
    docker_fleet: LocalFleet,
    docker_client: Any,  # noqa: F811
    worker_image: str,  # noqa: F811
) -> None:
    """The container of infra/kubernetes/job-template-cpu.json, rendered for a real flow run of
    `trial-worker-cpu`, run as the pod would run it (its args, its env, the Secret as a file):
    the image starts a trial worker that runs the study's trials and completes the flow run."""
    from prefect.states import Pending

    from hpo.search_spaces.loader import load_spec
    from hpo.store import get_storage
    from hpo.study_setup import StudyPlan, open_study
    from tests.infra.test_kubernetes import render

    study = f"k8s-{uuid.uuid4().hex[:8]}"
    plan = StudyPlan(study_name=study, spec=load_spec("branin"), sampler="random", n_trials=4,
                     seed=0)  # fmt: skip
    open_study(plan, get_storage())
    with prefect_client(docker_fleet) as client:
        deployment = client.read_deployment_by_name("hpo-trial-worker/trial-worker-cpu")
        # Pending: no worker picks it up (they take Scheduled runs); the "pod" below runs it.
        flow_run = client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"plan": plan.model_dump(mode="json"), "index": 0, "pool": "cpu"},
            state=Pending(),
        )
    job = render("cpu", flow_run_name=flow_run.name, flow_run_id=str(flow_run.id))
    (spec,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in spec["env"]}
    env["PREFECT_API_URL"] = docker_fleet.api_url  # this fleet's server instead of the cluster's
    mount = spec["volumeMounts"][0]["mountPath"]
    container = docker_client.containers.run(
        worker_image, spec["args"], environment=env, network_mode="host", detach=True,
        volumes={str(docker_fleet.home / "database-url"): {
            "bind": f"{mount}/database-url", "mode": "ro"}},
    )  # fmt: skip
    try:
        code = container.wait(timeout=240)["StatusCode"]
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert code == 0, logs[-3000:]
    trials = _trials(docker_fleet, study)
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 4})
    assert {t.user_attrs["device"] for t in trials} == {"cpu"}
    with prefect_client(docker_fleet) as client:
        assert client.read_flow_run(flow_run.id).state.type.value == "COMPLETED"
