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

from kubemedic.approval_flow import DecisionKind, DecisionRefused, decide, waiting_incidents

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
    waiting = asyncio.run(waiting_incidents(settings))
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
    decision: DecisionKind,
    edited: str | None,
    reason: str,
    *,
    resume: bool,
    remote: Any = None,
) -> int:
    def progress(line: str) -> None:
        node, _, rest = line.partition(" ")
        console.print(f"  [dim]{node}[/] {rest}")

    try:
        result = await decide(
            settings,
            approval_id,
            by,
            decision,
            edited=edited,
            reason=reason,
            resume=resume,
            remote=remote,
            progress=progress,
        )
    except DecisionRefused as refused:
        console.print(f"[red]{refused.message}[/]")
        return refused.exit_code
    for line in result.lines:
        console.print(line)
    return 0
