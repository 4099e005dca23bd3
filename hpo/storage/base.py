"""``StudyStorage``: the one store type the rest of ``hpo`` talks to (storage layer).

It is Optuna's ``RDBStorage`` (same tables, same rows, same behaviour; ``HPO_DATABASE_FAST_STORE
=false`` runs exactly this class) plus the questions callers ask of a store, answered here so
that no caller checks which class it got:

* :attr:`creates_trials_within_budget`: whether :meth:`trial_budget` works, i.e. the store counts
  and creates a trial in one statement under the claim lock (``hpo.claims`` then holds the lock
  for that statement only; otherwise for its whole claim).
* :attr:`records_first_heartbeat`: whether a trial gets its first heartbeat when it is created or
  started (``hpo.workers.heartbeat`` then skips its own first beat).
* :meth:`deferred_writes`: writes to one trial inside a block go out in one statement (here: as
  they come).

:class:`~hpo.storage.fast_rdb.FastRDBStorage` is the fast implementation. Build either through
``hpo.store.get_storage()``; hand Optuna ``hpo.storage.optuna_storage(storage)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from optuna.storages import RDBStorage

from hpo.storage.budget import TrialBudget


class StudyStorage(RDBStorage):
    """Optuna's ``RDBStorage`` with the capability answers of the module doc (all: no)."""

    creates_trials_within_budget: bool = False

    @property
    def records_first_heartbeat(self) -> bool:
        return False

    @contextmanager
    def trial_budget(self, budget: TrialBudget) -> Iterator[None]:
        """Create trials within ``budget`` only; needs :attr:`creates_trials_within_budget`."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot create trials within a budget; "
            "claim under the lock instead (hpo.claims)"
        )
        yield  # pragma: no cover - a generator, for @contextmanager

    @contextmanager
    def deferred_writes(self, trial_id: int) -> Iterator[None]:
        """Writes inside the block go out as they come (one statement per write)."""
        yield
