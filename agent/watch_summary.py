"""What the watch loop did, for the final table and the line `kubemedic watch` stops with.

An incident still open at shutdown is in one of three places, and the stop line says which,
because each needs something else: one waiting for a human's approval needs that human; one
with an action in flight (being written or verified) continues by itself where its checkpoint
stands when the loop starts again; any other open one (being diagnosed, escalated) also
continues on restart, from its last step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agent.incidents import Incident, IncidentRegistry
from agent.runner import IncidentRunner, IncidentStatus
from policies import WRITE_ACTIONS, parse_action

# Where an open incident stands: waiting for a human's approval, an action in flight (the act
# node is next: the write may be under way; or the verify node: the write was applied), or
# elsewhere in the graph (diagnosing, escalating, not started yet).
Stage = Literal["approval", "in_flight", "open"]
_IN_FLIGHT_NODES = frozenset({"act", "verify"})


def stage_of(status: IncidentStatus) -> Stage:
    """Where an open incident's thread stands (see `Stage`)."""
    if status.waiting_for_approval:
        return "approval"
    if _IN_FLIGHT_NODES.intersection(status.next):
        return "in_flight"
    return "open"


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
    stage: Stage | None = None  # where it stood at the end, if still open

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
        """The incidents still open, wherever they stand."""
        return [i for i in self.incidents if i.outcome is None]

    def open_at(self, stage: Stage) -> list[IncidentReport]:
        return [i for i in self.pending if i.stage == stage]

    def stop_line(self) -> str:
        """What `kubemedic watch` says when it stops: the open incidents by what they need."""
        waiting = len(self.open_at("approval"))
        line = (
            f"stopped after {self.polls} polls; {waiting} incident(s) wait for approval, "
            f"{len(self.open_at('in_flight'))} in flight (resume on restart)"
        )
        others = len(self.open_at("open"))
        return line + (f", {others} other open (continue on restart)" if others else "")


async def summarize(
    registry: IncidentRegistry, runner: IncidentRunner, seen: Iterable[str], polls: int
) -> WatchSummary:
    """What happened to each incident the watch touched, in the order they were opened."""
    reports = []
    for incident_id in sorted(seen):
        incident = await asyncio.to_thread(registry.get, incident_id)
        if incident is None:
            continue
        status = await runner.status(incident_id)
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
        stage=stage_of(status) if incident.status == "open" else None,
    )
