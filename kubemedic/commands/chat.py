"""`kubemedic chat`: triage in the terminal with a tool-calling LLM and kubemedic's MCP tools."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)


def chat(
    state_dir: Annotated[Path | None, typer.Option(help="state directory")] = None,
    mcp_url: Annotated[
        str | None, typer.Option("--mcp-url", help="use a remote MCP server (streamable HTTP)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="KUBEMEDIC_MCP_TOKEN", help="bearer token for --mcp-url")
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="kubeconfig context (default: current)")
    ] = None,
) -> None:
    """Ask questions about the cluster; writes wait for your yes."""
    from agent.chat import NO_MODEL
    from agent.llm import LLMConfigError, resolve_chat_model
    from kubemedic.settings import load_settings

    settings = load_settings()
    if state_dir is not None:
        settings = settings.model_copy(update={"state_dir": state_dir})
    if context is not None:
        settings = settings.model_copy(update={"context": context})
    try:
        model = resolve_chat_model(settings.llm, timeout_seconds=settings.llm_timeout_seconds)
    except LLMConfigError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    if model is None:
        console.print(NO_MODEL)  # before starting any server: nothing to talk to
        raise typer.Exit(0)
    raise typer.Exit(asyncio.run(_run(settings, model, mcp_url, token)))


async def _run(settings: Any, model: Any, mcp_url: str | None, token: str | None) -> int:
    from agent.chat import ChatIO, run_chat
    from kubemedic.agent_runtime import Remote, mcp_session, toolbox_of

    async def read() -> str | None:
        try:
            return await asyncio.to_thread(input, "you> ")
        except EOFError:
            return None

    def write(text: str) -> None:
        console.print(text)

    async def confirm(name: str, args: Mapping[str, Any]) -> bool:
        answer = await asyncio.to_thread(_ask, f"send {name}? [y/N] ")
        return answer in ("y", "yes")

    remote = Remote(mcp_url, token) if mcp_url else None
    console.print("kubemedic chat · type your question; 'exit' or Ctrl-D ends")
    async with mcp_session(settings, remote, pod_cache=False) as session:
        toolbox = await toolbox_of(settings, session)
        return await run_chat(toolbox, model, ChatIO(read, write, confirm))


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip().lower()
    except EOFError:
        return ""
