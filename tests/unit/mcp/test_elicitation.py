"""Who may be asked for an approval through elicitation, and what the question says."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from mcp import types
from mcp.server.session import ServerSession

from mcp_server.approvals import Approval
from mcp_server.auth import Caller
from mcp_server.elicitation import approval_message, declared_elicitation, may_ask
from policies import load_policy

ASKING = load_policy().updated(approval_elicitation=["delete_pod"])
TOKEN = Caller("ops-bot", frozenset({"read", "heal"}), "http")


def session(elicitation: dict[str, Any] | None) -> ServerSession:
    caps = {} if elicitation is None else {"elicitation": elicitation}
    params = types.InitializeRequestParams.model_validate(
        {
            "protocolVersion": "2025-06-18",
            "capabilities": caps,
            "clientInfo": {"name": "host", "version": "1"},
        }
    )
    return cast(ServerSession, SimpleNamespace(client_params=params))


@pytest.mark.parametrize(
    ("declared", "expected"),
    [(None, False), ({}, True), ({"form": {}}, True), ({"url": {}}, False)],
)
def test_form_elicitation_is_declared(declared: dict[str, Any] | None, expected: bool) -> None:
    assert declared_elicitation(session(declared)) is expected


def test_only_a_token_caller_with_heal_on_a_listed_action_is_asked() -> None:
    able = session({})
    assert may_ask(ASKING, TOKEN, "delete_pod", able)
    assert not may_ask(ASKING, TOKEN, "rollback_deployment", able)
    assert not may_ask(load_policy(), TOKEN, "delete_pod", able)
    assert not may_ask(ASKING, TOKEN, "delete_pod", session(None))
    local = Caller("kubemedic-agent", frozenset({"read", "heal"}), "local")
    assert not may_ask(ASKING, local, "delete_pod", able)
    reader = Caller("dashboard", frozenset({"read"}), "http")
    assert not may_ask(ASKING, reader, "delete_pod", able)


def test_the_question_names_the_change_and_shows_the_preview() -> None:
    preview = {
        "summary": "delete Pod/default/web-1; its ReplicaSet recreates it",
        "dry_run": {"ok": True, "message": "accepted (dryRun=All)"},
        "deletes": [{"object": "Pod/default/web-1", "replaced_by": "ReplicaSet/default/web"}],
        "decision": {"action": "delete_pod", "reason": "crash loop", "risk": "low"},
    }
    approval = Approval(
        id="abc123",
        action="delete_pod",
        target="Pod/default/web-1",
        reason="crash loop",
        risk="low",
        requested_by="ops-bot",
        requested_at=0.0,
        expires_at=900.0,
        status="pending",
        details={"plan_id": "plan-1", "preview": preview},
    )
    asked = {
        "action": "delete_pod",
        "target": {"kind": "Pod", "namespace": "default", "name": "web-1"},
        "reason": "crash loop",
        "risk": "low",
        "plan_id": "plan-1",
        "parameters": {"grace_period_seconds": 30},
    }
    text = approval_message(asked, approval)
    assert text.startswith("kubemedic asks to delete_pod on Pod/default/web-1 (risk low).")
    assert "grace_period_seconds=30" in text
    assert "  delete Pod/default/web-1, recreated by ReplicaSet/default/web" in text
    assert "dry run: accepted (dryRun=All)" in text
    assert "approval abc123 for plan plan-1" in text and "1970-01-01T00:15:00+00:00" in text
