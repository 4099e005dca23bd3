"""Scrape time of ``hpo metrics serve`` on a 100,000-trial study.

Bulk-loads the study (``hpo.query.testing.generate_study``, started now so it counts as active:
its trials per minute and best value are read too) on the store of ``HPO_DATABASE_URL`` unless
it is there already, then times the exporter's collector (what one Prometheus scrape runs) and
prints the median of the repeats (here on a database of its own, ``hpo17bench``)::

    HPO_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/hpo17bench \
        python benchmarks/metrics_scrape.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hpo.metrics import StoreCollector  # noqa: E402
from hpo.query import StudyClient  # noqa: E402
from hpo.query.testing import generate_study  # noqa: E402
from hpo.store import get_storage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    name = f"scrape-bench-{args.trials}"
    storage = get_storage()
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        start = time.perf_counter()
        generate_study(storage, name, args.trials, started_at=datetime.now(UTC))
        print(f"loaded {args.trials} trials in {time.perf_counter() - start:.1f} s")
    collector = StoreCollector(StudyClient(), 60.0, study_pattern=name)
    list(collector.collect())  # warm: catalog lookups, plans
    times = []
    for _ in range(args.repeat):
        samples = [s for f in collector.collect() for s in f.samples]
        assert collector.last_scrape_s is not None
        times.append(collector.last_scrape_s * 1000)
    print(f"{len(samples)} samples; scrape median {statistics.median(times):.1f} ms, "
          f"min {min(times):.1f} ms, max {max(times):.1f} ms ({args.repeat} scrapes)")  # fmt: skip
    for s in samples:
        print(f"  {s.name}{s.labels} {s.value}")


if __name__ == "__main__":
    main()
