"""The typed contract between the MCP tool server and its clients: one pydantic model per
tool result, published by the server as the tool's output schema and used by the agent to
parse each structured result once. Imports only `policies` (the diagnosis' own models) and
pydantic; every room that speaks MCP may import it."""

from kubemedic_contract.diagnosis import DiagnosisBody
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
    ResizeLook,
    ResourceRightsizing,
    ResourceUsageResult,
    RightsizingResult,
    RollbackResult,
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
    "DiagnosisBody",
    "ErrorInfo",
    "HealResult",
    "ListUnhealthyResult",
    "LogErrorEntry",
    "PlanResult",
    "ResizeLook",
    "ResourceRightsizing",
    "ResourceUsageResult",
    "RightsizingResult",
    "RollbackResult",
    "ToolResult",
    "UnhealthyPodInfo",
    "Usage",
    "Verification",
    "WorkloadRef",
]
