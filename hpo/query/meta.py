"""What every query needs to know about a study first, in one indexed round trip: its id, its
directions, how many trials it has, and the distributions of the params a query filters on."""

from __future__ import annotations

from dataclasses import dataclass

from optuna.distributions import BaseDistribution
from sqlalchemy import Connection, text

from hpo.errors import StoreStateError
from hpo.query.records import TRIAL_ID_BUCKET, distribution

_META_SQL = text(
    """
    SELECT s.study_id,
           ARRAY(SELECT CAST(d.direction AS text) FROM study_directions d
                 WHERE d.study_id = s.study_id ORDER BY d.objective) AS directions,
           (SELECT max(t.number) FROM trials t WHERE t.study_id = s.study_id) AS last_number,
           (SELECT min(t.trial_id) FROM trials t WHERE t.study_id = s.study_id) AS first_id,
           (SELECT max(t.trial_id) FROM trials t WHERE t.study_id = s.study_id) AS last_id,
           CASE WHEN :with_buckets THEN ARRAY(
               -- The trial-id buckets holding the study's trials: a loose index scan, one
               -- probe of ix_hpo_trials_study_trial per bucket, stopped past the cap.
               WITH RECURSIVE b(bucket) AS (
                   SELECT (SELECT min(t.trial_id) FROM trials t
                           WHERE t.study_id = s.study_id) / {bucket}
                   UNION ALL
                   SELECT (SELECT min(t.trial_id) FROM trials t
                           WHERE t.study_id = s.study_id
                             AND t.trial_id >= (b.bucket + 1) * {bucket}) / {bucket}
                   FROM b WHERE b.bucket IS NOT NULL)
               SELECT b.bucket FROM b WHERE b.bucket IS NOT NULL LIMIT :max_buckets + 1)
           END AS buckets,
           ARRAY(SELECT (SELECT p.distribution_json
                         FROM trials t JOIN trial_params p ON p.trial_id = t.trial_id
                         WHERE t.study_id = s.study_id AND p.param_name = n.name LIMIT 1)
                 FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS n(name, i)
                 ORDER BY n.i) AS dists
    FROM studies s WHERE s.study_name = :study_name
    """.replace("{bucket}", str(TRIAL_ID_BUCKET))
)

_PARAM_NAMES_SQL = text(
    """
    SELECT DISTINCT p.param_name FROM trial_params p
    WHERE p.trial_id IN (SELECT t.trial_id FROM trials t WHERE t.study_id = :sid
                         ORDER BY t.number DESC LIMIT 1000)
    ORDER BY p.param_name
    """
)


@dataclass(frozen=True)
class StudyMeta:
    study_id: int
    study_name: str
    directions: tuple[str, ...]
    n_trials: int
    distributions: dict[str, BaseDistribution | None]
    first_id: int | None = None
    last_id: int | None = None
    buckets: tuple[int, ...] | None = None  # None: not asked for

    @property
    def maximize(self) -> bool:
        return bool(self.directions) and self.directions[0] == "MAXIMIZE"

    @property
    def id_share(self) -> float:
        """The study's share of the trial ids in its id range (1.0: no other study's trials
        in between; lower when studies ran at the same time)."""
        if self.first_id is None or self.last_id is None:
            return 1.0
        return self.n_trials / (self.last_id - self.first_id + 1)


def study_meta(
    conn: Connection,
    study_name: str,
    param_names: tuple[str, ...] = (),
    *,
    max_buckets: int | None = None,
) -> StudyMeta:
    """The study's :class:`StudyMeta` (with its trial-id buckets, up to ``max_buckets + 1`` of
    them, when ``max_buckets`` is given), or :class:`StoreStateError` for an unknown study."""
    binds = {
        "study_name": study_name,
        "names": list(param_names),
        "with_buckets": max_buckets is not None,
        "max_buckets": max_buckets or 0,
    }
    row = conn.execute(_META_SQL, binds).first()
    if row is None:
        raise StoreStateError(
            f"no study named {study_name!r} in the study store",
            fix="list the studies with `hpo studies list`",
        )
    m = row._mapping
    last_number = m["last_number"]
    return StudyMeta(
        study_id=int(m["study_id"]),
        study_name=study_name,
        directions=tuple(m["directions"]),
        n_trials=int(last_number) + 1 if last_number is not None else 0,
        distributions={
            name: distribution(raw) if raw else None
            for name, raw in zip(param_names, m["dists"], strict=True)
        },
        first_id=m["first_id"],
        last_id=m["last_id"],
        buckets=tuple(m["buckets"]) if m["buckets"] is not None else None,
    )


def param_names(conn: Connection, study_id: int) -> list[str]:
    """Names of the params of the study's latest 1,000 trials (for error messages)."""
    return list(conn.execute(_PARAM_NAMES_SQL, {"sid": study_id}).scalars())
