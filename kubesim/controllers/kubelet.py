"""The kubelet of every simulated node: pulls, starts, probes, restarts and reports pods.

Each pod's containers move through the states a real kubelet reports (ContainerCreating,
ErrImagePull/ImagePullBackOff, CreateContainerConfigError, Running, terminated with Error or
OOMKilled, CrashLoopBackOff) at the simulated times a real node would need. Transitions are
timers: the kubelet exposes the earliest one, so a clock that jumps minutes still produces every
restart, event and log line at its own time.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from typing import Any

from kubesim.controllers import events, probes
from kubesim.controllers.base import Context
from kubesim.controllers.behaviour import FOREVER, Behaviour, BehaviourError, container_behaviour
from kubesim.controllers.eviction import DISK, MEMORY, NodePressure, pod_usage
from kubesim.controllers.logtext import render_line
from kubesim.controllers.metrics import RESOLUTION as METRICS_RESOLUTION
from kubesim.controllers.metrics import PodMetricsWriter
from kubesim.controllers.nodelifecycle import kubelet_stopped
from kubesim.controllers.podconfig import config_error, has_pull_secret, missing_volume
from kubesim.controllers.podstatus import render
from kubesim.controllers.quantity import QuantityError, cpu_millis, memory_bytes
from kubesim.controllers.runtime import (
    SYNC_DELAY,
    ContainerRuntime,
    PodRuntime,
    RunPlan,
    go_duration,
    parse_go_duration,
    probe_of,
)
from kubesim.controllers.scheduler import pod_requests
from kubesim.images import PullOutcome, parse_image, pull_error, reference_error
from kubesim.store import NODES, PODS, NotFound, Obj

log = logging.getLogger(__name__)

# How often a pod stuck in a back-off or a config error repeats its events (a pod resync).
REPEAT_SECONDS = 15.0
# Failed volume mounts are retried (and reported) about every two minutes.
MOUNT_RETRY_SECONDS = 120.0
CONFIG_RETRY_SECONDS = 10.0
CACHED_PULL_SECONDS = 0.8


def _pod_ref(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def _field(name: str, init: bool = False) -> str:
    return f"spec.initContainers{{{name}}}" if init else f"spec.containers{{{name}}}"


def _memory_limit(container: Obj) -> float | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if value is None:
        return None
    try:
        return memory_bytes(value)
    except QuantityError:
        return None


def _container_id(pod_uid: str, name: str, restart: int) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{restart}".encode()).hexdigest()


class Kubelet:
    """All nodes' kubelets (they share nothing but the code)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.pods: dict[str, PodRuntime] = {}
        self.node_images: dict[str, set[str]] = {}
        self._next_ip: dict[str, int] = {}
        self.metrics = PodMetricsWriter(ctx)
        self.pressures = (NodePressure(ctx, MEMORY), NodePressure(ctx, DISK))

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
            if (
                rt is not None
                and rt.wake > now
                and rt.seen_rv == pod["metadata"].get("resourceVersion")
                and (rt.next_due() or FOREVER) > now
            ):
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
            self._retry_resizes()
        changed |= self._node_pressure(nodes, now)
        changed |= self.metrics.forget_missing(now)
        return changed

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
                self._retry_resizes()
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
            rt = self._restore(pod, node, now)
            self.pods[uid] = rt
        if not rt.sandbox:
            missing = missing_volume(self.ctx.store, pod)
            if missing is not None:
                if now - rt.mount_event_at >= MOUNT_RETRY_SECONDS:
                    rt.mount_event_at = now
                    self.ctx.events.emit(
                        pod, "Warning", "FailedMount", missing, events.kubelet(_node(node)), now
                    )
                return self._write(pod, node, rt, now) or fresh
            rt.sandbox = True
            rt.pod_ip = rt.pod_ip or self._allocate_ip(node)
            self._next_init(rt, now)
        changed = fresh
        spec_containers = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        if self.ctx.kube.in_place_resize:
            changed |= self._resize(pod, node, rt, spec_containers, now)
            spec_containers = {
                name: _with_resources(spec, rt.containers[name].actual)
                if name in rt.containers
                else spec
                for name, spec in spec_containers.items()
            }
        init_specs = {c["name"]: c for c in (pod.get("spec") or {}).get("initContainers") or []}
        guard = 0
        while True:
            due = min((c.due for c in rt.all() if c.due is not None), default=None)
            if due is None or due > now:
                break
            guard += 1
            if guard > 10_000:
                log.warning("kubelet: pod %s has too many transitions; giving up this pass", uid)
                break
            for c in rt.all():
                specs = init_specs if c.init else spec_containers
                if c.due is not None and c.due <= due and c.name in specs:
                    c.due = None
                    self._step(pod, node, rt, c, specs[c.name], due)
            current = self.ctx.store.peek(
                PODS, pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
            )
            if current is None:
                return True
            pod = current
            changed |= self._write(pod, node, rt, due)
        # Things that run continuously: logs, probe failures, usage.
        for c in rt.all():
            specs = init_specs if c.init else spec_containers
            if c.name in specs:
                changed |= self._running_work(pod, node, rt, c, specs[c.name], now)
        changed |= self._write(pod, node, rt, now)
        changed |= self.metrics.update(pod, rt, spec_containers, now)
        self._remember(pod, rt, now)
        return changed

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
        wakes: list[float] = []
        for c in rt.all():
            if c.phase == "running" and c.run is not None:
                line = c.run.behaviour.next_line_after(c.log_cursor)
                if line is not None:
                    wakes.append(c.run.start + line)
                if (
                    c.run.liveness_first_failure < FOREVER
                    or c.run.readiness_first_failure < FOREVER
                    or c.run.startup_first_failure < FOREVER
                ):
                    wakes.append(now + 1.0)  # probe failures are counted as they happen
            elif c.phase in ("pull-backoff", "backoff", "config-error", "invalid"):
                wakes.append(c.last_repeat + REPEAT_SECONDS)
        if not rt.sandbox:
            wakes.append(rt.mount_event_at + MOUNT_RETRY_SECONDS)
        if rt.resize_pending is not None or rt.resize_error is not None:
            wakes.append(now + REPEAT_SECONDS)  # the kubelet retries pending resizes
        rt.wake = min(wakes, default=FOREVER)

    def _restore(self, pod: Obj, node: Obj, now: float) -> PodRuntime:
        """Build the runtime for a pod we have not run yet, from whatever its status says."""
        status = pod.get("status") or {}
        rt = PodRuntime(
            uid=pod["metadata"]["uid"],
            pod_ip=status.get("podIP", ""),
            started=self.ctx.seconds(status.get("startTime")),
        )
        statuses = {cs.get("name"): cs for cs in status.get("containerStatuses") or []}
        init_statuses = {cs.get("name"): cs for cs in status.get("initContainerStatuses") or []}
        restart_policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        node_name = _node(node)
        init_specs = (pod.get("spec") or {}).get("initContainers") or []
        for spec in init_specs:
            c = ContainerRuntime(
                name=spec["name"],
                image=str(spec.get("image", "")),
                init=True,
                waiting_reason="PodInitializing",
            )
            rt.init[c.name] = c
        rt.initialized = not init_specs or any(
            cs.get("containerID") or (cs.get("state") or {}).get("running")
            for cs in statuses.values()
        )
        for spec in [*init_specs, *((pod.get("spec") or {}).get("containers") or [])]:
            is_init = spec["name"] in rt.init and spec in init_specs
            if is_init:
                c = rt.init[spec["name"]]
                cs = init_statuses.get(c.name)
            else:
                c = ContainerRuntime(name=spec["name"], image=str(spec.get("image", "")))
                if init_specs:
                    c.waiting_reason = "PodInitializing"
                rt.containers[c.name] = c
                cs = statuses.get(c.name)
            if not cs:
                continue
            rt.sandbox = bool(rt.pod_ip)
            c.restart_count = int(cs.get("restartCount") or 0)
            c.last_terminated = (cs.get("lastState") or {}).get("terminated")
            c.container_id = cs.get("containerID", "")
            c.started_once = bool(cs.get("containerID") or c.restart_count or c.last_terminated)
            if c.restart_count:
                c.backoff = min(10.0 * 2 ** (c.restart_count - 1), 300.0)
                c.backoff_updated = now
            state = cs.get("state") or {}
            if cs.get("imageID"):
                self.node_images.setdefault(node_name, set()).add(parse_image(c.image).full)
                if self.ctx.images.resolve(c.image, has_credentials=True) is not PullOutcome.OK:
                    self.ctx.images.add(c.image)
            if "running" in state:
                started = self.ctx.seconds(state["running"].get("startedAt")) or now
                c.image_ready = True
                self._plan(pod, c, spec, started, restored_at=now)
                c.phase = "running"
                c.log_cursor = now - started
                c.due = min(self._running_due(c), FOREVER)
                c.due = None if c.due == FOREVER else max(c.due, now)
                rt.sandbox = True
            elif "terminated" in state:
                c.terminated = dict(state["terminated"])
                finished = self.ctx.seconds(c.terminated.get("finishedAt")) or now
                policy = restart_policy
                if c.init and policy == "Always":
                    policy = "OnFailure"  # init containers that succeeded are not run again
                c.phase = "exited" if self._restarts(policy, c.terminated) else "done"
                c.due = max(finished + SYNC_DELAY, now) if c.phase == "exited" else None
                rt.sandbox = True
            else:
                waiting = state.get("waiting") or {}
                reason = waiting.get("reason", "ContainerCreating")
                if reason == "CrashLoopBackOff" and c.last_terminated:
                    parsed = _backoff_from_message(waiting.get("message", ""))
                    if parsed:
                        c.backoff = parsed
                    c.backoff_updated = now
                    c.terminated = dict(c.last_terminated)
                    finished = self.ctx.seconds(c.terminated.get("finishedAt")) or now
                    c.phase = "backoff"
                    c.waiting_reason, c.waiting_message = reason, waiting.get("message", "")
                    c.due = max(finished + c.backoff, now)
                    c.last_repeat = now
                    rt.sandbox = True
                elif reason in ("ImagePullBackOff", "ErrImagePull"):
                    # The recording says this image does not pull. Unless the registry refused
                    # credentials (the pod's secrets decide that), its tag is gone.
                    text = str(waiting.get("message", ""))
                    refused = "401" in text or "authoriz" in text
                    if (
                        not refused
                        and self.ctx.images.resolve(c.image, has_credentials=True) is PullOutcome.OK
                    ):
                        self.ctx.images.remove(c.image)
                    c.pull_failures = 1
                    c.phase = "pull-backoff"
                    c.waiting_reason, c.waiting_message = (
                        "ImagePullBackOff",
                        f'Back-off pulling image "{c.image}"',
                    )
                    c.due = now + c.pull_backoff()
                    c.last_repeat = now
                    rt.sandbox = True
                elif reason == "CreateContainerConfigError":
                    c.phase, c.due, c.image_ready = "create", now, True
                    rt.sandbox = True
                else:
                    c.phase, c.due = "init", None
        if rt.sandbox:
            self._next_init(rt, now)
        if rt.init and all(
            c.phase == "done" and int((c.terminated or {}).get("exitCode", 1)) == 0
            for c in rt.init.values()
        ):
            rt.initialized = True
        return rt

    def _next_init(self, rt: PodRuntime, t: float) -> None:
        """Start the next init container, or the app containers once every init one succeeded."""
        for c in rt.init.values():
            if c.phase == "done" and int((c.terminated or {}).get("exitCode", 1)) == 0:
                continue
            if c.phase == "init" and c.due is None:
                c.due = t
            return  # this one is (or will be) running, failing or backing off
        rt.initialized = True
        for c in rt.containers.values():
            if c.phase == "init" and c.due is None:
                c.due = t

    # -- in-place resize (1.33+) -----------------------------------------------------------
    def _retry_resizes(self) -> None:
        """A pod left: pending resizes are retried at once (TriggerReasonPodsRemoved)."""
        for rt in self.pods.values():
            if rt.resize_pending is not None:
                rt.seen_rv = ""

    def _resize(
        self, pod: Obj, node: Obj, rt: PodRuntime, specs: dict[str, Obj], now: float
    ) -> bool:
        """Admit a changed `spec.containers[*].resources` if the node has room, and apply it
        to the containers (in place, or by a restart where `resizePolicy` asks for one)."""
        before = (rt.resize_pending, rt.resize_error, rt.resize_until)
        if rt.resize_until is not None and rt.resize_until <= now:
            rt.resize_until = None
        for c in rt.containers.values():
            if c.allocated is None and c.name in specs:
                c.allocated = _resources(specs[c.name])
                c.actual = copy.deepcopy(c.allocated)
        if not rt.sandbox or rt.killing:
            return False
        wanted = [
            c
            for c in rt.containers.values()
            if c.name in specs and c.allocated != _resources(specs[c.name])
        ]
        if wanted:
            verdict = self._admit_resize(pod, node, specs)
            rt.resize_pending = verdict
            if verdict is None:
                for c in wanted:
                    c.allocated = _resources(specs[c.name])
                rt.resize_until = now + SYNC_DELAY
        else:
            rt.resize_pending = None
        rt.resize_error = None
        for c in rt.containers.values():
            if c.name in specs and c.actual != c.allocated:
                self._actuate(pod, node, rt, c, specs[c.name], now)
        return (rt.resize_pending, rt.resize_error, rt.resize_until) != before

    def _admit_resize(self, pod: Obj, node: Obj, specs: dict[str, Obj]) -> tuple[str, str] | None:
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
                want[name] += _request(_resources(spec), name)
        for name in ("memory", "cpu"):
            if want[name] > capacity[name]:
                return (
                    "Infeasible",
                    f"Node didn't have enough capacity: {name}, requested: {int(want[name])}, "
                    f"capacity: {int(capacity[name])}",
                )
        used = {"cpu": 0.0, "memory": 0.0}
        node_name = _node(node)
        for other in self.ctx.store.iter_refs(PODS):
            if (
                other["metadata"].get("uid") == pod["metadata"].get("uid")
                or (other.get("spec") or {}).get("nodeName") != node_name
                or (other.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            ):
                continue
            ort = self.pods.get(other["metadata"].get("uid", ""))
            if ort is not None and all(c.allocated is not None for c in ort.containers.values()):
                for c in ort.containers.values():
                    for name in used:
                        used[name] += _request(c.allocated or {}, name)
            else:
                cpu, memory = pod_requests(other)
                used["cpu"] += cpu
                used["memory"] += memory
        for name in ("memory", "cpu"):
            if want[name] + used[name] > capacity[name]:
                return (
                    "Deferred",
                    f"Node didn't have enough resource: {name}, requested: {int(want[name])}, "
                    f"used: {int(used[name])}, capacity: {int(capacity[name])}",
                )
        return None

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
        restart = any(_resize_restart(spec, name) == "RestartContainer" for name in changed)
        source = events.kubelet(_node(node))
        if restart:
            self.ctx.events.emit(
                pod,
                "Normal",
                "Killing",
                f"Container {c.name} resize requires restart",
                source,
                now,
                _field(c.name),
            )
            self._emit_logs(pod, rt, c, now)
            c.terminated = {
                "exitCode": 137,
                "reason": "Error",
                "startedAt": self.ctx.stamp(c.run.start),
                "finishedAt": self.ctx.stamp(now),
                "containerID": c.container_id,
            }
            c.actual = new
            backoff, updated = c.backoff, c.backoff_updated  # not a crash: no back-off
            self._start(pod, rt, c, _with_resources(spec, new), now, source)
            c.backoff, c.backoff_updated = backoff, updated
            return
        limit = _memory_limit({"resources": new})
        old_limit = _memory_limit({"resources": old})
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
        self._plan(pod, c, _with_resources(spec, new), c.run.start, restored_at=now)
        due = self._running_due(c)
        c.due = None if due == FOREVER else max(due, now)

    # -- transitions ------------------------------------------------------------------------
    def _step(
        self, pod: Obj, node: Obj, rt: PodRuntime, c: ContainerRuntime, spec: Obj, t: float
    ) -> None:
        source = events.kubelet(_node(node))
        fp = _field(c.name, c.init)
        policy = spec.get("imagePullPolicy") or "IfNotPresent"
        behaviour = self._behaviour(pod, spec)
        if c.phase in ("init", "invalid"):
            invalid = reference_error(c.image)
            if invalid is not None:
                c.phase, c.waiting_reason, c.waiting_message = (
                    "invalid",
                    "InvalidImageName",
                    invalid,
                )
                self.ctx.events.emit(
                    pod,
                    "Warning",
                    "InspectFailed",
                    f'Failed to apply default image tag "{c.image}": {invalid}',
                    source,
                    t,
                    fp,
                )
                self.ctx.events.emit(
                    pod, "Warning", "Failed", "Error: InvalidImageName", source, t, fp
                )
                c.last_repeat = t
                return
            present = parse_image(c.image).full in self.node_images.get(_node(node), set())
            if policy == "Never" and not present:
                c.phase, c.waiting_reason = "never", "ErrImageNeverPull"
                c.waiting_message = (
                    f'Container image "{c.image}" is not present with pull policy of Never'
                )
                self.ctx.events.emit(
                    pod, "Warning", "ErrImageNeverPull", c.waiting_message, source, t, fp
                )
                return
            if present and policy != "Always":
                self.ctx.events.emit(
                    pod,
                    "Normal",
                    "Pulled",
                    f'Container image "{c.image}" already present on machine',
                    source,
                    t,
                    fp,
                )
                c.phase, c.due = "create", t
                return
            self.ctx.events.emit(
                pod, "Normal", "Pulling", f'Pulling image "{c.image}"', source, t, fp
            )
            c.phase, c.pull_started = "pulling", t
            # The status keeps its last reason (e.g. ImagePullBackOff) while the pull runs.
            if not c.waiting_reason:
                c.waiting_reason, c.waiting_message = "ContainerCreating", ""
            seconds = behaviour.pull_seconds
            if seconds is None:
                seconds = CACHED_PULL_SECONDS if present else self.ctx.images.pull_seconds(c.image)
                seconds += (
                    int(
                        hashlib.md5(f"{pod['metadata']['uid']}{c.name}{t}".encode()).hexdigest()[
                            :3
                        ],
                        16,
                    )
                    % 400
                ) / 1000
            c.due = t + seconds
            return
        if c.phase == "pulling":
            outcome = behaviour.pull or self.ctx.images.resolve(
                c.image, has_credentials=has_pull_secret(self.ctx.store, pod)
            )
            if outcome is PullOutcome.OK:
                self.node_images.setdefault(_node(node), set()).add(parse_image(c.image).full)
                took = go_duration(t - c.pull_started)
                self.ctx.events.emit(
                    pod,
                    "Normal",
                    "Pulled",
                    f'Successfully pulled image "{c.image}" in {took} ({took} including waiting)',
                    source,
                    t,
                    fp,
                )
                c.pull_failures = 0
                c.phase, c.due = "create", t
                return
            message = pull_error(c.image, outcome)
            self.ctx.events.emit(
                pod,
                "Warning",
                "Failed",
                f'Failed to pull image "{c.image}": {message}',
                source,
                t,
                fp,
            )
            self.ctx.events.emit(pod, "Warning", "Failed", "Error: ErrImagePull", source, t, fp)
            c.pull_failures += 1
            c.waiting_reason, c.waiting_message = "ErrImagePull", message
            c.phase, c.due = "pull-error", t + SYNC_DELAY
            c.pull_started = t  # the back-off counts from the failure
            return
        if c.phase == "pull-error":
            c.waiting_reason, c.waiting_message = (
                "ImagePullBackOff",
                f'Back-off pulling image "{c.image}"',
            )
            self.ctx.events.emit(pod, "Normal", "BackOff", c.waiting_message, source, t, fp)
            self.ctx.events.emit(pod, "Warning", "Failed", "Error: ImagePullBackOff", source, t, fp)
            c.last_repeat = t
            c.phase, c.due = "pull-backoff", c.pull_started + c.pull_backoff()
            return
        if c.phase == "pull-backoff":
            c.phase, c.due = "init", t
            self.node_images.get(_node(node), set()).discard(parse_image(c.image).full)
            return
        if c.phase in ("create", "config-error"):
            if c.phase == "config-error":
                self.ctx.events.emit(
                    pod,
                    "Normal",
                    "Pulled",
                    f'Container image "{c.image}" already present on machine',
                    source,
                    t,
                    fp,
                )
            problem = config_error(self.ctx.store, pod, spec)
            if problem is not None:
                c.waiting_reason, c.waiting_message = "CreateContainerConfigError", problem
                self.ctx.events.emit(pod, "Warning", "Failed", f"Error: {problem}", source, t, fp)
                c.phase, c.due = "config-error", t + CONFIG_RETRY_SECONDS
                return
            if c.allocated is not None and c.actual != c.allocated:
                c.actual = copy.deepcopy(c.allocated)  # a new start gets what was admitted
                spec = _with_resources(spec, c.actual)
            self._start(pod, rt, c, spec, t, source)
            return
        if c.phase == "running":
            self._finish(pod, rt, c, spec, t, source)
            return
        if c.phase == "exited":
            finished = self.ctx.seconds((c.terminated or {}).get("finishedAt")) or t
            until = c.in_backoff_until(finished, t)
            if until is None:
                c.phase, c.due = "init", t
                return
            c.phase, c.due = "backoff", until
            c.waiting_reason = "CrashLoopBackOff"
            c.waiting_message = (
                f"back-off {go_duration(c.backoff)} restarting failed container={c.name} "
                f"pod={_pod_ref(pod)}"
            )
            self.ctx.events.emit(
                pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {c.name} in pod {_pod_ref(pod)}",
                source,
                t,
                fp,
            )
            c.last_repeat = t
            return
        if c.phase == "backoff":
            c.phase, c.due = "init", t
            return

    def _start(
        self,
        pod: Obj,
        rt: PodRuntime,
        c: ContainerRuntime,
        spec: Obj,
        t: float,
        source: events.Source,
    ) -> None:
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        if c.started_once:
            # A restart: the finished run becomes lastState and its log the previous log.
            c.restart_count += 1
            c.last_terminated = c.terminated
            self.ctx.logs.rotate(ns, name, c.name)
            c.next_backoff(t)
        c.terminated = None
        c.started_once = True
        c.container_id = _container_id(rt.uid, c.name, c.restart_count)
        fp = _field(c.name, c.init)
        self.ctx.events.emit(pod, "Normal", "Created", f"Created container {c.name}", source, t, fp)
        self.ctx.events.emit(pod, "Normal", "Started", f"Started container {c.name}", source, t, fp)
        c.phase = "running"
        c.waiting_reason, c.waiting_message = "", ""
        c.log_cursor = -1.0
        c.liveness_reported = c.readiness_reported = c.startup_reported = 0
        self._plan(pod, c, spec, t)
        self._emit_logs(pod, rt, c, t)
        due = self._running_due(c)
        c.due = None if due == FOREVER else due

    def _plan(
        self,
        pod: Obj,
        c: ContainerRuntime,
        spec: Obj,
        start: float,
        restored_at: float | None = None,
    ) -> None:
        b = self._behaviour(pod, spec)
        plan = RunPlan(start=start, behaviour=b)
        end, code, reason = b.runs_for, b.exit_code, "Completed" if b.exit_code == 0 else "Error"
        oom = b.oom_after(_memory_limit(spec))
        if oom is not None and oom < end:
            end, code, reason = oom, 137, "OOMKilled"
        started_at = start
        startup = probe_of(spec, "startupProbe", "Startup")
        startup_exec = probes.exec_schedule(startup, b, spec, start, start)
        if startup_exec is not None:
            plan.exec_probes["Startup"] = startup_exec
            plan.startup_first_failure = startup_exec.first_failure()
            passes = startup_exec.passes_at()
            started_at = FOREVER if passes is None else passes
            kill = startup_exec.kill_at() if passes is None else None
            if kill is not None and kill - start < end:
                end, code, reason = kill - start, 137, "Error"
                plan.startup_kill = True
        elif startup is not None:
            if b.startup_fails:
                first = startup.first_at_or_after(start, start)
                plan.startup_first_failure = first
                kill = first + (startup.failure_threshold - 1) * startup.period
                started_at = FOREVER
                if kill - start < end:
                    end, code, reason = kill - start, 137, "Error"
                    plan.startup_kill = True
            else:
                started_at = startup.first_at_or_after(start, start + b.startup_after)
        plan.started_at = started_at
        liveness = probe_of(spec, "livenessProbe", "Liveness")
        liveness_exec = probes.exec_schedule(liveness, b, spec, start, started_at)
        if liveness_exec is not None:
            plan.exec_probes["Liveness"] = liveness_exec
            plan.liveness_first_failure = liveness_exec.first_failure()
            kill = liveness_exec.kill_at()
            if kill is not None and kill - start < end:
                end, code, reason = kill - start, 137, "Error"
                plan.liveness_kill = True
        elif liveness is not None and b.liveness_fails_after is not None and started_at < FOREVER:
            # Liveness probes run only once the startup probe passed.
            first = liveness.first_at_or_after(
                start, max(start + b.liveness_fails_after, started_at)
            )
            plan.liveness_first_failure = first
            kill = first + (liveness.failure_threshold - 1) * liveness.period
            if kill - start < end:
                end, code, reason = kill - start, 137, "Error"
                plan.liveness_kill = True
        plan.end_at = start + end if end != FOREVER else FOREVER
        plan.exit_code, plan.reason = code, reason
        readiness = probe_of(spec, "readinessProbe", "Readiness")
        readiness_exec = probes.exec_schedule(readiness, b, spec, start, started_at)
        if readiness is None:
            plan.ready_at = started_at
        elif readiness_exec is not None:
            plan.exec_probes["Readiness"] = readiness_exec  # ready as its results say
            plan.readiness_first_failure = readiness_exec.first_failure()
        else:
            if b.readiness_fails_after != 0.0:
                plan.ready_at = readiness.first_at_or_after(start, start + b.ready_after)
            if b.readiness_fails_after is not None:
                first = readiness.first_at_or_after(start, start + b.readiness_fails_after)
                plan.readiness_first_failure = first
                plan.unready_at = first + (readiness.failure_threshold - 1) * readiness.period
        plan.ready_at = max(plan.ready_at, started_at)
        if restored_at is not None and plan.end_at < restored_at:
            plan.end_at = restored_at  # a recorded run that "should" have ended: end it now
        c.run = plan

    def _running_due(self, c: ContainerRuntime) -> float:
        assert c.run is not None
        return c.run.end_at

    def _finish(
        self,
        pod: Obj,
        rt: PodRuntime,
        c: ContainerRuntime,
        spec: Obj,
        t: float,
        source: events.Source,
    ) -> None:
        """The process ended at `t` (exit, OOM kill, or liveness kill)."""
        plan = c.run
        assert plan is not None
        self._emit_logs(pod, rt, c, t)
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        if plan.exit_code != 0 and plan.behaviour.exit_lines:
            for line in plan.behaviour.exit_lines:
                self.ctx.logs.append(ns, name, c.name, render_line(line, self.ctx, t, rt.pod_ip), t)
        if plan.liveness_kill or plan.startup_kill:
            self._probe_events(pod, rt, c, spec, t)
            probe = "liveness" if plan.liveness_kill else "startup"
            self.ctx.events.emit(
                pod,
                "Normal",
                "Killing",
                f"Container {c.name} failed {probe} probe, will be restarted",
                source,
                t,
                _field(c.name, c.init),
            )
        c.terminated = {
            "exitCode": plan.exit_code,
            "reason": plan.reason,
            "startedAt": self.ctx.stamp(plan.start),
            "finishedAt": self.ctx.stamp(t),
            "containerID": c.container_id,
        }
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        if c.init and policy == "Always":
            policy = "OnFailure"  # a finished init container is done; a failed one is retried
        if self._restarts(policy, c.terminated):
            c.phase, c.due = "exited", t + SYNC_DELAY
        else:
            c.phase, c.due = "done", None
            if c.init:
                self._next_init(rt, t)

    @staticmethod
    def _restarts(policy: str, terminated: dict[str, Any]) -> bool:
        if policy == "Always":
            return True
        if policy == "OnFailure":
            return int(terminated.get("exitCode", 1)) != 0
        return False

    # -- continuous work --------------------------------------------------------------------
    def _running_work(
        self, pod: Obj, node: Obj, rt: PodRuntime, c: ContainerRuntime, spec: Obj, now: float
    ) -> bool:
        changed = False
        if c.phase == "running":
            self._emit_logs(pod, rt, c, now)
            changed |= self._probe_events(pod, rt, c, spec, now)
        elif (
            c.phase in ("pull-backoff", "backoff", "config-error", "invalid")
            and now - c.last_repeat >= REPEAT_SECONDS
        ):
            source = events.kubelet(_node(node))
            fp = _field(c.name, c.init)
            c.last_repeat = now
            if c.phase == "pull-backoff":
                self.ctx.events.emit(
                    pod, "Normal", "BackOff", f'Back-off pulling image "{c.image}"', source, now, fp
                )
                self.ctx.events.emit(
                    pod, "Warning", "Failed", "Error: ImagePullBackOff", source, now, fp
                )
            elif c.phase == "backoff":
                self.ctx.events.emit(
                    pod,
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {c.name} in pod {_pod_ref(pod)}",
                    source,
                    now,
                    fp,
                )
            elif c.phase == "invalid":
                self.ctx.events.emit(
                    pod,
                    "Warning",
                    "InspectFailed",
                    f'Failed to apply default image tag "{c.image}": {c.waiting_message}',
                    source,
                    now,
                    fp,
                )
                self.ctx.events.emit(
                    pod, "Warning", "Failed", "Error: InvalidImageName", source, now, fp
                )
            changed = True
        return changed

    def _emit_logs(self, pod: Obj, rt: PodRuntime, c: ContainerRuntime, until: float) -> None:
        plan = c.run
        if plan is None:
            return
        until = min(until, plan.end_at)
        since, upto = c.log_cursor, until - plan.start
        if upto <= since:
            return
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        for offset, line in plan.behaviour.lines_between(since, upto):
            at = plan.start + offset
            self.ctx.logs.append(ns, name, c.name, render_line(line, self.ctx, at, rt.pod_ip), at)
        c.log_cursor = upto

    def _probe_events(
        self, pod: Obj, rt: PodRuntime, c: ContainerRuntime, spec: Obj, now: float
    ) -> bool:
        plan = c.run
        if plan is None:
            return False
        changed = False
        source = events.kubelet(pod["spec"].get("nodeName", ""))
        until = min(now, plan.end_at)
        for field_name, kind, first, attr in (
            ("livenessProbe", "Liveness", plan.liveness_first_failure, "liveness_reported"),
            ("readinessProbe", "Readiness", plan.readiness_first_failure, "readiness_reported"),
            ("startupProbe", "Startup", plan.startup_first_failure, "startup_reported"),
        ):
            probe = probe_of(spec, field_name, kind)
            if probe is None or first == FOREVER or until < first:
                continue
            schedule = plan.exec_probes.get(kind)
            if schedule is not None:  # each failed run, with what its command printed
                failures = schedule.failures_until(until)
                for at, output, times in probes.grouped(failures[getattr(c, attr) :]):
                    self.ctx.events.emit(
                        pod,
                        "Warning",
                        "Unhealthy",
                        probe.failure_message(rt.pod_ip, output),
                        source,
                        at,
                        _field(c.name, c.init),
                        times=times,
                    )
                    changed = True
                setattr(c, attr, len(failures))
                continue
            total = probe.times_from(plan.start, first, until)
            if (kind == "Liveness" and plan.liveness_kill) or (
                kind == "Startup" and plan.startup_kill
            ):
                total = min(total, probe.failure_threshold)
            new = total - getattr(c, attr)
            if new > 0:
                output = plan.behaviour.liveness_output
                self.ctx.events.emit(
                    pod,
                    "Warning",
                    "Unhealthy",
                    probe.failure_message(rt.pod_ip, output),
                    source,
                    until,
                    _field(c.name, c.init),
                    times=new,
                )
                setattr(c, attr, total)
                changed = True
        return changed

    # -- deletion ---------------------------------------------------------------------------
    def _terminate(self, pod: Obj, node: Obj, now: float) -> bool:
        uid = pod["metadata"]["uid"]
        rt = self.pods.get(uid) or PodRuntime(uid=uid)
        self.pods[uid] = rt
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        if not rt.killing:
            rt.killing = True
            source = events.kubelet(_node(node))
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
                        _field(cs["name"]),
                    )
                    spec: Obj = next(
                        (c for c in pod["spec"].get("containers") or [] if c["name"] == cs["name"]),
                        {},
                    )
                    if self._behaviour(pod, spec).ignore_sigterm:
                        rt.kill_at = max(rt.kill_at, grace_end)
        if rt.kill_at is not None and now < rt.kill_at:
            return True
        try:
            self.ctx.store.delete(PODS, ns, name)
        except NotFound:
            return False
        self.ctx.logs.drop_pod(ns, name)
        self.metrics.remove(pod)
        self.pods.pop(uid, None)
        self._retry_resizes()
        return True

    # -- checks -----------------------------------------------------------------------------
    def _behaviour(self, pod: Obj, spec: Obj) -> Behaviour:
        try:
            return container_behaviour(pod, spec)
        except (BehaviourError, QuantityError, ValueError) as exc:
            log.warning(
                "kubesim: ignoring bad behaviour annotations on %s: %s",
                pod["metadata"]["name"],
                exc,
            )
            return container_behaviour({"metadata": {}}, spec)

    def _allocate_ip(self, node: Obj) -> str:
        name = _node(node)
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


def _node(node: Obj) -> str:
    return str(node["metadata"]["name"])


def _resources(container: Obj) -> dict[str, Any]:
    """A container's cpu and memory requests and limits (what a resize may change)."""
    res = container.get("resources") or {}
    out: dict[str, Any] = {}
    for section in ("requests", "limits"):
        values = {k: v for k, v in (res.get(section) or {}).items() if k in ("cpu", "memory")}
        if values:
            out[section] = values
    return out


def _with_resources(spec: Obj, resources: dict[str, Any] | None) -> Obj:
    if resources is None:
        return spec
    merged = dict(spec)
    original = dict(spec.get("resources") or {})
    for section in ("requests", "limits"):
        others = {
            k: v for k, v in (original.get(section) or {}).items() if k not in ("cpu", "memory")
        }
        values = {**others, **(resources.get(section) or {})}
        if values:
            original[section] = values
        else:
            original.pop(section, None)
    merged["resources"] = original
    return merged


def _request(resources: dict[str, Any], name: str) -> float:
    value = (resources.get("requests") or {}).get(name, (resources.get("limits") or {}).get(name))
    if value is None:
        return 0.0
    try:
        return cpu_millis(value) if name == "cpu" else memory_bytes(value)
    except QuantityError:
        return 0.0


def _resize_restart(spec: Obj, name: str) -> str:
    for entry in spec.get("resizePolicy") or []:
        if isinstance(entry, dict) and entry.get("resourceName") == name:
            return str(entry.get("restartPolicy") or "NotRequired")
    return "NotRequired"


def _backoff_from_message(message: str) -> float | None:
    if message.startswith("back-off "):
        return parse_go_duration(message.split(" ", 2)[1])
    return None
