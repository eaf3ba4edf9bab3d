"""Compose every diagnostic into the `Diagnosis` that `diagnose_pod` returns and the rules read.

Pure: the caller (the gateway side of the server) fetches the objects and hands them in; any
input may be missing, and a missing input only ever removes facts from the diagnosis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from policies.diagnosis import (
    ContainerResources,
    Diagnosis,
    ImagePullInfo,
    Issue,
    IssueType,
    OwnerRef,
    SchedulingInfo,
    WorkloadInfo,
)
from policies.memory_trend import MemorySample

from ..redaction import redact
from . import advice
from ._obj import Obj, clip, lst, m, s
from .config import ConfigExistence, config_findings, limit_range_max_memory
from .events import (
    event_issues,
    first_failure_event_at,
    image_pull_info,
    pod_events,
    scheduling_info,
    summarize_events,
)
from .logs import LogAnalysis, analyze_log_text
from .owners import workload_info
from .pod_status import (
    condition_summary,
    container_status_summary,
    first_failure_at,
    health_score,
    pod_issues,
)
from .resources import (
    apply_memory_history,
    container_resources,
    format_cpu,
    format_memory,
    usage_issues,
)

MAX_LOG_ENTRIES = 50

LogsInput = Mapping[str, str] | str | None


def _per_container(pod: Obj, logs: LogsInput) -> dict[str, str]:
    """Normalise logs to {container: text}; a bare string belongs to the first container."""
    if logs is None:
        return {}
    if isinstance(logs, str):
        first = next((s(c, "name") for c in lst(pod, "spec", "containers")), None)
        return {first or "": logs}
    return {str(k): v for k, v in logs.items() if isinstance(v, str)}


class _LogFindings(NamedTuple):
    section: dict[str, Any]
    issues: list[Issue]
    advice: list[str]


def _log_section(pod: Obj, logs_current: LogsInput, logs_previous: LogsInput) -> _LogFindings:
    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    patterns: dict[str, int] = {}
    per_container: dict[str, dict[str, Any]] = {}
    analyses: list[tuple[str, str, LogAnalysis]] = []
    for source, logs in (("previous", logs_previous), ("current", logs_current)):
        for container, text in _per_container(pod, logs).items():
            analyses.append((container, source, analyze_log_text(text, container=container)))
    issues: list[Issue] = []
    recommendations: list[str] = []
    for container, source, analysis in analyses:
        per_container.setdefault(container, {})[source] = {
            "total_lines": analysis.total_lines,
            "error_count": analysis.error_count,
            "warning_count": analysis.warning_count,
            "error_patterns": analysis.error_patterns,
        }
        for entry in analysis.errors:
            errors.append({**entry.model_dump(), "container": container, "source": source})
        for entry in analysis.warnings:
            warnings.append({**entry.model_dump(), "container": container, "source": source})
        for name, count in analysis.error_patterns.items():
            patterns[name] = patterns.get(name, 0) + count
        recommendations = advice.merge(recommendations, analysis.recommendations)
        if analysis.error_count:
            top = ", ".join(f"{k} ({v})" for k, v in list(analysis.error_patterns.items())[:4])
            issues.append(
                Issue(
                    severity="info",
                    type=IssueType.LOG_ERRORS,
                    container=container or None,
                    message=clip(
                        f"{analysis.error_count} error lines in the {source} logs of "
                        f"{container or 'the container'}: {top}",
                        500,
                    ),
                )
            )
    section: dict[str, Any] = {
        "errors": errors[:MAX_LOG_ENTRIES],
        "warnings": warnings[:MAX_LOG_ENTRIES],
        "error_patterns": dict(sorted(patterns.items(), key=lambda kv: (-kv[1], kv[0]))),
        "containers": per_container,
        "truncated": len(errors) > MAX_LOG_ENTRIES or len(warnings) > MAX_LOG_ENTRIES,
    }
    return _LogFindings(section, issues, recommendations)


def _image_advice(pulls: Iterable[ImagePullInfo]) -> list[str]:
    out: list[str] = []
    for p in pulls:
        if p.error_class == "not_found":
            out.append(f"Image {p.image} does not exist in its registry: fix the tag or push it")
        elif p.error_class == "unauthorized":
            out.append(
                f"The registry refused to serve {p.image}: check imagePullSecrets and "
                "the credentials' access to the repository"
            )
        elif p.error_class == "network":
            out.append(
                f"The registry of {p.image} is unreachable from the node: check DNS, "
                "egress and proxy settings"
            )
        elif p.error_class == "invalid_name":
            out.append(f"{p.image} is not a valid image reference: fix its spelling")
    return out


def _scheduling_advice(sched: SchedulingInfo | None) -> list[str]:
    if sched is None:
        return []
    out: list[str] = []
    request = (
        f"{format_cpu(sched.request_cpu_millicores)} CPU, "
        f"{format_memory(sched.request_memory_bytes)} memory"
    )
    if sched.fits_any_node is False:
        out.append(
            f"No node is large enough for the pod's requests ({request}): lower the requests "
            "or add larger nodes"
        )
    elif sched.insufficient:
        out.append(
            f"The cluster lacks free {' and '.join(sched.insufficient)} for {request}: scale "
            "down other workloads, lower the requests, or add nodes"
        )
    for reason in sched.other_reasons:
        low = reason.lower()
        if "taint" in low:
            out.append(f"{reason}: add a toleration or use nodes without the taint")
        elif "affinity" in low or "selector" in low:
            out.append(f"{reason}: check nodeSelector and affinity rules against node labels")
        elif "persistentvolumeclaim" in low:
            out.append("Check the pending PersistentVolumeClaim and its StorageClass")
    return out


def _dedupe(issues: Iterable[Issue]) -> list[Issue]:
    """Drop repeats. A missing object is reported once, in the place it was first named, with
    the spec's wording ("used by env X of container Y") when the config check found it too."""
    index: dict[tuple[str, str | None, str], int] = {}
    out: list[Issue] = []
    for issue in issues:
        extra = issue.model_extra or {}
        key: tuple[str, str | None, str]
        if issue.type == IssueType.MISSING_CONFIG_REF and extra.get("ref_name"):
            key = (issue.type, str(extra.get("ref_kind")), str(extra.get("ref_name")))
        else:
            key = (issue.type, issue.container, issue.message)
        if key not in index:
            index[key] = len(out)
            out.append(issue)
        elif "(used by " in issue.message and "(used by " not in out[index[key]].message:
            out[index[key]] = issue
    return out


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


@dataclass
class _PodFindings:
    """What the pod's own status, events, config, usage and logs show."""

    issues: list[Issue]
    resources: list[ContainerResources]
    logs: _LogFindings
    config_advice: list[str]


def _pod_findings(
    pod: Obj,
    own_events: Sequence[Obj],
    config: ConfigExistence | None,
    resources: list[ContainerResources],
    memory_history: Mapping[str, Sequence[MemorySample]] | None,
    horizon_minutes: float,
    logs: _LogFindings,
) -> _PodFindings:
    found_config = config_findings(pod, config)
    issues = [
        *pod_issues(pod),
        *event_issues(pod, own_events),
        *found_config.issues,
        *usage_issues(resources),
        # Fills each container's observed peak and trend (after the usage check, as ever).
        *apply_memory_history(resources, memory_history, horizon_minutes=horizon_minutes),
        *logs.issues,
    ]
    return _PodFindings(_dedupe(issues), resources, logs, found_config.recommendations)


@dataclass
class _Surroundings:
    """Where the pod stands: its owners, its scheduling and its image pulls."""

    chain: list[OwnerRef]
    workload: WorkloadInfo | None
    scheduling: SchedulingInfo | None
    image_pull: list[ImagePullInfo]


def _surroundings(
    pod: Obj,
    own_events: Sequence[Obj],
    nodes: Sequence[Obj] | None,
    owners: Sequence[Obj],
    replicasets: Sequence[Obj],
    controller_revisions: Sequence[Obj],
    pdbs: Sequence[Obj],
    pods: Sequence[Obj],
) -> _Surroundings:
    sched = scheduling_info(pod, own_events, nodes)
    pulls = image_pull_info(pod, own_events)
    failed_at = _earliest(first_failure_at(pod), first_failure_event_at(own_events))
    chain, workload = workload_info(
        pod,
        owners,
        replicasets=replicasets,
        controller_revisions=controller_revisions,
        pdbs=pdbs,
        pods=pods,
        first_failure_at=failed_at,
    )
    return _Surroundings(chain, workload, sched, pulls)


def _recommendations(found: _PodFindings, where: _Surroundings) -> list[str]:
    recommendations = advice.merge(
        _image_advice(where.image_pull),
        _scheduling_advice(where.scheduling),
        advice.recommendations_for(found.issues),
        found.config_advice,
        found.logs.advice,
    )
    _advise_rollback(recommendations, where.workload)
    return recommendations


def _advise_rollback(recommendations: list[str], workload: WorkloadInfo | None) -> None:
    """Put "consider rolling back" first when the failure began with a rollout whose previous
    revision ran healthy."""
    if workload is None or not workload.rollout.failure_began_with_latest_rollout:
        return
    rollout = workload.rollout
    if rollout.previous_revision is not None and rollout.previous_revision_healthy:
        recommendations.insert(
            0,
            f"The failure began with revision {rollout.current_revision}; revision "
            f"{rollout.previous_revision} ran healthy: consider rolling back",
        )


def _status_summary(pod: Obj) -> dict[str, Any]:
    status = m(pod, "status")
    summary: dict[str, Any] = {
        "phase": s(status, "phase"),
        "conditions": condition_summary(pod),
        "container_statuses": container_status_summary(pod),
    }
    for key, field in (
        ("reason", "reason"),
        ("message", "message"),
        ("qos_class", "qosClass"),
        ("start_time", "startTime"),
    ):
        value = s(status, field)
        if value:
            summary[key] = clip(redact(value), 500) if key == "message" else value
    node = s(pod, "spec", "nodeName")
    if node:
        summary["node"] = node
    return summary


def build_diagnosis(
    pod: Obj,
    *,
    events: Sequence[Obj] = (),
    logs_current: LogsInput = None,
    logs_previous: LogsInput = None,
    pod_metrics: Obj | None = None,
    metrics_available: bool = False,
    owners: Sequence[Obj] = (),
    replicasets: Sequence[Obj] = (),
    controller_revisions: Sequence[Obj] = (),
    pdbs: Sequence[Obj] = (),
    nodes: Sequence[Obj] | None = None,
    config: ConfigExistence | None = None,
    limit_ranges: Sequence[Obj] = (),
    pods: Sequence[Obj] = (),
    memory_history: Mapping[str, Sequence[MemorySample]] | None = None,
    predict_horizon_minutes: float = 30.0,
) -> Diagnosis:
    """The full diagnosis of one pod from the objects the caller fetched.

    events: Events in the pod's namespace (filtered here to the pod). logs_*: {container: text}
    (or one text for a single-container pod). owners: the pod's controllers (its ReplicaSet,
    Deployment, StatefulSet...). replicasets: the Deployment's ReplicaSets (rollout history).
    controller_revisions: a StatefulSet's or DaemonSet's ControllerRevisions (its rollout
    history). pods: sibling pods of the workload (to tell whether an old revision ran). nodes:
    for whether a Pending pod could fit anywhere. config: which ConfigMaps/Secrets/PVCs exist.
    memory_history: {container: memory samples of this pod} from the server's usage sampler
    (observed peaks, memory trends, PredictedOOM within `predict_horizon_minutes`).
    """
    own_events = pod_events(pod, events)
    resources = container_resources(pod, pod_metrics if metrics_available else None)
    logs = _log_section(pod, logs_current, logs_previous)
    found = _pod_findings(
        pod, own_events, config, resources, memory_history, predict_horizon_minutes, logs
    )
    where = _surroundings(
        pod, own_events, nodes, owners, replicasets, controller_revisions, pdbs, pods
    )
    diagnosis = Diagnosis(
        namespace=s(pod, "metadata", "namespace") or "",
        pod_name=s(pod, "metadata", "name") or "",
        pod_uid=s(pod, "metadata", "uid"),
        status=_status_summary(pod),
        phase=s(pod, "status", "phase"),
        issues=found.issues,
        owner_chain=where.chain,
        workload=where.workload,
        resources=found.resources,
        metrics_available=bool(metrics_available and pod_metrics),
        limit_range_max_memory_bytes=limit_range_max_memory(limit_ranges),
        scheduling=where.scheduling,
        image_pull=where.image_pull,
        logs=found.logs.section,
        events=summarize_events(own_events),
        recommendations=_recommendations(found, where),
    )
    # An added field (the spec allows them): the score the pod_health_score gauge exports.
    diagnosis.health_score = health_score(pod, found.issues)  # type: ignore[attr-defined]
    return diagnosis


# Most decisive first, in the order the rules consider them.
_UNHEALTHY_ORDER: tuple[str, ...] = (
    IssueType.EVICTED,
    IssueType.UNBOUND_PVC,
    IssueType.PENDING,
    IssueType.INVALID_IMAGE_NAME,
    IssueType.IMAGE_PULL_BACKOFF,
    IssueType.ERR_IMAGE_PULL,
    IssueType.OOM_KILLED,
    IssueType.CREATE_CONTAINER_CONFIG_ERROR,
    IssueType.CRASH_LOOP,
    IssueType.CONTAINER_ERROR,
    IssueType.NOT_READY,
)


def classify_unhealthy(pod: Obj) -> str | None:
    """The pod's main issue type from the pod object alone, or None if it looks healthy.

    Cheap enough for every pod in the watch cache. Pods being deleted, completed pods and
    advisory findings (restarts in the past, a container running again after an OOM kill)
    are not unhealthy.
    """
    if s(pod, "metadata", "deletionTimestamp") or s(pod, "status", "phase") == "Succeeded":
        return None
    issues = [
        issue
        for issue in pod_issues(pod)
        if issue.severity == "critical" or (issue.type in (IssueType.NOT_READY, IssueType.EVICTED))
    ]
    types = {issue.type for issue in issues}
    return next((t for t in _UNHEALTHY_ORDER if t in types), None)
