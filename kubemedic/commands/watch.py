"""`kubemedic watch`: the autonomous loop against the current kubeconfig.

Destructive actions wait for `kubemedic approvals approve|reject` from another terminal
(or, with `--ask`, for a y/n at this one). Ctrl-C stops the loop; waiting incidents survive in
the state directory and continue with the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def watch(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="only this namespace")
    ] = None,
    interval: Annotated[float, typer.Option(min=0.5, help="seconds between polls")] = 5.0,
    max_concurrent: Annotated[int, typer.Option(min=1, help="incidents at once")] = 4,
    ask: Annotated[
        bool, typer.Option("--ask", help="ask for approvals at this terminal (y/n)")
    ] = False,
    once: Annotated[
        bool, typer.Option("--once", help="poll once, finish what started, exit")
    ] = False,
    state_dir: Annotated[Path | None, typer.Option(help="state directory")] = None,
    mcp_url: Annotated[
        str | None, typer.Option("--mcp-url", help="use a remote MCP server (streamable HTTP)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="KUBEMEDIC_MCP_TOKEN", help="bearer token for --mcp-url")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve /metrics on this port (0: any free port)")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="listen address for /metrics (0.0.0.0 in a pod)")
    ] = "127.0.0.1",
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            metavar="CTX",
            help="kubeconfig context (default: current); repeat it for several clusters",
        ),
    ] = None,
    clusters: Annotated[
        Path | None,
        typer.Option(
            "--clusters",
            help="YAML list of {name, context, kubeconfig?, policy?}: several clusters",
        ),
    ] = None,
    leader_elect: Annotated[
        bool,
        typer.Option(
            "--leader-elect",
            help="with several replicas: act only while holding the leader Lease",
        ),
    ] = False,
    lease_name: Annotated[str, typer.Option(help="the leader Lease")] = "kubemedic-leader",
    lease_namespace: Annotated[
        str | None, typer.Option(help="the Lease's namespace (default: KUBEMEDIC_NAMESPACE)")
    ] = None,
    lease_duration: Annotated[
        float, typer.Option(min=1, help="seconds a Lease is valid without renewal")
    ] = 15.0,
    renew_deadline: Annotated[
        float, typer.Option(min=0.5, help="a leader that cannot renew this long steps down")
    ] = 10.0,
    retry_period: Annotated[
        float, typer.Option(min=0.1, help="seconds between Lease attempts")
    ] = 2.0,
) -> None:
    """Watch for unhealthy pods and heal them, pausing for approvals."""
    from agent.llm import LLMConfigError
    from kubemedic.settings import load_settings

    settings = load_settings()
    if state_dir is not None:
        settings = settings.model_copy(update={"state_dir": state_dir})
    if context:
        if len(context) == 1:
            settings = settings.model_copy(update={"context": context[0]})
        else:
            settings = settings.model_copy(update={"contexts": tuple(context)})
    if clusters is not None:
        settings = settings.model_copy(update={"clusters_file": clusters})
    from kubemedic.clusters import ClustersError

    try:
        settings.cluster_specs()
    except ClustersError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    election = None
    if leader_elect:
        from kubemedic.leader_election import ElectionOptions

        election = ElectionOptions(
            name=lease_name,
            namespace=lease_namespace,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
        )
    try:
        code = asyncio.run(
            _run(
                settings,
                namespace,
                interval,
                max_concurrent,
                ask and sys.stdin.isatty(),
                once,
                mcp_url,
                token,
                metrics_port,
                metrics_host,
                election,
            )
        )
    except LLMConfigError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    raise typer.Exit(code)


async def _run(
    settings: Any,
    namespace: str | None,
    interval: float,
    max_concurrent: int,
    ask: bool,
    once: bool,
    mcp_url: str | None,
    token: str | None,
    metrics_port: int | None,
    metrics_host: str = "127.0.0.1",
    election: Any = None,
) -> int:
    from agent.watch import run_watch
    from kubemedic.agent_runtime import (
        Remote,
        approval_store,
        mcp_session,
        toolbox_of,
        watch_settings,
    )
    from kubemedic.leader_election import HealthEndpoint, watch_leadership

    states: list[Any] = []  # the in-process MCP server's state, once built

    def ready() -> tuple[bool, str]:
        return states[0].ready() if states else (mcp_url is not None, "starting")

    endpoint = None
    if metrics_port is not None:
        endpoint = HealthEndpoint.start(port=metrics_port, host=metrics_host, ready=ready)
        console.print(f"metrics at {endpoint.url}")
    config = watch_settings(
        settings,
        namespace=namespace,
        poll_interval_seconds=interval,
        max_concurrent=max_concurrent,
        max_polls=1 if once else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    store = approval_store(settings)

    async def approve(payload: dict[str, Any]) -> dict[str, Any] | None:
        return await _ask_at_terminal(store, payload)

    remote = Remote(mcp_url, token) if mcp_url else None
    console.print(
        f"kubemedic watch · state {settings.state_dir} · llm {settings.llm} · "
        f"policy {config.policy.name}"
    )
    try:
        async with (
            mcp_session(settings, remote, on_state=states.append) as session,
            watch_leadership(settings, election, _lease_state(states), say=console.print) as gate,
        ):
            config.leadership = gate
            summary = await run_watch(
                await toolbox_of(settings, session),
                config,
                on_event=print_event,
                approve=approve if ask else None,
                stop=stop,
            )
    finally:
        if endpoint is not None:
            endpoint.stop()
    console.print(summary.stop_line())
    return 0


def _lease_state(states: list[Any]) -> Any:
    """The state whose gateway holds the leader Lease: the only, or the first, cluster's."""
    if not states:
        return None
    return getattr(states[0], "default", states[0])


def print_event(event: Any) -> None:
    """One line per event for a person watching the loop."""
    data = event.data
    who = f"[cyan]{event.workload or ''}[/]"
    if event.kind == "opened":
        console.print(
            f"opened {event.incident_id} {who}: {data.get('issue_type')} ({data.get('pod')})"
        )
    elif event.kind == "progress":
        for item in data.get("timeline") or []:
            console.print(
                f"  {who} {data.get('node')}: {item.get('event')} {item.get('detail', '')}"
            )
    elif event.kind == "approval_pending":
        console.print(
            f"[yellow]approval needed[/] {who}: {data.get('action')} ({data.get('reason')}) — "
            f"kubemedic approvals approve {data.get('approval_id')} --by NAME"
        )
    elif event.kind == "closed":
        console.print(
            f"closed {event.incident_id} {who}: [bold]{data.get('outcome')}[/] "
            f"{data.get('summary') or ''}"
        )
    elif event.kind == "leadership" and not data.get("leader") and data.get("cancelled"):
        console.print(f"  cancelled incident work: {', '.join(data['cancelled'])}")
    elif event.kind == "error":
        console.print(f"[red]error[/] {event.incident_id or ''}: {data.get('error')}")


async def _ask_at_terminal(store: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
    target = payload.get("target") or {}
    console.print(
        f"\n[bold yellow]approve {payload.get('action')}[/] on {target.get('kind')} "
        f"{target.get('namespace')}/{target.get('name')}? reason: {payload.get('reason')} · "
        f"risk: {payload.get('risk')}"
    )
    rationale = payload.get("llm_rationale") or {}
    if rationale:
        console.print(
            f"  LLM: {rationale.get('summary')} (proposed {rationale.get('proposed_action')})"
        )
    if payload.get("veto"):
        console.print(f"  vetoed LLM proposal: {payload['veto']}")
    answer = await asyncio.to_thread(_read, "  [y]es / [n]o / [l]ater: ")
    approver = _local_user()
    approval_id = str(payload.get("approval_id") or "")
    if answer in ("y", "yes"):
        store.grant(approval_id, by=approver)
        return {"decision": "approve", "approver": approver}
    if answer in ("n", "no"):
        store.reject(approval_id, by=approver, reason="declined at the watch prompt")
        return {"decision": "reject", "approver": approver, "reason": "declined at the prompt"}
    return None


def _read(prompt: str) -> str:
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "operator"
