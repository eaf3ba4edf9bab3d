"""The Block Kit messages: the preview's change, both buttons, escaped cluster text, bounds."""

from __future__ import annotations

import json
from typing import Any

from kubemedic.slack.messages import APPROVE, REJECT, approval_message, final_message
from kubemedic.slack.mrkdwn import SECTION_LIMIT, bound, escape
from mcp_server.approvals import Approval

HOSTILE_POD = "web-<!channel>-abc"


def _preview(log_lines: list[str]) -> dict[str, Any]:
    return {
        "summary": "raise the memory limit of Deployment default/web",
        "dry_run": {"ok": True, "message": "the API server accepted the change (dryRun=All)"},
        "changes": [
            {
                "object": "Deployment/default/web",
                "path": "spec.template.spec.containers[web].resources.limits.memory",
                "before": "256Mi",
                "after": "512Mi",
            }
        ],
        "evidence": {
            "issue": "OOMKilled",
            "restarts": 7,
            "last_termination": "OOMKilled (exit 137)",
            "log_lines": log_lines,
            "event_lines": ["Back-off restarting failed container <@U0ADMIN>"],
        },
        "decision": {
            "action": "increase_memory_limit",
            "reason": "OOM killed 7 times",
            "risk": "medium",
        },
    }


def _approval(details: dict[str, Any], status: str = "pending", **kw: Any) -> Approval:
    return Approval(
        id="a1b2c3d4e5f60718",
        action="increase_memory_limit",
        target=f"Pod/default/{HOSTILE_POD}",
        reason="OOMKilled & restarting",
        risk="medium",
        requested_by="kubemedic-agent",
        requested_at=0.0,
        expires_at=9e9,
        status=status,  # type: ignore[arg-type]
        details=details,
        **kw,
    )


EVENT = {
    "kind": "approval",
    "approval_id": "a1b2c3d4e5f60718",
    "incident_id": "inc-7",
    "workload": "web",
    "llm_rationale": {
        "summary": "the <script>alert(1)</script> container runs out of memory",
        "suspected_cause": "heap grows with traffic",
        "proposed_action": "increase_memory_limit",
        "confidence": 0.8,
    },
    "veto": {"proposed_action": "rollback_deployment", "reason": "no rollout <!here>"},
}


def test_the_approval_shows_the_change_the_buttons_and_escapes_cluster_text() -> None:
    message = approval_message(
        EVENT, _approval({"preview": _preview(["<script>alert(1)</script> OOM"])})
    )
    dumped = json.dumps(message, ensure_ascii=False)
    assert "256Mi → 512Mi" in dumped
    assert "limits.memory" in dumped
    assert "dryRun=All" in dumped and "OOM killed 7 times" in dumped
    assert "heap grows with traffic" in dumped and "no rollout" in dumped
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    buttons = {e["action_id"]: e["value"] for e in actions["elements"]}
    assert buttons == {APPROVE: "a1b2c3d4e5f60718", REJECT: "a1b2c3d4e5f60718"}
    for raw in ("<script>", "<!channel>", "<!here>", "<@U0ADMIN>"):
        assert raw not in dumped
    assert "&lt;script&gt;" in dumped and "&lt;!channel&gt;" in dumped
    assert "OOMKilled &amp; restarting" not in dumped  # the preview replaces the bare reason
    assert message["blocks"][0]["type"] == "header"


def test_without_a_preview_the_action_target_and_reason_are_shown() -> None:
    dumped = json.dumps(approval_message(EVENT, _approval({})), ensure_ascii=False)
    assert "OOMKilled &amp; restarting" in dumped
    assert f"Pod/default/{escape(HOSTILE_POD)}" in dumped


def test_every_block_stays_inside_slack_limits() -> None:
    huge = ["x<" * 4000] * 200
    message = approval_message(
        {**EVENT, "llm_rationale": {"summary": "&" * 9000}}, _approval({"preview": _preview(huge)})
    )
    for block in message["blocks"]:
        body = block.get("text") or {}
        if block["type"] == "header":
            assert len(body["text"]) <= 150
        elif body:
            assert len(body["text"]) <= SECTION_LIMIT
        for element in block.get("fields", []) + block.get("elements", []):
            if element.get("type") == "mrkdwn":
                assert len(element["text"]) <= SECTION_LIMIT
    assert len(message["blocks"]) <= 50
    assert bound(escape("a&b" * 5), 6) == "a…"  # never cut inside an entity
    assert bound(escape("a&b" * 5), 7) == "a&amp;…"


def test_the_final_form_names_who_decided_and_the_outcome_without_buttons() -> None:
    granted = _approval({}, status="granted", decided_by="alice via Slack")
    message = final_message(EVENT, granted, outcome="healed", summary="pods ready <!channel>")
    dumped = json.dumps(message, ensure_ascii=False)
    assert "Granted" in dumped and "alice via Slack" in dumped and "healed" in dumped
    assert APPROVE not in dumped and REJECT not in dumped
    assert "<!channel>" not in dumped
    rejected = _approval({}, status="rejected", decided_by="bob via Slack", note="not in prod")
    dumped = json.dumps(final_message(EVENT, rejected, outcome="not_healed"), ensure_ascii=False)
    assert "Rejected" in dumped and "bob via Slack" in dumped and "not in prod" in dumped
    assert "not healed" in dumped
