"""Bounded reads against kubesim over HTTP, through real MCP sessions: a node whose kubelet is
unreachable, paginated events, limitBytes, the diagnosis' time budget, the agent's deadline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session

from agent.tools import Toolbox, error_code
from kubesim import KubeSim
from mcp_server.gateway import MAX_DIAGNOSIS_REQUESTS, Gateway
from mcp_server.server import create_server
from mcp_server.state import ServerState
from tests.integration.mcp.conftest import call, make_state, pods, run_session, wait_for

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

BARE = """
apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:1.25
"""


def _crasher(sim: KubeSim) -> dict[str, Any]:
    def restarted() -> bool:
        for pod in pods(sim):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if pod["metadata"]["name"].startswith("crasher-") and any(
                s.get("restartCount", 0) >= 2
                and ((s.get("state") or {}).get("waiting") or {}).get("reason")
                == "CrashLoopBackOff"
                for s in statuses
            ):
                return True
        return False

    sim.apply(CRASHER)
    wait_for(sim, restarted)
    return next(p for p in pods(sim) if p["metadata"]["name"].startswith("crasher-"))


def _log_requests(sim: KubeSim) -> list[Any]:
    return [r for r in sim.requests if r.subresource == "log"]


def test_diagnosis_on_an_unreachable_node_stays_within_five_requests(
    sim: KubeSim, state: ServerState
) -> None:
    pod = _crasher(sim)
    name = pod["metadata"]["name"]
    sim.set_kubelet_reachable(pod["spec"]["nodeName"], False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        result = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert result["success"] is True, result
        sent = [r for r in sim.requests if r.path.startswith(("/api/", "/apis/"))]
        assert len(sent) <= MAX_DIAGNOSIS_REQUESTS, [(r.method, r.path, r.status) for r in sent]
        assert result["api_requests"] == len(sent)
        logs = _log_requests(sim)
        assert logs and all(r.status == 500 for r in logs)
        unavailable = [n for n in result["not_fetched"] if "logs unavailable" in n]
        assert unavailable, result["not_fetched"]
        assert "connection refused" in unavailable[0]
        # The rules and the LLM read it in the diagnosis itself.
        assert any("logs unavailable" in u for u in result["logs"]["unavailable"])

    run_session(state, body)


def test_analyze_logs_on_an_unreachable_node_answers_after_two_log_requests(
    sim: KubeSim, state: ServerState
) -> None:
    pod = _crasher(sim)
    name = pod["metadata"]["name"]
    sim.set_kubelet_reachable(pod["spec"]["nodeName"], False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        result = await call(session, "analyze_logs", namespace="default", pod_name=name)
        assert result["success"] is True, result
        assert any(n.startswith("logs unavailable: ") for n in result["notes"]), result["notes"]
        assert len(_log_requests(sim)) <= 2
        assert result["read_previous"] is False  # the same kubelet: not asked

    run_session(state, body)
    sim.set_kubelet_reachable(pod["spec"]["nodeName"], True)
    sim.reset_requests()

    async def again(session: ClientSession) -> None:
        result = await call(session, "analyze_logs", namespace="default", pod_name=name)
        assert result["read_previous"] is True and result["error_count"] > 0, result
        assert len(_log_requests(sim)) == 2 and all(r.status == 200 for r in _log_requests(sim))

    run_session(state, again)


def test_log_reads_carry_limit_bytes(sim: KubeSim, state: ServerState) -> None:
    pod = _crasher(sim)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        name = pod["metadata"]["name"]
        await call(session, "analyze_logs", namespace="default", pod_name=name)
        await call(session, "diagnose_pod", namespace="default", pod_name=name)

    run_session(state, body)
    logs = _log_requests(sim)
    assert len(logs) >= 3
    assert all(f"limitBytes={state.gateway.log_limit_bytes}" in r.query for r in logs)


def test_events_are_read_whole_across_pages(sim: KubeSim) -> None:
    sim.apply(BARE)
    sim.advance(10)
    pod = next(p for p in pods(sim) if p["metadata"]["name"] == "lonely")
    uid = pod["metadata"]["uid"]
    own = [_event(f"lonely.test-{i:03d}", "lonely", uid, f"probe failed {i}") for i in range(23)]
    other = [_event(f"other.{i:03d}", "other", "uid-other", "elsewhere") for i in range(5)]
    sim.apply(own + other)
    gateway = Gateway.from_kubeconfig(sim.kubeconfig_path, event_page_size=10)
    try:
        sim.reset_requests()
        events = gateway.list_events_for("default", "lonely", uid=uid)
    finally:
        gateway.close()
    ours = {
        e["metadata"]["name"] for e in events if e["metadata"]["name"].startswith("lonely.test-")
    }
    assert ours == {e["metadata"]["name"] for e in own}
    assert all(e["involvedObject"]["name"] == "lonely" for e in events)
    pages = [r for r in sim.requests if r.resource == "events" and r.verb == "list"]
    assert len(pages) >= 3
    assert all("limit=10" in r.query for r in pages)
    assert all("continue=" in r.query for r in pages[1:])


def _event(name: str, pod: str, uid: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": pod,
            "uid": uid,
            "apiVersion": "v1",
        },
        "reason": "Unhealthy",
        "message": message,
        "type": "Warning",
        "count": 1,
        "source": {"component": "kubelet"},
    }


def test_a_diagnosis_ends_within_its_budget_and_names_what_it_skipped(
    sim: KubeSim, tmp_path: Path
) -> None:
    pod = _crasher(sim)
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    state.gateway.diagnosis_budget_seconds = 2.5
    sim.faults.add_latency(1.0)  # every request: the pod and the events fit, the rest cannot
    try:

        async def body(session: ClientSession) -> None:
            name = pod["metadata"]["name"]
            result = await call(session, "diagnose_pod", namespace="default", pod_name=name)
            assert result["success"] is True, result
            skipped = [n for n in result["not_fetched"] if "time budget of 2.5s" in n]
            assert any(n.startswith("deployment: skipped") for n in skipped), skipped
            assert any(n.startswith("log app (previous): skipped") for n in skipped), skipped
            assert result["api_requests"] <= 3

        run_session(state, body)
    finally:
        sim.faults.clear()
        state.close()


def test_the_agents_call_fails_with_tool_timeout_after_its_deadline(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(BARE)
    sim.advance(10)
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    state.gateway.diagnosis_budget_seconds = 3.0  # the server's own bound on the hung read
    sim.faults.add_latency(30.0)  # far beyond the agent's deadline
    outcome: dict[str, Any] = {}

    async def main() -> None:
        server = create_server(state)
        with anyio.fail_after(60):
            async with create_connected_server_and_client_session(server) as session:
                toolbox = await Toolbox.from_session(session, timeout_seconds=1.0)
                started = anyio.current_time()
                outcome["result"] = await toolbox.call(
                    "diagnose_pod", namespace="default", pod_name="lonely"
                )
                outcome["waited"] = anyio.current_time() - started

    try:
        anyio.run(main)
    finally:
        sim.faults.clear()
        state.close()
    assert error_code(outcome["result"]) == "tool_timeout", outcome
    assert "within 1s" in outcome["result"]["error"]["message"]
    assert outcome["waited"] >= 1.0
