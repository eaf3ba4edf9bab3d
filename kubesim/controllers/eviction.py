"""Node-pressure eviction: when a node runs out of memory or disk the kubelet evicts pods.

The kubelet's default hard thresholds are `memory.available<100Mi` and `nodefs.available<10%`,
checked every 10 s. One `NodePressure` per signal (`MEMORY`, `DISK`). The victim is ranked as the
kubelet ranks it: pods using more than they requested first, then lower priority, then the
largest use above request. It becomes `Failed` with reason `Evicted` (and its ReplicaSet
replaces it); the node reports `MemoryPressure` / `DiskPressure`.

Memory in use comes from the behaviour model (`kubesim.io/memory`, ...). Disk in use is the pod
annotation `kubesim.io/ephemeral-storage-usage` (a quantity, e.g. `3Gi`), counted against the
node's `ephemeral-storage` capacity and attributed to the pod's first container once it started.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from kubesim.controllers import events
from kubesim.controllers.base import Context, set_condition
from kubesim.controllers.quantity import QuantityError, format_binary, memory_bytes
from kubesim.controllers.runtime import ContainerRuntime, PodRuntime
from kubesim.store import NODES, PODS, NotFound, Obj

THRESHOLD = 100 * 2**20  # memory.available<100Mi
DISK_THRESHOLD_PERCENT = struct.unpack("f", struct.pack("f", 0.1))[0]  # nodefs.available<10%
DEFAULT_EPHEMERAL_STORAGE = 100 * 2**30  # a node that reports no ephemeral-storage capacity
DISK_USAGE_ANNOTATION = "kubesim.io/ephemeral-storage-usage"
INTERVAL = 10.0


@dataclass
class Usage:
    pod: Obj
    runtime: PodRuntime
    total: float
    request: float
    top_container: str
    top_usage: float
    top_request: str


def _quantity(value: object) -> float:
    try:
        return memory_bytes(value)
    except QuantityError:
        return 0.0


def _binary_si(nbytes: float) -> str:
    """A resource.Quantity in BinarySI as it prints: exact Ki/Mi/Gi/Ti, else plain bytes."""
    n = int(nbytes)
    for suffix, scale in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


def _memory_used(pod: Obj, c: ContainerRuntime, spec: Obj, now: float) -> float:
    if c.phase != "running" or c.run is None:
        return 0.0
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
    return c.run.behaviour.memory_at(now - c.run.start, _quantity(limit) if limit else None)


def _disk_used(pod: Obj, c: ContainerRuntime, spec: Obj, now: float) -> float:
    containers = (pod.get("spec") or {}).get("containers") or []
    if c.run is None or not containers or containers[0].get("name") != c.name:
        return 0.0  # the whole pod's usage is its first container's, once it started
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DISK_USAGE_ANNOTATION)
    return _quantity(value) if value else 0.0


@dataclass(frozen=True)
class Signal:
    """One eviction signal: the resource it reclaims and how the node reports it."""

    resource: str  # as in requests/limits/capacity, and in the kubelet's messages
    condition: str
    pressure: tuple[str, str]  # condition reason, message
    relieved: tuple[str, str]
    relieved_event: str
    threshold: Callable[[float], float]  # capacity -> bytes
    threshold_text: Callable[[float], str]
    used: Callable[[Obj, ContainerRuntime, Obj, float], float]
    default_capacity: float = 0.0


MEMORY = Signal(
    "memory",
    "MemoryPressure",
    ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
    ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "NodeHasSufficientMemory",
    lambda _capacity: THRESHOLD,
    lambda _threshold: format_binary(THRESHOLD),
    _memory_used,
)

DISK = Signal(
    "ephemeral-storage",
    "DiskPressure",
    ("KubeletHasDiskPressure", "kubelet has disk pressure"),
    ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "NodeHasNoDiskPressure",
    # evictionapi.GetThresholdQuantity: int64(capacity * float64(float32 percentage))
    lambda capacity: float(int(capacity * DISK_THRESHOLD_PERCENT)),
    _binary_si,
    _disk_used,
    DEFAULT_EPHEMERAL_STORAGE,
)


def pod_usage(pod: Obj, rt: PodRuntime, now: float, signal: Signal = MEMORY) -> Usage:
    specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
    total = request = 0.0
    top_name, top_usage, top_request = "", -1.0, "0"
    for c in rt.containers.values():
        spec = specs.get(c.name) or {}
        used = signal.used(pod, c, spec, now)
        asked = ((spec.get("resources") or {}).get("requests") or {}).get(signal.resource)
        if used <= 0 and (c.phase != "running" or c.run is None):
            continue
        total += used
        request += _quantity(asked) if asked else 0.0
        if used > top_usage:
            top_name, top_usage, top_request = c.name, used, str(asked) if asked else "0"
    return Usage(pod, rt, total, request, top_name, max(top_usage, 0.0), top_request)


def node_capacity(node: Obj, signal: Signal = MEMORY) -> float:
    status = node.get("status") or {}
    capacity = (status.get("capacity") or {}).get(signal.resource) or (
        status.get("allocatable") or {}
    ).get(signal.resource)
    if capacity is None:
        return signal.default_capacity
    return _quantity(capacity)


class NodePressure:
    """Checks one signal on each node every 10 s; evicts one pod per check while under pressure."""

    def __init__(self, ctx: Context, signal: Signal = MEMORY) -> None:
        self.ctx = ctx
        self.signal = signal
        self._checked: dict[str, float] = {}

    def due(self, node_name: str, now: float) -> bool:
        return now - self._checked.get(node_name, -1e18) >= INTERVAL

    def check(self, node: Obj, usages: list[Usage], now: float) -> list[Obj]:
        """Evicted pods (already written as Failed), and the node's pressure condition updated."""
        name = node["metadata"]["name"]
        if not self.due(name, now):
            return []
        self._checked[name] = now
        sig = self.signal
        capacity = node_capacity(node, sig)
        threshold = sig.threshold(capacity)
        available = capacity - sum(u.total for u in usages)
        pressure = available < threshold
        self._condition(node, pressure, now)
        if not pressure or not usages:
            return []
        victim = min(
            usages,
            key=lambda u: (
                0 if u.total > u.request else 1,
                int((u.pod.get("spec") or {}).get("priority") or 0),
                -(u.total - u.request),
            ),
        )
        message = (
            f"The node was low on resource: {sig.resource}. "
            f"Threshold quantity: {sig.threshold_text(threshold)}, "
            f"available: {int(max(available, 0) // 1024)}Ki. Container {victim.top_container} was "
            f"using {int(victim.top_usage // 1024)}Ki, request is {victim.top_request}, has larger "
            f"consumption of {sig.resource}. "
        )
        self._evict(node, victim, message, now)
        return [victim.pod]

    def _condition(self, node: Obj, pressure: bool, now: float) -> None:
        sig = self.signal
        current = next(
            (
                c
                for c in (node.get("status") or {}).get("conditions") or []
                if c.get("type") == sig.condition
            ),
            None,
        )
        wanted = "True" if pressure else "False"
        if current is not None and current.get("status") == wanted:
            return
        if current is None and not pressure:
            return  # nodes start without the condition; only report a change

        def change(obj: Obj) -> None:
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            reason, message = sig.pressure if pressure else sig.relieved
            set_condition(conditions, sig.condition, wanted, self.ctx.stamp(now), reason, message)
            for cond in conditions:
                if cond["type"] == sig.condition:
                    cond["lastHeartbeatTime"] = self.ctx.stamp(now)

        try:
            updated = self.ctx.store.mutate(NODES, "", node["metadata"]["name"], change)
        except NotFound:
            return
        if pressure:
            self.ctx.events.emit(
                updated,
                "Warning",
                "EvictionThresholdMet",
                f"Attempting to reclaim {sig.resource}",
                events.kubelet(node["metadata"]["name"]),
                now,
            )
        else:
            self.ctx.events.emit(
                updated,
                "Normal",
                sig.relieved_event,
                f"Node {node['metadata']['name']} status is now: {sig.relieved_event}",
                events.kubelet(node["metadata"]["name"]),
                now,
            )

    def _evict(self, node: Obj, victim: Usage, message: str, now: float) -> None:
        pod = victim.pod
        meta = pod["metadata"]
        stamp = self.ctx.stamp(now)
        source = events.kubelet(node["metadata"]["name"])

        def change(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            status["phase"] = "Failed"
            status["reason"] = "Evicted"
            status["message"] = message
            conditions = status.setdefault("conditions", [])
            set_condition(
                conditions,
                "DisruptionTarget",
                "True",
                stamp,
                "TerminationByKubelet",
                message,
                probe_time=True,
            )
            for cond_type in ("Ready", "ContainersReady"):
                set_condition(
                    conditions, cond_type, "False", stamp, "PodFailed", None, probe_time=True
                )
            for cs in status.get("containerStatuses") or []:
                state = cs.get("state") or {}
                started = (state.get("running") or {}).get("startedAt") or stamp
                cs["state"] = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "Error",
                        "startedAt": started,
                        "finishedAt": stamp,
                        "containerID": cs.get("containerID", ""),
                    }
                }
                cs["ready"] = False
                cs["started"] = False

        try:
            updated = self.ctx.store.mutate(PODS, meta.get("namespace", ""), meta["name"], change)
        except NotFound:
            return
        self.ctx.events.emit(updated, "Warning", "Evicted", message, source, now)
        for c in victim.runtime.containers.values():
            if c.phase == "running":
                self.ctx.events.emit(
                    updated,
                    "Normal",
                    "Killing",
                    f"Stopping container {c.name}",
                    source,
                    now,
                    f"spec.containers{{{c.name}}}",
                )
                c.phase, c.due = "done", None
