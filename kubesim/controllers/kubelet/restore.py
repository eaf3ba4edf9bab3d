"""A runtime rebuilt from a pod's status, for a pod the kubelet meets already running (a
recorded pod loaded with its status, or a restart of the simulator): restart counts, back-off,
pulled images and running processes carry on where the status left them."""

from __future__ import annotations

from typing import Any

from kubesim.controllers.base import Context
from kubesim.controllers.behaviour import FOREVER
from kubesim.controllers.kubelet.common import (
    behaviour_of,
    node_name,
    restart_policy,
    restarts,
)
from kubesim.controllers.kubelet.containers import next_init, running_due
from kubesim.controllers.kubelet.runplan import plan_run
from kubesim.controllers.runtime import (
    SYNC_DELAY,
    ContainerRuntime,
    PodRuntime,
    parse_go_duration,
)
from kubesim.images import PullOutcome, parse_image
from kubesim.store import Obj


class PodRestorer:
    """Builds the runtime of a pod from whatever its status says."""

    def __init__(self, ctx: Context, node_images: dict[str, set[str]]) -> None:
        self.ctx = ctx
        self.node_images = node_images

    def restore(self, pod: Obj, node: Obj, now: float) -> PodRuntime:
        status = pod.get("status") or {}
        rt = PodRuntime(
            uid=pod["metadata"]["uid"],
            pod_ip=status.get("podIP", ""),
            started=self.ctx.seconds(status.get("startTime")),
        )
        statuses = {cs.get("name"): cs for cs in status.get("containerStatuses") or []}
        init_statuses = {cs.get("name"): cs for cs in status.get("initContainerStatuses") or []}
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
            if cs:
                self._restore_container(pod, node, rt, c, spec, cs, now)
        if rt.sandbox:
            next_init(rt, now)
        if rt.init and all(
            c.phase == "done" and int((c.terminated or {}).get("exitCode", 1)) == 0
            for c in rt.init.values()
        ):
            rt.initialized = True
        return rt

    def _restore_container(
        self,
        pod: Obj,
        node: Obj,
        rt: PodRuntime,
        c: ContainerRuntime,
        spec: Obj,
        cs: dict[str, Any],
        now: float,
    ) -> None:
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
            # The node has the image; and the registry had it, whatever the catalogue thinks.
            self.node_images.setdefault(node_name(node), set()).add(parse_image(c.image).full)
            if self.ctx.images.resolve(c.image, has_credentials=True) is not PullOutcome.OK:
                self.ctx.images.add(c.image)
        if "running" in state:
            self._restore_running(pod, rt, c, spec, state["running"], now)
        elif "terminated" in state:
            c.terminated = dict(state["terminated"])
            finished = self.ctx.seconds(c.terminated.get("finishedAt")) or now
            # Init containers that succeeded are not run again.
            c.phase = "exited" if restarts(restart_policy(pod, c.init), c.terminated) else "done"
            c.due = max(finished + SYNC_DELAY, now) if c.phase == "exited" else None
            rt.sandbox = True
        else:
            self._restore_waiting(rt, c, state.get("waiting") or {}, now)

    def _restore_running(
        self,
        pod: Obj,
        rt: PodRuntime,
        c: ContainerRuntime,
        spec: Obj,
        running: dict[str, Any],
        now: float,
    ) -> None:
        started = self.ctx.seconds(running.get("startedAt")) or now
        c.image_ready = True
        c.run = plan_run(behaviour_of(pod, spec), spec, started, restored_at=now)
        c.phase = "running"
        c.log_cursor = now - started
        due = min(running_due(c), FOREVER)
        c.due = None if due == FOREVER else max(due, now)
        rt.sandbox = True

    def _restore_waiting(
        self, rt: PodRuntime, c: ContainerRuntime, waiting: dict[str, Any], now: float
    ) -> None:
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
            self._restore_pull_backoff(c, str(waiting.get("message", "")), now)
            rt.sandbox = True
        elif reason == "CreateContainerConfigError":
            c.phase, c.due, c.image_ready = "create", now, True
            rt.sandbox = True
        else:
            c.phase, c.due = "init", None

    def _restore_pull_backoff(self, c: ContainerRuntime, text: str, now: float) -> None:
        # The recording says this image does not pull. Unless the registry refused
        # credentials (the pod's secrets decide that), its tag is gone.
        refused = "401" in text or "authoriz" in text
        if not refused and self.ctx.images.resolve(c.image, has_credentials=True) is PullOutcome.OK:
            self.ctx.images.remove(c.image)
        c.pull_failures = 1
        c.phase = "pull-backoff"
        c.waiting_reason = "ImagePullBackOff"
        c.waiting_message = f'Back-off pulling image "{c.image}"'
        c.due = now + c.pull_backoff()
        c.last_repeat = now


def _backoff_from_message(message: str) -> float | None:
    if message.startswith("back-off "):
        return parse_go_duration(message.split(" ", 2)[1])
    return None
