"""A Prefect server with basic auth (PREFECT_SERVER_API_AUTH_STRING): clients without the auth
string are refused; `hpo tune` with it works; and neither the auth string nor the study store's
password shows up in flow-run parameters, artifacts, logs, events or the command's output."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from hpo.infra.local_fleet import LocalFleet

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

AUTH = "hpo-admin:auth-s3cr3t-value"
DB_PASSWORD = "db-pw-must-not-leak"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[LocalFleet]:
    # Trust authentication ignores the password, so the URL works and still carries a secret.
    url = make_url(pg_url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    fleet = LocalFleet(
        home=Path(tmp_path_factory.mktemp("auth-fleet")),
        study_db_url=url,
        user_code=(REPO,),  # tests.objectives_fixture
        extra_env={"PREFECT_SERVER_API_AUTH_STRING": AUTH, "PREFECT_API_AUTH_STRING": AUTH},
    )
    try:
        fleet.start_server()
        yield fleet
    finally:
        fleet.stop()


def test_requests_without_the_auth_string_are_refused(secured: LocalFleet) -> None:
    url = f"{secured.api_url}/flows/filter"
    assert httpx.post(url, json={}).status_code == 401
    assert httpx.post(url, json={}, auth=("hpo-admin", "wrong")).status_code == 401
    user, password = AUTH.split(":", 1)
    assert httpx.post(url, json={}, auth=(user, password)).status_code == 200


def test_no_secret_reaches_prefect(secured: LocalFleet, tmp_path: Path) -> None:
    study = f"auth-{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        '{"name": "auth", "objective": "tests.objectives_fixture:quadratic", '
        '"params": {"x": {"type": "float", "low": 0, "high": 4}}}'
    )
    proc = secured.hpo("tune", str(spec), "--n-trials", "3", "--study", study, "--no-progress")
    user, password = AUTH.split(":", 1)
    auth = (user, password)
    api = secured.api_url

    def post(path: str, body: dict[str, object]) -> str:
        response = httpx.post(f"{api}{path}", json=body, auth=auth, timeout=30)
        response.raise_for_status()
        return response.text

    def events() -> str:
        """The server writes events in batches, a few seconds after they happen: wait for the
        run's own events, so the scan below reads real content."""
        deadline = time.monotonic() + 60
        while True:
            text = post("/events/filter", {"limit": 50})
            if "prefect.flow-run" in text or time.monotonic() > deadline:
                return text
            time.sleep(1)

    runs = json.loads(post("/flow_runs/filter", {}))
    assert any(r["name"] == f"tune-{study}-tpe" for r in runs)
    seen = {
        "output": proc.stdout + proc.stderr,
        "flow runs (parameters)": json.dumps(runs),
        "task runs": post("/task_runs/filter", {}),
        "artifacts": post("/artifacts/filter", {}),
        "logs": post("/logs/filter", {"limit": 200}),
        "events": events(),
        "variables": post("/variables/filter", {}),
    }
    assert "Beginning flow run" in seen["logs"]  # the scan reads real content
    assert "prefect.flow-run" in seen["events"]
    for where, content in seen.items():
        assert DB_PASSWORD not in content, f"the database password leaked into {where}"
        assert "auth-s3cr3t-value" not in content, f"the auth string leaked into {where}"
