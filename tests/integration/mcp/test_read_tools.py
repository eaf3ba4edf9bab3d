"""analyze_logs, check_resource_usage and the diagnosis' request budget against kubesim."""

from __future__ import annotations

from pathlib import Path

from mcp import ClientSession

from kubesim import KubeSim
from mcp_server.state import ServerState
from tests.integration.mcp.conftest import call, make_state, pods, run_session

NOISY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata:
      labels: {app: api}
      annotations:
        kubesim.io/memory: 96Mi
        kubesim.io/cpu: 150m
        kubesim.io/log-interval: 5s
        kubesim.io/log-lines: |
          2025-10-25T10:30:45Z ERROR Failed to connect to database: connection refused
          2025-10-25T10:30:46Z WARN request took 2s: context deadline exceeded
          {"level": "error", "msg": "dial tcp: lookup db.internal: no such host"}
    spec:
      containers:
      - name: api
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        resources:
          requests: {memory: 64Mi, cpu: 100m}
          limits: {memory: 128Mi, cpu: 200m}
"""


def _api_pod(sim: KubeSim) -> str:
    name = next(
        p["metadata"]["name"] for p in pods(sim) if p["metadata"]["name"].startswith("api-")
    )
    assert isinstance(name, str)
    return name


def test_analyze_logs_finds_patterns_with_bounds(sim: KubeSim, state: ServerState) -> None:
    sim.apply(NOISY)
    sim.advance(60)
    name = _api_pod(sim)

    async def body(session: ClientSession) -> None:
        result = await call(session, "analyze_logs", namespace="default", pod_name=name)
        assert result["success"] is True, result
        assert result["container"] == "api"
        assert result["total_lines"] > 0
        patterns = result["error_patterns"]
        assert patterns.get("connection_error", 0) > 0
        assert patterns.get("dns_error", 0) > 0
        assert result["recommendations"]
        assert all({"timestamp", "level", "message", "pattern"} <= set(e) for e in result["errors"])
        too_many = await call(
            session, "analyze_logs", namespace="default", pod_name=name, tail_lines=10**6
        )
        assert too_many["error"]["code"] == "invalid_input"
        assert "tail_lines" in too_many["error"]["message"]
        too_old = await call(
            session, "analyze_logs", namespace="default", pod_name=name, since_seconds=0
        )
        assert too_old["error"]["code"] == "invalid_input"
        nobody = await call(
            session, "analyze_logs", namespace="default", pod_name=name, container="nope"
        )
        assert nobody["error"]["code"] == "not_found"

    run_session(state, body)


def test_check_resource_usage_compares_usage_with_limits(sim: KubeSim, state: ServerState) -> None:
    sim.apply(NOISY)
    sim.advance(60)
    name = _api_pod(sim)

    async def body(session: ClientSession) -> None:
        result = await call(session, "check_resource_usage", namespace="default", pod_name=name)
        assert result["success"] is True and result["metrics_available"] is True, result
        (container,) = result["containers"]
        assert container["memory"]["limit"] == "128Mi"
        assert container["memory"]["request"] == "64Mi"
        assert container["memory"]["percentage_of_limit"] == 75
        assert container["cpu"]["limit"] == "200m"
        assert 50 <= container["cpu"]["percentage_of_limit"] <= 100  # kubesim's cpu jitters

    run_session(state, body)


def test_without_metrics_server_usage_is_not_invented(tmp_path: Path) -> None:
    with KubeSim(metrics=False) as sim:
        sim.apply(NOISY)
        sim.advance(30)
        name = _api_pod(sim)
        state = make_state(sim, tmp_path / "state", pod_cache=False)

        async def body(session: ClientSession) -> None:
            result = await call(session, "check_resource_usage", namespace="default", pod_name=name)
            assert result["success"] is True
            assert result["metrics_available"] is False
            assert "not served" in result["metrics_message"]
            (container,) = result["containers"]
            assert container["memory"]["usage"] is None
            assert container["memory"]["percentage_of_limit"] is None
            assert container["memory"]["limit"] == "128Mi"

        try:
            run_session(state, body)
        finally:
            state.close()


def test_a_diagnosis_costs_at_most_five_requests_even_when_throttled(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(NOISY)
    sim.advance(30)
    name = _api_pod(sim)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        result = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert result["success"] is True
        assert result["owner_chain"][-1]["kind"] == "Deployment"
        assert result["workload"]["name"] == "api"
        assert result["api_requests"] <= 5

    run_session(state, body)
    assert len(sim.requests) <= 5
    sim.reset_requests()
    sim.faults.throttle(2, retry_after=1, verbs=("get",), resource="pods")

    async def throttled(session: ClientSession) -> None:
        result = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert result["success"] is True  # the 429s were retried after Retry-After

    run_session(state, throttled)
    answered = [r for r in sim.requests if r.status != 429]
    assert len(answered) <= 5
    assert [r.status for r in sim.requests].count(429) == 2


def test_server_errors_become_structured_results(sim: KubeSim, state: ServerState) -> None:
    sim.apply(NOISY)
    sim.advance(30)
    name = _api_pod(sim)
    sim.faults.fail(10, verbs=("get",), resource="pods")

    async def body(session: ClientSession) -> None:
        result = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert result["success"] is False
        assert result["error"]["code"] == "api_error"
        assert result["error"]["retryable"] is True

    run_session(state, body)
    sim.faults.clear()
