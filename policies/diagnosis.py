"""The diagnosis: what the MCP server's `diagnose_pod` found, as the rule engine reads it.

This is the contract between the diagnostics (mcp_server) and the rules (policies). It is
shaped like the `diagnose_pod` output of the original specification (`issues` with
`severity`, `type`, `container`, `message`, `restart_count`) plus the cluster facts a careful
SRE looks at before acting: the owner chain, the rollout history, resources, scheduling and
image-pull classification, disruption budgets and LimitRanges.

Every field has a safe default so that a sparse diagnosis (e.g. one written by hand in a test
or sent by an untrusted MCP client) still validates; a missing fact never makes the rules
*more* permissive (see policies.decide).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "warning", "info"]


class IssueType:
    """The closed set of issue types the diagnostics emit (strings, so JSON stays plain)."""

    CRASH_LOOP = "CrashLoopBackOff"
    OOM_KILLED = "OOMKilled"
    IMAGE_PULL_BACKOFF = "ImagePullBackOff"
    ERR_IMAGE_PULL = "ErrImagePull"
    INVALID_IMAGE_NAME = "InvalidImageName"
    PENDING = "Pending"  # unschedulable; see Diagnosis.scheduling for why
    UNBOUND_PVC = "UnboundPVC"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"  # missing ConfigMap/Secret key
    MISSING_CONFIG_REF = "MissingConfigRef"  # a referenced ConfigMap/Secret/PVC does not exist
    LIVENESS_PROBE_FAILED = "LivenessProbeFailed"
    READINESS_PROBE_FAILED = "ReadinessProbeFailed"
    PROBE_MISCONFIGURED = "ProbeMisconfigured"
    EVICTED = "Evicted"
    HIGH_RESTART_COUNT = "HighRestartCount"  # restarted before, not crashing now
    CONTAINER_ERROR = "Error"  # terminated with a non-zero exit, not (yet) in back-off
    HIGH_MEMORY_USAGE = "HighMemoryUsage"
    HIGH_CPU_USAGE = "HighCPUUsage"
    NO_RESOURCE_LIMITS = "NoResourceLimits"
    LOG_ERRORS = "LogErrors"
    NOT_READY = "NotReady"
    # Not killed yet: the working set grows at a pace that reaches the limit within the
    # policy's `memory.predict_horizon_minutes` (see ContainerResources.memory_trend).
    PREDICTED_OOM = "PredictedOOM"
    # The pod's owner or surroundings (docs/decision-table.md): none of them is cured by
    # deleting the pod or touching the object named, so the rules hand each to a human.
    JOB_FAILED = "JobFailed"  # the Job's Failed condition (BackoffLimitExceeded, deadline)
    CRONJOB_FAILING = "CronJobFailing"  # missed schedules, failing runs, suspended
    STATEFULSET_ROLLOUT_STUCK = "StatefulSetRolloutStuck"  # an ordinal holds the rollout
    DAEMONSET_PODS_MISSING = "DaemonSetPodsMissing"  # nodes without a ready daemon pod
    SERVICE_NO_READY_ENDPOINTS = "ServiceNoReadyEndpoints"  # a Service selecting the pod
    PVC_PENDING = "PVCPending"  # the pod waits for a claim that does not bind
    NODE_NOT_READY = "NodeNotReady"  # the pod's node stopped reporting (Ready Unknown/False)

    ALL: frozenset[str] = frozenset(
        {
            CRASH_LOOP,
            OOM_KILLED,
            IMAGE_PULL_BACKOFF,
            ERR_IMAGE_PULL,
            INVALID_IMAGE_NAME,
            PENDING,
            UNBOUND_PVC,
            CREATE_CONTAINER_CONFIG_ERROR,
            MISSING_CONFIG_REF,
            LIVENESS_PROBE_FAILED,
            READINESS_PROBE_FAILED,
            PROBE_MISCONFIGURED,
            EVICTED,
            HIGH_RESTART_COUNT,
            CONTAINER_ERROR,
            HIGH_MEMORY_USAGE,
            HIGH_CPU_USAGE,
            NO_RESOURCE_LIMITS,
            LOG_ERRORS,
            NOT_READY,
            PREDICTED_OOM,
            JOB_FAILED,
            CRONJOB_FAILING,
            STATEFULSET_ROLLOUT_STUCK,
            DAEMONSET_PODS_MISSING,
            SERVICE_NO_READY_ENDPOINTS,
            PVC_PENDING,
            NODE_NOT_READY,
        }
    )


class _Model(BaseModel):
    # Unknown fields are kept (the spec allows adding fields) but never trusted by the rules.
    model_config = ConfigDict(extra="allow", frozen=False)


class Issue(_Model):
    severity: Severity = "warning"
    type: str
    container: str | None = None
    message: str = ""
    restart_count: int = Field(default=0, ge=0)
    reason: str | None = None  # e.g. the waiting/terminated reason as the kubelet reported it
    exit_code: int | None = None
    last_termination_reason: str | None = None  # e.g. "OOMKilled" for a crashing container


class OwnerRef(_Model):
    kind: str
    name: str
    uid: str | None = None


class RolloutInfo(_Model):
    """The owning Deployment's rollout history, as far as the diagnosis could resolve it."""

    current_revision: int | None = None
    previous_revision: int | None = None
    # The template changed in the latest rollout (a new ReplicaSet), and how.
    image_changed_in_latest_rollout: bool = False
    previous_images: dict[str, str] = Field(default_factory=dict)  # container -> image
    current_images: dict[str, str] = Field(default_factory=dict)
    # The previous revision's ReplicaSet ran Ready pods (it is a known-good target to return to).
    previous_revision_healthy: bool = False
    # The failures began after the latest rollout started (the crash is new with this revision).
    failure_began_with_latest_rollout: bool = False
    latest_rollout_at: str | None = None  # RFC 3339


class WorkloadInfo(_Model):
    """The controller at the top of the owner chain (Pod -> ReplicaSet -> Deployment)."""

    kind: str  # Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ...
    name: str
    replicas: int = Field(default=0, ge=0)
    ready_replicas: int = Field(default=0, ge=0)
    available_replicas: int = Field(default=0, ge=0)
    max_unavailable: int | None = Field(default=None, ge=0)  # resolved from the strategy
    # From a PodDisruptionBudget selecting these pods: how many may be disrupted right now.
    pdb_name: str | None = None
    pdb_disruptions_allowed: int | None = Field(default=None, ge=0)
    # Every budget selecting the pod has currentHealthy >= desiredHealthy. Kubernetes' eviction
    # (unhealthyPodEvictionPolicy IfHealthyBudget, the default) lets even an unhealthy pod go
    # only then. None: unknown, or no budget.
    pdb_healthy_budget_met: bool | None = None
    rollout: RolloutInfo = Field(default_factory=RolloutInfo)


class MemoryTrendInfo(_Model):
    """A container's working set over the server's usage samples (its latest run)."""

    samples: int = Field(default=0, ge=0)
    span_minutes: float = Field(default=0.0, ge=0)
    shape: Literal["flat", "linear", "decelerating"] = "flat"
    rate_mib_per_minute: float = 0.0
    usage_bytes: int = Field(default=0, ge=0)
    peak_bytes: int = Field(default=0, ge=0)
    limit_bytes: int | None = Field(default=None, ge=0)
    minutes_to_limit: float | None = Field(default=None, ge=0)
    projected_bytes: int | None = Field(default=None, ge=0)  # usage by the end of the horizon
    leak: bool = False  # reaches the limit within the horizon at this pace


class ContainerResources(_Model):
    """One container's resources; quantities as plain numbers (bytes, millicores)."""

    name: str
    memory_request_bytes: int | None = Field(default=None, ge=0)
    memory_limit_bytes: int | None = Field(default=None, ge=0)
    memory_usage_bytes: int | None = Field(default=None, ge=0)  # now, from metrics.k8s.io
    # The highest working set the server's usage samples saw (any run of this pod), if known.
    memory_peak_bytes: int | None = Field(default=None, ge=0)
    # The trend of the latest run (before an OOM kill: the run that ended in it), if sampled.
    memory_trend: MemoryTrendInfo | None = None
    cpu_request_millicores: int | None = Field(default=None, ge=0)
    cpu_limit_millicores: int | None = Field(default=None, ge=0)
    cpu_usage_millicores: int | None = Field(default=None, ge=0)


class NodeCapacity(_Model):
    name: str
    allocatable_cpu_millicores: int = Field(ge=0)
    allocatable_memory_bytes: int = Field(ge=0)


class SchedulingInfo(_Model):
    """Why a Pending pod does not schedule (from FailedScheduling events and the nodes)."""

    message: str | None = None  # the scheduler's "0/N nodes are available: ..." message
    insufficient: list[Literal["cpu", "memory"]] = Field(default_factory=list)
    other_reasons: list[str] = Field(default_factory=list)  # taints, affinity, unbound PVC, ...
    request_cpu_millicores: int = Field(default=0, ge=0)  # the pod's total requests
    request_memory_bytes: int = Field(default=0, ge=0)
    nodes: list[NodeCapacity] = Field(default_factory=list)
    # False when no node's allocatable (empty) could ever hold the request; None if unknown.
    fits_any_node: bool | None = None


ImagePullErrorClass = Literal["not_found", "unauthorized", "network", "invalid_name", "unknown"]


class ImagePullInfo(_Model):
    container: str
    image: str
    error_class: ImagePullErrorClass = "unknown"
    message: str | None = None


class JobInfo(_Model):
    """The pod's Job: its outcome and the failing pod's evidence."""

    name: str
    failed: bool = False
    complete: bool = False
    reason: str | None = None  # the Failed condition's reason, e.g. BackoffLimitExceeded
    message: str | None = None
    backoff_limit: int | None = None
    pods_failed: int = Field(default=0, ge=0)
    pods_succeeded: int = Field(default=0, ge=0)
    pods_active: int = Field(default=0, ge=0)
    restart_policy: str | None = None
    container: str | None = None  # the failing container of the diagnosed pod
    exit_code: int | None = None
    termination_reason: str | None = None
    last_log_lines: list[str] = Field(default_factory=list)  # redacted
    cronjob: str | None = None  # the controlling CronJob, if any


class CronJobInfo(_Model):
    """The Job's CronJob: schedule against what ran, and the last runs' outcomes."""

    name: str
    schedule: str = ""
    time_zone: str | None = None
    suspended: bool = False
    concurrency_policy: str | None = None
    last_schedule_time: str | None = None
    last_successful_time: str | None = None
    # The most recent time the schedule was due (known only when the server's clock is).
    last_due_time: str | None = None
    missed_schedules: int = Field(default=0, ge=0)  # due times after lastScheduleTime, up to now
    active_jobs: list[str] = Field(default_factory=list)
    recent_outcomes: list[dict[str, str]] = Field(default_factory=list)  # {job, status}
    missed_events: list[str] = Field(default_factory=list)  # MissSchedule, TooManyMissedTimes


class StatefulSetInfo(_Model):
    name: str
    replicas: int = Field(default=0, ge=0)
    ready_replicas: int = Field(default=0, ge=0)
    updated_replicas: int = Field(default=0, ge=0)
    current_revision: str | None = None
    update_revision: str | None = None
    pod_ordinal: int | None = None
    pod_revision: str | None = None
    pod_management_policy: str | None = None
    stuck: bool = False
    why: str | None = None  # the stuck ordinal's own issue


class NodeGap(_Model):
    node: str
    reason: str


class DaemonSetInfo(_Model):
    name: str
    desired: int = Field(default=0, ge=0)
    current: int = Field(default=0, ge=0)
    ready: int = Field(default=0, ge=0)
    updated: int = Field(default=0, ge=0)
    misscheduled: int = Field(default=0, ge=0)
    nodes_read: bool = False  # whether `nodes_without_pod` could be worked out
    nodes_without_pod: list[NodeGap] = Field(default_factory=list)


class ServiceInfo(_Model):
    name: str
    selects_pod: bool = False
    ready_endpoints: int = Field(default=0, ge=0)
    not_ready_endpoints: int = Field(default=0, ge=0)
    # The pod's own endpoint: True ready, False not ready, None not in the slices.
    pod_ready: bool | None = None


class ClaimInfo(_Model):
    name: str
    phase: str | None = None
    storage_class: str | None = None
    provisioner: str | None = None
    requested: str | None = None
    events: list[str] = Field(default_factory=list)  # "Reason: message", redacted


class NodeInfo(_Model):
    name: str
    ready: str | None = None  # the Ready condition's status: True, False, Unknown
    reason: str | None = None
    message: str | None = None
    unschedulable: bool = False
    taints: list[str] = Field(default_factory=list)  # key=value:Effect
    pressure: list[str] = Field(default_factory=list)  # MemoryPressure, DiskPressure, ...


class Diagnosis(_Model):
    """What `diagnose_pod` returns, and what `policies.decide` reads."""

    success: bool = True
    namespace: str
    pod_name: str
    pod_uid: str | None = None
    status: dict[str, Any] = Field(default_factory=dict)  # phase, conditions, container_statuses
    phase: str | None = None
    issues: list[Issue] = Field(default_factory=list)
    owner_chain: list[OwnerRef] = Field(default_factory=list)  # nearest owner first
    workload: WorkloadInfo | None = None  # None: a bare pod, no controller
    resources: list[ContainerResources] = Field(default_factory=list)
    metrics_available: bool = False
    # The smallest `max` memory that a LimitRange in the namespace allows a container, if any.
    limit_range_max_memory_bytes: int | None = Field(default=None, ge=0)
    scheduling: SchedulingInfo | None = None
    image_pull: list[ImagePullInfo] = Field(default_factory=list)
    logs: dict[str, Any] = Field(default_factory=dict)  # {"errors": [...], "warnings": [...]}
    events: list[dict[str, Any]] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    # The owner and surroundings read for the kinds that make pods fail (each None or empty
    # when not read; docs/mcp-server.md lists which reads a pod's kind gets).
    job: JobInfo | None = None
    cronjob: CronJobInfo | None = None
    statefulset: StatefulSetInfo | None = None
    daemonset: DaemonSetInfo | None = None
    services: list[ServiceInfo] = Field(default_factory=list)
    claims: list[ClaimInfo] = Field(default_factory=list)
    node: NodeInfo | None = None

    @property
    def issue_types(self) -> set[str]:
        return {issue.type for issue in self.issues}

    @property
    def managed(self) -> bool:
        return self.workload is not None
