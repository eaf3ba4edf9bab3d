"""The report node: close the incident: its summary, the outcome metric, an audit record of
a human's rejection, the log line and the notification."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from agent import metrics
from agent.context import IncidentContext
from agent.nodes.common import audit, incident_log, notify, timeline
from agent.nodes.decision import DecisionView
from agent.state import IncidentState

log = logging.getLogger(__name__)


async def report(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    context = runtime.context
    outcome = state.get("outcome") or "failed"
    summary = state.get("summary") or outcome
    if state.get("rules_only", True):
        llm = state.get("llm") or {}
        why = llm.get("detail") or "no LLM rationale"
        summary = f"{summary} (decision: rules only; {why})"
    metrics.incidents_total.labels(outcome).inc()
    approval = state.get("approval") or {}
    if outcome == "rejected" and approval:
        audit(context, rejection_record(state, approval))
    with incident_log(state):
        log.info("incident closed", extra={"outcome": outcome, "summary": summary})
    await notify(
        context,
        {
            "kind": "incident",
            "incident_id": state.get("incident_id"),
            "workload": f"{state.get('namespace')}/{state.get('workload')}",
            "pod": state.get("pod_name"),
            "outcome": outcome,
            "action": state.get("action"),
            "approver": approval.get("approver"),
            "summary": summary,
        },
    )
    return {
        "outcome": outcome,
        "summary": summary,
        "pending_approval": None,
        "timeline": timeline("report", outcome, summary[:300]),
    }


def rejection_record(state: IncidentState, approval: dict[str, Any]) -> dict[str, Any]:
    """The audit record of a human's rejection (nothing was written)."""
    decision = DecisionView.of((state.get("gate") or {}).get("decision"))
    return {
        "kind": "rejection",
        "incident_id": state.get("incident_id"),
        "approval_id": approval.get("approval_id"),
        "action": approval.get("action") or state.get("action"),
        "target": decision.target
        or {"kind": "Pod", "namespace": state.get("namespace"), "name": state.get("pod_name")},
        "approver": approval.get("approver"),
        "reason": approval.get("note") or "",
    }
