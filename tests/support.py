"""Helpers several test modules share: real worker threads on a study, and polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

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
