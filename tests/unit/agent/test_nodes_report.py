"""The report node alone: the closing summary, the rejection's audit record, the
notification (whose failure never breaks the incident)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.nodes.report import report
from agent.tools import Toolbox
from tests.unit.agent.node_kit import incident, runtime

pytestmark = pytest.mark.anyio

POD = "web-5d8f7-abcde"


async def test_a_heal_is_reported_and_people_are_told() -> None:
    told: list[dict[str, Any]] = []

    async def notify(event: dict[str, Any]) -> None:
        told.append(event)

    state = incident(
        POD,
        workload="Deployment/web",
        outcome="healed",
        summary="delete_pod healed Deployment/web",
        action="delete_pod",
        rules_only=False,
        approval={"approver": "alice"},
        pending_approval={"approval_id": "appr-1"},
    )
    update = await report(state, runtime(Toolbox([]), notify=notify))
    assert update["outcome"] == "healed"
    assert update["summary"] == "delete_pod healed Deployment/web"
    assert update["pending_approval"] is None
    assert [(e["node"], e["event"]) for e in update["timeline"]] == [("report", "healed")]
    assert told == [
        {
            "kind": "incident",
            "incident_id": "inc-1",
            "workload": "default/Deployment/web",
            "pod": POD,
            "outcome": "healed",
            "action": "delete_pod",
            "approver": "alice",
            "summary": "delete_pod healed Deployment/web",
        }
    ]


async def test_a_rules_only_decision_says_why() -> None:
    state = incident(POD, outcome="resolved", summary="gone", llm={"detail": "no LLM configured"})
    update = await report(state, runtime(Toolbox([])))
    assert update["summary"] == "gone (decision: rules only; no LLM configured)"


async def test_no_outcome_is_a_failure() -> None:
    update = await report(incident(POD), runtime(Toolbox([])))
    assert update["outcome"] == "failed"


async def test_a_rejection_is_audited_even_when_telling_people_fails() -> None:
    audited: list[dict[str, Any]] = []

    async def broken(event: dict[str, Any]) -> None:
        raise ConnectionError("webhook down")

    approval = {"approval_id": "appr-1", "action": "delete_pod", "approver": "bob", "note": "no"}
    state = incident(POD, outcome="rejected", summary="rejected", approval=approval)
    context = runtime(Toolbox([]), audit=audited.append, notify=broken)
    update = await report(state, context)
    assert update["outcome"] == "rejected"
    assert audited == [
        {
            "kind": "rejection",
            "incident_id": "inc-1",
            "approval_id": "appr-1",
            "action": "delete_pod",
            "target": {"kind": "Pod", "namespace": "default", "name": POD},
            "approver": "bob",
            "reason": "no",
        }
    ]
