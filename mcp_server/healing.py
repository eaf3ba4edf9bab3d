"""The write tools' entry points: every write the server makes starts here, whoever asked.

`auto_heal_pod` and `rollback_deployment` either name a stored plan (`plan_id`) or give the
original arguments, from which the server plans itself (refusing a caller's diagnosis that
claims what the cluster does not show). Either way the plan goes to the Executor
(mcp_server.executor: intent → write → outcome). A call that never reaches an intent — a
refusal, a dry run, a read-only decision — leaves exactly one audit record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp_server import metrics
from mcp_server.audit import AuditTarget, Result
from mcp_server.auth import Caller
from mcp_server.errors import ErrorCode
from mcp_server.executor import Attempt, Executor, HealRequest
from mcp_server.gateway import GatewayError, NotFound
from mcp_server.planning import Planned, diagnosis_inputs, plan_for
from mcp_server.plans import Plan
from mcp_server.pod_diagnosis import diagnose_inputs, memory_history_of
from mcp_server.state import ServerState
from mcp_server.tools.models import HealResult, RollbackResult, ToolFailure, Verification
from mcp_server.verifier import (
    created_at,
    pod_ready,
    pod_restarts,
)
from mcp_server.writes import (
    label_selector,
    rollback_refusal,
)
from policies import WRITE_ACTIONS, Action, Diagnosis

log = logging.getLogger(__name__)

JSON = dict[str, Any]
R = TypeVar("R")
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
class RollbackRequest:
    namespace: str
    deployment_name: str  # the workload's name, of `kind`
    caller: Caller
    kind: str = "Deployment"  # or StatefulSet, DaemonSet
    revision: int | None = None
    approval_id: str | None = None
    dry_run: bool = False
    force: bool = False
    plan_id: str | None = None
    idempotency_key: str | None = None


def _pod_status_text(pod: JSON) -> str:
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase") or "Unknown")


class Healer:
    """The write tools' entry points: who may ask, which plan, and one audit record for a call
    that never reached an intent. The plan is carried out by the Executor."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.executor = Executor(state)

    # ---------------------------------------------------------------------------- entry points

    def heal(self, request: HealRequest) -> HealResult:
        attempt = Attempt(
            action=request.action or "auto",
            target=AuditTarget("Pod", request.namespace, request.pod_name),
            initiator=request.caller.name,
            dry_run=request.dry_run,
        )
        return self._audited(attempt, lambda: self._heal(request, attempt))

    def rollback(self, request: RollbackRequest) -> RollbackResult:
        attempt = Attempt(
            action=Action.ROLLBACK_DEPLOYMENT.value,
            target=AuditTarget(request.kind, request.namespace, request.deployment_name),
            initiator=request.caller.name,
            dry_run=request.dry_run,
        )
        return self._audited(attempt, lambda: self._rollback(request, attempt))

    def _audited(self, attempt: Attempt, run: Callable[[], R]) -> R:
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

    def _heal(self, request: HealRequest, attempt: Attempt) -> HealResult:
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
                # What a human needs next (the pull errors, the advice), from the diagnosis
                # the plan was made with (reused while the pod has not changed).
                inputs = diagnosis_inputs(self.state, request.namespace, request.pod_name)
                diagnosis = diagnose_inputs(
                    inputs, self.state.policy, memory_history_of(self.state.usage, inputs)
                )
                return self._read_only_result(plan, diagnosis, inputs.pod)
            return self.executor.execute(plan, request, attempt)

        planned = self._plan_checked(request, attempt)
        plan = planned.plan
        self._describe(attempt, plan)
        if plan.action not in _WRITE_VALUES:
            attempt.no_write = True
            return self._read_only_result(plan, planned.diagnosis, planned.inputs.pod)
        return self.executor.execute(plan, request, attempt)

    def _plan_checked(self, request: HealRequest, attempt: Attempt) -> Planned:
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
        diagnosis = diagnose_inputs(
            inputs, self.state.policy, memory_history_of(self.state.usage, inputs)
        )
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

    def _describe(self, attempt: Attempt, plan: Plan) -> None:
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
        result = self.executor.result(plan, dry_run=False)
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

    def _rollback(self, request: RollbackRequest, attempt: Attempt) -> RollbackResult:
        self._check_caller(request.caller, request.force)
        if request.plan_id is not None:
            plan = self._stored_plan(request.plan_id)
        else:
            plan = self._plan_rollback(request)
        if (
            plan.action != Action.ROLLBACK_DEPLOYMENT.value
            or plan.target.get("kind") != request.kind
            or plan.target.get("name") != request.deployment_name
            or plan.target.get("namespace") != request.namespace
        ):
            raise ToolFailure(
                ErrorCode.VETOED,
                f"plan {plan.plan_id} is {plan.action} on {plan.target.get('kind')}/"
                f"{plan.target.get('name')}, not a rollback of {request.kind}/"
                f"{request.deployment_name}",
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
        healed = self.executor.execute(plan, heal_request, attempt)
        return RollbackResult(
            namespace=request.namespace,
            deployment_name=request.deployment_name,
            kind=request.kind,
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
        word = request.kind.lower()
        try:
            deployment = gw.get_workload(request.kind, request.namespace, request.deployment_name)
        except NotFound as error:
            raise ToolFailure(
                ErrorCode.NOT_FOUND,
                f"{word} {request.namespace}/{request.deployment_name} not found",
            ) from error
        refusal = rollback_refusal(deployment)
        if refusal is not None:
            raise ToolFailure(ErrorCode.ROLLBACK_REFUSED, refusal)
        selector = label_selector((deployment.get("spec") or {}).get("selector") or {})
        pods = gw.list_pods(request.namespace, label_selector=selector).items
        if not pods:
            raise ToolFailure(
                ErrorCode.VETOED,
                f"the {word} has no pods to diagnose; the rules cannot judge a rollback",
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
        plan: Plan | None = self.state.ledger.plan(plan_id)
        if plan is None:
            raise ToolFailure(ErrorCode.PLAN_NOT_FOUND, f"no plan {plan_id}", plan_id=plan_id)
        if plan.cluster != self.state.cluster:
            # The store is shared by the clusters; a plan is executed only on its own.
            raise ToolFailure(
                ErrorCode.PLAN_NOT_FOUND,
                f"no plan {plan_id} on cluster {self.state.cluster}",
                plan_id=plan_id,
            )
        return plan
