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
    # (start, end) of every finished trial, by worker, in seconds
    by_worker: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in optuna.load_study(study_name=study_name, storage=storage).trials:
        if t.datetime_start is not None and t.datetime_complete is not None:
            by_worker[str(t.user_attrs.get("worker", ""))].append(
                (t.datetime_start.timestamp(), t.datetime_complete.timestamp())
            )
    runs = [sorted(r) for r in by_worker.values()]
    first = min(r[0][0] for r in runs)
    last = max(end for r in runs for _, end in r)
    durations = [end - start for r in runs for start, end in r]
    w = len(runs)
    return SpanParts(
        study=study_name,
        workers=w,
        span_s=last - first,
        work_s=sum(durations) / w,
        gaps_s=sum(b[0] - a[1] for r in runs for a, b in zip(r, r[1:], strict=False)) / w,
        offsets_s=sum(r[0][0] - first for r in runs) / w,
        tails_s=sum(last - r[-1][1] for r in runs) / w,
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
