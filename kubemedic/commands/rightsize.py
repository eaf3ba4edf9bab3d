"""`kubemedic rightsize`: read-only right-sizing recommendations from the observed usage.

Asks the MCP server's `get_rightsizing` tool: by default a server in this process (against the
current kubeconfig), which has no usage history when it starts, so it samples for
`--sample-for` first (default 2m: 8 rounds at the sampler's 15 s, the least the default policy
sizes anything from); with `--mcp-url`, a running server (`kubemedic mcp --http`, the
deployment), whose sampler already holds its window (default: ask at once). Nothing is
written; each recommendation comes with the `kubectl set resources` that would apply it.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from mcp import ClientSession

FORMATS = ("table", "wide", "json")
DEFAULT_LOCAL_SAMPLE = "2m"
DEFAULT_REMOTE_SAMPLE = "0"
PROGRESS_POLL_SECONDS = 5.0
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def register(root: typer.Typer) -> None:
    root.command("rightsize")(rightsize)


def parse_duration(text: str) -> float:
    """Seconds from `90`, `90s`, `2m`, `1m30s`, `1h`."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 2m, 1m30s)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def rightsize(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="one namespace (default: all)")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="table (a terminal's default), wide (plain rows, every field whole: the "
            "default when piped) or json",
        ),
    ] = None,
    sample_for: Annotated[
        str | None,
        typer.Option(
            "--sample-for",
            help=f"let the server sample usage this long first, e.g. 5m (default: "
            f"{DEFAULT_LOCAL_SAMPLE} in-process, {DEFAULT_REMOTE_SAMPLE} with --mcp-url)",
        ),
    ] = None,
    mcp_url: Annotated[
        str | None,
        typer.Option("--mcp-url", help="ask a running MCP server (streamable HTTP) instead"),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="KUBEMEDIC_MCP_TOKEN", help="bearer token for --mcp-url")
    ] = None,
) -> None:
    """Right-sizing recommendations: requests and limits against the observed usage (read-only)."""
    fmt = output or ("table" if sys.stdout.isatty() else "wide")
    if fmt not in FORMATS:
        _fail(f"unknown output format {fmt!r}: use one of {', '.join(FORMATS)}")
    try:
        seconds = parse_duration(
            sample_for or (DEFAULT_REMOTE_SAMPLE if mcp_url else DEFAULT_LOCAL_SAMPLE)
        )
    except ValueError as bad:
        _fail(str(bad))
    from kubemedic.agent_runtime import Remote
    from kubemedic.settings import load_settings

    settings = load_settings()
    if not mcp_url and settings.usage_sample_seconds <= 0:
        _fail("KUBEMEDIC_USAGE_SAMPLE_SECONDS=0 turns the usage sampler off: nothing to size from")
    remote = Remote(mcp_url, token) if mcp_url else None
    result = asyncio.run(_ask(settings, remote, namespace, seconds, show_progress=fmt != "json"))
    if not result.get("success", False):
        failure = result.get("error") or {}
        _fail(f"get_rightsizing failed: {failure.get('code')}: {failure.get('message')}", 1)
    if fmt == "json":
        typer.echo(json.dumps(result, indent=2))
    elif fmt == "wide":
        typer.echo("\n".join(plain_lines(result)))
    else:
        _table(result)


async def _call(session: ClientSession, namespace: str | None) -> dict[str, Any]:
    arguments = {"namespace": namespace} if namespace else {}
    answer = await session.call_tool("get_rightsizing", arguments)
    if answer.structuredContent is not None:
        return dict(answer.structuredContent)
    text = getattr(answer.content[0], "text", "") if answer.content else ""
    try:
        return dict(json.loads(text))
    except (ValueError, TypeError):
        return {"success": False, "error": {"code": "internal_error", "message": text[:500]}}


@asynccontextmanager
async def _session(settings: Any, remote: Any) -> AsyncIterator[ClientSession]:
    """An MCP session: to the remote server (streamable HTTP, bearer token), or to a server
    in this process with its pod cache and usage sampler."""
    if remote is None:
        from kubemedic.agent_runtime import mcp_session

        async with mcp_session(settings, None) as session:
            yield session
        return
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {remote.token}"} if remote.token else None
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60.0)) as http,
        streamable_http_client(remote.url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def _ask(
    settings: Any, remote: Any, namespace: str | None, seconds: float, *, show_progress: bool
) -> dict[str, Any]:
    async with _session(settings, remote) as session:
        if seconds > 0:
            await _sample(session, namespace, seconds, show_progress=show_progress)
        return await _call(session, namespace)


def _with_data(result: dict[str, Any]) -> tuple[int, int]:
    containers = result.get("containers") or []
    ready = sum(1 for c in containers if c.get("verdict") != "not_enough_data")
    return ready, len(containers)


async def _sample(
    session: ClientSession, namespace: str | None, seconds: float, *, show_progress: bool
) -> None:
    """Keep the session (and so the server's sampler) alive for `seconds`, showing progress
    on stderr (stdout stays for the report)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    started = time.monotonic()
    deadline = started + seconds
    with Progress(
        TextColumn("[bold]sampling usage[/]"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("", total=seconds)
        while True:
            now = time.monotonic()
            result = await _call(session, namespace)
            sampler = result.get("sampler") or {}
            ready, total = _with_data(result)
            progress.update(
                task,
                completed=min(seconds, now - started),
                description=f"{sampler.get('rounds', 0)} rounds, {ready}/{total} containers "
                "with enough data",
            )
            if now >= deadline:
                break
            await asyncio.sleep(min(PROGRESS_POLL_SECONDS, deadline - now))
    if show_progress and not console.is_terminal:
        console.print(
            f"sampled usage for {seconds:.0f}s: {ready}/{total} containers with enough data"
        )


# -- output -----------------------------------------------------------------------------------


def _q(resource: dict[str, Any], name: str) -> str:
    return str((resource.get("quantities") or {}).get(name, "-"))


def _resource_cells(resource: dict[str, Any]) -> tuple[str, str, str, str]:
    """(now, observed, recommended, freed) for one resource, readable."""
    now = f"{_q(resource, 'request')} / {_q(resource, 'limit')}"
    observed = f"{_q(resource, 'p95')} / {_q(resource, 'max')}"
    recommended = f"{_q(resource, 'recommended_request')} / {_q(resource, 'recommended_limit')}"
    return now, observed, recommended, _q(resource, "freed")


def _totals_line(result: dict[str, Any]) -> str:
    from policies.rightsizing import format_cpu, format_memory

    t = result.get("totals") or {}
    verdicts = t.get("by_verdict") or {}
    counts = ", ".join(f"{k} {v}" for k, v in verdicts.items() if v)
    return (
        f"memory: {format_memory(int(t.get('memory_freed_bytes', 0)))} freed, "
        f"{format_memory(int(t.get('memory_needed_bytes', 0)))} needed; "
        f"CPU: {format_cpu(int(t.get('cpu_freed_millicores', 0)))} freed, "
        f"{format_cpu(int(t.get('cpu_needed_millicores', 0)))} needed "
        f"({t.get('containers', 0)} containers" + (f": {counts})" if counts else ")")
    )


def _sampler_line(result: dict[str, Any]) -> str | None:
    sampler = result.get("sampler") or {}
    if sampler.get("message"):
        return f"usage sampler: {sampler['message']}"
    if sampler.get("running"):
        window = float(sampler.get("window_seconds") or 0) / 60
        return (
            f"usage sampler: {sampler.get('rounds', 0)} rounds every "
            f"{sampler.get('interval_seconds')}s, window {window:.0f} min"
        )
    return None


def plain_lines(result: dict[str, Any]) -> list[str]:
    """One block per container, every field whole: for pipes and narrow terminals."""
    lines: list[str] = []
    for c in result.get("containers") or []:
        lines.append(f"{c['namespace']}/{c['workload']} container {c['container']}")

        def field(name: str, value: Any) -> None:
            if value not in (None, "", []):
                lines.append(f"  {name + ':':<13} {value}")

        field("verdict", c.get("verdict"))
        field(
            "replicas",
            f"{c.get('replicas')} ({', '.join(c.get('pods') or [])})",
        )
        field("samples", f"{c.get('samples')} over {float(c.get('span_seconds') or 0):.0f}s")
        for label, key in (("memory", "memory"), ("cpu", "cpu")):
            resource = c.get(key) or {}
            now, observed, recommended, freed = _resource_cells(resource)
            field(
                label,
                f"now {now} (request / limit); observed {observed} (p95 / max); "
                f"recommended {recommended}; freed {freed}",
            )
        for reason in c.get("reasons") or []:
            field("why", reason)
        field("apply", c.get("suggested_command"))
        lines.append("")
    if not result.get("containers"):
        lines.append(
            "no running containers" + (" in that namespace" if result.get("namespace") else "")
        )
    lines.append(f"total: {_totals_line(result)}")
    sampler = _sampler_line(result)
    if sampler:
        lines.append(sampler)
    return lines


_STYLE = {
    "over_provisioned": "yellow",
    "under_provisioned": "red",
    "fits": "green",
    "not_enough_data": "dim",
}


def _table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(
        title="right-sizing: now and recommended are request / limit, observed is p95 / max"
    )
    table.add_column("namespace", overflow="fold")
    table.add_column("workload", overflow="fold", min_width=12)
    table.add_column("container", overflow="fold")
    table.add_column("verdict", overflow="fold", min_width=9)
    for resource in ("memory", "cpu"):
        for column in ("now", "observed", "recommended", "freed"):
            table.add_column(f"{resource}\n{column}", overflow="fold", justify="right")
    for c in result.get("containers") or []:
        verdict = str(c.get("verdict"))
        style = _STYLE.get(verdict, "")
        words = verdict.replace("_", " ")
        table.add_row(
            escape(str(c["namespace"])),
            escape(str(c["workload"])) + f"\n[dim]{c.get('replicas')} replica(s)[/]",
            escape(str(c["container"])),
            f"[{style}]{words}[/]" if style else words,
            *_resource_cells(c.get("memory") or {}),
            *_resource_cells(c.get("cpu") or {}),
        )
    console.print(table)
    console.print(f"total: {escape(_totals_line(result))}")
    sampler = _sampler_line(result)
    if sampler:
        console.print(f"[dim]{escape(sampler)}[/]")
    console.print("[dim]-o wide: the reasons and the kubectl command for each; -o json: all[/]")
