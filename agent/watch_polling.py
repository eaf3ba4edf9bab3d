"""The watch loop's look at the cluster: ask `list_unhealthy_pods` (of every cluster served)
and open one incident per unhealthy workload that has none, unless a human settled the
workload recently. Running the incidents it opens is the loop's job (`agent.watch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from agent import metrics
from agent.incident_leases import IncidentLeases
from agent.incidents import Incident, IncidentRegistry
from agent.tools import LIST_UNHEALTHY_PODS, Toolbox, ToolboxError, ToolCallError
from agent.watch_types import WatchEvent, WatchSettings, incident_key
from agent.workloads import entry_name, entry_workload
from kubemedic_contract import ListUnhealthyResult

# Outcomes after which the same workload is not reopened until `reopen_after_seconds` passed:
# a human has it (or refused it); opening it again every poll would only repeat the question.
_SETTLED_BY_HUMAN = {"handed_to_human", "blocked", "not_healed", "rejected", "failed"}

Emit = Callable[[WatchEvent], Awaitable[None]]
# Called with each incident a poll opened; the loop starts running it.
Opened = Callable[[Incident], None]


class WorkloadPoller:
    def __init__(
        self,
        toolbox: Toolbox,
        settings: WatchSettings,
        registry: IncidentRegistry,
        leases: IncidentLeases,
        emit: Emit,
        opened: Opened,
    ) -> None:
        self.toolbox = toolbox
        self.settings = settings
        self.registry = registry
        self.leases = leases
        self.emit = emit
        self.opened = opened

    def suppressed(self, key: str) -> bool:
        last = self.registry.last_closed(key)
        if last is None or last.outcome not in _SETTLED_BY_HUMAN or last.closed_at is None:
            return False
        closed = datetime.fromisoformat(last.closed_at.replace("Z", "+00:00"))
        return datetime.now(UTC) - closed < timedelta(seconds=self.settings.reopen_after_seconds)

    async def poll(self) -> int | None:
        """One look at the unhealthy pods; how many incidents it opened (None: no answer)."""
        settings = self.settings
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
        held = {incident.workload for incident in self.leases.held.values()}
        for pod in pods:
            namespace = pod.namespace
            key = incident_key(namespace, entry_workload(pod), cluster)
            if key in held or key in self.leases.elsewhere:
                continue  # already has its incident: no database round trip per pod and poll
            if await asyncio.to_thread(self.suppressed, key):
                continue
            incident, created = await asyncio.to_thread(
                self.registry.open,
                key,
                namespace,
                entry_name(pod),
                pod.issue_type,
                owner=self.leases.owner,
            )
            if not created:
                self.leases.elsewhere.add(key)  # opened by another process since the last look
            else:
                held.add(key)
                self.leases.held[incident.id] = incident
                opened += 1
                await self.emit(
                    WatchEvent(
                        "opened",
                        incident.id,
                        key,
                        {"pod": incident.pod_name, "issue_type": incident.issue_type},
                    )
                )
                self.opened(incident)
        return len(pods), opened


def unanswered_poll(failed: ToolCallError | ToolboxError, where: dict[str, str]) -> WatchEvent:
    """What a look at the unhealthy pods that got no answer tells the watcher."""
    if isinstance(failed, ToolboxError):  # a server outside the contract: say so, go on
        data = {"error": "invalid_answer", "message": str(failed)[:500], **where}
        return WatchEvent("error", data=data)
    if failed.code == "not_ready":
        # The server's pod cache is still syncing (just started): look again next poll.
        return WatchEvent("poll", data={"unhealthy": 0, "opened": 0, "ready": False, **where})
    return WatchEvent("error", data={"error": failed.code, "result": failed.result(), **where})
