"""``FastRDBStorage``: Optuna's RDB storage with one SQL statement per storage call.

It is an :class:`optuna.storages.RDBStorage` (same tables, same rows, same schema version; stock
``optuna.load_study`` and optuna-dashboard read what it writes) that overrides the per-trial
calls:

* **Create a trial**: lock the study row, then one ``INSERT`` numbering the trial after the
  study's last one (an index probe; stock Optuna counts every earlier trial of the study, which
  grows with the study), with the trial's first heartbeat when heartbeats are on. A template
  trial (``enqueue_trial``, ``add_trial``) is written in the same statement with all its rows.
* **Write to a trial** (param, attribute, intermediate value): one statement that checks the
  trial is not finished and writes; :meth:`deferred_writes` gathers the writes of a block (a
  trial's params and user attributes) into one statement at the end of the block.
* **Finish a trial**: one ``UPDATE ... WHERE state IN (RUNNING, WAITING)`` with the values in the
  same statement. Each of these commits on its own, durably (``synchronous_commit`` as the
  server has it): a finished trial is on disk when ``tell`` returns.
* **Read trials**: a trial with all its rows in one statement; a study's trials through an
  incremental cache (:mod:`hpo.storage.trial_cache`), so samplers read only new and unfinished
  trials; RUNNING trials this process writes are kept write-through and read back for free.

When a statement finds nothing to write (no such trial, a finished one), the stock method runs
instead, so errors are exactly Optuna's (``KeyError``, ``UpdateFinishedTrialError``).

Thread safety: one instance serves every thread of a process (caches under a lock). Optuna wraps
any ``RDBStorage`` in its ``_CachedStorage`` when given one; ``DirectStorage`` (``direct.py``) is
the same storage behind a view Optuna does not wrap (``hpo.storage.optuna_storage`` builds it,
``hpo.study_setup`` uses it), so the caches here are the only ones.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.storages._rdb.models import NOT_FOUND_MSG
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hpo.storage import sql
from hpo.storage.base import StudyStorage
from hpo.storage.budget import BudgetTaken, SlotCounts, TrialBudget
from hpo.storage.indexes import ensure_store_indexes
from hpo.storage.statements import StatementRunner
from hpo.storage.trial_cache import FinishedTrials, OwnedTrials, StudyTrials
from hpo.storage.trial_rows import (
    as_stored,
    children_params,
    clone,
    distribution,
    frozen_trial,
    local_naive,
    round_trip,
    to_json,
    utc_naive,
    values_params,
)

_UNFINISHED = frozenset({TrialState.RUNNING, TrialState.WAITING})
_CACHE_ATTRS = (
    "_lock",
    "_owned",
    "_finished",
    "_studies",
    "_directions",
    "_param_dists",
    "_deferred",
    "_started",
    "_statements",
    "_local",
)


@dataclass
class _Pending:
    """Writes to one trial held until the end of a :meth:`FastRDBStorage.deferred_writes`."""

    params: dict[str, tuple[float, str]] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.params or self.user_attrs or self.system_attrs or self.intermediate)


class FastRDBStorage(StudyStorage):
    """Optuna's :class:`~optuna.storages.RDBStorage` for PostgreSQL with fewer, cheaper
    statements per trial (see the module doc). Takes the arguments of ``RDBStorage``, and
    ``ensure_indexes`` (default True): create the indexes it relies on
    (:mod:`hpo.storage.indexes`) when missing."""

    def __init__(
        self,
        url: str,
        engine_kwargs: dict[str, Any] | None = None,
        skip_compatibility_check: bool = False,
        *,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
        skip_table_creation: bool = False,
        ensure_indexes: bool = True,
    ) -> None:
        super().__init__(
            url,
            engine_kwargs,
            skip_compatibility_check,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=heartbeat_stale_trial_callback,
            skip_table_creation=skip_table_creation,
        )
        if self.engine.dialect.name != "postgresql":
            raise ValueError(
                f"FastRDBStorage needs PostgreSQL, but got a {self.engine.dialect.name!r} URL; "
                "use optuna.storages.RDBStorage for other databases"
            )
        self._init_caches()
        if ensure_indexes:
            ensure_store_indexes(self.engine)

    def _init_caches(self) -> None:
        self._lock = threading.Lock()
        self._owned = OwnedTrials()
        self._finished = FinishedTrials()
        self._studies: dict[int, StudyTrials] = {}
        self._directions: dict[int, list[StudyDirection]] = {}
        self._param_dists: dict[tuple[int, str], BaseDistribution] = {}
        self._deferred: dict[int, _Pending] = {}
        self._started: set[int] = set()  # WAITING trials this process made RUNNING
        self._statements = StatementRunner(self.engine)
        self._local = threading.local()  # .budget: the TrialBudget of this thread, if any

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for name in _CACHE_ATTRS:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._init_caches()

    creates_trials_within_budget = True

    @property
    def records_first_heartbeat(self) -> bool:
        """A RUNNING trial this storage creates or starts has a heartbeat from that moment (so a
        worker that dies before its heartbeat thread beats is still detected)."""
        return self.heartbeat_interval is not None

    @contextmanager
    def trial_budget(self, budget: TrialBudget) -> Iterator[None]:
        """Inside the block, this thread creates or starts trials of ``budget.study_id`` only
        within the budget; ``study.ask()`` raises :class:`~hpo.storage.budget.BudgetTaken`
        otherwise (see :mod:`hpo.storage.budget`)."""
        previous = getattr(self._local, "budget", None)
        self._local.budget = budget
        try:
            yield
        finally:
            self._local.budget = previous

    def _budget(self, study_id: int) -> TrialBudget | None:
        budget: TrialBudget | None = getattr(self._local, "budget", None)
        return budget if budget is not None and budget.study_id == study_id else None

    # -- statements ---------------------------------------------------------------------------

    def _run(self, statement: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        """One statement in its own transaction (autocommit: a write is durable on return)."""
        try:
            return self._statements.run(statement, params)
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise optuna.exceptions.StorageInternalError(
                f"the study store failed a statement ({type(exc).__name__})"
            ) from exc

    def _run_script(self, script: str) -> Sequence[Any]:
        """Several statements sent as one message (one round trip, one transaction); the rows
        of the last one."""
        try:
            return self._statements.run(script, None)
        except SQLAlchemyError as exc:
            raise optuna.exceptions.StorageInternalError(
                f"the study store failed a statement ({type(exc).__name__})"
            ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (IntegrityError, KeyError, ValueError):
            raise
        except SQLAlchemyError as exc:
            raise optuna.exceptions.StorageInternalError(
                f"the study store failed a transaction ({type(exc).__name__})"
            ) from exc

    def _raise_not_updatable(self, trial_id: int) -> None:
        """Raise what stock Optuna raises for a write to ``trial_id`` that is not possible."""
        rows = self._run(sql.TRIAL_STUDY_AND_STATE, {"tid": trial_id})
        if not rows:
            raise KeyError(NOT_FOUND_MSG)
        self.check_trial_is_updatable(trial_id, TrialState[rows[0][1]])
        raise optuna.exceptions.StorageInternalError(
            f"trial id {trial_id} changed state while being written; try again"
        )

    # -- studies ------------------------------------------------------------------------------

    def delete_study(self, study_id: int) -> None:
        super().delete_study(study_id)
        with self._lock:
            self._studies.pop(study_id, None)
            self._directions.pop(study_id, None)
            self._owned.drop_study(study_id)
            self._finished.drop_study(study_id)
            for key in [k for k in self._param_dists if k[0] == study_id]:
                del self._param_dists[key]

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        cached = self._directions.get(study_id)
        if cached is None:
            rows = self._run(sql.STUDY_DIRECTIONS, {"sid": study_id})
            if not rows:
                raise KeyError(NOT_FOUND_MSG)
            cached = [StudyDirection[d] for _, d in rows if d is not None]
            with self._lock:
                self._directions[study_id] = cached
        return list(cached)

    # -- creating trials ----------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return self._create_new_trial(study_id, template_trial)._trial_id

    def _create_new_trial(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> FrozenTrial:
        if template_trial is None:
            return self._create_running_trial(study_id)
        return self._create_from_template(study_id, template_trial)

    def _create_running_trial(self, study_id: int) -> FrozenTrial:
        start = utc_naive(datetime.now())
        budget = self._budget(study_id)
        if budget is not None and not budget.create:
            raise BudgetTaken(f"no WAITING trial left in study id {study_id}")
        script = sql.create_trial_script(
            study_id,
            start,
            heartbeat=self.records_first_heartbeat,
            budget=budget,
            grace_s=self._grace_s(),
        )
        created = self._run_script(script)[0]
        if not created[2]:
            raise KeyError(NOT_FOUND_MSG)
        if created[0] is None:
            counts = SlotCounts(*(int(v) for v in created[3:]))
            raise BudgetTaken(f"no trial created in study id {study_id}: {counts}", counts)
        trial_id, number = int(created[0]), int(created[1])
        trial = FrozenTrial(
            number=number,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=local_naive(start),
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=trial_id,
        )
        with self._lock:
            self._owned.add(study_id, trial)
        return clone(trial)

    def _create_from_template(self, study_id: int, template: FrozenTrial) -> FrozenTrial:
        internal: dict[str, tuple[float, str]] = {}
        for name, value in template.params.items():
            dist = template.distributions[name]
            known = self._known_distribution(study_id, name)
            if known is not None:
                check_distribution_compatibility(known, dist)
            internal[name] = (dist.to_internal_repr(value), to_json(dist))
        children = children_params(
            internal, template.user_attrs, template.system_attrs, template.intermediate_values
        )
        extra = _child_ctes(children)
        values = template.values
        if values is not None:
            children.update(values_params(values))
            extra += sql.VALUES_CTE
        if template.state == TrialState.RUNNING and self.records_first_heartbeat:
            extra += sql.HEARTBEAT_CTE
        start, complete = template.datetime_start, template.datetime_complete
        params = {
            "sid": study_id,
            "state": template.state.name,
            "start": utc_naive(start) if start is not None else None,
            "complete": utc_naive(complete) if complete is not None else None,
            **children,
        }
        trial_id, number = self._insert_trial(study_id, extra, params)
        trial = FrozenTrial(
            number=number,
            state=template.state,
            value=None,
            values=[float(v) for v in values] if values is not None else None,
            datetime_start=local_naive(params["start"]),
            datetime_complete=local_naive(params["complete"]),
            params={
                n: round_trip(template.distributions[n]).to_external_repr(v)
                for n, (v, _) in internal.items()
            },
            distributions={n: round_trip(template.distributions[n]) for n in internal},
            user_attrs=as_stored(template.user_attrs),
            system_attrs=as_stored(template.system_attrs),
            intermediate_values={int(s): float(v) for s, v in template.intermediate_values.items()},
            trial_id=trial_id,
        )
        with self._lock:
            for name, dist in trial.distributions.items():
                self._param_dists.setdefault((study_id, name), dist)
            if trial.state.is_finished():
                self._finished.add(study_id, trial)
            elif trial.state == TrialState.RUNNING:
                self._owned.add(study_id, trial)
        return clone(trial)

    def _insert_trial(self, study_id: int, extra: str, params: dict[str, Any]) -> tuple[int, int]:
        """Insert a trial (with the rows ``extra`` writes) numbered after the study's last one,
        under the study row lock."""
        with self._transaction() as conn:
            if conn.exec_driver_sql(sql.LOCK_STUDY, {"sid": study_id}).first() is None:
                raise KeyError(NOT_FOUND_MSG)
            row = conn.exec_driver_sql(sql.INSERT_TRIAL.format(extra=extra), params).one()
        return int(row[0]), int(row[1])

    # -- writing to trials --------------------------------------------------------------------

    @contextmanager
    def deferred_writes(self, trial_id: int) -> Iterator[None]:
        """Hold the writes to ``trial_id`` made inside the block (params, user and system
        attributes, intermediate values) and write them in one statement when it ends, also when
        it raises. Reads inside the block see them. Nested blocks write at the outer end."""
        with self._lock:
            if trial_id in self._deferred:
                nested = True
            else:
                nested = False
                self._deferred[trial_id] = _Pending()
        if nested:
            yield
            return
        try:
            yield
        finally:
            with self._lock:
                pending = self._deferred.pop(trial_id)
            if pending:
                self._write_children(trial_id, pending)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._set_trial_param(trial_id, param_name, param_value_internal, distribution, None)

    def _set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
        previous_distribution: BaseDistribution | None,
    ) -> None:
        owned = self._owned.get(trial_id)
        if owned is not None:
            study_id = owned[0]
        else:
            rows = self._run(sql.TRIAL_STUDY_AND_STATE, {"tid": trial_id})
            if not rows:
                raise KeyError(NOT_FOUND_MSG)
            study_id = int(rows[0][0])
            self.check_trial_is_updatable(trial_id, TrialState[rows[0][1]])
        known = previous_distribution or self._known_distribution(study_id, param_name)
        if known is not None:
            try:
                check_distribution_compatibility(known, distribution)
            except ValueError:
                if owned is not None:  # the state is checked first, as Optuna does
                    rows = self._run(sql.TRIAL_STUDY_AND_STATE, {"tid": trial_id})
                    if rows:
                        self.check_trial_is_updatable(trial_id, TrialState[rows[0][1]])
                raise
        with self._lock:
            self._param_dists.setdefault((study_id, param_name), distribution)
        pending = _Pending(params={param_name: (param_value_internal, to_json(distribution))})
        self._write_children(trial_id, pending)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._write_children(trial_id, _Pending(intermediate={step: intermediate_value}))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write_children(trial_id, _Pending(user_attrs={key: value}))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write_children(trial_id, _Pending(system_attrs={key: value}))

    def _write_children(self, trial_id: int, writes: _Pending) -> None:
        """Write (or, inside :meth:`deferred_writes`, hold) ``writes`` to the trial and keep an
        owned copy in step."""
        with self._lock:
            held = self._deferred.get(trial_id)
            if held is not None:
                held.params.update(writes.params)
                held.user_attrs.update(writes.user_attrs)
                held.system_attrs.update(writes.system_attrs)
                held.intermediate.update(writes.intermediate)
                self._apply_to_owned(trial_id, writes)
                return
        params = children_params(
            writes.params, writes.user_attrs, writes.system_attrs, writes.intermediate
        )
        new_params = "(SELECT count(*) FROM w_params)" if writes.params else "0"
        statement = (
            sql.UPDATABLE_CTE + _child_ctes(params) + sql.WRITE_RESULT.format(params=new_params)
        )
        rows = self._run(statement, {"tid": trial_id, **params})
        updatable, inserted = int(rows[0][0]), int(rows[0][1])
        with self._lock:
            if updatable == 0 or inserted != len(writes.params):
                self._owned.drop(trial_id)  # refused, or a param that existed: re-read it
            else:
                self._apply_to_owned(trial_id, writes)
        if updatable == 0:
            self._raise_not_updatable(trial_id)

    def _apply_to_owned(self, trial_id: int, writes: _Pending) -> None:
        """Mirror ``writes`` into the owned copy of the trial (caller holds the lock)."""
        owned = self._owned.get(trial_id)
        if owned is None:
            return
        trial = owned[1]
        for name, (value, dist_json) in writes.params.items():
            if name in trial.distributions:
                continue  # the row exists and is kept (ON CONFLICT DO NOTHING)
            dist = distribution(dist_json)
            trial.distributions[name] = dist
            trial.params[name] = dist.to_external_repr(value)
        for key, attr in writes.user_attrs.items():
            trial.user_attrs[key] = as_stored(attr)
        for key, attr in writes.system_attrs.items():
            trial.system_attrs[key] = as_stored(attr)
        for step, value in writes.intermediate.items():
            trial.intermediate_values[int(step)] = float(value)

    def _known_distribution(self, study_id: int, name: str) -> BaseDistribution | None:
        """The distribution ``name`` has in the study, if any trial has it (cached)."""
        found = self._param_dists.get((study_id, name))
        if found is None:
            rows = self._run(sql.PARAM_DISTRIBUTION, {"sid": study_id, "name": name})
            if rows:
                found = distribution(str(rows[0][0]))
                with self._lock:
                    self._param_dists.setdefault((study_id, name), found)
        return found

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        starting = state == TrialState.RUNNING and values is None
        if not starting:
            # Held writes go first. Not when starting a WAITING trial: writes held for it then
            # belong to the thread that already started it (this start will fail), whose
            # deferred block writes them when it ends.
            with self._lock:
                pending = self._deferred.pop(trial_id, None)
            if pending:
                self._write_children(trial_id, pending)
        if starting:
            if self._start_waiting_trial(trial_id):
                with self._lock:
                    self._started.add(trial_id)
                return True
            if getattr(self._local, "budget", None) is not None:
                return False  # taken by another worker, or no slot left
        elif state.is_finished():
            complete = utc_naive(datetime.now())
            params: dict[str, Any] = {"tid": trial_id, "state": state.name, "complete": complete}
            extra = ""
            if values is not None:
                params.update(values_params(values))
                extra = sql.VALUES_CTE
            rows = self._run(sql.FINISH_TRIAL.format(extra=extra), params)
            if int(rows[0][0]) == 1:
                self._finished_by_us(trial_id, state, values, complete)
                return True
        with self._lock:
            self._owned.drop(trial_id)
        # Nothing written: a missing or finished trial (stock Optuna raises), a trial already
        # RUNNING (it returns False), or a transition this storage leaves to the stock code.
        return super().set_trial_state_values(trial_id, state, values)

    def _start_waiting_trial(self, trial_id: int) -> bool:
        """WAITING -> RUNNING (within the thread's budget, if any); False if nothing changed."""
        extra = sql.HEARTBEAT_CTE if self.records_first_heartbeat else ""
        params: dict[str, Any] = {"tid": trial_id, "start": utc_naive(datetime.now())}
        budget: TrialBudget | None = getattr(self._local, "budget", None)
        if budget is None:
            rows = self._run(sql.START_WAITING_TRIAL.format(extra=extra), params)
            return int(rows[0][0]) == 1
        script = sql.start_waiting_script(
            trial_id,
            budget.study_id,
            params["start"],
            heartbeat=self.records_first_heartbeat,
            lock=budget.lock,
            n_trials=budget.n_trials,
        )
        return int(self._run_script(script)[0][0]) == 1

    def _finished_by_us(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None, complete: datetime
    ) -> None:
        with self._lock:
            owned = self._owned.drop(trial_id)
            self._started.discard(trial_id)
            if owned is None:
                return
            study_id, trial = owned
            final = clone(trial)
            final.state = state
            final.values = [float(v) for v in values] if values is not None else None
            final.datetime_complete = local_naive(complete)
            self._finished.add(study_id, final)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self._run(sql.RECORD_HEARTBEAT, {"tid": trial_id})
        except IntegrityError:
            pass  # no such trial: stock Optuna ignores it too

    def _grace_s(self) -> float | None:
        """Seconds without a heartbeat after which a RUNNING trial is stale (None: no
        heartbeats), as stock Optuna computes it."""
        if self.heartbeat_interval is None:
            return None
        return float(self.grace_period or 2 * self.heartbeat_interval)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace = self._grace_s()
        assert grace is not None
        rows = self._run(sql.STALE_TRIALS, {"sid": study_id, "grace": grace})
        return [int(r[0]) for r in rows]

    # -- reading trials -----------------------------------------------------------------------

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            owned = self._owned.read(trial_id)
            if owned is not None:
                return owned
            finished = self._finished.get(trial_id)
            if finished is not None:
                return finished
            for cache in self._studies.values():
                known = cache.finished.get(trial_id)
                if known is not None:
                    return known
        rows = self._run(sql.GET_TRIAL, {"tid": trial_id})
        if not rows:
            raise KeyError(NOT_FOUND_MSG)
        study_id = int(rows[0][0])
        trial = frozen_trial(rows[0], offset=1)
        with self._lock:
            if trial.state.is_finished():
                self._finished.add(study_id, trial)
            elif trial.state == TrialState.RUNNING and trial_id in self._started:
                self._started.discard(trial_id)
                self._owned.add(study_id, trial)
                return clone(trial)
        return trial

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        return copy.deepcopy(self.get_trial(trial_id).user_attrs)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        return copy.deepcopy(self.get_trial(trial_id).system_attrs)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        if states is not None:
            wanted = [s for s in TrialState if s in states]
            if _UNFINISHED.issuperset(wanted):  # RUNNING / WAITING: few, never cached
                budget = self._budget(study_id)
                if wanted == [TrialState.WAITING] and budget is not None and budget.skip_waiting:
                    return []
                return self._trials_in_states(study_id, wanted)
        cache = self._study_cache(study_id)
        with cache.lock:
            params = {"sid": study_id, "wm": cache.watermark, "pending": sorted(cache.pending)}
            rows = self._run(sql.TRIALS_SINCE, params)
            cache.apply(_study_rows(rows))
            trials = cache.snapshot(states)
        return copy.deepcopy(trials) if deepcopy else trials

    def _trials_in_states(self, study_id: int, states: list[TrialState]) -> list[FrozenTrial]:
        """The study's trials in ``states`` (few: RUNNING, WAITING), read afresh: their ids in
        one cheap statement, then, if any, the trials."""
        names = [s.name for s in states]
        rows = self._run(sql.TRIAL_IDS_IN_STATES, {"sid": study_id, "states": names})
        if not rows:
            raise KeyError(NOT_FOUND_MSG)
        ids = [int(r[1]) for r in rows if r[1] is not None]
        if not ids:
            return []
        found = [frozen_trial(r, offset=1) for r in self._run(sql.TRIALS_BY_IDS, {"ids": ids})]
        return sorted((t for t in found if t.state in states), key=lambda t: t.number)

    def _study_cache(self, study_id: int) -> StudyTrials:
        with self._lock:
            cache = self._studies.get(study_id)
            if cache is None:
                cache = self._studies[study_id] = StudyTrials()
            return cache

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        """What Optuna's ``_CachedStorage`` reads through (when it wraps this storage)."""
        included = sorted(i for i in included_trial_ids if i <= trial_id_greater_than)
        names = [s.name for s in TrialState if states is not None and s in states]
        params = {
            "sid": study_id,
            "gt": trial_id_greater_than,
            "inc": included,
            "any_state": states is None,
            "states": names,
        }
        rows = self._run(sql.TRIALS_AFTER_ID, params)
        return sorted(_study_rows(rows), key=lambda t: t._trial_id)

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        if isinstance(state, TrialState):
            state = (state,)
        names = [s.name for s in state] if state is not None else []
        rows = self._run(
            sql.N_TRIALS, {"sid": study_id, "any_state": state is None, "states": names}
        )
        if not rows:
            raise KeyError(NOT_FOUND_MSG)
        return int(rows[0][0])

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        rows = self._run(sql.TRIAL_ID_BY_NUMBER, {"sid": study_id, "number": trial_number})
        if not rows:
            raise KeyError(
                f"No trial with trial number {trial_number} "
                f"exists in study with study_id {study_id}."
            )
        return int(rows[0][0])


def _child_ctes(params: dict[str, Any]) -> str:
    """The child-row CTEs for the statement parameters :func:`children_params` built."""
    return (
        (sql.PARAMS_CTE if "p_names" in params else "")
        + (sql.USER_ATTRS_CTE if "u_keys" in params else "")
        + (sql.SYSTEM_ATTRS_CTE if "s_keys" in params else "")
        + (sql.INTERMEDIATE_CTE if "i_steps" in params else "")
    )


def _study_rows(rows: list[Sequence[Any]]) -> list[FrozenTrial]:
    """Trials of a :func:`hpo.storage.sql.study_trials` result; KeyError when the study does not
    exist (no row)."""
    if not rows:
        raise KeyError(NOT_FOUND_MSG)
    return [frozen_trial(row, offset=1) for row in rows if row[1] is not None]
