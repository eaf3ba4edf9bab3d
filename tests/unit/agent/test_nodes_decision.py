"""A Decision.to_dict() read back once: the blocking checks and the edits a human may make."""

from __future__ import annotations

from agent.nodes.decision import DecisionView, milder_edits
from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

POD = "web-5d8f7-abcde"


def decision() -> dict[str, object]:
    cluster = ScriptedCluster(diagnoses={POD: crashloop_diagnosis(POD)})
    return dict(cluster.plan("default", POD, None)["decision"])


def test_the_approval_check_does_not_block() -> None:
    view = DecisionView.of(decision())
    assert [c["name"] for c in view.checks if not c["passed"]] == ["approval"]
    assert view.blocking_checks() == []


def test_the_edits_are_the_milder_alternatives() -> None:
    edits = milder_edits(decision())
    assert edits == [
        {
            "action": "investigate_manually",
            "target": edits[0]["target"],
            "reason": "hand over to a human instead of delete_pod",
            "risk": "low",
            "writes": False,
        }
    ]


def test_an_empty_or_unknown_decision_reads_as_nothing() -> None:
    for broken in ({}, None, {"action": "drop_namespace", "alternatives": "x"}):
        view = DecisionView.of(broken)
        assert view.milder_edits() == []
        assert view.blocking_checks() == []
    assert DecisionView.of({"action": "delete_pod"}).summary("rules") == {
        "action": "delete_pod",
        "reason": None,
        "confidence": None,
        "estimated_risk": None,
        "source": "rules",
    }
