"""Deciding an approval, whichever way a human does it (terminal, web inbox, Slack).

Granting or rejecting changes the MCP server's single-use approval record (out of band: no MCP
tool can grant one). When an incident of this state directory waits on the approval, the
decision then resumes that incident's LangGraph thread, which retries the action with the
approval id. An approval asked for by another MCP client (a chat client, another agent) is only
decided: that client retries with the id itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the agent's modules load only when a decision is made
    from kubemedic.agent_runtime import Remote
    from kubemedic.settings import Settings

DecisionKind = Literal["approve", "reject", "edit"]
Progress = Callable[[str], Awaitable[None] | None]


class DecisionRefused(Exception):
    """The decision cannot be made as asked (unknown id, already decided, not a milder action,
    no approver name); nothing was changed. `exit_code` is what a command line returns."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(slots=True)
class DecisionResult:
    """What a decision did: the lines a person reads, and the incident it moved, if any."""

    approval_id: str
    decision: DecisionKind
    lines: list[str] = field(default_factory=list)
    incident_id: str | None = None
    # The incident's outcome when it ended (healed, not_healed, rejected, ...); None while it
    # runs on or waits again.
    outcome: str | None = None
    waiting_again: str | None = None  # the new approval id the incident now waits on

    def say(self, line: str) -> None:
        self.lines.append(line)


async def waiting_incidents(settings: Settings) -> dict[str, dict[str, Any]]:
    """approval id -> {incident_id, payload} for incidents waiting on an approval."""
    from agent.context import IncidentContext
    from agent.runner import IncidentRunner, open_checkpointer
    from agent.tools import Toolbox
    from kubemedic.agent_runtime import incident_registry, policy_of

    found: dict[str, dict[str, Any]] = {}
    if settings.database() is None and not settings.checkpoint_db.exists():
        return found
    registry = incident_registry(settings)
    async with open_checkpointer(settings.checkpoint_target) as saver:
        runner = IncidentRunner(
            IncidentContext(toolbox=Toolbox([]), policy=policy_of(settings)), saver
        )
        for incident in registry.open_incidents():
            status = await runner.status(incident.id)
            if status.pending:
                approval_id = str(status.pending.get("approval_id") or "")
                found[approval_id] = {"incident_id": incident.id, "payload": status.pending}
    return found


async def decide(
    settings: Settings,
    approval_id: str,
    by: str,
    decision: DecisionKind,
    *,
    edited: str | None = None,
    reason: str = "",
    resume: bool = True,
    remote: Remote | None = None,
    progress: Progress | None = None,
) -> DecisionResult:
    """Grant, reject or edit one approval as `by`; then resume the incident that waits on it.

    Raises DecisionRefused when nothing could be decided."""
    from kubemedic.agent_runtime import approval_store, audit_rejection
    from mcp_server.approvals import ApprovalError, split_target_key, target_key

    if not by.strip():
        raise DecisionRefused("a decision needs the name of the person who made it", 2)
    store = approval_store(settings)
    approval = store.get(approval_id)
    if approval is None:
        raise DecisionRefused(f"no approval {approval_id}")
    waiting = await waiting_incidents(settings)
    incident = waiting.get(approval_id)
    result = DecisionResult(approval_id, decision)
    answer: dict[str, Any] = {"decision": decision, "approver": by}
    try:
        if decision == "approve":
            store.grant(approval_id, by=by)
            result.say(f"granted {approval_id}: {approval.action} on {approval.target}")
        elif decision == "reject":
            store.reject(approval_id, by=by, reason=reason)
            if incident is None or not resume:
                # No incident of ours ends with it here: record the rejection ourselves (the
                # graph's report records it when it does).
                audit_rejection(settings, approval, by, reason)
            answer["reason"] = reason
            result.say(f"rejected {approval_id}: nothing will be written")
        else:
            edit = edit_option(incident, edited)
            if edit is None:
                allowed = [e["action"] for e in milder_options(incident)]
                raise DecisionRefused(
                    f"{edited!r} is not a milder action allowed here "
                    f"(allowed: {', '.join(allowed) or 'none'})",
                    2,
                )
            store.reject(approval_id, by=by, reason=f"edited to {edit['action']}")
            audit_rejection(settings, approval, by, f"edited to {edit['action']}")
            answer["edited_action"] = edit["action"]
            if edit.get("writes"):
                target = edit.get("target") or {}
                milder = store.request(
                    edit["action"],
                    target_key(
                        target["kind"],
                        target["namespace"],
                        target["name"],
                        split_target_key(approval.target)[0],
                    ),
                    reason=f"edited by {by} from {approval.action}: {edit.get('reason', '')}",
                    risk=str(edit.get("risk") or "low"),
                    requested_by=by,
                )
                store.grant(milder.id, by=by)
                answer["approval_id"] = milder.id
            result.say(f"edited {approval_id}: {approval.action} -> {edit['action']}")
    except ApprovalError as error:
        raise DecisionRefused(error.message) from error
    if incident is None:
        result.say(
            "no incident of this state directory waits on it: the caller retries "
            f"with approval_id={approval_id}"
        )
        return result
    result.incident_id = str(incident["incident_id"])
    if not resume:
        result.say(f"incident {result.incident_id} resumes when its loop picks it up")
        return result
    needs_cluster = decision != "reject"
    await _resume(settings, result, answer, needs_cluster, remote=remote, progress=progress)
    return result


def milder_options(incident: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The milder actions the rules allow instead, as the waiting incident offered them."""
    if incident is None:
        return []
    return [dict(option) for option in incident["payload"].get("edits") or []]


def edit_option(incident: dict[str, Any] | None, edited: str | None) -> dict[str, Any] | None:
    if edited is None:
        return None
    for option in milder_options(incident):
        if option.get("action") == edited.strip().lower():
            return option
    return None


async def _resume(
    settings: Settings,
    result: DecisionResult,
    answer: dict[str, Any],
    needs_cluster: bool,
    *,
    remote: Remote | None,
    progress: Progress | None,
) -> None:
    from agent.tools import Toolbox
    from kubemedic.agent_runtime import incident_registry, incident_runner, mcp_session, toolbox_of

    incident_id = str(result.incident_id)

    async def show(_: str, node: str, update: Any) -> None:
        if progress is None:
            return
        for item in update.get("timeline") or []:
            shown = progress(f"{node} {item.get('event')}: {item.get('detail', '')}")
            if shown is not None:
                await shown

    from agent.tools import cluster_scope
    from agent.watch import cluster_of_key

    # Several clusters: the incident's tool calls name its cluster (from its key).
    found = incident_registry(settings).get(incident_id)
    cluster = cluster_of_key(found.workload) if found is not None else None

    async def run(toolbox: Toolbox) -> Any:
        async with incident_runner(settings, toolbox) as runner:
            with cluster_scope(cluster):
                return await runner.resume(incident_id, answer, on_update=show)

    if needs_cluster:
        async with mcp_session(settings, remote, pod_cache=False) as session:
            status = await run(await toolbox_of(settings, session))
    else:
        status = await run(Toolbox([]))  # a rejection ends without touching the cluster
    if status.done:
        result.outcome = status.outcome or "failed"
        incident_registry(settings).close(incident_id, result.outcome)
        result.say(f"incident {incident_id}: {result.outcome} — {status.values.get('summary')}")
    elif status.waiting_for_approval and status.pending:
        result.waiting_again = str(status.pending.get("approval_id") or "")
        result.say(
            f"incident {incident_id} waits again: {status.pending.get('action')} needs "
            f"approval {result.waiting_again}"
        )
