"""Where a fan-out's trial span goes, from the study alone.

For W workers (told apart by the ``worker`` user attribute every trial carries), the span (first
trial start to last trial end) splits exactly into per-worker averages:

    span = (sum of trial durations) / W + gaps + start offsets + tails

* trial durations: a 1-second trial's extra over 1 s is its in-trial overhead (ask and tell);
* gaps: from a worker's trial end to its next trial start (the claim);
* start offsets: from the study's first trial start to each worker's first (the stagger);
* tails: from each worker's last trial end to the study's last (the end imbalance).

    python -m benchmarks.span_parts --url postgresql://postgres@127.0.0.1:5432/test \\
        --prefix bench-pools

Used for docs/fanout-benchmark.md (the studies ``benchmarks/fanout_efficiency.py`` leaves).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from dataclasses import dataclass

import optuna


@dataclass(frozen=True)
class SpanParts:
    study: str
    workers: int
    span_s: float
    work_s: float  # trial durations / W
    gaps_s: float
    offsets_s: float
    tails_s: float
    median_trial_extra_ms: float


def span_parts(storage: str, study_name: str, trial_s: float = 1.0) -> SpanParts:
    trials = [
        t
        for t in optuna.load_study(study_name=study_name, storage=storage).trials
        if t.datetime_start is not None and t.datetime_complete is not None
    ]
    by_worker: dict[str, list[optuna.trial.FrozenTrial]] = defaultdict(list)
    for t in trials:
        by_worker[str(t.user_attrs.get("worker", ""))].append(t)
    first = min(t.datetime_start for t in trials if t.datetime_start)
    last = max(t.datetime_complete for t in trials if t.datetime_complete)
    w = len(by_worker)
    gaps = offsets = tails = 0.0
    for runs in by_worker.values():
        runs.sort(key=lambda t: t.datetime_start or first)
        offsets += ((runs[0].datetime_start or first) - first).total_seconds()
        tails += (last - (runs[-1].datetime_complete or last)).total_seconds()
        for a, b in zip(runs, runs[1:], strict=False):
            gaps += ((b.datetime_start or first) - (a.datetime_complete or first)).total_seconds()
    durations = [
        ((t.datetime_complete or last) - (t.datetime_start or first)).total_seconds()
        for t in trials
    ]
    return SpanParts(
        study=study_name,
        workers=w,
        span_s=(last - first).total_seconds(),
        work_s=sum(durations) / w,
        gaps_s=gaps / w,
        offsets_s=offsets / w,
        tails_s=tails / w,
        median_trial_extra_ms=1000 * (statistics.median(durations) - trial_s),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the study store")
    parser.add_argument("--prefix", default="bench-pools", help="studies whose name starts so")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = [
        s.study_name
        for s in optuna.get_all_study_summaries(args.url, include_best_trial=False)
        if s.study_name.startswith(args.prefix)
    ]
    print("| study | W | span (s) | trials / W | gaps | start offsets | tails | trial extra (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        p = span_parts(args.url, name)
        print(
            f"| {p.study} | {p.workers} | {p.span_s:.2f} | {p.work_s:.2f} | {p.gaps_s:.2f} "
            f"| {p.offsets_s:.2f} | {p.tails_s:.2f} | {p.median_trial_extra_ms:.1f} |"
        )


if __name__ == "__main__":
    main()
