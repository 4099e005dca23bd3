"""Trial budgets enforced where trials are created, under the study's claim lock.

Inside :meth:`FastRDBStorage.trial_budget`, ``study.ask()`` on that thread creates (or starts a
WAITING) trial only while fewer than ``n_trials`` slots are taken. The fast store does it in one
message to PostgreSQL, one transaction: take the claimers' advisory lock and the study row lock,
count, insert, commit. The count and the insert are atomic with respect to every other claimer
of the study (they take the same lock; stock claimers hold it around their own count and
``ask``), so a study never gets more than ``n_trials`` slots; and the lock is held only while the
server runs that message, not across client round trips nor while the sampler runs.

A slot is a trial that is neither FAIL nor WAITING (RUNNING, COMPLETE, PRUNED), as in
:mod:`hpo.claims`. The same message counts what a claimer needs to decide when it gets no trial
(:class:`SlotCounts`, on :class:`BudgetTaken`): a trial is created only if no slot limit is hit,
fewer than ``max_failed`` trials failed (when > 0), no RUNNING trial has a stale heartbeat (the
claimer fails those first) and, with ``skip_waiting``, no trial is WAITING (the claimer hands
those out first).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlotCounts:
    """What a claim counts, cheaply: a study's trials, and those RUNNING, FAIL, WAITING, and
    RUNNING with a stale heartbeat. ``total`` is the last trial number plus one (numbers are 0,
    1, 2, ...): a bound that does not split finished trials by state. Fields are named as in
    :class:`hpo.storage.counts.StateCounts`, the count by state."""

    total: int
    running: int
    fail: int
    waiting: int
    stale: int = 0

    @property
    def slots_taken(self) -> int:
        return self.total - self.fail - self.waiting


class BudgetTaken(Exception):  # noqa: N818 - a signal to the claimer, not an error to report
    """Raised from ``study.ask()`` inside a budget when no trial was created or started;
    ``counts`` says why (None: creating trials is not allowed, ``create=False``)."""

    def __init__(self, message: str, counts: SlotCounts | None = None) -> None:
        super().__init__(message)
        self.counts = counts


@dataclass(frozen=True)
class TrialBudget:
    """How trials of ``study_id`` may be created on this thread.

    ``lock``: the advisory lock key every claimer of the study takes (``pg_advisory_xact_lock``).
    ``create``: False to hand out WAITING trials only (the grid sampler), never create one.
    ``skip_waiting``: ``study.ask()`` does not look for WAITING trials, and no trial is created
    while any is WAITING (the claimer then asks again without it).
    ``max_failed``: no trial is created once this many failed (0: no limit).
    """

    study_id: int
    n_trials: int
    lock: tuple[int, int]
    create: bool = True
    skip_waiting: bool = False
    max_failed: int = 0
