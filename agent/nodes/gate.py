"""The gate node: the LLM's proposal against the plan the server returned.

The LLM may agree or pick a milder action the rules allow (the server plans that one);
anything else is a veto, recorded with its reason. The server decides; this node only ever
narrows what it decided.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from agent import metrics
from agent.context import IncidentContext
from agent.nodes.common import audit, incident_log, refused, timeline
from agent.nodes.decision import DecisionView
from agent.state import IncidentState, TimelineEntry
from agent.tools import PLAN_HEALING, ToolCallError
from kubemedic_contract import PlanResult
from policies import Action, Decision, GateResult, LLMProposal, parse_action
from policies import gate as gate_proposal

log = logging.getLogger(__name__)


async def gate(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    context = runtime.context
    namespace, pod = state["namespace"], state["pod_name"]
    try:
        with incident_log(state):
            planned = await context.toolbox.typed(
                PLAN_HEALING, PlanResult, namespace=namespace, pod_name=pod
            )
    except ToolCallError as failed:
        return _plan_refused(state, failed)
    rule = Decision.from_dict(planned.decision or {})
    llm = state.get("llm") or {}
    proposal = proposal_from(llm.get("rationale") if llm.get("status") == "ok" else None, namespace)
    result = gate_proposal(rule, proposal)
    decision = result.decision
    plan = planned
    if decision.action is not rule.action:
        try:
            with incident_log(state):
                plan = await context.toolbox.typed(
                    PLAN_HEALING,
                    PlanResult,
                    namespace=namespace,
                    pod_name=pod,
                    action=decision.action.value,
                )
        except ToolCallError as failed:
            return refused("gate", state, failed.result(), decision.action.value)
    steps = timeline(
        "gate", "decided", f"{decision.action.value} ({result.source}): {decision.reason}"[:300]
    )
    if result.vetoed and proposal is not None:
        steps += _record_veto(context, state, rule, proposal, result.veto_reason or "")
    update: dict[str, Any] = {
        "rule_decision": rule.to_dict(),
        "gate": _gate_state(result, proposal, plan),
        # The state stays JSON: the plan's fields as the server sent them.
        "plan": plan.model_dump(mode="json", exclude_unset=True),
        "action": decision.action.value,
        "approval_id": None,
        "timeline": steps,
    }
    return {**update, **_ending(decision, steps)}


def proposal_from(rationale: Mapping[str, Any] | None, namespace: str) -> LLMProposal | None:
    """The gate's view of an LLM rationale (None when there is none)."""
    if not rationale:
        return None
    target = rationale.get("target_pod")
    proposal_ns: str | None = None
    pod: str | None = None
    if isinstance(target, str) and target.strip():
        if "/" in target:
            proposal_ns, _, pod = target.strip().partition("/")
        else:
            proposal_ns, pod = namespace, target.strip()
    return LLMProposal(
        action=str(rationale.get("proposed_action", "")),
        namespace=proposal_ns,
        pod_name=pod,
        confidence=rationale.get("confidence"),
        reason=str(rationale.get("suspected_cause", ""))[:500],
    )


def _plan_refused(state: IncidentState, failed: ToolCallError) -> dict[str, Any]:
    """The server refused to plan (a failed check): its decision is in the error."""
    details = failed.error.model_extra or {}
    refused_action = str(details.get("action") or "plan")
    update = refused("gate", state, failed.result(), refused_action)
    if details.get("action"):
        update["gate"] = {
            "action": refused_action,
            "source": "rules",
            "vetoed": False,
            "refused": failed.code,
            "checks": details.get("checks") or [],
        }
        update["rule_decision"] = {"action": refused_action}
    return update


def _gate_state(
    result: GateResult, proposal: LLMProposal | None, plan: PlanResult
) -> dict[str, Any]:
    return {
        "action": result.decision.action.value,
        "source": result.source,
        "vetoed": result.vetoed,
        "veto_reason": result.veto_reason,
        "proposal": None if proposal is None else proposal.model_dump(mode="json"),
        "decision": result.decision.to_dict(),
        "requires_approval": plan.requires_approval,
        "plan_id": plan.plan_id,
    }


def _ending(decision: Decision, steps: list[TimelineEntry]) -> dict[str, Any]:
    """How the gated decision ends the incident here (nothing to do, a hand-over, a failed
    safety check), or {} when the act node goes on."""
    if decision.action is Action.NONE:
        return {"outcome": "resolved", "summary": decision.reason}
    if decision.action is Action.INVESTIGATE_MANUALLY:
        return {"outcome": "handed_to_human", "summary": decision.reason}
    blocked = DecisionView.of(decision.to_dict()).blocking_checks()
    if not blocked:
        return {}
    names = ", ".join(f"{c['name']}: {c.get('detail', '')}" for c in blocked)
    return {
        "outcome": "blocked",
        "summary": f"{decision.action.value} blocked by safety checks ({names})",
        "timeline": steps + timeline("gate", "blocked", names[:300]),
    }


def _record_veto(
    context: IncidentContext,
    state: IncidentState,
    rule: Decision,
    proposal: LLMProposal,
    reason: str,
) -> list[TimelineEntry]:
    """Count, log and audit a vetoed proposal; its timeline entry."""
    metrics.llm_vetoes_total.labels(_metric_action(proposal.action)).inc()
    record = {
        "kind": "llm_veto",
        "incident_id": state.get("incident_id"),
        "target": rule.pod.to_dict(),
        "proposed_action": proposal.action,
        "proposal": proposal.model_dump(mode="json"),
        "rule_action": rule.action.value,
        "reason": reason,
    }
    log.warning("LLM proposal vetoed", extra={"veto": record})
    audit(context, record)
    return timeline("gate", "vetoed", f"{proposal.action}: {reason}"[:300])


def _metric_action(proposed: str) -> str:
    # Bounded label values: a hostile model must not mint new series.
    action = parse_action(proposed)
    return action.value if action is not None else "unknown"
