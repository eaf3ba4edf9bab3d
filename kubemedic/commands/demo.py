"""`kubemedic demo`: the whole agent on the embedded simulated cluster, start to finish.

kubesim runs the failure scenarios of the original specification (CrashLoopBackOff, OOMKilled,
ImagePullBackOff, resource exhaustion) as they were written — bare pods — plus controller-managed
versions that can really be healed, a bad rollout and healthy workloads. The MCP server serves
them, the watch loop heals under `policies/demo.yaml`, and the run ends with one line per
incident. High-risk approvals are asked at the terminal; `--yes` grants them; with no terminal
and no `--yes` nothing blocks: they stay pending for `kubemedic approvals` and count as handed
to a human.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kubemedic_store import StateLayout

if TYPE_CHECKING:  # the cluster, the agent and the server load only when the demo runs
    from kubemedic.demo_cluster import DemoCluster, DemoResult

# Wide enough for the report when output goes to a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 140)

_OUTCOME_STYLE = {
    "healed": "green",
    "handed_to_human": "yellow",
    "awaiting_approval": "yellow",
    "rejected": "yellow",
}


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="approve every high-risk action without asking")
    ] = False,
    speed: Annotated[
        float, typer.Option(min=1.0, max=1000.0, help="simulated seconds per wall second")
    ] = 40.0,
    state_dir: Annotated[
        Path, typer.Option(help="demo state (wiped at start): audit log, approvals, checkpoints")
    ] = Path("var/demo"),
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="port for /metrics (0: any free port)")
    ] = 0,
    linger: Annotated[
        float, typer.Option(min=0.0, help="keep serving /metrics this many seconds after the end")
    ] = 0.0,
    deadline: Annotated[
        float, typer.Option(min=10.0, help="give up after this many wall seconds")
    ] = 150.0,
    clusters: Annotated[
        int,
        typer.Option(
            min=1, max=4, help="simulated clusters, each with the same failures, one agent"
        ),
    ] = 1,
) -> None:
    """Run kubemedic against kubesim with seeded failures and print what it did."""
    if "KUBEMEDIC_LOG_LEVEL" not in os.environ:
        # The progress lines tell the story; the JSON log is for `watch` in production.
        logging.getLogger().setLevel(logging.WARNING)
    interactive = sys.stdin.isatty() and not yes
    code = asyncio.run(
        _run(
            yes=yes,
            interactive=interactive,
            speed=speed,
            state_dir=state_dir,
            metrics_port=metrics_port,
            linger=linger,
            deadline=deadline,
            clusters=clusters,
        )
    )
    raise typer.Exit(code)


async def _run(
    *,
    yes: bool,
    interactive: bool,
    speed: float,
    state_dir: Path,
    metrics_port: int,
    linger: float,
    deadline: float,
    clusters: int = 1,
) -> int:
    # Demo state is throwaway: a second run must not meet the first run's rate limits.
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)

    from kubemedic.demo_cluster import DemoCluster
    from kubemedic.metrics_http import MetricsEndpoint

    endpoint = MetricsEndpoint.start(port=metrics_port)
    console.print(f"[bold]kubemedic demo[/] · metrics at [cyan]{endpoint.url}[/]")
    started = time.monotonic()
    with DemoCluster(speed=speed, state_dir=state_dir, clusters=clusters) as cluster:
        for name, sim in cluster.clusters():
            console.print(
                f"{name + ': ' if name else ''}kubesim on {sim.url} (x{speed:g} simulated time) "
                f"· kubeconfig {sim.kubeconfig_path}"
            )
        with console.status("seeding failures…"):
            await cluster.seed(on_step=lambda text: console.print(f"  [dim]seed[/] {text}"))
        seeded = len(cluster.failures) * len(cluster.sims)
        console.print(f"seeded {seeded} failures; starting the watch loop")
        summary = await cluster.watch(
            approve=_approver(cluster, yes=yes, interactive=interactive),
            on_line=lambda text: console.print(f"  [dim]{_since(started)}[/] {text}"),
            deadline_seconds=max(1.0, deadline - (time.monotonic() - started)),
        )
        results = cluster.results(summary)
        console.print(f"watch loop stopped after {time.monotonic() - started:.1f} s")

    _print_report(results, state_dir=state_dir, metrics_url=endpoint.url)
    endpoint.write_snapshot(StateLayout(state_dir).metrics_snapshot)
    if linger > 0:
        console.print(f"serving {endpoint.url} for {linger:g} s more")
        await asyncio.sleep(linger)
    endpoint.stop()

    unresolved = [r for r in results if r.outcome == "not_seen"]
    if unresolved:
        names = ", ".join(
            f"{r.cluster}/{r.failure.name}" if r.cluster else r.failure.name for r in unresolved
        )
        console.print(f"[red]not dealt with:[/] {names}")
        return 1
    return 0


def _since(started: float) -> str:
    return f"{time.monotonic() - started:5.1f}s"


def _approver(cluster: DemoCluster, *, yes: bool, interactive: bool) -> Any:
    async def approve(payload: dict[str, Any]) -> dict[str, Any] | None:
        target = payload.get("target") or {}
        what = (
            f"{payload.get('action')} on {target.get('kind', '')} "
            f"{target.get('namespace', '')}/{target.get('name', '')}"
        )
        if yes:
            return cluster.answer(payload, approve=True, approver="demo --yes")
        if not interactive:
            console.print(f"  [yellow]approval pending[/] {what} (no terminal: left for a human)")
            return None
        console.print(f"\n[bold yellow]approval needed[/]: {what}")
        console.print(f"  reason: {payload.get('reason', '')} · risk: {payload.get('risk', '?')}")
        rationale = payload.get("llm_rationale") or {}
        if rationale:
            console.print(f"  model: {rationale.get('summary', '')}")
        answer = await asyncio.to_thread(_ask_yes_no, "  approve? [y/N] ")
        return cluster.answer(payload, approve=answer, approver=_local_user())

    return approve


def _ask_yes_no(prompt: str) -> bool:
    try:
        return input(prompt).strip().lower() in {"y", "yes"}
    except EOFError:
        return False


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "operator"


def _print_report(results: list[DemoResult], *, state_dir: Path, metrics_url: str) -> None:
    table = Table(title="kubemedic demo — what happened", show_lines=False)
    several = any(row.cluster for row in results)
    columns = ("pod", "issue", "action", "approver", "result", "time to heal")
    for column in ("cluster", *columns) if several else columns:
        table.add_column(column)
    for row in results:
        style = _OUTCOME_STYLE.get(row.outcome, "red")
        heal = f"{row.seconds_to_heal:.0f} s (sim)" if row.seconds_to_heal is not None else "—"
        table.add_row(
            *((row.cluster or "",) if several else ()),
            row.pod,
            row.issue or "—",
            row.action or "—",
            row.approver or "—",
            f"[{style}]{row.outcome}[/]",
            heal,
        )
    console.print(table)
    audit = StateLayout(state_dir).audit_log
    console.print(f"audit log: {audit} (check the chain: kubemedic audit verify {audit})")
    console.print(f"metrics:   {metrics_url} (snapshot: {StateLayout(state_dir).metrics_snapshot})")
    console.print(f"approvals: kubemedic approvals list --state-dir {state_dir}")
