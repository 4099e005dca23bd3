"""The duplicate-params audit of one study: finished trials that ran params an earlier trial ran.

Before issue 11 was fixed, W workers seeded alike repeated each other's points; this audit lets a
user find such studies. Two repeats are legitimate and counted apart, by the system attributes
Optuna itself writes:

* a **retry** (:data:`RETRY_ATTR`, ``failed_trial``: the number of the trial it re-runs) is the
  WAITING copy Optuna's ``RetryHeartbeatStaleTrialCallback`` adds when a worker died in the middle
  of a trial (:mod:`hpo.store` configures it); its ``retry_history`` lists every attempt;
* an **enqueued** trial (:data:`ENQUEUED_ATTR`, ``fixed_params``): a point the user or the service
  asked for (``study.enqueue_trial``: grid points, warm starts).

One query over the study's ``trial_params`` rows (a fingerprint per trial), no trial loaded into
Python.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, text

RETRY_ATTR = "failed_trial"
ENQUEUED_ATTR = "fixed_params"

_AUDIT_SQL = text(
    f"""
    WITH finished AS (
        SELECT t.trial_id,
               EXISTS (SELECT 1 FROM trial_system_attributes a
                       WHERE a.trial_id = t.trial_id AND a.key = '{RETRY_ATTR}') AS retry,
               EXISTS (SELECT 1 FROM trial_system_attributes a
                       WHERE a.trial_id = t.trial_id AND a.key = '{ENQUEUED_ATTR}') AS enqueued
        FROM trials t WHERE t.study_id = :sid AND t.state IN ('COMPLETE', 'PRUNED')),
    sampled AS (
        SELECT string_agg(p.param_name || '=' || CAST(p.param_value AS text), ','
                          ORDER BY p.param_name) AS point
        FROM finished f JOIN trial_params p ON p.trial_id = f.trial_id
        WHERE NOT f.retry AND NOT f.enqueued
        GROUP BY f.trial_id)
    SELECT (SELECT count(*) - count(DISTINCT point) FROM sampled),
           (SELECT count(*) FILTER (WHERE retry) FROM finished),
           (SELECT count(*) FILTER (WHERE enqueued AND NOT retry) FROM finished)
    """
)


class DuplicateAudit(BaseModel):
    """Finished trials of one study whose params repeat an earlier trial's, and the legitimate
    repeats counted apart."""

    model_config = ConfigDict(frozen=True)

    duplicates: int = Field(
        description="Finished trials whose params equal an earlier finished trial's (sampled "
        "trials only: retries and enqueued trials are not counted)."
    )
    retries: int = Field(description=f"Finished retries (system attribute `{RETRY_ATTR}`).")
    enqueued: int = Field(
        description=f"Finished enqueued trials (system attribute `{ENQUEUED_ATTR}`)."
    )


def audit_duplicates(conn: Connection, study_id: int) -> DuplicateAudit:
    """The audit of study ``study_id``: one query."""
    duplicates, retries, enqueued = conn.execute(_AUDIT_SQL, {"sid": study_id}).one()
    return DuplicateAudit(duplicates=int(duplicates), retries=int(retries), enqueued=int(enqueued))
