"""Query latency on a 100,000-trial study: ``hpo.query.StudyClient`` beside stock Optuna.

Generates the study on the store of ``HPO_DATABASE_URL`` (or the embedded server) unless it is
there already (``hpo.query.testing``: created through ``optuna.create_study``, trials bulk-loaded
with COPY), then, in one run, measures the median wall time of:

* the client's best trial, first page of 100 trials by value, a filtered page, a page by
  number, and the first page by value with its total count;
* stock Optuna on the same study: ``optuna.load_study(...).best_trial`` and
  ``optuna.load_study(...).trials`` (a fresh ``load_study`` each time, so Optuna's trial cache
  starts cold, as in a new process or notebook).

Writes the figures and the command to ``docs/query-benchmark.md``::

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/query_latency.py
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import psycopg
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hpo.claims import count_trials  # noqa: E402
from hpo.query import StudyClient  # noqa: E402
from hpo.query import trials as plans  # noqa: E402
from hpo.query.testing import generate_study  # noqa: E402
from hpo.settings import get_settings  # noqa: E402
from hpo.store import database_url, get_storage, libpq_url, mask_url  # noqa: E402

COMMAND = (
    "HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/query_latency.py"
)


def median_ms(fn: Callable[[], Any], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def study_wide(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with the bucket merge off: the study-wide plan, which sorts the study."""
    saved = plans.BUCKET_MIN_TRIALS
    plans.BUCKET_MIN_TRIALS = 10**12
    try:
        return fn()
    finally:
        plans.BUCKET_MIN_TRIALS = saved


def ensure_study(name: str, n_trials: int) -> tuple[str, float | None]:
    """The study, generated unless it exists; returns the seconds generation took (or None)."""
    storage = get_storage()
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        start = time.perf_counter()
        generate_study(storage, name, n_trials, seed=0)
        seconds = time.perf_counter() - start
        # What autovacuum does shortly after a bulk insert: statistics and the visibility map.
        with psycopg.connect(libpq_url(database_url()), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) trials, trial_values, trial_params")
        return name, seconds
    counts = count_trials(storage, study_id)
    if counts.total != n_trials:
        sys.exit(f"study {name!r} exists with another number of trials; pass --study NEW_NAME")
    return name, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--study", default=None, help="default: bench-query-<trials>")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--repeat-all-trials", type=int, default=3)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "query-benchmark.md")
    args = parser.parse_args()

    load_at_start = os.getloadavg()
    settings = get_settings()
    url = database_url(settings)
    name, generated_s = ensure_study(args.study or f"bench-query-{args.trials}", args.trials)
    client = StudyClient()
    with get_storage().engine.connect() as conn:
        store_trials = conn.execute(text("SELECT count(*) FROM trials")).scalar_one()
        pg_version = conn.execute(text("SHOW server_version")).scalar_one()

    def stock_best() -> Any:
        return optuna.load_study(study_name=name, storage=url).best_trial

    def stock_trials() -> Any:
        return optuna.load_study(study_name=name, storage=url).trials

    filtered = {"state": "complete", "param_filter": {"max_depth": (3, 6)}, "sort": "best"}
    ours: list[tuple[str, str, Callable[[], Any]]] = [
        ("best trial", "`client.best_trial(name)`", lambda: client.best_trial(name)),
        (
            "first page of 100 by value",
            '`client.trials(name, sort="value", limit=100)`',
            lambda: client.trials(name, sort="value", limit=100),
        ),
        (
            "filtered page of 100",
            '`client.trials(name, state="complete", param_filter={"max_depth": (3, 6)}, '
            'sort="best", limit=100)`',
            lambda: client.trials(name, limit=100, **filtered),  # type: ignore[arg-type]
        ),
        (
            "first page of 100 by number",
            '`client.trials(name, sort="number", limit=100)`',
            lambda: client.trials(name, sort="number", limit=100),
        ),
        (
            "first page of 100 by value, study-wide plan",
            "the same, with the bucket merge turned off",
            lambda: study_wide(lambda: client.trials(name, sort="value", limit=100)),
        ),
        (
            "first page of 100 by value, with total",
            '`client.trials(name, sort="value", limit=100, with_total=True)`',
            lambda: client.trials(name, sort="value", limit=100, with_total=True),
        ),
    ]
    rows: list[tuple[str, str, float, int]] = []
    for label, call, fn in ours:
        rows.append((label, call, median_ms(fn, args.repeat), args.repeat))
        print(f"{label}: {rows[-1][2]:.1f} ms", flush=True)
    best_stock = median_ms(stock_best, args.repeat)
    print(f"optuna best_trial: {best_stock:.1f} ms", flush=True)
    trials_stock = median_ms(stock_trials, args.repeat_all_trials, warmup=0)
    print(f"optuna trials: {trials_stock:.1f} ms", flush=True)

    lines = [
        "# Query latency: `hpo.query.StudyClient` beside stock Optuna",
        "",
        f"Written by `benchmarks/query_latency.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "```bash",
        COMMAND,
        "```",
        "",
        f"* Study `{name}`: {args.trials:,} trials (about 89 % COMPLETE, 7 % PRUNED, 4 % FAIL;",
        "  5 or 6 params, 4 user attributes each), made by `hpo.query.testing.generate_study`"
        + (f" in {generated_s:.1f} s." if generated_s is not None else " (reused)."),
        f"* Store: {mask_url(url)}, PostgreSQL {pg_version.split()[0]}, {store_trials:,}",
        "  trials in all studies (a shared test store: other studies sit in the same indexes).",
        f"* Machine: {os.cpu_count()} CPUs ({platform.machine()}, {platform.system()}), shared;",
        "  load average "
        + ", ".join(f"{x:.1f}" for x in load_at_start)
        + " at the start of the run, "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
        + " at the end.",
        f"* Medians of {args.repeat} runs after 2 warm-up runs; Optuna's `study.trials`: "
        f"{args.repeat_all_trials} runs,",
        "  no warm-up. Wall time in the calling process: round trips and building the models",
        "  included.",
        "",
        "| query | call | median ms | runs |",
        "|---|---|---:|---:|",
    ]
    for label, call, ms, runs in rows:
        lines.append(f"| {label} | {call} | {ms:.1f} | {runs} |")
    lines += [
        "| **stock Optuna** best trial | `optuna.load_study(...).best_trial` "
        f"| {best_stock:.1f} | {args.repeat} |",
        "| **stock Optuna** all trials | `optuna.load_study(...).trials` "
        f"| {trials_stock:.1f} | {args.repeat_all_trials} |",
        "",
        "Ratios:",
        "",
        f"* best trial: Optuna {best_stock:.1f} ms / client {rows[0][2]:.1f} ms = "
        f"**{best_stock / rows[0][2]:.0f}x**",
        f"* a page of 100 by value: Optuna has to load every trial first "
        f"(`study.trials`, {trials_stock:,.0f} ms)",
        f"  / the client's page ({rows[1][2]:.1f} ms) = **{trials_stock / rows[1][2]:,.0f}x**",
        "",
        "## What the figures rest on",
        "",
        "* Every client call above is a few SQL statements in one read-only transaction (the",
        "  study's id, directions, trial-id range and buckets; then the page with its params and",
        "  attributes; the count when asked for); nothing loads the study into Python.",
        "* Indexes (`hpo/storage/query_indexes.py`, made once per store by `hpo.store`):",
        "  `ix_hpo_trials_study_number` (pages by number stop after the page),",
        "  `ix_hpo_trials_study_trial` (a study's id range and buckets, counts by state) and",
        "  `ix_hpo_trial_values_bucket` (each bucket of 32,768 trial ids in value order).",
        "* Best trial and pages by value merge the study's buckets in value order",
        "  (`hpo/query/trials.py`): the work is the page plus the other studies' trials met in",
        "  those buckets, not the study. The *bucket merge turned off* row is the study-wide",
        "  plan (sort every matching trial), used for small studies, studies spread thinly",
        "  over many buckets, very selective filters and deep offsets; it is what every page by",
        "  value would cost without the bucket index.",
        "* `with_total=True` adds a count of every match, which grows with the study; pages",
        "  always say whether a next page exists (`has_more`) without it.",
        "* Optuna's own `best_trial` is one SQL query too, but it sorts the study's COMPLETE",
        "  trials by value each time (no index orders one study's values); `study.trials`",
        "  builds every trial.",
        "",
    ]
    args.output.write_text("\n".join(lines))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
