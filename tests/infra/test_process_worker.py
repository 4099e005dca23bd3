"""The ``hpo-process`` worker (hpo.infra.process_worker): its wake-up decisions and shares
without Prefect, and its registration. On a real fleet whose CPU worker polls once an hour:
tests/flows/test_pickup.py (and every test of tests/flows that runs trial workers)."""

from __future__ import annotations

import anyio

from hpo.infra.process_worker import HpoProcessWorker, Wakeups, share


async def _woken(wakeups: Wakeups) -> str:
    """ "none" (no wake-up), "share" (events only: this worker's share) or "any" (any run)."""
    with anyio.move_on_after(0.2):
        return "any" if await wakeups.next() else "share"
    return "none"


def test_wakeups_coalesce_into_one_poll() -> None:
    async def scenario() -> list[str]:
        wakeups = Wakeups()
        seen = [await _woken(wakeups)]  # nothing yet
        for _ in range(3):  # three events while "polling"
            wakeups.announced()
        seen += [await _woken(wakeups), await _woken(wakeups)]  # one poll, then quiet
        wakeups.announced()
        wakeups.refused()  # a refusal among the events: that poll takes any run
        seen += [await _woken(wakeups), await _woken(wakeups)]
        return seen

    assert anyio.run(scenario) == ["none", "share", "none", "any", "none"]


def test_a_freed_slot_wakes_only_when_runs_were_left_behind() -> None:
    async def scenario() -> list[str | bool]:
        wakeups = Wakeups()
        wakeups.polled(due=2, taken=2)
        wakeups.slot_freed()
        quiet = await _woken(wakeups)
        wakeups.polled(due=3, taken=1)  # two runs waited for a slot
        wakeups.slot_freed()
        left = [quiet, await _woken(wakeups)]
        wakeups.polled(due=1, taken=1)
        wakeups.announced()  # a run announced while every slot is busy: no poll then...
        await _woken(wakeups)
        wakeups.skipped()
        wakeups.slot_freed()  # ...but one when a slot frees
        return [*left, await _woken(wakeups)]

    assert anyio.run(scenario) == ["none", "any", "any"]


def test_workers_woken_together_take_disjoint_shares() -> None:
    peers = ("cpu-b", "cpu-a", "cpu-c")  # as the server lists them: any order
    due = list(range(8))
    shares = [share(due, peers, name) for name in ("cpu-a", "cpu-b", "cpu-c")]
    assert shares == [[0, 1, 2], [3, 4, 5], [6, 7]]  # every run in exactly one share
    assert share(due[:1], peers, "cpu-a") == [0] and share(due[:1], peers, "cpu-b") == []
    assert share(due, ("cpu-a",), "cpu-a") == due  # alone
    assert share(due, peers, "cpu-new") == due  # not yet seen online: takes any, as Prefect's


def test_registered_as_hpo_process_but_a_process_worker() -> None:
    from prefect.workers.base import BaseWorker
    from prefect.workers.process import ProcessWorker

    assert BaseWorker.get_worker_class_from_type("hpo-process") is HpoProcessWorker
    assert BaseWorker.get_worker_class_from_type("process") is ProcessWorker
    assert HpoProcessWorker.type == "process"  # its pools and their templates are process pools
