"""The watch loop against kubesim through the real MCP server: several failures at once, one
incident each, approvals answered by a callback that grants the server's record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.shared.memory import create_connected_server_and_client_session

from agent.incidents import IncidentRegistry
from agent.watch import WatchEvent, WatchSettings, run_watch
from kubesim import KubeSim
from mcp_server.server import create_server
from policies import DEMO_POLICY_PATH, load_policy
from tests.integration.agent.conftest import (
    advance_until,
    deployment,
    one_pod,
    restarts,
    server_state,
    waiting_reason,
)
from tests.integration.agent.test_scenarios import GREEDY, crash_loop
from tests.integration.manifests import OOM

pytestmark = pytest.mark.anyio


async def test_loop_heals_what_it_may_and_hands_over_the_rest(sim: KubeSim, tmp_path: Path) -> None:
    crashing = crash_loop(sim)
    sim.apply(OOM)
    sim.apply(GREEDY)
    advance_until(sim, lambda: restarts(one_pod(sim, "hog-")) > 1)
    state = server_state(sim, tmp_path / "state", policy=load_policy(DEMO_POLICY_PATH))
    asked: list[dict[str, Any]] = []
    events: list[WatchEvent] = []

    async def approve(payload: dict[str, Any]) -> dict[str, Any]:
        asked.append(payload)
        state.approvals.grant(payload["approval_id"], by="oncall")
        return {"decision": "approve", "approver": "oncall"}

    async def advance(seconds: float) -> None:
        sim.advance(seconds)

    settings = WatchSettings(
        state_dir=tmp_path / "state",
        policy=state.policy,
        sleep=advance,
        poll_interval_seconds=5,
        max_concurrent=2,
        verify_interval_seconds=10,
        verify_max_checks=24,  # the server's 180 s deadline decides first
        stop_when_idle=True,
        max_polls=40,
    )
    try:
        async with create_connected_server_and_client_session(create_server(state)) as session:
            summary = await run_watch(session, settings, on_event=events.append, approve=approve)
    finally:
        state.close()

    by_workload = {report.workload: report for report in summary.incidents}
    assert by_workload["default/Deployment/web"].outcome == "healed"
    # The demo policy auto-approves a low-risk pod delete: no human was asked for it.
    assert by_workload["default/Deployment/web"].approver == "policy (auto-approved)"
    hog_report = by_workload["default/Deployment/hog"]
    assert hog_report.outcome == "healed", [
        (e.data.get("node"), e.data.get("timeline"))
        for e in events
        if e.workload and "hog" in e.workload
    ]
    assert by_workload["default/Deployment/hog"].approver == "oncall"
    assert by_workload["default/Deployment/greedy"].outcome == "handed_to_human"
    assert [a["action"] for a in asked] == ["increase_memory_limit"]
    assert one_pod(sim, "web-")["metadata"]["name"] != crashing
    assert waiting_reason(one_pod(sim, "web-")) is None
    hog = deployment(sim, "hog")["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert hog["limits"]["memory"] != "50Mi"
    # One incident per workload: no workload was opened twice.
    opened = [e.workload for e in events if e.kind == "opened"]
    assert len(opened) == len(set(opened)) == 3
    assert IncidentRegistry(tmp_path / "state" / "incidents.sqlite").open_incidents() == []
