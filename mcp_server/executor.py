"""Executing a plan: intent → write → outcome, exactly once.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp_server import metrics
from mcp_server.approval_request import request_approval
from mcp_server.approvals import ApprovalError, target_key
from mcp_server.audit import AuditTarget, Result
from mcp_server.auth import Caller
from mcp_server.cluster_writer import ClusterWriter, Fresh, PartialWrite, now_text
from mcp_server.errors import ErrorCode
from mcp_server.gateway import Conflict, GatewayError, NotFound, TooManyRequests
from mcp_server.ledger import Begun, Intent, Replayed
from mcp_server.planning import refuse_failed_checks
from mcp_server.plans import Plan
from mcp_server.reconcile import reconcile
from mcp_server.state import ServerState
from mcp_server.tools.models import HealResult, ToolFailure, Verification
from mcp_server.verifier import Verifier
from mcp_server.writes import (
    WriteRefused,
    label_selector,
    rollback_refusal,
)
from policies import Action, Decision, RateLimitExceeded

log = logging.getLogger(__name__)

JSON = dict[str, Any]
FAULT_POINT_ENV = "KUBEMEDIC_FAULT_POINT"
_TARGET_KEYS = ("kind", "namespace", "name")
# The workloads whose template the server writes (memory, rollback) or scales.
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})


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
class Attempt:
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


def fault_point(name: str) -> None:
    """Die here, as kill -9 would, when KUBEMEDIC_FAULT_POINT names this point: the crash
    tests stop a real server process between intent, write and outcome."""
    if os.environ.get(FAULT_POINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _stale(plan: Plan, why: str) -> ToolFailure:
    metrics.safety_rejections_total.labels(check="plan_facts").inc()
    return ToolFailure(
        ErrorCode.PLAN_STALE,
        f"plan {plan.plan_id} is stale: {why}; plan again",
        plan_id=plan.plan_id,
    )


class Executor:
    """Carries out stored plans; the entry points (mcp_server.healing) say which."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.writer = ClusterWriter(state)

    def result(self, plan: Plan, *, dry_run: bool) -> HealResult:
        return HealResult(
            action_taken=plan.action,
            pod_name=str(plan.pod.get("name")),
            namespace=str(plan.pod.get("namespace")),
            target={k: str(plan.target[k]) for k in ("kind", "namespace", "name")},
            reason=plan.reason,
            dry_run=dry_run,
            timestamp=now_text(self.state),
            decision=plan.decision,
            plan_id=plan.plan_id,
        )

    # ------------------------------------------------------------------------------ the facts

    def _fresh(self, plan: Plan) -> Fresh:
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
        fresh = Fresh(pod=pod)
        kind = str(plan.target.get("kind"))
        if kind in WORKLOAD_KINDS:
            word = kind.lower()
            try:
                workload = gw.get_workload(kind, namespace, str(plan.target.get("name")))
            except NotFound as error:
                raise _stale(plan, f"the {word} is gone") from error
            workload_meta = workload.get("metadata") or {}
            if plan.target.get("uid") and workload_meta.get("uid") != plan.target.get("uid"):
                raise _stale(plan, f"the {word} was recreated (another uid)")
            generation = int(workload_meta.get("generation") or 0)
            if generation != plan.facts.workload_generation:
                raise _stale(
                    plan,
                    f"the {word} changed (generation {plan.facts.workload_generation} -> "
                    f"{generation})",
                )
            workload.setdefault("kind", kind)
            if plan.action == Action.ROLLBACK_DEPLOYMENT.value:
                refusal = rollback_refusal(workload)
                if refusal is not None:
                    raise ToolFailure(ErrorCode.ROLLBACK_REFUSED, refusal)
                if kind == "Deployment":
                    fresh.history = gw.list_replicasets(namespace)
                else:
                    # As `kubectl rollout undo` reads them: by the workload's selector.
                    selector = (workload.get("spec") or {}).get("selector") or {}
                    try:
                        text = label_selector(selector)
                    except WriteRefused as refused:
                        raise ToolFailure(refused.code, refused.message) from refused
                    fresh.history = gw.list_controller_revisions(
                        namespace, label_selector=text or None
                    )
            fresh.workload = workload
        return fresh

    def _needs_approval(self, plan: Plan, request: HealRequest) -> bool:
        if not plan.requires_approval:
            return False
        return not (request.force and request.caller.name in self.state.policy.trusted_callers)

    def _request_approval(self, plan: Plan, request: HealRequest) -> ToolFailure:
        """Store a pending approval with its preview (after the fresh reads); the answer."""
        fresh = self._fresh(plan)
        return request_approval(self.state, self.writer, plan, fresh, request.caller.name)

    # ------------------------------------------------------------------------------ executing

    def execute(self, plan: Plan, request: HealRequest, attempt: Attempt) -> HealResult:
        """Intent -> write -> outcome, for one stored plan."""
        state = self.state
        # The plan's own checks (taken when it was made): a blocked plan is never executed.
        refuse_failed_checks(Decision.from_dict(plan.decision))
        reconcile(state)  # orphans first: limits and replays must count their writes
        earlier = self._earlier_write(plan, request)
        if earlier is not None:
            attempt.recorded = True  # a replay adds no record: the intent has its pair
            intent, key = earlier
            return self._replayed(plan, intent, key=key)
        needs_approval = self._needs_approval(plan, request)
        if needs_approval and request.approval_id is None and not request.dry_run:
            # Asking re-reads the facts and dry-runs the write, for the approval's preview.
            raise self._request_approval(plan, request)
        fresh = self._fresh(plan)
        expected = self.writer.expected(plan, fresh)
        if request.dry_run:
            written = self.writer.write(plan, fresh, expected, dry_run=True)
            attempt.details["write"] = written
            if needs_approval:
                attempt.details["would_require_approval"] = True
            return _dry_run_result(self.result(plan, dry_run=True), plan, written)
        approval_id = request.approval_id
        if needs_approval and approval_id is None:
            raise self._request_approval(plan, request)
        if not needs_approval and approval_id is not None:
            attempt.details["approval_unused"] = approval_id
            approval_id = None
        begun = _begin(state, plan, request, approval_id, expected)
        attempt.recorded = True
        if isinstance(begun, Replayed):
            return self._replayed(plan, begun.intent)
        return self._write_recorded(plan, begun.intent, fresh, request)

    def _earlier_write(self, plan: Plan, request: HealRequest) -> tuple[Intent, str | None] | None:
        """The intent this request replays, with the key it was found by: the one of its
        idempotency key, or (not for a dry run) the one the plan was already executed with."""
        key = request.idempotency_key
        if key is not None:
            seen = self.state.ledger.intents_by_key(key)
            if seen:
                return seen[0], key
        applied = self.state.ledger.intent_of_plan(plan.plan_id)
        if applied is not None and not request.dry_run:
            return applied, None
        return None

    def _write_recorded(
        self, plan: Plan, intent: Intent, fresh: Fresh, request: HealRequest
    ) -> HealResult:
        state = self.state
        record = self._recorder(plan, intent)
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
            written = self.writer.write(plan, fresh, intent.expected, dry_run=False)
        except (GatewayError, ToolFailure, PartialWrite) as caught:
            # A memory raise whose template patch failed after pods were resized in place:
            # the plan is not applied, and the outcome still lists every write it made.
            partial = caught.written if isinstance(caught, PartialWrite) else None
            error = caught.error if isinstance(caught, PartialWrite) else caught
            code, message = _write_error(plan, error)
            failure = {"code": str(code), "message": message}
            extra: JSON = {} if partial is None else {"write": partial}
            record("not_applied", failure, **extra)
            state.ledger.finish(intent.action_id, "not_applied", {"error": failure, **extra})
            raise ToolFailure(
                code,
                message,
                action_id=intent.action_id,
                plan_id=plan.plan_id,
                written=False,
            ) from error
        fault_point("after_write")
        duration = record("applied", write=written)
        state.ledger.finish(intent.action_id, "applied", {"write": written, "pod": plan.pod})
        metrics.healing_duration_seconds.labels(*labels).observe(duration)
        self.writer.event(plan, written)
        return self._pending(plan, intent, written)

    def _recorder(self, plan: Plan, intent: Intent) -> Callable[..., float]:
        """Appends this intent's audit records; each answers the seconds since the intent."""
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

        def record(result: Result, error: JSON | None = None, **extra: Any) -> float:
            elapsed = 0.0 if result == "intent" else state.clock.monotonic() - started
            state.audit.append(
                action=plan.action,
                target=target,
                reason=plan.reason,
                initiator=intent.initiator,
                approver=intent.approver,
                result=result,
                dry_run=False,
                duration_seconds=elapsed,
                error=error,
                details={**details, **extra},
                phase="intent" if result == "intent" else "outcome",
            )
            return elapsed

        return record

    def _pending(self, plan: Plan, intent: Intent, written: JSON) -> HealResult:
        result = self.result(plan, dry_run=False)
        result.action_id = intent.action_id
        result.approval_id = intent.approval_id
        result.approver = intent.approver
        result.from_revision = written.get("from_revision")
        result.verification = Verification(
            status="pending",
            action_id=intent.action_id,
            message=f"written{_resize_note(written)}; ask get_action_status for the verification",
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
        result = self.result(plan, dry_run=False)
        result.action_id = intent.action_id
        result.approval_id = intent.approval_id
        result.approver = intent.approver
        result.replayed = True
        status = Verifier(self.state).status(intent)
        result.verification = Verification.model_validate(status)
        return result


def _dry_run_result(result: HealResult, plan: Plan, written: JSON) -> HealResult:
    result.verification = Verification(
        status="not_applicable",
        message=f"dry run: the API server accepted {plan.action} (dryRun=All)"
        f"{_resize_note(written)}; nothing was changed",
    )
    return result


def _begin(
    state: ServerState,
    plan: Plan,
    request: HealRequest,
    approval_id: str | None,
    expected: JSON,
) -> Begun | Replayed:
    """Record the intent (limits and approval checked in the same transaction), or the one
    an earlier request with the same key recorded."""
    target = target_key(
        str(plan.target["kind"]), str(plan.target["namespace"]), str(plan.target["name"])
    )
    key = request.idempotency_key
    try:
        return state.ledger.begin(
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


def _resize_note(written: JSON) -> str:
    """How a memory raise's in-place resizes went, for the answer's message."""
    entries = written.get("resize")
    if not isinstance(entries, list) or not entries:
        return ""
    done = ("accepted", "resized")
    accepted = [e["pod"] for e in entries if e.get("result") in done]
    others = [f"{e['pod']} {e.get('result')}" for e in entries if e.get("result") not in done]
    parts = []
    if accepted:
        parts.append(f"resize in place of {', '.join(accepted)}")
    if others:
        parts.append(f"not in place: {', '.join(others)}")
    return f" ({'; '.join(parts)})"


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
