"""``StudyClient``: typed, read-only questions to the study store while studies run.

Contract:

* **Read-only.** Every query runs in a ``READ ONLY`` transaction: the client never writes to
  Optuna's tables (PostgreSQL refuses a write in such a transaction) and takes no lock that a
  worker waits for.
* **Consistent.** Each call reads one snapshot (a ``REPEATABLE READ`` transaction): a page, a
  summary, never mixes before and after a worker's write.
* **SQL over indexes.** Pages and the best trial never load a study into Python; see
  :mod:`hpo.query.trials` for the plans and ``docs/query-benchmark.md`` for the figures.
  :meth:`StudyClient.importances` is the exception: Optuna's evaluator needs the COMPLETE
  trials in memory.
* **One engine per process.** The client reuses :func:`hpo.store.get_storage`'s engine and pool;
  clients are cheap and thread-safe.
* **Errors.** An unknown study is a :class:`~hpo.errors.StoreStateError`; a bad filter (unknown
  state or param, ``low > high``, a choice the param does not have) a
  :class:`~hpo.errors.ConfigError` naming the value, the rule and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from pydantic import SecretStr
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import InterfaceError, OperationalError

from hpo.query import summaries as _summaries
from hpo.query import trials as _trials
from hpo.query.export import ExportFormat, write_export
from hpo.query.filters import (
    ParamCondition,
    StateArg,
    TrialQuery,
    build_query,
    resolve_params,
)
from hpo.query.frame import records_to_dataframe
from hpo.query.fronts import ParetoFront, study_front
from hpo.query.importance import param_importances
from hpo.query.meta import StudyMeta, param_names, study_meta
from hpo.query.models import (
    Importances,
    Page,
    StudyInfo,
    StudyState,
    StudySummary,
    TrialRecord,
    WorkerTally,
    check_page,
)
from hpo.settings import DatabaseSettings, HpoSettings
from hpo.store import get_storage, unavailable

if TYPE_CHECKING:
    from hpo.compare.models import ComparisonReport
    from hpo.promotions.registry import Promotion


class StudyClient:
    """Read-only queries over the study store.

    ``StudyClient()`` uses the process settings (``HPO_DATABASE_URL``, or the embedded server);
    ``StudyClient.from_url("postgresql://...")`` a given store; ``StudyClient(storage=s)`` a
    storage the caller holds.
    """

    def __init__(
        self,
        settings: HpoSettings | None = None,
        *,
        storage: optuna.storages.RDBStorage | None = None,
    ) -> None:
        """``storage``: a storage the caller already holds (a flow's own, sized for its
        workers), whose engine the client then shares; ``settings`` are not read then."""
        self._storage = storage if storage is not None else get_storage(settings)

    @classmethod
    def from_url(cls, url: str) -> StudyClient:
        """A client on the store at ``url`` (``postgresql://user:pass@host:5432/db``)."""
        return cls(HpoSettings(database=DatabaseSettings(url=SecretStr(url))))

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only REPEATABLE READ transaction (its statements share one snapshot; a
        read-only one never fails to serialize); a lost connection becomes a (retryable)
        :class:`~hpo.errors.StoreUnavailableError` with the URL masked."""
        try:
            with self._storage.engine.connect() as conn:
                conn = conn.execution_options(
                    postgresql_readonly=True, isolation_level="REPEATABLE READ"
                )
                with conn.begin():
                    yield conn
        except (OperationalError, InterfaceError) as exc:
            raise unavailable(str(self._storage.url), exc) from None

    # -- studies ---------------------------------------------------------------------------

    def list_studies(
        self,
        *,
        name: str | None = None,
        sampler: str | None = None,
        state: StudyState | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        active_after: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[StudyInfo]:
        """Studies, newest first, with their trial counts and state.

        ``name`` is a shell-style pattern (``xgb-*``) or, without wildcards, a substring;
        ``sampler`` matches the ``hpo.sampler`` attribute; ``state`` is one of ``empty``,
        ``running``, ``finished``, ``stopped`` (see :data:`hpo.query.models.StudyState`);
        the dates bound the first trial's start (``started_*``) or the latest activity
        (``active_after``); naive datetimes are UTC. ``total`` is always filled.
        """
        check_page(limit, offset, max_limit=1_000)
        with self._read() as conn:
            return _summaries.list_studies(
                conn,
                name=name,
                sampler=sampler,
                state=state,
                started_after=started_after,
                started_before=started_before,
                active_after=active_after,
                limit=limit,
                offset=offset,
            )

    def summary(self, study_name: str) -> StudySummary:
        """The study at a glance: counts by state, what the value measures, the best trial,
        timing, pace, devices, and its ``hpo.*`` attributes, all from one snapshot."""
        with self._read() as conn:
            return _summaries.study_summary(conn, study_name)

    def trials_by_worker(self, study_name: str) -> list[WorkerTally]:
        """The study's trials by the worker that ran them (with its pool, host and device), by
        state; trials without a ``worker`` user attribute are left out. One query."""
        with self._read() as conn:
            meta = study_meta(conn, study_name)
            return _summaries.trials_by_worker(conn, meta.study_id)

    # -- trials ----------------------------------------------------------------------------

    def trials(
        self,
        study_name: str,
        *,
        state: StateArg = None,
        param_filter: Mapping[str, Any] | None = None,
        value_range: Sequence[float | None] | None = None,
        sort: str = "number",
        limit: int = 100,
        offset: int = 0,
        with_total: bool = False,
    ) -> Page[TrialRecord]:
        """One page of the study's trials, filtered and sorted on the server.

        * ``state``: ``"complete"``, a ``TrialState``, or several.
        * ``param_filter``: ``{"max_depth": (3, 6)}`` keeps trials with ``3 <= max_depth <= 6``
          (None for an open end); a categorical param takes the choices to keep,
          ``{"booster": ["gbtree", "dart"]}``. Trials without the param are left out.
        * ``value_range``: ``(low, high)`` on the value (objective 0), None for an open end.
        * ``sort``: ``number``, ``-number``, ``value``, ``-value`` or ``best`` (best first for
          the study's direction); trials without a value come last in value orders, ties go
          by number.
        * ``limit`` (1..10,000) / ``offset``; ``with_total`` also counts every match (one more
          query, proportional to the study's size).
        """
        query = build_query(
            state=state,
            param_filter=param_filter,
            value_range=value_range,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        with self._read() as conn:
            meta, conditions = self._resolve(conn, study_name, query)
            return _trials.fetch_page(conn, meta, query, conditions, with_total=with_total)

    def iter_trials(
        self,
        study_name: str,
        *,
        state: StateArg = None,
        param_filter: Mapping[str, Any] | None = None,
        value_range: Sequence[float | None] | None = None,
        page_size: int = 1_000,
    ) -> Iterator[TrialRecord]:
        """Every matching trial by number, fetched ``page_size`` at a time (keyset pages: each
        page costs the same however deep; trials added meanwhile show if their number is
        higher than the last one read)."""
        query = build_query(
            state=state,
            param_filter=param_filter,
            value_range=value_range,
            sort="number",
            limit=page_size,
        )
        after: int | None = None
        while True:
            with self._read() as conn:
                meta, conditions = self._resolve(conn, study_name, query)
                page = _trials.fetch_page(conn, meta, query, conditions, after_number=after)
            yield from page.items
            if not page.has_more:
                return
            after = page.items[-1].number

    def best_trial(self, study_name: str) -> TrialRecord | None:
        """The best COMPLETE trial for the study's direction (ties: the lowest number), or None
        before any trial completes. One indexed query. Optuna's constraints
        (``constraints`` system attribute) are not consulted here. A multi-objective study has no
        single best trial (:class:`StoreStateError`): see :meth:`pareto_front`."""
        with self._read() as conn:
            meta = study_meta(conn, study_name, max_buckets=_trials.MAX_BUCKETS)
            return _trials.fetch_best(conn, meta)

    def importances(self, study_name: str) -> Importances:
        """PED-ANOVA parameter importances over the COMPLETE trials (Optuna's
        ``PedAnovaImportanceEvaluator``). Loads those trials into memory: the one query here
        that grows with the study in Python."""
        with self._read() as conn:
            meta = study_meta(conn, study_name)
        return param_importances(self._storage, meta)

    def pareto_front(self, study_name: str, *, feasible_only: bool = True) -> ParetoFront:
        """The non-dominated COMPLETE trials of a study (of one or several objectives), feasible
        ones only by default (every stored constraint value <= 0). Loads the COMPLETE trials
        into memory (see :mod:`hpo.query.fronts`)."""
        with self._read() as conn:
            meta = study_meta(conn, study_name)
        return study_front(self._storage, meta, feasible_only=feasible_only)

    # -- exports ---------------------------------------------------------------------------

    def export_trials(
        self,
        study_name: str,
        path: str | Path,
        format: ExportFormat = "csv",
        *,
        state: StateArg = None,
        param_filter: Mapping[str, Any] | None = None,
        value_range: Sequence[float | None] | None = None,
        page_size: int = 1_000,
    ) -> int:
        """Write the matching trials, by number, to ``path`` as CSV (one column per param and
        user attribute, Optuna's ``params_*`` / ``user_attrs_*`` names) or JSON (an array of
        :class:`TrialRecord` objects). Streams ``page_size`` trials at a time; the file
        appears complete or not at all. Returns the number of trials written."""
        records = self.iter_trials(
            study_name,
            state=state,
            param_filter=param_filter,
            value_range=value_range,
            page_size=page_size,
        )
        with self._read() as conn:
            meta = study_meta(conn, study_name)
            columns = _summaries.trial_columns(conn, meta.study_id)
        return write_export(Path(path), format, records, columns)

    def to_dataframe(
        self,
        study_name: str,
        *,
        state: StateArg = None,
        param_filter: Mapping[str, Any] | None = None,
        value_range: Sequence[float | None] | None = None,
    ) -> Any:
        """The matching trials as a ``pandas.DataFrame`` (columns as Optuna's
        ``trials_dataframe``: ``number``, ``value``, ``state``, ``params_*``,
        ``user_attrs_*``...). Needs pandas (``pip install pandas``): :class:`ConfigError`
        without it."""
        records = self.iter_trials(
            study_name, state=state, param_filter=param_filter, value_range=value_range
        )
        return records_to_dataframe(records)

    # -- helpers ---------------------------------------------------------------------------

    # -- comparisons and promotions -----------------------------------------------------------

    def comparison_groups(self) -> list[str]:
        """Every comparison group's name (``hpo compare``), newest first."""
        from hpo.compare.groups import groups_table, list_groups

        if not self._has_table(groups_table.name):
            return []
        return list_groups(storage=self._storage)

    def comparison_report(self, group: str) -> ComparisonReport:
        """The stored report of comparison group ``group`` (best at budget, curves, ranking,
        verdict); raises :class:`~hpo.errors.StoreStateError` for an unknown or unfinished
        group."""
        from hpo.compare.groups import load_report

        return load_report(group, storage=self._storage)

    def promotion_history(
        self, pipeline: str | None = None, stage: str | None = None, limit: int = 100
    ) -> list[Promotion]:
        """Promotion decisions (promoted, unchanged, rejected, with their reasons), newest
        first."""
        from hpo.promotions import registry

        if not self._has_table(registry.promotions.name):
            return []
        return registry.history(self._storage.engine, pipeline, stage, limit)

    def champions(self, pipeline: str | None = None) -> list[Promotion]:
        """The current champion of every (pipeline, stage)."""
        from hpo.promotions import registry

        if not self._has_table(registry.promotions.name):
            return []
        return registry.champions(self._storage.engine, pipeline)

    def _has_table(self, name: str) -> bool:
        """Whether ``name`` exists (a store where nothing was compared or promoted yet has
        neither table, and a read-only client does not create them)."""
        return bool(inspect(self._storage.engine).has_table(name))

    def _resolve(
        self, conn: Connection, study_name: str, query: TrialQuery
    ) -> tuple[StudyMeta, tuple[ParamCondition, ...]]:
        names = tuple(name for name, _ in query.param_filter)
        by_value = not query.sort.endswith("number")
        meta = study_meta(
            conn, study_name, names, max_buckets=_trials.MAX_BUCKETS if by_value else None
        )
        conditions = resolve_params(
            query.param_filter, meta.distributions, lambda: param_names(conn, meta.study_id)
        )
        return meta, conditions
