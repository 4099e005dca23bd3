"""What an idle fleet's polling costs: CPU of the Prefect server, its workers and PostgreSQL while
nothing runs, for each worker poll interval (``HPO_WORKER_POLL_S``).

A fresh local fleet per interval (a real ``prefect server``, 2 ``hpo worker start --limit 4``),
10 s to settle, then the CPU those processes use over ``--seconds``, as a share of one core.

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.poll_cost --poll 10,1,0.5,0.25

Figures: docs/fleet.md (section 2).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import psutil

from hpo.infra.local_fleet import LocalFleet, create_prefect_database
from hpo.store import database_url

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _fleet_processes(fleet: LocalFleet) -> list[psutil.Process]:
    """The fleet's server and workers with their children (zygotes), and PostgreSQL's backends."""
    procs: list[psutil.Process] = []
    for popen in [*([fleet.server] if fleet.server else []), *fleet.workers]:
        try:
            top = psutil.Process(popen.pid)
            procs += [top, *top.children(recursive=True)]
        except psutil.Error:
            continue
    for p in psutil.process_iter():
        try:
            if p.name().startswith("postgres"):
                procs.append(p)
        except psutil.Error:
            continue
    return procs


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def idle_cost(url: str, poll_s: str, seconds: float) -> float:
    """Share of one core the fleet's processes use while idle, polling every ``poll_s``."""
    prefect_db, drop = create_prefect_database(url)
    fleet = LocalFleet(
        home=Path(tempfile.mkdtemp(prefix="hpo-poll-")), study_db_url=url,
        prefect_db_url=prefect_db, user_code=(PROJECT_DIR,),
        extra_env={"HPO_WORKER_POLL_S": poll_s},
    )  # fmt: skip
    try:
        fleet.start_server()
        fleet.setup()
        for _ in range(2):
            fleet.start_worker("cpu", limit=4)
        time.sleep(10)  # registered, polling
        procs = _fleet_processes(fleet)
        before = _cpu_s(procs)
        time.sleep(seconds)
        return (_cpu_s(procs) - before) / seconds
    finally:
        fleet.stop()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", default="10,1,0.5,0.25", help="intervals in seconds")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    os.environ.pop("PREFECT_WORKER_QUERY_SECONDS", None)  # else it wins over HPO_WORKER_POLL_S
    url = database_url()
    for poll in args.poll.split(","):
        share = idle_cost(url, poll, args.seconds)
        print(f"poll {poll} s: {share:.1%} of a core (server, 2 workers, PostgreSQL; idle)")


if __name__ == "__main__":
    main()
