"""The agent's only way to the cluster: MCP tools, loaded with langchain-mcp-adapters.

`Toolbox` wraps the LangChain tools that `load_mcp_tools(session)` returns and gives back each
tool's structured result, whatever the transport: `typed()` parses it once into the tool's
result model (kubemedic_contract) and raises `ToolCallError` for a failed call; `call()`
gives the plain dict (`{"success": ..., ...}`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from kubemedic_contract import ErrorInfo, ToolResult

R = TypeVar("R", bound=ToolResult)

# The tools the graph and the watch loop call (mcp_server, issue 4).
DIAGNOSE_POD = "diagnose_pod"
ANALYZE_LOGS = "analyze_logs"
CHECK_RESOURCE_USAGE = "check_resource_usage"
AUTO_HEAL_POD = "auto_heal_pod"
ROLLBACK_DEPLOYMENT = "rollback_deployment"
LIST_UNHEALTHY_PODS = "list_unhealthy_pods"
PLAN_HEALING = "plan_healing"
GET_ACTION_STATUS = "get_action_status"


# How long one MCP tool call may take before the agent gives up on it (a hung server must not
# hold an incident, or a write slot, forever). The composition root sets it from
# KUBEMEDIC_TOOL_TIMEOUT_SECONDS.
DEFAULT_TOOL_TIMEOUT_SECONDS = 120.0


# The cluster the current incident is on, when the server serves several: every tool call
# made in this context names it (`cluster` argument). None: the server's only cluster.
current_cluster: ContextVar[str | None] = ContextVar("kubemedic_cluster", default=None)


@contextmanager
def cluster_scope(cluster: str | None) -> Iterator[None]:
    """Every tool call within names `cluster` (None: no `cluster` argument at all)."""
    token = current_cluster.set(cluster)
    try:
        yield
    finally:
        current_cluster.reset(token)


class ToolboxError(RuntimeError):
    """A tool the agent needs is not served, or its answer cannot be read."""


class ToolCallError(Exception):
    """A tool answered `success: false` (or not in time): the typed error it carried."""

    def __init__(self, tool: str, error: ErrorInfo) -> None:
        super().__init__(f"{tool}: {error.code}: {error.message}")
        self.tool = tool
        self.error = error

    @property
    def code(self) -> str:
        return self.error.code

    def result(self) -> dict[str, Any]:
        """The failed result as the server sent it."""
        return {"success": False, "error": self.error.model_dump(mode="json")}


def tool_is_read_only(tool: BaseTool) -> bool:
    """From the MCP tool annotations: only an explicit readOnlyHint counts as read-only."""
    metadata = tool.metadata or {}
    return bool(metadata.get("readOnlyHint")) and not metadata.get("destructiveHint")


class Toolbox:
    """Named access to the MCP tools with dict results."""

    def __init__(
        self,
        tools: Iterable[BaseTool],
        *,
        timeout_seconds: float = DEFAULT_TOOL_TIMEOUT_SECONDS,
    ) -> None:
        self.tools: dict[str, BaseTool] = {tool.name: tool for tool in tools}
        # A hung server must not hold an incident (or a write slot) forever.
        self.timeout_seconds = timeout_seconds

    @classmethod
    async def from_session(
        cls, session: Any, *, timeout_seconds: float = DEFAULT_TOOL_TIMEOUT_SECONDS
    ) -> Toolbox:
        """Load the tools of an initialised `mcp.ClientSession` (stdio, HTTP or in memory);
        every call through the toolbox gives up after `timeout_seconds`."""
        from langchain_mcp_adapters.tools import load_mcp_tools

        from agent.fastschema import cache_output_validation

        cache_output_validation(session)
        with anyio.fail_after(timeout_seconds):
            tools = await load_mcp_tools(session)
        return cls(tools, timeout_seconds=timeout_seconds)

    def has(self, name: str) -> bool:
        return name in self.tools

    def require(self, *names: str) -> None:
        missing = [name for name in names if name not in self.tools]
        if missing:
            raise ToolboxError(
                f"the MCP server does not serve {', '.join(missing)} "
                f"(it serves: {', '.join(sorted(self.tools)) or 'nothing'})"
            )

    def read_only(self) -> list[BaseTool]:
        return [tool for tool in self.tools.values() if tool_is_read_only(tool)]

    async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Call a tool; the result as a dict. Tool-level failures come back as
        `{"success": False, "error": {"code", "message"}}`, never as exceptions."""
        self.require(name)
        args = {key: value for key, value in arguments.items() if value is not None}
        call = {
            "type": "tool_call",
            "id": f"call-{uuid.uuid4().hex[:12]}",
            "name": name,
            "args": args,
        }
        try:
            message = await self.invoke(call)
        except TimeoutError:
            # A write may still have happened: the caller's idempotency key finds out.
            return timeout_result(name, self.timeout_seconds)
        return result_of(message)

    async def typed(self, name: str, result_type: type[R], **arguments: Any) -> R:
        """Call a tool and parse its answer once into `result_type`; a failed call raises
        `ToolCallError`, an answer outside the schema `ToolboxError`."""
        return parse_result(name, await self.call(name, **arguments), result_type)

    async def invoke(self, call: Mapping[str, Any]) -> Any:
        """Send one tool call (a LangChain `tool_call` dict) within the deadline; the
        ToolMessage. Raises `TimeoutError` after `timeout_seconds`. Every MCP call of the agent
        (the graph, the watch loop, the chat) goes through here."""
        name = str(call.get("name"))
        self.require(name)
        call = dict(call)
        cluster = current_cluster.get()
        if cluster is not None and "cluster" not in (call.get("args") or {}):
            call["args"] = {**(call.get("args") or {}), "cluster": cluster}
        with anyio.fail_after(self.timeout_seconds):
            return await self.tools[name].ainvoke(call)


def timeout_result(name: str, seconds: float) -> dict[str, Any]:
    """The failed result of a call that did not answer in time (`tool_timeout`)."""
    return {
        "success": False,
        "error": {"code": "tool_timeout", "message": f"{name} did not answer within {seconds:g}s"},
    }


def parse_result(name: str, result: Mapping[str, Any], result_type: type[R]) -> R:
    """A tool's structured result as its model; `ToolCallError` for a failed one."""
    code = error_code(result)
    if code is not None:
        error = result.get("error")
        details = dict(error) if isinstance(error, Mapping) else {}
        details["code"] = code
        details["message"] = str(details.get("message") or "")
        raise ToolCallError(name, ErrorInfo.model_validate(details))
    try:
        return result_type.model_validate(dict(result))
    except ValidationError as error:
        raise ToolboxError(f"{name} answered outside its schema: {error}") from None


def result_of(message: Any) -> dict[str, Any]:
    """The structured result of a ToolMessage from an MCP tool."""
    if not isinstance(message, ToolMessage):
        raise ToolboxError(f"expected a ToolMessage, got {type(message).__name__}")
    artifact = message.artifact
    if message.status != "error" and isinstance(artifact, Mapping):
        structured = artifact.get("structured_content")
        if isinstance(structured, Mapping):
            return _unwrap(dict(structured))
    text = _text(message.content)
    parsed = _parse_json(text)
    if parsed is not None:
        return _unwrap(parsed)
    if message.status == "error":
        return {"success": False, "error": {"code": "tool_error", "message": text[:2000]}}
    raise ToolboxError(f"tool answer is not JSON: {text[:200]!r}")


def _unwrap(data: dict[str, Any]) -> dict[str, Any]:
    # FastMCP wraps non-object return types as {"result": ...}.
    if set(data) == {"result"} and isinstance(data["result"], Mapping):
        return dict(data["result"])
    return data


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    return str(content)


def _parse_json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def error_code(result: Mapping[str, Any]) -> str | None:
    """`error.code` of a failed tool result, else None."""
    if result.get("success", True):
        return None
    error = result.get("error")
    if isinstance(error, Mapping):
        return str(error.get("code") or "error")
    return "error"
