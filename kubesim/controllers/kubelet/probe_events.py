"""Probe failures of a running container, reported as `Unhealthy` events as they happen."""

from __future__ import annotations

from kubesim.controllers import events, probes
from kubesim.controllers.base import Context
from kubesim.controllers.behaviour import FOREVER
from kubesim.controllers.kubelet.common import field_path
from kubesim.controllers.runtime import ContainerRuntime, PodRuntime, Probe, RunPlan, probe_of
from kubesim.store import Obj

# The probes and where the container keeps how many of their failures were reported.
_PROBES = (
    ("livenessProbe", "Liveness", "liveness_reported"),
    ("readinessProbe", "Readiness", "readiness_reported"),
    ("startupProbe", "Startup", "startup_reported"),
)


def _first_failure(plan: RunPlan, kind: str) -> float:
    if kind == "Liveness":
        return plan.liveness_first_failure
    if kind == "Readiness":
        return plan.readiness_first_failure
    return plan.startup_first_failure


def report_probe_failures(
    ctx: Context, pod: Obj, rt: PodRuntime, c: ContainerRuntime, spec: Obj, now: float
) -> bool:
    """Emit the failures of every probe of `c` up to `now` not reported yet."""
    plan = c.run
    if plan is None:
        return False
    changed = False
    source = events.kubelet(pod["spec"].get("nodeName", ""))
    until = min(now, plan.end_at)
    for field_name, kind, attr in _PROBES:
        probe = probe_of(spec, field_name, kind)
        first = _first_failure(plan, kind)
        if probe is None or first == FOREVER or until < first:
            continue
        if kind in plan.exec_probes:
            changed |= _report_exec(ctx, pod, rt, c, probe, kind, attr, until, source)
        else:
            changed |= _report_counted(ctx, pod, rt, c, probe, first, attr, until, source)
    return changed


def _report_exec(
    ctx: Context,
    pod: Obj,
    rt: PodRuntime,
    c: ContainerRuntime,
    probe: Probe,
    kind: str,
    attr: str,
    until: float,
    source: events.Source,
) -> bool:
    """Each failed run of an exec probe, with what its command printed."""
    assert c.run is not None
    failures = c.run.exec_probes[kind].failures_until(until)
    changed = False
    for at, output, times in probes.grouped(failures[getattr(c, attr) :]):
        ctx.events.emit(
            pod,
            "Warning",
            "Unhealthy",
            probe.failure_message(rt.pod_ip, output),
            source,
            at,
            field_path(c.name, c.init),
            times=times,
        )
        changed = True
    setattr(c, attr, len(failures))
    return changed


def _report_counted(
    ctx: Context,
    pod: Obj,
    rt: PodRuntime,
    c: ContainerRuntime,
    probe: Probe,
    first: float,
    attr: str,
    until: float,
    source: events.Source,
) -> bool:
    """The failures of an HTTP/TCP/gRPC probe since the last report, as one counted event."""
    plan = c.run
    assert plan is not None
    total = probe.times_from(plan.start, first, until)
    if (probe.kind == "Liveness" and plan.liveness_kill) or (
        probe.kind == "Startup" and plan.startup_kill
    ):
        total = min(total, probe.failure_threshold)  # the kill stops the probing
    new = total - getattr(c, attr)
    if new <= 0:
        return False
    ctx.events.emit(
        pod,
        "Warning",
        "Unhealthy",
        probe.failure_message(rt.pod_ip, plan.behaviour.liveness_output),
        source,
        until,
        field_path(c.name, c.init),
        times=new,
    )
    setattr(c, attr, total)
    return True
