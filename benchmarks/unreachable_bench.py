"""Requests per diagnosis when the pod's node has an unreachable kubelet (its log reads answer
500 `dial tcp ...:10250: connect: connection refused`, as on a real API server).

A crash-looping Deployment pod on kubesim, its node's kubelet made unreachable; `diagnose_pod`
and `analyze_logs` through a real in-memory MCP session, with the server's default retry policy
(jittered back-off included). Prints the API requests each sent (kubesim's request log), the log
requests among them and the wall time (median of the runs). Limits: 5 requests a diagnosis,
2 log requests for analyze_logs.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp.shared.memory import create_connected_server_and_client_session

from kubesim import KubeSim
from kubesim.store import PODS
from mcp_server.config import ServerConfig
from mcp_server.gateway import MAX_DIAGNOSIS_REQUESTS, Gateway
from mcp_server.server import create_server
from mcp_server.state import ServerState

RUNS = 5

CRASHER = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: crasher, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: crasher}}
  template:
    metadata:
      labels: {app: crasher}
      annotations: {kubesim.io/crash-after: "5s", kubesim.io/log-exit: "ERROR boom"}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        resources: {limits: {memory: 64Mi, cpu: 100m}}
"""


def _crash_looping(sim: KubeSim) -> dict[str, Any] | None:
    for pod in sim.store.list(PODS, "default"):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") == "CrashLoopBackOff":
                return pod
    return None


def main() -> int:
    with KubeSim() as sim, tempfile.TemporaryDirectory() as tmp:
        sim.apply(CRASHER)
        pod = None
        for _ in range(200):
            pod = _crash_looping(sim)
            if pod is not None:
                break
            sim.advance(5)
        assert pod is not None, "the pod never reached CrashLoopBackOff"
        name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
        sim.set_kubelet_reachable(node, False)
        config = ServerConfig(kubeconfig=sim.kubeconfig_path, state_dir=Path(tmp), pod_cache=False)
        state = ServerState(config, Gateway.from_config(config))
        figures: dict[str, list[tuple[int, int, float]]] = {"diagnose_pod": [], "analyze_logs": []}

        async def run() -> None:
            async with create_connected_server_and_client_session(create_server(state)) as s:
                for _ in range(RUNS):
                    for tool in figures:
                        sim.reset_requests()
                        started = time.perf_counter()
                        await s.call_tool(tool, {"namespace": "default", "pod_name": name})
                        took = time.perf_counter() - started
                        sent = [r for r in sim.requests if r.path.startswith(("/api/", "/apis/"))]
                        logs = [r for r in sent if r.subresource == "log"]
                        figures[tool].append((len(sent), len(logs), took))

        try:
            anyio.run(run)
        finally:
            state.close()
    worst = {tool: max(r[0] for r in runs) for tool, runs in figures.items()}
    worst_logs = {tool: max(r[1] for r in runs) for tool, runs in figures.items()}
    for tool, runs in figures.items():
        median = statistics.median(r[2] for r in runs)
        print(
            f"{tool} on a pod whose kubelet is unreachable: {worst[tool]} API requests "
            f"({worst_logs[tool]} log), median {median * 1000:.0f} ms over {RUNS} runs"
        )
    ok = worst["diagnose_pod"] <= MAX_DIAGNOSIS_REQUESTS and worst_logs["analyze_logs"] <= 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
