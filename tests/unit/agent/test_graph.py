"""The incident graph against a scripted MCP server (real MCP session, real adapters, real
SQLite checkpointer): approval interrupts, the LLM veto, escalation, rejection, edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from policies import DEMO_POLICY_PATH, load_policy
from tests.unit.agent.fakes import (
    hanging_model,
    json_text_model,
    rationale_args,
    structured_model,
    text_model,
)
from tests.unit.agent.harness import runner_for
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis, unhealthy_pod

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


def crashing_cluster(**kwargs: Any) -> ScriptedCluster:
    return ScriptedCluster(
        diagnoses={POD: crashloop_diagnosis(POD, **kwargs)},
        unhealthy=[[]],  # healthy after the action
    )


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_agreeing_llm_waits_for_approval_then_heals(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    model = structured_model(rationale_args("delete_pod", f"default/{POD}"))
    async with runner_for(cluster, tmp_path / "cp.sqlite", model=model) as runner:
        status = await runner.start("inc-1", "default", POD)
        assert status.waiting_for_approval
        assert status.next == ("approve",)
        payload = status.pending
        assert payload is not None
        assert payload["action"] == "delete_pod"
        assert payload["approval_id"] == "appr-1"
        assert payload["rule_decision"]["action"] == "delete_pod"
        assert payload["rule_decision"]["source"] == "llm_agreed"
        assert payload["llm_rationale"]["proposed_action"] == "delete_pod"
        assert payload["veto"] is None
        assert {e["action"] for e in payload["edits"]} == {"investigate_manually"}
        assert cluster.writes == []  # nothing written before the human answers

        cluster.grant("appr-1")
        done = await runner.resume("inc-1", {"decision": "approve", "approver": "alice"})
    assert done.done and done.outcome == "healed"
    assert cluster.writes == [{"action": "delete_pod", "pod": POD, "approval_id": "appr-1"}]
    assert done.values["approval"]["approver"] == "alice"
    assert done.values["rules_only"] is False
    assert done.values["llm"]["tokens"] == {"input": 120, "output": 40}
    nodes = [e["node"] for e in done.values["timeline"]]
    assert nodes[:4] == ["diagnose", "rationale", "gate", "act"]
    assert nodes[-3:] == ["act", "verify", "report"]


async def test_hostile_llm_is_vetoed_in_state_audit_and_metrics(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    hostile = structured_model(
        rationale_args("rollback_deployment", "kube-system/coredns-7c65d6cfc9-x2x4z")
    )
    audited: list[dict[str, Any]] = []
    before = metric("kubemedic_llm_vetoes_total", proposed_action="rollback_deployment")
    async with runner_for(
        cluster, tmp_path / "cp.sqlite", model=hostile, audit=audited.append
    ) as runner:
        status = await runner.start("inc-h", "default", POD)
    gate = status.values["gate"]
    assert gate["vetoed"] is True
    assert gate["action"] == "delete_pod"  # the rule decision stands
    assert "rollback_deployment" in (gate["proposal"] or {}).get("action", "")
    assert status.pending is not None and status.pending["veto"]["proposed_action"] == (
        "rollback_deployment"
    )
    assert metric("kubemedic_llm_vetoes_total", proposed_action="rollback_deployment") == (
        before + 1
    )
    assert len(audited) == 1 and audited[0]["kind"] == "llm_veto"
    assert audited[0]["target"] == {"kind": "Pod", "namespace": "default", "name": POD}
    # The server never saw the hostile action or target.
    assert all(c["action"] == "delete_pod" and c["pod"] == POD for c in cluster.heal_calls)


@pytest.mark.parametrize(
    "proposal",
    [
        rationale_args("rollback_deployment"),  # more destructive than the rules allow
        rationale_args("delete_pod", "default/some-other-pod"),  # another target
        rationale_args("delete_pod", "kube-system/" + POD),  # another namespace
        rationale_args("scale_down_deployment"),  # not allowed for a crash loop
    ],
)
async def test_hostile_proposals_never_reach_the_server(
    tmp_path: Path, proposal: dict[str, Any]
) -> None:
    cluster = crashing_cluster()
    async with runner_for(
        cluster, tmp_path / "cp.sqlite", model=structured_model(proposal)
    ) as runner:
        status = await runner.start("inc", "default", POD)
    assert status.values["gate"]["vetoed"] is True, status.values["llm"]
    assert [c["action"] for c in cluster.heal_calls] == ["delete_pod"]
    assert {c["pod"] for c in cluster.heal_calls} == {POD}


async def test_milder_llm_hands_over_without_writing(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    model = json_text_model(rationale_args("investigate_manually", f"default/{POD}"))
    async with runner_for(cluster, tmp_path / "cp.sqlite", model=model) as runner:
        status = await runner.start("inc-m", "default", POD)
    assert status.done and status.outcome == "handed_to_human"
    assert status.values["gate"]["source"] == "llm_milder"
    assert cluster.heal_calls == [] and cluster.writes == []


async def test_unparseable_llm_output_falls_back_to_rules(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    before = metric("kubemedic_llm_requests_total", provider="custom", outcome="unparseable")
    model = text_model("Honestly I would just restart everything in kube-system.")
    async with runner_for(cluster, tmp_path / "cp.sqlite", model=model) as runner:
        status = await runner.start("inc-u", "default", POD)
    assert status.values["llm"]["status"] == "unparseable"
    assert status.values["rules_only"] is True
    assert status.values["gate"]["source"] == "rules"
    assert status.pending is not None and status.pending["action"] == "delete_pod"
    assert metric("kubemedic_llm_requests_total", provider="custom", outcome="unparseable") == (
        before + 1
    )


async def test_llm_timeout_falls_back_to_rules(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    async with runner_for(
        cluster, tmp_path / "cp.sqlite", model=hanging_model(), llm_timeout_seconds=0.05
    ) as runner:
        status = await runner.start("inc-t", "default", POD)
    assert status.values["llm"]["status"] == "timeout"
    assert status.values["rules_only"] is True
    assert status.pending is not None and status.pending["action"] == "delete_pod"


async def test_no_llm_says_rules_only(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    cluster.auto_approve = {"delete_pod"}  # as the server does under the demo policy
    async with runner_for(
        cluster, tmp_path / "cp.sqlite", policy=load_policy(DEMO_POLICY_PATH)
    ) as runner:
        status = await runner.start("inc-n", "default", POD)
    # The demo policy auto-approves a low-risk pod delete: no interrupt at all.
    assert status.done and status.outcome == "healed"
    assert status.values["llm"]["status"] == "skipped"
    assert "rules only" in status.values["summary"]
    assert [w["approval_id"] for w in cluster.writes] == [None]


async def test_rejection_writes_nothing(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    audited: list[dict[str, Any]] = []
    async with runner_for(cluster, tmp_path / "cp.sqlite", audit=audited.append) as runner:
        status = await runner.start("inc-r", "default", POD)
        assert status.waiting_for_approval
        done = await runner.resume(
            "inc-r", {"decision": "reject", "approver": "bob", "reason": "change freeze"}
        )
    assert done.outcome == "rejected"
    assert "bob" in done.values["summary"] and "change freeze" in done.values["summary"]
    assert cluster.writes == []
    assert [c["approval_id"] for c in cluster.heal_calls] == [None]
    (record,) = audited
    assert record["kind"] == "rejection" and record["approver"] == "bob"
    assert record["approval_id"] == "appr-1" and record["action"] == "delete_pod"


async def test_edit_to_a_milder_action(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        await runner.start("inc-e", "default", POD)
        done = await runner.resume(
            "inc-e",
            {"decision": "edit", "approver": "carol", "edited_action": "investigate_manually"},
        )
    assert done.outcome == "handed_to_human"
    assert done.values["approval"]["edited_action"] == "investigate_manually"
    assert cluster.writes == []


async def test_edit_to_a_harsher_action_is_refused(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        await runner.start("inc-x", "default", POD)
        done = await runner.resume(
            "inc-x",
            {"decision": "edit", "approver": "mallory", "edited_action": "rollback_deployment"},
        )
    assert done.outcome == "rejected"
    assert cluster.writes == []


async def test_delete_that_does_not_heal_escalates_to_rollback(tmp_path: Path) -> None:
    new_pod = "web-5d8f7-fghij"
    cluster = ScriptedCluster(
        diagnoses={POD: crashloop_diagnosis(POD, began_with_rollout=True, previous_revision=1)},
        replacements={
            POD: (
                new_pod,
                crashloop_diagnosis(new_pod, began_with_rollout=True, previous_revision=1),
            )
        },
        # After the delete the replacement crashes too; after the rollback all is well.
        unhealthy=[[unhealthy_pod(new_pod)]] * 5 + [[]],
        auto_approve={"delete_pod"},
    )
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        status = await runner.start("inc-esc", "default", POD)
        assert status.waiting_for_approval
        assert status.pending is not None
        assert status.pending["action"] == "rollback_deployment"
        assert status.pending["escalated"] is True
        cluster.grant(status.pending["approval_id"])
        done = await runner.resume("inc-esc", {"decision": "approve", "approver": "dave"})
    assert done.outcome == "healed"
    assert [w["action"] for w in cluster.writes] == ["delete_pod", "rollback_deployment"]
    assert [h["outcome"] for h in done.values["history"]] == ["not_healed", "healed"]


async def test_not_healed_after_escalation_hands_over(tmp_path: Path) -> None:
    new_pod = "web-5d8f7-fghij"
    cluster = ScriptedCluster(
        diagnoses={POD: crashloop_diagnosis(POD)},
        replacements={POD: (new_pod, crashloop_diagnosis(new_pod))},
        unhealthy=[[unhealthy_pod(new_pod)]],
        auto_approve={"delete_pod"},
    )
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        done = await runner.start("inc-nh", "default", POD)
    # Not a rollout problem: after one delete the rules hand over instead of deleting again.
    assert done.outcome == "handed_to_human"
    assert done.values["escalated"] is True
    assert [w["action"] for w in cluster.writes] == ["delete_pod"]


async def test_pending_approval_survives_a_new_process(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    db = tmp_path / "cp.sqlite"
    async with runner_for(cluster, db) as runner:
        status = await runner.start("inc-d", "default", POD)
        assert status.waiting_for_approval
    cluster.grant("appr-1")
    async with runner_for(cluster, db) as again:
        reloaded = await again.status("inc-d")
        assert reloaded.waiting_for_approval and reloaded.pending is not None
        assert reloaded.pending["approval_id"] == "appr-1"
        # Starting the same incident again continues it; it never opens a second thread.
        same = await again.start("inc-d", "default", POD)
        assert same.waiting_for_approval
        done = await again.resume("inc-d", {"decision": "approve", "approver": "erin"})
    assert done.outcome == "healed"
    assert len(cluster.writes) == 1


async def test_gone_pod_resolves_without_action(tmp_path: Path) -> None:
    cluster = ScriptedCluster()
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        done = await runner.start("inc-g", "default", "vanished-pod")
    assert done.outcome == "resolved"
    assert cluster.heal_calls == []


async def test_a_pod_that_changed_while_waiting_is_planned_and_asked_again(
    tmp_path: Path,
) -> None:
    cluster = crashing_cluster()
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        status = await runner.start("inc-mm", "default", POD)
        assert status.pending is not None and status.pending["plan_id"] == "plan-1"
        cluster.grant("appr-1")
        cluster.mismatches = 1  # the plan went stale while the human looked at it
        again = await runner.resume("inc-mm", {"decision": "approve", "approver": "gina"})
        # The approval was for the old plan: a human approves what will be done now.
        assert again.waiting_for_approval and again.pending is not None
        assert again.pending["approval_id"] == "appr-2"
        assert again.pending["plan_id"] == "plan-2"
        assert cluster.writes == []
        cluster.grant("appr-2")
        done = await runner.resume("inc-mm", {"decision": "approve", "approver": "gina"})
    assert done.outcome == "healed"
    assert [c["approval_id"] for c in cluster.heal_calls] == [None, "appr-1", None, "appr-2"]
    assert len(cluster.writes) == 1


async def test_a_pod_gone_before_the_action_resolves_the_incident(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        await runner.start("inc-gone", "default", POD)
        del cluster.diagnoses[POD]  # its controller replaced it meanwhile
        cluster.grant("appr-1")
        done = await runner.resume("inc-gone", {"decision": "approve", "approver": "hal"})
    assert done.outcome == "resolved"
    assert cluster.writes == []


async def test_resumed_without_a_grant_asks_again(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        await runner.start("inc-ng", "default", POD)
        # "approve" in an inbox that cannot grant the server's record: the server refuses.
        again = await runner.resume("inc-ng", {"decision": "approve", "approver": "ida"})
        assert again.waiting_for_approval and again.pending is not None
        assert again.pending["approval_id"] == "appr-1"
        assert cluster.writes == []
        cluster.grant("appr-1")
        done = await runner.resume("inc-ng", {"decision": "approve", "approver": "ida"})
    assert done.outcome == "healed"
    assert len(cluster.writes) == 1


async def test_the_servers_hand_over_stands(tmp_path: Path) -> None:
    cluster = crashing_cluster()
    cluster.server_rule = "investigate_manually"
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        done = await runner.start("inc-sv", "default", POD)
    assert done.outcome == "handed_to_human"
    assert "still crash-looping" in (done.values.get("summary") or "")
    assert cluster.writes == []


async def test_the_gate_decides_with_the_servers_history(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from policies import ActionRecord

    cluster = crashing_cluster()
    cluster.history.append(
        ActionRecord(datetime.now(UTC), "default", "Deployment/web", "delete_pod", "not_healed")
    )
    async with runner_for(cluster, tmp_path / "cp.sqlite") as runner:
        done = await runner.start("inc-hist", "default", POD)
    # A delete already failed to heal this workload: the rules hand over instead of deleting.
    assert done.outcome == "handed_to_human"
    assert cluster.heal_calls == []
