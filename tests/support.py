"""Helpers several test modules share: real worker threads on a study, and polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from hpo.infra.local_fleet import LocalFleet
from hpo.store import get_storage
from hpo.study_setup import StudyPlan, open_study
from hpo.workers.trial_runner import WorkerIdentity, WorkerReport, run_worker

T = TypeVar("T")


def run_workers(plan: StudyPlan, workers: int) -> list[WorkerReport]:
    """Open the plan's study and run ``workers`` trial loops on it in threads, as `hpo tune`
    does; fails the test if any loop raised."""
    open_study(plan, get_storage())
    reports: list[WorkerReport] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            reports.append(run_worker(plan, WorkerIdentity(name=f"w{i}")))
        except BaseException as exc:  # noqa: B036 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return reports


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something true; TimeoutError(``what``) after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(what)


@contextmanager
def prefect_client(fleet: LocalFleet) -> Iterator[Any]:
    """A Prefect client of the fleet's server (settings are read once: patch them, not env)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: fleet.api_url}):
        with get_client(sync_client=True) as client:
            yield client


def trial_worker_runs(fleet: LocalFleet, study: str) -> list[Any]:
    """The study's trial-worker runs (tagged with the study by the coordinator)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with prefect_client(fleet) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"study:{study}"]))
        )
    return [r for r in runs if "index" in r.parameters]
