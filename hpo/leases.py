"""Trial leases (layer: core, beside the claims): a RUNNING trial holds its budget slot while
its worker records heartbeats; when the worker is gone, the trial is failed *with a reason*
(``fail_reason``) and the storage's retry callback enqueues its params again.

A lease ends early in two ways:

* **stale**: no heartbeat for the grace period, from any machine (:func:`fail_stale_trials`,
  which stock Optuna's ``fail_stale_trials`` does too, but without saying why);
* **orphaned**: the trial's worker process ran on *this* host and no longer exists (a SIGKILL,
  an OOM kill, a killed run that is resumed at once). Nothing needs to wait out the grace period
  for those (:func:`reap_orphans`).

And a worker that finds the budget taken while other trials still run stays until they end
(:func:`running_trials`): if one of them dies, its lease ends, a claim fails it and its params
run again, so the study never ends short because a dead trial held a slot at the end.
"""

from __future__ import annotations

import copy
import json
import logging
import os

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from sqlalchemy import text

from hpo.infra.processes import pid_alive

logger = logging.getLogger(__name__)

_RUNNING_HERE = text(
    """
    SELECT t.trial_id, p.value_json FROM trials t
    JOIN trial_user_attributes h ON h.trial_id = t.trial_id AND h.key = 'host'
    JOIN trial_user_attributes p ON p.trial_id = t.trial_id AND p.key = 'pid'
    WHERE t.study_id = :sid AND t.state = 'RUNNING' AND h.value_json = :host
    """
)
_RUNNING = text("SELECT count(*) FROM trials WHERE study_id = :sid AND state = 'RUNNING'")


def fail_trials(study: optuna.Study, trial_ids: list[int], reason: str) -> list[int]:
    """Fail the RUNNING trials ``trial_ids`` with ``reason`` and run the storage's retry
    callback for each one this call failed (another worker may fail some first: each trial is
    failed, and retried, once). Returns the ids this call failed."""
    storage = study._storage
    failed: list[int] = []
    for trial_id in trial_ids:
        try:
            storage.set_trial_system_attr(trial_id, "fail_reason", reason)
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(trial_id)
        except UpdateFinishedTrialError:
            pass  # finished or failed by someone else meanwhile
    callback = getattr(storage, "get_heartbeat_stale_trial_callback", lambda: None)()
    for trial_id in failed:
        logger.warning("trial id %d failed: %s", trial_id, reason)
        if callback is not None:
            callback(study, copy.deepcopy(storage.get_trial(trial_id)))
    return failed


def fail_stale_trials(study: optuna.Study, storage: optuna.storages.RDBStorage) -> int:
    """Fail (and retry) the trials whose heartbeat is older than the grace period."""
    if storage.heartbeat_interval is None:
        return 0
    grace = float(storage.grace_period or 2 * storage.heartbeat_interval)
    stale = study._storage._get_stale_trial_ids(study._study_id)  # type: ignore[attr-defined]
    reason = f"no heartbeat for {grace:.0f} s: its worker died or lost the store"
    return len(fail_trials(study, list(stale), reason))


def reap_orphans(study: optuna.Study, storage: optuna.storages.RDBStorage, host: str) -> int:
    """Fail (and retry) the RUNNING trials whose worker process ran on ``host`` (this machine)
    and is gone; returns how many. Trials of live processes and of other hosts are left alone."""
    with storage.engine.connect() as conn:
        rows = conn.execute(_RUNNING_HERE, {"sid": study._study_id, "host": json.dumps(host)})
        running = [(int(tid), json.loads(pid)) for tid, pid in rows]
    reaped = 0
    for trial_id, pid in running:
        if isinstance(pid, int) and pid != os.getpid() and not pid_alive(pid):
            reason = f"its worker process {pid} on {host} is gone (killed or crashed)"
            reaped += len(fail_trials(study, [trial_id], reason))
    return reaped


def running_trials(storage: optuna.storages.RDBStorage, study_id: int) -> int:
    """How many trials of the study are RUNNING (an index probe)."""
    with storage.engine.connect() as conn:
        return int(conn.execute(_RUNNING, {"sid": study_id}).scalar_one())
