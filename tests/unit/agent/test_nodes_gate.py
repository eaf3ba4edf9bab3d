"""The gate node alone: the server's plan against the LLM's proposal (the rationale in
state), through a scripted toolbox and a fake context."""

from __future__ import annotations

from typing import Any

import pytest

from agent.nodes.gate import gate, proposal_from
from tests.unit.agent.fakes import rationale_args
from tests.unit.agent.node_kit import ScriptedToolbox, incident, runtime
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


def cluster() -> ScriptedCluster:
    return ScriptedCluster(diagnoses={POD: crashloop_diagnosis(POD)})


def proposing(action: str, target: str | None = f"default/{POD}") -> Any:
    llm = {"status": "ok", "rationale": rationale_args(action, target)}
    return incident(POD, diagnosis=crashloop_diagnosis(POD), llm=llm)


def events(update: dict[str, Any]) -> list[str]:
    return [e["event"] for e in update["timeline"]]


async def test_without_a_rationale_the_servers_plan_stands() -> None:
    toolbox = ScriptedToolbox(cluster())
    update = await gate(incident(POD, llm={"status": "skipped"}), runtime(toolbox))
    assert toolbox.names() == ["plan_healing"]
    assert update["action"] == "delete_pod"
    assert update["gate"]["source"] == "rules"
    assert update["gate"]["vetoed"] is False
    assert update["gate"]["requires_approval"] is True
    assert update["plan"]["plan_id"] == update["gate"]["plan_id"] == "plan-1"
    assert update["rule_decision"]["action"] == "delete_pod"
    assert update["approval_id"] is None
    assert "outcome" not in update
    assert events(update) == ["decided"]


async def test_a_milder_proposal_gets_the_servers_plan_for_it() -> None:
    toolbox = ScriptedToolbox(cluster())
    update = await gate(proposing("investigate_manually"), runtime(toolbox))
    assert [args.get("action") for _, args in toolbox.calls] == [None, "investigate_manually"]
    assert update["gate"]["source"] == "llm_milder"
    assert update["plan"]["action"] == "investigate_manually"
    assert update["rule_decision"]["action"] == "delete_pod"
    assert update["outcome"] == "handed_to_human"


async def test_a_hostile_proposal_is_vetoed_and_audited() -> None:
    audited: list[dict[str, Any]] = []
    hostile = proposing("rollback_deployment", "kube-system/coredns-1")
    update = await gate(hostile, runtime(ScriptedToolbox(cluster()), audit=audited.append))
    assert update["action"] == "delete_pod"
    assert update["gate"]["vetoed"] is True
    assert update["gate"]["proposal"]["action"] == "rollback_deployment"
    assert events(update) == ["decided", "vetoed"]
    assert [(r["kind"], r["proposed_action"], r["rule_action"]) for r in audited] == [
        ("llm_veto", "rollback_deployment", "delete_pod")
    ]


async def test_an_audit_sink_that_fails_does_not_stop_the_gate() -> None:
    def broken(record: dict[str, Any]) -> None:
        raise OSError("disk full")

    hostile = proposing("scale_down_deployment")
    update = await gate(hostile, runtime(ScriptedToolbox(cluster()), audit=broken))
    assert update["gate"]["vetoed"] is True


async def test_a_refused_plan_ends_the_incident_with_the_servers_decision() -> None:
    refusal = {
        "success": False,
        "error": {
            "code": "rate_limited",
            "message": "3/3 on Deployment/web this hour",
            "action": "delete_pod",
            "checks": [{"name": "rate_limit", "passed": False}],
        },
    }
    toolbox = ScriptedToolbox(cluster(), canned={"plan_healing": [refusal]})
    update = await gate(incident(POD), runtime(toolbox))
    assert update["outcome"] == "blocked"
    assert update["summary"] == "delete_pod not done: rate_limited: 3/3 on Deployment/web this hour"
    assert update["gate"]["refused"] == "rate_limited"
    assert update["rule_decision"] == {"action": "delete_pod"}


async def test_a_failed_safety_check_in_the_plan_blocks_the_action() -> None:
    plan = cluster().plan("default", POD, None)
    for check in plan["decision"]["checks"]:
        if check["name"] == "blast_radius":
            check.update(passed=False, detail="would leave 0 of 2 available")
    toolbox = ScriptedToolbox(cluster(), canned={"plan_healing": [plan]})
    update = await gate(incident(POD), runtime(toolbox))
    assert update["outcome"] == "blocked"
    assert "blast_radius: would leave 0 of 2 available" in update["summary"]
    assert events(update) == ["decided", "blocked"]


def test_a_bare_pod_name_is_read_in_the_incidents_namespace() -> None:
    proposal = proposal_from(rationale_args("delete_pod", POD), "default")
    assert proposal is not None
    assert (proposal.namespace, proposal.pod_name) == ("default", POD)
    assert proposal_from(None, "default") is None


async def test_the_plan_is_kept_in_the_state_as_the_server_sent_it() -> None:
    update = await gate(
        incident(POD, llm={"status": "skipped"}), runtime(ScriptedToolbox(cluster()))
    )
    # Parsed into the contract model, and kept as plain JSON with no field added or changed.
    sent = await ScriptedToolbox(cluster()).call("plan_healing", namespace="default", pod_name=POD)
    assert update["plan"] == sent
