"""The one place the MCP server object is created (FastMCP from the 1.x SDK).

`create_server(state)` gives a FastMCP whose lifespan hands `state` (gateway, pod cache,
policy, stores, audit) to every tool. With `token_verifier`, the streamable HTTP transport
demands a bearer token with the `read` scope (401 without one); `heal` is checked per tool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.fastmcp import FastMCP
from pydantic import AnyHttpUrl

from mcp_server.fleet import Fleet
from mcp_server.resources import register_resources
from mcp_server.state import ServerState
from mcp_server.tools.registry import build_tools

SERVER_NAME = "kubemedic"
INSTRUCTIONS = (
    "kubemedic diagnoses and heals Kubernetes pods. Read-only tools: diagnose_pod, analyze_logs, "
    "check_resource_usage, list_unhealthy_pods, plan_healing, get_action_status, get_rightsizing "
    "(requests and limits against the observed usage). Writing tools (auto_heal_pod, "
    "rollback_deployment) re-diagnose the pod, decide with the server's rule engine, run safety "
    "checks, and need a human approval for destructive actions: on `approval_required`, a "
    "person runs `kubemedic approvals approve ID --by NAME`, then call again with approval_id. "
    "Where the server's policy allows it and your client supports elicitation, the server asks "
    "your user in the call instead."
)


def create_server(
    state: ServerState | Fleet,
    *,
    token_verifier: TokenVerifier | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> FastMCP[Fleet]:
    """The server for one cluster (a `ServerState`) or several (a `Fleet`: every tool then
    takes a `cluster` argument that picks one)."""
    fleet = state if isinstance(state, Fleet) else Fleet.single(state)

    @asynccontextmanager
    async def lifespan(_: FastMCP[Fleet]) -> AsyncIterator[Fleet]:
        async with fleet.session() as shared:
            yield shared

    auth: AuthSettings | None = None
    if token_verifier is not None:
        auth = AuthSettings(
            issuer_url=AnyHttpUrl("http://127.0.0.1"),  # static tokens: no authorization server
            resource_server_url=None,
            required_scopes=["read"],
        )
    mcp: FastMCP[Fleet] = FastMCP(
        SERVER_NAME,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        auth=auth,
        token_verifier=token_verifier,
        host=host,
        port=port,
        log_level="WARNING",
        tools=build_tools(),
    )
    register_resources(mcp, fleet)
    return mcp


def tool_names(mcp: FastMCP[Any]) -> list[str]:
    return sorted(tool.name for tool in mcp._tool_manager.list_tools())
