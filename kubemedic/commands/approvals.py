"""`kubemedic approvals list|approve|reject`: the human side of destructive actions.

Approving grants the MCP server's approval record (out of band: no MCP tool can grant one) and
then resumes the incident's LangGraph thread that waits on it, which retries the action with
the approval id. An approval asked for by another MCP client (a chat client, another agent) is
only granted: that client retries with the id itself.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
app = typer.Typer(help="List, approve or reject pending destructive actions.", no_args_is_help=True)

StateDir = Annotated[
    Path | None, typer.Option("--state-dir", help="state directory (default: settings)")
]
By = Annotated[str, typer.Option("--by", help="your name, recorded in the audit trail")]
McpUrl = Annotated[
    str | None,
    typer.Option("--mcp-url", help="resume through a remote MCP server (streamable HTTP)"),
]
Token = Annotated[
    str | None, typer.Option(envvar="KUBEMEDIC_MCP_TOKEN", help="bearer token for --mcp-url")
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="approvals")


def _settings(state_dir: Path | None) -> Any:
    from kubemedic.settings import load_settings

    settings = load_settings()
    if state_dir is not None:
        settings = settings.model_copy(update={"state_dir": state_dir})
    return settings


async def _waiting_incidents(settings: Any) -> dict[str, dict[str, Any]]:
    """approval id -> {incident_id, payload} for incidents waiting on an approval."""
    from agent.runner import IncidentRunner, open_checkpointer
    from agent.tools import Toolbox
    from kubemedic.agent_runtime import incident_registry, policy_of

    found: dict[str, dict[str, Any]] = {}
    if not settings.checkpoint_db.exists():
        return found
    from agent.graph import GraphDeps

    registry = incident_registry(settings)
    async with open_checkpointer(settings.checkpoint_db) as saver:
        runner = IncidentRunner(GraphDeps(toolbox=Toolbox([]), policy=policy_of(settings)), saver)
        for incident in registry.open_incidents():
            status = await runner.status(incident.id)
            if status.pending:
                approval_id = str(status.pending.get("approval_id") or "")
                found[approval_id] = {"incident_id": incident.id, "payload": status.pending}
    return found


@app.command("list")
def list_approvals(
    state_dir: StateDir = None,
    all_: Annotated[bool, typer.Option("--all", help="include decided and expired ones")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Show pending approvals (with the incident and the LLM rationale when there is one)."""
    from kubemedic.agent_runtime import age, approval_store

    settings = _settings(state_dir)
    store = approval_store(settings)
    approvals = store.list() if all_ else store.list("pending")
    waiting = asyncio.run(_waiting_incidents(settings))
    if as_json:
        rows = []
        for approval in approvals:
            row = approval.to_dict()
            if approval.id in waiting:
                row["incident"] = waiting[approval.id]
            rows.append(row)
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not approvals:
        console.print("no pending approvals" if not all_ else "no approvals")
        return
    table = Table(title="approvals")
    for column in ("id", "status", "action", "target", "risk", "reason", "age", "incident"):
        table.add_column(column)
    for approval in approvals:
        incident = waiting.get(approval.id)
        note = ""
        if incident is not None:
            payload = incident["payload"]
            note = incident["incident_id"]
            rationale = payload.get("llm_rationale") or {}
            if rationale:
                note += f"\nLLM: {rationale.get('summary', '')}"
            if payload.get("veto"):
                note += f"\nvetoed: {payload['veto'].get('proposed_action')}"
        table.add_row(
            approval.id,
            approval.status,
            approval.action,
            approval.target,
            approval.risk,
            approval.reason,
            age(approval.requested_at),
            note,
        )
    console.print(table)


@app.command("approve")
def approve(
    approval_id: Annotated[str, typer.Argument(help="the approval id")],
    by: By,
    edit: Annotated[
        str | None,
        typer.Option(
            "--edit", help="approve a milder allowed action instead (e.g. investigate_manually)"
        ),
    ] = None,
    state_dir: StateDir = None,
    no_resume: Annotated[
        bool, typer.Option("--no-resume", help="only grant; leave the incident to its loop")
    ] = False,
    mcp_url: McpUrl = None,
    token: Token = None,
) -> None:
    """Grant an approval and resume the incident that waits on it."""
    from kubemedic.agent_runtime import Remote

    settings = _settings(state_dir)
    remote = Remote(mcp_url, token) if mcp_url else None
    code = asyncio.run(
        _decide(
            settings,
            approval_id,
            by,
            "edit" if edit else "approve",
            edit,
            "",
            resume=not no_resume,
            remote=remote,
        )
    )
    raise typer.Exit(code)


@app.command("reject")
def reject(
    approval_id: Annotated[str, typer.Argument(help="the approval id")],
    by: By,
    reason: Annotated[str, typer.Option("--reason", help="why (recorded)")] = "",
    state_dir: StateDir = None,
    no_resume: Annotated[
        bool, typer.Option("--no-resume", help="only reject; leave the incident to its loop")
    ] = False,
) -> None:
    """Reject an approval: nothing is written; the incident ends as rejected."""
    settings = _settings(state_dir)
    code = asyncio.run(
        _decide(settings, approval_id, by, "reject", None, reason, resume=not no_resume)
    )
    raise typer.Exit(code)


async def _decide(
    settings: Any,
    approval_id: str,
    by: str,
    decision: str,
    edited: str | None,
    reason: str,
    *,
    resume: bool,
    remote: Any = None,
) -> int:
    from kubemedic.agent_runtime import approval_store, audit_rejection
    from mcp_server.approvals import ApprovalError, target_key

    if not by.strip():
        console.print("[red]--by needs a name[/]")
        return 2
    store = approval_store(settings)
    approval = store.get(approval_id)
    if approval is None:
        console.print(f"[red]no approval {approval_id}[/]")
        return 1
    waiting = await _waiting_incidents(settings)
    incident = waiting.get(approval_id)
    answer: dict[str, Any] = {"decision": decision, "approver": by}
    try:
        if decision == "approve":
            store.grant(approval_id, by=by)
            console.print(f"granted {approval_id}: {approval.action} on {approval.target}")
        elif decision == "reject":
            store.reject(approval_id, by=by, reason=reason)
            if incident is None or not resume:
                # No incident of ours ends with it here: record the rejection ourselves (the
                # graph's report records it when it does).
                audit_rejection(settings, approval, by, reason)
            answer["reason"] = reason
            console.print(f"rejected {approval_id}: nothing will be written")
        else:
            edit = _edit_option(incident, edited)
            if edit is None:
                allowed = [
                    e["action"] for e in (incident or {}).get("payload", {}).get("edits", [])
                ]
                console.print(
                    f"[red]{edited!r} is not a milder action allowed here[/] "
                    f"(allowed: {', '.join(allowed) or 'none'})"
                )
                return 2
            store.reject(approval_id, by=by, reason=f"edited to {edit['action']}")
            audit_rejection(settings, approval, by, f"edited to {edit['action']}")
            answer["edited_action"] = edit["action"]
            if edit.get("writes"):
                target = edit.get("target") or {}
                milder = store.request(
                    edit["action"],
                    target_key(target["kind"], target["namespace"], target["name"]),
                    reason=f"edited by {by} from {approval.action}: {edit.get('reason', '')}",
                    risk=str(edit.get("risk") or "low"),
                    requested_by=by,
                )
                store.grant(milder.id, by=by)
                answer["approval_id"] = milder.id
            console.print(f"edited {approval_id}: {approval.action} -> {edit['action']}")
    except ApprovalError as error:
        console.print(f"[red]{error.message}[/]")
        return 1
    if incident is None:
        console.print(
            "no incident of this state directory waits on it: the caller retries "
            f"with approval_id={approval_id}"
        )
        return 0
    if not resume:
        console.print(f"incident {incident['incident_id']} resumes when its loop picks it up")
        return 0
    return await _resume(
        settings, incident["incident_id"], answer, needs_cluster=decision != "reject", remote=remote
    )


def _edit_option(incident: dict[str, Any] | None, edited: str | None) -> dict[str, Any] | None:
    if incident is None or edited is None:
        return None
    for option in incident["payload"].get("edits") or []:
        if option.get("action") == edited.strip().lower():
            return dict(option)
    return None


async def _resume(
    settings: Any,
    incident_id: str,
    answer: dict[str, Any],
    *,
    needs_cluster: bool,
    remote: Any = None,
) -> int:
    from agent.tools import Toolbox
    from kubemedic.agent_runtime import incident_registry, incident_runner, mcp_session

    async def show(_: str, node: str, update: Any) -> None:
        for item in update.get("timeline") or []:
            console.print(f"  [dim]{node}[/] {item.get('event')}: {item.get('detail', '')}")

    async def run(toolbox: Toolbox) -> Any:
        async with incident_runner(settings, toolbox) as runner:
            return await runner.resume(incident_id, answer, on_update=show)

    if needs_cluster:
        async with mcp_session(settings, remote, pod_cache=False) as session:
            status = await run(await Toolbox.from_session(session))
    else:
        status = await run(Toolbox([]))  # a rejection ends without touching the cluster
    if status.done:
        incident_registry(settings).close(incident_id, status.outcome or "failed")
        console.print(f"incident {incident_id}: {status.outcome} — {status.values.get('summary')}")
    elif status.waiting_for_approval and status.pending:
        console.print(
            f"incident {incident_id} waits again: {status.pending.get('action')} needs "
            f"approval {status.pending.get('approval_id')}"
        )
    return 0
