"""The graph factory for LangGraph's own server and Studio (`langgraph.json` points here).

    {"graphs": {"kubemedic": "./agent/studio.py:make_graph"}}

The server calls `make_graph(config)` for each run: it opens an MCP session to kubemedic's
server (stdio: `kubemedic mcp`, or streamable HTTP when `KUBEMEDIC_MCP_URL` is set, with
`KUBEMEDIC_MCP_TOKEN`), loads the tools, and yields the compiled incident graph; LangGraph's
server supplies the checkpointer and shows the approval interrupts in its inbox. Start a run
with the input `{"incident_id": "...", "namespace": "...", "pod_name": "..."}`; resume an
approval with `{"decision": "approve"|"edit"|"reject", "approver": "...", ...}`.

Configuration is read from the environment (the agent cannot import kubemedic's settings):
KUBEMEDIC_LLM, KUBEMEDIC_LLM_TIMEOUT_SECONDS, KUBEMEDIC_POLICY, KUBEMEDIC_CALLER,
KUBEMEDIC_MCP_URL / KUBEMEDIC_MCP_TOKEN or KUBEMEDIC_MCP_COMMAND (default `kubemedic mcp`).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._constants import CONFIG_KEY_RUNTIME
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from agent.context import IncidentContext
from agent.graph import build_graph
from agent.llm import resolve_chat_model
from agent.tools import Toolbox
from policies import load_policy


def context_from_env(toolbox: Toolbox, env: Mapping[str, str] | None = None) -> IncidentContext:
    env = os.environ if env is None else env
    timeout = float(env.get("KUBEMEDIC_LLM_TIMEOUT_SECONDS", "30"))
    return IncidentContext(
        toolbox=toolbox,
        policy=load_policy(env.get("KUBEMEDIC_POLICY") or None),
        model=resolve_chat_model(env.get("KUBEMEDIC_LLM", "none"), timeout_seconds=timeout),
        llm_timeout_seconds=timeout,
        caller=env.get("KUBEMEDIC_CALLER", "kubemedic-agent"),
    )


def topology() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph with no tools behind it: for drawing and schema introspection only."""
    return build_graph().compile()


@asynccontextmanager
async def mcp_tools_session(env: Mapping[str, str] | None = None) -> AsyncIterator[Any]:
    """An initialised MCP ClientSession as the environment describes it."""
    from mcp import ClientSession

    env = os.environ if env is None else env
    url = env.get("KUBEMEDIC_MCP_URL")
    if url:
        from mcp.client.streamable_http import streamablehttp_client

        token = env.get("KUBEMEDIC_MCP_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with streamablehttp_client(url, headers=headers) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
        return
    from mcp.client.stdio import StdioServerParameters, stdio_client

    command = shlex.split(env.get("KUBEMEDIC_MCP_COMMAND", "kubemedic mcp"))
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(env))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def make_graph(
    config: RunnableConfig,
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """LangGraph server factory: the incident graph wired to kubemedic's MCP tools."""
    async with mcp_tools_session() as session:
        toolbox = await Toolbox.from_session(session)
        yield with_context(build_graph().compile(), context_from_env(toolbox))


def with_context(
    graph: CompiledStateGraph[Any, Any, Any, Any], context: IncidentContext
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The graph with `context` as every run's default: LangGraph's server starts runs with
    JSON input only, and the MCP session behind the tools is this factory's. A run given
    its own context still uses that one (LangGraph merges the run's runtime over this).
    LangGraph has no public setting for a default context; the runtime in the config is
    where its own parent graphs put theirs."""
    return graph.with_config(configurable={CONFIG_KEY_RUNTIME: Runtime(context=context)})
