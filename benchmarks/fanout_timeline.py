"""Where a pools run's time goes: its timeline from the Prefect API and the study's trials.

For one ``hpo tune --cpu-workers W`` command (launched at ``t0``, exited at ``t1``), the
coordinator flow run and its trial-worker flow runs are read back from the server (tagged
``study:<name>``) and lined up with the trials' start and end times:

command start -> coordinator Running -> each child created -> Pending (a Prefect worker
submitted it) -> Running (the child process began its flow) -> the child's first trial start
... last trial end -> children Completed -> coordinator end -> command exit.

Used by ``benchmarks/fanout_efficiency.py`` (``--breakdown``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

import optuna


@dataclass(frozen=True)
class Phase:
    name: str
    median_s: float
    max_s: float


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _naive_ts(value: datetime | None) -> float | None:
    """Optuna's trial times are naive local times (``datetime.now()``)."""
    return value.astimezone().timestamp() if value is not None else None


def _phase(name: str, values: list[float]) -> Phase:
    values = values or [float("nan")]
    return Phase(name, statistics.median(values), max(values))


def timeline(api_url: str, study_db_url: str, study: str, t0: float, t1: float) -> list[Phase]:
    """The phases of one pools run, in seconds (median and max over the trial-worker runs)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with SyncPrefectClient(api_url) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"study:{study}"]))
        )
        flows = {f: client.read_flow(f).name for f in {r.flow_id for r in runs}}
        coordinator = next(r for r in runs if flows[r.flow_id] == "hpo-tune-pools")
        children = [r for r in runs if flows[r.flow_id] == "hpo-trial-worker"]
        pending: dict[str, float] = {}
        for child in children:
            for state in client.read_flow_run_states(child.id):
                if state.type.value == "PENDING" and state.timestamp is not None:
                    pending[str(child.id)] = state.timestamp.timestamp()
    trials = optuna.load_study(study_name=study, storage=study_db_url).trials
    first_start: dict[str, float] = {}
    for t in trials:
        start = _naive_ts(t.datetime_start)
        worker = str(t.user_attrs.get("worker", ""))
        index = worker.rsplit("-w", 1)[-1]
        if start is not None and (index not in first_start or start < first_start[index]):
            first_start[index] = start
    ends = [_naive_ts(t.datetime_complete) for t in trials if t.datetime_complete]
    starts = [_naive_ts(t.datetime_start) for t in trials if t.datetime_start]
    last_end = max(e for e in ends if e is not None)
    first = min(s for s in starts if s is not None)

    coord_start = _ts(coordinator.start_time) or t0
    coord_end = _ts(coordinator.end_time) or t1
    created = [c.created.timestamp() for c in children if c.created]
    picked = [pending[str(c.id)] - c.created.timestamp() for c in children
              if str(c.id) in pending and c.created]  # fmt: skip
    began = [
        _ts(c.start_time) - pending[str(c.id)]  # type: ignore[operator]
        for c in children
        if str(c.id) in pending and c.start_time
    ]
    to_trial = []
    for c in children:
        index = c.name.rsplit("-", 1)[-1]
        if c.start_time and index in first_start:
            to_trial.append(first_start[index] - c.start_time.timestamp())
    child_ends = [_ts(c.end_time) for c in children if c.end_time]
    last_child_end = max((e for e in child_ends if e is not None), default=coord_end)
    return [
        Phase("command start -> coordinator flow Running", coord_start - t0, coord_start - t0),
        _phase("coordinator Running -> child created", [c - coord_start for c in created]),
        _phase("child created -> Pending (picked up by a worker)", picked),
        _phase("Pending -> child flow Running (process start, imports)", began),
        _phase("child Running -> its first trial start", to_trial),
        _phase(
            "first trial start (study) -> a child's first trial",
            [s - first for s in first_start.values()],
        ),  # fmt: skip
        Phase("trial span (first start -> last end)", last_end - first, last_end - first),
        Phase(
            "last trial end -> last child Completed",
            last_child_end - last_end,
            last_child_end - last_end,
        ),  # fmt: skip
        Phase(
            "last child Completed -> coordinator end",
            coord_end - last_child_end,
            coord_end - last_child_end,
        ),  # fmt: skip
        Phase("coordinator end -> command exit", t1 - coord_end, t1 - coord_end),
        Phase("command total (e2e)", t1 - t0, t1 - t0),
    ]


def format_phases(title: str, phases: list[Phase]) -> list[str]:
    lines = [f"| {title} | median (s) | max (s) |", "|---|---|---|"]
    lines += [f"| {p.name} | {p.median_s:.2f} | {p.max_s:.2f} |" for p in phases]
    return lines
