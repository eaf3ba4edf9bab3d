"""Tool inputs, validated before any API call, and the failures; the outputs are the
contract's result models (kubemedic_contract), re-exported here.

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

# The results are the contract's (one definition, shared with the agent); re-exported here.
from kubemedic_contract.results import (
    ActionStatusResult,
    AnalyzeLogsResult,
    ContainerRightsizing,
    ContainerUsage,
    DiagnosePodResult,
    ErrorInfo,
    HealResult,
    ListUnhealthyResult,
    LogErrorEntry,
    PlanResult,
    ResourceRightsizing,
    ResourceUsageResult,
    RightsizingResult,
    RollbackResult,
    SafetyCheck,
    ToolResult,
    UnhealthyPodInfo,
    Usage,
    Verification,
)
from kubemedic_contract.workload import WorkloadRef

__all__ = [
    "ActionStatusResult",
    "AnalyzeLogsResult",
    "ContainerRightsizing",
    "ContainerUsage",
    "DiagnosePodResult",
    "ErrorInfo",
    "HealResult",
    "ListUnhealthyResult",
    "LogErrorEntry",
    "PlanResult",
    "ResourceRightsizing",
    "ResourceUsageResult",
    "RightsizingResult",
    "RollbackResult",
    "SafetyCheck",
    "ToolResult",
    "UnhealthyPodInfo",
    "Usage",
    "Verification",
    "WorkloadRef",
]

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
# Right-sizing (get_rightsizing; docs/rightsizing.md)


class RightsizingInput(_Input):
    namespace: Label | None = None
