"""``hpo-process``: Prefect's process worker, told of new work instead of only finding it.

A Prefect worker looks for scheduled flow runs every ``PREFECT_WORKER_QUERY_SECONDS``. The trial
workers of a fan-out are created within half a second, so they straddle the polls: a worker finds
the first few at one poll and the rest a second later, and two workers of one pool, which get the
same runs in the same order, race for them (the loser's proposal is refused, its slot stays empty
until its next poll). Every second lost there delays a trial worker's first trial.

This worker keeps Prefect's polls (if nothing below ever happens it behaves as the stock one) and
also polls at once when

* the server announces a run scheduled in its pool: a ``prefect.flow-run.Scheduled`` (or
  ``AwaitingRetry``) event, over the same event subscription Prefect's workers use to hear of
  cancellations;
* another worker took a run this one had proposed to run (its slot is free again);
* a run ends while the last poll left runs behind for want of a free slot.

Wake-ups that come while a poll is under way make one more poll after it, not one each
(:class:`Wakeups`). An event wakes every worker of the pool at once, and workers that poll
together get the same runs in the same order: left alone they would all propose the first ones
and all but one would be refused. So after an event a worker takes only its share of the due
runs (:func:`share`): the pool's online workers, sorted by name, split the list in consecutive
slices. Its regular polls, and polls after a refusal or a freed slot, take any run, as Prefect's
do: a run whose share-holder is full or gone waits at most one regular poll.

Everything else is Prefect's ``ProcessWorker``: its type stays ``process``,
so the pools, their job templates and the UI are unchanged and stock process workers can serve
the same pools. It is registered under its own name through the ``prefect.collections`` entry
point: ``prefect worker start --type hpo-process --pool hpo-cpu`` (what ``hpo worker start``
runs for process pools).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import anyio
from prefect.client.schemas.filters import WorkerFilter, WorkerFilterStatus
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter
from prefect.workers.process import ProcessWorker

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from prefect.client.schemas.objects import FlowRun
    from prefect.client.schemas.responses import WorkerFlowRunResponse

T = TypeVar("T")

#: The state events that put a run in a pool's queue of work to do.
SCHEDULED_EVENTS = ("prefect.flow-run.Scheduled", "prefect.flow-run.AwaitingRetry")
#: The events of workers joining or leaving a pool: the shares change.
PEER_EVENTS = ("prefect.worker.started", "prefect.worker.stopped")
#: Seconds between attempts to subscribe again after the event stream failed (doubling, capped).
RESUBSCRIBE_S = (1.0, 30.0)
#: Least seconds between two polls on wake-ups: bounds the rate whatever wakes the worker.
MIN_GAP_S = 0.05


class Wakeups:
    """The reasons to poll before the next regular poll, coalesced: any number of wake-ups while
    the worker is polling makes one poll after it. A pure decision, tested without Prefect."""

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._any_run = False  # a wake-up other than an event: take any due run
        self.left_behind = False  # the last poll saw due runs it had no free slot for

    def announced(self) -> None:
        """The server announced a run in the pool (every worker of the pool hears it)."""
        self._event.set()

    def refused(self) -> None:
        """Another worker took a run this one proposed: look for the next at once."""
        self._any_run = True
        self._event.set()

    def slot_freed(self) -> None:
        """A run ended: poll if the last poll left runs behind."""
        if self.left_behind:
            self._any_run = True
            self._event.set()

    def skipped(self) -> None:
        """A wake-up found no free slot: what woke it waits, so poll when a slot frees."""
        self.left_behind = True

    def polled(self, due: int, taken: int) -> None:
        """Record a poll that found ``due`` runs and started submitting ``taken`` of them."""
        self.left_behind = taken < due

    async def next(self) -> bool:
        """Wait for a wake-up and consume it (and any other that came meanwhile); True: the poll
        may take any run, False: only this worker's share (events alone woke it)."""
        await self._event.wait()
        self._event = anyio.Event()
        any_run, self._any_run = self._any_run, False
        return any_run


def share(due: Sequence[T], peers: Sequence[str], me: str) -> list[T]:
    """This worker's slice of the due runs: ``peers`` (the pool's online workers) sorted by name
    cut the list into consecutive slices of ``ceil(len(due) / len(peers))``. Alone, or unknown
    to the list (not yet seen online): all of them."""
    names = sorted(set(peers))
    if me not in names or len(names) < 2:
        return list(due)
    size = math.ceil(len(due) / len(names))
    start = names.index(me) * size
    return list(due[start : start + size])


def pool_events_filter(work_pool_id: UUID) -> EventFilter:
    """The events of runs scheduled (or rescheduled) in one work pool, and of its workers
    starting and stopping."""
    return EventFilter(
        event=EventNameFilter(name=[*SCHEDULED_EVENTS, *PEER_EVENTS]),
        any_resource=EventAnyResourceFilter(id=[f"prefect.work-pool.{work_pool_id}"]),
    )


class HpoProcessWorker(ProcessWorker):
    """Prefect's process worker that also polls when it hears of work (module docstring)."""

    _display_name = "Process (polls when told of work)"

    @classmethod
    def __dispatch_key__(cls) -> str:
        # Registered as `hpo-process` while `type` stays `process`: pools stay process pools.
        return "hpo-process"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wakeups = Wakeups()
        self.peers: tuple[str, ...] = ()  # the pool's online workers, read at each sync
        self._wake_tasks: TaskGroup | None = None
        self._watching: UUID | None = None

    async def setup(self) -> None:
        await super().setup()
        tasks = anyio.create_task_group()
        await self._exit_stack.enter_async_context(tasks)
        self._exit_stack.callback(tasks.cancel_scope.cancel)  # runs first at teardown
        self._wake_tasks = tasks
        tasks.start_soon(self._poll_on_wakeups)
        self._watch_pool()

    async def sync_with_backend(self) -> None:
        await super().sync_with_backend()
        await self._read_peers()

    async def _read_peers(self) -> None:
        try:
            online = await self.client.read_workers_for_work_pool(
                self._work_pool_name,
                worker_filter=WorkerFilter(status=WorkerFilterStatus(any_=["ONLINE"])),
            )
        except Exception as exc:  # noqa: BLE001 - keep the last list; the heartbeat went through
            self._logger.debug("Cannot read the pool's workers: %s", exc)
        else:
            self.peers = tuple(sorted(w.name for w in online))
            self._logger.debug("Workers online in the pool: %s", ", ".join(self.peers))

    async def _initialize_after_sync(self) -> None:
        await super()._initialize_after_sync()
        self._watch_pool()

    def _watch_pool(self) -> None:
        """Subscribe to the pool's scheduled runs once the pool is known (after a sync)."""
        pool = self._work_pool
        if self._wake_tasks is None or pool is None or self._watching == pool.id:
            return
        self._watching = pool.id
        self._wake_tasks.start_soon(self._watch_scheduled, pool.id)

    async def _watch_scheduled(self, work_pool_id: UUID) -> None:
        delay, cap = RESUBSCRIBE_S
        warn = self._logger.warning  # once; then at debug level until it follows again
        while self._watching == work_pool_id:
            try:
                async with get_events_subscriber(filter=pool_events_filter(work_pool_id)) as events:
                    delay, warn = RESUBSCRIBE_S[0], self._logger.warning
                    self._logger.debug("Following the runs scheduled in pool %s", work_pool_id)
                    await self._read_peers()  # workers that started before it subscribed
                    async for event in events:
                        self._logger.debug("Heard %s of %s", event.event, event.resource.id)
                        if event.event in PEER_EVENTS:
                            await self._read_peers()
                        else:
                            self.wakeups.announced()
            except Exception as exc:  # noqa: BLE001 - the regular polls go on without events
                warn(
                    "Cannot follow the pool's scheduled runs (%s: %s); the regular polls go "
                    "on; subscribing again in %g s", type(exc).__name__, exc, delay,
                )  # fmt: skip
                warn = self._logger.debug
            await anyio.sleep(delay)
            delay = min(delay * 2, cap)

    async def _poll_on_wakeups(self) -> None:
        while True:
            any_run = await self.wakeups.next()
            if self._limiter is not None and self._limiter.available_tokens < 1:
                self.wakeups.skipped()  # full: poll when a slot frees
                continue
            if not self._has_successfully_synced:
                continue  # no job template yet; the regular polls start after the first sync
            try:
                due = await self._get_scheduled_flow_runs()
                mine = due if any_run else share(due, self.peers, self.name)
                self._logger.debug("Woken: %d runs due, %d for this worker", len(due), len(mine))
                await self._submit_scheduled_flow_runs(flow_run_response=mine)
            except Exception as exc:  # noqa: BLE001 - the regular polls count API failures
                self._logger.debug("Poll on wake-up failed: %s", exc, exc_info=True)
            await anyio.sleep(MIN_GAP_S)

    async def _submit_scheduled_flow_runs(
        self, flow_run_response: list[WorkerFlowRunResponse]
    ) -> list[FlowRun]:
        taken = await super()._submit_scheduled_flow_runs(flow_run_response)
        self.wakeups.polled(due=len(flow_run_response), taken=len(taken))
        return taken

    async def _propose_pending_state(self, flow_run: FlowRun) -> bool:
        proposed = await super()._propose_pending_state(flow_run)
        if not proposed:  # another worker took it (or it was cancelled): look for the next
            self.wakeups.refused()
        return proposed

    def _release_limit_slot(self, flow_run_id: UUID) -> None:
        super()._release_limit_slot(flow_run_id)
        self.wakeups.slot_freed()
