"""The autonomous loop: poll `list_unhealthy_pods`, open one incident per unhealthy workload,
run incidents concurrently (bounded), pause on approvals, close them when they end.

    summary = await run_watch(session, settings, on_event=show, approve=ask_human)

`session` is an initialised MCP ClientSession (or a Toolbox). `on_event(WatchEvent)` sees every
step; `approve(payload) -> answer | None` is asked once per pending approval: an answer
(`{"decision": "approve"|"edit"|"reject", "approver": ..., ...}`) resumes the incident in this
process; None leaves it pending for `kubemedic approvals approve` from another terminal.
Granting the server's approval record is the caller's job (the composition root can reach the
approval store; the agent cannot).

Each open incident is held by one process with a lease (`agent.incidents`), renewed by a
heartbeat while it runs or waits for an answer. Watch processes sharing a state directory leave
each other's incidents alone; one stopped cleanly hands its incidents over at once, one killed
hands them over when its lease runs out.

Looking at the cluster and opening incidents is `agent.watch_polling`; what the loop reports
when it stops is `agent.watch_summary`; settings and events are `agent.watch_types`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from agent import metrics
from agent.incident_leases import IncidentLeases
from agent.incidents import Incident, IncidentRegistry, new_owner_id
from agent.resource_updates import ResourceUpdates
from agent.runner import IncidentRunner, IncidentStatus, open_checkpointer
from agent.tools import LIST_UNHEALTHY_PODS, Toolbox, cluster_scope
from agent.watch_polling import WorkloadPoller
from agent.watch_summary import IncidentReport, WatchSummary, report_of, summarize
from agent.watch_types import (
    Approve,
    EventKind,
    OnEvent,
    WatchEvent,
    WatchSettings,
    cluster_of_key,
    incident_key,
)
from kubemedic_logctx import log_context

__all__ = [
    "Approve",
    "EventKind",
    "IncidentReport",
    "OnEvent",
    "WatchEvent",
    "WatchSettings",
    "WatchSummary",
    "cluster_of_key",
    "incident_key",
    "report_of",
    "run_watch",
    "summarize",
]

log = logging.getLogger(__name__)


class _Watch:
    """One process's incidents: runs each (start, continue, ask, close), adopts those nobody
    keeps alive and renews its leases. Its poller (`agent.watch_polling`) opens new ones."""

    def __init__(
        self,
        toolbox: Toolbox,
        settings: WatchSettings,
        runner: IncidentRunner,
        registry: IncidentRegistry,
        on_event: OnEvent | None,
        approve: Approve | None,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.registry = registry
        self.on_event = on_event
        self.approve = approve
        self.owner = owner or new_owner_id()  # this process as the holder of its incidents
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.asked: set[str] = set()  # approval ids already put to `approve` in this process
        self.waiting: set[str] = set()  # incidents waiting for an answer from elsewhere
        self.seen: set[str] = set()  # incidents touched by this process (for the summary)
        self.leases = IncidentLeases(registry, self.owner)
        self.lead_taken = False  # became the leader since the last adoption
        # The server's notifications that the unhealthy pods changed (None: poll only).
        self.updates: ResourceUpdates | None = None
        self.notified_polls = 0
        self.tasks_of_events: set[asyncio.Future[None]] = set()
        self.poller = WorkloadPoller(
            toolbox, settings, registry, self.leases, self.emit, self.opened
        )

    @property
    def held(self) -> dict[str, Incident]:
        return self.leases.held  # open incidents this process holds a lease on, by id

    @property
    def elsewhere(self) -> set[str]:
        return self.leases.elsewhere  # workloads another process held at the last look

    async def emit(self, event: WatchEvent) -> None:
        if self.on_event is None:
            return
        try:
            result = self.on_event(event)
            if result is not None:
                await result
        except Exception:  # noqa: BLE001 - a display callback must not stop the loop
            log.exception("watch event callback failed")

    # -- one incident ------------------------------------------------------------------------

    def may_lead(self) -> bool:
        gate = self.settings.leadership
        return gate is None or gate.leading

    def leadership_changed(self, leading: bool, reason: str) -> None:
        """The gate moved. Lost: cancel every incident task of this process now, write
        nothing, stop renewing their leases (the next leader adopts them once they expire)."""
        cancelled = []
        # Just became the leader: every other replica has stopped acting (a leader that cannot
        # renew steps down before its Lease may be taken), so the next adoption takes the open
        # incidents at once instead of waiting for their leases to run out.
        self.lead_taken = leading
        if not leading:
            for incident_id, task in self.tasks.items():
                if not task.done():
                    task.cancel()
                    cancelled.append(incident_id)
            self.leases.forget()
            self.waiting.clear()
        data = {"leader": leading, "reason": reason, "cancelled": sorted(cancelled)}
        task = asyncio.ensure_future(self.emit(WatchEvent("leadership", data=data)))
        self.tasks_of_events.add(task)
        task.add_done_callback(self.tasks_of_events.discard)

    def opened(self, incident: Incident) -> None:
        """A poll opened this incident: run it."""
        self.spawn(incident, fresh=True)

    def spawn(self, incident: Incident, *, fresh: bool) -> None:
        if incident.id in self.tasks and not self.tasks[incident.id].done():
            return
        if not self.may_lead():
            return
        self.seen.add(incident.id)
        self.tasks[incident.id] = asyncio.create_task(
            self.drive(incident, fresh=fresh), name=f"incident-{incident.id}"
        )

    async def drive(self, incident: Incident, *, fresh: bool) -> None:
        workload = incident.workload

        async def progress(incident_id: str, node: str, update: Mapping[str, Any]) -> None:
            await self.emit(
                WatchEvent(
                    "progress",
                    incident_id,
                    workload,
                    {"node": node, "timeline": list(update.get("timeline") or [])},
                )
            )

        cluster = cluster_of_key(workload)
        logged = {} if cluster is None else {"cluster": cluster}
        try:
            with (
                cluster_scope(cluster),
                log_context(
                    incident_id=incident.id, thread_id=incident.id, target=workload, **logged
                ),
            ):
                # No slot is held here: only writes take one (IncidentContext.write_slots), so a
                # new incident never waits for others that are verifying.
                if fresh:
                    status = await self.runner.start(
                        incident.id,
                        incident.namespace,
                        incident.pod_name,
                        on_update=progress,
                    )
                else:
                    status = await self.runner.proceed(incident.id, on_update=progress)
                while status.waiting_for_approval:
                    answer = await self.ask(incident, status)
                    if answer is None:
                        self.waiting.add(incident.id)
                        return
                    await self.emit(WatchEvent("answered", incident.id, workload, dict(answer)))
                    status = await self.runner.resume(incident.id, answer, on_update=progress)
                if status.done:
                    await self.finish(incident, status)
        except Exception as exc:  # noqa: BLE001 - one broken incident must not stop the loop
            log.exception("incident failed")
            error = f"{type(exc).__name__}: {exc}"
            await self.emit(WatchEvent("error", incident.id, workload, {"error": error}))
            # Close it so that the workload is not blocked for good by a broken incident.
            if not await self.close(incident, "failed"):
                return
            await self.emit(
                WatchEvent("closed", incident.id, workload, {"outcome": "failed", "summary": error})
            )

    async def ask(self, incident: Incident, status: IncidentStatus) -> Mapping[str, Any] | None:
        payload = dict(status.pending or {})
        approval_id = str(payload.get("approval_id") or "")
        if approval_id not in self.asked:
            await self.emit(WatchEvent("approval_pending", incident.id, incident.workload, payload))
        if self.approve is None or approval_id in self.asked:
            return None
        self.asked.add(approval_id)
        return await self.approve(payload)

    async def close(self, incident: Incident, outcome: str) -> bool:
        """Close an incident this process holds. False if another process took it over: that
        one ends it (from the same checkpoint), so this one says nothing."""
        closed = await asyncio.to_thread(self.registry.close, incident.id, outcome, self.owner)
        self.held.pop(incident.id, None)
        self.waiting.discard(incident.id)
        if closed:
            return True
        current = await asyncio.to_thread(self.registry.get, incident.id)
        if current is not None and current.status == "open":
            log.warning("incident %s is held by %s now; not closing it", incident.id, current.owner)
            self.elsewhere.add(incident.workload)
            return False
        return True  # closed already, e.g. by `kubemedic approvals approve`

    async def finish(self, incident: Incident, status: IncidentStatus) -> None:
        outcome = status.outcome or "failed"
        if not await self.close(incident, outcome):
            return
        metrics.incidents_open.set(len(await asyncio.to_thread(self.registry.open_incidents)))
        await self.emit(
            WatchEvent(
                "closed",
                incident.id,
                incident.workload,
                {"outcome": outcome, "summary": status.values.get("summary")},
            )
        )

    # -- the loop ----------------------------------------------------------------------------

    async def recover(self) -> None:
        """Pick up the incidents a previous process left open (and nobody else holds)."""
        await self.adopt()

    async def adopt(self) -> None:
        """Take over the open incidents nobody keeps alive: released by a process that
        stopped, or held by one whose lease ran out (killed). Others' incidents are left."""
        if not self.may_lead():
            return
        leader, self.lead_taken = self.lead_taken, False
        async for incident in self.leases.claim_unheld(leader=leader):
            await self.take_over(incident)

    async def take_over(self, incident: Incident) -> None:
        status = await self.runner.status(incident.id)
        self.seen.add(incident.id)
        if status.reported:
            await self.finish(incident, status)
        elif status.done or (status.waiting_for_approval and self.approve is None):
            # Waiting for a human, or (done without a report) being run right now by
            # another process, e.g. `kubemedic approvals approve`: look again each poll.
            self.waiting.add(incident.id)
            if status.waiting_for_approval:
                await self.emit(
                    WatchEvent(
                        "approval_pending",
                        incident.id,
                        incident.workload,
                        dict(status.pending or {}),
                    )
                )
        else:
            # Mid-run when the process stopped, or waiting and we can ask: continue.
            self.spawn(incident, fresh=not status.exists)

    async def renew(self) -> None:
        """Extend this process's leases; stop driving the incidents another process took."""
        async for incident in self.leases.renew():
            self.waiting.discard(incident.id)
            task = self.tasks.get(incident.id)
            if task is not None and not task.done():
                task.cancel()

    async def heartbeat(self) -> None:
        """Renew the leases every third of their duration, in wall time."""
        await self.leases.heartbeat(self.renew)

    async def release(self) -> None:
        """Let go of the incidents still held, so the next process adopts them at once."""
        await self.leases.release()

    async def check_waiting(self) -> None:
        """Incidents answered from another process (`kubemedic approvals`) end there."""
        if not self.may_lead():
            return
        for incident_id in list(self.waiting):
            status = await self.runner.status(incident_id)
            if status.reported:
                incident = await asyncio.to_thread(self.registry.get, incident_id)
                if incident is not None:
                    await self.finish(incident, status)

    async def poll(self) -> int | None:
        """One look at the unhealthy pods; how many incidents it opened (None: no answer)."""
        if self.updates is not None:
            self.updates.take()  # a notification from now on asks for another look
        if not self.may_lead():
            return None  # a follower: the leader opens incidents
        return await self.poller.poll()

    async def poll_notified(self) -> None:
        """A look at once, because the server said the unhealthy pods changed."""
        self.notified_polls += 1
        await self.poll()

    def busy(self) -> bool:
        return any(not task.done() for task in self.tasks.values())


async def run_watch(
    session: Any,
    settings: WatchSettings,
    *,
    on_event: OnEvent | None = None,
    approve: Approve | None = None,
    stop: asyncio.Event | None = None,
) -> WatchSummary:
    """Run the loop until `stop` is set, `max_polls` polls were made, or (with
    `stop_when_idle`) nothing is left to do. Returns what happened to each incident."""
    toolbox = session if isinstance(session, Toolbox) else await Toolbox.from_session(session)
    toolbox.require(LIST_UNHEALTHY_PODS)
    registry = IncidentRegistry(
        settings.database_url or settings.incidents_db, lease_seconds=settings.lease_seconds
    )
    async with open_checkpointer(settings.database_url or settings.checkpoint_db) as saver:
        runner = IncidentRunner(settings.incident_context(toolbox), saver)
        watch = _Watch(toolbox, settings, runner, registry, on_event, approve)
        return await _watch_until_stopped(watch, session, stop)


async def _watch_until_stopped(
    watch: _Watch, session: Any, stop: asyncio.Event | None
) -> WatchSummary:
    """Subscribe to the server's notifications and the leadership gate, run the loop, let go
    of everything, and say what happened to each incident."""
    settings = watch.settings
    if settings.subscribe and not isinstance(session, Toolbox):
        watch.updates = await ResourceUpdates.attach(session)
    await watch.emit(
        WatchEvent(
            "started",
            data={"state_dir": str(settings.state_dir), "subscribed": watch.updates is not None},
        )
    )
    unsubscribe = None
    if settings.leadership is not None:
        unsubscribe = settings.leadership.subscribe(watch.leadership_changed)
    heartbeat = asyncio.create_task(watch.heartbeat(), name="incident-leases")
    try:
        polls = await _loop(watch, stop)
        await _let_running_finish(watch, stop)
    finally:
        await _shut_down(watch, session, heartbeat, unsubscribe)
    summary = await summarize(watch.registry, watch.runner, watch.seen, polls)
    summary.notified_polls = watch.notified_polls
    await watch.emit(WatchEvent("stopped", data={"polls": polls}))
    return summary


async def _loop(watch: _Watch, stop: asyncio.Event | None) -> int:
    """Adopt, poll and look at the waiting incidents until it is time to stop; the polls."""
    settings = watch.settings
    polls = 0
    await watch.recover()
    while stop is None or not stop.is_set():
        if polls:
            await watch.adopt()  # incidents of a process that died meanwhile
        opened = await watch.poll()
        polls += 1
        await watch.check_waiting()
        if settings.max_polls is not None and polls >= settings.max_polls:
            break
        # Idle: the server answered, nothing new to open, nothing running here.
        if settings.stop_when_idle and opened == 0 and not watch.busy():
            break
        await _wait(settings, stop, watch)
    return polls


async def _let_running_finish(watch: _Watch, stop: asyncio.Event | None) -> None:
    pending = [task for task in watch.tasks.values() if not task.done()]
    if pending and stop is not None and stop.is_set():
        # Asked to stop (SIGTERM): give running incidents a grace period, then cancel
        # them; each continues from its last checkpoint when the loop starts again.
        await asyncio.wait(pending, timeout=watch.settings.shutdown_grace_seconds)
    elif pending:
        await asyncio.gather(*pending)  # max_polls / idle: let them finish


async def _shut_down(
    watch: _Watch,
    session: Any,
    heartbeat: asyncio.Task[None],
    unsubscribe: Callable[[], None] | None,
) -> None:
    """Cancel what still runs, stop renewing, hand the incidents over, unsubscribe."""
    for task in watch.tasks.values():
        if not task.done():
            task.cancel()
    for task in watch.tasks.values():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    heartbeat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heartbeat
    if unsubscribe is not None:
        unsubscribe()
    if watch.may_lead():
        with contextlib.suppress(Exception):
            await watch.release()
    if watch.updates is not None:
        await watch.updates.detach(session)


async def _wait(settings: WatchSettings, stop: asyncio.Event | None, watch: _Watch) -> None:
    """Sleep one poll interval, waking early when asked to stop. A notification from the
    server that the unhealthy pods changed makes a look at once, within the interval: the
    interval's own schedule is kept (the next regular poll comes when it would have)."""
    updates = watch.updates
    if stop is None and updates is None:
        await settings.sleep(settings.poll_interval_seconds)
        return
    sleeper = asyncio.ensure_future(settings.sleep(settings.poll_interval_seconds))
    stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
    notified: asyncio.Future[None] | None = None
    try:
        while True:
            waiters: set[asyncio.Future[Any]] = {sleeper}
            if stopper is not None:
                waiters.add(stopper)
            if updates is not None:
                if notified is None or notified.done():
                    notified = asyncio.ensure_future(updates.wait())
                waiters.add(notified)
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if sleeper.done() or (stopper is not None and stopper.done()):
                return
            if updates is not None and updates.pending:
                await watch.poll_notified()
    finally:
        for task in (sleeper, stopper, notified):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
