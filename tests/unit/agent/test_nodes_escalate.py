"""The escalate node alone: re-diagnose the workload's pod still broken, or hand over."""

from __future__ import annotations

from typing import Any

import pytest

from agent.nodes.escalate import escalate
from agent.tools import Toolbox
from tests.unit.agent.node_kit import ScriptedToolbox, incident, runtime
from tests.unit.agent.scripted import ScriptedCluster, unhealthy_pod

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


def after(action: str, **values: Any) -> Any:
    """The state of an action that did not heal."""
    cleared = {"diagnosis": {"x": 1}, "gate": {"action": action}, "plan": {"plan_id": "p"}}
    return incident(
        POD, workload="Deployment/web", action=action, action_id="act-1", **cleared, **values
    )


async def test_the_workloads_pod_still_broken_is_diagnosed_again() -> None:
    other = [unhealthy_pod("other-1", workload="Deployment/other"), unhealthy_pod("web-2")]
    toolbox = ScriptedToolbox(ScriptedCluster(unhealthy=[other]))
    update = await escalate(after("delete_pod"), runtime(toolbox))
    assert toolbox.calls == [("list_unhealthy_pods", {"namespace": "default"})]
    assert update["escalated"] is True
    assert update["pod_name"] == "web-2"
    for key in ("diagnosis", "gate", "plan", "action", "action_id", "approval_id"):
        assert update[key] is None, key
    assert "outcome" not in update


async def test_nothing_left_to_diagnose_is_not_healed() -> None:
    toolbox = ScriptedToolbox(ScriptedCluster(unhealthy=[[]]))
    update = await escalate(after("delete_pod"), runtime(toolbox))
    assert update["outcome"] == "not_healed"
    assert [e["event"] for e in update["timeline"]] == ["nothing_to_diagnose"]


async def test_a_leak_goes_to_a_human_without_asking_the_server() -> None:
    trend = {
        "rate_mib_per_minute": 40,
        "minutes_to_limit": 3,
        "usage_bytes": 200 * 2**20,
        "limit_bytes": 256 * 2**20,
    }
    verification = {"leak": True, "memory": {"pod": "web-new", "trend": trend}}
    state = after("increase_memory_limit", verification=verification)
    update = await escalate(state, runtime(Toolbox([])))  # no tool served: none is called
    assert update["outcome"] == "handed_to_human"
    assert "memory of web-new still growing ~40Mi/min (200Mi of 256Mi)" in update["summary"]
    assert "likely a memory leak" in update["summary"]
