"""``hpo pools / worker / deploy`` without a fleet: Prefect runs as ``sys.executable -m prefect``
(never a ``prefect`` looked up on PATH), and a missing server is one line and exit 2. The fleet
itself (with the venv off PATH): tests/flows/conftest.py ``shared_fleet``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hpo.cli.fleet import prefect_command, worker_command


def test_prefect_runs_with_this_interpreter() -> None:
    assert prefect_command("deploy") == [sys.executable, "-m", "prefect", "deploy"]
    argv = worker_command("gpu", 1, 2, None)
    assert argv[:5] == [sys.executable, "-m", "prefect", "worker", "start"]
    assert argv[argv.index("--pool") + 1] == "hpo-gpu"
    assert argv[argv.index("--limit") + 1] == "2"
    assert argv[argv.index("--name") + 1].endswith("-gpu1")
    assert argv[argv.index("--type") + 1] == "hpo-process"  # hpo.infra.process_worker
    docker = worker_command("cpu", None, 4, None, "docker")
    assert docker[docker.index("--type") + 1] == "docker"


def test_no_server_is_one_line_and_exit_2_without_the_venv_on_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"  # no venv, no `prefect` on PATH
    env["PREFECT_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "hpo", "deploy"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: this command needs a Prefect server")
    assert "Traceback" not in proc.stderr
