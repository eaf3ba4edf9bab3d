"""Node-pressure eviction: when a node runs out of memory the kubelet evicts pods.

The kubelet's default hard threshold is `memory.available<100Mi`, checked every 10 s. The
victim is ranked as the kubelet ranks it: pods using more than they requested first, then
lower priority, then the largest use above request. It becomes `Failed` with reason
`Evicted` (and its ReplicaSet replaces it); the node reports `MemoryPressure`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.controllers import events
from kubesim.controllers.base import Context, set_condition
from kubesim.controllers.quantity import QuantityError, format_binary, memory_bytes
from kubesim.controllers.runtime import PodRuntime
from kubesim.store import NODES, PODS, NotFound, Obj

THRESHOLD = 100 * 2**20
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


def pod_usage(pod: Obj, rt: PodRuntime, now: float) -> Usage:
    specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
    total = request = 0.0
    top_name, top_usage, top_request = "", -1.0, "0"
    for c in rt.containers.values():
        if c.phase != "running" or c.run is None:
            continue
        resources = (specs.get(c.name) or {}).get("resources") or {}
        limit = (resources.get("limits") or {}).get("memory")
        used = c.run.behaviour.memory_at(now - c.run.start, _quantity(limit) if limit else None)
        asked = (resources.get("requests") or {}).get("memory")
        total += used
        request += _quantity(asked) if asked else 0.0
        if used > top_usage:
            top_name, top_usage, top_request = c.name, used, str(asked) if asked else "0"
    return Usage(pod, rt, total, request, top_name, max(top_usage, 0.0), top_request)


def node_capacity(node: Obj) -> float:
    status = node.get("status") or {}
    capacity = (status.get("capacity") or {}).get("memory") or (
        status.get("allocatable") or {}
    ).get("memory", "0")
    return _quantity(capacity)


class NodePressure:
    """Checks each node's memory every 10 s and evicts one pod per check while under pressure."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._checked: dict[str, float] = {}

    def due(self, node_name: str, now: float) -> bool:
        return now - self._checked.get(node_name, -1e18) >= INTERVAL

    def check(self, node: Obj, usages: list[Usage], now: float) -> list[Obj]:
        """Evicted pods (already written as Failed), and the node's MemoryPressure updated."""
        name = node["metadata"]["name"]
        if not self.due(name, now):
            return []
        self._checked[name] = now
        available = node_capacity(node) - sum(u.total for u in usages)
        pressure = available < THRESHOLD
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
            "The node was low on resource: memory. "
            f"Threshold quantity: {format_binary(THRESHOLD)}, "
            f"available: {int(max(available, 0) // 1024)}Ki. Container {victim.top_container} was "
            f"using {int(victim.top_usage // 1024)}Ki, request is {victim.top_request}, has larger "
            "consumption of memory. "
        )
        self._evict(node, victim, message, now)
        return [victim.pod]

    def _condition(self, node: Obj, pressure: bool, now: float) -> None:
        current = next(
            (
                c
                for c in (node.get("status") or {}).get("conditions") or []
                if c.get("type") == "MemoryPressure"
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
            reason = "KubeletHasInsufficientMemory" if pressure else "KubeletHasSufficientMemory"
            message = f"kubelet has {'insufficient' if pressure else 'sufficient'} memory available"
            set_condition(
                conditions, "MemoryPressure", wanted, self.ctx.stamp(now), reason, message
            )
            for cond in conditions:
                if cond["type"] == "MemoryPressure":
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
                "Attempting to reclaim memory",
                events.kubelet(node["metadata"]["name"]),
                now,
            )
        else:
            self.ctx.events.emit(
                updated,
                "Normal",
                "NodeHasSufficientMemory",
                f"Node {node['metadata']['name']} status is now: NodeHasSufficientMemory",
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
