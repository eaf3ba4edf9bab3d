"""Streamable HTTP with bearer tokens: 401 without one, scopes per tool, probes and /metrics."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from kubesim import KubeSim
from mcp_server.config import TokenConfig
from mcp_server.http_app import NoTokensConfigured, create_http_app
from mcp_server.state import ServerState
from tests.integration.mcp.conftest import make_state, writes

READ_TOKEN = "read-token-0123456789abcdef"
HEAL_TOKEN = "heal-token-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789abcdef"

BARE = """
apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:1.25
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(
    sim: KubeSim, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, ServerState]]:
    sim.apply(BARE)
    sim.advance(10)
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    state.config.tokens = (
        TokenConfig(caller="dashboard", token=SecretStr(READ_TOKEN), scopes=frozenset({"read"})),
        TokenConfig(
            caller="ops-bot", token=SecretStr(HEAL_TOKEN), scopes=frozenset({"read", "heal"})
        ),
        TokenConfig(
            caller="prometheus", token=SecretStr(METRICS_TOKEN), scopes=frozenset({"metrics"})
        ),
    )
    state.config.metrics_auth = getattr(request, "param", "required")
    port = _free_port()
    app = create_http_app(state, port=port)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the HTTP server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", state
    server.should_exit = True
    thread.join(10)
    state.close()


def _session(url: str, token: str, body: Any) -> None:
    async def main() -> None:
        with anyio.fail_after(60):
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                httpx.AsyncClient(headers=headers, timeout=30) as http,
                streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await body(session)

    anyio.run(main)


def test_probes_are_open_and_metrics_need_the_metrics_scope(
    served: tuple[str, ServerState],
) -> None:
    url, state = served
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert state.cache is not None and state.cache.wait_synced(10)
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    anonymous = httpx.get(f"{url}/metrics")
    assert anonymous.status_code == 401 and "pod_health_score" not in anonymous.text
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    forged = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer not-a-token-xxxxxxxx"})
    assert forged.status_code == 401
    read_only = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert read_only.status_code == 403 and "pod_health_score" not in read_only.text
    scraped = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    text = scraped.text
    for name in (
        "kubemedic_pods_monitored",
        "healing_attempts_total",
        "pod_health_score",
        "kubemedic_k8s_api_requests_total",
    ):
        assert name in text
    assert 'pod_health_score{namespace="default",pod="lonely"}' in text


@pytest.mark.parametrize("served", ["open"], indirect=True)
def test_metrics_can_be_served_open(served: tuple[str, ServerState]) -> None:
    url, _ = served
    answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 200 and "kubemedic_k8s_api_requests_total" in answer.text
    # /mcp still needs its token.
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(f"{url}/mcp", json=hello, headers=accept).status_code == 401
    # A metrics-only token is no MCP token.
    scoped = {**accept, "Authorization": f"Bearer {METRICS_TOKEN}"}
    assert httpx.post(f"{url}/mcp", json=hello, headers=scoped).status_code == 403


def test_mcp_needs_a_valid_token(served: tuple[str, ServerState]) -> None:
    url, _ = served
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(f"{url}/mcp", json=hello, headers=accept).status_code == 401
    wrong = {**accept, "Authorization": "Bearer not-a-token-at-all-xxxx"}
    assert httpx.post(f"{url}/mcp", json=hello, headers=wrong).status_code == 401


def test_a_read_token_reads_but_never_heals(sim: KubeSim, served: tuple[str, ServerState]) -> None:
    url, state = served
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert tools["auto_heal_pod"].annotations is not None
        assert tools["auto_heal_pod"].annotations.destructiveHint is True
        assert tools["diagnose_pod"].annotations is not None
        assert tools["diagnose_pod"].annotations.readOnlyHint is True
        listed = await session.call_tool("list_unhealthy_pods", {})
        assert listed.structuredContent is not None and listed.structuredContent["success"]
        heal = await session.call_tool(
            "auto_heal_pod",
            {"namespace": "default", "pod_name": "lonely", "diagnosis": {}, "dry_run": True},
        )
        assert heal.structuredContent is not None
        assert heal.structuredContent["error"]["code"] == "forbidden"

    _session(url, READ_TOKEN, body)
    assert not writes(sim)
    (record,) = state.audit.records()
    assert record["initiator"] == "dashboard" and record["result"] == "refused"


def test_a_heal_token_is_the_caller(sim: KubeSim, served: tuple[str, ServerState]) -> None:
    url, state = served

    async def body(session: ClientSession) -> None:
        diagnosis = await session.call_tool(
            "diagnose_pod", {"namespace": "default", "pod_name": "lonely"}
        )
        assert diagnosis.structuredContent is not None
        heal = await session.call_tool(
            "auto_heal_pod",
            {
                "namespace": "default",
                "pod_name": "lonely",
                "diagnosis": diagnosis.structuredContent,
                "dry_run": True,
            },
        )
        assert heal.structuredContent is not None and heal.structuredContent["success"] is True
        assert heal.structuredContent["action_taken"] == "none"

    _session(url, HEAL_TOKEN, body)
    (record,) = state.audit.records()
    assert record["initiator"] == "ops-bot"


def test_http_without_tokens_is_refused(sim: KubeSim, tmp_path: Path) -> None:
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    try:
        with pytest.raises(NoTokensConfigured):
            create_http_app(state)
    finally:
        state.close()
