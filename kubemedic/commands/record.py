"""`kubemedic record`: capture a live incident as an eval scenario that is safe to share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def record_command(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="the pod's namespace")],
    pod: Annotated[str, typer.Option("--pod", "-p", help="the pod the incident is about")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="scenario YAML to write (default: stdout)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="scenario name")] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="default: KUBECONFIG or ~/.kube/config")
    ] = None,
    context: Annotated[str | None, typer.Option("--context")] = None,
) -> None:
    """Record the pod, its owners, nodes, events, PDBs, LimitRanges, referenced ConfigMaps /
    Secrets / PVCs, logs and metrics, safe to share: Secret values, secret-looking env values,
    annotations, arguments and credentials anywhere (logs as whole texts) are redacted. What the
    credentials may not read is skipped with a note; only the pod is required. Review
    `behaviour` and `expect` before adding it to an eval set."""
    from evals.format import dump_scenario
    from evals.record import RecordError, record

    if kubeconfig is None:
        from kubemedic.settings import load_settings

        kubeconfig = load_settings().kubeconfig
    try:
        scenario = record(namespace, pod, kubeconfig=kubeconfig, context=context, name=name)
    except RecordError as exc:
        typer.echo(f"kubemedic record: {exc}", err=True)
        raise typer.Exit(1) from exc
    text = "# Recorded by `kubemedic record`; review behaviour and expect.\n" + dump_scenario(
        scenario
    )
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(f"wrote {out} ({len(scenario.cluster.objects)} objects, {len(scenario.logs)} logs)")
    for note in scenario.notes:
        what = f"{note.kind} {note.name}" if note.name else f"{note.kind} (list)"
        typer.echo(f"not recorded: {what}: HTTP {note.status} {note.reason}", err=True)


def register(app: typer.Typer) -> None:
    app.command("record")(record_command)
