"""Every error code a tool answers with: one enum, documented in docs/contracts.md.

A refused or failed call is an MCP error (`isError: true`) whose structured content still
carries `{"success": false, "error": {"code": <ErrorCode>, "message": ..., ...}}`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # The request itself
    INVALID_INPUT = "invalid_input"  # wrong types, names that are not RFC 1123, absurd bounds
    FORBIDDEN = "forbidden"  # the caller lacks a scope, or may not force
    NOT_FOUND = "not_found"  # the pod, deployment, container or revision does not exist
    NOT_READY = "not_ready"  # the pod cache has not synced yet; ask again shortly
    DIAGNOSIS_MISMATCH = "diagnosis_mismatch"  # the caller's diagnosis claims what is not seen
    # The rules
    VETOED = "vetoed"  # the rules do not allow the proposed action for this diagnosis
    NOT_MANAGED = "not_managed"  # no controller would recreate the pod
    ACTION_NOT_APPROPRIATE = "action_not_appropriate"  # the action does not fit the issue
    PROTECTED_NAMESPACE = "protected_namespace"
    RATE_LIMITED = "rate_limited"  # kubemedic's own limits: global, per workload, cooldown
    BLAST_RADIUS = "blast_radius"  # below the PodDisruptionBudget or maxUnavailable
    SAFETY_CHECK_FAILED = "safety_check_failed"  # any other failed check
    UNSUPPORTED = "unsupported"  # an action this server cannot perform on this kind
    ROLLBACK_REFUSED = "rollback_refused"  # e.g. the Deployment is paused
    # Approvals
    APPROVAL_REQUIRED = "approval_required"  # a pending approval was created; nothing written
    APPROVAL_NOT_FOUND = "approval_not_found"
    APPROVAL_NOT_GRANTED = "approval_not_granted"  # still pending, or rejected
    APPROVAL_EXPIRED = "approval_expired"
    APPROVAL_MISMATCH = "approval_mismatch"  # granted for another plan, action or target
    APPROVAL_USED = "approval_used"  # single use: already consumed by an intent
    APPROVAL_INVALID = "approval_invalid"
    # The API server refused the write in its dry run (asked before an approval is stored):
    # no approval was asked for; + `status`, `reason`, `api_message`
    DRY_RUN_REJECTED = "dry_run_rejected"
    # Plans and intents
    PLAN_NOT_FOUND = "plan_not_found"  # unknown or expired plan id
    PLAN_STALE = "plan_stale"  # the facts the plan was made on changed; plan again
    IN_PROGRESS = "in_progress"  # this idempotency key's intent has no outcome yet
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"  # the key was used for another change
    ACTION_NOT_FOUND = "action_not_found"  # get_action_status for an unknown action id
    # The Kubernetes API
    CONFLICT = "conflict"  # 409: a precondition (uid, resourceVersion) no longer holds
    API_THROTTLED = "api_throttled"  # 429 from the Kubernetes API (not kubemedic's limit)
    API_ERROR = "api_error"  # any other failed read
    WRITE_FAILED = "write_failed"  # the API refused or failed the write; nothing applied
    INTERNAL_ERROR = "internal_error"  # a bug: see the server's log


# Codes after which nothing was written and trying the same call again later may succeed.
RETRYABLE: frozenset[ErrorCode] = frozenset(
    {ErrorCode.NOT_READY, ErrorCode.API_THROTTLED, ErrorCode.IN_PROGRESS, ErrorCode.API_ERROR}
)
