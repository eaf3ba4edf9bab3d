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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel

from agent import metrics
from agent.graph import AuditSink, GraphDeps, Sleep
from agent.incident_leases import IncidentLeases
from agent.incidents import Incident, IncidentRegistry, new_owner_id
from agent.leadership import Leadership
from agent.notify import Notifier
from agent.resource_updates import ResourceUpdates
from agent.runner import IncidentRunner, IncidentStatus, open_checkpointer
from agent.tools import (
    LIST_UNHEALTHY_PODS,
    Toolbox,
    ToolboxError,
    ToolCallError,
    cluster_scope,
)
from agent.workloads import entry_name, entry_workload
from kubemedic_contract import ListUnhealthyResult
from kubemedic_logctx import log_context
from policies import WRITE_ACTIONS, Policy, parse_action

log = logging.getLogger(__name__)

EventKind = Literal[
    "started",
    "poll",
    "opened",
    "progress",
    "approval_pending",
    "answered",
    "closed",
    "error",
    "stopped",
    "leadership",
]
# Outcomes after which the same workload is not reopened until `reopen_after_seconds` passed:
# a human has it (or refused it); opening it again every poll would only repeat the question.
_SETTLED_BY_HUMAN = {"handed_to_human", "blocked", "not_healed", "rejected", "failed"}


@dataclass(frozen=True, slots=True)
class WatchEvent:
    kind: EventKind
    incident_id: str | None = None
    workload: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


OnEvent = Callable[[WatchEvent], Awaitable[None] | None]
Approve = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any] | None]]


@dataclass(slots=True)
class WatchSettings:
    state_dir: Path
    policy: Policy
    model: BaseChatModel | None = None
    llm_timeout_seconds: float = 30.0
    caller: str = "kubemedic-agent"
    namespace: str | None = None  # None: every namespace the server sees
    poll_interval_seconds: float = 5.0
    max_concurrent: int = 4  # writes in flight at once (verifying holds none)
    # How long another process waits before adopting an incident this one stopped renewing.
    lease_seconds: float = 30.0
    verify_interval_seconds: float = 10.0
    verify_max_checks: int = 18
    reopen_after_seconds: float = 900.0
    # How to wait (polls and verification); tests and the demo may advance a simulated clock.
    sleep: Sleep = asyncio.sleep
    # Stop after this many polls (None: run until `stop` is set).
    max_polls: int | None = None
    # Stop once nothing is running, nothing waits for an answer in this process, and a poll
    # found nothing new to open (the demo's "all seeded failures dealt with").
    stop_when_idle: bool = False
    audit: AuditSink | None = None
    notify: Notifier | None = None
    # Wall seconds running incidents get to finish after `stop` is set, before cancellation.
    shutdown_grace_seconds: float = 20.0
    # Subscribe to the server's `kubemedic://pods/unhealthy` and look at once when it says
    # the unhealthy pods changed (the interval stays the fallback).
    subscribe: bool = True
    # With several replicas: open, adopt and act on incidents only while this gate is open
    # (the leader Lease is held); closing it cancels this process's incident work at once.
    leadership: Leadership | None = None
    # postgresql://…: incidents and checkpoints in that database (shared by every replica);
    # None: incidents.sqlite and checkpoints.sqlite in state_dir.
    database_url: str | None = None
    # The clusters the server serves, when several: each poll lists every one's unhealthy
    # pods (`cluster` argument), incidents are per (cluster, workload), and every tool call
    # of an incident names its cluster. Empty: the server's only cluster, today's keys.
    clusters: tuple[str, ...] = ()

    @property
    def checkpoint_db(self) -> Path:
        return self.state_dir / "checkpoints.sqlite"

    @property
    def incidents_db(self) -> Path:
        return self.state_dir / "incidents.sqlite"


@dataclass(slots=True)
class IncidentReport:
    """One line of the final table."""

    incident_id: str
    namespace: str
    pod: str
    workload: str
    issue_type: str | None
    action: str | None
    approver: str | None
    outcome: str | None
    summary: str | None
    opened_at: str
    closed_at: str | None
    vetoed: bool = False
    rules_only: bool = True

    @property
    def seconds_open(self) -> float | None:
        if not self.closed_at:
            return None
        opened = datetime.fromisoformat(self.opened_at.replace("Z", "+00:00"))
        closed = datetime.fromisoformat(self.closed_at.replace("Z", "+00:00"))
        return (closed - opened).total_seconds()


@dataclass(slots=True)
class WatchSummary:
    polls: int = 0  # at the poll interval
    incidents: list[IncidentReport] = field(default_factory=list)
    # Extra polls made at once because the server notified a change of the unhealthy pods.
    notified_polls: int = 0

    @property
    def pending(self) -> list[IncidentReport]:
        return [i for i in self.incidents if i.outcome is None]


def unanswered_poll(failed: ToolCallError | ToolboxError, where: dict[str, str]) -> WatchEvent:
    """What a look at the unhealthy pods that got no answer tells the watcher."""
    if isinstance(failed, ToolboxError):  # a server outside the contract: say so, go on
        data = {"error": "invalid_answer", "message": str(failed)[:500], **where}
        return WatchEvent("error", data=data)
    if failed.code == "not_ready":
        # The server's pod cache is still syncing (just started): look again next poll.
        return WatchEvent("poll", data={"unhealthy": 0, "opened": 0, "ready": False, **where})
    return WatchEvent("error", data={"error": failed.code, "result": failed.result(), **where})


def incident_key(namespace: str, workload: str, cluster: str | None = None) -> str:
    """`namespace/Kind/name`; with several clusters `cluster/namespace/Kind/name`."""
    key = f"{namespace}/{workload}"
    return key if cluster is None else f"{cluster}/{key}"


def cluster_of_key(key: str) -> str | None:
    """The cluster an incident key names (None: a one-cluster key)."""
    parts = str(key).split("/")
    return parts[0] if len(parts) >= 4 else None


class _Watch:
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
        self.toolbox = toolbox
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
                # No slot is held here: only writes take one (GraphDeps.write_slots), so a
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

    def suppressed(self, key: str) -> bool:
        last = self.registry.last_closed(key)
        if last is None or last.outcome not in _SETTLED_BY_HUMAN or last.closed_at is None:
            return False
        closed = datetime.fromisoformat(last.closed_at.replace("Z", "+00:00"))
        return datetime.now(UTC) - closed < timedelta(seconds=self.settings.reopen_after_seconds)

    async def poll(self) -> int | None:
        """One look at the unhealthy pods; how many incidents it opened (None: no answer)."""
        if self.updates is not None:
            self.updates.take()  # a notification from now on asks for another look
        settings = self.settings
        if not self.may_lead():
            return None  # a follower: the leader opens incidents
        opened = 0
        seen = 0
        answered = False
        for cluster in settings.clusters or (None,):
            found = await self.poll_cluster(cluster)
            if found is not None:
                answered = True
                seen += found[0]
                opened += found[1]
        if not answered:
            return None
        metrics.incidents_open.set(len(await asyncio.to_thread(self.registry.open_incidents)))
        await self.emit(WatchEvent("poll", data={"unhealthy": seen, "opened": opened}))
        return opened

    async def poll_cluster(self, cluster: str | None) -> tuple[int, int] | None:
        """One cluster's unhealthy pods: (how many, incidents opened); None: no answer."""
        settings = self.settings
        where = {} if cluster is None else {"cluster": cluster}
        try:
            result = await self.toolbox.typed(
                LIST_UNHEALTHY_PODS, ListUnhealthyResult, namespace=settings.namespace, **where
            )
        except (ToolCallError, ToolboxError) as failed:
            await self.emit(unanswered_poll(failed, where))
            return None
        opened = 0
        pods = result.pods
        held = {incident.workload for incident in self.held.values()}
        for pod in pods:
            namespace = pod.namespace
            key = incident_key(namespace, entry_workload(pod), cluster)
            if key in held or key in self.elsewhere:
                continue  # already has its incident: no database round trip per pod and poll
            if await asyncio.to_thread(self.suppressed, key):
                continue
            incident, created = await asyncio.to_thread(
                self.registry.open,
                key,
                namespace,
                entry_name(pod),
                pod.issue_type,
                owner=self.owner,
            )
            if not created:
                self.elsewhere.add(key)  # opened by another process since the last look
            else:
                held.add(key)
                self.held[incident.id] = incident
                opened += 1
                await self.emit(
                    WatchEvent(
                        "opened",
                        incident.id,
                        key,
                        {"pod": incident.pod_name, "issue_type": incident.issue_type},
                    )
                )
                self.spawn(incident, fresh=True)
        return len(pods), opened

    async def poll_notified(self) -> None:
        """A look at once, because the server said the unhealthy pods changed."""
        self.notified_polls += 1
        await self.poll()

    def busy(self) -> bool:
        return any(not task.done() for task in self.tasks.values())


async def summarize(watch: _Watch, polls: int) -> WatchSummary:
    """What happened to each incident the watch touched, in the order they were opened."""
    reports = []
    for incident_id in sorted(watch.seen):
        incident = await asyncio.to_thread(watch.registry.get, incident_id)
        if incident is None:
            continue
        status = await watch.runner.status(incident_id)
        reports.append(report_of(incident, status))
    reports.sort(key=lambda r: r.opened_at)
    return WatchSummary(polls=polls, incidents=reports)


def report_of(incident: Incident, status: IncidentStatus) -> IncidentReport:
    values = status.values
    approval = values.get("approval") or {}
    history = values.get("history") or []
    action = history[-1]["action"] if history else values.get("action")
    approver = approval.get("approver")
    wrote = any(parse_action(item.get("action")) in WRITE_ACTIONS for item in history)
    if approver is None and wrote:
        approver = "policy (auto-approved)"
    return IncidentReport(
        incident_id=incident.id,
        namespace=incident.namespace,
        pod=incident.pod_name,
        workload=incident.workload,
        issue_type=values.get("issue_type") or incident.issue_type,
        action=action,
        approver=approver,
        outcome=incident.outcome if incident.status == "closed" else None,
        summary=values.get("summary"),
        opened_at=incident.opened_at,
        closed_at=incident.closed_at,
        vetoed=bool((values.get("gate") or {}).get("vetoed")),
        rules_only=bool(values.get("rules_only", True)),
    )


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
        deps = GraphDeps(
            toolbox=toolbox,
            policy=settings.policy,
            model=settings.model,
            llm_timeout_seconds=settings.llm_timeout_seconds,
            caller=settings.caller,
            sleep=settings.sleep,
            verify_interval_seconds=settings.verify_interval_seconds,
            verify_max_checks=settings.verify_max_checks,
            audit=settings.audit,
            notify=settings.notify,
            write_slots=asyncio.Semaphore(max(1, settings.max_concurrent)),
        )
        watch = _Watch(toolbox, settings, IncidentRunner(deps, saver), registry, on_event, approve)
        if settings.subscribe and not isinstance(session, Toolbox):
            watch.updates = await ResourceUpdates.attach(session)
        await watch.emit(
            WatchEvent(
                "started",
                data={
                    "state_dir": str(settings.state_dir),
                    "subscribed": watch.updates is not None,
                },
            )
        )
        if settings.leadership is not None:
            unsubscribe = settings.leadership.subscribe(watch.leadership_changed)
        heartbeat = asyncio.create_task(watch.heartbeat(), name="incident-leases")
        polls = 0
        try:
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
            pending = [task for task in watch.tasks.values() if not task.done()]
            if pending and stop is not None and stop.is_set():
                # Asked to stop (SIGTERM): give running incidents a grace period, then cancel
                # them; each continues from its last checkpoint when the loop starts again.
                await asyncio.wait(pending, timeout=settings.shutdown_grace_seconds)
            elif pending:
                await asyncio.gather(*pending)  # max_polls / idle: let them finish
        finally:
            for task in watch.tasks.values():
                if not task.done():
                    task.cancel()
            for task in watch.tasks.values():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if settings.leadership is not None:
                unsubscribe()
            if watch.may_lead():
                with contextlib.suppress(Exception):
                    await watch.release()
            if watch.updates is not None:
                await watch.updates.detach(session)
        summary = await summarize(watch, polls)
        summary.notified_polls = watch.notified_polls
        await watch.emit(WatchEvent("stopped", data={"polls": polls}))
        return summary


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
