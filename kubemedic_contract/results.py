"""Each tool's structured result (the output schema the server publishes).

Every model is closed (`extra="forbid"`): a field the server sends is declared here, and a
client can validate an answer against the published schema. A failed call answers with the
same schema (`success: false` and `error`): the fields of a successful answer are therefore
optional at the top level, and required inside the objects they describe.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from kubemedic_contract.diagnosis import DiagnosisBody
from kubemedic_contract.workload import WorkloadRef
from policies.policy import RightsizingPolicy

_CLOSED = ConfigDict(extra="forbid")


class ErrorInfo(BaseModel):
    """`code` (docs/contracts.md, "Errors") and `message`; the details each code carries
    (`fields`, `retryable`, `approval_id`, `plan_id`, `preview`, ...) vary by code."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ToolResult(BaseModel):
    """Every tool answers with `success`; a failure carries `error`, never a traceback."""

    model_config = _CLOSED

    success: bool = True
    error: ErrorInfo | None = None


class DiagnosePodResult(DiagnosisBody, ToolResult):
    model_config = _CLOSED


class LogErrorEntry(BaseModel):
    model_config = _CLOSED

    timestamp: str | None = None
    level: str
    message: str
    pattern: str
    patterns: list[str] = Field(default_factory=list)  # every pattern the entry matched
    line: int = Field(ge=1)  # 1-based line number of the entry's first line
    lines: int = Field(default=1, ge=1)  # how many lines were grouped (stack traces)


class AnalyzeLogsResult(ToolResult):
    pod_name: str | None = None
    namespace: str | None = None
    container: str | None = None
    total_lines: int = 0
    errors: list[LogErrorEntry] = Field(default_factory=list)
    warnings: list[LogErrorEntry] = Field(default_factory=list)
    error_patterns: dict[str, int] = Field(default_factory=dict)  # pattern -> entries
    warning_count: int = 0
    error_count: int = 0
    truncated: bool = False  # more entries (or lines) than returned; counts stay exact
    recommendations: list[str] = Field(default_factory=list)
    read_previous: bool = False  # the crashed instance's log was read too
    notes: list[str] = Field(default_factory=list)  # logs unavailable or cut


class Usage(BaseModel):
    model_config = _CLOSED

    usage: str | None = None
    request: str | None = None
    limit: str | None = None
    percentage_of_limit: float | None = None
    percentage_of_request: float | None = None


class ContainerUsage(BaseModel):
    model_config = _CLOSED

    name: str
    cpu: Usage
    memory: Usage
    issues: list[str] = Field(default_factory=list)


class ResourceUsageResult(ToolResult):
    pod_name: str | None = None
    namespace: str | None = None
    metrics_available: bool = False
    message: str | None = None
    metrics_message: str | None = None
    containers: list[ContainerUsage] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


class ResizeLook(BaseModel):
    """One pod's in-place memory resize, as the verifier last saw it."""

    model_config = _CLOSED

    pod: str | None = None
    uid: str | None = None
    container: str | None = None
    memory_limit: str | None = None
    running_limit: str | None = None
    restart_count_at_resize: int | None = None
    restart_count: int | None = None
    # in_place / pending / in_progress / replaced / unknown, or why no resize was sent
    state: str | None = None
    reason: str | None = None
    detail: str | None = None
    pod_gone: bool | None = None


class Verification(BaseModel):
    model_config = _CLOSED

    # pending until the verifier decides; not_applicable when nothing was written.
    status: Literal["pending", "healed", "not_healed", "not_applicable"] = "pending"
    action_id: str | None = None
    new_pod_status: str | None = None
    new_pod_name: str | None = None
    new_pod_uid: str | None = None
    restart_count: int | None = None
    healthy: bool = False
    failing: bool = False  # the target is gone or crashing again: not_healed at once
    message: str = ""
    started_at: float | None = None  # epoch seconds of the write's outcome
    healthy_since: float | None = None
    waited_seconds: float = 0.0
    resize: list[ResizeLook] | None = None  # only after an in-place resize (else left out)
    evidence: list[str] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _resize_only_when_resized(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        body: dict[str, Any] = dump(self)
        if body.get("resize") is None:
            body.pop("resize", None)
        return body


class SafetyCheck(BaseModel):
    model_config = _CLOSED

    name: str
    passed: bool
    detail: str = ""
    scope: str | None = None


class HealResult(ToolResult):
    action_taken: str | None = None
    pod_name: str | None = None
    namespace: str | None = None
    target: dict[str, str] | None = None  # kind, namespace, name (and uid)
    reason: str | None = None
    dry_run: bool = False
    timestamp: str | None = None
    verification: Verification | None = None
    # Free-form by design: the rule decision (policies.Decision.to_dict()).
    decision: dict[str, Any] | None = None
    approval_id: str | None = None
    approver: str | None = None
    # Free-form by design: read-only actions say what to look at next.
    findings: dict[str, Any] | None = None
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
    cluster: str | None = None  # the plan's cluster when the server serves several
    action: str | None = None
    target: dict[str, str] | None = None
    pod: dict[str, str] | None = None
    workload: str | None = None
    # Free-form by design: what the action's write needs (differs per action).
    parameters: dict[str, Any] = Field(default_factory=dict)
    # Free-form by design: the facts re-read before the write (pod uid, versions, ...).
    facts: dict[str, Any] = Field(default_factory=dict)
    risk: str | None = None
    requires_approval: bool = False
    writes: bool = False
    # Failed safety checks (besides the approval): executing this plan is refused.
    blocked_by: list[SafetyCheck] = Field(default_factory=list)
    reason: str | None = None
    issue_type: str | None = None
    # Free-form by design: the rule decision (policies.Decision.to_dict()).
    decision: dict[str, Any] | None = None
    created_at: float | None = None  # epoch seconds

    @model_serializer(mode="wrap")
    def _cluster_only_when_several(self, dump: SerializerFunctionWrapHandler) -> dict[str, Any]:
        body: dict[str, Any] = dump(self)
        if body.get("cluster") is None:
            body.pop("cluster", None)  # one cluster: the plan's format has no `cluster`
        return body


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
    model_config = _CLOSED

    namespace: str
    pod_name: str
    issue_type: str
    # The top controller of the pod's owner chain (a bare pod: kind Pod, its own name).
    workload: WorkloadRef
    phase: str | None = None
    restart_count: int = 0
    # The nearest owner as the pod names it (a Deployment's pod: its ReplicaSet).
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


class ResourceRightsizing(BaseModel):
    """One resource of a container: bytes for memory, millicores for CPU."""

    model_config = _CLOSED

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
    model_config = _CLOSED

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


class SamplerFacts(BaseModel):
    """The usage sampler behind the recommendations, or why there is none."""

    model_config = _CLOSED

    running: bool
    available: bool | None = None  # metrics.k8s.io answers (None: no round yet)
    interval_seconds: float | None = None
    window_seconds: float | None = None
    rounds: int | None = None
    message: str | None = None

    @model_serializer(mode="wrap")
    def _only_running_and_why_without_one(
        self, dump: SerializerFunctionWrapHandler
    ) -> dict[str, Any]:
        body: dict[str, Any] = dump(self)
        if not self.running:  # no sampler: nothing to count, only why
            return {"running": False, "message": body.get("message")}
        return body


class RightsizingTotals(BaseModel):
    """What the recommendations would free or need in total."""

    model_config = _CLOSED

    containers: int = 0
    by_verdict: dict[str, int] = Field(default_factory=dict)  # verdict -> containers
    memory_freed_bytes: int = 0
    memory_needed_bytes: int = 0
    memory_net_bytes: int = 0
    cpu_freed_millicores: int = 0
    cpu_needed_millicores: int = 0
    cpu_net_millicores: int = 0


class RightsizingResult(ToolResult):
    namespace: str | None = None
    sampler: SamplerFacts | None = None
    settings: RightsizingPolicy | None = None  # the policy's rightsizing settings in force
    containers: list[ContainerRightsizing] = Field(default_factory=list)
    totals: RightsizingTotals | None = None
    source: str = "cache"  # cache, or list (no pod cache: one pod list, no usage)
