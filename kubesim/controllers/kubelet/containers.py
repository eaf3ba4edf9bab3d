"""One container's steps through its life on the node: resolve and pull its image, create it
(or fail on its config), start it, notice its exit, and back off before the next start.

Each step runs when the container's timer (`due`) fires, in the phase the last step left it:
init -> pulling -> create -> running -> exited -> backoff -> init ..., with the detours
invalid, never, pull-error -> pull-backoff and config-error.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from kubesim.controllers import events
from kubesim.controllers.base import Context
from kubesim.controllers.behaviour import FOREVER, Behaviour
from kubesim.controllers.kubelet.common import (
    CACHED_PULL_SECONDS,
    CONFIG_RETRY_SECONDS,
    REPEAT_SECONDS,
    REPEATING_PHASES,
    behaviour_of,
    container_id,
    field_path,
    node_name,
    pod_ref,
    restart_policy,
    restarts,
    with_resources,
)
from kubesim.controllers.kubelet.logs import emit_exit_lines, emit_logs
from kubesim.controllers.kubelet.probe_events import report_probe_failures
from kubesim.controllers.kubelet.runplan import plan_run
from kubesim.controllers.podconfig import config_error, has_pull_secret
from kubesim.controllers.runtime import SYNC_DELAY, ContainerRuntime, PodRuntime, go_duration
from kubesim.images import PullOutcome, parse_image, pull_error, reference_error
from kubesim.store import Obj


@dataclass
class Turn:
    """One step of one container: what it needs to know and where its events go."""

    pod: Obj
    node: Obj
    rt: PodRuntime
    c: ContainerRuntime
    spec: Obj
    t: float
    behaviour: Behaviour | None = None  # worked out for timed steps, not for repeats

    @property
    def source(self) -> events.Source:
        return events.kubelet(node_name(self.node))

    @property
    def fp(self) -> str:
        return field_path(self.c.name, self.c.init)


def next_init(rt: PodRuntime, t: float) -> None:
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


def running_due(c: ContainerRuntime) -> float:
    assert c.run is not None
    return c.run.end_at


class ContainerSteps:
    """The steps of every container on every node (which images a node holds is shared)."""

    def __init__(self, ctx: Context, node_images: dict[str, set[str]]) -> None:
        self.ctx = ctx
        self.node_images = node_images
        self._steps: dict[str, Callable[[Turn], None]] = {
            "init": self._resolve_image,
            "invalid": self._resolve_image,
            "pulling": self._pulled,
            "pull-error": self._pull_backoff,
            "pull-backoff": self._retry_pull,
            "create": self._create,
            "config-error": self._create,
            "running": self._exited,
            "exited": self._back_off,
            "backoff": self._restart,
        }

    def step(
        self, pod: Obj, node: Obj, rt: PodRuntime, c: ContainerRuntime, spec: Obj, t: float
    ) -> None:
        """Fire container `c`'s timer at `t`: the step its phase calls for."""
        turn = Turn(pod, node, rt, c, spec, t, behaviour_of(pod, spec))
        handler = self._steps.get(c.phase)
        if handler is not None:
            handler(turn)

    def _emit(self, turn: Turn, type_: str, reason: str, message: str) -> None:
        self.ctx.events.emit(turn.pod, type_, reason, message, turn.source, turn.t, turn.fp)

    # -- the image ------------------------------------------------------------------------
    def _resolve_image(self, turn: Turn) -> None:
        c, t = turn.c, turn.t
        invalid = reference_error(c.image)
        if invalid is not None:
            c.phase, c.waiting_reason, c.waiting_message = "invalid", "InvalidImageName", invalid
            self._emit(
                turn,
                "Warning",
                "InspectFailed",
                f'Failed to apply default image tag "{c.image}": {invalid}',
            )
            self._emit(turn, "Warning", "Failed", "Error: InvalidImageName")
            c.last_repeat = t
            return
        policy = turn.spec.get("imagePullPolicy") or "IfNotPresent"
        present = parse_image(c.image).full in self.node_images.get(node_name(turn.node), set())
        if policy == "Never" and not present:
            c.phase, c.waiting_reason = "never", "ErrImageNeverPull"
            c.waiting_message = (
                f'Container image "{c.image}" is not present with pull policy of Never'
            )
            self._emit(turn, "Warning", "ErrImageNeverPull", c.waiting_message)
            return
        if present and policy != "Always":
            self._emit(
                turn, "Normal", "Pulled", f'Container image "{c.image}" already present on machine'
            )
            c.phase, c.due = "create", t
            return
        self._begin_pull(turn, present)

    def _begin_pull(self, turn: Turn, present: bool) -> None:
        c, t = turn.c, turn.t
        self._emit(turn, "Normal", "Pulling", f'Pulling image "{c.image}"')
        c.phase, c.pull_started = "pulling", t
        # The status keeps its last reason (e.g. ImagePullBackOff) while the pull runs.
        if not c.waiting_reason:
            c.waiting_reason, c.waiting_message = "ContainerCreating", ""
        assert turn.behaviour is not None
        seconds = turn.behaviour.pull_seconds
        if seconds is None:
            seconds = CACHED_PULL_SECONDS if present else self.ctx.images.pull_seconds(c.image)
            # A few hundred milliseconds of jitter, the same for the same pull.
            digest = hashlib.md5(f"{turn.pod['metadata']['uid']}{c.name}{t}".encode()).hexdigest()
            seconds += (int(digest[:3], 16) % 400) / 1000
        c.due = t + seconds

    def _pulled(self, turn: Turn) -> None:
        c, t = turn.c, turn.t
        assert turn.behaviour is not None
        outcome = turn.behaviour.pull or self.ctx.images.resolve(
            c.image, has_credentials=has_pull_secret(self.ctx.store, turn.pod)
        )
        if outcome is PullOutcome.OK:
            self.node_images.setdefault(node_name(turn.node), set()).add(parse_image(c.image).full)
            took = go_duration(t - c.pull_started)
            self._emit(
                turn,
                "Normal",
                "Pulled",
                f'Successfully pulled image "{c.image}" in {took} ({took} including waiting)',
            )
            c.pull_failures = 0
            c.phase, c.due = "create", t
            return
        message = pull_error(c.image, outcome)
        self._emit(turn, "Warning", "Failed", f'Failed to pull image "{c.image}": {message}')
        self._emit(turn, "Warning", "Failed", "Error: ErrImagePull")
        c.pull_failures += 1
        c.waiting_reason, c.waiting_message = "ErrImagePull", message
        c.phase, c.due = "pull-error", t + SYNC_DELAY
        c.pull_started = t  # the back-off counts from the failure

    def _pull_backoff(self, turn: Turn) -> None:
        c = turn.c
        c.waiting_reason = "ImagePullBackOff"
        c.waiting_message = f'Back-off pulling image "{c.image}"'
        self._emit(turn, "Normal", "BackOff", c.waiting_message)
        self._emit(turn, "Warning", "Failed", "Error: ImagePullBackOff")
        c.last_repeat = turn.t
        c.phase, c.due = "pull-backoff", c.pull_started + c.pull_backoff()

    def _retry_pull(self, turn: Turn) -> None:
        c = turn.c
        c.phase, c.due = "init", turn.t
        self.node_images.get(node_name(turn.node), set()).discard(parse_image(c.image).full)

    # -- the container ----------------------------------------------------------------------
    def _create(self, turn: Turn) -> None:
        c, t, spec = turn.c, turn.t, turn.spec
        if c.phase == "config-error":
            self._emit(
                turn, "Normal", "Pulled", f'Container image "{c.image}" already present on machine'
            )
        problem = config_error(self.ctx.store, turn.pod, spec)
        if problem is not None:
            c.waiting_reason, c.waiting_message = "CreateContainerConfigError", problem
            self._emit(turn, "Warning", "Failed", f"Error: {problem}")
            c.phase, c.due = "config-error", t + CONFIG_RETRY_SECONDS
            return
        if c.allocated is not None and c.actual != c.allocated:
            c.actual = copy.deepcopy(c.allocated)  # a new start gets what was admitted
            spec = with_resources(spec, c.actual)
        self.start(turn.pod, turn.rt, c, spec, t, turn.source)

    def start(
        self,
        pod: Obj,
        rt: PodRuntime,
        c: ContainerRuntime,
        spec: Obj,
        t: float,
        source: events.Source,
    ) -> None:
        """Create and start the container's process at `t`."""
        ns, name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        if c.started_once:
            # A restart: the finished run becomes lastState and its log the previous log.
            c.restart_count += 1
            c.last_terminated = c.terminated
            self.ctx.logs.rotate(ns, name, c.name)
            c.next_backoff(t)
        c.terminated = None
        c.started_once = True
        c.container_id = container_id(rt.uid, c.name, c.restart_count)
        fp = field_path(c.name, c.init)
        self.ctx.events.emit(pod, "Normal", "Created", f"Created container {c.name}", source, t, fp)
        self.ctx.events.emit(pod, "Normal", "Started", f"Started container {c.name}", source, t, fp)
        c.phase = "running"
        c.waiting_reason, c.waiting_message = "", ""
        c.log_cursor = -1.0
        c.liveness_reported = c.readiness_reported = c.startup_reported = 0
        c.run = plan_run(behaviour_of(pod, spec), spec, t)
        emit_logs(self.ctx, pod, rt, c, t)
        due = running_due(c)
        c.due = None if due == FOREVER else due

    def _exited(self, turn: Turn) -> None:
        """The process ended (exit, OOM kill, or a probe's kill)."""
        pod, rt, c, t = turn.pod, turn.rt, turn.c, turn.t
        plan = c.run
        assert plan is not None
        emit_logs(self.ctx, pod, rt, c, t)
        emit_exit_lines(self.ctx, pod, rt, c, t)
        if plan.liveness_kill or plan.startup_kill:
            report_probe_failures(self.ctx, pod, rt, c, turn.spec, t)
            probe = "liveness" if plan.liveness_kill else "startup"
            self._emit(
                turn,
                "Normal",
                "Killing",
                f"Container {c.name} failed {probe} probe, will be restarted",
            )
        c.terminated = {
            "exitCode": plan.exit_code,
            "reason": plan.reason,
            "startedAt": self.ctx.stamp(plan.start),
            "finishedAt": self.ctx.stamp(t),
            "containerID": c.container_id,
        }
        if restarts(restart_policy(pod, c.init), c.terminated):
            c.phase, c.due = "exited", t + SYNC_DELAY
        else:
            c.phase, c.due = "done", None
            if c.init:
                next_init(rt, t)

    def _back_off(self, turn: Turn) -> None:
        c, t = turn.c, turn.t
        finished = self.ctx.seconds((c.terminated or {}).get("finishedAt")) or t
        until = c.in_backoff_until(finished, t)
        if until is None:
            c.phase, c.due = "init", t
            return
        c.phase, c.due = "backoff", until
        c.waiting_reason = "CrashLoopBackOff"
        c.waiting_message = (
            f"back-off {go_duration(c.backoff)} restarting failed container={c.name} "
            f"pod={pod_ref(turn.pod)}"
        )
        self._emit(
            turn,
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod {pod_ref(turn.pod)}",
        )
        c.last_repeat = t

    def _restart(self, turn: Turn) -> None:
        turn.c.phase, turn.c.due = "init", turn.t

    # -- continuous work --------------------------------------------------------------------
    def running_work(
        self, pod: Obj, node: Obj, rt: PodRuntime, c: ContainerRuntime, spec: Obj, now: float
    ) -> bool:
        """What happens between steps: a running container logs and fails probes; one stuck in
        a back-off or an error has its events repeated on every resync."""
        if c.phase == "running":
            emit_logs(self.ctx, pod, rt, c, now)
            return report_probe_failures(self.ctx, pod, rt, c, spec, now)
        if c.phase in REPEATING_PHASES and now - c.last_repeat >= REPEAT_SECONDS:
            c.last_repeat = now
            self._repeat_events(Turn(pod, node, rt, c, spec, now))
            return True
        return False

    def _repeat_events(self, turn: Turn) -> None:
        c = turn.c
        if c.phase == "pull-backoff":
            self._emit(turn, "Normal", "BackOff", f'Back-off pulling image "{c.image}"')
            self._emit(turn, "Warning", "Failed", "Error: ImagePullBackOff")
        elif c.phase == "backoff":
            self._emit(
                turn,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {c.name} in pod {pod_ref(turn.pod)}",
            )
        elif c.phase == "invalid":
            self._emit(
                turn,
                "Warning",
                "InspectFailed",
                f'Failed to apply default image tag "{c.image}": {c.waiting_message}',
            )
            self._emit(turn, "Warning", "Failed", "Error: InvalidImageName")
