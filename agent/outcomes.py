"""What a tool's error code means for an incident: one explicit table.

`blocked` means a rule or a check refused and nothing was written; `failed` means something
failed on the way (the API, the server, a write that was sent and not applied) and is never
reported as blocked. Codes the act node handles itself (approval_required, plan_stale, the
approval codes it can recover from) are not here.
"""

from __future__ import annotations

from agent.state import IncidentOutcome

OUTCOME_OF_CODE: dict[str, IncidentOutcome] = {
    # The target is gone: its controller replaced it, or someone deleted it.
    "not_found": "resolved",
    # A rule or a check refused; nothing written.
    "vetoed": "blocked",
    "not_managed": "blocked",
    "action_not_appropriate": "blocked",
    "protected_namespace": "blocked",
    "rate_limited": "blocked",
    "blast_radius": "blocked",
    "safety_check_failed": "blocked",
    "unsupported": "blocked",
    "rollback_refused": "blocked",
    "forbidden": "blocked",
    "diagnosis_mismatch": "blocked",
    "approval_mismatch": "blocked",
    "approval_invalid": "blocked",
    "approval_used": "blocked",
    "plan_not_found": "blocked",
    "plan_stale": "blocked",
    "idempotency_conflict": "blocked",
    "approval_required": "blocked",
    "approval_not_granted": "blocked",
    "approval_expired": "blocked",
    "approval_not_found": "blocked",
    # The API server refused the write in the dry run made before asking for an approval.
    "dry_run_rejected": "blocked",
    # Something failed: the API, the server, or a write that was not applied.
    "write_failed": "failed",
    "conflict": "failed",
    "api_throttled": "failed",
    "api_error": "failed",
    "in_progress": "failed",
    "not_ready": "failed",
    "invalid_input": "failed",
    "internal_error": "failed",
    "action_not_found": "failed",
    "tool_error": "failed",
    "tool_timeout": "failed",  # the call may have written: never "nothing written"
}


def outcome_of(code: str) -> IncidentOutcome:
    """An unknown code is a failure: never assume that nothing was written."""
    return OUTCOME_OF_CODE.get(code, "failed")
