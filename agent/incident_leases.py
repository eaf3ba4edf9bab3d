"""The leases one watch process holds on open incidents (`agent.incidents`): which it holds,
claiming the ones nobody keeps alive, renewing them on a heartbeat, and letting them go.

The watch loop decides what to do with an incident; this keeps the bookkeeping of who holds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from agent.incidents import Incident, IncidentRegistry

log = logging.getLogger(__name__)


class IncidentLeases:
    def __init__(self, registry: IncidentRegistry, owner: str) -> None:
        self.registry = registry
        self.owner = owner
        # Open incidents this process holds a lease on (running or waiting), by id.
        self.held: dict[str, Incident] = {}
        # Workloads whose open incident another process held at the last look: not reopened.
        self.elsewhere: set[str] = set()

    def forget(self) -> None:
        """Stop counting on any lease (leadership lost): the next leader adopts them."""
        self.held.clear()
        self.elsewhere.clear()

    async def claim_unheld(self, *, leader: bool) -> AsyncIterator[Incident]:
        """Claim, one at a time, the open incidents nobody keeps alive: released by a process
        that stopped, or held by one whose lease ran out (killed); `leader`: all of them.
        Yields each one claimed; the others' workloads become `elsewhere`."""
        elsewhere: set[str] = set()
        for incident in await asyncio.to_thread(self.registry.open_incidents):
            if incident.id in self.held:
                continue
            claimable = leader or self.registry.claimable(incident, self.owner)
            if not claimable or not await asyncio.to_thread(
                self.registry.claim, incident.id, self.owner, leader=leader
            ):
                elsewhere.add(incident.workload)
                continue
            self.held[incident.id] = incident
            yield incident
        self.elsewhere = elsewhere

    async def renew(self) -> AsyncIterator[Incident]:
        """Extend this process's leases; yields each incident another process took over."""
        if not self.held:
            return
        kept = await asyncio.to_thread(self.registry.renew, self.owner)
        for incident_id, incident in list(self.held.items()):
            if incident_id in kept:
                continue
            current = await asyncio.to_thread(self.registry.get, incident_id)
            if current is None or current.status != "open":
                # Closed, e.g. by `kubemedic approvals`: the task or `check_waiting` reports it.
                self.held.pop(incident_id, None)
                continue
            if current.owner == self.owner:
                continue  # opened or claimed after the renewal read: still ours
            self.held.pop(incident_id, None)
            log.warning("incident %s was taken over by %s", incident_id, current.owner)
            self.elsewhere.add(incident.workload)
            yield incident

    async def heartbeat(self, renew: Callable[[], Awaitable[None]]) -> None:
        """Call `renew` every third of the lease duration, in wall time (the registry's
        clock), whatever the loop's sleep does to the cluster's time."""
        while True:
            await asyncio.sleep(self.registry.lease_seconds / 3)
            try:
                await renew()
            except Exception:  # noqa: BLE001 - a busy database now must not end the heartbeat
                log.exception("renewing incident leases failed")

    async def release(self) -> None:
        """Let go of the incidents still held, so the next process adopts them at once."""
        for incident_id in list(self.held):
            await asyncio.to_thread(self.registry.release, incident_id, self.owner)
            self.held.pop(incident_id, None)
