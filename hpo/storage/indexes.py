"""The indexes :class:`~hpo.storage.fast_rdb.FastRDBStorage` relies on, added to Optuna's tables.

Optuna indexes ``trials`` by ``study_id`` only. The fast storage needs two more, so that its
per-trial statements cost the same at 100,000 trials as at 1,000:

* ``(study_id, number)``: a new trial's number is the study's last number plus one (an index
  probe, where stock Optuna counts every earlier trial of the study), the incremental trial
  cache reads "numbered above the watermark", the budget count reads the last number.
* ``(study_id, state)``: the RUNNING, WAITING and FAIL trials of a study (stale heartbeats,
  WAITING trials handed out by ``study.ask()``, budget counts).

An index with these leading columns may already exist (``hpo.storage.query_indexes`` creates
both, with an INCLUDE column); then nothing is created. They are plain B-tree indexes: stock
Optuna, its migrations and optuna-dashboard ignore them. Creation is idempotent; ``hpo.store``
calls this under the store-wide schema advisory lock. A role that may not create them gets a
warning and a storage that stays correct, only slower on large studies.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger(__name__)

#: name -> leading columns of an index on ``trials``.
REQUIRED: dict[str, tuple[str, str]] = {
    "ix_hpo_store_trials_study_number": ("study_id", "number"),
    "ix_hpo_store_trials_study_state": ("study_id", "state"),
}

# Leading two key columns of every index on trials, by column name.
_EXISTING_SQL = text(
    """
    SELECT a1.attname, a2.attname
    FROM pg_index i
    JOIN pg_attribute a1 ON a1.attrelid = i.indrelid AND a1.attnum = i.indkey[0]
    JOIN pg_attribute a2 ON a2.attrelid = i.indrelid AND a2.attnum = i.indkey[1]
    WHERE i.indrelid = to_regclass('trials') AND i.indnkeyatts >= 2
    """
)


def missing_indexes(engine: Engine) -> list[str]:
    """Names of the :data:`REQUIRED` indexes no existing index covers."""
    with engine.connect() as conn:
        existing = {(str(a), str(b)) for a, b in conn.execute(_EXISTING_SQL)}
    return [name for name, columns in REQUIRED.items() if columns not in existing]


def create_index(
    engine: Engine, name: str, definition: str, *, what_slows: str, lock_timeout_s: float = 10.0
) -> bool:
    """``CREATE INDEX IF NOT EXISTS name definition`` with a lock timeout; False (and a warning
    that says what gets slower and the statement to run as the tables' owner) when the role may
    not create it or the table stays locked."""
    try:
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'"))
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} {definition}"))
    except DBAPIError as exc:
        detail = str(exc.orig or exc).strip().splitlines()[0]
        logger.warning(
            "index %s not created (%s): %s stay correct but get slower on large studies; "
            "create it as the tables' owner: CREATE INDEX %s %s",
            name,
            detail,
            what_slows,
            name,
            definition,
        )
        return False
    logger.info("created index %s", name)
    return True


def ensure_store_indexes(engine: Engine, *, lock_timeout_s: float = 10.0) -> list[str]:
    """Create the :data:`REQUIRED` indexes that no existing index covers; returns the names
    created."""
    return [
        name
        for name in missing_indexes(engine)
        if create_index(
            engine,
            name,
            f"ON trials ({', '.join(REQUIRED[name])})",
            what_slows="the fast store's statements",
            lock_timeout_s=lock_timeout_s,
        )
    ]
