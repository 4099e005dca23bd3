"""Prometheus metrics of the study store, read per scrape (``hpo metrics serve``).

Every scrape reads one read-only snapshot with a few statements per study, each an index probe
or a bounded index walk, so a scrape costs the same at 100,000 trials as at 100 (no full scan;
docs/benchmarks.md has the scrape time on a 100,000-trial study):

* trials by state, for the :data:`MAX_STUDIES` newest studies (``--study PATTERN`` narrows them
  by name): the trial count is the last trial number plus one (a probe of ``(study_id,
  number)``, as the exact-budget claim counts, :mod:`hpo.claims`); RUNNING, WAITING, FAIL and
  PRUNED are counted on ``(study_id, state)``; COMPLETE is the rest;
* for the *active* studies (a trial running or waiting, or the newest trial started in the
  last :data:`ACTIVE_WINDOW_S` seconds): trials per minute, the trials finished in the last
  60 s among the study's latest :data:`RECENT_WINDOW` trials by number (so the figure
  saturates at that many per minute), and the best value (:func:`hpo.query.trials.fetch_best`,
  the bucket index);
* claims waiting: WAITING trials (enqueued grid points and retries a worker will claim next);
* workers alive per pool and device: RUNNING trials with a heartbeat younger than the grace
  period, counted by their ``worker`` user attribute, grouped by ``pool`` and ``device``;
* promotions per pipeline stage and decision (``hpo_promotions``, when the table exists).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, text

from hpo.query import StudyClient
from hpo.query import trials as _trials
from hpo.query.meta import study_meta
from hpo.query.summaries import glob_to_like

#: How many of a study's latest trials the trials-per-minute figure looks at.
RECENT_WINDOW = 1000
#: Studies exported per scrape (the most recently created).
MAX_STUDIES = 500
#: A study with activity this recent gets its trials-per-minute and best value exported.
ACTIVE_WINDOW_S = 3600.0

_STUDIES_SQL = text(
    """
    SELECT s.study_id, s.study_name,
           (SELECT lower(CAST(d.direction AS text)) FROM study_directions d
            WHERE d.study_id = s.study_id AND d.objective = 0) AS direction,
           (SELECT count(*) FROM study_directions d WHERE d.study_id = s.study_id) AS objectives
    FROM studies s WHERE s.study_name LIKE :like
    ORDER BY s.study_id DESC LIMIT :n
    """
)

_COUNTS_SQL = text(
    """
    SELECT (SELECT coalesce(max(number) + 1, 0) FROM trials WHERE study_id = :sid),
           coalesce((SELECT GREATEST(datetime_start, datetime_complete)
                            >= LOCALTIMESTAMP - CAST(:active AS float8) * interval '1 second'
                     FROM trials WHERE study_id = :sid ORDER BY number DESC LIMIT 1), false),
           count(*) FILTER (WHERE state = 'RUNNING'),
           count(*) FILTER (WHERE state = 'WAITING'),
           count(*) FILTER (WHERE state = 'FAIL'),
           count(*) FILTER (WHERE state = 'PRUNED')
    FROM trials WHERE study_id = :sid AND state IN ('RUNNING', 'WAITING', 'FAIL', 'PRUNED')
    """
)

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
        like = glob_to_like(self.study_pattern) if self.study_pattern else "%"
        with self.client._read() as conn:  # one read-only snapshot
            studies = conn.execute(_STUDIES_SQL, {"like": like, "n": MAX_STUDIES}).all()
            for sid, name, direction, objectives in studies:
                total, recent_start, running, waiting_n, failed, pruned = conn.execute(
                    _COUNTS_SQL, {"sid": sid, "active": ACTIVE_WINDOW_S}
                ).one()
                complete = max(0, total - running - waiting_n - failed - pruned)
                for state, n in (
                    ("running", running),
                    ("waiting", waiting_n),
                    ("complete", complete),
                    ("pruned", pruned),
                    ("failed", failed),
                ):
                    trials.add_metric([name, state], n)
                finished.add_metric([name], complete + pruned)
                waiting.add_metric([name], waiting_n)
                if not (running or waiting_n or recent_start):
                    continue
                recent = conn.execute(_RECENT_SQL, {"sid": sid, "window": RECENT_WINDOW})
                per_minute.add_metric([name], float(recent.scalar_one()))
                if complete and objectives == 1:
                    value = self._best(conn, name)
                    if value is not None:
                        best.add_metric([name, direction or "minimize"], value)
            sids = [row[0] for row in studies]
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
