"""The diagnosis as `diagnose_pod` publishes it: the rule engine's models (policies), closed.

The rules read their models leniently (an unknown field from a hand-written diagnosis is
kept, never trusted); what the server publishes is exact: each model here is the policies
model with `extra="forbid"`, and its nested models are the closed ones too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policies import diagnosis as rules

_CLOSED = ConfigDict(extra="forbid")


class MemoryTrendInfo(rules.MemoryTrendInfo):
    model_config = _CLOSED


class Issue(rules.Issue):
    model_config = _CLOSED

    # A PredictedOOM: when the working set reaches the limit at this pace, and the trend.
    minutes_to_limit: float | None = None
    trend: MemoryTrendInfo | None = None
    # A MissingConfigRef: the ConfigMap, Secret or claim that does not exist.
    ref_kind: str | None = None
    ref_name: str | None = None


class OwnerRef(rules.OwnerRef):
    model_config = _CLOSED


class RolloutInfo(rules.RolloutInfo):
    model_config = _CLOSED


class WorkloadInfo(rules.WorkloadInfo):
    model_config = _CLOSED

    rollout: RolloutInfo = Field(default_factory=RolloutInfo)


class ContainerResources(rules.ContainerResources):
    model_config = _CLOSED

    memory_trend: MemoryTrendInfo | None = None


class NodeCapacity(rules.NodeCapacity):
    model_config = _CLOSED


class SchedulingInfo(rules.SchedulingInfo):
    model_config = _CLOSED

    # A closed element type; the published lists are read, never appended to.
    nodes: list[NodeCapacity] = Field(default_factory=list)  # type: ignore[assignment]


class ImagePullInfo(rules.ImagePullInfo):
    model_config = _CLOSED


class JobInfo(rules.JobInfo):
    model_config = _CLOSED


class CronJobInfo(rules.CronJobInfo):
    model_config = _CLOSED


class StatefulSetInfo(rules.StatefulSetInfo):
    model_config = _CLOSED


class NodeGap(rules.NodeGap):
    model_config = _CLOSED


class DaemonSetInfo(rules.DaemonSetInfo):
    model_config = _CLOSED

    nodes_without_pod: list[NodeGap] = Field(default_factory=list)  # type: ignore[assignment]


class ServiceInfo(rules.ServiceInfo):
    model_config = _CLOSED


class ClaimInfo(rules.ClaimInfo):
    model_config = _CLOSED


class NodeInfo(rules.NodeInfo):
    model_config = _CLOSED


class DiagnosisBody(BaseModel):
    """The fields of `policies.Diagnosis`, closed, plus what the tool adds; optional at the
    top because a failed call's answer (`success: false, error`) has the same schema.
    `policies.Diagnosis.model_validate(result.model_dump())` gives the rules' view."""

    model_config = _CLOSED

    namespace: str | None = None
    pod_name: str | None = None
    pod_uid: str | None = None
    # Free-form by design: phase, conditions and container statuses as the API reports them.
    status: dict[str, Any] = Field(default_factory=dict)
    phase: str | None = None
    issues: list[Issue] = Field(default_factory=list)
    owner_chain: list[OwnerRef] = Field(default_factory=list)  # nearest owner first
    # The top controller with its facts; None for a bare pod (or a failed call).
    workload: WorkloadInfo | None = None
    resources: list[ContainerResources] = Field(default_factory=list)
    metrics_available: bool = False
    limit_range_max_memory_bytes: int | None = Field(default=None, ge=0)
    scheduling: SchedulingInfo | None = None
    image_pull: list[ImagePullInfo] = Field(default_factory=list)
    # Free-form by design: error and warning lines per log read, and why a log was unavailable.
    logs: dict[str, Any] = Field(default_factory=dict)
    # Free-form by design: summarized Kubernetes events.
    events: list[dict[str, Any]] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    job: JobInfo | None = None
    cronjob: CronJobInfo | None = None
    statefulset: StatefulSetInfo | None = None
    daemonset: DaemonSetInfo | None = None
    services: list[ServiceInfo] = Field(default_factory=list)
    claims: list[ClaimInfo] = Field(default_factory=list)
    node: NodeInfo | None = None
    health_score: int | None = None  # what the pod_health_score gauge exports (0..100)
    api_requests: int | None = None  # requests the diagnosis sent (at most five)
    not_fetched: list[str] = Field(default_factory=list)  # reads skipped or unavailable
