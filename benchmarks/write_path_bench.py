"""The write path, end to end: what one approved pod restart costs, and whether verifying
incidents keep a fresh one waiting.

1. One crash-looping pod, the agent's whole graph (diagnose, plan, approval interrupt, a
   human's grant, execute, verify by status, report) through a real in-memory MCP session
   against kubesim, with the server's pod cache on as in production. Prints the API
   requests the incident sent (the cache's own list and watch excluded) and its wall time.
   Asking for the approval costs two of them: the approval's preview re-reads the pod and
   sends the delete with `dryRun=All`.
2. The watch loop with 15 crash-looping Deployments whose deletes are auto-approved and
   whose replacements keep crashing (so all 15 stay in verification), then a 16th failure:
   prints how long the fresh incident waited from being opened to its write, against the
   poll interval.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from mcp.shared.memory import create_connected_server_and_client_session

from agent.context import IncidentContext
from agent.runner import IncidentRunner, open_checkpointer
from agent.tools import Toolbox
from agent.watch import WatchEvent, WatchSettings, run_watch
from kubesim import KubeSim
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway, RetryPolicy
from mcp_server.server import create_server
from mcp_server.state import Clock, ServerState
from policies import load_policy, policy_from_dict

CRASHING = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "exit 1"]
"""

ONE_POD_CRASHES = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {kubesim.io/pull-seconds: "5s"}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        resources: {limits: {memory: 64Mi, cpu: 100m}}
"""


def _state(sim: KubeSim, folder: Path, *, policy: Any = None) -> ServerState:
    gateway = Gateway.from_kubeconfig(
        sim.kubeconfig_path, retry=RetryPolicy(base_delay=0.0), sleep=lambda s: None
    )
    config = ServerConfig(
        kubeconfig=sim.kubeconfig_path,
        state_dir=folder / "state",
        local_caller="kubemedic-agent",
        pod_cache=True,
        verify_timeout_seconds=180,
        verify_poll_seconds=5,
    )
    clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=sim.advance)
    return ServerState(config, gateway, policy=policy or load_policy(None), clock=clock)


def _pod(sim: KubeSim, prefix: str) -> dict[str, Any]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return next(
            p
            for p in gw.list_pods("default").items
            if p["metadata"]["name"].startswith(prefix)
            and not p["metadata"].get("deletionTimestamp")
        )
    finally:
        gw.close()


async def approved_restart() -> None:
    with KubeSim() as sim, tempfile.TemporaryDirectory() as folder:
        sim.apply(ONE_POD_CRASHES)
        name = _pod(sim, "web-")["metadata"]["name"]
        gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
        # The fault is on this pod only (not its template): its replacement runs fine.
        gw._core.patch_namespaced_pod(
            name, "default", {"metadata": {"annotations": {"kubesim.io/crash-after": "2s"}}}
        )
        gw.close()
        sim.advance(300, step=5)
        state = _state(sim, Path(folder))
        state.acquire()  # the pod cache syncs as in a running server
        assert state.cache is not None and state.cache.wait_synced(30)

        async def advance(seconds: float) -> None:
            sim.advance(seconds)
            await asyncio.sleep(0.02)  # let the cache's watch thread take the events in

        server = create_server(state)
        try:
            async with (
                create_connected_server_and_client_session(server) as session,
                open_checkpointer(Path(folder) / "cp.sqlite") as saver,
            ):
                toolbox = await Toolbox.from_session(session)
                runner = IncidentRunner(
                    IncidentContext(
                        toolbox=toolbox,
                        policy=state.policy,
                        sleep=advance,
                        verify_interval_seconds=5.0,
                        verify_max_checks=40,
                    ),
                    saver,
                )
                sim.reset_requests()
                started = time.perf_counter()
                status = await runner.start("bench", "default", name)
                assert status.pending is not None, status.values.get("summary")
                state.approvals.grant(status.pending["approval_id"], by="bench")
                done = await runner.resume("bench", {"decision": "approve", "approver": "bench"})
                wall = time.perf_counter() - started
        finally:
            state.release()
            state.close()
        # The pod cache's watch and the usage sampler's background PodMetrics lists are not
        # the incident's.
        sent = [
            r
            for r in sim.requests
            if r.verb != "watch" and not (r.verb == "list" and r.group == "metrics.k8s.io")
        ]
        by_kind = Counter(f"{r.verb} {r.resource}" for r in sent)
        print(
            f"approved pod restart: outcome {done.outcome}, {len(sent)} API requests (goal <= 12: "
            "10, plus the approval preview's fresh pod read and dry-run delete)"
        )
        for kind, count in sorted(by_kind.items()):
            print(f"    {count:3d}  {kind}")
        print(f"  wall time, diagnosis to verified: {wall:.2f} s (simulated waits excluded)")


async def fresh_incident_wait(verifying: int = 15, speed: float = 20.0) -> None:
    poll = 2.0
    policy = policy_from_dict(
        {
            "name": "bench",
            "auto_approve": ["delete_pod"],
            "auto_approve_max_risk": "low",
            "rate_limits": {"global_per_hour": 100, "per_workload_per_hour": 5},
        }
    )
    with KubeSim(speed=speed) as sim, tempfile.TemporaryDirectory() as folder:
        for index in range(verifying):
            sim.apply(CRASHING.format(name=f"crash-{index:02d}"))
        gateway = Gateway.from_kubeconfig(sim.kubeconfig_path)
        config = ServerConfig(
            kubeconfig=sim.kubeconfig_path,
            state_dir=Path(folder) / "state",
            local_caller="kubemedic-agent",
            verify_timeout_seconds=3600,  # the replacements keep crashing: stay verifying
        )
        state = ServerState(config, gateway, policy=policy)
        opened: dict[str, float] = {}
        acted: dict[str, float] = {}
        written = asyncio.Event()
        fresh_acted = asyncio.Event()

        def on_event(event: WatchEvent) -> None:
            workload = event.workload or ""
            if DEBUG and event.kind != "poll":
                print(event.kind, workload, str(event.data)[:160])
            if event.kind == "opened" and workload not in acted:
                # Opened again after a hand-over ("look again later"): the last one counts.
                opened[workload] = time.perf_counter()
            if event.kind == "progress" and event.data.get("node") == "act":
                acted.setdefault(workload, time.perf_counter())
                if len([w for w in acted if "crash-" in w]) >= verifying:
                    written.set()
                if "fresh" in workload:
                    fresh_acted.set()

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds / speed)

        settings = WatchSettings(
            state_dir=Path(folder) / "state",
            policy=policy,
            poll_interval_seconds=poll,
            max_concurrent=4,
            verify_interval_seconds=10.0,
            verify_max_checks=10_000,
            sleep=sleep,
            reopen_after_seconds=0.0,  # a crash loop below the threshold is looked at again
        )
        stop = asyncio.Event()
        try:
            async with create_connected_server_and_client_session(create_server(state)) as session:
                loop = asyncio.create_task(
                    run_watch(session, settings, on_event=on_event, stop=stop)
                )
                await asyncio.wait_for(written.wait(), timeout=600)
                waited_before = _slot_wait_sum()
                sim.apply(CRASHING.format(name="fresh"))
                await asyncio.wait_for(fresh_acted.wait(), timeout=600)
                slot_wait = _slot_wait_sum() - waited_before
                stop.set()
                await asyncio.wait_for(loop, timeout=120)
        finally:
            state.close()
        key = next(w for w in acted if "fresh" in w)
        latency = acted[key] - opened[key]
        print(
            f"fresh incident while {verifying} others verify (max_concurrent 4, poll interval "
            f"{poll:.0f} simulated s = {poll / speed:.2f} wall s at speed {speed:g}):"
        )
        print(f"  waited for a write slot: {slot_wait * 1000:.1f} ms (goal: under one poll)")
        print(
            f"  opened -> written: {latency:.2f} wall s (diagnose, plan and write, on one event "
            "loop shared with the 15 verifiers and the simulated cluster's controllers)"
        )


DEBUG = False


def _slot_wait_sum() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("kubemedic_write_slot_wait_seconds_sum") or 0.0


def main() -> int:
    asyncio.run(approved_restart())
    asyncio.run(fresh_incident_wait())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
