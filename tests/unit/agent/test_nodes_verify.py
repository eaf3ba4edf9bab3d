"""The verify node alone: the server's verifier asked on the context's clock, and after a
memory raise the rolled-out pod sampled with the context's leak settings."""

from __future__ import annotations

from typing import Any

import pytest

from agent.nodes.verify import verify
from tests.unit.agent.node_kit import ScriptedToolbox, incident, runtime
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis, unhealthy_pod

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


def acted(unhealthy: list[list[dict[str, Any]]], **values: Any) -> tuple[ScriptedCluster, Any]:
    """A cluster where delete_pod was done (act-1), and the state the act node left."""
    scripted = ScriptedCluster(
        diagnoses={POD: crashloop_diagnosis(POD)}, auto_approve={"delete_pod"}, unhealthy=unhealthy
    )
    assert scripted.execute("default", POD)["action_id"] == "act-1"
    state = incident(
        POD,
        workload="Deployment/web",
        action="delete_pod",
        action_id="act-1",
        history=[{"action": "delete_pod", "outcome": "executed"}],
        **values,
    )
    return scripted, state


async def test_two_healthy_looks_on_the_contexts_clock_heal_it() -> None:
    scripted, state = acted([[]])
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    context = runtime(
        ScriptedToolbox(scripted), sleep=sleep, verify_interval_seconds=7, verify_max_checks=5
    )
    update = await verify(state, context)
    assert waited == [7, 7]
    assert update["outcome"] == "healed"
    assert update["verification"]["checks"] == 2
    assert update["verification"]["interval_seconds"] == 7
    assert update["history"][-1]["outcome"] == "healed"


async def test_not_healed_goes_on_to_escalate_unless_it_already_did() -> None:
    broken = [[unhealthy_pod(POD)]]
    scripted, state = acted(broken)
    update = await verify(state, runtime(ScriptedToolbox(scripted)))
    assert update["verification"]["status"] == "not_healed"
    assert "outcome" not in update  # the escalate node decides
    scripted, state = acted(broken, escalated=True)
    update = await verify(state, runtime(ScriptedToolbox(scripted)))
    assert update["outcome"] == "not_healed"


async def test_the_contexts_deadline_in_looks_bounds_it() -> None:
    scripted, state = acted([[unhealthy_pod(POD)]])
    update = await verify(state, runtime(ScriptedToolbox(scripted), verify_max_checks=1))
    assert update["verification"]["status"] == "pending"
    assert update["verification"]["checks"] == 1


def status(verdict: str) -> dict[str, Any]:
    return {
        "success": True,
        "verification": {"status": verdict, "new_pod_name": "web-new", "message": verdict},
    }


def usage(mib: int) -> dict[str, Any]:
    memory = {"usage": f"{mib}Mi", "limit": "256Mi"}
    return {
        "success": True,
        "metrics_available": True,
        "containers": [{"name": "web", "cpu": {}, "memory": memory}],
    }


def raised() -> Any:
    gate = {"decision": {"parameters": {"container": "web"}}}
    history = [{"action": "increase_memory_limit", "outcome": "executed"}]
    return incident(
        POD,
        workload="Deployment/web",
        action="increase_memory_limit",
        action_id="act-1",
        history=history,
        gate=gate,
    )


def leaking(looks: int) -> ScriptedToolbox:
    statuses = [status("pending")] * (looks - 1) + [status("healed")]
    samples = [usage(100 + 40 * i) for i in range(looks)]
    canned = {"get_action_status": statuses, "check_resource_usage": samples}
    return ScriptedToolbox(ScriptedCluster(), canned=canned)


async def test_memory_still_rising_after_a_raise_is_a_leak_not_healed() -> None:
    update = await verify(raised(), runtime(leaking(3)))
    assert update["verification"]["leak"] is True
    assert update["verification"]["healed"] is False
    assert update["verification"]["memory"]["pod"] == "web-new"
    assert len(update["verification"]["memory"]["samples"]) == 3


async def test_the_leak_settings_come_from_the_context() -> None:
    update = await verify(raised(), runtime(leaking(3), leak_min_samples=4, verify_max_checks=3))
    assert update["verification"]["leak"] is False
    assert update["outcome"] == "healed"
    assert [e["event"] for e in update["timeline"]] == ["healed", "memory_unverified"]
