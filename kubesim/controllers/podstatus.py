"""The pod status a 1.28 kubelet reports: phase, conditions, container states."""

from __future__ import annotations

from typing import Any

from kubesim.controllers.base import Context, set_condition
from kubesim.controllers.runtime import ContainerRuntime, PodRuntime
from kubesim.images import image_id, parse_image
from kubesim.store import Obj


def container_status(
    ctx: Context, pod: Obj, rt: PodRuntime, c: ContainerRuntime, at: float
) -> dict[str, Any]:
    image_known = c.image_ready or c.phase in (
        "create",
        "config-error",
        "running",
        "exited",
        "backoff",
        "done",
    )
    out: dict[str, Any] = {"name": c.name}
    ready = False
    if c.phase == "running" and c.run is not None:
        out["state"] = {"running": {"startedAt": ctx.stamp(c.run.start)}}
        ready = c.run.is_ready(at)
    elif c.phase in ("exited", "done") and c.terminated is not None:
        out["state"] = {"terminated": dict(c.terminated)}
    elif (
        c.phase in ("init", "pulling", "create")
        and c.started_once
        and c.terminated is not None
        and c.waiting_reason != "CrashLoopBackOff"
    ):
        # Restarting at once (no back-off yet): the exited container shows until the new
        # one runs.
        out["state"] = {"terminated": dict(c.terminated)}
    else:
        default = "PodInitializing" if c.init or not rt.initialized else "ContainerCreating"
        waiting: dict[str, Any] = {"reason": c.waiting_reason or default}
        if c.waiting_message:
            waiting["message"] = c.waiting_message
        out["state"] = {"waiting": waiting}
    out["lastState"] = {"terminated": dict(c.last_terminated)} if c.last_terminated else {}
    if (
        c.phase not in ("exited", "done")
        and c.terminated is not None
        and (c.phase == "backoff" or c.waiting_reason == "CrashLoopBackOff")
    ):
        out["lastState"] = {"terminated": dict(c.terminated)}
    if c.init:  # a finished init container reports ready
        ready = c.phase == "done" and int((c.terminated or {}).get("exitCode", 1)) == 0
    out["ready"] = ready
    out["restartCount"] = c.restart_count
    if c.started_once or image_known:
        out["image"] = parse_image(c.image).full
        out["imageID"] = image_id(c.image)
    else:
        out["image"] = c.image
        out["imageID"] = ""
    if c.container_id and c.phase in ("running", "exited", "done", "backoff"):
        out["containerID"] = c.container_id
    out["started"] = c.phase == "running" and c.run is not None and c.run.started_at <= at
    if ctx.kube.in_place_resize and not c.init:
        # 1.33+: what the kubelet admitted, and what the container runs with (or will start
        # with).
        allocated = c.allocated or {}
        if allocated.get("requests"):
            out["allocatedResources"] = dict(allocated["requests"])
        actual = c.actual if c.actual is not None else allocated
        out["resources"] = {k: dict(v) for k, v in actual.items() if v}
    return out


def render(ctx: Context, pod: Obj, node: Obj, rt: PodRuntime, at: float) -> dict[str, Any]:
    """The pod status the kubelet reports for this runtime state at time `at`."""
    old = pod.get("status") or {}
    spec = pod.get("spec") or {}
    stamp = ctx.stamp(at)
    if rt.started is None:
        rt.started = at
    order = [c["name"] for c in spec.get("containers") or []]
    runtimes = [rt.containers[n] for n in order if n in rt.containers]
    statuses = sorted(
        (container_status(ctx, pod, rt, c, at) for c in runtimes), key=lambda s: s["name"]
    )
    all_ready = bool(statuses) and all(s["ready"] for s in statuses)
    unready = [s["name"] for s in statuses if not s["ready"]]
    conditions = [dict(c) for c in old.get("conditions") or []]
    incomplete = [
        c.name
        for c in rt.init.values()
        if not (c.phase == "done" and int((c.terminated or {}).get("exitCode", 1)) == 0)
    ]
    if rt.initialized or not incomplete:
        set_condition(conditions, "Initialized", "True", stamp, probe_time=True)
    else:
        set_condition(
            conditions,
            "Initialized",
            "False",
            stamp,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
            probe_time=True,
        )
    message = f"containers with unready status: [{' '.join(unready)}]"
    if all_ready:
        set_condition(conditions, "Ready", "True", stamp, probe_time=True)
        set_condition(conditions, "ContainersReady", "True", stamp, probe_time=True)
    else:
        set_condition(
            conditions, "Ready", "False", stamp, "ContainersNotReady", message, probe_time=True
        )
        set_condition(
            conditions,
            "ContainersReady",
            "False",
            stamp,
            "ContainersNotReady",
            message,
            probe_time=True,
        )
    # Bound pods are scheduled (pods created with spec.nodeName never met the scheduler).
    set_condition(conditions, "PodScheduled", "True", stamp, probe_time=True)
    if ctx.kube.in_place_resize:
        _resize_conditions(conditions, rt, stamp, at)
    rank = {"Initialized": 0, "Ready": 1, "ContainersReady": 2, "PodScheduled": 3}
    conditions.sort(key=lambda c: rank.get(c["type"], 4))
    pod_phase = phase(pod, runtimes)
    if not rt.initialized:
        failed = [
            c
            for c in rt.init.values()
            if c.phase == "done" and int((c.terminated or {}).get("exitCode", 1)) != 0
        ]
        pod_phase = "Failed" if failed else "Pending"
    status: dict[str, Any] = {"phase": pod_phase, "conditions": conditions}
    host_ip = node_ip(node)
    status["hostIP"] = host_ip
    status["hostIPs"] = [{"ip": host_ip}]
    if rt.pod_ip:
        status["podIP"] = rt.pod_ip
        status["podIPs"] = [{"ip": rt.pod_ip}]
    status["startTime"] = ctx.stamp(rt.started)
    if rt.init:
        status["initContainerStatuses"] = [
            container_status(ctx, pod, rt, c, at) for c in rt.init.values()
        ]
    status["containerStatuses"] = statuses
    status["qosClass"] = old.get("qosClass") or qos(spec)
    return status


def _resize_conditions(
    conditions: list[dict[str, Any]], rt: PodRuntime, stamp: str, at: float
) -> None:
    """PodResizePending (Deferred / Infeasible) and PodResizeInProgress, as the 1.33 kubelet
    reports a resize; absent when there is none."""
    active: set[str] = set()
    if rt.resize_pending is not None:
        reason, message = rt.resize_pending
        set_condition(
            conditions, "PodResizePending", "True", stamp, reason, message, probe_time=True
        )
        active.add("PodResizePending")
    if rt.resize_error is not None:
        set_condition(
            conditions,
            "PodResizeInProgress",
            "True",
            stamp,
            "Error",
            rt.resize_error,
            probe_time=True,
        )
        active.add("PodResizeInProgress")
    elif rt.resize_until is not None and at < rt.resize_until:
        set_condition(conditions, "PodResizeInProgress", "True", stamp, probe_time=True)
        active.add("PodResizeInProgress")
    conditions[:] = [
        c
        for c in conditions
        if c.get("type") not in ("PodResizePending", "PodResizeInProgress") or c["type"] in active
    ]


def phase(pod: Obj, runtimes: list[ContainerRuntime]) -> str:
    """kubelet getPhase for pods without init containers."""
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    running = waiting = stopped = succeeded = 0
    for c in runtimes:
        if c.phase == "running":
            running += 1
        elif c.phase in ("exited", "done") and c.terminated is not None:
            stopped += 1
            if int(c.terminated.get("exitCode", 1)) == 0:
                succeeded += 1
        elif c.last_terminated is not None or (c.phase == "backoff" and c.terminated is not None):
            stopped += 1
        else:
            waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def node_ip(node: Obj) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return "10.0.0.1"


def qos(spec: Obj) -> str:
    limits_all = True
    any_set = False
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        any_set |= bool(limits or requests)
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits.get(name)) != limits.get(name):
                limits_all = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if limits_all else "Burstable"
