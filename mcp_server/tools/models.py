"""Tool inputs and outputs: validated before any API call, structured on every failure.

The tool functions take their arguments loosely (the published JSON schema is still exact)
and validate them here, so a wrong type, a name that is not RFC 1123 or an absurd
`tail_lines` comes back as `{"success": false, "error": {"code": "invalid_input", ...}}`
instead of an SDK error string.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic.functional_validators import AfterValidator

# RFC 1123 label (namespaces, container names) and subdomain (pod and deployment names).
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

MAX_TAIL_LINES = 5000
MAX_SINCE_SECONDS = 7 * 24 * 3600
MAX_DIAGNOSIS_BYTES = 256 * 1024


def _label(value: str) -> str:
    if len(value) > 63 or not _LABEL.fullmatch(value):
        raise ValueError("must be an RFC 1123 label: lower-case letters, digits and '-', 1-63")
    return value


def _subdomain(value: str) -> str:
    if len(value) > 253 or not _SUBDOMAIN.fullmatch(value):
        raise ValueError("must be an RFC 1123 subdomain: lower-case letters, digits, '-', '.'")
    return value


Label = Annotated[str, Field(strict=True), AfterValidator(_label)]
Subdomain = Annotated[str, Field(strict=True), AfterValidator(_subdomain)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PodRef(_Input):
    namespace: Label
    pod_name: Subdomain


class DiagnoseInput(PodRef):
    check_logs: StrictBool = True
    check_events: StrictBool = True


class AnalyzeLogsInput(PodRef):
    container: Label | None = None
    tail_lines: StrictInt = Field(default=100, ge=1, le=MAX_TAIL_LINES)
    since_seconds: StrictInt = Field(default=300, ge=1, le=MAX_SINCE_SECONDS)


class ResourceUsageInput(PodRef):
    pass


Identifier = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_-]{1,64}$")]
IdempotencyKey = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class AutoHealInput(PodRef):
    # The original arguments carry a diagnosis; a stored plan (plan_id) replaces it.
    diagnosis: dict[str, Any] | None = None
    dry_run: StrictBool = False
    force: StrictBool = False
    action: Annotated[str, Field(strict=True, max_length=64)] | None = None
    approval_id: Identifier | None = None
    plan_id: Identifier | None = None
    idempotency_key: IdempotencyKey | None = None

    @model_validator(mode="after")
    def _diagnosis_or_plan(self) -> AutoHealInput:
        if self.diagnosis is None and self.plan_id is None:
            raise ValueError("diagnosis: required unless plan_id is given")
        return self


class PlanInput(PodRef):
    # A proposed action (e.g. an LLM's): the plan is for it if the rules allow it, else vetoed.
    action: Annotated[str, Field(strict=True, max_length=64)] | None = None


class ActionStatusInput(_Input):
    action_id: Identifier


class RollbackInput(_Input):
    namespace: Label
    # The workload's name; `kind` says which kind it is (a Deployment unless told).
    deployment_name: Subdomain
    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] = "Deployment"
    revision: StrictInt | None = Field(default=None, ge=1, le=2**31 - 1)
    approval_id: Identifier | None = None
    dry_run: StrictBool = False
    force: StrictBool = False
    plan_id: Identifier | None = None
    idempotency_key: IdempotencyKey | None = None


class ListUnhealthyInput(_Input):
    namespace: Label | None = None


# --------------------------------------------------------------------------------------------
# Failures


class ToolFailure(Exception):
    """A tool cannot do what was asked; becomes `success: false, error{code, message, ...}`."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def invalid_input(error: ValidationError) -> ToolFailure:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "(arguments)"
        problems.append(f"{where}: {item['msg']}")
    return ToolFailure("invalid_input", "; ".join(problems)[:1000], fields=problems[:20])


# --------------------------------------------------------------------------------------------
# Outputs


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ToolResult(BaseModel):
    """Every tool answers with `success`; a failure carries `error`, never a traceback."""

    model_config = ConfigDict(extra="allow")

    success: bool = True
    error: ErrorInfo | None = None


class DiagnosePodResult(ToolResult):
    pod_name: str | None = None
    namespace: str | None = None
    status: dict[str, Any] | None = None
    issues: list[dict[str, Any]] = Field(default_factory=list)
    logs: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    api_requests: int | None = None


class LogErrorEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    timestamp: str | None = None
    level: str
    message: str
    pattern: str


class AnalyzeLogsResult(ToolResult):
    pod_name: str | None = None
    namespace: str | None = None
    container: str | None = None
    total_lines: int = 0
    errors: list[LogErrorEntry] = Field(default_factory=list)
    error_patterns: dict[str, int] = Field(default_factory=dict)
    recommendations: list[str] = Field(default_factory=list)


class Usage(BaseModel):
    model_config = ConfigDict(extra="allow")

    usage: str | None = None
    request: str | None = None
    limit: str | None = None
    percentage_of_limit: float | None = None


class ContainerUsage(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    cpu: Usage
    memory: Usage
    issues: list[str] = Field(default_factory=list)


class ResourceUsageResult(ToolResult):
    pod_name: str | None = None
    namespace: str | None = None
    metrics_available: bool = False
    metrics_message: str | None = None
    containers: list[ContainerUsage] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


class Verification(BaseModel):
    model_config = ConfigDict(extra="allow")

    # pending until the verifier decides; not_applicable when nothing was written.
    status: Literal["pending", "healed", "not_healed", "not_applicable"] = "pending"
    action_id: str | None = None
    new_pod_status: str | None = None
    new_pod_name: str | None = None
    restart_count: int | None = None
    healthy: bool = False
    message: str = ""
    waited_seconds: float = 0.0


class HealResult(ToolResult):
    action_taken: str | None = None
    pod_name: str | None = None
    namespace: str | None = None
    target: dict[str, str] | None = None
    reason: str | None = None
    dry_run: bool = False
    timestamp: str | None = None
    verification: Verification | None = None
    decision: dict[str, Any] | None = None
    approval_id: str | None = None
    approver: str | None = None
    findings: dict[str, Any] | None = None  # read-only actions: what to look at next
    plan_id: str | None = None
    action_id: str | None = None  # the intent: ask get_action_status about it
    replayed: bool = False  # an idempotency key (or plan) seen before: nothing written again
    from_revision: int | None = None


class RollbackResult(ToolResult):
    namespace: str | None = None
    deployment_name: str | None = None
    kind: str | None = None
    action_taken: str | None = None
    from_revision: int | None = None
    to_revision: int | None = None
    reason: str | None = None
    dry_run: bool = False
    timestamp: str | None = None
    verification: Verification | None = None
    approval_id: str | None = None
    approver: str | None = None
    plan_id: str | None = None
    action_id: str | None = None
    replayed: bool = False


class PlanResult(ToolResult):
    """The server's gated decision as a plan (see docs/contracts.md)."""

    plan_id: str | None = None
    action: str | None = None
    target: dict[str, str] | None = None
    pod: dict[str, str] | None = None
    workload: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    risk: str | None = None
    requires_approval: bool = False
    writes: bool = False
    # Failed safety checks (besides the approval): executing this plan is refused.
    blocked_by: list[dict[str, Any]] = Field(default_factory=list)
    reason: str | None = None
    issue_type: str | None = None
    decision: dict[str, Any] | None = None


class ActionStatusResult(ToolResult):
    action_id: str | None = None
    cluster: str | None = None  # the write's cluster when the server serves several
    plan_id: str | None = None
    action: str | None = None
    target: dict[str, str] | None = None
    outcome: str | None = None  # applied / not_applied / None (intent without outcome yet)
    initiator: str | None = None
    approver: str | None = None
    verification: Verification | None = None


class UnhealthyPodInfo(BaseModel):
    namespace: str
    pod_name: str
    issue_type: str
    phase: str | None = None
    restart_count: int = 0
    owner_kind: str | None = None
    owner_name: str | None = None
    # Why, in a few words (e.g. a PredictedOOM's trend), and for a prediction: which container
    # and in how many minutes its working set reaches its limit at the current pace.
    reason: str | None = None
    container: str | None = None
    minutes_to_limit: float | None = None


class ListUnhealthyResult(ToolResult):
    namespace: str | None = None
    synced: bool = False
    pods_monitored: int = 0
    pods: list[UnhealthyPodInfo] = Field(default_factory=list)
    source: str = "cache"


# --------------------------------------------------------------------------------------------
# Right-sizing (get_rightsizing; docs/rightsizing.md)


class RightsizingInput(_Input):
    namespace: Label | None = None


class ResourceRightsizing(BaseModel):
    """One resource of a container: bytes for memory, millicores for CPU."""

    model_config = ConfigDict(extra="allow")

    unit: Literal["bytes", "millicores"]
    request: int | None = None  # now (the most common value among the replicas)
    limit: int | None = None
    p50: int | None = None  # observed over the window (all replicas' samples)
    p95: int | None = None
    max: int | None = None
    recommended_request: int | None = None
    recommended_limit: int | None = None
    freed: int = 0  # sum over the replicas of (request - recommended); negative: needed
    verdict: str
    reasons: list[str] = Field(default_factory=list)
    quantities: dict[str, str] = Field(default_factory=dict)  # the same, readable (96Mi, 15m)


class ContainerRightsizing(BaseModel):
    model_config = ConfigDict(extra="allow")

    namespace: str
    workload: str  # Kind/name
    workload_kind: str
    workload_name: str
    container: str
    replicas: int
    pods: list[str] = Field(default_factory=list)
    samples: int = 0
    span_seconds: float = 0.0
    restarts_seen: int = 0
    # over_provisioned / under_provisioned / fits / not_enough_data
    verdict: str
    reasons: list[str] = Field(default_factory=list)
    memory: ResourceRightsizing
    cpu: ResourceRightsizing
    suggested_command: str | None = None


class RightsizingResult(ToolResult):
    namespace: str | None = None
    # The usage sampler: running, available, interval_seconds, window_seconds, rounds, message.
    sampler: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)  # the policy's rightsizing settings
    containers: list[ContainerRightsizing] = Field(default_factory=list)
    totals: dict[str, Any] = Field(default_factory=dict)
    source: str = "cache"  # cache, or list (no pod cache: one pod list, no usage)
