"""`hpo server`: the first `hpo tune` starts a local Prefect server (its own tmp data dir), the
run and its plots stay in the UI after the command ends, the UI renders the plots (headless
Chromium), bad input is one line with exit 2, and `hpo server stop` ends the process.

The only tests that start a local server: the rest of the suite runs with
HPO_SERVER_AUTOSTART=false (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]


def _env(server_dir: Path, pg_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(
        {
            "HPO_DATABASE_URL": pg_url,
            "HPO_SERVER_DIR": str(server_dir),
            "HPO_SERVER_AUTOSTART": "true",
            "HPO_ARTIFACTS_DIR": str(server_dir / "artifacts"),
            "PREFECT_HOME": str(server_dir / "client-home"),
            **extra,
        }
    )
    return env


def _hpo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=400,
    )  # fmt: skip


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def autostarted(
    tmp_path_factory: pytest.TempPathFactory, pg_url: str
) -> Iterator[tuple[dict[str, str], str, subprocess.CompletedProcess[str]]]:
    """A 4-trial `hpo tune branin` with no server running: it starts one. Stopped at the end."""
    server_dir = Path(tmp_path_factory.mktemp("local-server"))
    env = _env(server_dir, pg_url)
    study = f"srv-{uuid.uuid4().hex[:8]}"
    try:
        tuned = _hpo(env, "tune", "branin", "--n-trials", "4", "--study", study, "--no-progress")
        yield env, study, tuned
    finally:
        _hpo(env, "server", "stop")
        state = server_dir / "server.json"
        assert not state.exists(), "hpo server stop left the state file"


def test_first_tune_starts_the_server_and_the_run_stays_in_the_ui(
    autostarted: tuple[dict[str, str], str, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    env, study, tuned = autostarted
    assert tuned.returncode == 0, tuned.stderr[-2000:]
    started = re.search(
        r"started the local Prefect server: UI at (http://127\.0\.0\.1:\d+)", tuned.stderr
    )
    assert started, tuned.stderr[-2000:]
    ui = started.group(1)
    output = tuned.stdout + tuned.stderr
    run_url = re.search(rf"View at ({re.escape(ui)}/runs/flow-run/([0-9a-f-]{{36}}))", output)
    assert run_url, output[-2000:]  # the flow run's UI address is printed
    run_id = run_url.group(2)

    status = _hpo(env, "server", "status", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["ui_url"] == ui and state["healthy"] is True
    assert Path(state["home"]).parent == Path(env["HPO_SERVER_DIR"])  # data under the data dir

    # The UI's browser code talks to this server (Prefect's default would be port 4200).
    with urllib.request.urlopen(f"{ui}/ui-settings", timeout=10) as resp:
        assert json.load(resp)["api_url"] == f"{ui}/api"

    # The command has ended; the run and its artifacts are still on the server.
    with urllib.request.urlopen(f"{ui}/api/flow_runs/{run_id}", timeout=10) as resp:
        run = json.load(resp)
    assert run["name"] == f"tune-{study}-tpe" and run["state_type"] == "COMPLETED"
    artifacts = _post(
        f"{ui}/api/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}}
    )
    plots = [a for a in artifacts if a["key"] == f"plots-{study}"]
    assert len(plots) == 1, [a["key"] for a in artifacts]
    markdown = plots[0]["data"]
    assert "4 completed trials" in markdown
    for name in ("history", "importances", "params"):
        assert f"![{name}](data:image/png;base64,iVBORw0KGgo" in markdown

    # A second command reuses it (no second start) and a second `start` is refused.
    again = _hpo(env, "server", "start")
    assert again.returncode == 2
    lines = again.stderr.strip().splitlines()
    assert lines[0].startswith("error: a local Prefect server is already running at " + ui)
    assert "Traceback" not in again.stderr

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    shot = tmp_path / "plots.png"
    for attempt in range(3):  # a fresh server's first page load may render before its data
        subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / f'chrome{attempt}'}",
                "--window-size=1400,1500", "--virtual-time-budget=30000",
                f"--screenshot={shot}", f"{ui}/artifacts/artifact/{plots[0]['id']}",
            ],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        # Three ~20 KB plots in the page: far more than the page without images (~50 KB).
        if shot.stat().st_size > 100_000:
            break
    assert shot.stat().st_size > 100_000
    # docs/img/ui-plots.png (the README's) is this page after a 30-trial run (docs/monitoring.md).


def test_start_on_a_taken_port_is_one_line_and_exit_2(tmp_path: Path, pg_url: str) -> None:
    env = _env(tmp_path, pg_url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        taken = _hpo(env, "server", "start", "--port", str(port))
    assert taken.returncode == 2
    assert taken.stderr.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "Traceback" not in taken.stderr
    assert not (tmp_path / "server.json").exists()


def test_stop_and_status_without_a_server(tmp_path: Path, pg_url: str) -> None:
    env = _env(tmp_path, pg_url)
    assert _hpo(env, "server", "status").returncode == 1
    stopped = _hpo(env, "server", "stop")
    assert stopped.returncode == 0 and "no local Prefect server is running" in stopped.stdout


def test_bad_input_never_waits_for_a_server(tmp_path: Path, pg_url: str) -> None:
    """Autostart is on and no server runs: a bad spec, a bad argument and a missing study to
    promote are refused (exit 2) before any server is started."""
    env = _env(tmp_path / "server", pg_url)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nobjective: branin\nparams: {x: {type: float, low: 2, high: 1}}\n")
    for args in (
        ("tune", str(bad)),
        ("tune", "branin", "--n-trials", "0"),
        ("promote", f"no-such-study-{uuid.uuid4().hex[:6]}", "--pipeline", "p"),
    ):
        proc = _hpo(env, *args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and "started the local" not in proc.stderr
    assert not (tmp_path / "server").exists() or not any((tmp_path / "server").iterdir())


def test_an_api_url_in_the_active_prefect_profile_is_the_users_choice(
    tmp_path: Path, pg_url: str
) -> None:
    """`prefect config set PREFECT_API_URL=...` chose a server: the commands use it (Prefect
    resolves the profile) and never point the process at, or start, a local server."""
    env = _env(tmp_path / "server", pg_url)
    home = Path(env["PREFECT_HOME"])
    home.mkdir(parents=True)
    (home / "profiles.toml").write_text(
        'active = "team"\n[profiles.team]\nPREFECT_API_URL = "http://prefect.team.example/api"\n'
    )
    code = (
        "import os\n"
        "from hpo.cli.server import use_local_server\n"
        "print(use_local_server(start=True), os.environ.get('PREFECT_API_URL'))\n"
        "from prefect.settings import PREFECT_API_URL\n"
        "print(PREFECT_API_URL.value())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "None", "http://prefect.team.example/api"]
    assert not (tmp_path / "server" / "server.json").exists(), "a local server was started"
    # The same profile without the URL: the local server is the choice again (autostart on).
    (home / "profiles.toml").write_text('active = "team"\n[profiles.team]\n')
    from hpo.settings import PrefectEnv

    assert PrefectEnv(home=home).chosen_api_url() is None
