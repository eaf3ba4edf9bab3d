"""The healing executor: every write the server makes goes through here, whoever asked.

A write is the execution of a stored plan (mcp_server.planning): the facts it was made on are
re-read (changed: `plan_stale`, never another decision), then one transaction reserves the
rate-limit slots, consumes the approval and records the intent (mcp_server.ledger); the
`intent` audit record is fsynced; the write carries a precondition (the pod's uid, the
Deployment's resourceVersion); the `outcome` record follows the moment the API answers. The
answer says `verification: pending` with an action id: the verifier (mcp_server.verifier)
reports on it, and nobody waits while holding a write. A process killed anywhere in between
leaves an intent that recovery (mcp_server.reconcile) gives its outcome. An idempotency key
seen before returns the recorded outcome instead of writing again.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mcp_server import metrics
from mcp_server.approvals import ApprovalError, target_key
from mcp_server.audit import AuditTarget, Result
from mcp_server.auth import Caller
from mcp_server.diagnosis import diagnose_inputs
from mcp_server.errors import ErrorCode
from mcp_server.gateway import Conflict, GatewayError, NotFound, TooManyRequests
from mcp_server.ledger import Intent, Replayed
from mcp_server.planning import Planned, diagnosis_inputs, plan_for, refuse_failed_checks
from mcp_server.plans import Plan
from mcp_server.reconcile import reconcile, template_digest
from mcp_server.state import ServerState
from mcp_server.tools.models import HealResult, RollbackResult, ToolFailure, Verification
from mcp_server.verifier import (
    Verifier,
    created_at,
    delete_expectation,
    pod_ready,
    pod_restarts,
    selector_matches,
)
from mcp_server.writes import (
    WriteRefused,
    event_body,
    label_selector,
    memory_patch,
    memory_text,
    revision_of,
    rollback_patch,
    rollback_refusal,
)
from policies import WRITE_ACTIONS, Action, Decision, Diagnosis, RateLimitExceeded

log = logging.getLogger(__name__)

JSON = dict[str, Any]
R = TypeVar("R")
W = TypeVar("W")
# A conditional patch answered 409 only because the controller wrote the status meanwhile
# is rebuilt on a fresh read, this many times at most.
CONFLICT_ATTEMPTS = 3
_TARGET_KEYS = ("kind", "namespace", "name")
FAULT_POINT_ENV = "KUBEMEDIC_FAULT_POINT"
_WRITE_VALUES = frozenset(a.value for a in WRITE_ACTIONS)
# Codes that mean the server or the API failed, not that the request was refused.
_FAILURES = frozenset(
    {ErrorCode.API_ERROR, ErrorCode.WRITE_FAILED, ErrorCode.INTERNAL_ERROR, ErrorCode.API_THROTTLED}
)

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
    plan_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class RollbackRequest:
    namespace: str
    deployment_name: str
    caller: Caller
    revision: int | None = None
    approval_id: str | None = None
    dry_run: bool = False
    force: bool = False
    plan_id: str | None = None
    idempotency_key: str | None = None


@dataclass
class _Attempt:
    """What a refusal's audit record says; filled in as the request goes."""

    action: str
    target: AuditTarget
    initiator: str
    dry_run: bool
    reason: str = ""
    details: JSON = field(default_factory=dict)
    # Set once the intent is recorded: from then on the intent/outcome pair is the record.
    recorded: bool = False
    no_write: bool = False


@dataclass
class _Fresh:
    """The facts re-read just before the write."""

    pod: JSON
    deployment: JSON | None = None
    replicasets: list[JSON] = field(default_factory=list)  # a rollback's sources


def fault_point(name: str) -> None:
    """Die here, as kill -9 would, when KUBEMEDIC_FAULT_POINT names this point: the crash
    tests stop a real server process between intent, write and outcome."""
    if os.environ.get(FAULT_POINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _now_text(state: ServerState) -> str:
    return state.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod_status_text(pod: JSON) -> str:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase") or "Unknown")


def _stale(plan: Plan, why: str) -> ToolFailure:
    metrics.safety_rejections_total.labels(check="plan_facts").inc()
    return ToolFailure(
        ErrorCode.PLAN_STALE,
        f"plan {plan.plan_id} is stale: {why}; plan again",
        plan_id=plan.plan_id,
    )


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
        """Run one request. A call that records no intent gets one audit record (refused,
        failure, dry_run or no_write); a write has its intent and outcome records instead."""
        started = self.state.clock.monotonic()
        result: Result = "failure"
        error: JSON | None = None
        try:
            answer = run()
            if attempt.no_write:
                result = "no_write"
            elif attempt.dry_run:
                result = "dry_run"
            return answer
        except ToolFailure as failure:
            result = "failure" if failure.code in _FAILURES else "refused"
            error = {"code": str(failure.code), "message": failure.message}
            raise
        except GatewayError as failure:
            error = {"code": failure.code, "message": failure.message}
            raise ToolFailure(failure.code, failure.message, retryable=failure.retryable) from (
                failure
            )
        except Exception as failure:  # noqa: BLE001 - never a traceback to the caller
            log.exception("healing failed unexpectedly")
            error = {"code": ErrorCode.INTERNAL_ERROR.value, "message": type(failure).__name__}
            raise ToolFailure(ErrorCode.INTERNAL_ERROR, "the server failed; see its log") from (
                failure
            )
        finally:
            if not attempt.recorded:
                self.state.audit.append(
                    action=attempt.action,
                    target=attempt.target,
                    reason=attempt.reason,
                    initiator=attempt.initiator,
                    result=result,
                    dry_run=attempt.dry_run,
                    duration_seconds=self.state.clock.monotonic() - started,
                    error=error,
                    details=attempt.details,
                )

    # ---------------------------------------------------------------------------- auto_heal_pod

    def _heal(self, request: HealRequest, attempt: _Attempt) -> HealResult:
        self._check_caller(request.caller, request.force)
        if request.plan_id is not None:
            plan = self._stored_plan(request.plan_id)
            if plan.pod.get("namespace") != request.namespace or plan.pod.get("name") != (
                request.pod_name
            ):
                raise ToolFailure(
                    ErrorCode.PLAN_STALE,
                    f"plan {plan.plan_id} is for pod {plan.pod.get('namespace')}/"
                    f"{plan.pod.get('name')}, not {request.namespace}/{request.pod_name}",
                    plan_id=plan.plan_id,
                )
            self._describe(attempt, plan)
            if plan.action not in _WRITE_VALUES:
                attempt.no_write = True
                return self._read_only_result(plan, None, None)
            return self._execute(plan, request, attempt)

        planned = self._plan_checked(request, attempt)
        plan = planned.plan
        self._describe(attempt, plan)
        if plan.action not in _WRITE_VALUES:
            attempt.no_write = True
            return self._read_only_result(plan, planned.diagnosis, planned.inputs.pod)
        return self._execute(plan, request, attempt)

    def _plan_checked(self, request: HealRequest, attempt: _Attempt) -> Planned:
        """The original arguments: a diagnosis the caller holds. The server diagnoses again
        and refuses one that claims what the cluster does not show."""
        claimed_ns = request.diagnosis.get("namespace")
        claimed_pod = request.diagnosis.get("pod_name")
        if (claimed_ns not in (None, request.namespace)) or (
            claimed_pod not in (None, request.pod_name)
        ):
            metrics.vetoes_total.labels(source="diagnosis").inc()
            raise ToolFailure(
                ErrorCode.DIAGNOSIS_MISMATCH,
                "the diagnosis is about another pod than the one named",
            )
        inputs = diagnosis_inputs(self.state, request.namespace, request.pod_name)
        diagnosis = diagnose_inputs(inputs, self.state.policy)
        attempt.details["issue_types"] = sorted(diagnosis.issue_types)
        forged = forged_issue_types(request.diagnosis, diagnosis)
        if forged:
            metrics.vetoes_total.labels(source="diagnosis").inc()
            attempt.details["forged_issue_types"] = forged
            raise ToolFailure(
                ErrorCode.DIAGNOSIS_MISMATCH,
                "the diagnosis claims issues the cluster does not show: " + ", ".join(forged),
                claimed=forged,
                observed=sorted(diagnosis.issue_types),
            )
        return plan_for(
            self.state, request.namespace, request.pod_name, request.caller, request.action
        )

    def _describe(self, attempt: _Attempt, plan: Plan) -> None:
        attempt.action = plan.action
        attempt.reason = plan.reason
        attempt.target = AuditTarget(
            str(plan.target["kind"]), str(plan.target["namespace"]), str(plan.target["name"])
        )
        attempt.details["plan_id"] = plan.plan_id
        attempt.details["decision"] = plan.decision

    def _read_only_result(
        self, plan: Plan, diagnosis: Diagnosis | None, pod: JSON | None
    ) -> HealResult:
        result = self._result(plan, dry_run=False)
        if diagnosis is not None:
            # What a human (or the caller) needs next: the pull errors classified, the advice.
            result.findings = {
                "image_pull": [p.model_dump(mode="json") for p in diagnosis.image_pull],
                "recommendations": list(diagnosis.recommendations),
            }
        result.verification = Verification(
            status="not_applicable",
            new_pod_status=None if pod is None else _pod_status_text(pod),
            restart_count=None if pod is None else pod_restarts(pod),
            healthy=diagnosis is not None
            and not any(i.severity == "critical" for i in diagnosis.issues),
            message=f"{plan.action}: nothing written",
        )
        return result

    def _result(self, plan: Plan, *, dry_run: bool) -> HealResult:
        return HealResult(
            action_taken=plan.action,
            pod_name=str(plan.pod.get("name")),
            namespace=str(plan.pod.get("namespace")),
            target={k: str(plan.target[k]) for k in ("kind", "namespace", "name")},
            reason=plan.reason,
            dry_run=dry_run,
            timestamp=_now_text(self.state),
            decision=plan.decision,
            plan_id=plan.plan_id,
        )

    # ---------------------------------------------------------------------- rollback_deployment

    def _rollback(self, request: RollbackRequest, attempt: _Attempt) -> RollbackResult:
        self._check_caller(request.caller, request.force)
        if request.plan_id is not None:
            plan = self._stored_plan(request.plan_id)
        else:
            plan = self._plan_rollback(request)
        if (
            plan.action != Action.ROLLBACK_DEPLOYMENT.value
            or plan.target.get("kind") != "Deployment"
            or plan.target.get("name") != request.deployment_name
            or plan.target.get("namespace") != request.namespace
        ):
            raise ToolFailure(
                ErrorCode.VETOED,
                f"plan {plan.plan_id} is {plan.action} on {plan.target.get('kind')}/"
                f"{plan.target.get('name')}, not a rollback of {request.deployment_name}",
                plan_id=plan.plan_id,
            )
        wanted = plan.parameters.get("revision")
        if request.revision is not None and request.revision != wanted:
            metrics.vetoes_total.labels(source="rules").inc()
            raise ToolFailure(
                ErrorCode.VETOED,
                f"the rules roll back to revision {wanted}, not {request.revision}",
            )
        self._describe(attempt, plan)
        heal_request = HealRequest(
            namespace=request.namespace,
            pod_name=str(plan.pod.get("name")),
            diagnosis={},
            caller=request.caller,
            dry_run=request.dry_run,
            force=request.force,
            action=plan.action,
            approval_id=request.approval_id,
            plan_id=plan.plan_id,
            idempotency_key=request.idempotency_key,
        )
        healed = self._execute(plan, heal_request, attempt)
        return RollbackResult(
            namespace=request.namespace,
            deployment_name=request.deployment_name,
            action_taken=plan.action,
            from_revision=healed.from_revision,
            to_revision=int(wanted) if isinstance(wanted, int) else None,
            reason=plan.reason,
            dry_run=request.dry_run,
            timestamp=healed.timestamp,
            verification=healed.verification,
            approval_id=healed.approval_id,
            approver=healed.approver,
            plan_id=plan.plan_id,
            action_id=healed.action_id,
            replayed=healed.replayed,
        )

    def _plan_rollback(self, request: RollbackRequest) -> Plan:
        gw = self.state.gateway
        try:
            deployment = gw.get_deployment(request.namespace, request.deployment_name)
        except NotFound as error:
            raise ToolFailure(
                ErrorCode.NOT_FOUND,
                f"deployment {request.namespace}/{request.deployment_name} not found",
            ) from error
        refusal = rollback_refusal(deployment)
        if refusal is not None:
            raise ToolFailure(ErrorCode.ROLLBACK_REFUSED, refusal)
        selector = label_selector((deployment.get("spec") or {}).get("selector") or {})
        pods = gw.list_pods(request.namespace, label_selector=selector).items
        if not pods:
            raise ToolFailure(
                ErrorCode.VETOED,
                "the deployment has no pods to diagnose; the rules cannot judge a rollback",
            )
        # The pod that tells most: an unhealthy one of the newest revision first.
        pod = max(pods, key=lambda p: (not pod_ready(p), pod_restarts(p), created_at(p)))
        pod_name = str((pod.get("metadata") or {}).get("name"))
        return plan_for(
            self.state,
            request.namespace,
            pod_name,
            request.caller,
            Action.ROLLBACK_DEPLOYMENT.value,
        ).plan

    # ----------------------------------------------------------------------------- the steps

    def _check_caller(self, caller: Caller, force: bool) -> None:
        if not caller.may("heal"):
            raise ToolFailure(ErrorCode.FORBIDDEN, f"caller {caller.name} has no 'heal' scope")
        if force and caller.name not in self.state.policy.trusted_callers:
            metrics.safety_rejections_total.labels(check="force").inc()
            raise ToolFailure(
                ErrorCode.FORBIDDEN,
                f"force is not allowed for caller {caller.name}: the server does not trust it "
                "with skipping approvals",
            )

    def _stored_plan(self, plan_id: str) -> Plan:
        plan = self.state.ledger.plan(plan_id)
        if plan is None:
            raise ToolFailure(ErrorCode.PLAN_NOT_FOUND, f"no plan {plan_id}", plan_id=plan_id)
        return plan

    def _fresh(self, plan: Plan) -> _Fresh:
        """Re-read the facts the plan was made on; any change makes it stale."""
        gw = self.state.gateway
        namespace = str(plan.pod.get("namespace"))
        try:
            pod = gw.get_pod(namespace, str(plan.pod.get("name")))
        except NotFound as error:
            raise _stale(plan, "the pod is gone") from error
        meta = pod.get("metadata") or {}
        if str(meta.get("uid") or "") != plan.facts.pod_uid:
            raise _stale(plan, "the pod was replaced (another uid)")
        if meta.get("deletionTimestamp"):
            raise _stale(plan, "the pod is being deleted already")
        fresh = _Fresh(pod=pod)
        if plan.target.get("kind") == "Deployment":
            try:
                deployment = gw.get_deployment(namespace, str(plan.target.get("name")))
            except NotFound as error:
                raise _stale(plan, "the deployment is gone") from error
            deployment_meta = deployment.get("metadata") or {}
            if plan.target.get("uid") and deployment_meta.get("uid") != plan.target.get("uid"):
                raise _stale(plan, "the deployment was recreated (another uid)")
            generation = int(deployment_meta.get("generation") or 0)
            if generation != plan.facts.workload_generation:
                raise _stale(
                    plan,
                    f"the deployment changed (generation {plan.facts.workload_generation} -> "
                    f"{generation})",
                )
            if plan.action == Action.ROLLBACK_DEPLOYMENT.value:
                refusal = rollback_refusal(deployment)
                if refusal is not None:
                    raise ToolFailure(ErrorCode.ROLLBACK_REFUSED, refusal)
                fresh.replicasets = gw.list_replicasets(namespace)
            fresh.deployment = deployment
        return fresh

    def _needs_approval(self, plan: Plan, request: HealRequest) -> bool:
        if not plan.requires_approval:
            return False
        return not (request.force and request.caller.name in self.state.policy.trusted_callers)

    def _request_approval(self, plan: Plan, request: HealRequest) -> ToolFailure:
        target = target_key(
            str(plan.target["kind"]), str(plan.target["namespace"]), str(plan.target["name"])
        )
        pending = self.state.approvals.request(
            plan.action,
            target,
            reason=plan.reason,
            risk=plan.risk,
            requested_by=request.caller.name,
            details={
                "plan_id": plan.plan_id,
                "pod": plan.pod,
                "parameters": plan.parameters,
            },
        )
        self.state.publish_approval_metrics()
        return ToolFailure(
            ErrorCode.APPROVAL_REQUIRED,
            f"{plan.action} on {target} needs a human approval: "
            f"kubemedic approvals approve {pending.id} --by NAME",
            approval_id=pending.id,
            plan_id=plan.plan_id,
            action=plan.action,
            target={k: plan.target[k] for k in ("kind", "namespace", "name")},
            target_uid=plan.target.get("uid"),
            parameters=plan.parameters,
            reason=plan.reason,
            risk=plan.risk,
            expires_at=pending.expires_at,
        )

    # ------------------------------------------------------------------------------ executing

    def _execute(self, plan: Plan, request: HealRequest, attempt: _Attempt) -> HealResult:
        """Intent -> write -> outcome, for one stored plan."""
        state = self.state
        # The plan's own checks (taken when it was made): a blocked plan is never executed.
        refuse_failed_checks(Decision.from_dict(plan.decision))
        reconcile(state)  # orphans first: limits and replays must count their writes
        key = request.idempotency_key
        if key is not None:
            seen = state.ledger.intents_by_key(key)
            if seen:
                attempt.recorded = True  # a replay adds no record: the intent has its pair
                return self._replayed(plan, seen[0], key=key)
        applied = state.ledger.intent_of_plan(plan.plan_id)
        if applied is not None and not request.dry_run:
            attempt.recorded = True
            return self._replayed(plan, applied)
        needs_approval = self._needs_approval(plan, request)
        if needs_approval and request.approval_id is None and not request.dry_run:
            # Asking costs no API request: the facts are re-read when the approved plan runs.
            raise self._request_approval(plan, request)
        fresh = self._fresh(plan)
        expected = self._expected(plan, fresh)
        if request.dry_run:
            written = self._write(plan, fresh, expected, dry_run=True)
            attempt.details["write"] = written
            result = self._result(plan, dry_run=True)
            result.verification = Verification(
                status="not_applicable",
                message=f"dry run: the API server accepted {plan.action} (dryRun=All); "
                "nothing was changed",
            )
            if needs_approval:
                attempt.details["would_require_approval"] = True
            return result
        approval_id = request.approval_id
        if needs_approval and approval_id is None:
            raise self._request_approval(plan, request)
        if not needs_approval and approval_id is not None:
            attempt.details["approval_unused"] = approval_id
            approval_id = None
        target = target_key(
            str(plan.target["kind"]), str(plan.target["namespace"]), str(plan.target["name"])
        )
        try:
            begun = state.ledger.begin(
                plan,
                idempotency_key=key or f"auto-{plan.plan_id}-{secrets.token_hex(4)}",
                initiator=request.caller.name,
                limits=state.policy.rate_limits,
                approval_id=approval_id,
                approval_target=target,
                expected=expected,
            )
        except RateLimitExceeded as error:
            metrics.safety_rejections_total.labels(check="rate_limit").inc()
            metrics.rate_limited_total.labels(scope=error.scope).inc()
            raise ToolFailure(
                ErrorCode.RATE_LIMITED, error.detail, check="rate_limit", scope=error.scope
            ) from error
        except ApprovalError as error:
            raise ToolFailure(error.code, error.message, approval_id=error.approval_id) from error
        finally:
            state.publish_approval_metrics()
        if isinstance(begun, Replayed):
            attempt.recorded = True
            return self._replayed(plan, begun.intent)
        attempt.recorded = True
        return self._write_recorded(plan, begun.intent, fresh, request)

    def _write_recorded(
        self, plan: Plan, intent: Intent, fresh: _Fresh, request: HealRequest
    ) -> HealResult:
        state = self.state
        target = AuditTarget(
            str(plan.target["kind"]), str(plan.target["namespace"]), str(plan.target["name"])
        )
        details: JSON = {
            "action_id": intent.action_id,
            "plan_id": plan.plan_id,
            "idempotency_key": intent.idempotency_key,
            "approval_id": intent.approval_id,
            "parameters": plan.parameters,
            "pod": plan.pod,
            "owner": intent.owner,  # the process that holds the intent until its outcome
        }
        started = state.clock.monotonic()

        def record(result: Result, error: JSON | None = None, **extra: Any) -> None:
            state.audit.append(
                action=plan.action,
                target=target,
                reason=plan.reason,
                initiator=intent.initiator,
                approver=intent.approver,
                result=result,
                dry_run=False,
                duration_seconds=0.0 if result == "intent" else state.clock.monotonic() - started,
                error=error,
                details={**details, **extra},
                phase="intent" if result == "intent" else "outcome",
            )

        record("intent")
        labels = (str(plan.pod.get("namespace")), str(plan.pod.get("name")), plan.action)
        metrics.healing_attempts_total.labels(*labels).inc()
        fault_point("after_intent")
        if not state.ledger.still_mine(intent.action_id):
            # We stalled past the lease and another process reconciled the intent: its
            # outcome stands, and nothing may be written now.
            log.error("intent %s was taken over before its write; not writing", intent.action_id)
            raise ToolFailure(
                ErrorCode.IN_PROGRESS,
                f"action {intent.action_id} was taken over by recovery before its write",
                action_id=intent.action_id,
            )
        try:
            written = self._write(plan, fresh, intent.expected, dry_run=False)
        except (GatewayError, ToolFailure) as error:
            code, message = _write_error(plan, error)
            record("not_applied", {"code": str(code), "message": message})
            state.ledger.finish(
                intent.action_id, "not_applied", {"error": {"code": str(code), "message": message}}
            )
            raise ToolFailure(
                code,
                message,
                action_id=intent.action_id,
                plan_id=plan.plan_id,
                written=False,
            ) from error
        fault_point("after_write")
        duration = state.clock.monotonic() - started
        record("applied", write=written)
        state.ledger.finish(intent.action_id, "applied", {"write": written, "pod": plan.pod})
        metrics.healing_duration_seconds.labels(*labels).observe(duration)
        self._event(plan, written)
        result = self._result(plan, dry_run=False)
        result.action_id = intent.action_id
        result.approval_id = intent.approval_id
        result.approver = intent.approver
        result.from_revision = written.get("from_revision")
        result.verification = Verification(
            status="pending",
            action_id=intent.action_id,
            message="written; ask get_action_status for the verification",
        )
        return result

    def _replayed(self, plan: Plan, intent: Intent, *, key: str | None = None) -> HealResult:
        """The recorded outcome of an intent seen before; nothing is written again."""
        if key is not None and (
            intent.action != plan.action
            or any(
                intent.target.get(k) != plan.target.get(k) for k in ("kind", "namespace", "name")
            )
        ):
            raise ToolFailure(
                ErrorCode.IDEMPOTENCY_CONFLICT,
                f"idempotency key {key} was used for {intent.action} on "
                f"{intent.target.get('kind')}/{intent.target.get('name')}, not {plan.action} on "
                f"{plan.target.get('kind')}/{plan.target.get('name')}",
                action_id=intent.action_id,
            )
        if intent.outcome is None:
            if not self.state.ledger.owner_gone(intent):
                raise ToolFailure(
                    ErrorCode.IN_PROGRESS,
                    f"action {intent.action_id} for this request has no outcome yet",
                    action_id=intent.action_id,
                    retryable=True,
                )
            reconcile(self.state, [intent])
            found = self.state.ledger.intent(intent.action_id)
            intent = found if found is not None else intent
        error = intent.result.get("error")
        if intent.outcome == "not_applied":
            raise ToolFailure(
                ErrorCode.WRITE_FAILED,
                f"action {intent.action_id} was not applied"
                + (f": {error.get('message')}" if isinstance(error, dict) else ""),
                action_id=intent.action_id,
                plan_id=intent.plan_id,
                replayed=True,
                written=False,
            )
        result = self._result(plan, dry_run=False)
        result.action_id = intent.action_id
        result.approval_id = intent.approval_id
        result.approver = intent.approver
        result.replayed = True
        status = Verifier(self.state).status(intent)
        result.verification = Verification.model_validate(status)
        return result

    def _neighbours(self, namespace: str) -> list[JSON]:
        """The namespace's pods now: from the watch cache (no request), else one list."""
        cache = self.state.cache
        if cache is not None and cache.synced:
            return cache.pods(namespace)
        return self.state.gateway.list_pods(namespace).items

    def _expected(self, plan: Plan, fresh: _Fresh) -> JSON:
        """What verification and reconciliation compare the cluster with afterwards."""
        namespace = str(plan.pod.get("namespace"))
        if plan.action in (Action.DELETE_POD.value, Action.DELETE_EVICTED_POD.value):
            return delete_expectation(fresh.pod, self._neighbours(namespace))
        deployment = fresh.deployment or {}
        # The pods the workload had before the write: a rollout's new pods are the others.
        selector = (deployment.get("spec") or {}).get("selector") or {}
        before = sorted(
            str((p.get("metadata") or {}).get("uid"))
            for p in self._neighbours(namespace)
            if selector_matches(selector, (p.get("metadata") or {}).get("labels") or {})
        )
        if plan.action == Action.INCREASE_MEMORY_LIMIT.value:
            limit = plan.parameters.get("memory_limit_bytes")
            return {
                "container": plan.parameters.get("container"),
                "memory_limit": memory_text(int(limit)) if isinstance(limit, int) else None,
                "pods_before": before,
            }
        if plan.action == Action.ROLLBACK_DEPLOYMENT.value:
            ops, chosen = _writes(
                lambda: rollback_patch(
                    deployment, fresh.replicasets, _revision_param(plan.parameters)
                )
            )
            template = next(op["value"] for op in ops if op.get("path") == "/spec/template")
            return {
                "template_digest": template_digest(template),
                "revision": chosen,
                "pods_before": before,
            }
        if plan.action == Action.SCALE_DOWN_DEPLOYMENT.value:
            return {"replicas": plan.parameters.get("replicas"), "pods_before": before}
        return {}

    def _write(self, plan: Plan, fresh: _Fresh, expected: JSON, *, dry_run: bool) -> JSON:
        gw = self.state.gateway
        ns = str(plan.target["namespace"])
        name = str(plan.target["name"])
        action = plan.action
        if action in (Action.DELETE_POD.value, Action.DELETE_EVICTED_POD.value):
            gw.delete_pod(ns, name, dry_run=dry_run, uid=plan.facts.pod_uid)
            return {"deleted": f"Pod/{ns}/{name}", "uid": plan.facts.pod_uid}
        if fresh.deployment is None:
            raise ToolFailure(
                ErrorCode.UNSUPPORTED, f"{action} on a {plan.target['kind']} is not supported"
            )
        if action == Action.SCALE_DOWN_DEPLOYMENT.value:
            replicas = plan.parameters.get("replicas")
            if not isinstance(replicas, int) or replicas < self.state.policy.min_replicas:
                raise ToolFailure(ErrorCode.SAFETY_CHECK_FAILED, "no valid replica count")
            gw.scale_deployment(ns, name, replicas, dry_run=dry_run)
            return {"replicas": replicas}
        if action not in (
            Action.INCREASE_MEMORY_LIMIT.value,
            Action.ROLLBACK_DEPLOYMENT.value,
        ):
            raise ToolFailure(
                ErrorCode.UNSUPPORTED, f"{action} is not an action the server performs"
            )
        deployment = fresh.deployment
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._patch(plan, deployment, fresh.replicasets, dry_run=dry_run)
            except Conflict:
                # The controller's status writes move the resourceVersion too. Only a change
                # of the spec (its generation) stales the plan; then the 409 stands.
                again = gw.get_deployment(ns, name)
                generation = int((again.get("metadata") or {}).get("generation") or 0)
                if attempt == CONFLICT_ATTEMPTS or generation != plan.facts.workload_generation:
                    raise
                deployment = again
        raise AssertionError("unreachable")

    def _patch(
        self, plan: Plan, deployment: JSON, replicasets: list[JSON], *, dry_run: bool
    ) -> JSON:
        gw = self.state.gateway
        ns = str(plan.target["namespace"])
        name = str(plan.target["name"])
        if plan.action == Action.INCREASE_MEMORY_LIMIT.value:
            limit = plan.parameters.get("memory_limit_bytes")
            container = plan.parameters.get("container")
            ops, changed, value = _writes(
                lambda: memory_patch(
                    deployment,
                    None if container is None else str(container),
                    int(limit) if isinstance(limit, int) else 0,
                )
            )
            gw.patch_deployment(ns, name, ops, patch_type="json", dry_run=dry_run)
            return {"container": changed, "memory_limit": value, "patch": ops}
        ops, chosen = _writes(
            lambda: rollback_patch(deployment, replicasets, _revision_param(plan.parameters))
        )
        gw.patch_deployment(ns, name, ops, patch_type="json", dry_run=dry_run)
        return {"to_revision": chosen, "from_revision": revision_of(deployment)}

    def _event(self, plan: Plan, written: JSON) -> None:
        target = plan.target
        body = event_body(
            str(target["kind"]),
            str(target["namespace"]),
            str(target["name"]),
            str(target.get("uid") or "") or None,
            plan.action,
            plan.reason,
            _now_text(self.state),
            self._instance,
        )
        try:
            self.state.gateway.create_event(str(target["namespace"]), body)
        except GatewayError as error:
            # The action happened; a lost Event must not turn it into a failure.
            log.warning("could not write the Event for %s: %s", plan.action, error)


def _revision_param(parameters: Any) -> int | None:
    revision = parameters.get("revision")
    return revision if isinstance(revision, int) else None


def _writes(build: Callable[[], W]) -> W:
    """A patch builder's refusal as the tool error it is."""
    try:
        return build()
    except WriteRefused as refused:
        raise ToolFailure(refused.code, refused.message) from refused


def _write_error(plan: Plan, error: Exception) -> tuple[str, str]:
    if isinstance(error, ToolFailure):
        return str(error.code), error.message
    assert isinstance(error, GatewayError)
    if isinstance(error, Conflict):
        return ErrorCode.CONFLICT, (
            f"{plan.action} refused by the API server: the object changed since it was read "
            f"({error.message})"
        )
    if isinstance(error, NotFound):
        return ErrorCode.NOT_FOUND, f"{plan.action}: {error.message}"
    if isinstance(error, TooManyRequests):
        return ErrorCode.API_THROTTLED, f"{plan.action}: {error.message}"
    return ErrorCode.WRITE_FAILED, f"{plan.action} failed: {error.reason}: {error.message}"
