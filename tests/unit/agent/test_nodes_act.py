"""The act node alone: the server's plan in state, executed through a scripted toolbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.nodes.act import MAX_ACT_CALLS, act
from agent.tools import Toolbox
from tests.unit.agent.node_kit import ScriptedToolbox, incident, runtime
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


def cluster(**kwargs: Any) -> ScriptedCluster:
    return ScriptedCluster(diagnoses={POD: crashloop_diagnosis(POD)}, **kwargs)


def planned(scripted: ScriptedCluster, **values: Any) -> Any:
    """The state the gate leaves: the server's plan for the pod, its action."""
    plan = scripted.plan("default", POD, None)
    gate = {"decision": plan["decision"], "source": "rules", "vetoed": False}
    state = {"workload": "Deployment/web", "action": plan["action"], "plan": plan, "gate": gate}
    return incident(POD, **{**state, **values})


def events(update: dict[str, Any]) -> list[str]:
    return [e["event"] for e in update["timeline"]]


async def test_the_first_call_asks_for_an_approval_and_tells_people() -> None:
    scripted = cluster()
    told: list[dict[str, Any]] = []

    async def notify(event: dict[str, Any]) -> None:
        told.append(event)

    update = await act(planned(scripted), runtime(ScriptedToolbox(scripted), notify=notify))
    payload = update["pending_approval"]
    assert payload["approval_id"] == "appr-1"
    assert payload["action"] == "delete_pod"
    assert payload["rule_decision"]["action"] == "delete_pod"
    assert [e["action"] for e in payload["edits"]] == ["investigate_manually"]
    assert update["attempts"] == 1
    assert scripted.writes == []
    assert [(e["kind"], e["approval_id"]) for e in told] == [("approval", "appr-1")]
    assert events(update) == ["approval_required"]


async def test_a_granted_approval_writes_once_holding_a_write_slot() -> None:
    scripted = cluster()
    scripted.approvals["appr-9"] = {"id": "appr-9", "plan_id": "plan-1", "status": "pending"}
    scripted.grant("appr-9")
    slots = asyncio.Semaphore(1)
    held: list[tuple[str, bool]] = []

    class Watching(ScriptedToolbox):
        async def call(self, name: str, **arguments: Any) -> dict[str, Any]:
            held.append((name, slots.locked()))
            return await super().call(name, **arguments)

    state = planned(scripted, approval_id="appr-9")
    update = await act(state, runtime(Watching(scripted), write_slots=slots))
    assert held == [("auto_heal_pod", True)]
    assert not slots.locked()
    assert scripted.writes == [{"action": "delete_pod", "pod": POD, "approval_id": "appr-9"}]
    assert update["action_id"] == "act-1"
    assert update["approval_id"] is None
    assert [(h["action"], h["outcome"]) for h in update["history"]] == [("delete_pod", "executed")]
    assert "outcome" not in update  # the verify node decides


async def test_a_stale_plan_is_planned_again_and_needs_a_fresh_approval() -> None:
    scripted = cluster(mismatches=1)
    scripted.grant("appr-9")
    toolbox = ScriptedToolbox(scripted)
    update = await act(planned(scripted, approval_id="appr-9"), runtime(toolbox))
    assert toolbox.names() == ["auto_heal_pod", "plan_healing", "auto_heal_pod"]
    assert update["plan"]["plan_id"] == "plan-2"
    assert toolbox.calls[-1][1]["approval_id"] is None
    assert update["pending_approval"]["approval_id"] == "appr-1"
    assert events(update) == ["plan_stale", "approval_required"]


async def test_an_approval_not_granted_is_asked_for_again() -> None:
    scripted = cluster()
    toolbox = ScriptedToolbox(scripted)
    update = await act(planned(scripted, approval_id="appr-7"), runtime(toolbox))
    assert [args.get("approval_id") for _, args in toolbox.calls] == ["appr-7", None]
    assert update["pending_approval"] is not None
    assert events(update) == ["approval_not_granted", "approval_required"]


async def test_an_edit_to_a_hand_over_calls_nothing() -> None:
    scripted = cluster()
    toolbox = ScriptedToolbox(scripted)
    update = await act(planned(scripted, action="investigate_manually"), runtime(toolbox))
    assert update["outcome"] == "handed_to_human"
    assert toolbox.calls == []


async def test_an_edited_action_gets_the_servers_plan_for_it() -> None:
    rollout = crashloop_diagnosis(
        POD, began_with_rollout=True, previous_revision=1, previous_healthy=True
    )
    scripted = ScriptedCluster(diagnoses={POD: rollout})
    state = planned(scripted)
    assert state["action"] == "rollback_deployment"
    toolbox = ScriptedToolbox(scripted)
    edited: Any = {**state, "action": "delete_pod"}
    update = await act(edited, runtime(toolbox))
    assert [(name, args.get("action")) for name, args in toolbox.calls] == [
        ("plan_healing", "delete_pod"),
        ("auto_heal_pod", None),
    ]
    assert update["plan"]["action"] == "delete_pod"
    assert update["pending_approval"]["action"] == "delete_pod"


async def test_the_servers_own_hand_over_ends_the_incident() -> None:
    vetoed = {
        "success": False,
        "error": {
            "code": "vetoed",
            "message": "not allowed",
            "rule_action": "investigate_manually",
            "rule_reason": "the pod changed its mind",
        },
    }
    scripted = cluster()
    toolbox = ScriptedToolbox(scripted, canned={"auto_heal_pod": [vetoed]})
    update = await act(planned(scripted), runtime(toolbox))
    assert update["outcome"] == "handed_to_human"
    assert update["summary"] == (
        "the server's rules decided investigate_manually: the pod changed its mind"
    )
    assert update["action_result"] == vetoed


async def test_a_refusal_is_the_outcome_through_the_table() -> None:
    refusal = {"success": False, "error": {"code": "blast_radius", "message": "0 of 2 left"}}
    scripted = cluster()
    toolbox = ScriptedToolbox(scripted, canned={"auto_heal_pod": [refusal]})
    update = await act(planned(scripted), runtime(toolbox))
    assert update["outcome"] == "blocked"
    assert update["summary"] == "delete_pod not done: blast_radius: 0 of 2 left"


async def test_it_gives_up_after_the_bound_on_calls() -> None:
    update = await act(
        incident(POD, action="delete_pod", attempts=MAX_ACT_CALLS), runtime(Toolbox([]))
    )
    assert update["outcome"] == "failed"
    assert events(update) == ["gave_up"]


async def test_an_attempt_recorded_not_applied_before_a_restart_is_made_again_once() -> None:
    """A process killed between its intent and its write: on restart the server replays the
    key's outcome, not applied. The node writes once more under a new key, not `failed`."""
    scripted = cluster()
    scripted.grant("appr-9")
    unwritten = {
        "success": False,
        "error": {
            "code": "write_failed",
            "message": "action act-0 was not applied",
            "replayed": True,
            "written": False,
        },
    }
    toolbox = ScriptedToolbox(scripted, canned={"auto_heal_pod": [unwritten]})
    update = await act(planned(scripted, approval_id="appr-9"), runtime(toolbox))
    keys = [args["idempotency_key"] for name, args in toolbox.calls if name == "auto_heal_pod"]
    assert len(keys) == 2 and keys[0] != keys[1]
    assert keys[1].startswith(keys[0])
    assert scripted.writes == [{"action": "delete_pod", "pod": POD, "approval_id": "appr-9"}]
    assert update["action_id"] == "act-1"
    assert "not_applied_before" in events(update)
    assert "outcome" not in update  # written: the verify node decides


async def test_a_write_that_fails_now_is_not_retried() -> None:
    scripted = cluster()
    failed = {"success": False, "error": {"code": "write_failed", "message": "conflict"}}
    toolbox = ScriptedToolbox(scripted, canned={"auto_heal_pod": [failed]})
    update = await act(planned(scripted), runtime(toolbox))
    assert [name for name, _ in toolbox.calls] == ["auto_heal_pod"]
    assert update["outcome"] == "failed"
