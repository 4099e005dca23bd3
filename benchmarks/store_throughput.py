"""Study-store throughput: finished trials per second with P worker processes, side by side.

One run, one PostgreSQL, a trivial objective (two params, no work), for each P in --processes:

* loop ``optuna``: each process runs ``study.optimize(objective, n_trials=N/P)``, the usual way
  to parallelise Optuna on one machine; this is the store alone.
  ``stock``: ``optuna.storages.RDBStorage(url)`` (what ``optuna.create_study(storage=url)``
  builds); ``fast``: ``hpo.storage.optuna_storage(FastRDBStorage(url))``.
* loop ``service``: each process runs this service's trial loop (``run_worker``: exact-budget
  claims, the worker/host/pool/device user attributes, heartbeats) on a study of N trials,
  with ``HPO_DATABASE_FAST_STORE`` false (``stock``) or true (``fast``).

Each process is started once per P, builds its storage and loads the study, then waits at a
barrier: process start-up and imports are not timed. Throughput = finished trials / (last process
done - barrier). Repeats interleave stores so that load on a shared machine hits both alike; the
table shows medians over the repeats. Statements per trial are counted in the processes with a
SQLAlchemy ``before_cursor_execute`` listener (connection pings are not statements).

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.store_throughput --processes 1 4 16 32 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from benchmarks.counts import count_in_states

PROJECT_DIR = Path(__file__).resolve().parent.parent
SPACE = {
    "x": {"type": "float", "low": -3.0, "high": 5.0},
    "y": {"type": "int", "low": -3, "high": 3},
}


@dataclass(frozen=True)
class Job:
    loop: str  # optuna | service
    store: str  # stock | fast
    sampler: str  # random | tpe
    study_name: str
    n_trials: int  # optuna: this process's share; service: the study's budget
    seed: int


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    statements: int


@dataclass(frozen=True)
class Result:
    processes: int
    loop: str
    store: str
    sampler: str
    repeat: int
    finished: int
    seconds: float
    statements: int

    @property
    def per_second(self) -> float:
        return self.finished / self.seconds

    @property
    def statements_per_trial(self) -> float:
        return self.statements / max(self.finished, 1)


def objective(trial: Any) -> float:
    """The ``optuna`` loop's objective: the same two params as :data:`SPACE`, no work."""
    x = trial.suggest_float("x", -3.0, 5.0)
    y = trial.suggest_int("y", -3, 3)
    return float(x * x + y)


def trivial(params: Any) -> float:
    """The ``service`` loop's objective (``benchmarks.store_throughput:trivial``)."""
    return float(params["x"] ** 2 + params["y"])


def _settings(url: str, fast: bool) -> Any:
    from pydantic import SecretStr

    from hpo.settings import DatabaseSettings, HpoSettings, WorkerSettings

    # Two pooled connections per process (a claim's lock plus the trial), none in overflow:
    # 32 processes stay within PostgreSQL's default max_connections.
    db = DatabaseSettings(url=SecretStr(url), fast_store=fast, pool_size=2, max_overflow=0)
    return HpoSettings(database=db, worker=WorkerSettings(device="cpu"))


def _plan(job: Job) -> Any:
    from hpo.search_spaces.loader import parse_spec
    from hpo.study_setup import StudyPlan

    spec = parse_spec(
        {"name": "bench", "objective": "benchmarks.store_throughput:trivial", "params": SPACE}
    )
    return StudyPlan(
        study_name=job.study_name, spec=spec, sampler=job.sampler, n_trials=job.n_trials, seed=0
    )


def _run_job(url: str, index: int, job: Job, barrier: Barrier) -> Outcome:
    import optuna
    from sqlalchemy import event

    from hpo.storage.sql import statement_count

    count = [0]

    def counter(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        count[0] += statement_count(statement)

    if job.loop == "optuna":
        from hpo.storage import FastRDBStorage, optuna_storage

        rdb = (
            optuna.storages.RDBStorage(url)
            if job.store == "stock"
            else FastRDBStorage(url, ensure_indexes=False)
        )
        storage = optuna_storage(rdb)
        sampler: optuna.samplers.BaseSampler = (
            optuna.samplers.TPESampler(seed=job.seed + index)
            if job.sampler == "tpe"
            else optuna.samplers.RandomSampler(seed=job.seed + index)
        )
        study = optuna.load_study(study_name=job.study_name, storage=storage, sampler=sampler)
        event.listen(rdb.engine, "before_cursor_execute", counter)
        barrier.wait()
        started = time.time()
        study.optimize(objective, n_trials=job.n_trials)
        ended = time.time()
        rdb.engine.dispose()
        return Outcome(started, ended, count[0])

    from hpo.store import dispose_storages, get_storage
    from hpo.workers.trial_runner import WorkerIdentity, run_worker

    settings = _settings(url, job.store == "fast")
    engine = get_storage(settings).engine
    with engine.connect(), engine.connect():  # both pooled connections open before timing
        pass
    event.listen(engine, "before_cursor_execute", counter)
    plan = _plan(job)
    barrier.wait()
    started = time.time()
    run_worker(plan, WorkerIdentity(name=f"bench-{index}", pool="bench"), settings=settings)
    ended = time.time()
    dispose_storages()
    return Outcome(started, ended, count[0])


def _child(url: str, index: int, jobs: Any, results: Any, barrier: Barrier) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    import optuna

    from hpo.settings import apply_prefect_defaults

    apply_prefect_defaults()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import hpo.workers.trial_runner  # noqa: F401 - imported before the barrier, not timed

    while True:
        job = jobs.get()
        if job is None:
            return
        try:
            results.put(_run_job(url, index, job, barrier))
        except BaseException as exc:  # noqa: B036 - reported to the parent
            barrier.abort()
            results.put(f"{type(exc).__name__}: {exc}")


def _create_study(url: str, job: Job) -> None:
    import optuna

    if job.loop == "service":
        from hpo.store import get_storage
        from hpo.study_setup import open_study

        open_study(_plan(job), get_storage(_settings(url, job.store == "fast")))
    else:
        optuna.create_study(study_name=job.study_name, storage=url)


def run_processes(url: str, processes: int, jobs: list[tuple[int, Job]]) -> list[Result]:
    """Run ``jobs`` (repeat, job) one after another on ``processes`` processes started once."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    queues = [ctx.Queue() for _ in range(processes)]
    results = ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(url, i, queues[i], results, barrier), daemon=True)
        for i in range(processes)
    ]
    for child in children:
        child.start()
    out: list[Result] = []
    try:
        for repeat, job in jobs:
            _create_study(url, job)
            for q in queues:
                q.put(job)
            barrier.wait(timeout=600)
            released = time.time()
            outcomes = [results.get(timeout=3600) for _ in range(processes)]
            errors = [o for o in outcomes if isinstance(o, str)]
            if errors:
                raise RuntimeError(f"a worker process failed: {errors[0]}")
            seconds = max(o.ended for o in outcomes) - released
            result = Result(
                processes=processes,
                loop=job.loop,
                store=job.store,
                sampler=job.sampler,
                repeat=repeat,
                finished=count_in_states(url, job.study_name, ("COMPLETE", "PRUNED")),
                seconds=round(seconds, 3),
                statements=sum(o.statements for o in outcomes),
            )
            print(
                f"  P={processes:<2} {job.loop:<7} {job.store:<5} {job.sampler:<6} "
                f"rep {repeat}: {result.finished} trials in {seconds:.2f} s = "
                f"{result.per_second:.1f}/s, {result.statements_per_trial:.1f} statements/trial",
                flush=True,
            )
            out.append(result)
    finally:
        for q in queues:
            q.put(None)
        for child in children:
            child.join(timeout=60)
    return out


def plan_jobs(args: argparse.Namespace, processes: int) -> list[tuple[int, Job]]:
    jobs: list[tuple[int, Job]] = []
    for sampler in args.samplers:
        repeats = args.repeats if sampler == "random" else args.tpe_repeats
        if sampler == "tpe" and processes > args.tpe_max_processes:
            continue
        for repeat in range(repeats):
            for loop in args.loops:
                for store in ("fast", "stock"):
                    total = args.trials[store] if sampler == "random" else args.tpe_trials[store]
                    total = max(total, processes)
                    share = total // processes if loop == "optuna" else total
                    name = f"bench-tp-{loop}-{store}-{sampler}-p{processes}-{uuid.uuid4().hex[:6]}"
                    jobs.append((repeat, Job(loop, store, sampler, name, share, seed=repeat)))
    return jobs


def markdown(results: list[Result]) -> str:
    """Medians per (sampler, P, loop, store), with the fast/stock ratios."""
    groups: dict[tuple[str, int, str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.sampler, r.processes, r.loop, r.store), []).append(r)
    lines = [
        "| sampler | processes | loop | stock trials/s | fast trials/s | fast / stock "
        "| fast / stock `optuna` loop | statements per trial (stock → fast) | repeats |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for sampler, processes, loop, _ in sorted({k for k in groups if k[3] == "fast"}):
        fast = groups[(sampler, processes, loop, "fast")]
        stock = groups.get((sampler, processes, loop, "stock"), [])
        base = groups.get((sampler, processes, "optuna", "stock"), [])
        f = statistics.median(r.per_second for r in fast)
        s = statistics.median(r.per_second for r in stock) if stock else float("nan")
        b = statistics.median(r.per_second for r in base) if base else float("nan")
        fs = statistics.median(r.statements_per_trial for r in fast)
        ss = statistics.median(r.statements_per_trial for r in stock) if stock else float("nan")
        lines.append(
            f"| {sampler} | {processes} | {loop} | {s:.1f} | {f:.1f} | {f / s:.1f}x "
            f"| {f / b:.1f}x | {ss:.1f} → {fs:.1f} | {len(fast)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--samplers", nargs="+", default=["random", "tpe"])
    parser.add_argument("--loops", nargs="+", default=["optuna", "service"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tpe-repeats", type=int, default=1)
    parser.add_argument("--tpe-max-processes", type=int, default=32)
    parser.add_argument("--fast-trials", type=int, default=2000)
    parser.add_argument("--stock-trials", type=int, default=300)
    parser.add_argument("--tpe-fast-trials", type=int, default=500)
    parser.add_argument("--tpe-stock-trials", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    args = parser.parse_args(argv)
    args.trials = {"fast": args.fast_trials, "stock": args.stock_trials}
    args.tpe_trials = {"fast": args.tpe_fast_trials, "stock": args.tpe_stock_trials}

    sys.path.insert(0, str(PROJECT_DIR))
    from hpo.settings import apply_prefect_defaults

    apply_prefect_defaults()
    from hpo.store import database_url, get_storage

    url = database_url()
    get_storage(_settings(url, True))  # tables and indexes, before any timing
    print(f"load before: {os.getloadavg()}", flush=True)
    results: list[Result] = []
    for processes in args.processes:
        results += run_processes(url, processes, plan_jobs(args, processes))
    print(f"load after: {os.getloadavg()}", flush=True)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
