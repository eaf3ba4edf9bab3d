"""The approve node: wait for a human's answer on the approval the act node was asked for.

`interrupt()` sits alone in this node because LangGraph re-runs the node on resume: nothing
here may have side effects. Also what a human is shown (`approval_payload`, built by the act
node) and how the answer becomes a state update (`resolve_answer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.context import IncidentContext
from agent.nodes.common import timeline
from agent.nodes.decision import DecisionView
from agent.state import IncidentState, now_iso
from policies import parse_action

_YES = ("approve", "accept", "yes", "y")


async def approve(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    # On resume LangGraph re-runs this function and `interrupt` returns the human's answer.
    payload = state.get("pending_approval") or {}
    answer = interrupt(payload)
    return resolve_answer(payload, answer)


def approval_payload(state: IncidentState, action: str, error: Mapping[str, Any]) -> dict[str, Any]:
    """What a human needs to decide on the server's approval request (`error`)."""
    gate_state = state.get("gate") or {}
    decision = DecisionView.of(gate_state.get("decision"))
    llm = state.get("llm") or {}
    veto = None
    if gate_state.get("vetoed"):
        veto = {
            "proposed_action": (gate_state.get("proposal") or {}).get("action"),
            "reason": gate_state.get("veto_reason"),
        }
    return {
        "kind": "approval",
        "incident_id": state.get("incident_id"),
        "approval_id": str(error.get("approval_id") or ""),
        "action": str(error.get("action") or action),
        "target": error.get("target") or decision.target,
        "pod": {"namespace": state["namespace"], "name": state["pod_name"]},
        "workload": state.get("workload"),
        "issue_type": state.get("issue_type"),
        "reason": str(error.get("reason") or decision.reason or ""),
        "risk": str(error.get("risk") or decision.estimated_risk or ""),
        "rule_decision": decision.summary(gate_state.get("source")),
        "llm_rationale": llm.get("rationale"),
        "llm_status": llm.get("status"),
        "veto": veto,
        "edits": decision.milder_edits() if action == decision.action else [],
        "escalated": bool(state.get("escalated")),
        "expires_at": error.get("expires_at"),
        "plan_id": error.get("plan_id"),
        "parameters": error.get("parameters") or {},
        # The server's dry-run preview of the change (already redacted by the server).
        "preview": error.get("preview"),
        "requested_at": now_iso(),
    }


def resolve_answer(payload: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    """Turn the human's resume value into a state update (pure: the approve node re-runs)."""
    if not isinstance(answer, Mapping):
        answer = {"decision": str(answer)}
    decision = str(answer.get("decision", "")).strip().lower()
    approver = str(answer.get("approver") or "").strip() or "unknown"
    action = str(payload.get("action") or "")
    record: dict[str, Any] = {
        "decision": decision,
        "approver": approver,
        "approval_id": payload.get("approval_id"),
        "action": action,
        "note": str(answer.get("reason") or answer.get("note") or "")[:500],
    }
    if decision in _YES:
        record["decision"] = "approve"
        return {
            "approval": record,
            "approval_id": str(answer.get("approval_id") or payload.get("approval_id") or ""),
            "pending_approval": None,
            "timeline": timeline("approve", "approved", f"{decision} by {approver}"),
        }
    if decision == "edit":
        return _edited(payload, answer, record)
    return _rejected(record, f"{decision} by {approver}")


def _edited(
    payload: Mapping[str, Any], answer: Mapping[str, Any], record: dict[str, Any]
) -> dict[str, Any]:
    """An edit to one of the milder actions offered; anything else counts as a rejection."""
    action, approver = record["action"], record["approver"]
    edited = parse_action(answer.get("edited_action"))
    allowed = {e.get("action") for e in payload.get("edits") or []}
    if edited is None or edited.value not in allowed:
        wanted = answer.get("edited_action")
        record["note"] = f"edit to {wanted!r} is not an allowed milder action"
        record["decision"] = "reject"
        return {
            "approval": record,
            "approval_id": None,
            "pending_approval": None,
            "outcome": "rejected",
            "summary": f"{action} not done: {record['note']}",
            "timeline": timeline("approve", "rejected", record["note"]),
        }
    record["edited_action"] = edited.value
    return {
        "approval": record,
        "action": edited.value,
        # A new approval for the edited action, granted by whoever edited (if they did).
        "approval_id": answer.get("approval_id") or None,
        "pending_approval": None,
        "timeline": timeline("approve", "edited", f"{action} -> {edited.value} by {approver}"),
    }


def _rejected(record: dict[str, Any], detail: str) -> dict[str, Any]:
    record["decision"] = "reject"
    note = record["note"]
    return {
        "approval": record,
        "approval_id": None,
        "pending_approval": None,
        "outcome": "rejected",
        "summary": f"{record['action']} rejected by {record['approver']}; nothing written"
        + (f" ({note})" if note else ""),
        "timeline": timeline("approve", "rejected", detail),
    }
