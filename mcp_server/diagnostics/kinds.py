"""The owner and surroundings of a pod, for the kinds that make pods fail: its Job and
CronJob, StatefulSet, DaemonSet, the Services selecting it, the claims it waits for and its
node. Pure: added to a `Diagnosis` built by `build_diagnosis` from whatever was read (each
input may be missing; a missing input only removes findings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from policies.diagnosis import Diagnosis, Issue

from . import advice
from ._obj import Obj, lst, m, parse_time, s
from .daemonsets import daemonset_info
from .jobs import cronjob_info, job_info
from .nodes import node_findings
from .services import service_findings
from .statefulsets import statefulset_info
from .storage import claim_findings


def add_kind_findings(
    diagnosis: Diagnosis,
    pod: Obj,
    *,
    events: Sequence[Obj] = (),
    logs: Mapping[str, str] | None = None,
    job: Obj | None = None,
    cronjob: Obj | None = None,
    cronjob_events: Sequence[Obj] = (),
    workload: Obj | None = None,
    nodes: Sequence[Obj] | None = None,
    daemon_pods: Sequence[Obj] | None = None,
    claims: Sequence[Obj] = (),
    claim_events: Sequence[Obj] = (),
    missing_claims: Sequence[str] = (),
    node: Obj | None = None,
    endpointslices: Sequence[Obj] | None = None,
    now: datetime | None = None,
) -> Diagnosis:
    """Add the kinds' issues, evidence and advice to `diagnosis` (returned, changed)."""
    pod_issues = list(diagnosis.issues)
    found, commands = _batch_findings(
        diagnosis,
        pod,
        job=job,
        cronjob=cronjob,
        logs=logs,
        events=events,
        cronjob_events=cronjob_events,
        now=now,
    )
    for issues, lines in (
        _workload_findings(diagnosis, pod, workload, nodes, daemon_pods, pod_issues),
        _claim_findings(diagnosis, pod, claims, claim_events, missing_claims, events),
        _node_findings(diagnosis, pod, node, events),
        _service_findings(diagnosis, pod, endpointslices),
    ):
        found += issues
        commands += lines
    diagnosis.issues = [*diagnosis.issues, *found]
    diagnosis.recommendations = advice.merge(
        commands, advice.recommendations_for(found), diagnosis.recommendations
    )
    return diagnosis


Findings = tuple[list[Issue], list[str]]


def _batch_findings(
    diagnosis: Diagnosis,
    pod: Obj,
    *,
    job: Obj | None,
    cronjob: Obj | None,
    logs: Mapping[str, str] | None,
    events: Sequence[Obj],
    cronjob_events: Sequence[Obj],
    now: datetime | None,
) -> Findings:
    found: list[Issue] = []
    commands: list[str] = []
    if job is not None:
        diagnosis.job, issues, lines = job_info(pod, job, logs=logs)
        found += issues
        commands += lines
    if cronjob is not None:
        # Without the server's clock, the newest time the objects read show is a floor of
        # now: a schedule due before it with no run is missed for certain.
        seen = now or latest_seen([pod, job, cronjob, *events, *cronjob_events])
        diagnosis.cronjob, issues, lines = cronjob_info(
            cronjob, job=job, events=cronjob_events, now=seen
        )
        found += issues
        commands += lines
    return found, commands


def _workload_findings(
    diagnosis: Diagnosis,
    pod: Obj,
    workload: Obj | None,
    nodes: Sequence[Obj] | None,
    daemon_pods: Sequence[Obj] | None,
    pod_issues: list[Issue],
) -> Findings:
    kind = s(workload, "kind") if workload is not None else None
    if workload is not None and kind == "StatefulSet":
        diagnosis.statefulset, issues, lines = statefulset_info(pod, workload, pod_issues)
        return issues, lines
    if workload is not None and kind == "DaemonSet":
        diagnosis.daemonset, issues, lines = daemonset_info(workload, nodes=nodes, pods=daemon_pods)
        return issues, lines
    return [], []


def _claim_findings(
    diagnosis: Diagnosis,
    pod: Obj,
    claims: Sequence[Obj],
    claim_events: Sequence[Obj],
    missing_claims: Sequence[str],
    events: Sequence[Obj],
) -> Findings:
    diagnosis.claims, issues, lines = claim_findings(
        pod, claims, claim_events, missing=missing_claims, pod_events=events
    )
    return issues, lines


def _node_findings(
    diagnosis: Diagnosis, pod: Obj, node: Obj | None, events: Sequence[Obj]
) -> Findings:
    evicted = s(pod, "status", "reason") == "Evicted"
    diagnosis.node, issues, lines = node_findings(pod, node, evicted=evicted, events=events)
    if evicted and diagnosis.workload is not None:
        lines = [
            *lines,
            f"The evicted pod's {diagnosis.workload.kind} {diagnosis.workload.name} has already "
            "replaced it: the evicted pod is only a record now",
        ]
    return issues, lines


def _service_findings(
    diagnosis: Diagnosis, pod: Obj, endpointslices: Sequence[Obj] | None
) -> Findings:
    if endpointslices is None:
        return [], []
    diagnosis.services, issues, lines = service_findings(pod, endpointslices)
    return issues, lines


_TIME_FIELDS = (
    ("lastTimestamp",),
    ("eventTime",),
    ("firstTimestamp",),
    ("status", "startTime"),
    ("status", "completionTime"),
    ("status", "lastScheduleTime"),
    ("status", "lastSuccessfulTime"),
    ("metadata", "creationTimestamp"),
)


def latest_seen(objects: Sequence[Obj | None]) -> datetime | None:
    """The newest timestamp in the objects (events, their series, conditions, container
    states): a lower bound of the time they were read."""
    times: list[datetime] = []

    def add(value: object) -> None:
        parsed = parse_time(value)
        if parsed is not None:
            times.append(parsed)

    for obj in objects:
        if obj is None:
            continue
        for path in _TIME_FIELDS:
            add(m(obj, *path[:-1]).get(path[-1]) if len(path) > 1 else obj.get(path[0]))
        add(m(obj, "series").get("lastObservedTime"))
        for cond in lst(obj, "status", "conditions"):
            add(cond.get("lastTransitionTime"))
            add(cond.get("lastProbeTime"))
        for cs in lst(obj, "status", "containerStatuses"):
            for state in (m(cs, "state"), m(cs, "lastState")):
                for body in state.values():
                    if isinstance(body, dict):
                        add(body.get("startedAt"))
                        add(body.get("finishedAt"))
    return max(times) if times else None
