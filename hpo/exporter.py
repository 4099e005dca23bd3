"""Prometheus metrics of the study store, read per scrape (``hpo metrics serve``).

Every scrape runs a handful of SQL statements in one read-only snapshot, each an index probe or
a bounded index walk per study (no full scan; see docs/benchmarks.md for the scrape time on a
100,000-trial study):

* trials by state per study: the listing query of :mod:`hpo.query.studies` (index-only scans
  of the study's ``(study_id, state)`` entries), for the :data:`MAX_STUDIES` newest studies
  (``--study PATTERN`` narrows them by name);
* for the *active* studies among them (a trial running or waiting, or activity in the last
  :data:`ACTIVE_WINDOW_S` seconds; about 6 ms each): trials per minute, the trials finished in
  the last 60 s among the study's latest :data:`RECENT_WINDOW` trials by number (a walk of
  ``(study_id, number)``, so the figure saturates at that many per minute), and the best value
  (:func:`hpo.query.trials.fetch_best`, the bucket index);
* claims waiting: WAITING trials (enqueued grid points and retries a worker will claim next);
* workers alive per pool and device: RUNNING trials with a heartbeat younger than the grace
  period, counted by their ``worker`` user attribute, grouped by ``pool`` and ``device``;
* promotions per pipeline stage and decision (``hpo_promotions``, when the table exists).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, text

from hpo.query import StudyClient
from hpo.query import studies as _studies
from hpo.query import trials as _trials
from hpo.query.meta import study_meta

#: How many of a study's latest trials the trials-per-minute figure looks at.
RECENT_WINDOW = 1000
#: Studies exported per scrape (the most recently created).
MAX_STUDIES = 500
#: A study with activity this recent gets its trials-per-minute and best value exported.
ACTIVE_WINDOW_S = 3600.0

_RECENT_SQL = text(
    """
    SELECT count(*) FROM (
        SELECT state, datetime_complete FROM trials WHERE study_id = :sid
        ORDER BY number DESC LIMIT :window) r
    WHERE r.state IN ('COMPLETE', 'PRUNED')
      AND r.datetime_complete >= LOCALTIMESTAMP - interval '60 seconds'
    """
)

_WORKERS_SQL = text(
    """
    SELECT coalesce(pool.value_json::json #>> '{}', 'unknown') AS pool,
           coalesce(dev.value_json::json #>> '{}', 'unknown') AS device,
           count(DISTINCT coalesce(w.value_json, CAST(t.trial_id AS text))) AS alive
    FROM trials t
    JOIN trial_heartbeats h ON h.trial_id = t.trial_id
    LEFT JOIN trial_user_attributes pool ON pool.trial_id = t.trial_id AND pool.key = 'pool'
    LEFT JOIN trial_user_attributes dev ON dev.trial_id = t.trial_id AND dev.key = 'device'
    LEFT JOIN trial_user_attributes w ON w.trial_id = t.trial_id AND w.key = 'worker'
    WHERE t.study_id = ANY(:sids) AND t.state = 'RUNNING'
      AND h.heartbeat >= LOCALTIMESTAMP - CAST(:grace AS float8) * interval '1 second'
    GROUP BY 1, 2
    """
)

_HAS_PROMOTIONS_SQL = text("SELECT to_regclass('hpo_promotions') IS NOT NULL")
_PROMOTIONS_SQL = text(
    "SELECT pipeline, stage, decision, count(*) FROM hpo_promotions GROUP BY 1, 2, 3"
)


class StoreCollector(Collector):
    """A prometheus-client collector that reads the store on every scrape."""

    def __init__(
        self, client: StudyClient, grace_period_s: float, study_pattern: str | None = None
    ) -> None:
        self.client = client
        self.study_pattern = study_pattern
        self.grace_period_s = grace_period_s
        self.last_scrape_s: float | None = None
        # One scrape at a time on one connection: concurrent scrapes queue here, not in the pool.
        self._lock = threading.Lock()

    def describe(self) -> Iterator[Any]:
        return iter(())  # no collect() at registration time: the store may be slow to reach

    def collect(self) -> Iterator[Any]:
        with self._lock:
            start = time.perf_counter()
            families = self._families()
            self.last_scrape_s = time.perf_counter() - start
        scrape = GaugeMetricFamily(
            "hpo_scrape_duration_seconds", "Seconds this scrape spent reading the study store."
        )
        scrape.add_metric([], self.last_scrape_s)
        yield from families
        yield scrape

    def _families(self) -> list[Any]:
        labels = ["study"]
        trials = GaugeMetricFamily(
            "hpo_trials", "Trials of a study by state.", labels=[*labels, "state"]
        )
        finished = CounterMetricFamily(
            "hpo_trials_finished", "Finished (COMPLETE or PRUNED) trials of a study.", labels=labels
        )
        per_minute = GaugeMetricFamily(
            "hpo_trials_per_minute", "Trials of a study finished in the last 60 s.", labels=labels
        )
        best = GaugeMetricFamily(
            "hpo_best_value", "Best objective value of a study.", labels=[*labels, "direction"]
        )
        waiting = GaugeMetricFamily(
            "hpo_claims_waiting", "WAITING trials a worker will claim next.", labels=labels
        )
        workers = GaugeMetricFamily(
            "hpo_workers_alive",
            "Workers running a trial with a fresh heartbeat.",
            labels=["pool", "device"],
        )
        promotions = GaugeMetricFamily(
            "hpo_promotions",
            "Promotion decisions per pipeline stage.",
            labels=["pipeline", "stage", "decision"],
        )
        active_since = datetime.now(UTC) - timedelta(seconds=ACTIVE_WINDOW_S)
        with self.client._read() as conn:  # one read-only snapshot
            page = _studies.list_studies(conn, name=self.study_pattern, limit=MAX_STUDIES, offset=0)
            for info in page.items:
                name = info.study_name
                c = info.counts
                for state, n in (
                    ("running", c.running),
                    ("waiting", c.waiting),
                    ("complete", c.complete),
                    ("pruned", c.pruned),
                    ("failed", c.fail),
                ):
                    trials.add_metric([name, state], n)
                finished.add_metric([name], c.complete + c.pruned)
                waiting.add_metric([name], c.waiting)
                last = info.last_activity_at
                if not (c.running or c.waiting or (last is not None and last >= active_since)):
                    continue
                recent = conn.execute(
                    _RECENT_SQL, {"sid": info.study_id, "window": RECENT_WINDOW}
                ).scalar_one()
                per_minute.add_metric([name], float(recent))
                if c.complete and len(info.directions) == 1:
                    value = self._best(conn, name)
                    if value is not None:
                        best.add_metric([name, info.direction], value)
            sids = [info.study_id for info in page.items]
            for pool, device, alive in conn.execute(
                _WORKERS_SQL, {"sids": sids, "grace": self.grace_period_s}
            ):
                workers.add_metric([str(pool), str(device)], int(alive))
            if conn.execute(_HAS_PROMOTIONS_SQL).scalar_one():
                for pipeline, stage, decision, n in conn.execute(_PROMOTIONS_SQL):
                    promotions.add_metric([pipeline, stage, decision], int(n))
        return [trials, finished, per_minute, best, waiting, workers, promotions]

    @staticmethod
    def _best(conn: Connection, study_name: str) -> float | None:
        meta = study_meta(conn, study_name, max_buckets=_trials.MAX_BUCKETS)
        record = _trials.fetch_best(conn, meta)
        return None if record is None or record.value is None else float(record.value)
