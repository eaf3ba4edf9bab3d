"""The kubelet as a controller: finds the pods bound to live nodes, fires their containers'
timers in order, reports their status, samples their usage, handles node pressure and
deletion. The containers' own steps, probes, logs, restore and resize live beside it."""

from __future__ import annotations

import logging
from typing import Any

from kubesim.controllers import events
from kubesim.controllers.base import Context
from kubesim.controllers.behaviour import FOREVER
from kubesim.controllers.eviction import DISK, MEMORY, NodePressure, pod_usage
from kubesim.controllers.kubelet.common import (
    MOUNT_RETRY_SECONDS,
    REPEAT_SECONDS,
    REPEATING_PHASES,
    behaviour_of,
    field_path,
    node_name,
    with_resources,
)
from kubesim.controllers.kubelet.containers import ContainerSteps, next_init
from kubesim.controllers.kubelet.resize import Resizer
from kubesim.controllers.kubelet.restore import PodRestorer
from kubesim.controllers.metrics import RESOLUTION as METRICS_RESOLUTION
from kubesim.controllers.metrics import PodMetricsWriter
from kubesim.controllers.nodelifecycle import kubelet_stopped
from kubesim.controllers.podconfig import missing_volume
from kubesim.controllers.podstatus import render
from kubesim.controllers.runtime import ContainerRuntime, PodRuntime
from kubesim.store import NODES, PODS, NotFound, Obj

log = logging.getLogger(__name__)

# Timer firings for one pod in one pass before the kubelet gives up on it until the next.
MAX_TRANSITIONS = 10_000


class Kubelet:
    """All nodes' kubelets (they share nothing but the code)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.pods: dict[str, PodRuntime] = {}
        self.node_images: dict[str, set[str]] = {}
        self._next_ip: dict[str, int] = {}
        self.metrics = PodMetricsWriter(ctx)
        self.pressures = (NodePressure(ctx, MEMORY), NodePressure(ctx, DISK))
        self.steps = ContainerSteps(ctx, self.node_images)
        self.restorer = PodRestorer(ctx, self.node_images)
        self.resizer = Resizer(ctx, self.pods, self.steps)

    # -- the controller interface ---------------------------------------------------------
    def next_due(self) -> float | None:
        return min(
            (d for rt in self.pods.values() if (d := rt.next_due()) is not None), default=None
        )

    def reconcile(self, now: float) -> bool:
        nodes = {n["metadata"]["name"]: n for n in self.ctx.store.iter_refs(NODES)}
        changed = False
        seen: set[str] = set()
        for pod in list(self.ctx.store.iter_refs(PODS)):
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or node not in nodes:
                continue
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            if kubelet_stopped(nodes[node]):
                continue  # that node's kubelet is down: nothing runs or reports there
            rt = self.pods.get(uid)
            if rt is not None and self._idle(pod, rt, now):
                if rt.metrics_wake <= now:  # only a usage sample is due
                    self._sample(pod, rt, now)
                continue  # nothing due and nobody touched the pod: skip the sync
            try:
                changed |= self._sync_pod(pod, nodes[node], now)
            except NotFound:
                continue  # deleted under us: the next pass forgets it
        gone = [uid for uid in self.pods if uid not in seen]
        for uid in gone:
            del self.pods[uid]
        if gone:
            self.resizer.retry_pending()
        changed |= self._node_pressure(nodes, now)
        changed |= self.metrics.forget_missing(now)
        return changed

    @staticmethod
    def _idle(pod: Obj, rt: PodRuntime, now: float) -> bool:
        return (
            rt.wake > now
            and rt.seen_rv == pod["metadata"].get("resourceVersion")
            and (rt.next_due() or FOREVER) > now
        )

    def _node_pressure(self, nodes: dict[str, Obj], now: float) -> bool:
        changed = False
        evicted_uids: set[str] = set()
        for pressure in self.pressures:
            changed |= self._signal_pressure(pressure, nodes, evicted_uids, now)
        return changed

    def _signal_pressure(
        self, pressure: NodePressure, nodes: dict[str, Obj], evicted_uids: set[str], now: float
    ) -> bool:
        by_node: dict[str, list[Any]] = {
            name: []
            for name, node in nodes.items()
            if pressure.due(name, now) and not kubelet_stopped(node)
        }
        if not by_node:
            return False
        for pod in self.ctx.store.iter_refs(PODS):
            rt = self.pods.get(pod["metadata"]["uid"])
            node = (pod.get("spec") or {}).get("nodeName")
            if rt is None or node not in by_node or pod["metadata"].get("deletionTimestamp"):
                continue
            if pod["metadata"]["uid"] in evicted_uids:
                continue  # already evicted for another signal in this pass
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            by_node[node].append(pod_usage(pod, rt, now, pressure.signal))
        changed = False
        for name, usages in by_node.items():
            for evicted in pressure.check(nodes[name], [u for u in usages if u.total > 0], now):
                evicted_uids.add(evicted["metadata"]["uid"])
                self.pods.pop(evicted["metadata"]["uid"], None)
                self.metrics.remove(evicted)
                self.resizer.retry_pending()
                changed = True
        return changed

    # -- one pod ----------------------------------------------------------------------------
    def _sync_pod(self, pod: Obj, node: Obj, now: float) -> bool:
        uid = pod["metadata"]["uid"]
        if pod["metadata"].get("deletionTimestamp"):
            return self._terminate(pod, node, now)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return self.metrics.remove(pod)
        rt = self.pods.get(uid)
        fresh = rt is None
        if rt is None:
            rt = self.restorer.restore(pod, node, now)
            self.pods[uid] = rt
        if not rt.sandbox and not self._create_sandbox(pod, node, rt, now):
            return self._write(pod, node, rt, now) or fresh
        changed = fresh
        spec_containers = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        if self.ctx.kube.in_place_resize:
            changed |= self.resizer.resize(pod, node, rt, spec_containers, now)
            spec_containers = {
                name: with_resources(spec, rt.containers[name].actual)
                if name in rt.containers
                else spec
                for name, spec in spec_containers.items()
            }
        init_specs = {c["name"]: c for c in (pod.get("spec") or {}).get("initContainers") or []}
        current, fired = self._fire_timers(pod, node, rt, init_specs, spec_containers, now)
        if current is None:
            return True
        pod = current
        changed |= fired
        # Things that run continuously: logs, probe failures, usage.
        for c in rt.all():
            specs = init_specs if c.init else spec_containers
            if c.name in specs:
                changed |= self.steps.running_work(pod, node, rt, c, specs[c.name], now)
        changed |= self._write(pod, node, rt, now)
        changed |= self.metrics.update(pod, rt, spec_containers, now)
        self._remember(pod, rt, now)
        return changed

    def _create_sandbox(self, pod: Obj, node: Obj, rt: PodRuntime, now: float) -> bool:
        """Set up the pod's sandbox (its IP) once its volumes mount; False while one cannot."""
        missing = missing_volume(self.ctx.store, pod)
        if missing is not None:
            if now - rt.mount_event_at >= MOUNT_RETRY_SECONDS:
                rt.mount_event_at = now
                self.ctx.events.emit(
                    pod, "Warning", "FailedMount", missing, events.kubelet(node_name(node)), now
                )
            return False
        rt.sandbox = True
        rt.pod_ip = rt.pod_ip or self._allocate_ip(node)
        next_init(rt, now)
        return True

    def _fire_timers(
        self,
        pod: Obj,
        node: Obj,
        rt: PodRuntime,
        init_specs: dict[str, Obj],
        spec_containers: dict[str, Obj],
        now: float,
    ) -> tuple[Obj | None, bool]:
        """Fire every container timer due by `now`, earliest first, writing the status at each
        one's time. Returns the pod as it now is (None: deleted meanwhile) and whether it
        changed."""
        changed = False
        for _ in range(MAX_TRANSITIONS):
            due = min((c.due for c in rt.all() if c.due is not None), default=None)
            if due is None or due > now:
                return pod, changed
            for c in rt.all():
                specs = init_specs if c.init else spec_containers
                if c.due is not None and c.due <= due and c.name in specs:
                    c.due = None
                    self.steps.step(pod, node, rt, c, specs[c.name], due)
            current = self.ctx.store.peek(
                PODS, pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
            )
            if current is None:
                return None, True
            pod = current
            changed |= self._write(pod, node, rt, due)
        due = min((c.due for c in rt.all() if c.due is not None), default=None)
        if due is not None and due <= now:
            log.warning("kubelet: pod %s has too many transitions; giving up this pass", rt.uid)
        return pod, changed

    def _sample(self, pod: Obj, rt: PodRuntime, now: float) -> None:
        specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        self.metrics.update(pod, rt, specs, now)
        rt.metrics_wake = now + rt.metrics_period

    def _remember(self, pod: Obj, rt: PodRuntime, now: float) -> None:
        """Note when this pod next needs a sync, so idle pods cost nothing."""
        meta = pod["metadata"]
        current = self.ctx.store.peek(PODS, meta.get("namespace", ""), meta["name"])
        rt.seen_rv = (current or pod)["metadata"].get("resourceVersion", "")
        rt.synced_at = now
        running = [c for c in rt.containers.values() if c.phase == "running" and c.run is not None]
        changing = any(
            c.run.behaviour.memory_growth or c.run.behaviour.oom_at is not None
            for c in running
            if c.run is not None
        )
        # Usage samples: every 15 s while usage moves, every minute while it is steady.
        rt.metrics_period = METRICS_RESOLUTION if changing else 4 * METRICS_RESOLUTION
        rt.metrics_wake = now + rt.metrics_period if running else FOREVER
        wakes = [w for c in rt.all() if (w := _wake(c, now)) is not None]
        if not rt.sandbox:
            wakes.append(rt.mount_event_at + MOUNT_RETRY_SECONDS)
        if rt.resize_pending is not None or rt.resize_error is not None:
            wakes.append(now + REPEAT_SECONDS)  # the kubelet retries pending resizes
        rt.wake = min(wakes, default=FOREVER)

    # -- deletion ---------------------------------------------------------------------------
    def _terminate(self, pod: Obj, node: Obj, now: float) -> bool:
        uid = pod["metadata"]["uid"]
        rt = self.pods.get(uid) or PodRuntime(uid=uid)
        self.pods[uid] = rt
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        if not rt.killing:
            self._stop_containers(pod, node, rt, now)
        if rt.kill_at is not None and now < rt.kill_at:
            return True
        try:
            self.ctx.store.delete(PODS, ns, name)
        except NotFound:
            return False
        self.ctx.logs.drop_pod(ns, name)
        self.metrics.remove(pod)
        self.pods.pop(uid, None)
        self.resizer.retry_pending()
        return True

    def _stop_containers(self, pod: Obj, node: Obj, rt: PodRuntime, now: float) -> None:
        """Send the running containers SIGTERM; one that ignores it lives to the grace end."""
        rt.killing = True
        source = events.kubelet(node_name(node))
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        grace_end = self.ctx.seconds(pod["metadata"].get("deletionTimestamp")) or now
        rt.kill_at = now
        for cs in statuses:
            if "running" in (cs.get("state") or {}):
                self.ctx.events.emit(
                    pod,
                    "Normal",
                    "Killing",
                    f"Stopping container {cs['name']}",
                    source,
                    now,
                    field_path(cs["name"]),
                )
                spec: Obj = next(
                    (c for c in pod["spec"].get("containers") or [] if c["name"] == cs["name"]),
                    {},
                )
                if behaviour_of(pod, spec).ignore_sigterm:
                    rt.kill_at = max(rt.kill_at, grace_end)

    # -- the node -----------------------------------------------------------------------------
    def _allocate_ip(self, node: Obj) -> str:
        name = node_name(node)
        names = sorted(n["metadata"]["name"] for n in self.ctx.store.iter_refs(NODES))
        index = names.index(name) + 1 if name in names else 1
        host = self._next_ip.get(name, 2)
        self._next_ip[name] = 2 if host >= 254 else host + 1
        return f"10.244.{index}.{host}"

    # -- status -----------------------------------------------------------------------------
    def _write(self, pod: Obj, node: Obj, rt: PodRuntime, at: float) -> bool:
        status = render(self.ctx, pod, node, rt, at)
        if status == pod.get("status"):
            return False
        meta = pod["metadata"]

        def change(current: Obj) -> None:
            current["status"] = status

        try:
            self.ctx.store.mutate(PODS, meta.get("namespace", ""), meta["name"], change)
        except NotFound:
            return False
        return True


def _wake(c: ContainerRuntime, now: float) -> float | None:
    """When container `c` next has something to report without a timer: a log line, a probe
    failure, a repeated back-off event."""
    if c.phase == "running" and c.run is not None:
        wakes: list[float] = []
        line = c.run.behaviour.next_line_after(c.log_cursor)
        if line is not None:
            wakes.append(c.run.start + line)
        if (
            c.run.liveness_first_failure < FOREVER
            or c.run.readiness_first_failure < FOREVER
            or c.run.startup_first_failure < FOREVER
        ):
            wakes.append(now + 1.0)  # probe failures are counted as they happen
        return min(wakes, default=None)
    if c.phase in REPEATING_PHASES:
        return c.last_repeat + REPEAT_SECONDS
    return None
