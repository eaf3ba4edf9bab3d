"""Approvals through MCP elicitation: the calling host asks its user, in the tool call.

A destructive plan without an approval answers `approval_required` and stores a pending,
single-use approval bound to the plan (mcp_server.executor). Where the policy lists the action
in `approval_elicitation`, the caller is an HTTP token caller and its client declared the
`elicitation` capability when it connected, the tool layer puts the plan (and its preview) to
the host's user with `elicitation/create` before answering:

- accept with `approve: true` -> the record is granted by "<token name> via elicitation" and
  the same plan is executed with that approval id, as a retry would (the usual answers: the
  write, or `plan_stale`, `approval_expired`, ...); the intent and outcome records name that
  approver;
- accept with `approve: false`, decline or cancel -> the record is rejected with the reason
  and the call answers `approval_not_granted` (`status: "rejected"`); nothing is written;
- no answer in `approval_elicitation_timeout_seconds`, or the host fails the request -> the
  usual `approval_required` (the record stays pending for an out-of-band decision).

The local caller (stdio, in-memory) is never asked: over those transports the client is
kubemedic's own agent (or the user who started the server), which must never approve its own
actions. Nothing here runs inside the executor's transaction, and nothing is held while the
human thinks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import anyio
from mcp.server.fastmcp import Context
from mcp.server.session import ServerSession
from mcp.shared.exceptions import McpError
from pydantic import BaseModel, Field, ValidationError

from mcp_server.approvals import Approval, ApprovalError
from mcp_server.audit import AuditTarget
from mcp_server.auth import Caller, current_caller
from mcp_server.errors import ErrorCode
from mcp_server.preview import parse_preview, preview_lines
from mcp_server.state import ServerState
from mcp_server.tools.models import ErrorInfo, ToolResult
from policies import Policy

log = logging.getLogger(__name__)

Out = TypeVar("Out", bound=ToolResult)
# Runs the same tool again with some arguments replaced (approval_id, plan_id).
Rerun = Callable[[dict[str, Any]], Awaitable[Out]]

VIA = "via elicitation"
_DID = {"decline": "declined", "cancel": "cancelled"}
NOTE_CHARS = 500


class ApprovalAnswer(BaseModel):
    """What the host's user answers (flat primitives, as elicitation requires)."""

    approve: bool = Field(description="Approve this change (false rejects it)")
    reason: str = Field(default="", description="Why (kept with the decision)")


def declared_elicitation(session: ServerSession) -> bool:
    """The client declared form elicitation when it connected (`elicitation: {}` is form)."""
    params = session.client_params
    declared = None if params is None else params.capabilities.elicitation
    if declared is None:
        return False
    return declared.form is not None or declared.url is None


def may_ask(policy: Policy, caller: Caller, action: str, session: ServerSession) -> bool:
    """Whether this approval may be put to the caller's user: an action the policy lists, an
    HTTP token caller (never the local one: kubemedic's own agent must not approve itself),
    and a client that can answer."""
    allowed = {a.value for a in policy.approval_elicitation}
    return (
        action in allowed
        and caller.transport == "http"
        and caller.may("heal")
        and declared_elicitation(session)
    )


def approval_message(asked: dict[str, Any], approval: Approval) -> str:
    """The question: the plan in a few lines, then the preview when the server made one."""
    target = asked.get("target") or {}
    where = f"{target.get('kind')}/{target.get('namespace')}/{target.get('name')}"
    lines = [
        f"kubemedic asks to {asked.get('action')} on {where} (risk {asked.get('risk')}).",
        f"reason: {asked.get('reason')}",
    ]
    parameters = asked.get("parameters") or {}
    if parameters:
        lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in parameters.items()))
    preview = parse_preview(asked.get("preview")) or parse_preview(approval.details.get("preview"))
    if preview is not None:
        lines.extend(preview_lines(preview))
    expires = datetime.fromtimestamp(approval.expires_at, UTC).isoformat(timespec="seconds")
    lines.append(
        f"approval {approval.id} for plan {asked.get('plan_id')}: single use, for this plan "
        f"only, until {expires}. Approve?"
    )
    return "\n".join(lines)


async def settle_approval(
    ctx: Context[Any, Any, Any],
    result: Out,
    rerun: Rerun[Out],
    *,
    state: ServerState | None = None,
) -> Out:
    """Put an `approval_required` answer to the host's user when that is allowed; any other
    answer, or one that may not be asked, is returned as it is."""
    error = result.error
    if result.success or error is None or error.code != ErrorCode.APPROVAL_REQUIRED:
        return result
    if state is None:
        state = ctx.request_context.lifespan_context
    assert state is not None
    caller = current_caller(state.config)
    asked = dict(error.model_extra or {})
    action = str(asked.get("action"))
    if not may_ask(state.policy, caller, action, ctx.session):
        return result
    approval_id = str(asked.get("approval_id"))
    approval = await anyio.to_thread.run_sync(state.approvals.get, approval_id)
    if approval is None or approval.status != "pending":
        return result
    try:
        with anyio.fail_after(state.policy.approval_elicitation_timeout_seconds):
            answer = await ctx.elicit(
                message=approval_message(asked, approval), schema=ApprovalAnswer
            )
    except TimeoutError:
        log.warning("approval %s: no answer through elicitation in time", approval_id)
        return result
    except (McpError, ValidationError) as failure:
        log.warning("approval %s: elicitation failed: %s", approval_id, failure)
        return result
    by = f"{caller.name} {VIA}"
    # The host's text is untrusted: kept as a bounded note (the audit trail redacts secrets).
    note = answer.data.reason.strip()[:NOTE_CHARS] if answer.action == "accept" else ""
    if answer.action == "accept" and answer.data.approve:
        try:
            await anyio.to_thread.run_sync(
                partial(state.approvals.grant, approval_id, by, note or None)
            )
        except ApprovalError as refused:
            # Decided elsewhere or expired meanwhile: the retry answers what holds now.
            log.info("approval %s: not granted through elicitation: %s", approval_id, refused)
        await anyio.to_thread.run_sync(state.publish_approval_metrics)
        return await rerun({"approval_id": approval_id, "plan_id": asked.get("plan_id")})
    if answer.action == "accept":
        reason = f"rejected {VIA}" + (f": {note}" if note else "")
    else:
        reason = f"{_DID[answer.action]} {VIA}"
    return await anyio.to_thread.run_sync(
        partial(_reject, state, caller, type(result), asked, approval_id, by, reason)
    )


def _reject(
    state: ServerState,
    caller: Caller,
    result_type: type[Out],
    asked: dict[str, Any],
    approval_id: str,
    by: str,
    reason: str,
) -> Out:
    """Reject the record, audit the refusal, and answer with a structured error."""
    started = state.clock.monotonic()
    target = asked.get("target") or {}
    code = str(ErrorCode.APPROVAL_NOT_GRANTED)
    try:
        state.approvals.reject(approval_id, by=by, reason=reason)
        message = f"approval {approval_id} was {reason} by {caller.name}; nothing was written"
        extra: dict[str, Any] = {"status": "rejected", "decided_by": by}
    except ApprovalError as refused:  # decided elsewhere, or expired, meanwhile
        code, message = refused.code, refused.message
        extra = {}
    finally:
        state.publish_approval_metrics()
    state.audit.append(
        action=str(asked.get("action")),
        target=AuditTarget(
            str(target.get("kind")), str(target.get("namespace")), str(target.get("name"))
        ),
        reason=str(asked.get("reason") or ""),
        initiator=caller.name,
        result="refused",
        dry_run=False,
        duration_seconds=state.clock.monotonic() - started,
        error={"code": code, "message": message},
        details={
            "approval_id": approval_id,
            "plan_id": asked.get("plan_id"),
            "decided_by": by,
            "decision": reason,
        },
    )
    extra.update(
        approval_id=approval_id,
        plan_id=asked.get("plan_id"),
        action=asked.get("action"),
        target=target,
    )
    return result_type(success=False, error=ErrorInfo(code=code, message=message, **extra))
