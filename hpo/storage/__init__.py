"""The fast study store: Optuna's RDB storage with fewer, cheaper statements per trial.

* :class:`StudyStorage` (``base.py``): the store type callers talk to: Optuna's ``RDBStorage``
  plus the capability answers callers need (no class checks outside this package).
* :class:`FastRDBStorage` (``fast_rdb.py``): the fast ``StudyStorage`` for PostgreSQL; same tables
  and rows, one statement per storage call, incremental trial caches.
* :class:`DirectStorage` (``direct.py``): the same storage behind a view Optuna does not wrap in
  its own ``_CachedStorage``.
* :func:`optuna_storage`: what to hand to ``optuna.create_study`` / ``load_study`` for a storage
  built by :func:`hpo.store.get_storage` (the direct view of a fast storage, else the storage).
* :func:`deferred_writes`: write a trial's params and attributes set inside a block in one
  statement (a no-op on other storages).

``hpo.store`` builds a ``FastRDBStorage`` when ``HPO_DATABASE_FAST_STORE`` is true, else a plain
``StudyStorage``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import optuna

from hpo.storage.base import StudyStorage
from hpo.storage.direct import DirectStorage
from hpo.storage.fast_rdb import FastRDBStorage

__all__ = ["DirectStorage", "FastRDBStorage", "StudyStorage", "deferred_writes", "optuna_storage"]


def optuna_storage(storage: optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """The storage to pass to Optuna: the direct view of a :class:`FastRDBStorage` (a view
    holds no state, so a new one each time is the same storage)."""
    if isinstance(storage, FastRDBStorage):
        return DirectStorage(storage)
    return storage


@contextmanager
def deferred_writes(storage: optuna.storages.BaseStorage, trial_id: int) -> Iterator[None]:
    """Inside the block, writes to ``trial_id`` through a fast storage (or its direct view) are
    held and written in one statement when the block ends; other storages write as usual."""
    if isinstance(storage, DirectStorage):
        storage = storage.backend
    if isinstance(storage, StudyStorage):  # else Optuna's own wrapper of a stock storage
        with storage.deferred_writes(trial_id):
            yield
    else:
        yield
