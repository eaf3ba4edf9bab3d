"""Facts read off a diagnosis, shared by the rules and the safety checks."""

from __future__ import annotations

from typing import Any, NamedTuple

from policies.diagnosis import Diagnosis, Issue, IssueType, WorkloadInfo

IMAGE_PULL_TYPES = frozenset(
    {IssueType.IMAGE_PULL_BACKOFF, IssueType.ERR_IMAGE_PULL, IssueType.INVALID_IMAGE_NAME}
)
# Crashes that a restart cannot fix: the pod spec or its references are wrong.
CONFIG_PROBLEM_TYPES = frozenset(
    {
        IssueType.CREATE_CONTAINER_CONFIG_ERROR,
        IssueType.MISSING_CONFIG_REF,
        IssueType.LIVENESS_PROBE_FAILED,
        IssueType.PROBE_MISCONFIGURED,
    }
)
PENDING_TYPES = frozenset({IssueType.PENDING, IssueType.UNBOUND_PVC})
MEMORY_PATCHABLE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
# Workloads with a revision history to return to: a Deployment's ReplicaSets, a StatefulSet's
# or DaemonSet's ControllerRevisions (`kubectl rollout undo` works on all three).
ROLLBACK_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
OOM_REASON = "OOMKilled"


def workload_key(diagnosis: Diagnosis) -> str:
    """The rate-limit key: the top controller ("Deployment/web"), or "Pod/<name>" if bare."""
    workload = diagnosis.workload
    if workload is None:
        return f"Pod/{diagnosis.pod_name}"
    return f"{workload.kind}/{workload.name}"


def has_oom_evidence(diagnosis: Diagnosis) -> bool:
    for issue in diagnosis.issues:
        if (
            issue.type == IssueType.OOM_KILLED
            or issue.reason == OOM_REASON
            or issue.last_termination_reason == OOM_REASON
        ):
            return True
    return False


def is_evicted(diagnosis: Diagnosis) -> bool:
    if any(issue.type == IssueType.EVICTED for issue in diagnosis.issues):
        return True
    return diagnosis.status.get("reason") == "Evicted"


def crash_restarts(diagnosis: Diagnosis) -> int:
    """The highest restart count among the crash-looping containers (0 if none)."""
    counts = [i.restart_count for i in diagnosis.issues if i.type == IssueType.CRASH_LOOP]
    return max(counts, default=0)


# Issue types that mean the pod is not serving, whatever its conditions say.
NOT_SERVING_TYPES = (
    frozenset({IssueType.CRASH_LOOP, IssueType.OOM_KILLED, IssueType.EVICTED, IssueType.NOT_READY})
    | IMAGE_PULL_TYPES
    | PENDING_TYPES
    | frozenset({IssueType.CREATE_CONTAINER_CONFIG_ERROR, IssueType.MISSING_CONFIG_REF})
)


def pod_is_ready(diagnosis: Diagnosis) -> bool:
    """Whether deleting the pod would take away a serving replica.

    The Ready condition decides when the diagnosis carries it; otherwise a pod with a
    not-serving issue counts as not ready, and anything else as ready (unknown must not make
    a deletion look harmless).
    """
    return _ready(diagnosis, diagnosis.issue_types)


def _ready(diagnosis: Diagnosis, types: frozenset[str] | set[str]) -> bool:
    return _ready_from(diagnosis.status, types)


def _ready_from(status: dict[str, Any], types: frozenset[str] | set[str]) -> bool:
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        for condition in conditions:
            if isinstance(condition, dict) and condition.get("type") == "Ready":
                return str(condition.get("status")) == "True"
    return not (types & NOT_SERVING_TYPES)


class Facts(NamedTuple):
    """What the rules and checks read off a diagnosis, computed in one pass over it.

    The diagnosis fields the rules and checks use are read here once: a pydantic model's
    attribute access costs several times a plain one, and decide() runs on a hot path.
    """

    types: frozenset[str]
    oom: bool  # OOMKilled now or as a container's last termination reason
    evicted: bool
    restarts: int  # highest restart count among crash-looping containers
    ready: bool  # see pod_is_ready
    key: str  # workload_key
    success: bool
    namespace: str
    pod_name: str
    issues: list[Issue]
    workload: WorkloadInfo | None


def facts_of(diagnosis: Diagnosis) -> Facts:
    issues = diagnosis.issues
    types: set[str] = set()
    oom = False
    restarts = 0
    for issue in issues:
        kind = issue.type
        types.add(kind)
        if kind == IssueType.CRASH_LOOP:
            count = issue.restart_count
            if count > restarts:
                restarts = count
        if not oom and (
            kind == IssueType.OOM_KILLED
            or issue.reason == OOM_REASON
            or issue.last_termination_reason == OOM_REASON
        ):
            oom = True
    frozen = frozenset(types)
    status = diagnosis.status
    evicted = IssueType.EVICTED in frozen or status.get("reason") == "Evicted"
    pod_name = diagnosis.pod_name
    workload = diagnosis.workload
    key = f"Pod/{pod_name}" if workload is None else f"{workload.kind}/{workload.name}"
    return Facts(
        frozen,
        oom,
        evicted,
        restarts,
        _ready_from(status, frozen),
        key,
        diagnosis.success,
        diagnosis.namespace,
        pod_name,
        issues,
        workload,
    )
