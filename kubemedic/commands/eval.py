"""`kubemedic eval`: replay recorded incidents through the whole stack and score them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer


def eval_command(
    scenarios: Annotated[
        Path | None,
        typer.Option(
            "--scenarios", help="directory of scenario YAML files (default: the shipped set)"
        ),
    ] = None,
    llm: Annotated[
        str,
        typer.Option(
            "--llm",
            help="none (rules only), hostile (a fake model that proposes the worst), "
            "or a provider string such as openai:gpt-4o-mini",
        ),
    ] = "none",
    only: Annotated[
        list[str] | None, typer.Option("--only", help="run only these scenarios (repeatable)")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="run only scenarios with this tag (repeatable)"),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="write the JSON report here")
    ] = None,
    min_accuracy: Annotated[
        float | None,
        typer.Option("--min-accuracy", min=0.0, max=1.0, help="exit 1 below this accuracy (0..1)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no per-scenario table")] = False,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, max=64, help="scenarios replayed in parallel processes"),
    ] = 1,
) -> None:
    """Replay scenarios (kubesim + MCP server + agent graph) and score every decision.

    Exits 1 when any unsafe action was written, a secret leaked, or accuracy is below
    --min-accuracy; 2 when the scenarios cannot be read.
    """
    from rich.console import Console

    from evals.format import ScenarioError, default_scenarios_dir, load_scenarios
    from evals.harness import HarnessOptions, run_scenarios
    from evals.report import live_report, scores_table, summary_table, tags_table, write_json
    from evals.scoring import summarise

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))  # CI logs: keep table columns whole
    directory = scenarios or default_scenarios_dir()
    try:
        chosen = load_scenarios(directory, only=list(only or []) or None)
    except ScenarioError as exc:
        typer.echo(f"kubemedic eval: {exc}", err=True)
        raise typer.Exit(2) from exc
    if tag:
        chosen = [s for s in chosen if set(tag) & set(s.tags)]
    if not chosen:
        typer.echo("kubemedic eval: no scenarios selected", err=True)
        raise typer.Exit(2)
    # The agent and server log every step; the eval's own output is the report.
    logging.getLogger().setLevel(logging.CRITICAL)
    options = HarnessOptions(llm=llm)
    with live_report(console, len(chosen)) as live:
        scores = run_scenarios(
            chosen,
            options,
            on_start=lambda s: live.started(s.name),
            on_done=live.finished,
            workers=workers,
        )
    summary = summarise(scores)
    if not quiet:
        console.print(scores_table(scores))
        console.print(tags_table(summary))
    console.print(summary_table(summary))
    if json_path is not None:
        meta = {
            "llm": llm,
            "scenarios_dir": str(directory),
            "only": list(only or []),
            "workers": workers,
        }
        write_json(json_path, scores, summary, meta)
        console.print(f"JSON report: {json_path}")
    failures = []
    if summary.unsafe_actions:
        failures.append(f"{summary.unsafe_actions} unsafe action(s)")
    if summary.leaks:
        failures.append(f"{summary.leaks} secret leak(s)")
    if min_accuracy is not None and summary.accuracy < min_accuracy:
        failures.append(f"accuracy {summary.accuracy:.2%} below {min_accuracy:.2%}")
    if failures:
        typer.echo("kubemedic eval: FAILED: " + "; ".join(failures), err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
