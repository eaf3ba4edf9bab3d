"""The incident's graph state: JSON-native values only, so the SQLite checkpointer stores it
without custom serialisers and a human inbox (or LangGraph Studio) can show it as is.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

# typing_extensions' TypedDict: pydantic (LangGraph's input and output JSON schemas) needs it
# before Python 3.12.
from typing_extensions import TypedDict

IncidentOutcome = Literal[
    "healed",  # acted, verified healthy and stable
    "handed_to_human",  # the rules (or a failed escalation) leave it to a person
    "rejected",  # a human rejected the action; nothing written
    "blocked",  # a safety check or the server refused; nothing written
    "not_healed",  # acted (and escalated once) and it is still broken
    "failed",  # the action itself failed
    "resolved",  # the pod is gone or healthy before anything was done
]
OUTCOMES: tuple[str, ...] = IncidentOutcome.__args__  # type: ignore[attr-defined]

ApprovalDecision = Literal["approve", "edit", "reject"]


class TimelineEntry(TypedDict):
    at: str  # RFC 3339, wall clock
    node: str
    event: str
    detail: str


class IncidentState(TypedDict, total=False):
    """Everything one incident knows. Written by the nodes of agent.graph."""

    incident_id: str
    namespace: str
    pod_name: str  # the pod the current diagnosis is about (changes on escalation)
    workload: str | None  # "Deployment/web" or "Pod/name" (policies.workload_key)
    issue_type: str | None
    diagnosis: dict[str, Any] | None  # diagnose_pod result
    llm: dict[str, Any] | None  # RationaleOutcome.to_state()
    rule_decision: dict[str, Any] | None  # policies.Decision.to_dict()
    gate: dict[str, Any] | None  # gated action, veto, blocked checks, requires_approval
    pending_approval: dict[str, Any] | None  # the interrupt payload while waiting
    approval: dict[str, Any] | None  # the human's answer (decision, approver, ...)
    action: str | None  # the action the act node performs next
    approval_id: str | None  # granted approval to pass to the server
    plan: dict[str, Any] | None  # the server's plan the act node executes (plan_healing)
    action_id: str | None  # the server's record of the last write (get_action_status)
    action_result: dict[str, Any] | None  # last auto_heal_pod / rollback_deployment result
    # healed, status, checks, the server's verdict, leak, and after a memory raise `memory`:
    # the sampled pod, its samples and the fitted trend (agent.memtrend.MemoryTrend.to_dict())
    verification: dict[str, Any] | None
    history: list[dict[str, Any]]  # actions taken in this incident: {action, at, outcome}
    attempts: int  # calls to the act node's tool
    escalated: bool
    outcome: IncidentOutcome | None
    summary: str | None
    rules_only: bool  # no LLM rationale informed the decision
    timeline: Annotated[list[TimelineEntry], operator.add]


class IncidentInput(TypedDict, total=False):
    """What starts an incident's thread (the graph's input schema)."""

    incident_id: str
    namespace: str
    pod_name: str
    workload: str | None
    history: list[dict[str, Any]]
    attempts: int
    escalated: bool
    rules_only: bool
    outcome: IncidentOutcome | None
    timeline: list[TimelineEntry]


class IncidentOutput(TypedDict, total=False):
    """What a finished (or waiting) incident answers (the graph's output schema)."""

    incident_id: str
    namespace: str
    pod_name: str
    workload: str | None
    issue_type: str | None
    action: str | None
    pending_approval: dict[str, Any] | None
    approval: dict[str, Any] | None
    action_id: str | None
    verification: dict[str, Any] | None
    history: list[dict[str, Any]]
    outcome: IncidentOutcome | None
    summary: str | None
    rules_only: bool
    timeline: list[TimelineEntry]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry(node: str, event: str, detail: str = "") -> TimelineEntry:
    return {"at": now_iso(), "node": node, "event": event, "detail": detail}
