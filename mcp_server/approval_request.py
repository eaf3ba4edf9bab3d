"""Asking a human to approve a plan: the preview of its write, and the pending approval."""

from __future__ import annotations

from mcp_server.approvals import target_key
from mcp_server.cluster_writer import ClusterWriter, Fresh
from mcp_server.errors import ErrorCode
from mcp_server.plans import Plan
from mcp_server.previewing import compute_preview
from mcp_server.state import ServerState
from mcp_server.tools.models import ToolFailure


def request_approval(
    state: ServerState, writer: ClusterWriter, plan: Plan, fresh: Fresh, requested_by: str
) -> ToolFailure:
    """Store a pending approval with its preview; the answer to give the caller.

    `fresh` is the facts re-read for it (a stale plan is refused there, before anyone is
    asked); the preview costs one dry run of the exact write (a write the API server rejects
    is refused here, with its reason)."""
    preview = compute_preview(state, writer, plan, fresh)
    target = target_key(
        str(plan.target["kind"]),
        str(plan.target["namespace"]),
        str(plan.target["name"]),
        plan.cluster,
    )
    pending = state.approvals.request(
        plan.action,
        target,
        reason=plan.reason,
        risk=plan.risk,
        requested_by=requested_by,
        details={
            "plan_id": plan.plan_id,
            "pod": plan.pod,
            "parameters": plan.parameters,
            "preview": preview,
        },
    )
    state.publish_approval_metrics()
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
        preview=preview,
    )
