"""The MCP tools: published schemas, annotations, and the never-a-traceback wrapper.

Arguments are declared `Any` with an explicit JSON schema: clients see exact types, and the
server validates them itself (tools.models) so that every bad input gets a structured
`invalid_input` result rather than an SDK error string.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.fastmcp import Context
from mcp.server.fastmcp.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ValidationError, WithJsonSchema

from kubemedic_logctx import log_context
from mcp_server import metrics
from mcp_server.audit import AuditTarget
from mcp_server.auth import Caller, current_caller
from mcp_server.elicitation import settle_approval
from mcp_server.fleet import Fleet
from mcp_server.gateway import GatewayError
from mcp_server.state import ServerState
from mcp_server.tools import impl
from mcp_server.tools.models import (
    MAX_SINCE_SECONDS,
    MAX_TAIL_LINES,
    ActionStatusInput,
    ActionStatusResult,
    AnalyzeLogsInput,
    AnalyzeLogsResult,
    AutoHealInput,
    DiagnoseInput,
    DiagnosePodResult,
    ErrorInfo,
    HealResult,
    ListUnhealthyInput,
    ListUnhealthyResult,
    PlanInput,
    PlanResult,
    ResourceUsageInput,
    ResourceUsageResult,
    RightsizingInput,
    RightsizingResult,
    RollbackInput,
    RollbackResult,
    ToolFailure,
    ToolResult,
    invalid_input,
)
from mcp_server.tools.rightsizing import get_rightsizing as rightsizing_work

log = logging.getLogger(__name__)

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=ToolResult)

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_ID = r"^[A-Za-z0-9_-]{1,64}$"

Namespace = Annotated[
    Any,
    WithJsonSchema(
        {"type": "string", "maxLength": 63, "pattern": _NAME, "description": "the namespace"}
    ),
]
PodName = Annotated[
    Any,
    WithJsonSchema(
        {"type": "string", "maxLength": 253, "pattern": _SUBDOMAIN, "description": "the pod"}
    ),
]
DeploymentName = Annotated[
    Any,
    WithJsonSchema(
        {"type": "string", "maxLength": 253, "pattern": _SUBDOMAIN, "description": "deployment"}
    ),
]
Flag = Annotated[Any, WithJsonSchema({"type": "boolean"})]
OptionalWorkloadKind = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": ["Deployment", "StatefulSet", "DaemonSet"]},
                {"type": "null"},
            ],
            "default": None,
            "description": "the kind of the workload named by deployment_name (default Deployment)",
        }
    ),
]


def _nullable(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, {"type": "null"}], "default": None})


OptionalNamespace = Annotated[Any, _nullable({"type": "string", "maxLength": 63, "pattern": _NAME})]
OptionalContainer = Annotated[Any, _nullable({"type": "string", "maxLength": 63, "pattern": _NAME})]
OptionalId = Annotated[Any, _nullable({"type": "string", "pattern": _ID})]
OptionalKey = Annotated[
    Any,
    _nullable(
        {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_.:-]{1,128}$",
            "description": "the same key again returns the recorded outcome, never a 2nd write",
        }
    ),
]
OptionalCluster = Annotated[
    Any,
    _nullable(
        {
            "type": "string",
            "maxLength": 100,
            "description": "the cluster (default: the server's first or only cluster)",
        }
    ),
]
ActionId = Annotated[Any, WithJsonSchema({"type": "string", "pattern": _ID})]
OptionalRevision = Annotated[Any, _nullable({"type": "integer", "minimum": 1})]
OptionalAction = Annotated[
    Any,
    _nullable(
        {
            "type": "string",
            "description": "ask for the rule action or a milder one the rules allow; else vetoed",
        }
    ),
]
TailLines = Annotated[
    Any, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_TAIL_LINES})
]
SinceSeconds = Annotated[
    Any, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_SINCE_SECONDS})
]
DiagnosisArg = Annotated[
    Any,
    WithJsonSchema(
        {"type": "object", "description": "the diagnosis the caller acts on (from diagnose_pod)"}
    ),
]

READ_ONLY = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True
)
DESTRUCTIVE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=True
)


def _failure(result_type: type[Out], code: str, message: str, **extra: Any) -> Out:
    return result_type(success=False, error=ErrorInfo(code=str(code), message=message, **extra))


def answer(result: ToolResult) -> CallToolResult:
    """The MCP answer: a refused or failed call is `isError: true` and still carries the
    structured payload with its error code, so generic hosts and LLM tool loops see a
    failure while typed clients read the same fields as on success."""
    body = result.model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body, indent=2))],
        structuredContent=body,
        isError=not result.success,
    )


WRITE_TOOLS = frozenset({"auto_heal_pod", "rollback_deployment"})


def _audit_refusal(
    state: ServerState, tool: str, arguments: dict[str, Any], caller: Caller, failure: ToolFailure
) -> None:
    """A write tool called with bad input is still an attempted write: audit it (the
    executor audits everything past validation)."""
    rollback = tool == "rollback_deployment"
    kind = "Pod"
    if rollback:
        given = arguments.get("kind")
        kind = given if given in ("StatefulSet", "DaemonSet") else "Deployment"
    name = arguments.get("deployment_name" if rollback else "pod_name")
    state.audit.append(
        action=tool,
        target=AuditTarget(kind, str(arguments.get("namespace"))[:63], str(name)[:253]),
        reason="invalid input",
        initiator=caller.name,
        result="refused",
        dry_run=arguments.get("dry_run") is True,
        duration_seconds=0.0,
        error={"code": failure.code, "message": failure.message},
    )


async def run_tool(
    name: str,
    ctx: Context[Any, Any, Any],
    input_type: type[In],
    arguments: dict[str, Any],
    work: Callable[[ServerState, In, Caller], Out],
    result_type: type[Out],
) -> CallToolResult:
    """Validate, run in a worker thread, and turn every failure into a structured error. A
    write that needs an approval may be put to the host's user first (mcp_server.elicitation)."""
    result = await _run(name, ctx, input_type, arguments, work, result_type)
    if name in WRITE_TOOLS:
        try:
            state = cluster_state(ctx, arguments.get("cluster"))
        except ToolFailure:
            return answer(result)  # an unknown cluster: already refused
        result = await settle_approval(
            ctx,
            result,
            lambda given: _run(name, ctx, input_type, {**arguments, **given}, work, result_type),
            state=state,
        )
    return answer(result)


async def _run(
    name: str,
    ctx: Context[Any, Any, Any],
    input_type: type[In],
    arguments: dict[str, Any],
    work: Callable[[ServerState, In, Caller], Out],
    result_type: type[Out],
) -> Out:
    outcome = "ok"
    try:
        state = cluster_state(ctx, arguments.get("cluster"))
        caller = current_caller(state.config)
        # Absent and null mean the same: the argument's default (or "required" if none).
        given = {
            key: value for key, value in arguments.items() if value is not None and key != "cluster"
        }
        try:
            args = input_type.model_validate(given)
        except ValidationError as error:
            failure = invalid_input(error)
            if name in WRITE_TOOLS:
                await anyio.to_thread.run_sync(
                    partial(_audit_refusal, state, name, arguments, caller, failure)
                )
            raise failure from None
        if not caller.may("read"):
            raise ToolFailure("forbidden", f"caller {caller.name} has no 'read' scope")
        if state.cluster is None:
            return await anyio.to_thread.run_sync(partial(work, state, args, caller))
        with log_context(cluster=state.cluster):  # several clusters: logs name theirs
            return await anyio.to_thread.run_sync(partial(work, state, args, caller))
    except ToolFailure as failure:
        outcome = failure.code
        return _failure(result_type, failure.code, failure.message, **failure.extra)
    except GatewayError as error:
        outcome = error.code
        return _failure(result_type, error.code, error.message, retryable=error.retryable)
    except Exception:  # noqa: BLE001 - a client never sees a traceback
        log.exception("tool %s failed", name)
        outcome = "internal_error"
        return _failure(result_type, "internal_error", "the server failed; see its log")
    finally:
        metrics.tool_calls_total.labels(tool=name, outcome=outcome).inc()


def cluster_state(ctx: Context[Any, Any, Any], cluster: object) -> ServerState:
    """The state of the cluster a call names (default: the first or only one)."""
    served: Fleet | ServerState = ctx.request_context.lifespan_context
    if isinstance(served, ServerState):
        served = Fleet.single(served)
    return served.pick(cluster)


REQUIRED: dict[str, tuple[str, ...]] = {
    "diagnose_pod": ("namespace", "pod_name"),
    "analyze_logs": ("namespace", "pod_name"),
    "check_resource_usage": ("namespace", "pod_name"),
    # diagnosis is required unless plan_id names a stored plan (checked by the server).
    "auto_heal_pod": ("namespace", "pod_name"),
    "plan_healing": ("namespace", "pod_name"),
    "get_action_status": ("action_id",),
    "rollback_deployment": ("namespace", "deployment_name"),
    "list_unhealthy_pods": (),
    "get_rightsizing": (),
}

# The defaults the input models apply (tools.models), shown in the published schema.
DEFAULTS: dict[str, Any] = {
    "check_logs": True,
    "check_events": True,
    "tail_lines": 100,
    "since_seconds": 300,
    "dry_run": False,
    "force": False,
}


# Each tool: its input model, its work, its result model.
_SPECS: dict[str, tuple[type[BaseModel], Callable[..., Any], type[ToolResult]]] = {
    "diagnose_pod": (DiagnoseInput, impl.diagnose_pod, DiagnosePodResult),
    "analyze_logs": (AnalyzeLogsInput, impl.analyze_logs, AnalyzeLogsResult),
    "check_resource_usage": (ResourceUsageInput, impl.check_resource_usage, ResourceUsageResult),
    "auto_heal_pod": (AutoHealInput, impl.auto_heal_pod, HealResult),
    "rollback_deployment": (RollbackInput, impl.rollback_deployment, RollbackResult),
    "list_unhealthy_pods": (ListUnhealthyInput, impl.list_unhealthy_pods, ListUnhealthyResult),
    "plan_healing": (PlanInput, impl.plan_healing, PlanResult),
    "get_action_status": (ActionStatusInput, impl.get_action_status, ActionStatusResult),
    "get_rightsizing": (RightsizingInput, rightsizing_work, RightsizingResult),
}


async def _call(name: str, arguments: dict[str, Any]) -> CallToolResult:
    """A tool function's parameters (its `locals()`) to `run_tool`; `ctx` is the request."""
    given = dict(arguments)
    ctx = given.pop("ctx")
    input_type, work, result_type = _SPECS[name]
    return await run_tool(name, ctx, input_type, given, work, result_type)


async def diagnose_pod(
    ctx: Context[Any, Any, Any],
    namespace: Namespace = None,
    pod_name: PodName = None,
    check_logs: Flag = None,
    check_events: Flag = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, DiagnosePodResult]:
    return await _call("diagnose_pod", locals())


async def analyze_logs(
    ctx: Context[Any, Any, Any],
    namespace: Namespace = None,
    pod_name: PodName = None,
    container: OptionalContainer = None,
    tail_lines: TailLines = None,
    since_seconds: SinceSeconds = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, AnalyzeLogsResult]:
    return await _call("analyze_logs", locals())


async def check_resource_usage(
    ctx: Context[Any, Any, Any],
    namespace: Namespace = None,
    pod_name: PodName = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, ResourceUsageResult]:
    return await _call("check_resource_usage", locals())


async def auto_heal_pod(
    ctx: Context[Any, Any, Any],
    namespace: Namespace = None,
    pod_name: PodName = None,
    diagnosis: DiagnosisArg = None,
    dry_run: Flag = None,
    force: Flag = None,
    action: OptionalAction = None,
    approval_id: OptionalId = None,
    plan_id: OptionalId = None,
    idempotency_key: OptionalKey = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, HealResult]:
    return await _call("auto_heal_pod", locals())


async def rollback_deployment(
    ctx: Context[Any, Any, Any],
    namespace: Namespace = None,
    deployment_name: DeploymentName = None,
    kind: OptionalWorkloadKind = None,
    revision: OptionalRevision = None,
    approval_id: OptionalId = None,
    dry_run: Flag = None,
    force: Flag = None,
    plan_id: OptionalId = None,
    idempotency_key: OptionalKey = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, RollbackResult]:
    return await _call("rollback_deployment", locals())


async def list_unhealthy_pods(
    ctx: Context[Any, Any, Any],
    namespace: OptionalNamespace = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, ListUnhealthyResult]:
    return await _call("list_unhealthy_pods", locals())


async def plan_healing(
    ctx: Context[Any, Any, Any],
    namespace: Namespace = None,
    pod_name: PodName = None,
    action: OptionalAction = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, PlanResult]:
    return await _call("plan_healing", locals())


async def get_action_status(
    ctx: Context[Any, Any, Any],
    action_id: ActionId = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, ActionStatusResult]:
    return await _call("get_action_status", locals())


async def get_rightsizing(
    ctx: Context[Any, Any, Any],
    namespace: OptionalNamespace = None,
    cluster: OptionalCluster = None,
) -> Annotated[CallToolResult, RightsizingResult]:
    return await _call("get_rightsizing", locals())


# (name, function, annotations, description): what build_tools publishes.
_TOOLS: tuple[tuple[str, Callable[..., Any], ToolAnnotations, str], ...] = (
    (
        "diagnose_pod",
        diagnose_pod,
        READ_ONLY,
        "Diagnose a pod: phase and conditions, container states and restarts, "
        "events, log error patterns, resources, configuration, owner chain and rollout history.",
    ),
    (
        "analyze_logs",
        analyze_logs,
        READ_ONLY,
        "Find errors and known failure patterns in a container's logs "
        f"(tail_lines 1..{MAX_TAIL_LINES}, since_seconds 1..{MAX_SINCE_SECONDS}).",
    ),
    (
        "check_resource_usage",
        check_resource_usage,
        READ_ONLY,
        "Compare each container's CPU and memory usage with its requests and limits.",
    ),
    (
        "auto_heal_pod",
        auto_heal_pod,
        DESTRUCTIVE,
        "Heal a pod: the server re-diagnoses it, the rule engine decides, the "
        "safety checks run, destructive actions need a human approval (approval_id); pass a "
        "plan_id from plan_healing and an idempotency_key to execute exactly that plan, once. "
        "Answers at once with an action_id for get_action_status. dry_run writes nothing.",
    ),
    (
        "rollback_deployment",
        rollback_deployment,
        DESTRUCTIVE,
        "Roll a workload back to the previous (or given) revision, as "
        "`kubectl rollout undo` does, when the rules allow it: a Deployment (default), or a "
        "StatefulSet or DaemonSet with kind; needs an approval; answers with an action_id "
        "for get_action_status.",
    ),
    (
        "list_unhealthy_pods",
        list_unhealthy_pods,
        READ_ONLY,
        "Unhealthy pods with their issue type, from the server's watch-backed cache.",
    ),
    (
        "plan_healing",
        plan_healing,
        READ_ONLY,
        "The server's gated decision for a pod as a plan: action, target (with "
        "uid), parameters, the facts it was decided on, risk, whether a human must approve, "
        "and a plan_id (a digest of all of it). Writes nothing. Pass the plan_id to "
        "auto_heal_pod / rollback_deployment; `action` proposes the rule action or a milder "
        "allowed one (anything else is vetoed).",
    ),
    (
        "get_action_status",
        get_action_status,
        READ_ONLY,
        "An action's outcome (applied / not_applied) and its verification: "
        "pending, healed or not_healed, with the evidence (the replacement pod, the rollout).",
    ),
    (
        "get_rightsizing",
        get_rightsizing,
        READ_ONLY,
        "Right-sizing recommendations from the usage observed over the sampler's window: per "
        "workload and container, requests and limits now against the observed p50/p95/max of "
        "memory and CPU, the recommended requests and memory limit (p95 / peak plus a 15% "
        "safety margin), a verdict (over_provisioned, under_provisioned, fits, "
        "not_enough_data), and what the recommendations would free or need in total. "
        "Writes nothing.",
    ),
)


def build_tools() -> list[Tool]:
    """The tools, with every argument optional to the SDK (so the server, not the SDK,
    reports a missing one) and the published schema still marking the required ones."""
    tools: list[Tool] = []
    for name, fn, hints, description in _TOOLS:
        built = Tool.from_function(
            fn,
            name=name,
            description=description,
            annotations=hints,
            structured_output=True,
        )
        built.parameters["required"] = list(REQUIRED[name])
        for key, schema in built.parameters.get("properties", {}).items():
            if key in REQUIRED[name]:
                schema.pop("default", None)
            elif key in DEFAULTS:
                schema["default"] = DEFAULTS[key]
        tools.append(built)
    return tools
