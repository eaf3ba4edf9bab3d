"""Detection without waiting for the next poll: the watch loop subscribes to the server's
`kubemedic://pods/unhealthy` and opens an incident as soon as the server notifies a change.

The poll interval is 300 s of wall time and the loop's first poll happens before the pod
fails, so only the notification can explain an incident opened within the test's deadline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.memory import create_connected_server_and_client_session

from agent.watch import WatchEvent, WatchSettings, run_watch
from kubesim import KubeSim
from kubesim.store import PODS
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway
from mcp_server.server import create_server
from mcp_server.state import ServerState
from policies import load_policy

pytestmark = pytest.mark.anyio

HEALTHY = """
apiVersion: v1
kind: Pod
metadata: {name: steady, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:1.25
"""


def _pull_error(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"][0]["image"] = "nginx:9.99-no-such-tag"
    status = pod["status"]
    status["conditions"] = [
        {**c, "status": "False"} if c.get("type") in ("Ready", "ContainersReady") else c
        for c in status.get("conditions") or []
    ]
    (container,) = status["containerStatuses"]
    container.update(
        ready=False,
        started=False,
        state={"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}},
    )


async def test_an_incident_opens_on_the_servers_notification_not_the_next_poll(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(HEALTHY)
    sim.advance(30)
    config = ServerConfig(
        kubeconfig=sim.kubeconfig_path,
        state_dir=tmp_path / "server",
        local_caller="kubemedic-agent",
        pod_cache=True,
    )
    state = ServerState(
        config, Gateway.from_kubeconfig(sim.kubeconfig_path), policy=load_policy(None)
    )
    settings = WatchSettings(
        state_dir=tmp_path / "agent",
        policy=state.policy,
        poll_interval_seconds=300,  # wall seconds: no second poll within this test
        shutdown_grace_seconds=1,
    )
    events: list[tuple[float, WatchEvent]] = []
    polled = asyncio.Event()
    opened = asyncio.Event()

    def on_event(event: WatchEvent) -> None:
        events.append((time.monotonic(), event))
        if event.kind == "poll":
            polled.set()
        if event.kind == "opened":
            opened.set()

    stop = asyncio.Event()
    try:
        async with create_connected_server_and_client_session(create_server(state)) as session:
            loop = asyncio.create_task(run_watch(session, settings, on_event=on_event, stop=stop))
            with anyio.fail_after(60):
                await polled.wait()  # the first (and only regular) poll: nothing to open
            started = next(e for _, e in events if e.kind == "started")
            assert started.data["subscribed"] is True
            assert not opened.is_set()

            failed_at = time.monotonic()
            sim.store.mutate(PODS, "default", "steady", _pull_error)
            with anyio.fail_after(60):
                await opened.wait()
            stop.set()
            summary = await loop
    finally:
        state.close()

    at, event = next((t, e) for t, e in events if e.kind == "opened")
    assert event.workload == "default/Pod/steady"
    assert event.data["issue_type"] == "ErrImagePull"
    assert at - failed_at < 300  # long before the next poll could have run
    assert summary.polls == 1  # the regular poll before the failure, nothing since
    assert summary.notified_polls >= 1
    assert [r.pod for r in summary.incidents] == ["steady"]
