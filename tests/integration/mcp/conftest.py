"""A kubesim cluster, the MCP server's state wired to it, and a real MCP client session.

The executor's clock is the simulated one: its `sleep` advances kubesim, so verification
waits minutes of cluster time in milliseconds and no test sleeps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session

from kubesim import KubeSim
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway, RetryPolicy
from mcp_server.server import create_server
from mcp_server.state import Clock, ServerState
from policies import Policy, load_policy

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim() as cluster:
        yield cluster


def make_state(
    sim: KubeSim,
    state_dir: Path,
    *,
    policy: Policy | None = None,
    trusted: frozenset[str] = frozenset(),
    local_caller: str = "tester",
    pod_cache: bool = True,
    verify_timeout: float = 180,
) -> ServerState:
    gateway = Gateway.from_kubeconfig(
        sim.kubeconfig_path, retry=RetryPolicy(base_delay=0.0), sleep=lambda s: None
    )
    config = ServerConfig(
        kubeconfig=sim.kubeconfig_path,
        state_dir=state_dir,
        trusted_callers=trusted,
        local_caller=local_caller,
        pod_cache=pod_cache,
        verify_timeout_seconds=verify_timeout,
        verify_poll_seconds=2,
    )
    clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=sim.advance)
    return ServerState(config, gateway, policy=policy or load_policy(None), clock=clock)


@pytest.fixture
def state(sim: KubeSim, tmp_path: Path) -> Iterator[ServerState]:
    server_state = make_state(sim, tmp_path / "state", pod_cache=False)
    yield server_state
    server_state.close()


Session = Callable[[ClientSession], Awaitable[None]]


def run_session(state: ServerState, body: Session) -> None:
    """Run `body` against the server through a real in-memory MCP client session."""

    async def main() -> None:
        server = create_server(state)
        with anyio.fail_after(120):
            async with create_connected_server_and_client_session(server) as session:
                await body(session)

    anyio.run(main)


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured answer. Every failure is an MCP error (`isError: true`) that still
    carries the structured payload with its error code; every success is not."""
    result = await session.call_tool(tool, arguments)
    assert result.structuredContent is not None, result.content
    assert result.isError is (result.structuredContent.get("success") is False), result.content
    text = result.content[0]
    assert getattr(text, "text", None) is not None
    data = dict(result.structuredContent)
    assert json.loads(getattr(text, "text", "{}")) == data
    return data


def writes(sim: KubeSim) -> list[Any]:
    """Requests that changed (or tried to change) the cluster, dry runs excluded."""
    return [
        r for r in sim.requests if r.verb in WRITE_VERBS and "dryRun=All" not in (r.query or "")
    ]


def pods(sim: KubeSim, namespace: str = "default") -> list[dict[str, Any]]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return gw.list_pods(namespace).items
    finally:
        gw.close()


def apply_and_wait(
    sim: KubeSim, manifest: str, until: Callable[[], bool], limit: float = 600, step: float = 5
) -> None:
    sim.apply(manifest)
    waited = 0.0
    while not until():
        assert waited < limit, "the scenario did not reach its failure state"
        sim.advance(step)
        waited += step


def wait_for(sim: KubeSim, until: Callable[[], bool], limit: float = 600, step: float = 5) -> None:
    """Advance the simulated clock until `until()` holds."""
    waited = 0.0
    while not until():
        assert waited < limit, "the scenario did not reach its failure state"
        sim.advance(step)
        waited += step


async def verified(
    session: ClientSession, sim: KubeSim, action_id: str, limit: float = 600, step: float = 2
) -> dict[str, Any]:
    """Advance the simulated clock, asking get_action_status, until the verdict is final."""
    waited = 0.0
    while True:
        status = await call(session, "get_action_status", action_id=action_id)
        verification = status["verification"]
        if verification["status"] != "pending":
            return dict(verification)
        assert waited < limit, f"still pending after {limit}s: {verification}"
        sim.advance(step)
        waited += step


KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@pytest.fixture
def sim133() -> Iterator[KubeSim]:
    """kubesim serving Kubernetes 1.33 (pods/resize)."""
    with KubeSim(kube_version="1.33") as cluster:
        yield cluster


def kubectl(sim: KubeSim, tmp_path: Path, *args: str) -> str:
    """Real kubectl against the simulated cluster; its stdout."""
    done = subprocess.run(
        [
            KUBECTL,
            "--kubeconfig",
            str(sim.kubeconfig_path),
            "--cache-dir",
            str(tmp_path / "kube-cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def live(sim: KubeSim, prefix: str) -> list[dict[str, Any]]:
    """The pods named `prefix…` that are not being deleted."""
    return [
        p
        for p in pods(sim)
        if p["metadata"]["name"].startswith(prefix) and not p["metadata"].get("deletionTimestamp")
    ]


def restarts(pod: dict[str, Any]) -> int:
    """The first container's restart count (0 before the pod has a status)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount") or 0)
