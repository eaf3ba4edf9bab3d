"""The approve node alone: its interrupt (in a one-node graph, since `interrupt` needs a
checkpointed run), the payload a human is shown, and how an answer becomes an update."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from agent.context import IncidentContext
from agent.nodes.approve import approval_payload, approve, resolve_answer
from agent.state import IncidentState
from agent.tools import Toolbox
from policies import policy_from_dict
from tests.unit.agent.node_kit import incident
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"
PAYLOAD = {
    "approval_id": "appr-1",
    "action": "delete_pod",
    "edits": [{"action": "investigate_manually"}],
}


async def test_it_waits_for_the_human_and_resumes_with_the_answer() -> None:
    graph = StateGraph(IncidentState, context_schema=IncidentContext)
    graph.add_node("approve", approve)
    graph.add_edge(START, "approve")
    graph.add_edge("approve", END)
    compiled = graph.compile(checkpointer=InMemorySaver())
    context = IncidentContext(toolbox=Toolbox([]), policy=policy_from_dict({}))
    config: Any = {"configurable": {"thread_id": "inc-1"}}
    state = incident(POD, pending_approval=PAYLOAD)
    waiting = await compiled.ainvoke(state, config, context=context)
    assert [i.value for i in waiting["__interrupt__"]] == [PAYLOAD]
    answer = {"decision": "approve", "approver": "alice"}
    done = await compiled.ainvoke(Command(resume=answer), config, context=context)
    assert done["approval"]["approver"] == "alice"
    assert done["approval_id"] == "appr-1"
    assert done["pending_approval"] is None


def test_an_approval_keeps_the_servers_approval_id() -> None:
    update = resolve_answer(PAYLOAD, {"decision": "Accept", "approver": " bob "})
    assert update["approval"]["decision"] == "approve"
    assert update["approval"]["approver"] == "bob"
    assert update["approval_id"] == "appr-1"
    assert "outcome" not in update


def test_an_edit_to_an_offered_milder_action_changes_the_action() -> None:
    answer = {"decision": "edit", "edited_action": "investigate_manually", "approver": "c"}
    update = resolve_answer(PAYLOAD, answer)
    assert update["action"] == "investigate_manually"
    assert update["approval"]["edited_action"] == "investigate_manually"
    assert update["approval_id"] is None
    assert "outcome" not in update


def test_an_edit_to_anything_else_is_a_rejection() -> None:
    answer = {"decision": "edit", "edited_action": "rollback_deployment"}
    update = resolve_answer(PAYLOAD, answer)
    assert update["outcome"] == "rejected"
    assert update["approval"]["decision"] == "reject"
    assert "not an allowed milder action" in update["summary"]


def test_a_rejection_or_an_answer_that_is_no_mapping_writes_nothing() -> None:
    rejected = resolve_answer(PAYLOAD, {"decision": "reject", "approver": "d", "reason": "no"})
    assert rejected["outcome"] == "rejected"
    assert rejected["summary"] == "delete_pod rejected by d; nothing written (no)"
    assert resolve_answer(PAYLOAD, "maybe")["outcome"] == "rejected"


def test_the_payload_shows_the_rule_decision_the_veto_and_the_edits() -> None:
    plan = ScriptedCluster(diagnoses={POD: crashloop_diagnosis(POD)}).plan("default", POD, None)
    gate = {
        "decision": plan["decision"],
        "source": "rules",
        "vetoed": True,
        "veto_reason": "another namespace",
        "proposal": {"action": "rollback_deployment"},
    }
    state = incident(POD, gate=gate, workload="Deployment/web", issue_type="CrashLoopBackOff")
    error = {"approval_id": "appr-3", "plan_id": "plan-1", "expires_at": "soon"}
    payload = approval_payload(state, "delete_pod", error)
    assert payload["approval_id"] == "appr-3"
    assert payload["target"] == {"kind": "Pod", "namespace": "default", "name": POD}
    assert payload["risk"] == "low"
    assert payload["rule_decision"]["action"] == "delete_pod"
    assert payload["rule_decision"]["source"] == "rules"
    assert payload["veto"] == {
        "proposed_action": "rollback_deployment",
        "reason": "another namespace",
    }
    assert [e["action"] for e in payload["edits"]] == ["investigate_manually"]
    # An action other than the gated one (an escalation's) offers no edits.
    assert approval_payload(state, "rollback_deployment", error)["edits"] == []
