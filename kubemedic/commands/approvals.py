"""`kubemedic approvals list|show|approve|reject`: the human side of destructive actions.

Approving grants the MCP server's approval record (out of band: no MCP tool can grant one) and
then resumes the incident's LangGraph thread that waits on it, which retries the action with
the approval id. An approval asked for by another MCP client (a chat client, another agent) is
only granted: that client retries with the id itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # loaded when a sub-command runs, not for every `kubemedic` start
    from kubemedic.approval_flow import DecisionKind
    from mcp_server.approvals import Approval
    from mcp_server.preview import ChangePreview

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


Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="table (a terminal's default), wide (plain, every field whole: the default when "
        "piped), json or yaml",
    ),
]
ShowOutput = Annotated[str, typer.Option("--output", "-o", help="text, json or yaml")]
LIST_FORMATS = ("table", "wide", "json", "yaml")
SHOW_FORMATS = ("text", "json", "yaml")


@app.command("list")
def list_approvals(
    state_dir: StateDir = None,
    all_: Annotated[bool, typer.Option("--all", help="include decided and expired ones")] = False,
    output: Output = None,
    as_json: Annotated[bool, typer.Option("--json", help="the same as -o json")] = False,
) -> None:
    """Show pending approvals (with the incident and the LLM rationale when there is one)."""
    from kubemedic.agent_runtime import approval_store

    fmt = "json" if as_json else output
    if fmt is not None and fmt not in LIST_FORMATS:
        _fail(f"unknown output format {fmt!r}: use one of {', '.join(LIST_FORMATS)}", 2)
    if fmt is None:
        fmt = "table" if sys.stdout.isatty() else "wide"
    settings = _settings(state_dir)
    store = approval_store(settings)
    approvals = store.list() if all_ else store.list("pending")
    from kubemedic.approval_flow import waiting_incidents

    waiting = asyncio.run(waiting_incidents(settings))
    if fmt in ("json", "yaml"):
        _dump([_row(a, waiting.get(a.id)) for a in approvals], fmt)
        return
    if not approvals:
        typer.echo("no pending approvals" if not all_ else "no approvals")
        return
    if fmt == "wide":
        blocks = ["\n".join(_plain(a, waiting.get(a.id), full=False)) for a in approvals]
        typer.echo("\n\n".join(blocks))
        return
    _table(approvals, waiting)


@app.command("show")
def show(
    approval_id: Annotated[str, typer.Argument(help="the approval id")],
    state_dir: StateDir = None,
    output: ShowOutput = "text",
) -> None:
    """Show one approval whole: the change it approves (the API server's dry run), the
    evidence, the rule decision, and the waiting incident's LLM rationale and veto."""
    from kubemedic.agent_runtime import approval_store

    if output not in SHOW_FORMATS:
        _fail(f"unknown output format {output!r}: use one of {', '.join(SHOW_FORMATS)}", 2)
    settings = _settings(state_dir)
    approval = approval_store(settings).get(approval_id)
    if approval is None:
        _fail(f"no approval {approval_id}", 1)
    from kubemedic.approval_flow import waiting_incidents

    incident = asyncio.run(waiting_incidents(settings)).get(approval.id)
    if output in ("json", "yaml"):
        _dump(_row(approval, incident), output)
        return
    typer.echo("\n".join(_plain(approval, incident, full=True)))


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _preview_of(approval: Approval) -> ChangePreview | None:
    from mcp_server.preview import parse_preview

    return parse_preview((approval.details or {}).get("preview"))


def _row(approval: Approval, incident: dict[str, Any] | None) -> dict[str, Any]:
    """One approval as JSON-native data: the record, its preview and the incident."""
    row = approval.to_dict()
    preview = _preview_of(approval)
    row["preview"] = None if preview is None else preview.model_dump(mode="json")
    if incident is not None:
        payload = incident.get("payload") or {}
        row["incident"] = {
            "incident_id": incident.get("incident_id"),
            "llm_rationale": payload.get("llm_rationale"),
            "veto": payload.get("veto"),
            "payload": payload,
        }
    # Through JSON once: whatever the records hold prints the same in JSON and YAML.
    return dict(json.loads(json.dumps(row, default=str)))


def _dump(data: Any, fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n"))


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _when(seconds: float | None, *, past: bool = True) -> str:
    """A moment in UTC, and how long ago it was (`past`) or how long from now it is."""
    if seconds is None:
        return "-"
    moment = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    delta = time.time() - seconds
    if delta >= 0:
        return f"{moment} ({_span(delta)} ago)"
    # A past moment ahead of this clock is clock skew (or a simulated clock): no "in ...".
    return moment if past else f"{moment} (in {_span(-delta)})"


def _plain(approval: Approval, incident: dict[str, Any] | None, *, full: bool) -> list[str]:
    """Plain lines, every field whole, for pipes, narrow terminals and `show`."""
    lines = [f"approval {approval.id}"]

    def field(name: str, value: Any) -> None:
        if value not in (None, ""):
            lines.append(f"  {name + ':':<12} {value}")

    field("status", approval.status)
    field("action", approval.action)
    field("target", approval.target)
    field("risk", approval.risk)
    field("reason", approval.reason)
    field("requested", f"{_when(approval.requested_at)} by {approval.requested_by}")
    field("expires", _when(approval.expires_at, past=False))
    if approval.decided_by:
        field("decided", f"{_when(approval.decided_at)} by {approval.decided_by}")
    field("note", approval.note)
    field("plan", (approval.details or {}).get("plan_id"))
    if incident is not None:
        payload = incident.get("payload") or {}
        field("incident", incident.get("incident_id"))
        rationale = payload.get("llm_rationale") or {}
        if rationale:
            field("llm", rationale.get("summary"))
            if full:
                field("llm cause", rationale.get("suspected_cause"))
                field("llm action", rationale.get("proposed_action"))
                field("llm conf.", rationale.get("confidence"))
                for line in rationale.get("evidence") or []:
                    field("llm saw", line)
        elif payload.get("llm_status"):
            field("llm", payload.get("llm_status"))
        veto = payload.get("veto") or {}
        if veto:
            field("veto", f"{veto.get('proposed_action')}: {veto.get('reason') or ''}".rstrip())
    preview = _preview_of(approval)
    if preview is None:
        field("preview", "none (asked for before previews, or by an older server)")
        return lines
    from mcp_server.preview import preview_lines

    text = preview_lines(preview)
    if not full:
        # The change itself; `show` adds the dry run, the evidence and the rule decision.
        text = [line for line in text if line == preview.summary or line.startswith("  ")]
        text = [line for line in text if not line.startswith(("  log:", "  event:"))]
    lines.append("  preview:")
    lines.extend(f"    {line}" for line in text)
    return lines


def _table(approvals: list[Approval], waiting: dict[str, dict[str, Any]]) -> None:
    from mcp_server.approvals import split_target_key

    table = Table(title="approvals")
    # Several clusters: a cluster column (one cluster: the columns as they always were).
    several = any(split_target_key(a.target)[0] is not None for a in approvals)
    columns: tuple[str, ...] = (
        "id",
        "status",
        "action",
        "target",
        "risk",
        "reason",
        "age",
        "incident",
    )
    if several:
        columns = ("id", "status", "cluster", *columns[2:])
    for column in columns:
        table.add_column(column, overflow="fold")
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
        preview = _preview_of(approval)
        reason = approval.reason
        if preview is not None:
            reason += f"\n[dim]{escape(preview.summary)}[/]"
        row = [
            approval.id,
            approval.status,
            approval.action,
            approval.target,
            approval.risk,
            reason,
            _span(max(0.0, time.time() - approval.requested_at)),
            note,
        ]
        if several:
            cluster, kind, namespace, name = split_target_key(approval.target)
            row[3] = f"{kind}/{namespace}/{name}"
            row.insert(2, cluster or "")
        table.add_row(*row)
    console.print(table)
    console.print("[dim]kubemedic approvals show ID: the whole change, evidence and decision[/]")


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
    context: Annotated[
        str | None,
        typer.Option("--context", help="kubeconfig context the resumed incident acts in"),
    ] = None,
) -> None:
    """Grant an approval and resume the incident that waits on it."""
    from kubemedic.agent_runtime import Remote

    settings = _settings(state_dir)
    if context is not None:
        settings = settings.model_copy(update={"context": context})
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
    from kubemedic.approval_flow import DecisionRefused, decide

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
