"""A container's life on the node, as the kubelet tracks it between syncs.

This is the kubelet's in-memory view (what the container runtime would know). It is rebuilt
from the pod's status when the kubelet meets a pod it never ran (e.g. a recorded pod loaded
with its status), so back-off and restart counts carry on where the recording left them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from kubesim.controllers.behaviour import FOREVER, Behaviour
from kubesim.controllers.probes import ProbeSchedule

# Kubelet container restart back-off (pkg/kubelet: backOffPeriod, MaxContainerBackOff).
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
# A back-off entry is forgotten when it was not touched for 2 * max (the kubelet's GC window).
BACKOFF_RESET = 2 * BACKOFF_MAX
# Image pull back-off uses the same numbers.
PULL_BACKOFF_INITIAL = 10.0
PULL_BACKOFF_MAX = 300.0
# The kubelet notices a container's exit on its next relist (PLEG, about a second).
SYNC_DELAY = 1.0


def go_duration(seconds: float) -> str:
    """time.Duration.String() for whole seconds and milliseconds: 10s, 2m40s, 5m0s, 812ms."""
    if seconds < 1:
        return f"{int(round(seconds * 1000))}ms"
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s"


def parse_go_duration(text: str) -> float | None:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?", text.strip())
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


@dataclass(frozen=True)
class Probe:
    kind: str  # "Liveness" | "Readiness" | "Startup"
    initial_delay: float
    period: float
    failure_threshold: int
    handler: str  # httpGet | tcpSocket | exec | grpc
    port: str
    success_threshold: int = 1
    timeout: float = 1.0
    command: tuple[str, ...] = ()  # an exec probe's command

    def times_from(self, start: float, first: float, until: float) -> int:
        """How many probe runs fall in [first, until], for probes at start+delay+k*period."""
        base = start + self.initial_delay
        if until < max(first, base):
            return 0
        k0 = max(0, math.ceil((first - base) / self.period - 1e-9))
        k1 = math.floor((until - base) / self.period + 1e-9)
        return max(0, k1 - k0 + 1)

    def first_at_or_after(self, start: float, moment: float) -> float:
        base = start + self.initial_delay
        if moment <= base:
            return base
        return base + math.ceil((moment - base) / self.period - 1e-9) * self.period

    def failure_message(self, pod_ip: str, output: str) -> str:
        if self.handler == "httpGet":
            code = 500 if self.kind == "Liveness" else 503
            return f"{self.kind} probe failed: HTTP probe failed with statuscode: {code}"
        if self.handler == "tcpSocket":
            return (
                f"{self.kind} probe failed: dial tcp {pod_ip}:{self.port}: "
                "connect: connection refused"
            )
        if self.handler == "grpc":
            return f'{self.kind} probe failed: service unhealthy (responded with "NOT_SERVING")'
        return f"{self.kind} probe failed: {output}"


def probe_of(container: dict[str, Any], field_name: str, kind: str) -> Probe | None:
    spec = container.get(field_name)
    if not isinstance(spec, dict):
        return None
    handler, port = "exec", ""
    for name in ("httpGet", "tcpSocket", "grpc", "exec"):
        if isinstance(spec.get(name), dict):
            handler = name
            port = str(spec[name].get("port", ""))
            break
    command = (spec.get("exec") or {}).get("command") if handler == "exec" else None
    return Probe(
        kind=kind,
        initial_delay=float(spec.get("initialDelaySeconds") or 0),
        period=float(spec.get("periodSeconds") or 10),
        failure_threshold=int(spec.get("failureThreshold") or 3),
        handler=handler,
        port=port,
        success_threshold=int(spec.get("successThreshold") or 1),
        timeout=float(spec.get("timeoutSeconds") or 1),
        command=tuple(str(c) for c in command or ()),
    )


@dataclass
class RunPlan:
    """One run of a container: when it ends and how, and when it is ready."""

    start: float
    behaviour: Behaviour
    end_at: float = FOREVER
    exit_code: int = 0
    reason: str = "Completed"
    liveness_kill: bool = False
    startup_kill: bool = False
    started_at: float = 0.0  # the startup probe passed (start, without one)
    startup_first_failure: float = FOREVER
    ready_at: float = FOREVER
    unready_at: float = FOREVER
    liveness_first_failure: float = FOREVER
    readiness_first_failure: float = FOREVER
    # Exec probes run against the container's files (kubesim.controllers.probes), by kind.
    exec_probes: dict[str, ProbeSchedule] = field(default_factory=dict)

    def is_ready(self, at: float) -> bool:
        readiness = self.exec_probes.get("Readiness")
        if readiness is not None:
            return at >= self.started_at and readiness.ready_at(at)
        return self.ready_at <= at < self.unready_at

    def next_ready_change(self, after: float) -> float | None:
        readiness = self.exec_probes.get("Readiness")
        if readiness is not None:
            return readiness.next_flip_after(after)
        return None


@dataclass
class ContainerRuntime:
    name: str
    image: str
    # init, pulling, pull-error, pull-backoff, create, config-error, running, exited, backoff, done
    phase: str = "init"
    due: float | None = None
    restart_count: int = 0
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    pull_failures: int = 0
    pull_started: float = 0.0
    image_ready: bool = False  # resolved (pulled or present) for this start
    run: RunPlan | None = None
    container_id: str = ""
    terminated: dict[str, Any] | None = None  # the state while exited/backoff/done
    last_terminated: dict[str, Any] | None = None
    backoff: float = 0.0  # the kubelet's current back-off for this container
    backoff_updated: float | None = None
    log_cursor: float = 0.0  # offset after start up to which logs were written
    liveness_reported: int = 0
    startup_reported: int = 0
    readiness_reported: int = 0
    last_repeat: float = -1e18  # last time a repeated back-off event was written
    started_once: bool = False
    init: bool = False  # an init container: runs to completion before the app containers
    # In-place resize (1.33+): the resources the kubelet admitted, and those the running
    # container has (its cgroup). None: the spec's, never resized.
    allocated: dict[str, Any] | None = None
    actual: dict[str, Any] | None = None

    def in_backoff_until(self, finished: float, now: float) -> float | None:
        """When the kubelet will restart a container that finished at `finished`, or None (now)."""
        if self.backoff_updated is None or now - self.backoff_updated > BACKOFF_RESET:
            return None
        until = finished + self.backoff
        return until if now < until else None

    def next_backoff(self, now: float) -> None:
        """backOff.Next: start at 10 s, double up to 5 min, forget after 10 min of quiet."""
        if (
            self.backoff_updated is None
            or now - self.backoff_updated > BACKOFF_RESET
            or self.backoff <= 0
        ):
            self.backoff = BACKOFF_INITIAL
        else:
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        self.backoff_updated = now

    def pull_backoff(self) -> float:
        return float(
            min(PULL_BACKOFF_INITIAL * 2 ** max(self.pull_failures - 1, 0), PULL_BACKOFF_MAX)
        )


@dataclass
class PodRuntime:
    uid: str
    containers: dict[str, ContainerRuntime] = field(default_factory=dict)
    init: dict[str, ContainerRuntime] = field(default_factory=dict)
    initialized: bool = True
    sandbox: bool = False
    pod_ip: str = ""
    started: float | None = None
    mount_event_at: float = -1e18
    killing: bool = False
    kill_at: float | None = None
    metrics_at: float = -1e18
    wake: float = -1e18  # nothing to do for this pod before then (unless the pod changes)
    metrics_wake: float = -1e18  # next usage sample
    metrics_period: float = 15.0
    seen_rv: str = ""  # the pod's resourceVersion when we last synced it
    synced_at: float = -1e18
    resize_pending: tuple[str, str] | None = None  # (Deferred|Infeasible, message)
    resize_error: str | None = None  # an admitted resize the node could not apply yet
    resize_until: float | None = None  # PodResizeInProgress shows until then

    def all(self) -> list[ContainerRuntime]:
        return [*self.init.values(), *self.containers.values()]

    def next_due(self) -> float | None:
        """State changes other controllers care about: transitions, readiness flips, kills."""
        dues = [c.due for c in self.all() if c.due is not None]
        if self.kill_at is not None:
            dues.append(self.kill_at)
        if self.resize_until is not None:
            dues.append(self.resize_until)
        for c in self.containers.values():
            if c.phase == "running" and c.run is not None:
                dues.extend(
                    t
                    for t in (c.run.ready_at, c.run.unready_at, c.run.started_at)
                    if self.synced_at < t < FOREVER
                )
                flip = c.run.next_ready_change(self.synced_at)
                if flip is not None:
                    dues.append(flip)
        return min(dues, default=None)
