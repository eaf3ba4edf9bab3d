"""Right-sizing from the observed usage: kubesim over HTTP with PodMetrics, the MCP server with
its pod cache and usage sampler, a real MCP client session (in memory, and streamable HTTP for
`kubemedic rightsize --mcp-url`). Every wait advances kubesim's simulated clock; the sampler
takes a round after each step. The expected numbers are computed from the samples the sampler
holds, never written down."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from mcp import ClientSession
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.testclient import TestClient
from typer.testing import CliRunner

from kubemedic.cli import app as cli
from kubesim import KubeSim
from mcp_server.config import TokenConfig
from mcp_server.http_app import create_http_app
from mcp_server.pod_cache import PodCache, wait_until
from mcp_server.state import ServerState
from mcp_server.usage.rightsizing import workload_of
from policies import new_memory_limit
from policies.memory_trend import percentile
from policies.rightsizing import round_cpu_up, round_memory_up
from tests.integration.mcp.conftest import call, make_state, pods, run_session

MI = 2**20
READ_TOKEN = "rightsize-read-token-0123456789"


def deployment(
    name: str,
    *,
    replicas: int,
    memory: str,
    cpu: str,
    request: str,
    limit: str,
    cpu_request: str,
) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations:
        kubesim.io/memory: "{memory}"
        kubesim.io/cpu: "{cpu}"
    spec:
      containers:
      - name: app
        image: nginx:1.25
        resources:
          requests: {{memory: {request}, cpu: {cpu_request}}}
          limits: {{memory: {limit}}}
"""


# Asks for 512Mi, uses ~60Mi flat: over-provisioned.
ROOMY = deployment(
    "roomy", replicas=2, memory="60Mi", cpu="20m", request="512Mi", limit="1Gi", cpu_request="200m"
)
# Asks for 64Mi, uses ~200Mi (below its 256Mi limit): under-provisioned.
TIGHT = deployment(
    "tight", replicas=1, memory="200Mi", cpu="40m", request="64Mi", limit="256Mi", cpu_request="50m"
)
# Started a moment ago: not enough data yet.
FRESH = deployment(
    "fresh", replicas=1, memory="30Mi", cpu="5m", request="64Mi", limit="128Mi", cpu_request="10m"
)


def _versions(sim: KubeSim) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in pods(sim)}


def _caught_up(cache: PodCache, api: dict[str, str]) -> bool:
    seen = cache.pods("default")
    return {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in seen} == api


def tick(sim: KubeSim, state: ServerState, seconds: float, step: float = 15.0) -> None:
    """Advance the simulated clock; after each step the pod cache catches up and the sampler
    takes one round (as its thread does every 15 s on a real cluster)."""
    assert state.cache is not None and state.usage is not None
    waited = 0.0
    while waited < seconds:
        sim.advance(step)
        waited += step
        assert wait_until(partial(_caught_up, state.cache, _versions(sim)), 10)
        state.usage.sample_once()


def _running(sim: KubeSim, count: int) -> bool:
    return sum(1 for p in pods(sim) if (p.get("status") or {}).get("phase") == "Running") == count


@pytest.fixture
def live(sim: KubeSim, tmp_path: Path) -> Iterator[ServerState]:
    sim.apply(ROOMY)
    sim.apply(TIGHT)
    waited = 0.0
    while not _running(sim, 3):
        assert waited < 120, "the workloads did not start"
        sim.advance(5)
        waited += 5
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    assert state.cache is not None and state.usage is not None
    state.acquire()  # as a session does: the pod cache (and the sampler's thread) start
    assert state.cache.wait_synced(10)
    # kubesim's metrics-server reports steady usage once a minute: 11 scrapes per pod.
    tick(sim, state, 600, step=30)
    sim.apply(FRESH)
    sim.advance(5)  # pulled and running, one scrape
    tick(sim, state, 15)
    yield state
    state.release()
    state.close()


def expected(state: ServerState, name: str) -> dict[str, Any]:
    """The recommendation for Deployment/<name>'s container, from the sampler's own samples."""
    assert state.usage is not None and state.cache is not None
    keys = [
        k
        for k in state.usage.keys("default")
        if (pod := state.cache.get("default", k.pod)) is not None
        and workload_of(pod) == ("Deployment", name)
        and pod["metadata"]["uid"] == k.pod_uid
    ]
    samples = [s for k in keys for s in state.usage.samples(k)]
    memory = [float(s.memory_bytes) for s in samples]
    cpu = [float(s.cpu_millicores) for s in samples]
    margin = 1 + state.policy.rightsizing.safety_margin
    oom = state.policy.memory
    p95_memory, p95_cpu = percentile(memory, 95.0), percentile(cpu, 95.0)
    assert p95_memory is not None and p95_cpu is not None
    return {
        "pods": sorted({k.pod for k in keys}),
        "samples": len(samples),
        "memory_request": max(round_memory_up(p95_memory * margin), 16 * MI),
        "memory_limit": max(
            round_memory_up(max(memory) * margin),
            new_memory_limit(math.ceil(max(memory)), oom.oom_bump_ratio, oom.oom_min_bump),
            max(round_memory_up(p95_memory * margin), 16 * MI),
        ),
        "cpu_request": max(round_cpu_up(p95_cpu * margin), 10),
        "memory_p95": round(p95_memory),
        "memory_max": round(max(memory)),
    }


def _by_workload(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["workload"]: c for c in result["containers"] if c["namespace"] == "default"}


def check_report(state: ServerState, result: dict[str, Any]) -> None:
    assert result["success"] is True, result
    found = _by_workload(result)
    roomy, tight, fresh = (found[f"Deployment/{n}"] for n in ("roomy", "tight", "fresh"))

    want = expected(state, "roomy")
    assert roomy["verdict"] == "over_provisioned", roomy
    assert roomy["replicas"] == 2 and roomy["pods"] == want["pods"]
    assert roomy["samples"] == want["samples"] >= 2 * 10
    memory = roomy["memory"]
    assert memory["request"] == 512 * MI and memory["limit"] == 1024 * MI
    assert memory["p95"] == want["memory_p95"] and memory["max"] == want["memory_max"]
    assert memory["recommended_request"] == want["memory_request"]
    assert memory["recommended_limit"] == want["memory_limit"]
    assert memory["freed"] == 2 * (512 * MI - want["memory_request"])
    assert roomy["cpu"]["recommended_request"] == want["cpu_request"]
    assert roomy["cpu"]["freed"] == 2 * (200 - want["cpu_request"])
    assert roomy["suggested_command"].startswith(
        "kubectl -n default set resources deployment/roomy -c app --requests=memory="
    )

    want = expected(state, "tight")
    assert tight["verdict"] == "under_provisioned", tight
    assert tight["memory"]["recommended_request"] == want["memory_request"]
    assert tight["memory"]["recommended_limit"] == want["memory_limit"]
    assert tight["memory"]["freed"] == 64 * MI - want["memory_request"] < 0
    assert any("below the observed p95" in r for r in tight["reasons"])

    assert fresh["verdict"] == "not_enough_data", fresh
    assert fresh["samples"] < state.policy.rightsizing.min_samples
    assert fresh["memory"]["recommended_request"] is None and fresh["memory"]["freed"] == 0
    assert fresh["memory"]["request"] == 64 * MI  # what it asks for now is still shown

    totals = result["totals"]
    assert totals["memory_freed_bytes"] == roomy["memory"]["freed"]
    assert totals["memory_needed_bytes"] == -tight["memory"]["freed"]
    assert totals["by_verdict"]["not_enough_data"] >= 1
    assert result["sampler"]["running"] is True and result["sampler"]["rounds"] >= 21


def test_get_rightsizing_recommends_from_the_samples(sim: KubeSim, live: ServerState) -> None:
    async def body(session: ClientSession) -> None:
        result = await call(session, "get_rightsizing")
        check_report(live, result)
        only = await call(session, "get_rightsizing", namespace="default")
        assert {c["namespace"] for c in only["containers"]} == {"default"}
        bad = await call(session, "get_rightsizing", namespace="Not_A_Namespace")
        assert bad["error"]["code"] == "invalid_input"

    run_session(live, body)


def test_the_gauges_appear_on_metrics(sim: KubeSim, live: ServerState) -> None:
    assert live.usage is not None
    # The publisher runs after a round at most once a minute of the server's clock.
    tick(sim, live, 60)
    _with_token(live)
    scrape = TestClient(create_http_app(live)).get(
        "/metrics", headers={"Authorization": f"Bearer {READ_TOKEN}"}
    )
    assert scrape.status_code == 200, scrape.text
    text = scrape.text
    series = {
        (sample.name, sample.labels.get("workload")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("kubemedic_rightsizing_")
    }
    want = expected(live, "roomy")
    roomy = "Deployment/roomy"
    assert series[("kubemedic_rightsizing_requested_bytes", roomy)] == 512 * MI
    assert series[("kubemedic_rightsizing_recommended_bytes", roomy)] == want["memory_request"]
    assert series[("kubemedic_rightsizing_freed_bytes", roomy)] == 2 * (
        512 * MI - want["memory_request"]
    )
    assert series[("kubemedic_rightsizing_requested_millicores", roomy)] == 200
    assert ("kubemedic_rightsizing_freed_millicores", roomy) in series
    assert series[("kubemedic_rightsizing_freed_bytes", "Deployment/tight")] < 0
    # Not enough data: no series (the count per verdict says it).
    assert not any(workload == "Deployment/fresh" for _, workload in series)
    assert series[("kubemedic_rightsizing_containers", None)] >= 0
    labels = {
        frozenset(sample.labels)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("kubemedic_rightsizing_")
        and sample.name != "kubemedic_rightsizing_containers"
    }
    assert labels == {frozenset({"namespace", "workload", "container"})}


# -- kubemedic rightsize ------------------------------------------------------------------------


def _with_token(state: ServerState) -> None:
    state.config.tokens = (
        TokenConfig(
            caller="finops", token=SecretStr(READ_TOKEN), scopes=frozenset({"read", "metrics"})
        ),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(live: ServerState) -> Iterator[str]:
    _with_token(live)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_http_app(live, port=port), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, 20), "the HTTP server did not start"
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(10)


def test_rightsize_command_against_a_running_server(
    live: ServerState, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEMEDIC_MCP_TOKEN", READ_TOKEN)
    runner = CliRunner()
    result = runner.invoke(cli, ["rightsize", "--mcp-url", served, "-o", "json"])
    assert result.exit_code == 0, result.output
    check_report(live, json.loads(result.stdout))

    wide = runner.invoke(cli, ["rightsize", "--mcp-url", served, "-n", "default", "-o", "wide"])
    assert wide.exit_code == 0, wide.output
    text = wide.stdout
    assert "default/Deployment/roomy container app" in text
    want = expected(live, "roomy")
    assert f"recommended {want['memory_request'] // MI}Mi / {want['memory_limit'] // MI}Mi" in text
    assert "kubectl -n default set resources deployment/roomy -c app" in text
    assert "verdict:      not_enough_data" in text
    assert text.rstrip().splitlines()[-2].startswith("total: memory: ")

    denied = runner.invoke(cli, ["rightsize", "--mcp-url", served, "--token", "x" * 32])
    assert denied.exit_code != 0


def test_rightsize_command_samples_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process server has no history: --sample-for lets it sample first. kubesim runs
    at 300 simulated seconds a wall second, so 4 s of sampling cover 20 minutes of usage."""
    with KubeSim(speed=300.0) as sim:
        sim.apply(ROOMY)
        assert wait_until(partial(_running, sim, 2), 30), "roomy did not start"
        monkeypatch.setenv("KUBEMEDIC_KUBECONFIG", str(sim.kubeconfig_path))
        monkeypatch.setenv("KUBEMEDIC_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("KUBEMEDIC_USAGE_SAMPLE_SECONDS", "0.1")
        monkeypatch.setenv("KUBEMEDIC_LLM", "none")
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["rightsize", "--sample-for", "4s", "-o", "json"])
        assert time.monotonic() - started >= 4
    assert result.exit_code == 0, result.output
    found = _by_workload(json.loads(result.stdout))
    roomy = found["Deployment/roomy"]
    assert roomy["verdict"] == "over_provisioned", roomy
    # A memory limit is set, so kubesim reports the working set without jitter: exactly 60Mi.
    assert roomy["memory"]["max"] == 60 * MI
    assert roomy["memory"]["recommended_request"] == round_memory_up(60 * MI * 1.15)
    assert roomy["memory"]["freed"] == 2 * (512 * MI - round_memory_up(60 * MI * 1.15))
