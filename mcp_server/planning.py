"""Planning: the server's one decision for a pod, as a plan the executor can carry out.

The planner diagnoses the pod (reusing a diagnosis of the same pod version made moments ago
by `diagnose_pod`), reads the guard rails a write needs (PodDisruptionBudgets, LimitRanges),
lets the rule engine decide, gates a caller's proposed action against it (the rule action or
a milder allowed one; anything else is vetoed), refuses on a failed safety check, and stores
the plan under its digest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mcp_server import metrics
from mcp_server.auth import Caller
from mcp_server.diagnosis_reads import fetch_diagnosis_inputs, fetch_guard_rails
from mcp_server.errors import ErrorCode
from mcp_server.gateway import DiagnosisInputs, Forbidden, Gateway, NotFound
from mcp_server.plans import Plan, PlanFacts
from mcp_server.pod_diagnosis import diagnose_inputs, memory_history_of
from mcp_server.state import ServerState
from mcp_server.tools.models import ToolFailure
from mcp_server.writes import WriteRefused, label_selector
from policies import (
    WRITE_ACTIONS,
    Action,
    CheckResult,
    Decision,
    DecisionContext,
    Diagnosis,
    LLMProposal,
    decide,
    gate,
)

# The first failed check decides the error code of a refusal.
CHECK_CODES = {
    "target_exists": ErrorCode.NOT_FOUND,
    "managed_by_controller": ErrorCode.NOT_MANAGED,
    "action_fits_issue": ErrorCode.ACTION_NOT_APPROPRIATE,
    "namespace_not_protected": ErrorCode.PROTECTED_NAMESPACE,
    "rate_limit": ErrorCode.RATE_LIMITED,
    "blast_radius": ErrorCode.BLAST_RADIUS,
}
# The workload kinds whose writes the server performs, per workload action.
WRITABLE_KINDS = {
    Action.INCREASE_MEMORY_LIMIT: frozenset({"Deployment", "StatefulSet", "DaemonSet"}),
    Action.ROLLBACK_DEPLOYMENT: frozenset({"Deployment", "StatefulSet", "DaemonSet"}),
    Action.SCALE_DOWN_DEPLOYMENT: frozenset({"Deployment"}),
}
# A diagnosis of the same pod version is reused for this long (diagnose_pod, then plan).
MEMO_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Planned:
    plan: Plan
    decision: Decision
    diagnosis: Diagnosis
    inputs: DiagnosisInputs


class DiagnosisMemo:
    """The last full diagnosis inputs per pod, keyed by the pod's resourceVersion."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, float, DiagnosisInputs]] = {}

    def put(self, inputs: DiagnosisInputs, at: float) -> None:
        meta = inputs.pod.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        with self._lock:
            self._entries[key] = (str(meta.get("resourceVersion") or ""), at, inputs)
            if len(self._entries) > 1024:  # bounded: drop the oldest
                oldest = min(self._entries, key=lambda k: self._entries[k][1])
                del self._entries[oldest]

    def get(
        self, namespace: str, name: str, resource_version: str, at: float
    ) -> DiagnosisInputs | None:
        with self._lock:
            found = self._entries.get((namespace, name))
        if found is None or not resource_version:
            return None
        version, stored_at, inputs = found
        if version != resource_version or at - stored_at > MEMO_SECONDS:
            return None
        return inputs

    def of_pod(self, namespace: str, name: str, uid: str) -> DiagnosisInputs | None:
        """The last inputs read for this incarnation of the pod, however old (what an
        approval's evidence is taken from); None when none is kept."""
        with self._lock:
            found = self._entries.get((namespace, name))
        if found is None or not uid:
            return None
        inputs = found[2]
        if str((inputs.pod.get("metadata") or {}).get("uid") or "") != uid:
            return None
        return inputs


def diagnosis_inputs(state: ServerState, namespace: str, pod_name: str) -> DiagnosisInputs:
    """Full inputs for a decision: the memo when the cache shows the same pod version, else
    a fresh read; then the guard rails."""
    now = state.clock.monotonic()
    cached = state.cache.get(namespace, pod_name) if state.cache is not None else None
    version = str(((cached or {}).get("metadata") or {}).get("resourceVersion") or "")
    inputs = state.memo.get(namespace, pod_name, version, now)
    if inputs is None:
        try:
            inputs = fetch_diagnosis_inputs(state.gateway, namespace, pod_name)
        except NotFound as error:
            raise ToolFailure(
                ErrorCode.NOT_FOUND, f"pod {namespace}/{pod_name} not found"
            ) from error
        state.memo.put(inputs, now)
    if not inputs.guard_rails_read:
        fetch_guard_rails(state.gateway, inputs)
        fetch_revisions(state.gateway, inputs)
    return inputs


def fetch_revisions(gateway: Gateway, inputs: DiagnosisInputs) -> None:
    """A StatefulSet's or DaemonSet's ControllerRevisions the diagnosis' budget left out: a
    decision on a write needs its rollout history (a missing one would only make the rules
    refuse a rollback they should allow), as it needs the guard rails."""
    workload = inputs.workload
    if workload is None or inputs.controller_revisions:
        return
    namespace = str((inputs.pod.get("metadata") or {}).get("namespace") or "")
    try:
        selector = label_selector((workload.get("spec") or {}).get("selector") or {})
        inputs.controller_revisions = gateway.list_controller_revisions(
            namespace, label_selector=selector or None
        )
    except (Forbidden, WriteRefused) as error:
        inputs.skipped.append(f"controllerrevisions: {error}")


def decide_for(
    state: ServerState,
    diagnosis: Diagnosis,
    caller: Caller,
    *,
    proposal: str | None,
    approved: bool = False,
) -> Decision:
    """The rule decision, gated against a proposed action when one is given."""
    context = DecisionContext.from_store(
        state.action_history,
        diagnosis,
        state.policy,
        now=state.clock.now(),
        caller=caller.name,
        force=False,
        approval_granted=approved,
        target_exists=True,
    )
    rule = decide(diagnosis, context)
    if proposal is None:
        return rule
    gated = gate(
        rule,
        LLMProposal(action=proposal, namespace=diagnosis.namespace, pod_name=diagnosis.pod_name),
    )
    if gated.vetoed:
        metrics.vetoes_total.labels(source="rules").inc()
        raise ToolFailure(
            ErrorCode.VETOED,
            gated.veto_reason or "not allowed",
            rule_action=rule.action.value,
            rule_reason=rule.reason,
            allowed=sorted(a.value for a in rule.allowed_actions),
        )
    return gated.decision


def blocking_checks(decision: Decision) -> list[CheckResult]:
    """Failed checks other than the approval (which the executor asks for)."""
    if decision.action not in WRITE_ACTIONS:
        return []
    return [c for c in decision.checks if not c.passed and c.name != "approval"]


def refuse_failed_checks(decision: Decision) -> None:
    """Raise for the first failed check other than the approval (which the executor asks)."""
    if decision.action not in WRITE_ACTIONS:
        return
    failed = [c for c in decision.checks if not c.passed]
    for check in failed:
        metrics.safety_rejections_total.labels(check=check.name).inc()
        if check.name == "rate_limit":
            metrics.rate_limited_total.labels(scope=check.scope or "global").inc()
    blocking = [c for c in failed if c.name != "approval"]
    if blocking:
        first = blocking[0]
        raise ToolFailure(
            CHECK_CODES.get(first.name, ErrorCode.SAFETY_CHECK_FAILED),
            first.detail,
            check=first.name,
            checks=[c.to_dict() for c in decision.checks],
            action=decision.action.value,
        )


def plan_for(
    state: ServerState, namespace: str, pod_name: str, caller: Caller, proposal: str | None
) -> Planned:
    inputs = diagnosis_inputs(state, namespace, pod_name)
    diagnosis = diagnose_inputs(inputs, state.policy, memory_history_of(state.usage, inputs))
    decision = decide_for(state, diagnosis, caller, proposal=proposal)
    supported = WRITABLE_KINDS.get(decision.action)
    if supported is not None and decision.target.kind not in supported:
        # Say so before anyone is asked to approve what the server cannot do.
        raise ToolFailure(
            ErrorCode.UNSUPPORTED,
            f"{decision.action.value} on a {decision.target.kind} is not supported "
            f"by this server ({', '.join(sorted(supported))} only)",
            decision=decision.to_dict(),
        )
    # A plan whose checks failed is still a plan (a caller sees what the rules would do and
    # what stops it); executing it is refused with the first failed check's code.
    plan = build_plan(state, decision, inputs)
    state.ledger.save_plan(plan)
    return Planned(plan, decision, diagnosis, inputs)


def build_plan(state: ServerState, decision: Decision, inputs: DiagnosisInputs) -> Plan:
    pod_meta = inputs.pod.get("metadata") or {}
    pod_uid = str(pod_meta.get("uid") or "")
    generation: int | None = None
    target_uid = pod_uid
    workload = inputs.deployment if decision.target.kind == "Deployment" else inputs.workload
    workload_meta = (workload or {}).get("metadata") or {}
    if (
        decision.target.kind != "Pod"
        and workload is not None
        and workload_meta.get("name") == decision.target.name
    ):
        generation = int(workload_meta.get("generation") or 0)
        target_uid = str(workload_meta.get("uid") or "")
    elif decision.target.kind != "Pod":
        target_uid = ""
    diagnosis_issue_types = tuple(sorted({str(i) for i in decision_issue_types(decision)}))
    return Plan(
        action=decision.action.value,
        target={**decision.target.to_dict(), "uid": target_uid},
        pod={**decision.pod.to_dict(), "uid": pod_uid},
        workload=decision.workload,
        parameters=dict(decision.parameters),
        facts=PlanFacts(
            pod_uid=pod_uid,
            pod_resource_version=str(pod_meta.get("resourceVersion") or ""),
            workload_generation=generation,
            issue_types=diagnosis_issue_types,
        ),
        risk=decision.estimated_risk.value,
        requires_approval=decision.writes and decision.requires_approval,
        reason=decision.reason,
        issue_type=decision.issue_type,
        decision=decision.to_dict(),
        created_at=state.clock.now().timestamp(),
        cluster=state.cluster,
    )


def decision_issue_types(decision: Decision) -> list[str]:
    return [decision.issue_type] if decision.issue_type else []
