"""The demo's world: kubesim with seeded failures, the MCP server over it, the watch loop.

The composition root is the one place that may hold kubesim, the MCP server and the agent at
once; the demo wires them the way a deployment would (the agent sees only MCP tools) but in
one process, with the MCP session in memory.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from mcp.shared.memory import create_connected_server_and_client_session

from agent.watch import IncidentReport, WatchEvent, WatchSettings, WatchSummary, run_watch
from kubemedic.agent_runtime import veto_audit_sink
from kubesim import KubeSim
from kubesim.store import DEPLOYMENTS, PODS
from mcp_server.config import ServerConfig
from mcp_server.fleet import Fleet
from mcp_server.gateway import Gateway
from mcp_server.server import create_server
from mcp_server.state import Clock, ServerState

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = REPO_ROOT / "k8s" / "scenarios"
DEMO_POLICY = REPO_ROOT / "policies" / "demo.yaml"
AGENT_CALLER = "kubemedic-agent"
NAMESPACE = "default"
# Outcomes that count as "dealt with": healed, or explicitly in a human's hands.
SETTLED = {"healed", "resolved", "handed_to_human", "awaiting_approval", "rejected", "blocked"}


class DemoError(RuntimeError):
    """The demo cannot run (e.g. the scenario manifests are missing)."""


@dataclass(frozen=True)
class SeededFailure:
    name: str
    workload: str  # "Kind/name" as the agent keys incidents
    expected_issue: str
    story: str


@dataclass(frozen=True)
class DemoResult:
    failure: SeededFailure
    pod: str
    issue: str | None
    action: str | None
    approver: str | None
    outcome: str
    seconds_to_heal: float | None
    cluster: str | None = None  # with several clusters, the one the failure was seeded in


FAILURES = (
    SeededFailure(
        "crashloop-test",
        "Pod/crashloop-test",
        "CrashLoopBackOff",
        "spec scenario 1: busybox `exit 1`, a bare pod",
    ),
    SeededFailure(
        "oom-test",
        "Pod/oom-test",
        "OOMKilled",
        "spec scenario 2: stress 100M under a 50Mi limit, a bare pod",
    ),
    SeededFailure(
        "imagepull-test",
        "Pod/imagepull-test",
        "ImagePullBackOff",
        "an image tag that does not exist, a bare pod",
    ),
    SeededFailure(
        "resource-hog", "Pod/resource-hog", "Pending", "requests 100 CPUs: larger than any node"
    ),
    SeededFailure(
        "checkout",
        "Deployment/checkout",
        "ImagePullBackOff",
        "a rollout to a tag that does not exist",
    ),
    SeededFailure(
        "orders",
        "Deployment/orders",
        "CrashLoopBackOff",
        "one replica stuck crashing; a fresh pod is fine",
    ),
    SeededFailure(
        "reports", "Deployment/reports", "OOMKilled", "a deployment whose memory limit is too small"
    ),
    SeededFailure(
        "payments",
        "Deployment/payments",
        "CrashLoopBackOff",
        "a deterministic crash that no restart can fix",
    ),
)

_WARM_UP_SECONDS = 110.0  # simulated: long enough for 4 restarts under the kubelet's back-off


class DemoCluster:
    """kubesim (one per cluster) + seeded failures + an MCP server; `watch()` runs the agent
    over it. With several clusters every kubesim gets the same failures and one MCP server
    serves them all (a `Fleet`, as `kubemedic watch --context A --context B` builds it)."""

    def __init__(self, *, speed: float, state_dir: Path, clusters: int = 1) -> None:
        if not SCENARIOS.is_dir():
            raise DemoError(f"no scenario manifests at {SCENARIOS}: run from the source tree")
        if clusters < 1:
            raise DemoError("the demo needs at least one cluster")
        self.speed = speed
        self.state_dir = state_dir
        self.sims = [KubeSim(speed=speed) for _ in range(clusters)]
        self.sim = self.sims[0]
        # Several clusters are named as `kubemedic sim --clusters N` names its contexts.
        self.names: list[str] = (
            [f"kubesim-{n}" for n in range(1, clusters + 1)] if clusters > 1 else []
        )
        self.failures = FAILURES
        self._served: ServerState | Fleet | None = None
        # The issue that opened each incident (a re-diagnosis may see a calmer moment).
        self._opened_issue: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> DemoCluster:
        for sim in self.sims:
            sim.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._served is not None:
            self._served.close()
        for sim in self.sims:
            sim.stop()

    def clusters(self) -> list[tuple[str | None, KubeSim]]:
        """(name, kubesim) of every cluster; the name is None with only one."""
        if not self.names:
            return [(None, self.sim)]
        return list(zip(self.names, self.sims, strict=True))

    # -- seeding ---------------------------------------------------------------------------
    async def seed(self, on_step: Callable[[str], None]) -> None:
        """Apply the failure manifests to every cluster and let simulated time pass until
        they show."""
        for name, sim in self.clusters():
            _seed(sim, _prefixed(on_step, f"{name}: " if name else ""))
            sim.clock.set_speed(self.speed)

    # -- the agent -------------------------------------------------------------------------
    def served(self) -> ServerState | Fleet:
        """The MCP server's state: one cluster's, or a fleet sharing the first one's store."""
        if self._served is None:
            if not self.names:
                self._served = self._cluster_state(self.sim, None, None)
            else:
                states: dict[str, ServerState] = {}
                first: ServerState | None = None
                for name, sim in zip(self.names, self.sims, strict=True):
                    states[name] = self._cluster_state(sim, name, first)
                    first = first or states[name]
                self._served = Fleet(states)
        return self._served

    def server_state(self) -> ServerState:
        """The state that owns the store (approvals, audit): the only or the first cluster's."""
        served = self.served()
        return served.default if isinstance(served, Fleet) else served

    def _cluster_state(
        self, sim: KubeSim, name: str | None, shared: ServerState | None
    ) -> ServerState:
        assert sim.kubeconfig_path is not None
        speed = self.speed
        config = ServerConfig(
            kubeconfig=sim.kubeconfig_path,
            policy_path=DEMO_POLICY,
            state_dir=self.state_dir,
            local_caller=AGENT_CALLER,
            verify_timeout_seconds=180,
            verify_poll_seconds=5,
        )
        clock = Clock(
            now=sim.clock.now,
            monotonic=sim.clock.seconds,
            sleep=lambda seconds: time.sleep(seconds / speed),
        )
        gateway = Gateway.from_kubeconfig(sim.kubeconfig_path)
        return ServerState(config, gateway, clock=clock, cluster=name, shared=shared)

    async def watch(
        self,
        *,
        approve: Any,
        on_line: Callable[[str], None],
        deadline_seconds: float,
    ) -> WatchSummary:
        served = self.served()
        state = self.server_state()
        speed = self.speed

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds / speed)

        settings = WatchSettings(
            state_dir=self.state_dir,
            policy=state.policy,
            caller=AGENT_CALLER,
            poll_interval_seconds=5.0,
            max_concurrent=4 * len(self.sims),
            verify_interval_seconds=10.0,
            sleep=sleep,
            stop_when_idle=True,
            # Vetoes and rejections land in the same hash-chained trail as the server's writes.
            audit=veto_audit_sink(state.config.audit_path, AGENT_CALLER),
            clusters=tuple(self.names),
        )
        stop = asyncio.Event()
        timer = asyncio.get_running_loop().call_later(deadline_seconds, stop.set)

        def show(event: WatchEvent) -> None:
            if event.kind == "opened" and event.workload and event.data.get("issue_type"):
                self._opened_issue.setdefault(event.workload, str(event.data["issue_type"]))
            line = _describe(event)
            if line:
                on_line(line)

        try:
            async with create_connected_server_and_client_session(create_server(served)) as session:
                return await run_watch(session, settings, on_event=show, approve=approve, stop=stop)
        finally:
            timer.cancel()

    def answer(self, payload: dict[str, Any], *, approve: bool, approver: str) -> dict[str, Any]:
        """Record a human's answer on the server's approval, then tell the graph."""
        approvals = self.server_state().approvals
        approval_id = str(payload.get("approval_id") or "")
        if approve:
            approvals.grant(approval_id, by=approver)
            return {"decision": "approve", "approver": approver}
        approvals.reject(approval_id, by=approver, reason="declined at the demo prompt")
        return {"decision": "reject", "approver": approver}

    # -- the report ------------------------------------------------------------------------
    def results(self, summary: WatchSummary) -> list[DemoResult]:
        rows = []
        for name, _ in self.clusters():
            prefix = f"{name}/" if name else ""
            for failure in self.failures:
                keys = {f"{prefix}{failure.workload}", f"{prefix}{NAMESPACE}/{failure.workload}"}
                reports = [r for r in summary.incidents if r.workload in keys]
                opened = next(
                    (self._opened_issue[k] for k in keys if k in self._opened_issue), None
                )
                rows.append(_result(failure, reports, self.speed, opened, name))
        return rows


def _result(
    failure: SeededFailure,
    reports: list[IncidentReport],
    speed: float,
    opened: str | None,
    cluster: str | None = None,
) -> DemoResult:
    if not reports:
        return DemoResult(failure, failure.name, None, None, None, "not_seen", None, cluster)
    report = reports[-1]
    outcome = report.outcome or "awaiting_approval"
    heal = None
    if outcome == "healed" and report.seconds_open is not None:
        heal = report.seconds_open * speed  # the agent runs on wall time; kubesim at `speed`
    return DemoResult(
        failure,
        report.pod,
        report.issue_type,
        report.action,
        report.approver,
        outcome,
        heal,
        cluster,
    )


def _prefixed(on_step: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda text: on_step(f"{prefix}{text}")


def _seed(sim: KubeSim, on_step: Callable[[str], None]) -> None:
    """One cluster's failures, with its clock held while the pods are created (so faults land
    before start) and then run by hand: minutes of back-off in a moment."""
    sim.clock.set_speed(0)
    for manifest in (
        "crashloop.yaml",
        "oom.yaml",
        "imagepull.yaml",
        "resource-exhaustion.yaml",
        "healthy-deployment.yaml",
        "crashloop-deployment.yaml",
        "bad-rollout.yaml",
    ):
        sim.apply((SCENARIOS / manifest).read_text())
        on_step(f"applied k8s/scenarios/{manifest}")
    sim.apply(_reports_deployment())
    sim.apply(_orders_deployment())
    _inject_transient_crash(sim, "orders")
    on_step("deployment orders: one replica given a transient crash (kubesim.io/crash-after)")
    sim.advance(30, step=1.0)
    _roll_out_bad_image(sim, "checkout", "nginx:1.25-does-not-exist")
    on_step("deployment checkout: rolled out nginx:1.25-does-not-exist")
    sim.advance(_WARM_UP_SECONDS, step=2.0)
    on_step(f"{_WARM_UP_SECONDS:.0f} s of simulated time passed: the failures show")


def _roll_out_bad_image(sim: KubeSim, name: str, image: str) -> None:
    deploy = sim.store.get(DEPLOYMENTS, NAMESPACE, name)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": deploy["metadata"].get("labels", {}),
            "annotations": {"kubernetes.io/change-cause": f"set image {image}"},
        },
        "spec": copy.deepcopy(deploy["spec"]),
    }
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = image
    sim.apply(manifest)


def _inject_transient_crash(sim: KubeSim, deployment: str) -> None:
    """Give the deployment's pod (not its template) a crash: deleting the pod cures it."""

    def crash(obj: dict[str, Any]) -> None:
        notes = obj["metadata"].setdefault("annotations", {})
        notes["kubesim.io/crash-after"] = "3s"
        notes["kubesim.io/exit-code"] = "1"
        notes["kubesim.io/log-exit"] = "ERROR worker pool wedged: lost lease on queue"

    for pod in sim.store.list(PODS, NAMESPACE):
        if pod["metadata"]["name"].startswith(f"{deployment}-"):
            sim.store.mutate(PODS, NAMESPACE, pod["metadata"]["name"], crash)


def _describe(event: WatchEvent) -> str | None:
    where = event.workload or ""
    if event.kind == "opened":
        return f"[bold]opened[/] {where} ({event.data.get('issue_type') or 'unhealthy'})"
    if event.kind == "progress":
        timeline = event.data.get("timeline") or []
        if timeline:
            last = timeline[-1]
            detail = str(last.get("detail") or "")[:110]
            return f"[dim]{where}[/] {last.get('node')}: {last.get('event')} {detail}".rstrip()
        return None
    if event.kind == "approval_pending":
        return f"[yellow]approval pending[/] {where}"
    if event.kind == "closed":
        return f"[bold]closed[/] {where}: {event.data.get('outcome')}"
    if event.kind == "error":
        return f"[red]error[/] {where}: {event.data}"
    return None


def _orders_deployment() -> dict[str, Any]:
    return _manifest(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: default, labels: {scenario: transient-crash}}
spec:
  replicas: 1
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      containers:
        - name: app
          image: nginx:1.25
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 128Mi}
"""
    )


def _reports_deployment() -> dict[str, Any]:
    return _manifest(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: reports, namespace: default, labels: {scenario: oom-deployment}}
spec:
  replicas: 1
  selector: {matchLabels: {app: reports}}
  template:
    metadata: {labels: {app: reports}}
    spec:
      containers:
        - name: stress
          image: polinux/stress
          command: [stress]
          args: [--vm, "1", --vm-bytes, 100M, --vm-hang, "1"]
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 64Mi}
"""
    )


def _manifest(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded
