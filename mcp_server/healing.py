"""The healing executor: every write the server makes goes through here, whoever asked.

For one request it re-diagnoses the pod itself, refuses a caller's diagnosis that claims what
the cluster does not show, lets the rule engine decide (a caller may only pick the rule action
or a milder allowed one), runs the safety checks, asks for (or consumes) a human approval,
acts (with `dryRun=All` for a dry run), writes a Kubernetes Event on the target, records the
action in the rate-limit store, verifies the workload recovered, and writes exactly one audit
record — success, failure or refusal — before the answer goes back.
"""

from __future__ import annotations

import copy
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mcp_server import metrics
from mcp_server.approvals import ApprovalError, target_key
from mcp_server.audit import AuditTarget, Result
from mcp_server.auth import Caller
from mcp_server.diagnosis import diagnose_inputs
from mcp_server.gateway import DiagnosisInputs, GatewayError, NotFound
from mcp_server.state import ServerState
from mcp_server.tools.models import HealResult, RollbackResult, ToolFailure, Verification
from policies import (
    WORKLOAD_ACTIONS,
    WRITE_ACTIONS,
    Action,
    Decision,
    DecisionContext,
    Diagnosis,
    LLMProposal,
    Outcome,
    gate,
    workload_key,
)

log = logging.getLogger(__name__)

JSON = dict[str, Any]
R = TypeVar("R")
REVISION = "deployment.kubernetes.io/revision"

# Issue types that are one condition seen at different moments: a crash-looping container
# is by turns waiting (CrashLoopBackOff), terminated (Error, OOMKilled) and briefly running.
_FAMILIES: tuple[frozenset[str], ...] = (
    # OOMKilled is not in it: the kubelet names that reason itself, a crash does not imply it.
    frozenset({"CrashLoopBackOff", "Error", "HighRestartCount", "LivenessProbeFailed"}),
    frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"}),
    frozenset({"Pending", "UnboundPVC"}),
    frozenset({"CreateContainerConfigError", "MissingConfigRef"}),
)
# Observations that depend on what a diagnosis could afford to read (metrics, logs); a caller
# may have seen them when the server's budget did not. They never drive a write on their own.
_ADVISORY = frozenset(
    {
        "LogErrors",
        "HighMemoryUsage",
        "HighCPUUsage",
        "NoResourceLimits",
        "NotReady",
        "ReadinessProbeFailed",
        "ProbeMisconfigured",
    }
)

# Annotations `kubectl rollout undo` never copies from the ReplicaSet to the Deployment.
_ROLLBACK_SKIP_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

# The values an approval binds besides the action and the target.
_APPROVED_PARAMETERS = ("memory_limit_bytes", "container", "revision", "replicas")

# The first failed check decides the error code of a refusal.
_CHECK_CODES = {
    "target_exists": "not_found",
    "managed_by_controller": "not_managed",
    "action_fits_issue": "action_not_appropriate",
    "namespace_not_protected": "protected_namespace",
    "rate_limit": "rate_limited",
    "blast_radius": "blast_radius",
}


@dataclass
class HealRequest:
    namespace: str
    pod_name: str
    diagnosis: JSON
    caller: Caller
    dry_run: bool = False
    force: bool = False
    action: str | None = None
    approval_id: str | None = None


@dataclass
class RollbackRequest:
    namespace: str
    deployment_name: str
    caller: Caller
    revision: int | None = None
    approval_id: str | None = None
    dry_run: bool = False
    force: bool = False


@dataclass
class _Attempt:
    """What the audit record will say; filled in as the request goes."""

    action: str
    target: AuditTarget
    initiator: str
    dry_run: bool
    reason: str = ""
    approver: str | None = None
    result: Result = "failure"
    error: JSON | None = None
    details: JSON = field(default_factory=dict)
    no_write: bool = False  # the decision was read-only: nothing was (or would be) written


def forged_issue_types(claimed: JSON, actual: Diagnosis) -> list[str]:
    """Issue types the caller's diagnosis claims and the cluster does not show."""
    seen = actual.issue_types
    raw = claimed.get("issues")
    claimed_types = {
        str(issue.get("type"))
        for issue in (raw if isinstance(raw, list) else [])
        if isinstance(issue, dict) and issue.get("type") is not None
    }
    forged = []
    for issue_type in sorted(claimed_types):
        if issue_type in seen or issue_type in _ADVISORY:
            continue
        if any(issue_type in family and family & seen for family in _FAMILIES):
            continue
        forged.append(issue_type)
    return forged


def _now_text(state: ServerState) -> str:
    return state.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _memory_text(value: int) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def _is_ready(pod: JSON) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status")) == "True"
    return False


def _restarts(pod: JSON) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def _pod_status_text(pod: JSON) -> str:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase") or "Unknown")


def _selector(match_labels: JSON) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def _owner_uid(obj: JSON, kind: str) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == kind:
            return str(ref.get("uid"))
    return None


def _revision(obj: JSON) -> int | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class Healer:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._instance = socket.gethostname()

    # ---------------------------------------------------------------------------- entry points

    def heal(self, request: HealRequest) -> HealResult:
        attempt = _Attempt(
            action=request.action or "auto",
            target=AuditTarget("Pod", request.namespace, request.pod_name),
            initiator=request.caller.name,
            dry_run=request.dry_run,
        )
        return self._audited(attempt, lambda: self._heal(request, attempt))

    def rollback(self, request: RollbackRequest) -> RollbackResult:
        attempt = _Attempt(
            action=Action.ROLLBACK_DEPLOYMENT.value,
            target=AuditTarget("Deployment", request.namespace, request.deployment_name),
            initiator=request.caller.name,
            dry_run=request.dry_run,
        )
        return self._audited(attempt, lambda: self._rollback(request, attempt))

    def _audited(self, attempt: _Attempt, run: Callable[[], R]) -> R:
        """Run one request; whatever happens, one audit record is on disk before we answer."""
        started = self.state.clock.monotonic()
        try:
            result = run()
            if attempt.no_write:
                attempt.result = "no_write"
            else:
                attempt.result = "dry_run" if attempt.dry_run else "success"
            return result
        except ToolFailure as failure:
            attempt.result = (
                "failure" if failure.code in ("api_error", "write_failed") else ("refused")
            )
            attempt.error = {"code": failure.code, "message": failure.message}
            raise
        except GatewayError as error:
            attempt.result = "failure"
            attempt.error = {"code": error.code, "message": error.message}
            raise ToolFailure(error.code, error.message, retryable=error.retryable) from error
        except Exception as error:  # noqa: BLE001 - never a traceback to the caller
            log.exception("healing failed unexpectedly")
            attempt.result = "failure"
            attempt.error = {"code": "internal_error", "message": type(error).__name__}
            raise ToolFailure("internal_error", "the server failed; see its log") from error
        finally:
            self.state.audit.append(
                action=attempt.action,
                target=attempt.target,
                reason=attempt.reason,
                initiator=attempt.initiator,
                approver=attempt.approver,
                result=attempt.result,
                dry_run=attempt.dry_run,
                duration_seconds=self.state.clock.monotonic() - started,
                error=attempt.error,
                details=attempt.details,
            )

    # ---------------------------------------------------------------------------- auto_heal_pod

    def _heal(self, request: HealRequest, attempt: _Attempt) -> HealResult:
        self._check_caller(request.caller, request.force)
        diagnosis, inputs = self._diagnose(request.namespace, request.pod_name)
        attempt.details["issue_types"] = sorted(diagnosis.issue_types)

        claimed_ns = request.diagnosis.get("namespace")
        claimed_pod = request.diagnosis.get("pod_name")
        if (claimed_ns not in (None, request.namespace)) or (
            claimed_pod not in (None, request.pod_name)
        ):
            metrics.vetoes_total.labels(source="diagnosis").inc()
            raise ToolFailure(
                "diagnosis_mismatch",
                "the diagnosis is about another pod than the one named",
            )
        forged = forged_issue_types(request.diagnosis, diagnosis)
        if forged:
            metrics.vetoes_total.labels(source="diagnosis").inc()
            attempt.details["forged_issue_types"] = forged
            raise ToolFailure(
                "diagnosis_mismatch",
                "the diagnosis claims issues the cluster does not show: " + ", ".join(forged),
                claimed=forged,
                observed=sorted(diagnosis.issue_types),
            )

        lock = self.state.workload_lock(f"{request.namespace}/{workload_key(diagnosis)}")
        with lock:
            decision = self._decide(
                diagnosis, request.caller, force=request.force, proposal=request.action
            )
            attempt.action = decision.action.value
            attempt.reason = decision.reason
            attempt.target = AuditTarget(
                decision.target.kind, decision.target.namespace, decision.target.name
            )
            attempt.details["decision"] = decision.to_dict()
            result = HealResult(
                action_taken=decision.action.value,
                pod_name=request.pod_name,
                namespace=request.namespace,
                target=decision.target.to_dict(),
                reason=decision.reason,
                dry_run=request.dry_run,
                timestamp=_now_text(self.state),
                decision=decision.to_dict(),
            )
            if decision.action not in WRITE_ACTIONS:
                attempt.no_write = True
                # What a human (or the caller) needs next: the pull errors classified, the advice.
                result.findings = {
                    "image_pull": [p.model_dump(mode="json") for p in diagnosis.image_pull],
                    "recommendations": list(diagnosis.recommendations),
                }
                result.verification = Verification(
                    new_pod_status=_pod_status_text(inputs.pod),
                    restart_count=_restarts(inputs.pod),
                    healthy=not any(i.severity == "critical" for i in diagnosis.issues),
                    message=f"{decision.action.value}: nothing written",
                )
                return result
            if decision.action in WORKLOAD_ACTIONS and decision.target.kind != "Deployment":
                # Say so before anyone is asked to approve what the server cannot do.
                raise ToolFailure(
                    "unsupported",
                    f"{decision.action.value} on a {decision.target.kind} is not supported "
                    "by this server (Deployments only)",
                    decision=decision.to_dict(),
                )
            decision = self._clear_checks(decision, diagnosis, request, attempt)
            result.approval_id = request.approval_id
            result.approver = attempt.approver
            return self._act(decision, diagnosis, inputs, request.dry_run, attempt, result)

    # ---------------------------------------------------------------------- rollback_deployment

    def _rollback(self, request: RollbackRequest, attempt: _Attempt) -> RollbackResult:
        self._check_caller(request.caller, request.force)
        gw = self.state.gateway
        try:
            deployment = gw.get_deployment(request.namespace, request.deployment_name)
        except NotFound as error:
            raise ToolFailure(
                "not_found", f"deployment {request.namespace}/{request.deployment_name} not found"
            ) from error
        selector = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        pods = gw.list_pods(request.namespace, label_selector=_selector(selector)).items
        if not pods:
            raise ToolFailure(
                "vetoed",
                "the deployment has no pods to diagnose; the rules cannot judge a rollback",
            )
        # The pod that tells most: an unhealthy one of the newest revision first.
        pod = max(pods, key=lambda p: (not _is_ready(p), _restarts(p), _created(p)))
        pod_name = str((pod.get("metadata") or {}).get("name"))
        diagnosis, inputs = self._diagnose(request.namespace, pod_name)
        lock = self.state.workload_lock(f"{request.namespace}/{workload_key(diagnosis)}")
        with lock:
            decision = self._decide(
                diagnosis,
                request.caller,
                force=request.force,
                proposal=Action.ROLLBACK_DEPLOYMENT.value,
            )
            if (
                decision.target.kind != "Deployment"
                or decision.target.name != request.deployment_name
            ):
                raise ToolFailure(
                    "vetoed", "the pods of that deployment belong to another workload"
                )
            wanted = decision.parameters.get("revision")
            if request.revision is not None and request.revision != wanted:
                metrics.vetoes_total.labels(source="rules").inc()
                raise ToolFailure(
                    "vetoed",
                    f"the rules roll back to revision {wanted}, not {request.revision}",
                )
            attempt.reason = decision.reason
            attempt.details["decision"] = decision.to_dict()
            heal_request = HealRequest(
                namespace=request.namespace,
                pod_name=pod_name,
                diagnosis={},
                caller=request.caller,
                dry_run=request.dry_run,
                force=request.force,
                action=Action.ROLLBACK_DEPLOYMENT.value,
                approval_id=request.approval_id,
            )
            decision = self._clear_checks(decision, diagnosis, heal_request, attempt)
            healed = self._act(
                decision,
                diagnosis,
                inputs,
                request.dry_run,
                attempt,
                HealResult(
                    action_taken=decision.action.value,
                    pod_name=pod_name,
                    namespace=request.namespace,
                    reason=decision.reason,
                    dry_run=request.dry_run,
                    timestamp=_now_text(self.state),
                ),
            )
        return RollbackResult(
            namespace=request.namespace,
            deployment_name=request.deployment_name,
            action_taken=decision.action.value,
            from_revision=_revision(inputs.deployment or deployment),
            to_revision=int(wanted) if isinstance(wanted, int) else None,
            reason=decision.reason,
            dry_run=request.dry_run,
            timestamp=healed.timestamp,
            verification=healed.verification,
            approval_id=request.approval_id,
            approver=attempt.approver,
        )

    # ----------------------------------------------------------------------------- the steps

    def _check_caller(self, caller: Caller, force: bool) -> None:
        if not caller.may("heal"):
            raise ToolFailure("forbidden", f"caller {caller.name} has no 'heal' scope")
        if force and caller.name not in self.state.policy.trusted_callers:
            metrics.safety_rejections_total.labels(check="force").inc()
            raise ToolFailure(
                "forbidden",
                f"force is not allowed for caller {caller.name}: the server does not trust it "
                "with skipping approvals",
            )

    def _diagnose(self, namespace: str, pod_name: str) -> tuple[Diagnosis, DiagnosisInputs]:
        try:
            inputs = self.state.gateway.fetch_diagnosis_inputs(namespace, pod_name)
        except NotFound as error:
            raise ToolFailure("not_found", f"pod {namespace}/{pod_name} not found") from error
        self.state.gateway.fetch_guard_rails(inputs)
        return diagnose_inputs(inputs, self.state.policy), inputs

    def _context(
        self, diagnosis: Diagnosis, caller: Caller, *, force: bool, approved: bool
    ) -> DecisionContext:
        return DecisionContext.from_store(
            self.state.ratelimits,
            diagnosis,
            self.state.policy,
            now=self.state.clock.now(),
            caller=caller.name,
            force=force,
            approval_granted=approved,
            target_exists=True,
        )

    def _decide(
        self,
        diagnosis: Diagnosis,
        caller: Caller,
        *,
        force: bool,
        proposal: str | None,
        approved: bool = False,
    ) -> Decision:
        from policies import decide

        rule = decide(diagnosis, self._context(diagnosis, caller, force=force, approved=approved))
        if proposal is None:
            return rule
        gated = gate(
            rule,
            LLMProposal(
                action=proposal, namespace=diagnosis.namespace, pod_name=diagnosis.pod_name
            ),
        )
        if gated.vetoed:
            metrics.vetoes_total.labels(source="rules").inc()
            raise ToolFailure(
                "vetoed",
                gated.veto_reason or "not allowed",
                rule_action=rule.action.value,
                rule_reason=rule.reason,
                allowed=sorted(a.value for a in rule.allowed_actions),
            )
        return gated.decision

    def _clear_checks(
        self, decision: Decision, diagnosis: Diagnosis, request: HealRequest, attempt: _Attempt
    ) -> Decision:
        """Refuse on a failed check; settle the approval (request one, or consume the one given)."""
        failed = [c for c in decision.checks if not c.passed]
        for check in failed:
            metrics.safety_rejections_total.labels(check=check.name).inc()
            if check.name == "rate_limit":
                metrics.rate_limited_total.labels(scope=check.scope or "global").inc()
        blocking = [c for c in failed if c.name != "approval"]
        checks = [c.to_dict() for c in decision.checks]
        if blocking:
            first = blocking[0]
            raise ToolFailure(
                _CHECK_CODES.get(first.name, "safety_check_failed"),
                first.detail,
                check=first.name,
                checks=checks,
                action=decision.action.value,
            )
        if not failed:
            if request.approval_id is not None:
                attempt.details["approval_unused"] = request.approval_id
            return decision
        target = target_key(decision.target.kind, decision.target.namespace, decision.target.name)
        if request.dry_run:
            attempt.details["would_require_approval"] = True
            return decision
        if request.approval_id is None:
            pending = self.state.approvals.request(
                decision.action.value,
                target,
                reason=decision.reason,
                risk=decision.estimated_risk.value,
                requested_by=request.caller.name,
                details={"pod": decision.pod.to_dict(), "parameters": dict(decision.parameters)},
            )
            self._publish_approvals()
            attempt.details["approval_id"] = pending.id
            raise ToolFailure(
                "approval_required",
                f"{decision.action.value} on {target} needs a human approval: "
                f"kubemedic approvals approve {pending.id} --by NAME",
                approval_id=pending.id,
                action=decision.action.value,
                target=decision.target.to_dict(),
                reason=decision.reason,
                risk=decision.estimated_risk.value,
                expires_at=pending.expires_at,
            )
        self._check_approved_parameters(request.approval_id, decision)
        try:
            approval = self.state.approvals.consume(
                request.approval_id, decision.action.value, target
            )
        except ApprovalError as error:
            raise ToolFailure(error.code, error.message, approval_id=error.approval_id) from error
        finally:
            self._publish_approvals()
        attempt.approver = approval.decided_by
        attempt.details["approval_id"] = approval.id
        approved = self._decide(
            diagnosis,
            request.caller,
            force=request.force,
            proposal=decision.action.value if decision.action is not Action.NONE else None,
            approved=True,
        )
        if not approved.safety_checks_passed or approved.action is not decision.action:
            raise ToolFailure(
                "safety_check_failed",
                "the checks no longer pass with the approval",
                checks=[c.to_dict() for c in approved.checks],
            )
        return approved

    def _check_approved_parameters(self, approval_id: str, decision: Decision) -> None:
        """A human approved one change: the same action on the same target *with the same
        values* (memory limit, revision, replicas). A different value needs a new approval."""
        approval = self.state.approvals.get(approval_id)
        if approval is None:
            return  # consume() names it not found
        approved = approval.details.get("parameters")
        if not isinstance(approved, dict):
            return
        for key in _APPROVED_PARAMETERS:
            if key in approved and approved[key] != decision.parameters.get(key):
                raise ToolFailure(
                    "approval_mismatch",
                    f"approval {approval_id} was for {key}={approved[key]}, the decision now "
                    f"is {key}={decision.parameters.get(key)}: ask for a new approval",
                    approval_id=approval_id,
                )

    def _publish_approvals(self) -> None:
        self.state.publish_approval_metrics()

    # ------------------------------------------------------------------------------ acting

    def _act(
        self,
        decision: Decision,
        diagnosis: Diagnosis,
        inputs: DiagnosisInputs,
        dry_run: bool,
        attempt: _Attempt,
        result: HealResult,
    ) -> HealResult:
        labels = (decision.pod.namespace, decision.pod.name, decision.action.value)
        started = self.state.clock.monotonic()
        if not dry_run:
            metrics.healing_attempts_total.labels(*labels).inc()
        deleting = decision.action is Action.DELETE_POD and not dry_run
        siblings = self._siblings(inputs) if deleting else set()
        try:
            written = self._write(decision, inputs, dry_run)
        except GatewayError as error:
            if not dry_run:
                self.state.ratelimits.record(
                    decision.target.namespace,
                    decision.workload,
                    decision.action.value,
                    Outcome.FAILED,
                    at=self.state.clock.now(),
                )
            raise ToolFailure(
                "write_failed" if not isinstance(error, NotFound) else "not_found",
                f"{decision.action.value} failed: {error.reason}: {error.message}",
                retryable=error.retryable,
            ) from error
        attempt.details["write"] = written
        if dry_run:
            result.verification = Verification(
                message=f"dry run: the API server accepted {decision.action.value} "
                "(dryRun=All); nothing was changed"
            )
            return result
        record = self.state.ratelimits.record(
            decision.target.namespace,
            decision.workload,
            decision.action.value,
            Outcome.EXECUTED,
            at=self.state.clock.now(),
        )
        self._event(decision, written)
        verification = self._verify(decision, inputs, siblings)
        if record.id is not None:
            self.state.ratelimits.update_outcome(
                record.id, Outcome.HEALED if verification.healthy else Outcome.NOT_HEALED
            )
        if verification.healthy:
            metrics.healing_success_total.labels(*labels).inc()
        metrics.healing_duration_seconds.labels(*labels).observe(
            self.state.clock.monotonic() - started
        )
        attempt.details["verification"] = verification.model_dump()
        result.verification = verification
        return result

    def _write(self, decision: Decision, inputs: DiagnosisInputs, dry_run: bool) -> JSON:
        gw = self.state.gateway
        ns = decision.target.namespace
        name = decision.target.name
        action = decision.action
        if action in (Action.DELETE_POD, Action.DELETE_EVICTED_POD):
            uid = (inputs.pod.get("metadata") or {}).get("uid")
            gw.delete_pod(ns, name, dry_run=dry_run, uid=uid)
            return {"deleted": f"Pod/{ns}/{name}"}
        if decision.target.kind != "Deployment":
            raise ToolFailure(
                "unsupported", f"{action.value} on a {decision.target.kind} is not supported"
            )
        deployment = inputs.deployment or gw.get_deployment(ns, name)
        if action is Action.INCREASE_MEMORY_LIMIT:
            patch, container, value = _memory_patch(deployment, decision)
            gw.patch_deployment(ns, name, patch, patch_type="json", dry_run=dry_run)
            return {"container": container, "memory_limit": value, "patch": patch}
        if action is Action.ROLLBACK_DEPLOYMENT:
            revision = decision.parameters.get("revision")
            replicasets = inputs.replicasets or gw.list_replicasets(ns)
            patch, chosen = _rollback_patch(deployment, replicasets, revision)
            gw.patch_deployment(ns, name, patch, patch_type="json", dry_run=dry_run)
            return {"to_revision": chosen, "from_revision": _revision(deployment)}
        if action is Action.SCALE_DOWN_DEPLOYMENT:
            replicas = decision.parameters.get("replicas")
            if not isinstance(replicas, int) or replicas < self.state.policy.min_replicas:
                raise ToolFailure("safety_check_failed", "no valid replica count to scale to")
            gw.scale_deployment(ns, name, replicas, dry_run=dry_run)
            return {"replicas": replicas}
        raise ToolFailure("unsupported", f"{action.value} is not an action the server performs")

    def _event(self, decision: Decision, written: JSON) -> None:
        target = decision.target
        now = _now_text(self.state)
        reason = "Kubemedic" + "".join(part.title() for part in decision.action.value.split("_"))
        body: JSON = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{target.name}.kubemedic-",
                "namespace": target.namespace,
            },
            "involvedObject": {
                "apiVersion": "v1" if target.kind == "Pod" else "apps/v1",
                "kind": target.kind,
                "name": target.name,
                "namespace": target.namespace,
            },
            "reason": reason,
            "message": f"kubemedic {decision.action.value}: {decision.reason}"[:1000],
            "type": "Normal",
            "source": {"component": "kubemedic"},
            "reportingComponent": "kubemedic",
            "reportingInstance": self._instance,
            "action": decision.action.value,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.state.gateway.create_event(target.namespace, body)
        except GatewayError as error:
            # The action happened; a lost Event must not turn it into a failure.
            log.warning("could not write the Event for %s: %s", decision.action.value, error)

    def _siblings(self, inputs: DiagnosisInputs) -> set[str]:
        """Names of the pods the pod's ReplicaSet has now (so the replacement is the new one)."""
        meta = inputs.pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if not labels:
            return {str(meta.get("name"))}
        pods = self.state.gateway.list_pods(
            str(meta.get("namespace")), label_selector=_selector(labels)
        ).items
        return {str((p.get("metadata") or {}).get("name")) for p in pods}

    # ----------------------------------------------------------------------------- verifying

    def _verify(
        self, decision: Decision, inputs: DiagnosisInputs, siblings: set[str]
    ) -> Verification:
        """Wait (on the injected clock) until healthy and still healthy a while later."""
        cfg = self.state.config
        clock = self.state.clock
        started = clock.monotonic()
        deadline = started + cfg.verify_timeout_seconds
        stable_for = max(cfg.verify_poll_seconds * 2, 5.0)
        healthy_since: float | None = None
        last = Verification(message="not observed yet")
        while True:
            try:
                last = self._observe(decision, inputs, siblings)
            except GatewayError as error:
                last = Verification(message=f"could not observe: {error.reason}: {error.message}")
            now = clock.monotonic()
            last.waited_seconds = round(now - started, 3)
            if last.healthy:
                healthy_since = now if healthy_since is None else healthy_since
                if now - healthy_since >= stable_for:
                    last.message = last.message or "healthy"
                    return last
            else:
                healthy_since = None
            if now >= deadline:
                last.healthy = False
                last.message = f"not healthy within {cfg.verify_timeout_seconds:.0f}s: " + (
                    last.message or ""
                )
                return last
            clock.sleep(cfg.verify_poll_seconds)

    def _observe(
        self, decision: Decision, inputs: DiagnosisInputs, siblings: set[str]
    ) -> Verification:
        gw = self.state.gateway
        ns = decision.target.namespace
        if decision.action is Action.DELETE_EVICTED_POD:
            try:
                gw.get_pod(ns, decision.target.name)
            except NotFound:
                return Verification(healthy=True, message="the evicted pod is gone")
            return Verification(healthy=False, message="the evicted pod is still there")
        if decision.action is Action.DELETE_POD:
            meta = inputs.pod.get("metadata") or {}
            owner = _owner_uid(inputs.pod, "ReplicaSet")
            labels = meta.get("labels") or {}
            pods = gw.list_pods(ns, label_selector=_selector(labels)).items if labels else []
            fresh = [
                p
                for p in pods
                if str((p.get("metadata") or {}).get("name")) not in siblings
                and (owner is None or _owner_uid(p, "ReplicaSet") == owner)
                and not (p.get("metadata") or {}).get("deletionTimestamp")
            ]
            if not fresh:
                return Verification(message="no replacement pod yet")
            pod = max(fresh, key=_created)
            return _pod_verification(pod, "replacement pod")
        deployment = gw.get_deployment(ns, decision.target.name)
        spec = deployment.get("spec") or {}
        status = deployment.get("status") or {}
        replicas = spec.get("replicas")
        want = int(replicas) if isinstance(replicas, int) else 1
        generation = int((deployment.get("metadata") or {}).get("generation") or 0)
        observed = int(status.get("observedGeneration") or 0)
        updated = int(status.get("updatedReplicas") or 0)
        ready = int(status.get("readyReplicas") or 0)
        total = int(status.get("replicas") or 0)
        if observed < generation:
            return Verification(message="the controller has not seen the change yet")
        if decision.action is Action.SCALE_DOWN_DEPLOYMENT:
            done = total == want and ready == want
            return Verification(
                healthy=done,
                restart_count=0,
                new_pod_status=f"{ready}/{want} ready",
                message=f"{total} pods, {ready} ready, want {want}",
            )
        if updated < want or ready < want or total > want:
            return Verification(
                new_pod_status=f"{ready}/{want} ready",
                message=f"rollout in progress: {updated} updated, {ready} ready of {want}",
            )
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        pods = gw.list_pods(ns, label_selector=_selector(selector)).items
        live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        if not live:
            return Verification(message="no pods")
        newest = max(live, key=_created)
        verification = _pod_verification(newest, "rolled-out pod")
        if verification.healthy and not all(_is_ready(p) for p in live):
            verification.healthy = False
            verification.message = "not every pod is ready yet"
        return verification


def _created(pod: JSON) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def _pod_verification(pod: JSON, what: str) -> Verification:
    name = str((pod.get("metadata") or {}).get("name"))
    restarts = _restarts(pod)
    ready = _is_ready(pod)
    status = _pod_status_text(pod)
    healthy = ready and restarts == 0
    return Verification(
        new_pod_status=status,
        new_pod_name=name,
        restart_count=restarts,
        healthy=healthy,
        message=f"{what} {name}: {status}, ready={ready}, restarts={restarts}",
    )


def _memory_patch(deployment: JSON, decision: Decision) -> tuple[list[JSON], str, str]:
    """JSON patch setting one container's memory limit in the Deployment's pod template."""
    limit = decision.parameters.get("memory_limit_bytes")
    wanted = decision.parameters.get("container")
    if not isinstance(limit, int) or limit <= 0:
        raise ToolFailure("safety_check_failed", "the rules computed no memory limit")
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers"
    ) or []
    for index, container in enumerate(containers):
        if wanted is not None and container.get("name") != wanted:
            continue
        value = _memory_text(limit)
        base = f"/spec/template/spec/containers/{index}"
        # `test` guards the index: if the template changed meanwhile, the patch fails whole.
        ops: list[JSON] = [{"op": "test", "path": f"{base}/name", "value": container.get("name")}]
        resources = container.get("resources")
        if not isinstance(resources, dict):
            ops.append({"op": "add", "path": f"{base}/resources", "value": {}})
            resources = {}
        if not isinstance(resources.get("limits"), dict):
            ops.append({"op": "add", "path": f"{base}/resources/limits", "value": {}})
        ops.append({"op": "add", "path": f"{base}/resources/limits/memory", "value": value})
        return ops, str(container.get("name")), value
    raise ToolFailure("not_found", f"container {wanted} is not in the deployment's template")


def _rollback_patch(
    deployment: JSON, replicasets: list[JSON], revision: object
) -> tuple[list[JSON], int]:
    """`kubectl rollout undo` for apps/v1: the chosen ReplicaSet's template, hash label removed."""
    uid = (deployment.get("metadata") or {}).get("uid")
    current = _revision(deployment)
    owned = [rs for rs in replicasets if _owner_uid(rs, "Deployment") == uid and uid]
    candidates = {r: rs for rs in owned if (r := _revision(rs)) is not None}
    if isinstance(revision, int) and revision > 0:
        chosen = revision
    else:
        older = [r for r in candidates if current is None or r < current]
        if not older:
            raise ToolFailure("not_found", "no earlier revision to roll back to")
        chosen = max(older)
    if chosen not in candidates:
        raise ToolFailure("not_found", f"revision {chosen} not found")
    if chosen == current:
        raise ToolFailure("vetoed", f"revision {chosen} is already the current one")
    template = copy.deepcopy((candidates[chosen].get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop("pod-template-hash", None)
    # As kubectl does: keep the Deployment's own bookkeeping annotations, take the rest
    # (e.g. kubernetes.io/change-cause) from the ReplicaSet rolled back to.
    own = (deployment.get("metadata") or {}).get("annotations") or {}
    theirs = (candidates[chosen].get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in own.items() if k in _ROLLBACK_SKIP_ANNOTATIONS}
    annotations.update({k: v for k, v in theirs.items() if k not in _ROLLBACK_SKIP_ANNOTATIONS})
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        # `add` replaces an existing member and creates a missing one.
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ], chosen
