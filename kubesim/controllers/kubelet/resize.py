"""In-place resize (1.33+): a changed `spec.containers[*].resources` is admitted when the node
has room (else Deferred or Infeasible) and applied to the running containers, in place or by a
restart where the container's `resizePolicy` asks for one."""

from __future__ import annotations

import copy
from typing import Any

from kubesim.controllers import events
from kubesim.controllers.base import Context
from kubesim.controllers.behaviour import FOREVER
from kubesim.controllers.kubelet.common import (
    behaviour_of,
    field_path,
    memory_limit,
    node_name,
    request,
    resources,
    with_resources,
)
from kubesim.controllers.kubelet.containers import ContainerSteps, running_due
from kubesim.controllers.kubelet.logs import emit_logs
from kubesim.controllers.kubelet.runplan import plan_run
from kubesim.controllers.quantity import cpu_millis, memory_bytes
from kubesim.controllers.runtime import SYNC_DELAY, ContainerRuntime, PodRuntime
from kubesim.controllers.scheduler import pod_requests
from kubesim.store import PODS, Obj


class Resizer:
    """Admits and applies resizes for the kubelet's pods (`pods`: its runtimes by pod uid)."""

    def __init__(self, ctx: Context, pods: dict[str, PodRuntime], steps: ContainerSteps) -> None:
        self.ctx = ctx
        self.pods = pods
        self.steps = steps

    def retry_pending(self) -> None:
        """A pod left: pending resizes are retried at once (TriggerReasonPodsRemoved)."""
        for rt in self.pods.values():
            if rt.resize_pending is not None:
                rt.seen_rv = ""

    def resize(
        self, pod: Obj, node: Obj, rt: PodRuntime, specs: dict[str, Obj], now: float
    ) -> bool:
        """Admit a changed `spec.containers[*].resources` if the node has room, and apply it
        to the containers (in place, or by a restart where `resizePolicy` asks for one)."""
        before = (rt.resize_pending, rt.resize_error, rt.resize_until)
        if rt.resize_until is not None and rt.resize_until <= now:
            rt.resize_until = None
        for c in rt.containers.values():
            if c.allocated is None and c.name in specs:
                c.allocated = resources(specs[c.name])
                c.actual = copy.deepcopy(c.allocated)
        if not rt.sandbox or rt.killing:
            return False
        wanted = [
            c
            for c in rt.containers.values()
            if c.name in specs and c.allocated != resources(specs[c.name])
        ]
        if wanted:
            verdict = self._admit(pod, node, specs)
            rt.resize_pending = verdict
            if verdict is None:
                for c in wanted:
                    c.allocated = resources(specs[c.name])
                rt.resize_until = now + SYNC_DELAY
        else:
            rt.resize_pending = None
        rt.resize_error = None
        for c in rt.containers.values():
            if c.name in specs and c.actual != c.allocated:
                self._actuate(pod, node, rt, c, specs[c.name], now)
        return (rt.resize_pending, rt.resize_error, rt.resize_until) != before

    def _admit(self, pod: Obj, node: Obj, specs: dict[str, Obj]) -> tuple[str, str] | None:
        """canResizePod: Infeasible above the node's allocatable, Deferred above what the
        other pods leave of it; None when it fits."""
        alloc = (node.get("status") or {}).get("allocatable") or {}
        capacity = {
            "cpu": cpu_millis(alloc.get("cpu", "0")),
            "memory": memory_bytes(alloc.get("memory", "0")),
        }
        want = {"cpu": 0.0, "memory": 0.0}
        for spec in specs.values():
            for name in want:
                want[name] += request(resources(spec), name)
        for name in ("memory", "cpu"):
            if want[name] > capacity[name]:
                return (
                    "Infeasible",
                    f"Node didn't have enough capacity: {name}, requested: {int(want[name])}, "
                    f"capacity: {int(capacity[name])}",
                )
        used = self._used_by_others(pod, node_name(node))
        for name in ("memory", "cpu"):
            if want[name] + used[name] > capacity[name]:
                return (
                    "Deferred",
                    f"Node didn't have enough resource: {name}, requested: {int(want[name])}, "
                    f"used: {int(used[name])}, capacity: {int(capacity[name])}",
                )
        return None

    def _used_by_others(self, pod: Obj, node: str) -> dict[str, float]:
        """What the node's other live pods hold: their allocated resources, else requests."""
        used = {"cpu": 0.0, "memory": 0.0}
        for other in self.ctx.store.iter_refs(PODS):
            if (
                other["metadata"].get("uid") == pod["metadata"].get("uid")
                or (other.get("spec") or {}).get("nodeName") != node
                or (other.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            ):
                continue
            ort = self.pods.get(other["metadata"].get("uid", ""))
            if ort is not None and all(c.allocated is not None for c in ort.containers.values()):
                for c in ort.containers.values():
                    for name in used:
                        used[name] += request(c.allocated or {}, name)
            else:
                cpu, memory = pod_requests(other)
                used["cpu"] += cpu
                used["memory"] += memory
        return used

    def _actuate(
        self, pod: Obj, node: Obj, rt: PodRuntime, c: ContainerRuntime, spec: Obj, now: float
    ) -> None:
        """Give container `c` its allocated resources."""
        new = copy.deepcopy(c.allocated or {})
        if c.phase != "running" or c.run is None:
            c.actual = new  # applies when it next starts
            return
        old = c.actual or {}
        changed = [
            name
            for name in ("cpu", "memory")
            if any(
                (old.get(section) or {}).get(name) != (new.get(section) or {}).get(name)
                for section in ("requests", "limits")
            )
        ]
        if any(_resize_restart(spec, name) == "RestartContainer" for name in changed):
            self._restart(pod, node, rt, c, spec, new, now)
            return
        limit = memory_limit({"resources": new})
        old_limit = memory_limit({"resources": old})
        if limit is not None and (old_limit is None or limit < old_limit):
            usage = c.run.behaviour.memory_at(now - c.run.start, old_limit)
            if usage > limit:
                # The kubelet will not set a memory limit under what the container uses.
                rt.resize_error = (
                    f"attempting to set container {c.name}'s memory limit ({int(limit)}) "
                    f"below its current usage ({int(usage)})"
                )
                return
        c.actual = new
        resized = with_resources(spec, new)
        c.run = plan_run(behaviour_of(pod, resized), resized, c.run.start, restored_at=now)
        due = running_due(c)
        c.due = None if due == FOREVER else max(due, now)

    def _restart(
        self,
        pod: Obj,
        node: Obj,
        rt: PodRuntime,
        c: ContainerRuntime,
        spec: Obj,
        new: dict[str, Any],
        now: float,
    ) -> None:
        """A resize whose `resizePolicy` says RestartContainer: kill and start with the new
        resources (not a crash: the back-off stays as it was)."""
        assert c.run is not None
        source = events.kubelet(node_name(node))
        self.ctx.events.emit(
            pod,
            "Normal",
            "Killing",
            f"Container {c.name} resize requires restart",
            source,
            now,
            field_path(c.name),
        )
        emit_logs(self.ctx, pod, rt, c, now)
        c.terminated = {
            "exitCode": 137,
            "reason": "Error",
            "startedAt": self.ctx.stamp(c.run.start),
            "finishedAt": self.ctx.stamp(now),
            "containerID": c.container_id,
        }
        c.actual = new
        backoff, updated = c.backoff, c.backoff_updated
        self.steps.start(pod, rt, c, with_resources(spec, new), now, source)
        c.backoff, c.backoff_updated = backoff, updated


def _resize_restart(spec: Obj, name: str) -> str:
    for entry in spec.get("resizePolicy") or []:
        if isinstance(entry, dict) and entry.get("resourceName") == name:
            return str(entry.get("restartPolicy") or "NotRequired")
    return "NotRequired"
