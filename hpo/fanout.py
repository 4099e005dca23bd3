"""Supervising trial-worker flow runs on the work pools: plain decisions, no Prefect calls.

The ``hpo-tune-pools`` flow starts W trial-worker runs and then, every few seconds, shows this
module what it sees (each run's state, the study's trial counts) and does what it is told:

* a run that CRASHED (its process died: SIGKILL, OOM, a lost machine) is replaced by a new run on
  the same pool, up to ``max_relaunches`` in all; its RUNNING trial is failed by the heartbeat
  grace period and its params are retried by whichever worker claims next;
* a run that FAILED (a deterministic error: bad spec, no GPU) is not replaced;
* when the study's budget is taken, runs that are still not final after ``linger_s`` (a worker
  whose machine vanished never reports) are cancelled, and the supervision ends;
* it also ends when every run is final.

The study's counts are cheap (one query to the store) and read every tick; the runs' states come
from the Prefect API, whose answer carries each run's parameters: :func:`states_due` reads them
once a second while trials remain (a crash is noticed within a second) and every tick once the
budget is taken (the run ends right after its last worker does).

After the supervision, :func:`fell_short` says whether the run failed to deliver its budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hpo.storage.counts import StateCounts

RunState = Literal[
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CRASHED",
    "CANCELLED",
    "CANCELLING",
    "PAUSED",
]
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


@dataclass(frozen=True)
class WorkerRun:
    """What the supervisor knows of one trial-worker flow run."""

    run_id: str
    pool: str
    index: int
    state: str
    relaunched: bool = False  # already replaced by another run

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class Decision:
    relaunch: list[WorkerRun] = field(default_factory=list)
    cancel: list[WorkerRun] = field(default_factory=list)
    done: bool = False
    reason: str = ""


def budget_taken(counts: StateCounts, n_trials: int, *, grid: bool) -> bool:
    """The study needs no more trials: N finished, or (grid) nothing left to hand out."""
    if counts.finished >= n_trials:
        return True
    return grid and counts.waiting == 0 and counts.running == 0


#: Seconds between reads of the runs' states while the study still needs trials.
STATES_EVERY_S = 1.0


def states_due(
    seconds_since_read: float | None, *, budget_is_taken: bool, every_s: float = STATES_EVERY_S
) -> bool:
    """Read the runs' states from the Prefect API now? Always at first (``None``: never read)
    and once the budget is taken; otherwise every ``every_s``. Between two reads the supervisor
    decides on the states it read last."""
    return seconds_since_read is None or budget_is_taken or seconds_since_read >= every_s


def supervise(
    runs: list[WorkerRun],
    counts: StateCounts,
    n_trials: int,
    *,
    grid: bool,
    relaunches_left: int,
    seconds_since_budget_taken: float | None,
    linger_s: float = 30.0,
) -> Decision:
    """What to do now, given the runs and the study."""
    taken = budget_taken(counts, n_trials, grid=grid)
    live = [r for r in runs if not r.final]
    if taken:
        if not live:
            return Decision(done=True, reason="budget taken")
        if seconds_since_budget_taken is not None and seconds_since_budget_taken >= linger_s:
            return Decision(cancel=live, done=True, reason="budget taken; cancelled silent runs")
        return Decision()
    crashed = [r for r in runs if r.state == "CRASHED" and not r.relaunched]
    relaunch = crashed[: max(relaunches_left, 0)]
    if not live and not relaunch:
        return Decision(done=True, reason="every worker run ended before the budget was taken")
    return Decision(relaunch=relaunch)


def fell_short(finished: int, n_trials: int, *, grid: bool, timed_out: bool) -> bool:
    """The supervision ended with fewer than ``n_trials`` finished trials for no good reason: a
    grid smaller than the budget and a study past its ``budget.timeout_s`` end short by design."""
    return finished < n_trials and not grid and not timed_out
