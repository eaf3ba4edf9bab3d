"""`kubemedic audit verify [PATH]`: check the audit trail's hash chain and its write pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify_command(
    path: Annotated[
        Path | None, typer.Argument(help="audit JSONL; default: <state_dir>/audit.jsonl")
    ] = None,
) -> None:
    """Verify the hash chain and that every write has one intent then one outcome record;
    name the first broken record. Exit 1 when broken."""
    from kubemedic.settings import load_settings
    from mcp_server.audit import AuditLog, pairing, verify

    target = path or load_settings().audit_path
    result = verify(target)
    if result.ok:
        pairs = pairing(AuditLog(target, redact=None).records())
        if not pairs.ok:
            typer.echo(
                f"{target}: chain intact, but writes are not recorded as intent then outcome: "
                + "; ".join(pairs.violations[:10]),
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(
            f"{target}: OK, {result.records} records, chain intact, {pairs.writes} writes "
            "each with its intent and outcome"
            + (
                f" ({len(pairs.open_intents)} intent(s) without an outcome yet: in flight, or "
                "recovered when the server starts: " + ", ".join(pairs.open_intents[:5]) + ")"
                if pairs.open_intents
                else ""
            )
        )
        return
    where = f" at line {result.first_broken}" if result.first_broken is not None else ""
    typer.echo(
        f"{target}: {'BROKEN' if where else 'FAILED'}{where}: {result.reason} "
        f"({result.records} good records before it)",
        err=True,
    )
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
