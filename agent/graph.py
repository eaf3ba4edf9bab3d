"""The incident graph: diagnose, rationale, gate, act <-> approve, verify, escalate, report.

The first act call carries no approval: the MCP server answers `approval_required` with an
approval id (and writes nothing) unless the policy auto-approves the action; the approve node
then interrupts with that id and what a human needs to decide, and on resume the act node
retries with the granted id. `interrupt()` sits alone in its node because LangGraph re-runs
the node on resume; every side effect lives in the other nodes.

Every dependency (the MCP tools, the policy, the chat model, how to wait) is injected through
GraphDeps, so the same graph runs under the watch loop, the approvals command, the tests
(where waiting advances a simulated clock) and LangGraph's own server (agent.studio).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import ValidationError

from agent import metrics
from agent.llm import Rationale, ask_rationale
from agent.notify import Notifier
from agent.outcomes import outcome_of
from agent.state import IncidentState, TimelineEntry, entry, now_iso
from agent.tools import (
    AUTO_HEAL_POD,
    DIAGNOSE_POD,
    LIST_UNHEALTHY_PODS,
    PLAN_HEALING,
    Toolbox,
    error_code,
)
from agent.verification import verify_node
from agent.workloads import entry_name, unhealthy_of_workload
from kubemedic_logctx import log_context
from policies import (
    WRITE_ACTIONS,
    Action,
    Decision,
    Diagnosis,
    LLMProposal,
    Outcome,
    Policy,
    gate,
    is_milder,
    parse_action,
    workload_key,
)

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
AuditSink = Callable[[dict[str, Any]], None]

# Errors after which the approval the act node holds was used already (a retry after a crash
# between the server's write and the checkpoint): the action ran; go and verify it.
_APPROVAL_USED = {"approval_used", "approval_consumed"}
# Approvals that cannot be used as they are; the act node asks the server for a new one.
_APPROVAL_UNUSABLE = {"approval_not_granted", "approval_expired", "approval_not_found"}
# Bound on act calls in one incident (first try, retry with approval, escalation and its retry).
MAX_ACT_CALLS = 6


@dataclass(slots=True)
class GraphDeps:
    """What the nodes need from the outside world."""

    toolbox: Toolbox
    policy: Policy
    model: BaseChatModel | None = None
    llm_timeout_seconds: float = 30.0
    caller: str = "kubemedic-agent"
    # How to wait between verification checks: asyncio.sleep in production; tests pass a
    # function that advances the simulated cluster's clock instead.
    sleep: Sleep = asyncio.sleep
    verify_interval_seconds: float = 10.0
    verify_max_checks: int = 18  # the deadline, in looks
    # After increase_memory_limit the verify node also samples the rolled-out pod's memory:
    # usage that keeps rising and would reach the new limit within this horizon is a leak
    # (the raise only delays the next OOM kill), handed to a human instead of "healed".
    leak_horizon_minutes: float = 30.0
    leak_min_samples: int = 3  # samples (one per look) before a trend counts
    # Non-write events worth an audit record (an LLM veto, a human's rejection); the
    # composition root wires it to the server's audit trail. None: log only.
    audit: AuditSink | None = None
    # Where to tell people (a Slack-compatible webhook, agent.notify); None: nobody.
    notify: Notifier | None = None
    # Writes in flight at once, across the incidents that share these deps. Only the write
    # call holds a slot: verification is a status the verify node asks for, slot-free.
    write_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))


Route = Literal["rationale", "gate", "act", "approve", "verify", "escalate", "diagnose", "report"]


def build_graph(deps: GraphDeps) -> StateGraph[IncidentState]:
    """The uncompiled graph; compile it with a checkpointer (see agent.runner)."""
    nodes = _Nodes(deps)
    graph: StateGraph[IncidentState] = StateGraph(IncidentState)
    graph.add_node("diagnose", nodes.diagnose)
    graph.add_node("rationale", nodes.rationale)
    graph.add_node("gate", nodes.gate)
    graph.add_node("act", nodes.act)
    graph.add_node("approve", nodes.approve)
    graph.add_node("verify", nodes.verify)
    graph.add_node("escalate", nodes.escalate)
    graph.add_node("report", nodes.report)
    graph.add_edge(START, "diagnose")
    graph.add_conditional_edges("diagnose", _after_diagnose, ["rationale", "report"])
    graph.add_edge("rationale", "gate")
    graph.add_conditional_edges("gate", _after_gate, ["act", "report"])
    graph.add_conditional_edges("act", _after_act, ["approve", "verify", "report"])
    graph.add_conditional_edges("approve", _after_approve, ["act", "report"])
    graph.add_conditional_edges("verify", _after_verify, ["escalate", "report"])
    graph.add_conditional_edges("escalate", _after_escalate, ["diagnose", "report"])
    graph.add_edge("report", END)
    return graph


# -- routing ---------------------------------------------------------------------------------


def _after_diagnose(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "rationale"


def _after_gate(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "act"


def _after_act(state: IncidentState) -> Route:
    if state.get("outcome"):
        return "report"
    if state.get("pending_approval"):
        return "approve"
    return "verify"


def _after_approve(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "act"


def _after_verify(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "escalate"


def _after_escalate(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "diagnose"


# -- helpers ---------------------------------------------------------------------------------


def _tl(node: str, event: str, detail: str = "") -> list[TimelineEntry]:
    return [entry(node, event, detail)]


def _primary_issue(diagnosis: Mapping[str, Any]) -> str | None:
    issues = [i for i in diagnosis.get("issues") or [] if isinstance(i, Mapping)]
    for severity in ("critical", "warning", "info"):
        for issue in issues:
            if issue.get("severity") == severity and issue.get("type"):
                return str(issue["type"])
    return None


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


def milder_edits(decision: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The milder allowed actions a human may edit to, from a Decision.to_dict()."""
    try:
        action = Action(decision["action"])
    except (KeyError, ValueError):
        return []
    edits = []
    for alt in decision.get("alternatives") or []:
        alt_action = parse_action(alt.get("action"))
        if alt_action is not None and is_milder(alt_action, action):
            edits.append(
                {
                    "action": alt_action.value,
                    "target": alt.get("target"),
                    "reason": alt.get("reason"),
                    "risk": alt.get("estimated_risk"),
                    "writes": alt_action in WRITE_ACTIONS,
                }
            )
    return edits


def _blocking_checks(decision: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        check
        for check in decision.get("checks") or []
        if not check.get("passed") and check.get("name") != "approval"
    ]


# -- nodes -----------------------------------------------------------------------------------


class _Nodes:
    def __init__(self, deps: GraphDeps) -> None:
        self.deps = deps

    async def diagnose(self, state: IncidentState) -> dict[str, Any]:
        namespace, pod = state["namespace"], state["pod_name"]
        with _ctx(state):
            result = await self.deps.toolbox.call(DIAGNOSE_POD, namespace=namespace, pod_name=pod)
        code = error_code(result)
        if code == "not_found":
            return {
                "diagnosis": result,
                "outcome": "resolved",
                "summary": f"pod {namespace}/{pod} is gone; nothing to heal",
                "timeline": _tl("diagnose", "target_gone", f"{namespace}/{pod}"),
            }
        if code is not None:
            message = str((result.get("error") or {}).get("message", ""))
            return {
                "diagnosis": result,
                "outcome": "failed",
                "summary": f"diagnose_pod failed: {code}: {message}",
                "timeline": _tl("diagnose", "error", f"{code}: {message}"),
            }
        try:
            parsed = Diagnosis.model_validate(result)
        except ValidationError as exc:
            return {
                "diagnosis": result,
                "outcome": "failed",
                "summary": "the diagnosis does not fit the contract: " + str(exc)[:300],
                "timeline": _tl("diagnose", "error", "diagnosis does not validate"),
            }
        issue = _primary_issue(result)
        update: dict[str, Any] = {
            "diagnosis": result,
            "issue_type": issue,
            "workload": workload_key(parsed),
            "timeline": _tl(
                "diagnose",
                "diagnosed",
                f"{issue or 'no issues'}; workload {workload_key(parsed)}",
            ),
        }
        if not parsed.issues:
            update["outcome"] = "resolved"
            update["summary"] = f"pod {namespace}/{pod} shows no issues now"
        return update

    async def rationale(self, state: IncidentState) -> dict[str, Any]:
        target = f"{state['namespace']}/{state['pod_name']}"
        with _ctx(state):
            outcome = await ask_rationale(
                self.deps.model,
                state.get("diagnosis") or {},
                target=target,
                timeout_seconds=self.deps.llm_timeout_seconds,
            )
        detail = outcome.detail
        if outcome.rationale is not None:
            r = outcome.rationale
            detail = f"proposes {r.proposed_action.value} ({r.confidence:.2f}): {r.summary}"[:300]
        return {
            "llm": outcome.to_state(),
            "rules_only": outcome.status != "ok",
            "timeline": _tl("rationale", outcome.status, detail),
        }

    async def gate(self, state: IncidentState) -> dict[str, Any]:
        """Gate the LLM's proposal against the plan the server returned: agree, or pick a
        milder action the rules allow (a plan for it from the server); anything else is a
        veto. The server decides; this node only ever narrows what it decided."""
        namespace, pod = state["namespace"], state["pod_name"]
        with _ctx(state):
            planned = await self.deps.toolbox.call(PLAN_HEALING, namespace=namespace, pod_name=pod)
        if error_code(planned) is not None:
            # The server refused to plan (a failed check): its decision is in the error.
            error = planned.get("error") or {}
            refused_action = str(error.get("action") or "plan")
            refusal = _refused("gate", state, planned, refused_action)
            if error.get("action"):
                refusal["gate"] = {
                    "action": refused_action,
                    "source": "rules",
                    "vetoed": False,
                    "refused": error_code(planned),
                    "checks": error.get("checks") or [],
                }
                refusal["rule_decision"] = {"action": refused_action}
            return refusal
        rule = Decision.from_dict(planned.get("decision") or {})
        llm = state.get("llm") or {}
        rationale = llm.get("rationale") if llm.get("status") == "ok" else None
        proposal = proposal_from(rationale, namespace)
        result = gate(rule, proposal)
        decision = result.decision
        plan = planned
        if decision.action is not rule.action:
            with _ctx(state):
                plan = await self.deps.toolbox.call(
                    PLAN_HEALING, namespace=namespace, pod_name=pod, action=decision.action.value
                )
            if error_code(plan) is not None:
                return _refused("gate", state, plan, decision.action.value)
        gate_state: dict[str, Any] = {
            "action": decision.action.value,
            "source": result.source,
            "vetoed": result.vetoed,
            "veto_reason": result.veto_reason,
            "proposal": None if proposal is None else proposal.model_dump(mode="json"),
            "decision": decision.to_dict(),
            "requires_approval": bool(plan.get("requires_approval")),
            "plan_id": plan.get("plan_id"),
        }
        timeline = _tl(
            "gate",
            "decided",
            f"{decision.action.value} ({result.source}): {decision.reason}"[:300],
        )
        if result.vetoed and proposal is not None:
            metrics.llm_vetoes_total.labels(_metric_action(proposal.action)).inc()
            timeline += _tl("gate", "vetoed", f"{proposal.action}: {result.veto_reason}"[:300])
            _audit_veto(self.deps, state, rule, proposal, result.veto_reason or "")
        update: dict[str, Any] = {
            "rule_decision": rule.to_dict(),
            "gate": gate_state,
            "plan": plan,
            "action": decision.action.value,
            "approval_id": None,
            "timeline": timeline,
        }
        blocked = _blocking_checks(gate_state["decision"])
        if decision.action is Action.NONE:
            update["outcome"] = "resolved"
            update["summary"] = decision.reason
        elif decision.action is Action.INVESTIGATE_MANUALLY:
            update["outcome"] = "handed_to_human"
            update["summary"] = decision.reason
        elif blocked:
            names = ", ".join(f"{c['name']}: {c.get('detail', '')}" for c in blocked)
            update["outcome"] = "blocked"
            update["summary"] = f"{decision.action.value} blocked by safety checks ({names})"
            update["timeline"] = timeline + _tl("gate", "blocked", names[:300])
        return update

    async def act(self, state: IncidentState) -> dict[str, Any]:
        action = state.get("action") or Action.INVESTIGATE_MANUALLY.value
        attempts = int(state.get("attempts") or 0) + 1
        if attempts > MAX_ACT_CALLS:
            return {
                "outcome": "failed",
                "summary": f"gave up after {MAX_ACT_CALLS} calls to {AUTO_HEAL_POD}",
                "timeline": _tl("act", "gave_up"),
            }
        if action in (Action.NONE.value, Action.INVESTIGATE_MANUALLY.value):
            # Reached after a human edited the action down to a hand-over: nothing to call.
            return {
                "outcome": "handed_to_human",
                "summary": f"{action}: handed to a human",
                "timeline": _tl("act", "handed_to_human", action),
            }
        approval_id = state.get("approval_id")
        plan: Mapping[str, Any] = state.get("plan") or {}
        update: dict[str, Any] = {"attempts": attempts}
        timeline: list[TimelineEntry] = []
        with _ctx(state):
            if plan.get("action") != action:
                # A human edited the action to a milder one: the server plans that one.
                plan = await self._plan(state, action)
                if error_code(plan) is not None:
                    return {**update, **_refused("act", state, plan, action)}
                update["plan"] = plan
            result = await self._execute(state, plan, approval_id)
            if error_code(result) == "plan_stale":
                # The pod or its workload moved on while we waited (e.g. for a human): a
                # fresh plan; a destructive one needs a fresh approval for what it now does.
                timeline += _tl("act", "plan_stale", _message(result)[:300])
                plan = await self._plan(state, action)
                if error_code(plan) is not None:
                    return {
                        **update,
                        **_refused("act", state, plan, action),
                        "action_result": result,
                    }
                update["plan"] = plan
                approval_id = None
                result = await self._execute(state, plan, None)
            unusable = error_code(result)
            if approval_id and unusable in _APPROVAL_UNUSABLE:
                # Resumed without a usable grant (expired, or answered somewhere that cannot
                # grant the server's record): ask again instead of giving up.
                timeline += _tl("act", str(unusable), _message(result)[:300])
                result = await self._execute(state, plan, None)
        update["action_result"] = result
        if error_code(result) is None:
            return {**update, **_acted(state, result, action, approval_id, timeline)}
        if error_code(result) == "approval_required":
            payload = _approval_payload(state, action, result.get("error") or {})
            await _notify(self.deps, {**payload, "kind": "approval"})
            return {
                **update,
                "pending_approval": payload,
                "timeline": timeline
                + _tl("act", "approval_required", f"{action} approval {payload['approval_id']}"),
            }
        refused = _server_hand_over(result) or _refused("act", state, result, action)
        return {**update, **refused, "timeline": timeline + refused["timeline"]}

    async def _plan(self, state: IncidentState, action: str) -> dict[str, Any]:
        return await self.deps.toolbox.call(
            PLAN_HEALING, namespace=state["namespace"], pod_name=state["pod_name"], action=action
        )

    async def _execute(
        self, state: IncidentState, plan: Mapping[str, Any], approval_id: str | None
    ) -> dict[str, Any]:
        """Execute the server's plan. The idempotency key is the incident's and the plan's:
        a retry after a crash gets the recorded outcome instead of a second write."""
        plan_id = str(plan.get("plan_id") or "")
        asked = time.perf_counter()
        async with self.deps.write_slots:
            metrics.write_slot_wait_seconds.observe(time.perf_counter() - asked)
            return await self.deps.toolbox.call(
                AUTO_HEAL_POD,
                namespace=state["namespace"],
                pod_name=state["pod_name"],
                plan_id=plan_id,
                approval_id=approval_id,
                idempotency_key=f"{state.get('incident_id')}:{plan_id}"[:128],
            )

    async def approve(self, state: IncidentState) -> dict[str, Any]:
        # Alone in its node: on resume LangGraph re-runs this function and `interrupt` returns
        # the human's answer. Nothing before it may have side effects.
        payload = state.get("pending_approval") or {}
        answer = interrupt(payload)
        return resolve_answer(payload, answer)

    async def verify(self, state: IncidentState) -> dict[str, Any]:
        return await verify_node(self.deps, state)

    async def escalate(self, state: IncidentState) -> dict[str, Any]:
        return await escalate_node(self.deps, state)

    async def report(self, state: IncidentState) -> dict[str, Any]:
        return await report_node(self.deps, state)


def _ctx(state: IncidentState) -> Any:
    return log_context(
        incident_id=state.get("incident_id"),
        thread_id=state.get("incident_id"),
        target=f"{state.get('namespace')}/{state.get('pod_name')}",
    )


def _refused(
    node: str, state: IncidentState, result: Mapping[str, Any], action: str
) -> dict[str, Any]:
    """An error answer as the incident's outcome, through the one table."""
    code = error_code(result) or "error"
    error = result.get("error") or {}
    message = str(error.get("message", "")) if isinstance(error, Mapping) else ""
    outcome = outcome_of(code)
    if code == "not_found":
        summary = f"pod {state['namespace']}/{state['pod_name']} is gone; nothing done"
    elif outcome == "blocked":
        summary = f"{action} not done: {code}: {message}"
    else:
        summary = f"{action} failed: {code}: {message}"
    return {
        "outcome": outcome,
        "summary": summary[:500],
        "timeline": _tl(node, code, message[:300]),
    }


async def _notify(deps: GraphDeps, event: dict[str, Any]) -> None:
    if deps.notify is None:
        return
    try:
        await deps.notify(event)
    except Exception:  # noqa: BLE001 - telling people must not break the incident
        log.exception("notification failed")


def _audit_veto(
    deps: GraphDeps, state: IncidentState, rule: Decision, proposal: LLMProposal, reason: str
) -> None:
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
    _audit(deps, record)


def _audit(deps: GraphDeps, record: dict[str, Any]) -> None:
    if deps.audit is None:
        return
    try:
        deps.audit(record)
    except Exception:  # noqa: BLE001 - an audit sink failure must not stop the incident
        log.exception("audit sink failed", extra={"audit_kind": record.get("kind")})


def _approval_payload(
    state: IncidentState, action: str, error: Mapping[str, Any]
) -> dict[str, Any]:
    gate_state = state.get("gate") or {}
    decision = gate_state.get("decision") or {}
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
        "target": error.get("target") or decision.get("target"),
        "pod": {"namespace": state["namespace"], "name": state["pod_name"]},
        "workload": state.get("workload"),
        "issue_type": state.get("issue_type"),
        "reason": str(error.get("reason") or decision.get("reason") or ""),
        "risk": str(error.get("risk") or decision.get("estimated_risk") or ""),
        "rule_decision": {
            "action": decision.get("action"),
            "reason": decision.get("reason"),
            "confidence": decision.get("confidence"),
            "estimated_risk": decision.get("estimated_risk"),
            "source": gate_state.get("source"),
        },
        "llm_rationale": llm.get("rationale"),
        "llm_status": llm.get("status"),
        "veto": veto,
        "edits": milder_edits(decision) if action == decision.get("action") else [],
        "escalated": bool(state.get("escalated")),
        "expires_at": error.get("expires_at"),
        "plan_id": error.get("plan_id"),
        "parameters": error.get("parameters") or {},
        # The server's dry-run preview of the change (already redacted by the server).
        "preview": error.get("preview"),
        "requested_at": now_iso(),
    }


async def escalate_node(deps: GraphDeps, state: IncidentState) -> dict[str, Any]:
    namespace = state["namespace"]
    workload = state.get("workload")
    verification = state.get("verification") or {}
    if verification.get("leak"):
        # Raising the limit again would only delay the next OOM kill: a person must find
        # the leak. The raise stays (it buys time).
        memory = verification.get("memory") or {}
        described = _leak_evidence(memory)
        return {
            "escalated": True,
            "outcome": "handed_to_human",
            "summary": f"{state.get('action')} on {workload} did not fix it: {described}: "
            "likely a memory leak; a human must look (the raised limit stays)",
            "timeline": _tl("escalate", "leak", described[:300]),
        }
    result = await deps.toolbox.call(LIST_UNHEALTHY_PODS, namespace=namespace)
    broken = unhealthy_of_workload(result, namespace, workload)
    if not broken:
        return {
            "escalated": True,
            "outcome": "not_healed",
            "summary": f"{workload} was not stable after {state.get('action')}, and no "
            "unhealthy pod is left to diagnose: a human should look",
            "timeline": _tl("escalate", "nothing_to_diagnose"),
        }
    pod = entry_name(broken[0])
    return {
        "escalated": True,
        "pod_name": pod,
        "diagnosis": None,
        "llm": None,
        "rule_decision": None,
        "gate": None,
        "approval": None,
        "approval_id": None,
        "pending_approval": None,
        "action": None,
        "plan": None,
        "action_id": None,
        "timeline": _tl(
            "escalate", "escalating", f"{state.get('action')} did not heal; re-diagnosing {pod}"
        ),
    }


async def report_node(deps: GraphDeps, state: IncidentState) -> dict[str, Any]:
    outcome = state.get("outcome") or "failed"
    summary = state.get("summary") or outcome
    if state.get("rules_only", True):
        llm = state.get("llm") or {}
        why = llm.get("detail") or "no LLM rationale"
        summary = f"{summary} (decision: rules only; {why})"
    metrics.incidents_total.labels(outcome).inc()
    approval = state.get("approval") or {}
    if outcome == "rejected" and approval:
        decision = (state.get("gate") or {}).get("decision") or {}
        _audit(
            deps,
            {
                "kind": "rejection",
                "incident_id": state.get("incident_id"),
                "approval_id": approval.get("approval_id"),
                "action": approval.get("action") or state.get("action"),
                "target": decision.get("target")
                or {
                    "kind": "Pod",
                    "namespace": state.get("namespace"),
                    "name": state.get("pod_name"),
                },
                "approver": approval.get("approver"),
                "reason": approval.get("note") or "",
            },
        )
    with _ctx(state):
        log.info("incident closed", extra={"outcome": outcome, "summary": summary})
    await _notify(
        deps,
        {
            "kind": "incident",
            "incident_id": state.get("incident_id"),
            "workload": f"{state.get('namespace')}/{state.get('workload')}",
            "pod": state.get("pod_name"),
            "outcome": outcome,
            "action": state.get("action"),
            "approver": (state.get("approval") or {}).get("approver"),
            "summary": summary,
        },
    )
    return {
        "outcome": outcome,
        "summary": summary,
        "pending_approval": None,
        "timeline": _tl("report", outcome, summary[:300]),
    }


def _acted(
    state: IncidentState,
    result: Mapping[str, Any],
    action: str,
    approval_id: str | None,
    timeline: list[TimelineEntry],
) -> dict[str, Any]:
    """The act node's update after a write (or a read-only action) the server carried out."""
    taken = str(result.get("action_taken") or action)
    update: dict[str, Any] = {
        "action_id": result.get("action_id"),
        "approval_id": None,
        "history": [
            *(state.get("history") or []),
            {
                "action": taken,
                "at": datetime.now(UTC).isoformat(),
                "namespace": state["namespace"],
                "workload": state.get("workload"),
                "outcome": Outcome.EXECUTED.value,
                "approval_id": approval_id,
                "action_id": result.get("action_id"),
                "replayed": bool(result.get("replayed")),
            },
        ],
        "timeline": timeline + _tl("act", "acted", f"{taken}: {result.get('reason', '')}"[:300]),
    }
    if parse_action(taken) not in WRITE_ACTIONS:
        # check_image_availability / investigate: a report for a human, nothing healed.
        update["outcome"] = "handed_to_human"
        update["summary"] = str(result.get("reason") or taken)
    return update


def _server_hand_over(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The server's rules decided differently from our gate (a fresher look at the pod) and
    chose a hand-over: the incident ends that way."""
    error = result.get("error") or {}
    if error_code(result) != "vetoed" or not isinstance(error, Mapping):
        return None
    server_action = parse_action(error.get("rule_action"))
    if server_action not in (Action.NONE, Action.INVESTIGATE_MANUALLY):
        return None
    assert server_action is not None
    reason = str(error.get("rule_reason") or error.get("message", ""))
    return {
        "outcome": "handed_to_human",
        "summary": f"the server's rules decided {server_action.value}: {reason}",
        "timeline": _tl("act", "server_decided", reason[:300]),
    }


def _message(result: Mapping[str, Any]) -> str:
    error = result.get("error")
    return str(error.get("message", "")) if isinstance(error, Mapping) else ""


def _leak_evidence(memory: Mapping[str, Any]) -> str:
    found = memory.get("trend") or {}
    rate = float(found.get("rate_mib_per_minute") or 0.0)
    minutes = float(found.get("minutes_to_limit") or 0.0)
    usage = int(found.get("usage_bytes") or 0) / 2**20
    limit = int(found.get("limit_bytes") or 0) / 2**20
    return (
        f"memory of {memory.get('pod')} still growing ~{rate:.0f}Mi/min ({usage:.0f}Mi of "
        f"{limit:.0f}Mi); the new limit would be reached in ~{minutes:.0f} min"
    )


def _metric_action(proposed: str) -> str:
    # Bounded label values: a hostile model must not mint new series.
    action = parse_action(proposed)
    return action.value if action is not None else "unknown"


def resolve_answer(payload: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    """Turn the human's resume value into a state update (pure: the approve node re-runs)."""
    if not isinstance(answer, Mapping):
        answer = {"decision": str(answer)}
    decision = str(answer.get("decision", "")).strip().lower()
    approver = str(answer.get("approver") or "").strip() or "unknown"
    action = str(payload.get("action") or "")
    timeline_detail = f"{decision} by {approver}"
    record: dict[str, Any] = {
        "decision": decision,
        "approver": approver,
        "approval_id": payload.get("approval_id"),
        "action": action,
        "note": str(answer.get("reason") or answer.get("note") or "")[:500],
    }
    if decision in ("approve", "accept", "yes", "y"):
        record["decision"] = "approve"
        return {
            "approval": record,
            "approval_id": str(answer.get("approval_id") or payload.get("approval_id") or ""),
            "pending_approval": None,
            "timeline": _tl("approve", "approved", timeline_detail),
        }
    if decision == "edit":
        edited = parse_action(answer.get("edited_action"))
        allowed = {e.get("action") for e in payload.get("edits") or []}
        if edited is None or edited.value not in allowed:
            record["decision"] = "reject"
            wanted = answer.get("edited_action")
            record["note"] = f"edit to {wanted!r} is not an allowed milder action"
            return {
                "approval": record,
                "approval_id": None,
                "pending_approval": None,
                "outcome": "rejected",
                "summary": f"{action} not done: {record['note']}",
                "timeline": _tl("approve", "rejected", record["note"]),
            }
        record["edited_action"] = edited.value
        return {
            "approval": record,
            "action": edited.value,
            # A new approval for the edited action, granted by whoever edited (if they did).
            "approval_id": answer.get("approval_id") or None,
            "pending_approval": None,
            "timeline": _tl("approve", "edited", f"{action} -> {edited.value} by {approver}"),
        }
    record["decision"] = "reject"
    return {
        "approval": record,
        "approval_id": None,
        "pending_approval": None,
        "outcome": "rejected",
        "summary": f"{action} rejected by {approver}; nothing written"
        + (f" ({record['note']})" if record["note"] else ""),
        "timeline": _tl("approve", "rejected", timeline_detail),
    }


def rationale_of(state: Mapping[str, Any]) -> Rationale | None:
    llm = state.get("llm") or {}
    data = llm.get("rationale")
    return Rationale.model_validate(data) if data else None
