"""The ``hpo-process`` worker (hpo.infra.process_worker): its wake-up decisions without Prefect,
then on a real fleet whose workers poll once an hour, so that every run they start after their
first poll was found because the worker was told of it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import optuna
import pytest
import yaml

from hpo.infra.local_fleet import LocalFleet, create_prefect_database
from hpo.infra.process_worker import HpoProcessWorker, Wakeups, share
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def sleepy_fleet(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[LocalFleet]:
    """A real fleet with one CPU worker of one slot that polls at start and then once an hour."""
    prefect_db, drop = create_prefect_database(pg_url)
    fleet = LocalFleet(
        home=Path(tmp_path_factory.mktemp("sleepy-fleet")),
        study_db_url=pg_url,
        prefect_db_url=prefect_db,
        user_code=(REPO,),  # tests.objectives_fixture
        extra_env={"PREFECT_WORKER_QUERY_SECONDS": "3600"},
    )
    try:
        fleet.start_server()
        fleet.setup()
        fleet.start_worker("cpu", name="cpu-sleepy", limit=1)
        log = fleet.home / "logs" / "worker-cpu-sleepy.log"
        # Its one poll happens as it starts: after this line, only wake-ups find runs.
        wait_for(lambda: "started!" in log.read_text(), 120, "the worker to start")
        yield fleet
    finally:
        fleet.stop()
        drop()


@pytest.mark.slow
def test_runs_are_started_when_announced_and_when_a_slot_frees(
    sleepy_fleet: LocalFleet, tmp_path: Path
) -> None:
    """`hpo tune --cpu-workers 2` on a worker of one slot that will not poll again for an hour:
    the first trial-worker run starts because the server announced it (Scheduled event), the
    second because the first one's end freed the slot while it waited. A stock process worker
    starts neither (checked by hand: with the first created before its one poll, it ran that one
    and the coordinator cancelled the second, still waiting, 30 s after the budget was taken)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "sleepy",
                "objective": "tests.objectives_fixture:sleepy",
                "params": {"x": {"type": "float", "low": -3.0, "high": 5.0}},
            }
        )
    )
    study = f"wake-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [sys.executable, "-m", "hpo", "tune", str(spec), "--n-trials", "6", "--cpu-workers", "2",
         "--study", study, "--no-progress"],
        env=sleepy_fleet.env, cwd=sleepy_fleet.home, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "finished: 6/6" in proc.stdout + proc.stderr
    trials = optuna.load_study(study_name=study, storage=sleepy_fleet.study_db_url).trials
    assert Counter(t.state.name for t in trials) == Counter({"COMPLETE": 6})
    assert len({t.params["x"] for t in trials}) == 6

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> tuple[str, list[tuple[str, str | None]]]:
        async with get_client() as client:
            pool = await client.read_work_pool("hpo-cpu")
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=f"{study}-cpu-"))
            )
            return pool.type, [(r.name, r.state_name) for r in runs]

    with temporary_settings({PREFECT_API_URL: sleepy_fleet.api_url}):
        pool_type, runs = anyio.run(read)
    assert pool_type == "process"  # the hpo-process worker serves a stock process pool
    assert sorted(runs) == [(f"{study}-cpu-0", "Completed"), (f"{study}-cpu-1", "Completed")]
    log = (sleepy_fleet.home / "logs" / "worker-cpu-sleepy.log").read_text()
    assert log.count("submitting flow run") == 2  # each run once: no poll found them twice
