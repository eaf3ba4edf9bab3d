"""`kubemedic audit verify [PATH]`: check the audit trail's hash chain and its write pairs;
`kubemedic audit export --out FILE`: the database's chain as JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def verify_command(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="audit JSONL; default: the database's chain when KUBEMEDIC_DATABASE_URL is "
            "set, else <state_dir>/audit.jsonl"
        ),
    ] = None,
) -> None:
    """Verify the hash chain and that every write has one intent then one outcome record;
    name the first broken record. Exit 1 when broken."""
    from kubemedic.settings import load_settings
    from kubemedic_store import redact_url
    from mcp_server.audit import AuditLog, pairing, verify, verify_database

    settings = load_settings()
    url = None if path is not None else settings.database()
    if url is not None:
        target = f"{redact_url(url)} (audit_records)"
        result = verify_database(url)
        log = AuditLog(url, redact=None)
        position = "record"
    else:
        file = path or settings.audit_path
        target = str(file)
        result = verify(file)
        log = AuditLog(file, redact=None)
        position = "line"
    if result.ok:
        pairs = pairing(log.records())
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
    where = f" at {position} {result.first_broken}" if result.first_broken is not None else ""
    typer.echo(
        f"{target}: {'BROKEN' if where else 'FAILED'}{where}: {result.reason} "
        f"({result.records} good records before it)",
        err=True,
    )
    raise typer.Exit(1)


@audit_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="the JSONL file to write")],
) -> None:
    """Write the database's audit chain (KUBEMEDIC_DATABASE_URL) as JSONL, in audit.jsonl's
    format: `kubemedic audit verify FILE` checks the copy."""
    from kubemedic.settings import load_settings
    from mcp_server.audit import export_jsonl

    url = load_settings().database()
    if url is None:
        typer.echo(
            "kubemedic audit export: no database is configured (KUBEMEDIC_DATABASE_URL); "
            "the trail already is <state_dir>/audit.jsonl",
            err=True,
        )
        raise typer.Exit(2)
    count = export_jsonl(url, out)
    typer.echo(f"{out}: {count} records")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
