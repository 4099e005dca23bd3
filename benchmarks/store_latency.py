"""Per-trial latency of the study store as one study grows: 1,000, 10,000 and 100,000 trials.

For each size, one study is bulk-loaded to that many trials (``hpo.query.testing.generate_study``:
89 % COMPLETE, 7 % PRUNED, 4 % FAIL, six params, four user attributes, in seconds through COPY)
and vacuumed (``VACUUM ANALYZE``, what autovacuum does on its own after a bulk insert on
PostgreSQL 13 and later: without it, the first minutes after the load would measure a table with
stale statistics and an unset visibility map, which no study that grew trial by trial has for
long), then one worker process runs trials on it, side by side in one run:

* loop ``service``: this service's trial loop (``run_worker``: exact-budget claim, user
  attributes, heartbeats) with ``HPO_DATABASE_FAST_STORE`` false (``stock``) and true (``fast``);
* loop ``optuna``: ``study.optimize`` on stock ``RDBStorage`` and on ``FastRDBStorage``.

Each run starts in a fresh process, runs ``--warmup`` trials (the first read of the study, e.g.
stock Optuna's cache loading every trial, is not timed), then ``--trials`` timed trials with the
same six params as the loaded trials and a trivial objective (random sampler: this measures the
store, not a sampler whose own work grows with the study, such as TPE). The latency of a trial is
the wall time between the ends of consecutive trials; the table shows medians and p90 over the
trials of every run of that size, loop and store. All studies are loaded first; then the fast
store runs ``--repeats`` times round-robin over the sizes (stock once, in the first round: it is
slow, and its growth is not what is tested), so that a slow spell of the machine or its disk
hits every size alike. The runs add their trials to the studies (the 1,000-trial study ends near
2,400).

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python -m benchmarks.store_latency --sizes 1000 10000 100000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.counts import count_in_states

PROJECT_DIR = Path(__file__).resolve().parent.parent
SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "max_depth": {"type": "int", "low": 2, "high": 12},
    "subsample": {"type": "float", "low": 0.5, "high": 1.0},
    "n_estimators": {"type": "int", "low": 50, "high": 500, "step": 50},
    "booster": {"type": "categorical", "choices": ["gbtree", "dart", "gblinear"]},
    "dart_rate": {"type": "float", "low": 0.0, "high": 0.5},
}


@dataclass(frozen=True)
class Measure:
    size: int
    loop: str
    store: str
    median_ms: float
    p90_ms: float
    statements_per_trial: float


def trivial(params: Any) -> float:
    """The ``service`` loop's objective (``benchmarks.store_latency:trivial``)."""
    return float(params["lr"]) + float(params["max_depth"])


def objective(trial: Any) -> float:
    """The ``optuna`` loop's objective: the params of the loaded trials, no work."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    depth = trial.suggest_int("max_depth", 2, 12)
    trial.suggest_float("subsample", 0.5, 1.0)
    trial.suggest_int("n_estimators", 50, 500, step=50)
    trial.suggest_categorical("booster", ["gbtree", "dart", "gblinear"])
    trial.suggest_float("dart_rate", 0.0, 0.5)
    return float(lr + depth)


def _settings(url: str, fast: bool) -> Any:
    from pydantic import SecretStr

    from hpo.settings import DatabaseSettings, HpoSettings, WorkerSettings

    db = DatabaseSettings(url=SecretStr(url), fast_store=fast)
    return HpoSettings(database=db, worker=WorkerSettings(device="cpu"))


def _plan(study_name: str, n_trials: int) -> Any:
    from hpo.search_spaces.loader import parse_spec
    from hpo.study_setup import StudyPlan

    spec = parse_spec(
        {"name": "latency", "objective": "benchmarks.store_latency:trivial", "params": SPACE}
    )
    return StudyPlan(study_name=study_name, spec=spec, sampler="random", n_trials=n_trials, seed=1)


def _measure(url: str, study_name: str, loop: str, store: str, warmup: int, n: int) -> Any:
    """In a fresh process: ``warmup + n`` trials; returns the latencies of the last ``n`` (from
    the trials' completion times, which both stores take from this process's clock) and the
    statements per trial."""
    sys.path.insert(0, str(PROJECT_DIR))
    import optuna
    from sqlalchemy import event

    from hpo.settings import apply_prefect_defaults

    apply_prefect_defaults()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from hpo.storage.sql import statement_count

    count = [0]

    def counter(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        count[0] += statement_count(statement)

    first = _trial_count(url, study_name)
    if loop == "optuna":
        from hpo.storage import FastRDBStorage, optuna_storage

        rdb = (
            FastRDBStorage(url, ensure_indexes=False)
            if store == "fast"
            else optuna.storages.RDBStorage(url)
        )
        storage = optuna_storage(rdb)
        sampler = optuna.samplers.RandomSampler(seed=1)
        event.listen(rdb.engine, "before_cursor_execute", counter)
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
        study.optimize(objective, n_trials=warmup + n)
        rdb.engine.dispose()
    else:
        from hpo.store import dispose_storages, get_storage
        from hpo.workers.trial_runner import WorkerIdentity, run_worker

        settings = _settings(url, store == "fast")
        event.listen(get_storage(settings).engine, "before_cursor_execute", counter)
        plan = _plan(
            study_name,
            count_in_states(url, study_name, ("RUNNING", "COMPLETE", "PRUNED")) + warmup + n,
        )
        run_worker(plan, WorkerIdentity(name="latency", pool="bench"), settings=settings)
        dispose_storages()
    ends = _completions(url, study_name, first)
    return [b - a for a, b in zip(ends, ends[1:], strict=False)][warmup:], count[0] / (warmup + n)


def _trial_count(url: str, study_name: str) -> int:
    import psycopg

    from hpo.store import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM trials t JOIN studies s USING (study_id) WHERE s.study_name = %s",
            (study_name,),
        ).fetchone()
    return int(row[0]) if row else 0


def _completions(url: str, study_name: str, first_number: int) -> list[float]:
    """Completion times (seconds) of the study's trials numbered from ``first_number``."""
    import psycopg

    from hpo.store import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM t.datetime_complete) FROM trials t "
            "JOIN studies s USING (study_id) WHERE s.study_name = %s AND t.number >= %s "
            "AND t.datetime_complete IS NOT NULL ORDER BY t.datetime_complete",
            (study_name, first_number),
        ).fetchall()
    return [float(r[0]) for r in rows]


def _child(url: str, args: tuple[Any, ...], queue: Any) -> None:
    try:
        queue.put(_measure(url, *args))
    except BaseException as exc:  # noqa: B036 - reported to the parent
        queue.put(f"{type(exc).__name__}: {exc}")


def measure(
    url: str, study_name: str, loop: str, store: str, warmup: int, n: int
) -> tuple[list[float], float]:
    """The latencies (s) of ``n`` trials after ``warmup``, run in a fresh process, and the
    statements per trial."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(url, (study_name, loop, store, warmup, n), queue))
    proc.start()
    out = queue.get(timeout=7200)
    proc.join(timeout=60)
    if isinstance(out, str):
        raise RuntimeError(f"the measuring process failed: {out}")
    latencies, statements = out
    return list(latencies), float(statements)


def summarize(size: int, loop: str, store: str, runs: list[tuple[list[float], float]]) -> Measure:
    """Median and p90 over the latencies of all ``runs`` pooled."""
    latencies = [x for run, _ in runs for x in run]
    q = statistics.quantiles(latencies, n=10)
    return Measure(
        size=size,
        loop=loop,
        store=store,
        median_ms=round(statistics.median(latencies) * 1e3, 2),
        p90_ms=round(q[-1] * 1e3, 2),
        statements_per_trial=round(statistics.mean(s for _, s in runs), 1),
    )


_TABLES = (
    "trial_params",
    "trial_values",
    "trial_user_attributes",
    "trial_system_attributes",
    "trial_intermediate_values",
    "trial_heartbeats",
)


def _vacuum(url: str) -> None:
    """``VACUUM ANALYZE`` the trial tables (see the module doc)."""
    import psycopg

    from hpo.store import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) trials, {', '.join(_TABLES)}")


def _drop_study(url: str, study_name: str) -> None:
    """Delete a study with plain SQL (Optuna's ORM cascade is far too slow at 100k trials)."""
    import psycopg

    from hpo.store import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT study_id FROM studies WHERE study_name = %s", (study_name,))
        found = row.fetchone()
        if found is None:
            return
        sid = found[0]
        for table in _TABLES:
            conn.execute(
                f"DELETE FROM {table} WHERE trial_id IN "
                "(SELECT trial_id FROM trials WHERE study_id = %s)",
                (sid,),
            )
        conn.execute("DELETE FROM trials WHERE study_id = %s", (sid,))
        for table in ("study_user_attributes", "study_system_attributes", "study_directions"):
            conn.execute(f"DELETE FROM {table} WHERE study_id = %s", (sid,))
        conn.execute("DELETE FROM studies WHERE study_id = %s", (sid,))


def markdown(measures: list[Measure]) -> str:
    lines = [
        "| trials in the study | loop | stock ms/trial (p90) | fast ms/trial (p90) "
        "| fast / stock | statements per trial (stock → fast) |",
        "|---|---|---|---|---|---|",
    ]
    keyed = {(m.size, m.loop, m.store): m for m in measures}
    for size, loop in sorted({(m.size, m.loop) for m in measures}):
        f, s = keyed.get((size, loop, "fast")), keyed.get((size, loop, "stock"))
        if f is None or s is None:
            continue
        lines.append(
            f"| {size:,} | {loop} | {s.median_ms} ({s.p90_ms}) | {f.median_ms} ({f.p90_ms}) "
            f"| {s.median_ms / f.median_ms:.1f}x faster "
            f"| {s.statements_per_trial} → {f.statements_per_trial} |"
        )
    for loop in sorted({m.loop for m in measures}):
        for store in ("fast", "stock"):
            mine = sorted(
                (m for m in measures if (m.loop, m.store) == (loop, store)), key=lambda m: m.size
            )
            if len(mine) >= 2:
                lines.append(
                    f"\n{loop}/{store}: latency at {mine[-1].size:,} trials = "
                    f"{mine[-1].median_ms / mine[0].median_ms:.2f}x that at {mine[0].size:,}"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--loops", nargs="+", default=["service", "optuna"])
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--fast-trials", type=int, default=200)
    parser.add_argument("--stock-trials", type=int, default=60)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="fast-store runs per (size, loop), round-robin over the sizes (stock: one)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated studies")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(PROJECT_DIR))
    from hpo.settings import apply_prefect_defaults

    apply_prefect_defaults()
    from hpo.query.testing import generate_study
    from hpo.store import database_url, get_storage

    url = database_url()
    storage = get_storage(_settings(url, True))  # tables and indexes, before any timing
    print(f"load before: {os.getloadavg()}", flush=True)
    names: dict[int, str] = {}
    runs: dict[tuple[int, str, str], list[tuple[list[float], float]]] = {}
    try:
        for size in args.sizes:
            name = names[size] = f"bench-latency-{size}-{uuid.uuid4().hex[:6]}"
            started = time.perf_counter()
            generate_study(storage, name, size, n_running=0, n_waiting=0, sampler="random")
            _vacuum(url)
            print(f"{name}: {size} trials, loaded and vacuumed in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        # Round-robin over the sizes, so that a slow spell of the machine or its disk hits
        # every size alike rather than one of them.
        for repeat in range(args.repeats):
            for size in args.sizes:
                for loop in args.loops:
                    for store in ("fast", "stock") if repeat == 0 else ("fast",):
                        n = args.fast_trials if store == "fast" else args.stock_trials
                        run = measure(url, names[size], loop, store, args.warmup, n)
                        runs.setdefault((size, loop, store), []).append(run)
                        median_ms = statistics.median(run[0]) * 1e3
                        print(f"  rep {repeat} {size:>6} {loop:<7} {store:<5} "
                              f"{median_ms:.2f} ms/trial", flush=True)  # fmt: skip
    finally:
        if not args.keep:
            for name in names.values():
                _drop_study(url, name)
    measures = [summarize(*key, found) for key, found in runs.items()]
    print(f"load after: {os.getloadavg()}", flush=True)
    print(markdown(measures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
