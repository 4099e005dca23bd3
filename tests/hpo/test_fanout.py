"""The supervisor's decisions (``hpo.fanout``), as plain functions: no Prefect, no store. The
flow that acts on them runs on a real fleet in tests/flows/test_tune_pools.py."""

from __future__ import annotations

from hpo.fanout import (
    FINAL_STATES,
    Decision,
    WorkerRun,
    budget_taken,
    fell_short,
    states_due,
    supervise,
)
from hpo.storage.counts import StateCounts


def run(state: str, index: int = 0, pool: str = "cpu", relaunched: bool = False) -> WorkerRun:
    return WorkerRun(f"run-{index}", pool, index, state, relaunched)


def test_final_states_are_the_ones_a_run_never_leaves() -> None:
    assert FINAL_STATES == {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
    assert run("CRASHED").final and not run("CANCELLING").final and not run("PAUSED").final


def test_budget_taken_counts_finished_trials_only() -> None:
    assert budget_taken(StateCounts(complete=7, pruned=3), 10, grid=False)
    assert not budget_taken(StateCounts(complete=7, pruned=2, fail=5, running=1), 10, grid=False)


def test_grid_budget_is_taken_when_nothing_is_left_to_hand_out() -> None:
    assert budget_taken(StateCounts(complete=4), 10, grid=True)  # grid smaller than the budget
    assert not budget_taken(StateCounts(complete=4, waiting=2), 10, grid=True)
    assert not budget_taken(StateCounts(complete=4, running=1), 10, grid=True)
    assert not budget_taken(StateCounts(complete=4), 10, grid=False)


def test_live_runs_and_no_budget_taken_mean_wait() -> None:
    decision = supervise(
        [run("RUNNING", 0), run("SCHEDULED", 1)],
        StateCounts(complete=3, running=2),
        10,
        grid=False,
        relaunches_left=3,
        seconds_since_budget_taken=None,
    )
    assert decision == Decision()


def test_a_crashed_run_is_replaced_once_and_a_failed_one_never() -> None:
    crashed, failed, live = run("CRASHED", 0), run("FAILED", 1), run("RUNNING", 2)
    decision = supervise(
        [crashed, failed, live],
        StateCounts(complete=3, running=1),
        10,
        grid=False,
        relaunches_left=3,
        seconds_since_budget_taken=None,
    )
    assert decision.relaunch == [crashed] and not decision.cancel and not decision.done
    # The flow marks it relaunched: the next look does not replace it again.
    again = supervise(
        [run("CRASHED", 0, relaunched=True), failed, live],
        StateCounts(complete=4, running=1),
        10,
        grid=False,
        relaunches_left=2,
        seconds_since_budget_taken=None,
    )
    assert again == Decision()


def test_relaunches_stop_at_the_limit() -> None:
    runs = [run("CRASHED", i) for i in range(3)] + [run("RUNNING", 3)]
    one_running = StateCounts(running=1)
    decision = supervise(
        runs, one_running, 10, grid=False, relaunches_left=2, seconds_since_budget_taken=None
    )
    assert [r.index for r in decision.relaunch] == [0, 1]
    spent = supervise(
        runs, one_running, 10, grid=False, relaunches_left=0, seconds_since_budget_taken=None
    )
    assert spent == Decision()
    negative = supervise(
        runs, one_running, 10, grid=False, relaunches_left=-1, seconds_since_budget_taken=None
    )
    assert negative.relaunch == []


def test_every_run_ended_short_of_the_budget_ends_the_supervision() -> None:
    decision = supervise(
        [run("FAILED", 0), run("CRASHED", 1, relaunched=True), run("COMPLETED", 2)],
        StateCounts(complete=4, fail=2),
        10,
        grid=False,
        relaunches_left=3,
        seconds_since_budget_taken=None,
    )
    assert decision.done and not decision.relaunch and not decision.cancel
    assert decision.reason == "every worker run ended before the budget was taken"
    # With a relaunch left for a crashed run, it is replaced instead.
    crashed = run("CRASHED", 1)
    retry = supervise(
        [run("FAILED", 0), crashed],
        StateCounts(complete=4),
        10,
        grid=False,
        relaunches_left=1,
        seconds_since_budget_taken=None,
    )
    assert retry.relaunch == [crashed] and not retry.done


def test_budget_taken_and_every_run_final_is_done() -> None:
    decision = supervise(
        [run("COMPLETED", 0), run("CRASHED", 1)],
        StateCounts(complete=10),
        10,
        grid=False,
        relaunches_left=3,
        seconds_since_budget_taken=0.0,
    )
    assert decision == Decision(done=True, reason="budget taken")  # a crash then is not replaced


def test_budget_taken_lingers_then_cancels_silent_runs() -> None:
    silent, done = run("RUNNING", 0), run("COMPLETED", 1)
    waiting = supervise(
        [silent, done],
        StateCounts(complete=10, running=1),
        10,
        grid=False,
        relaunches_left=3,
        seconds_since_budget_taken=29.9,
        linger_s=30.0,
    )
    assert waiting == Decision()
    cancel = supervise(
        [silent, done],
        StateCounts(complete=10, running=1),
        10,
        grid=False,
        relaunches_left=3,
        seconds_since_budget_taken=30.0,
        linger_s=30.0,
    )
    assert cancel.cancel == [silent] and cancel.done
    assert cancel.reason == "budget taken; cancelled silent runs"


def test_grid_exhausted_ends_like_a_taken_budget() -> None:
    decision = supervise(
        [run("COMPLETED", 0)],
        StateCounts(complete=6),
        10,
        grid=True,
        relaunches_left=3,
        seconds_since_budget_taken=0.0,
    )
    assert decision == Decision(done=True, reason="budget taken")


def test_fell_short_only_without_a_reason() -> None:
    assert fell_short(7, 10, grid=False, timed_out=False)
    assert not fell_short(10, 10, grid=False, timed_out=False)
    assert not fell_short(6, 10, grid=True, timed_out=False)  # a grid of 6 points
    assert not fell_short(7, 10, grid=False, timed_out=True)  # budget.timeout_s


def test_states_are_read_at_first_then_each_second_then_every_tick_once_the_budget_is_taken() -> (
    None
):
    assert states_due(None, budget_is_taken=False)  # never read: read now
    assert not states_due(0.25, budget_is_taken=False)  # trials remain: once a second
    assert not states_due(0.99, budget_is_taken=False)
    assert states_due(1.0, budget_is_taken=False)
    assert states_due(0.25, budget_is_taken=True)  # the end is near: every tick
    assert states_due(0.5, budget_is_taken=False, every_s=0.5)
