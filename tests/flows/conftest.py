from __future__ import annotations

from collections.abc import Iterator

import pytest

from hpo.infra.local_fleet import LocalFleet
from tests.support import wait_for

SLEEPY_POLL_S = "3600"  # the shared CPU worker's regular poll


@pytest.fixture(scope="package")  # its workers stop when tests/flows ends; the server lives on
def shared_fleet(session_fleet: LocalFleet) -> Iterator[LocalFleet]:
    """One real fleet for the end-to-end tests that do not restart anything: the session's
    `prefect server` (on PostgreSQL when the tests have one), the pools and deployments of
    prefect.yaml, a worker on the control pool and one (two slots) on the CPU pool; studies in
    the tests' PostgreSQL. The CPU worker polls when it starts and then once an hour: every
    trial-worker run of these tests is started because the worker was told of it
    (hpo.infra.process_worker)."""
    fleet = session_fleet
    try:
        fleet.setup()
        fleet.start_worker("control", name="control-0")
        fleet.start_worker(
            "cpu", name="cpu-0", limit=2, env={"PREFECT_WORKER_QUERY_SECONDS": SLEEPY_POLL_S}
        )
        log = fleet.home / "logs" / "worker-cpu-0.log"
        # Its one poll happens as it starts: after this line, only wake-ups find runs.
        wait_for(lambda: "started!" in log.read_text(), 120, "the CPU worker to start")
        yield fleet
    finally:
        fleet.stop_workers()


@pytest.fixture(scope="package")
def prefect_server(shared_fleet: LocalFleet) -> Iterator[None]:
    """A real Prefect API server for flows run in this process: the shared fleet's (one server
    fewer to start than Prefect's own test harness)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: shared_fleet.api_url}):
        yield
