"""Issues read from a pod's own status: phase, conditions, container and init-container states.

Everything here comes from the pod object alone (no events, logs or metrics), so it is also
what the watch-backed cache can compute cheaply for `list_unhealthy_pods`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from policies.diagnosis import Issue, IssueType, Severity

from ..redaction import redact
from ._obj import Obj, clip, i, lst, m, parse_time, s
from .config import missing_from_message, missing_ref_issue

MESSAGE_LIMIT = 500
HIGH_RESTART_THRESHOLD = 5
# Restarts after which a running-but-not-ready container that last failed is crash looping.
CRASH_LOOP_MIN_RESTARTS = 3

_IMAGE_WAITING: dict[str, str] = {
    "ImagePullBackOff": IssueType.IMAGE_PULL_BACKOFF,
    "ErrImagePull": IssueType.ERR_IMAGE_PULL,
    "ErrImageNeverPull": IssueType.ERR_IMAGE_PULL,
    "RegistryUnavailable": IssueType.ERR_IMAGE_PULL,
    "InvalidImageName": IssueType.INVALID_IMAGE_NAME,
}
_START_ERRORS = frozenset(
    {"CreateContainerError", "RunContainerError", "PreStartHookError", "PostStartHookError"}
)
# Reasons the kubelet or the node-shutdown manager gives a pod it stopped from outside.
_EVICTION_REASONS = frozenset({"Evicted", "Terminated", "Shutdown", "NodeShutdown"})


def _safe(text: str) -> str:
    """Status messages carry text the workload wrote (termination messages): redact, clip."""
    return clip(redact(text[: 4 * MESSAGE_LIMIT]), MESSAGE_LIMIT)


def _issue(
    severity: Severity,
    type_: str,
    container: str | None,
    message: str,
    **fields: Any,
) -> Issue:
    return Issue(
        severity=severity,
        type=type_,
        container=container,
        message=_safe(message),
        **fields,
    )


@dataclass(frozen=True)
class _Container:
    """What every issue about one container status is built from."""

    cs: Obj
    name: str
    label: str
    init: bool
    restarts: int
    last: Obj
    last_reason: str | None
    last_exit: int | None

    @classmethod
    def of(cls, cs: Obj, *, init: bool) -> _Container:
        name = s(cs, "name") or "?"
        last = m(cs, "lastState", "terminated")
        return cls(
            cs=cs,
            name=name,
            label=f"init container {name}" if init else f"container {name}",
            init=init,
            restarts=max(0, i(cs, "restartCount") or 0),
            last=last,
            last_reason=s(last, "reason"),
            last_exit=i(last, "exitCode"),
        )

    @property
    def common(self) -> dict[str, Any]:
        return {"restart_count": self.restarts}

    @property
    def last_exit_why(self) -> str:
        why = f"last exit: {self.last_reason or 'unknown'}"
        if self.last_exit is not None:
            why += f", code {self.last_exit}"
        return why

    def issue(self, severity: Severity, type_: str, message: str, **fields: Any) -> Issue:
        return _issue(severity, type_, self.name, message, **fields, **self.common)

    def last_exit_issue(
        self, severity: Severity, type_: str, message: str, *, reason: str | None
    ) -> Issue:
        return self.issue(
            severity,
            type_,
            message,
            reason=reason,
            exit_code=self.last_exit,
            last_termination_reason=self.last_reason,
        )


def _crash_loop_backoff_issues(c: _Container, reason: str) -> list[Issue]:
    out: list[Issue] = []
    if c.last_reason == "OOMKilled":
        out.append(
            c.last_exit_issue(
                "critical",
                IssueType.OOM_KILLED,
                f"{c.label} was OOM killed (exit code {c.last_exit}) and is in back-off "
                f"after {c.restarts} restarts",
                reason="OOMKilled",
            )
        )
    out.append(
        c.last_exit_issue(
            "critical",
            IssueType.CRASH_LOOP,
            f"{c.label} is crash looping: {c.restarts} restarts ({c.last_exit_why})",
            reason=reason,
        )
    )
    return out


def _config_error_issues(c: _Container, reason: str, detail: str) -> list[Issue]:
    out = [
        c.issue(
            "critical",
            IssueType.CREATE_CONTAINER_CONFIG_ERROR,
            f"{c.label} cannot be created: {detail or reason}",
            reason=reason,
        )
    ]
    missing = missing_from_message(detail)
    if missing:
        kind, ref_name, key = missing
        out.append(
            missing_ref_issue(kind, ref_name, container=c.name, where=f"kubelet: {detail}", key=key)
        )
    return out


def _waiting_issues(c: _Container, waiting: Obj) -> list[Issue]:
    reason = s(waiting, "reason") or ""
    detail = s(waiting, "message") or ""
    suffix = f": {detail}" if detail else ""
    if reason == "CrashLoopBackOff":
        return _crash_loop_backoff_issues(c, reason)
    if reason in _IMAGE_WAITING:
        image = s(c.cs, "image") or "?"
        message = f"{c.label} cannot pull image {image}: {reason}" + suffix
        return [c.issue("critical", _IMAGE_WAITING[reason], message, reason=reason)]
    if reason == "CreateContainerConfigError":
        return _config_error_issues(c, reason, detail)
    if reason in _START_ERRORS:
        message = f"{c.label} failed to start: {reason}" + suffix
        return [c.last_exit_issue("critical", IssueType.CONTAINER_ERROR, message, reason=reason)]
    return []


def _terminated_issues(c: _Container, terminated: Obj) -> list[Issue]:
    reason = s(terminated, "reason") or ""
    code = i(terminated, "exitCode")
    if reason == "OOMKilled":
        message = f"{c.label} was OOM killed (exit code {code})"
        return [
            c.issue(
                "critical",
                IssueType.OOM_KILLED,
                message,
                reason=reason,
                exit_code=code,
                last_termination_reason=reason,
            )
        ]
    if code not in (None, 0):
        note = s(terminated, "message") or ""
        return [
            c.issue(
                "critical",
                IssueType.CONTAINER_ERROR,
                f"{c.label} terminated with exit code {code} ({reason or 'Error'})"
                + (f": {note}" if note else ""),
                reason=reason or "Error",
                exit_code=code,
                last_termination_reason=reason or "Error",
            )
        ]
    return []


def _restart_issues(c: _Container, *, restart_threshold: int) -> list[Issue]:
    """A running container that restarted: OOM kill, crash loop or just many restarts."""
    # Between two crashes the kubelet shows the container running for a moment: not
    # ready, restarted several times, last exit a failure. That is still a crash loop.
    failed_last = c.last_reason == "OOMKilled" or c.last_exit not in (None, 0)
    looping = (
        not c.init
        and c.cs.get("ready") is False
        and c.restarts >= CRASH_LOOP_MIN_RESTARTS
        and failed_last
    )
    out: list[Issue] = []
    if c.last_reason == "OOMKilled":
        out.append(
            c.last_exit_issue(
                "critical" if looping else "warning",
                IssueType.OOM_KILLED,
                f"{c.label} is running again but was OOM killed at "
                f"{s(c.last, 'finishedAt') or 'an unknown time'} ({c.restarts} restarts)",
                reason="OOMKilled",
            )
        )
    if looping:
        message = (
            f"{c.label} is crash looping: {c.restarts} restarts, running again but not "
            f"ready ({c.last_exit_why})"
        )
        out.append(
            c.last_exit_issue("critical", IssueType.CRASH_LOOP, message, reason="Restarting")
        )
    elif c.restarts >= restart_threshold:
        message = f"{c.label} has restarted {c.restarts} times ({c.last_exit_why})"
        out.append(
            c.last_exit_issue(
                "warning", IssueType.HIGH_RESTART_COUNT, message, reason=c.last_reason
            )
        )
    return out


def _not_ready_issue(c: _Container) -> Issue:
    message = f"{c.label} is running but not ready"
    if c.cs.get("started") is False:
        message += " (its startup probe has not succeeded yet)"
    return c.issue("warning", IssueType.NOT_READY, message)


def _running_issues(c: _Container, *, restart_threshold: int) -> list[Issue]:
    out = _restart_issues(c, restart_threshold=restart_threshold)
    if not c.init and c.cs.get("ready") is False and not out:
        out.append(_not_ready_issue(c))
    return out


def _container_issues(cs: Obj, *, init: bool, restart_threshold: int) -> list[Issue]:
    c = _Container.of(cs, init=init)
    waiting = m(cs, "state", "waiting")
    if waiting:
        return _waiting_issues(c, waiting)
    terminated = m(cs, "state", "terminated")
    if terminated:
        return _terminated_issues(c, terminated)
    if m(cs, "state", "running"):
        return _running_issues(c, restart_threshold=restart_threshold)
    return []


def _phase_issue(status: Obj) -> Issue | None:
    """An evicted, failed or unknown pod, from its phase and reason."""
    phase = s(status, "phase")
    reason = s(status, "reason")
    message = s(status, "message") or ""
    if phase == "Failed" and reason in _EVICTION_REASONS:
        return _issue(
            "warning",
            IssueType.EVICTED,
            None,
            f"pod was evicted ({reason}): {message}" if message else f"pod was {reason}",
            reason=reason,
        )
    if phase == "Failed" and reason:
        # Admission failures (OutOfcpu, NodeAffinity, UnexpectedAdmissionError...): the pod
        # never ran and will not; its controller creates another.
        return _issue(
            "critical",
            IssueType.CONTAINER_ERROR,
            None,
            f"pod failed: {reason}" + (f": {message}" if message else ""),
            reason=reason,
        )
    if phase == "Unknown":
        return _issue(
            "critical",
            IssueType.NOT_READY,
            None,
            "pod status is Unknown: its node stopped reporting",
            reason="Unknown",
        )
    return None


def _marked_not_ready(status: Obj, cond: Obj) -> Issue | None:
    statuses = lst(status, "containerStatuses")
    if not (
        s(cond, "type") == "Ready"
        and s(cond, "status") == "False"
        and s(cond, "reason") in (None, "", "NodeNotReady")
        and s(status, "phase") == "Running"
        and statuses
        and all(cs.get("ready") is True for cs in statuses)
    ):
        return None
    # The node lifecycle controller marks a node's pods not ready when its kubelet
    # stops posting status (no reason; the kubelet's own says ContainersNotReady);
    # the containers keep the last status the kubelet sent.
    return _issue(
        "warning",
        IssueType.NOT_READY,
        None,
        "pod is marked not ready while its containers still report ready: its "
        "node may have stopped reporting",
        reason=s(cond, "reason") or "PodNotReady",
    )


def _unscheduled_issues(cond: Obj) -> list[Issue]:
    if not (s(cond, "type") == "PodScheduled" and s(cond, "status") == "False"):
        return []
    cond_reason = s(cond, "reason") or "Unschedulable"
    cond_message = s(cond, "message") or ""
    out = [
        _issue(
            "critical",
            IssueType.PENDING,
            None,
            f"pod cannot be scheduled: {cond_message or cond_reason}",
            reason=cond_reason,
        )
    ]
    if "unbound" in cond_message.lower() and "persistentvolumeclaim" in (cond_message.lower()):
        out.append(
            _issue(
                "critical",
                IssueType.UNBOUND_PVC,
                None,
                f"pod waits for a PersistentVolumeClaim to bind: {cond_message}",
                reason=cond_reason,
            )
        )
    return out


def _pod_level_issues(pod: Obj) -> list[Issue]:
    status = m(pod, "status")
    phase_issue = _phase_issue(status)
    out: list[Issue] = [phase_issue] if phase_issue is not None else []
    for cond in lst(status, "conditions"):
        not_ready = _marked_not_ready(status, cond)
        if not_ready is not None:
            out.append(not_ready)
        out.extend(_unscheduled_issues(cond))
    return out


def plainly_running(status: object) -> bool:
    """A Running pod whose containers all run, ready, never restarted, with no last
    termination, and no init containers: nothing in `pod_issues` can come out of it. The
    watch cache classifies every pod on every change; this is its fast path (the common
    case), and `_all_pod_issues` agrees with it (tests/unit/diagnostics)."""
    if not isinstance(status, dict) or status.get("phase") != "Running":
        return False
    if status.get("initContainerStatuses"):
        return False
    conditions = status.get("conditions") or []
    if not isinstance(conditions, list):
        return False
    for cond in conditions:
        if not isinstance(cond, dict):
            return False
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return False
        if cond.get("type") == "Ready" and cond.get("status") == "False":
            return False  # e.g. marked not ready by the node controller: see below
    statuses = status.get("containerStatuses")
    if not isinstance(statuses, list):
        return False
    for cs in statuses:
        if not isinstance(cs, dict) or cs.get("ready") is not True:
            return False
        if cs.get("restartCount") not in (0, None):
            return False
        state = cs.get("state")
        if not isinstance(state, dict) or len(state) != 1 or "running" not in state:
            return False
        last = cs.get("lastState")
        if last and (not isinstance(last, dict) or "terminated" in last):
            return False
    return True


def pod_issues(pod: Obj, *, restart_threshold: int = HIGH_RESTART_THRESHOLD) -> list[Issue]:
    """Every issue visible in the pod's status, pod-level first, then per container."""
    if restart_threshold > 0 and plainly_running(m(pod, "status")):
        return []
    return _all_pod_issues(pod, restart_threshold=restart_threshold)


def _all_pod_issues(pod: Obj, *, restart_threshold: int) -> list[Issue]:
    status = m(pod, "status")
    out = _pod_level_issues(pod)
    if s(status, "phase") == "Failed" and s(status, "reason") in _EVICTION_REASONS:
        # The kubelet killed the containers itself (exit 137, ContainerStatusUnknown):
        # their states say nothing the eviction does not.
        return out
    for cs in lst(status, "initContainerStatuses"):
        out.extend(_container_issues(cs, init=True, restart_threshold=restart_threshold))
    for cs in lst(status, "containerStatuses"):
        out.extend(_container_issues(cs, init=False, restart_threshold=restart_threshold))
    return out


def _ready(pod: Obj) -> bool | None:
    for cond in lst(pod, "status", "conditions"):
        if s(cond, "type") == "Ready":
            return s(cond, "status") == "True"
    return None


def total_restarts(pod: Obj) -> int:
    statuses = lst(pod, "status", "containerStatuses") + lst(pod, "status", "initContainerStatuses")
    return sum(max(0, i(cs, "restartCount") or 0) for cs in statuses)


# Advisory (info) findings such as "no CPU limit" do not make a serving pod less healthy.
_PENALTY: dict[str, int] = {"critical": 50, "warning": 20, "info": 0}


def health_score(pod: Obj, issues: Iterable[Issue] | None = None) -> int:
    """0 (dead) to 100 (healthy): phase, readiness, restarts and the issues found."""
    if issues is None and plainly_running(m(pod, "status")):
        return 60 if _ready(pod) is False else 100  # what the steps below come to
    phase = s(pod, "status", "phase")
    if phase == "Succeeded":
        return 100
    if phase in ("Failed", "Unknown"):
        return 0
    found = list(pod_issues(pod) if issues is None else issues)
    score = 100
    seen: set[tuple[str, str | None]] = set()
    for issue in found:
        key = (issue.type, issue.container)
        if key in seen:
            continue
        seen.add(key)
        score -= _PENALTY.get(issue.severity, 0)
    score -= min(20, 2 * total_restarts(pod))
    if phase == "Pending":
        score = min(score, 50)
    elif _ready(pod) is False:
        score = min(score, 60)
    return max(0, min(100, score))


def _state_summary(state: Obj) -> dict[str, Any]:
    for kind in ("waiting", "running", "terminated"):
        body = m(state, kind)
        if body or kind in state:
            out: dict[str, Any] = {"state": kind}
            for key in ("reason", "message", "exitCode", "signal", "startedAt", "finishedAt"):
                value = body.get(key)
                if value is not None:
                    out[key] = _safe(value) if isinstance(value, str) else value
            return out
    return {"state": "unknown"}


def container_status_summary(pod: Obj) -> list[dict[str, Any]]:
    """The container statuses in a compact, JSON-plain shape (init containers marked)."""
    out: list[dict[str, Any]] = []
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses")):
        for cs in lst(pod, "status", key):
            entry: dict[str, Any] = {
                "name": s(cs, "name"),
                "init": init,
                "image": s(cs, "image"),
                "ready": bool(cs.get("ready")),
                "restart_count": max(0, i(cs, "restartCount") or 0),
                "state": _state_summary(m(cs, "state")),
            }
            if m(cs, "lastState"):
                entry["last_state"] = _state_summary(m(cs, "lastState"))
            out.append(entry)
    return out


def condition_summary(pod: Obj) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for cond in lst(pod, "status", "conditions"):
        entry: dict[str, Any] = {"type": s(cond, "type"), "status": s(cond, "status")}
        for key in ("reason", "message", "lastTransitionTime"):
            value = s(cond, key)
            if value:
                entry[key] = _safe(value)
        out.append(entry)
    return out


def first_failure_at(pod: Obj) -> datetime | None:
    """The earliest failure the status records (a finished, non-zero or OOM termination)."""
    times: list[datetime] = []
    statuses = lst(pod, "status", "containerStatuses") + lst(pod, "status", "initContainerStatuses")
    for cs in statuses:
        for term in (m(cs, "lastState", "terminated"), m(cs, "state", "terminated")):
            if term and (i(term, "exitCode") not in (None, 0) or s(term, "reason") == "OOMKilled"):
                when = parse_time(s(term, "finishedAt")) or parse_time(s(term, "startedAt"))
                if when is not None:
                    times.append(when)
        if s(cs, "state", "waiting", "reason") in _IMAGE_WAITING:
            created = parse_time(s(pod, "metadata", "creationTimestamp"))
            if created is not None:
                times.append(created)
    return min(times) if times else None


__all__ = [
    "CRASH_LOOP_MIN_RESTARTS",
    "HIGH_RESTART_THRESHOLD",
    "condition_summary",
    "container_status_summary",
    "first_failure_at",
    "health_score",
    "pod_issues",
    "total_restarts",
]
