"""Trial counts of a study by name, read straight from the store (for the benchmarks' parents,
which hold no storage of their own)."""

from __future__ import annotations


def count_in_states(url: str, study_name: str, states: tuple[str, ...]) -> int:
    """How many trials of ``study_name`` are in ``states`` (``'COMPLETE'``, ``'PRUNED'``, ...)."""
    import psycopg

    from hpo.store import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM trials t JOIN studies s USING (study_id) "
            "WHERE s.study_name = %s AND t.state::text = ANY(%s)",
            (study_name, list(states)),
        ).fetchone()
    return int(row[0]) if row else 0
