"""The trial caches of :class:`~hpo.storage.fast_rdb.FastRDBStorage`.

:class:`StudyTrials`: a study's trials, read incrementally. A finished trial never changes (Optuna
refuses writes to it), so it is read once; each refresh reads only the trials numbered above the
watermark plus the unfinished ones below it (at most a few per worker). This is correct across
processes because trial creation in a study is serialised by a lock on the study row held until
commit (stock Optuna takes the same lock): the trials any snapshot sees are numbers ``0..m``, so
nothing can appear later below the watermark.

:class:`OwnedTrials`: the RUNNING trials this process created or started, kept write-through: every
write this process makes to them updates the copy, so reading one back (``Trial.__init__``,
``Study.tell``) costs no query. A write that the database refuses (another process finished the
trial: a stale-heartbeat claim) drops the copy, so a stale copy never outlives the next write.
Callers always get clones: nothing handed out is changed afterwards.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Container, Iterable

from optuna.trial import FrozenTrial, TrialState

from hpo.storage.trial_rows import clone


class StudyTrials:
    """One study's trials by number; finished ones are final, unfinished ones are replaced by
    fresher reads. Guarded by ``lock`` (held across a refresh, so refreshes of one study do not
    interleave)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_number: list[FrozenTrial | None] = []
        self.finished: dict[int, FrozenTrial] = {}  # by trial id
        self.pending: set[int] = set()  # unfinished trial ids numbered <= watermark
        self.watermark = -1  # every trial numbered <= watermark is known
        self._holes = 0

    def apply(self, trials: Iterable[FrozenTrial]) -> None:
        """Merge a refresh (trials numbered above the watermark and the pending ones)."""
        for trial in trials:
            trial_id, number = trial._trial_id, trial.number
            if trial_id in self.finished:
                continue  # already final; a concurrent older read must not undo it
            if number >= len(self.by_number):
                missing = number + 1 - len(self.by_number)
                self.by_number.extend([None] * missing)
                self._holes += missing
            if self.by_number[number] is None:
                self._holes -= 1
            self.by_number[number] = trial
            if trial.state.is_finished():
                self.finished[trial_id] = trial
                self.pending.discard(trial_id)
            else:
                self.pending.add(trial_id)
            self.watermark = max(self.watermark, number)

    def snapshot(self, states: Container[TrialState] | None) -> list[FrozenTrial]:
        """The trials in number order, optionally only those in ``states``."""
        if self._holes == 0 and states is None:
            return list(self.by_number)  # type: ignore[arg-type]  # no None: no holes
        return [
            t for t in self.by_number if t is not None and (states is None or t.state in states)
        ]


class OwnedTrials:
    """RUNNING trials this process writes, by trial id: ``(study_id, trial)``. Bounded: the
    least recently used beyond ``capacity`` are forgotten (then read from the database)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._trials: OrderedDict[int, tuple[int, FrozenTrial]] = OrderedDict()
        self._capacity = capacity

    def add(self, study_id: int, trial: FrozenTrial) -> None:
        self._trials[trial._trial_id] = (study_id, trial)
        self._trials.move_to_end(trial._trial_id)
        while len(self._trials) > self._capacity:
            self._trials.popitem(last=False)

    def get(self, trial_id: int) -> tuple[int, FrozenTrial] | None:
        return self._trials.get(trial_id)

    def read(self, trial_id: int) -> FrozenTrial | None:
        """A clone of the trial, or None when not owned."""
        found = self._trials.get(trial_id)
        return clone(found[1]) if found is not None else None

    def drop(self, trial_id: int) -> tuple[int, FrozenTrial] | None:
        return self._trials.pop(trial_id, None)

    def drop_study(self, study_id: int) -> None:
        for trial_id in [tid for tid, (sid, _) in self._trials.items() if sid == study_id]:
            del self._trials[trial_id]


class FinishedTrials:
    """Finished trials recently written or read, by trial id: ``(study_id, trial)`` (they never
    change). Bounded like :class:`OwnedTrials`."""

    def __init__(self, capacity: int = 4096) -> None:
        self._trials: OrderedDict[int, tuple[int, FrozenTrial]] = OrderedDict()
        self._capacity = capacity

    def add(self, study_id: int, trial: FrozenTrial) -> None:
        self._trials[trial._trial_id] = (study_id, trial)
        while len(self._trials) > self._capacity:
            self._trials.popitem(last=False)

    def get(self, trial_id: int) -> FrozenTrial | None:
        found = self._trials.get(trial_id)
        return found[1] if found is not None else None

    def drop_study(self, study_id: int) -> None:
        for trial_id in [tid for tid, (sid, _) in self._trials.items() if sid == study_id]:
            del self._trials[trial_id]
