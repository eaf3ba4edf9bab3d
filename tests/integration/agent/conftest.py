"""The incident graph against kubesim through the real MCP server in a real MCP session.

Every clock is the simulated one: the server's verification and the agent's waits both
advance kubesim, so minutes of cluster time pass in milliseconds and no test sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.memory import create_connected_server_and_client_session

from agent.context import IncidentContext
from agent.runner import IncidentRunner, IncidentStatus, open_checkpointer
from agent.tools import Toolbox
from kubemedic.agent_runtime import veto_audit_sink
from kubesim import KubeSim
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway, RetryPolicy
from mcp_server.server import create_server
from mcp_server.state import Clock, ServerState
from policies import Policy, load_policy

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim() as cluster:
        yield cluster


def server_state(sim: KubeSim, state_dir: Path, policy: Policy | None = None) -> ServerState:
    gateway = Gateway.from_kubeconfig(
        sim.kubeconfig_path, retry=RetryPolicy(base_delay=0.0), sleep=lambda s: None
    )
    config = ServerConfig(
        kubeconfig=sim.kubeconfig_path,
        state_dir=state_dir,
        local_caller="kubemedic-agent",
        pod_cache=False,  # one list per look: deterministic under a manual clock
        verify_timeout_seconds=180,
        verify_poll_seconds=5,
    )
    clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=sim.advance)
    return ServerState(config, gateway, policy=policy or load_policy(None), clock=clock)


@pytest.fixture
def state(sim: KubeSim, tmp_path: Path) -> Iterator[ServerState]:
    made = server_state(sim, tmp_path / "state")
    yield made
    made.close()


@asynccontextmanager
async def agent_for(
    sim: KubeSim, state: ServerState, checkpoint: Path, **deps: Any
) -> AsyncIterator[IncidentRunner]:
    async def advance(seconds: float) -> None:
        sim.advance(seconds)

    async with create_connected_server_and_client_session(create_server(state)) as session:
        toolbox = await Toolbox.from_session(session)
        async with open_checkpointer(checkpoint) as saver:
            options: dict[str, Any] = {
                "sleep": advance,
                "audit": veto_audit_sink(state.audit.path, "kubemedic-agent"),
                "verify_interval_seconds": 10.0,
                "verify_max_checks": 24,
            }
            options.update(deps)
            yield IncidentRunner(
                IncidentContext(toolbox=toolbox, policy=state.policy, **options), saver
            )


async def approve_all(
    runner: IncidentRunner, state: ServerState, status: IncidentStatus, approver: str
) -> tuple[IncidentStatus, list[dict[str, Any]]]:
    """Grant every approval the incident asks for (as `kubemedic approvals approve` does)."""
    asked = []
    while status.waiting_for_approval:
        assert status.pending is not None
        asked.append(status.pending)
        state.approvals.grant(status.pending["approval_id"], by=approver)
        status = await runner.resume(
            status.incident_id, {"decision": "approve", "approver": approver}
        )
    return status, asked


def writes(sim: KubeSim) -> list[Any]:
    return [
        r for r in sim.requests if r.verb in WRITE_VERBS and "dryRun=All" not in (r.query or "")
    ]


def pods(sim: KubeSim, namespace: str = "default") -> list[dict[str, Any]]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return list(gw.list_pods(namespace).items)
    finally:
        gw.close()


def deployment(sim: KubeSim, name: str, namespace: str = "default") -> dict[str, Any]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return dict(gw.get_deployment(namespace, name))
    finally:
        gw.close()


def container_status(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(((pod.get("status") or {}).get("containerStatuses") or [{}])[0])


def waiting_reason(pod: dict[str, Any]) -> str | None:
    return ((container_status(pod).get("state") or {}).get("waiting") or {}).get("reason")


def restarts(pod: dict[str, Any]) -> int:
    return int(container_status(pod).get("restartCount") or 0)


def one_pod(sim: KubeSim, prefix: str) -> dict[str, Any]:
    found = [
        p
        for p in pods(sim)
        if p["metadata"]["name"].startswith(prefix) and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(found) == 1, [p["metadata"]["name"] for p in found]
    return found[0]


def advance_until(sim: KubeSim, done: Any, limit: float = 900, step: float = 5) -> None:
    waited = 0.0
    while not done():
        assert waited < limit, "the scenario did not reach its failure state"
        sim.advance(step)
        waited += step
