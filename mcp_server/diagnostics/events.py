"""Events about a pod: a readable summary and what they say about scheduling, image pulls,
probes and mounts.

Accepts core/v1 Events (involvedObject, message, count, first/lastTimestamp) and the
events.k8s.io/v1 shape (regarding, note, series, eventTime) the scheduler now writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from policies.diagnosis import (
    ImagePullErrorClass,
    ImagePullInfo,
    Issue,
    IssueType,
    NodeCapacity,
    SchedulingInfo,
)

from ..redaction import redact
from ._obj import Obj, clip, format_time, i, lst, m, parse_time, s
from .config import missing_from_message, missing_ref_issue
from .resources import cpu_millicores, memory_bytes, pod_requests

MESSAGE_LIMIT = 500
DEFAULT_EVENT_LIMIT = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBERS = re.compile(r"\d+(?:\.\d+)?")
_FIELD_CONTAINER = re.compile(r"spec\.(?:init|ephemeral)?[cC]ontainers\{([^}]{1,253})\}")


def _regarding(event: Obj) -> Obj:
    return m(event, "involvedObject") or m(event, "regarding")


def _message(event: Obj) -> str:
    return s(event, "message") or s(event, "note") or ""


def _count(event: Obj) -> int:
    count = i(event, "count") or i(event, "series", "count") or i(event, "deprecatedCount")
    return max(1, count or 1)


def _first_time(event: Obj) -> datetime | None:
    return (
        parse_time(s(event, "firstTimestamp"))
        or parse_time(s(event, "deprecatedFirstTimestamp"))
        or parse_time(s(event, "eventTime"))
        or parse_time(s(event, "metadata", "creationTimestamp"))
    )


def _last_time(event: Obj) -> datetime | None:
    return (
        parse_time(s(event, "lastTimestamp"))
        or parse_time(s(event, "deprecatedLastTimestamp"))
        or parse_time(s(event, "series", "lastObservedTime"))
        or parse_time(s(event, "eventTime"))
        or _first_time(event)
    )


def event_container(event: Obj) -> str | None:
    """The container an event is about, from its fieldPath ("spec.containers{app}")."""
    match = _FIELD_CONTAINER.search(s(_regarding(event), "fieldPath") or "")
    return match.group(1) if match else None


def pod_events(pod: Obj, events: Iterable[Obj]) -> list[Obj]:
    """The events about this pod (by uid when both sides have one, else by name), oldest first."""
    name = s(pod, "metadata", "name")
    namespace = s(pod, "metadata", "namespace")
    uid = s(pod, "metadata", "uid")
    out: list[Obj] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        ref = _regarding(event)
        if s(ref, "kind") not in (None, "Pod") or s(ref, "name") != name:
            continue
        if namespace and s(ref, "namespace") not in (None, namespace):
            continue
        if uid and s(ref, "uid") and s(ref, "uid") != uid:
            continue  # an earlier pod with the same name
        out.append(event)
    out.sort(key=lambda e: _last_time(e) or _EPOCH)
    return out


def summarize_events(
    events: Iterable[Obj], limit: int = DEFAULT_EVENT_LIMIT
) -> list[dict[str, Any]]:
    """The most recent `limit` events, chronological, repeated ones merged, messages redacted."""
    merged: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}
    for event in events:
        reason = s(event, "reason") or ""
        kind = s(event, "type") or "Normal"
        # Redact the head only: a message past a few KB is cut anyway.
        message = clip(redact(_message(event)[: 4 * MESSAGE_LIMIT]), MESSAGE_LIMIT)
        container = event_container(event)
        # "pulled in 1.2s" and "pulled in 0.9s" are the same event happening again.
        key = (kind, reason, _NUMBERS.sub("#", message), container)
        first, last = _first_time(event), _last_time(event)
        entry = merged.get(key)
        if entry is None:
            merged[key] = {
                "type": kind,
                "reason": reason,
                "message": message,
                "count": _count(event),
                "first_timestamp": first,
                "last_timestamp": last,
                "container": container,
                "source": s(event, "source", "component")
                or s(event, "reportingComponent")
                or s(event, "reportingController"),
            }
            continue
        entry["count"] += _count(event)
        if last and (entry["last_timestamp"] is None or last >= entry["last_timestamp"]):
            entry["message"] = message  # show the latest wording
        if first and (entry["first_timestamp"] is None or first < entry["first_timestamp"]):
            entry["first_timestamp"] = first
        if last and (entry["last_timestamp"] is None or last > entry["last_timestamp"]):
            entry["last_timestamp"] = last
    ordered = sorted(merged.values(), key=lambda e: e["last_timestamp"] or _EPOCH)[-limit:]
    for entry in ordered:
        entry["first_timestamp"] = format_time(entry["first_timestamp"])
        entry["last_timestamp"] = format_time(entry["last_timestamp"])
    return ordered


# -- scheduling -------------------------------------------------------------------------------

_AVAILABLE = re.compile(r"\d+/\d+ nodes are available:\s*(.*)", re.DOTALL)
_COUNTED = re.compile(r"^(\d+)\s+(.*)$")


def parse_scheduler_message(message: str) -> tuple[list[str], list[str]]:
    """("insufficient" resources, other reasons) from a FailedScheduling message."""
    text = message.split(" preemption:", 1)[0].strip()
    match = _AVAILABLE.search(text)
    reasons_text = match.group(1) if match else text
    reasons_text = reasons_text.rstrip(". ")
    insufficient: list[str] = []
    other: list[str] = []
    for raw in re.split(r",\s+|\.\s+", reasons_text):
        part = raw.strip().rstrip(".")
        if not part:
            continue
        counted = _COUNTED.match(part)
        reason = counted.group(2) if counted else part
        low = reason.lower()
        if low == "insufficient cpu":
            if "cpu" not in insufficient:
                insufficient.append("cpu")
        elif low == "insufficient memory":
            if "memory" not in insufficient:
                insufficient.append("memory")
        elif reason not in other:
            other.append(clip(reason, 200))
    return insufficient, other


def node_capacities(nodes: Iterable[Obj]) -> list[NodeCapacity]:
    out: list[NodeCapacity] = []
    for node in nodes:
        name = s(node, "metadata", "name")
        allocatable = m(node, "status", "allocatable")
        cpu = cpu_millicores(allocatable.get("cpu"))
        mem = memory_bytes(allocatable.get("memory"))
        if name and cpu is not None and mem is not None:
            out.append(
                NodeCapacity(
                    name=name, allocatable_cpu_millicores=cpu, allocatable_memory_bytes=mem
                )
            )
    return out


def _unscheduled(pod: Obj) -> tuple[bool, str | None]:
    for cond in lst(pod, "status", "conditions"):
        if s(cond, "type") == "PodScheduled":
            if s(cond, "status") == "False":
                return True, s(cond, "message")
            return False, None
    return not s(pod, "spec", "nodeName") and s(pod, "status", "phase") == "Pending", None


def scheduling_info(
    pod: Obj, events: Sequence[Obj], nodes: Sequence[Obj] | None
) -> SchedulingInfo | None:
    """Why the pod does not schedule; None when it is scheduled (or not known to be stuck)."""
    unscheduled, condition_message = _unscheduled(pod)
    if not unscheduled:
        return None
    failed = [e for e in events if s(e, "reason") == "FailedScheduling"]
    latest = max(failed, key=lambda e: _last_time(e) or _EPOCH) if failed else None
    message = _message(latest) if latest is not None else (condition_message or "")
    insufficient, other = parse_scheduler_message(message) if message else ([], [])
    cpu, mem = pod_requests(pod)
    capacities = node_capacities(nodes or [])
    fits: bool | None = None
    if capacities:
        fits = any(
            cpu <= n.allocatable_cpu_millicores and mem <= n.allocatable_memory_bytes
            for n in capacities
        )
    return SchedulingInfo(
        message=clip(message, MESSAGE_LIMIT) if message else None,
        insufficient=[r for r in ("cpu", "memory") if r in insufficient],
        other_reasons=other,
        request_cpu_millicores=cpu,
        request_memory_bytes=mem,
        nodes=capacities,
        fits_any_node=fits,
    )


# -- image pulls ------------------------------------------------------------------------------

_IMAGE_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
    }
)
_CLASSES: tuple[tuple[ImagePullErrorClass, re.Pattern[str]], ...] = (
    (
        "invalid_name",
        re.compile(
            r"invalid reference format|couldn't parse image|InvalidImageName|"
            r"must be lowercase|invalid image name",
            re.I,
        ),
    ),
    (
        "unauthorized",
        re.compile(
            r"unauthorized|\b401\b|\b403\b|forbidden|authorization failed|"
            r"pull access denied|denied:|authentication required|no basic auth "
            r"credentials|failed to authorize|insufficient_scope",
            re.I,
        ),
    ),
    (
        "not_found",
        re.compile(
            r"not found|manifest unknown|code = NotFound|repository does not exist|"
            r"name unknown|\b404\b",
            re.I,
        ),
    ),
    (
        "network",
        re.compile(
            r"no such host|i/o timeout|connection refused|timeout|TLS handshake|"
            r"network is unreachable|dial tcp|x509|server misbehaving|connection reset|"
            r"\bEOF\b|RegistryUnavailable|no route to host|503 Service",
            re.I,
        ),
    ),
)


def classify_pull_error(message: str, reason: str | None = None) -> ImagePullErrorClass:
    if reason == "InvalidImageName":
        return "invalid_name"
    for name, pattern in _CLASSES:
        if pattern.search(message):
            return name
    if reason == "RegistryUnavailable":
        return "network"
    return "unknown"


def _pull_messages(events: Sequence[Obj], container: str, image: str) -> list[str]:
    """Pull-failure messages for one container, most informative first."""
    found: list[str] = []
    for event in reversed(events):
        if s(event, "reason") not in ("Failed", "ErrImagePull", "InspectFailed", "BackOff"):
            continue
        target = event_container(event)
        text = _message(event)
        if target not in (None, container) or (target is None and image not in text):
            continue
        if text.startswith(("Error: ", "Back-off pulling")):
            continue  # "Error: ErrImagePull" says nothing new
        found.append(text)
    return found


def image_pull_info(pod: Obj, events: Sequence[Obj]) -> list[ImagePullInfo]:
    """For each container stuck pulling: its image and why, classified."""
    specs = {s(c, "name"): s(c, "image") for c in lst(pod, "spec", "containers")}
    specs.update({s(c, "name"): s(c, "image") for c in lst(pod, "spec", "initContainers")})
    out: list[ImagePullInfo] = []
    statuses = lst(pod, "status", "initContainerStatuses") + lst(pod, "status", "containerStatuses")
    for cs in statuses:
        reason = s(cs, "state", "waiting", "reason")
        if reason not in _IMAGE_REASONS:
            continue
        name = s(cs, "name") or "?"
        image = specs.get(name) or s(cs, "image") or "?"
        candidates = _pull_messages(events, name, image)
        waiting_message = s(cs, "state", "waiting", "message") or ""
        candidates.append(waiting_message)
        error_class: ImagePullErrorClass = "unknown"
        chosen = ""
        for text in candidates:
            error_class = classify_pull_error(text, reason)
            if error_class != "unknown":
                chosen = text
                break
        chosen = chosen or next((t for t in candidates if t), "")
        out.append(
            ImagePullInfo(
                container=name,
                image=image,
                error_class=error_class,
                message=clip(redact(chosen), MESSAGE_LIMIT) if chosen else None,
            )
        )
    return out


# -- issues from events -----------------------------------------------------------------------


# "Liveness probe failed: ...", "Readiness probe errored: rpc error: ..."
_PROBE_KIND = re.compile(r"^\s*(Liveness|Readiness|Startup) probe (?:failed|errored)", re.I)


def _container_status(pod: Obj, name: str | None) -> Obj:
    for key in ("containerStatuses", "initContainerStatuses"):
        for cs in lst(pod, "status", key):
            if s(cs, "name") == name:
                return cs
    return {}


def _probe_issue(pod: Obj, kind: str, container: str | None, count: int, text: str) -> Issue | None:
    """The issue of one container's failed probe, or None when its failures did no harm."""
    cs = _container_status(pod, container)
    ready = cs.get("ready") is True
    restarts = max(0, i(cs, "restartCount") or 0)
    if kind == "readiness":
        if ready:
            return None  # it recovered: the events are history
        return Issue(
            severity="warning",
            type=IssueType.READINESS_PROBE_FAILED,
            container=container,
            message=clip(f"readiness probe failed {count} times: {redact(text)}", MESSAGE_LIMIT),
            restart_count=restarts,
            reason="Unhealthy",
        )
    if ready and restarts == 0:
        return None  # failures below the threshold, never killed it
    return Issue(
        severity="warning" if ready else "critical",
        type=IssueType.LIVENESS_PROBE_FAILED,
        container=container,
        message=clip(
            f"{kind} probe failed {count} times"
            + (f", container restarted {restarts} times" if restarts else "")
            + f": {redact(text)}",
            MESSAGE_LIMIT,
        ),
        restart_count=restarts,
        reason="Unhealthy",
    )


def _failed_mount_issue(text: str) -> Issue | None:
    missing = missing_from_message(text)
    if not missing:
        return None
    ref_kind, ref_name, ref_key = missing
    return missing_ref_issue(
        ref_kind, ref_name, container=None, where="a volume cannot be mounted", key=ref_key
    )


def event_issues(pod: Obj, events: Sequence[Obj]) -> list[Issue]:
    """Probe failures and missing mounts, as the kubelet reported them in events."""
    out: list[Issue] = []
    # (probe kind, container) -> (failures counted, the last event's message)
    probes: dict[tuple[str, str | None], tuple[int, str]] = {}
    for event in events:
        reason = s(event, "reason")
        text = _message(event)
        if reason == "Unhealthy":
            probe = _PROBE_KIND.match(text)
            kind = probe.group(1).lower() if probe else ""
            if kind in ("liveness", "readiness", "startup"):
                key = (kind, event_container(event))
                count, _ = probes.get(key, (0, ""))
                probes[key] = (count + _count(event), text)
        elif reason == "FailedMount":
            mount = _failed_mount_issue(text)
            if mount is not None:
                out.append(mount)
    for (kind, container), (count, text) in probes.items():
        issue = _probe_issue(pod, kind, container, count, text)
        if issue is not None:
            out.append(issue)
    return out


def first_failure_event_at(events: Sequence[Obj]) -> datetime | None:
    """When the first warning about the pod was seen (BackOff, Failed, Unhealthy, OOM...)."""
    times = [
        t
        for e in events
        if s(e, "type") == "Warning" and s(e, "reason") != "FailedScheduling"
        if (t := _first_time(e)) is not None
    ]
    return min(times) if times else None
