"""The diagnose node alone: a scripted toolbox, a fake context, its update."""

from __future__ import annotations

import pytest

from agent.nodes.diagnose import diagnose, primary_issue
from tests.unit.agent.node_kit import ScriptedToolbox, incident, runtime
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


async def test_a_crashing_pod_is_diagnosed_with_its_workload() -> None:
    toolbox = ScriptedToolbox(ScriptedCluster(diagnoses={POD: crashloop_diagnosis(POD)}))
    update = await diagnose(incident(POD), runtime(toolbox))
    assert toolbox.calls == [("diagnose_pod", {"namespace": "default", "pod_name": POD})]
    assert update["issue_type"] == "CrashLoopBackOff"
    assert update["workload"] == "Deployment/web"
    assert update["diagnosis"]["pod_uid"] == f"uid-{POD}"
    assert "outcome" not in update
    assert [(e["node"], e["event"]) for e in update["timeline"]] == [("diagnose", "diagnosed")]


async def test_a_pod_that_is_gone_resolves_the_incident() -> None:
    update = await diagnose(incident(POD), runtime(ScriptedToolbox(ScriptedCluster())))
    assert update["outcome"] == "resolved"
    assert update["summary"] == f"pod default/{POD} is gone; nothing to heal"
    assert update["timeline"][0]["event"] == "target_gone"


async def test_a_healthy_pod_resolves_the_incident() -> None:
    healthy = {**crashloop_diagnosis(POD), "issues": []}
    toolbox = ScriptedToolbox(ScriptedCluster(diagnoses={POD: healthy}))
    update = await diagnose(incident(POD), runtime(toolbox))
    assert update["outcome"] == "resolved"
    assert update["issue_type"] is None
    assert "shows no issues now" in update["summary"]


async def test_a_server_error_fails_the_incident_with_its_code() -> None:
    error = {"success": False, "error": {"code": "internal", "message": "boom"}}
    toolbox = ScriptedToolbox(ScriptedCluster(), canned={"diagnose_pod": [error]})
    update = await diagnose(incident(POD), runtime(toolbox))
    assert update["outcome"] == "failed"
    assert update["summary"] == "diagnose_pod failed: internal: boom"


async def test_a_diagnosis_off_the_contract_fails_the_incident() -> None:
    broken = {**crashloop_diagnosis(POD), "issues": [{"severity": "critical", "type": 42}]}
    toolbox = ScriptedToolbox(ScriptedCluster(), canned={"diagnose_pod": [broken]})
    update = await diagnose(incident(POD), runtime(toolbox))
    assert update["outcome"] == "failed"
    assert update["summary"].startswith("the diagnosis does not fit the contract")


def test_the_primary_issue_is_the_most_severe_one() -> None:
    issues = [
        {"severity": "info", "type": "NoLimits"},
        {"severity": "warning", "type": "HighRestarts"},
        {"severity": "critical", "type": "OOMKilled"},
    ]
    assert primary_issue({"issues": issues}) == "OOMKilled"
    assert primary_issue({"issues": []}) is None


async def test_the_diagnosis_is_kept_in_the_state_as_the_server_sent_it() -> None:
    sent = crashloop_diagnosis(POD)
    toolbox = ScriptedToolbox(ScriptedCluster(diagnoses={POD: sent}))
    update = await diagnose(incident(POD), runtime(toolbox))
    assert update["diagnosis"] == sent
