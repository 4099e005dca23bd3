"""The process workers' resident pre-imported process (hpo.flows.zygote) and its thin client,
``python -m hpo.flows.engine``: a real zygote process, real Prefect engine runs (with a flow run
id that is not one: Prefect's engine reports it and exits 1). Flow runs through it on the real
fleet: tests/flows/test_tune_pools.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import wait_for


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("zygote")
    folder.chmod(0o700)
    env = dict(os.environ, HPO_ENGINE_SOCKET=str(folder / "engine.sock"))
    proc = subprocess.Popen([sys.executable, "-m", "hpo.flows.zygote"], env=env)
    wait_for(lambda: (folder / "engine.sock").exists(), 120, "the zygote never listened")
    yield env
    proc.terminate()
    proc.wait(30)


def _engine(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hpo.flows.engine", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_engine_runs_in_a_fork_and_its_exit_and_output_reach_the_client(
    zygote: dict[str, str],
) -> None:
    proc = _engine(zygote, "not-a-flow-run-id")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    # Prefect's engine ran in the zygote's fork, with the client's argv, on the client's stderr.
    assert "Invalid flow run id" in err and "not-a-flow-run-id" in err


def test_a_prefect_setting_only_in_the_clients_environment_reaches_the_flow_run(
    zygote: dict[str, str],
) -> None:
    assert "PREFECT_LOGGING_LEVEL" not in os.environ  # the zygote's own level: the default
    proc = _engine(dict(zygote, PREFECT_LOGGING_LEVEL="CRITICAL"), "not-a-flow-run-id")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Invalid flow run id" not in err  # an ERROR record, below the client's level


def test_fallback_without_a_zygote(tmp_path: Path) -> None:
    env = dict(os.environ, HPO_ENGINE_SOCKET=str(tmp_path / "nobody.sock"))
    proc = _engine(env, "not-a-flow-run-id")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "Invalid flow run id" in err  # the imports and the engine ran in the client


def test_client_sigkill_kills_the_flow_run_process(zygote: dict[str, str]) -> None:
    # A flow run id that no server answers for: the engine keeps retrying the API for a while.
    env = dict(zygote, PREFECT_API_URL="http://127.0.0.1:9/api")
    proc = _engine(env, "00000000-0000-4000-8000-000000000000")
    me = proc.pid

    def children() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and entry.name != str(me):
                try:
                    if os.readlink(entry / "fd" / "2") == os.readlink(f"/proc/{me}/fd/2"):
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    child = wait_for(lambda: (children() or [None])[0], 60, "no engine child")
    assert child != me
    proc.kill()
    proc.wait(10)

    def gone() -> bool:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state == "Z"

    wait_for(gone, 10, "the flow run's process outlived its client")
