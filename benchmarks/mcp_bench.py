"""Latency of each MCP tool through a real in-memory MCP session against kubesim.

Prints, per tool, the median and p95 wall time of a call and the API requests it sent. The
cluster holds a crash-looping deployment, a healthy one and an unschedulable pod; writing
tools run as dry runs (the API server's dryRun=All) so every iteration sees the same cluster.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.shared.memory import create_connected_server_and_client_session

from kubesim import KubeSim
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway
from mcp_server.server import create_server
from mcp_server.state import Clock, ServerState

ITERATIONS = 20

CLUSTER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: crasher, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: crasher}}
  template:
    metadata:
      labels: {app: crasher}
      annotations: {kubesim.io/crash-after: "2s", kubesim.io/log-exit: "ERROR connection refused"}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        resources: {limits: {memory: 64Mi, cpu: 100m}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        resources: {limits: {memory: 128Mi, cpu: 200m}}
---
apiVersion: v1
kind: Pod
metadata: {name: greedy, namespace: default}
spec:
  containers:
  - {name: app, image: nginx:1.25, resources: {requests: {cpu: "64"}}}
"""


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    with KubeSim() as sim, tempfile.TemporaryDirectory() as folder:
        sim.apply(CLUSTER)
        sim.advance(300, step=5)
        gateway = Gateway.from_kubeconfig(sim.kubeconfig_path)
        names = {
            p["metadata"]["name"].split("-")[0]: p["metadata"]["name"]
            for p in gateway.list_pods("default").items
        }
        config = ServerConfig(
            kubeconfig=sim.kubeconfig_path,
            state_dir=Path(folder),
            trusted_callers=frozenset({"bench"}),
            local_caller="bench",
        )
        clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=sim.advance)
        state = ServerState(config, gateway, clock=clock)
        crasher, web = names["crasher"], names["web"]
        calls: list[tuple[str, dict[str, Any]]] = [
            ("diagnose_pod", {"namespace": "default", "pod_name": crasher}),
            ("diagnose_pod", {"namespace": "default", "pod_name": "greedy"}),
            ("analyze_logs", {"namespace": "default", "pod_name": crasher}),
            ("check_resource_usage", {"namespace": "default", "pod_name": web}),
            ("list_unhealthy_pods", {}),
            (
                "auto_heal_pod",
                {
                    "namespace": "default",
                    "pod_name": crasher,
                    "diagnosis": {},
                    "dry_run": True,
                    "force": True,
                },
            ),
            (
                "rollback_deployment",
                {"namespace": "default", "deployment_name": "web", "dry_run": True},
            ),
        ]
        results: dict[str, tuple[list[float], int, str]] = {}

        async def run() -> None:
            async with create_connected_server_and_client_session(create_server(state)) as s:
                assert state.cache is not None and state.cache.wait_synced(30)
                for tool, arguments in calls:
                    pod = str(arguments.get("pod_name", "")).split("-")[0]
                    label = f"{tool}({pod})" if tool == "diagnose_pod" else tool
                    samples: list[float] = []
                    outcome = ""
                    before = gateway.requests_sent
                    for _ in range(ITERATIONS):
                        started = time.perf_counter()
                        answer = await s.call_tool(tool, arguments)
                        samples.append(time.perf_counter() - started)
                        data = answer.structuredContent or {}
                        outcome = (
                            "ok"
                            if data.get("success")
                            else str((data.get("error") or {}).get("code"))
                        )
                    per_call = (gateway.requests_sent - before) // ITERATIONS
                    results[label] = (samples, per_call, outcome)

        try:
            anyio.run(run)
        finally:
            state.close()
        print(f"{'tool':<40} {'median ms':>10} {'p95 ms':>10} {'API req':>8}  outcome")
        for label, (samples, requests, outcome) in results.items():
            print(
                f"{label:<40} {statistics.median(samples) * 1000:>10.1f} "
                f"{_percentile(samples, 0.95) * 1000:>10.1f} {requests:>8}  {outcome}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
