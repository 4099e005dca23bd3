"""The indexes the query API (``hpo.query``) relies on, added to Optuna's tables once per process
(storage layer: ``hpo.store`` creates them, ``hpo.query`` reads through them).

Optuna indexes ``trials`` by ``study_id`` only and ``trial_values`` by ``trial_id``; the queries
of :mod:`hpo.query` need three more (measured in ``docs/query-benchmark.md``):

* ``ix_hpo_trials_study_number`` (study_id, number) INCLUDE (state): pages by number walk it
  and stop after the page; the study's trial count is its last entry.
* ``ix_hpo_trials_study_trial`` (study_id, trial_id) INCLUDE (state): a study's trial-id range
  and buckets in a few probes, counts by state as index-only scans (``hpo.claims`` counts on
  every claim, too).
* ``ix_hpo_trial_values_bucket`` (objective, trial-id bucket, value key) INCLUDE (trial_id,
  value_type, value): each bucket of trial ids in value order, the runs that the best trial and
  pages by value merge (see ``hpo.query.trials``).

A changed definition needs a new name: existing indexes are found by name.

They are plain B-tree indexes: stock Optuna, its migrations (``optuna storage upgrade``) and
optuna-dashboard ignore them. :func:`ensure_query_indexes` runs from
``hpo.store._build_storage`` under the store-wide schema advisory lock, so concurrent first
runs build each index once. It looks in the catalog first and only creates what is missing (a
``CREATE INDEX`` takes a lock that pauses writers while it builds, a few seconds on a store of
millions of trials, once). A store where the indexes cannot be created (a role that does not
own the tables, a lock not granted within ``lock_timeout``) still works: queries are then
correct but slower, and a warning says so.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from hpo.storage.indexes import create_index

#: A trial value as one sortable float (NULL when the trial has no value). The expression index
#: ``ix_hpo_trial_values_bucket`` (below) is built on this very expression,
#: so ordering by it walks the index.
VALUE_KEY = (
    "CASE {v}value_type WHEN 'FINITE' THEN {v}value "
    "WHEN 'INF_POS' THEN CAST('Infinity' AS double precision) "
    "WHEN 'INF_NEG' THEN CAST('-Infinity' AS double precision) END"
)


def value_key(alias: str | None = "v") -> str:
    """:data:`VALUE_KEY` on the ``trial_values`` row ``alias`` (None: unqualified columns)."""
    return VALUE_KEY.format(v=f"{alias}." if alias else "")


#: Trial ids are grouped in buckets of this many consecutive ids; ``ix_hpo_trial_values_bucket``
#: orders each bucket's values, so one study's values are a few ordered runs (its trials' ids
#: come from one sequence, so a study occupies few buckets). Part of that index's definition.
TRIAL_ID_BUCKET = 32_768


def bucket_of(alias: str | None = "v") -> str:
    """The bucket of a row's ``trial_id``, as the bucket index spells it."""
    return f"({alias + '.' if alias else ''}trial_id / {TRIAL_ID_BUCKET})"


INDEXES: dict[str, str] = {
    "ix_hpo_trials_study_number": "ON trials (study_id, number) INCLUDE (state)",
    "ix_hpo_trials_study_trial": "ON trials (study_id, trial_id) INCLUDE (state)",
    "ix_hpo_trial_values_bucket": (
        f"ON trial_values (objective, {bucket_of(None)}, ({value_key(None)})) "
        "INCLUDE (trial_id, value_type, value)"
    ),
}

_MISSING_SQL = text(
    "SELECT name FROM unnest(CAST(:names AS text[])) AS name WHERE to_regclass(name) IS NULL"
)


def ensure_query_indexes(engine: Engine, *, lock_timeout_s: float = 10.0) -> list[str]:
    """Create the :data:`INDEXES` that do not exist yet; returns the names created."""
    with engine.connect() as conn:
        missing = list(conn.execute(_MISSING_SQL, {"names": list(INDEXES)}).scalars())
    return [
        name
        for name in missing
        if create_index(
            engine,
            name,
            INDEXES[name],
            what_slows="study queries",
            lock_timeout_s=lock_timeout_s,
        )
    ]
