"""Approve and reject from Slack: signed clicks through real HTTP, a real approval store, a
local stand-in for Slack's Web API and response URLs."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx
import pytest

from kubemedic.settings import Settings
from kubemedic.slack import SlackSettings
from kubemedic.slack.messages import APPROVE, REJECT
from kubemedic.slack.notifier import SlackMessenger
from mcp_server.approvals import Approval, ApprovalStore
from tests.unit.slack.conftest import (
    ALICE,
    BOB,
    CHANNEL,
    DEADLINE,
    MALLORY,
    Served,
    click_body,
    signed_headers,
)
from tests.unit.slack.standin import SlackStandIn

pytestmark = pytest.mark.anyio


def _pending(approvals: ApprovalStore) -> Approval:
    return approvals.request(
        "delete_pod",
        "Pod/default/web-5d8f7-abcde",
        reason="CrashLoopBackOff: restart the pod",
        risk="medium",
        requested_by="kubemedic-agent",
        details={"plan_id": "plan-1"},
    )


async def _post(endpoint: Served, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=DEADLINE) as client:
        return await client.post(
            f"{endpoint.url}/slack/interactions", content=body, headers=headers
        )


async def _until(condition: Any) -> None:
    """Wait on a record written by the endpoint's background decision."""
    with anyio.fail_after(DEADLINE):
        while not condition():
            await anyio.sleep(0.05)


def _texts(message: dict[str, Any]) -> str:
    return json.dumps(message)


async def test_an_allowed_user_approves_once_and_a_replay_is_refused(
    endpoint: Served,
    standin: SlackStandIn,
    settings: Settings,
    slack_settings: SlackSettings,
    approvals: ApprovalStore,
) -> None:
    approval = _pending(approvals)
    # The agent posted the message first, as its notifier does.
    messenger = SlackMessenger.of(settings, slack_settings)
    await messenger.notify(
        {
            "kind": "approval",
            "approval_id": approval.id,
            "incident_id": "inc-1",
            "action": "delete_pod",
        }
    )
    (posted,) = standin.of("chat.postMessage")
    body = click_body(ALICE, APPROVE, approval.id, standin.response_url("approve"))
    headers = signed_headers(body)

    started = time.monotonic()
    answer = await _post(endpoint, body, headers)
    assert answer.status_code == 200
    assert time.monotonic() - started < 3.0  # Slack's deadline for the acknowledgment

    await _until(lambda: approvals.get(approval.id).status == "granted")  # type: ignore[union-attr]
    granted = approvals.get(approval.id)
    assert granted is not None and granted.decided_by == "alice via Slack"
    # The buttons went at once ("approving…"), then the message was updated in place.
    await standin.wait_for(
        lambda: any("Granted" in _texts(c.body) for c in standin.of("chat.update"))
    )
    update = next(c for c in standin.of("chat.update") if "Granted" in _texts(c.body))
    assert (update.body["channel"], update.body["ts"]) == (CHANNEL, "1700000000.000001")
    assert posted.body["channel"] == CHANNEL
    assert "alice via Slack" in _texts(update.body)
    assert APPROVE not in _texts(update.body)  # no buttons any more
    assert any(r.body.get("replace_original") is True for r in standin.responses())

    replay = await _post(endpoint, body, headers)
    assert replay.status_code == 409
    again = approvals.get(approval.id)
    assert again is not None and (again.status, again.decided_at) == ("granted", granted.decided_at)


async def test_stale_bad_and_unknown_requests_change_nothing(
    endpoint: Served, standin: SlackStandIn, approvals: ApprovalStore
) -> None:
    approval = _pending(approvals)
    body = click_body(ALICE, APPROVE, approval.id, standin.response_url())

    stale = await _post(endpoint, body, signed_headers(body, at=time.time() - 600))
    assert stale.status_code == 401
    forged = await _post(endpoint, body, signed_headers(body, secret="not-the-secret"))
    assert forged.status_code == 401
    tampered = signed_headers(body)
    other = click_body(BOB, APPROVE, approval.id, standin.response_url())
    assert (await _post(endpoint, other, tampered)).status_code == 401
    unsigned = await _post(endpoint, body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401

    intruder = click_body(MALLORY, APPROVE, approval.id, standin.response_url("mallory"))
    refused = await _post(endpoint, intruder, signed_headers(intruder))
    assert refused.status_code == 403
    await standin.wait_for(lambda: any(r.path.endswith("/mallory") for r in standin.responses()))
    (told,) = [r for r in standin.responses() if r.path.endswith("/mallory")]
    assert told.body["response_type"] == "ephemeral"

    still = approvals.get(approval.id)
    assert still is not None and still.status == "pending" and still.decided_by is None


async def test_reject_records_the_reason(
    endpoint: Served, standin: SlackStandIn, settings: Settings, approvals: ApprovalStore
) -> None:
    approval = _pending(approvals)
    body = click_body(BOB, REJECT, approval.id, standin.response_url("reject"))
    assert (await _post(endpoint, body, signed_headers(body))).status_code == 200
    await _until(lambda: approvals.get(approval.id).status == "rejected")  # type: ignore[union-attr]
    rejected = approvals.get(approval.id)
    assert rejected is not None
    assert rejected.decided_by == "bob via Slack"
    assert rejected.note == "rejected in Slack by bob"
    # No incident waits on it here: the rejection is in the audit trail all the same.
    await _until(lambda: settings.audit_path.exists())
    assert "rejected by bob via Slack" in settings.audit_path.read_text()
    # No message of ours was posted for it: the final form goes through the response URL.
    await standin.wait_for(lambda: any("Rejected" in _texts(r.body) for r in standin.responses()))


async def test_an_already_decided_approval_is_explained_and_left_alone(
    endpoint: Served, standin: SlackStandIn, approvals: ApprovalStore
) -> None:
    approval = _pending(approvals)
    approvals.reject(approval.id, by="carol", reason="not now")
    for name, approval_id in (("decided", approval.id), ("unknown", "0123456789abcdef")):
        body = click_body(ALICE, APPROVE, approval_id, standin.response_url(name))
        answer = await _post(endpoint, body, signed_headers(body))
        assert answer.status_code == 200
        await standin.wait_for(
            lambda name=name: any(r.path.endswith(f"/{name}") for r in standin.responses())  # type: ignore[misc]
        )
    told = {r.path.rsplit("/", 1)[-1]: r.body for r in standin.responses()}
    assert told["decided"]["response_type"] == "ephemeral"
    assert "already rejected by carol" in told["decided"]["text"]
    assert "no longer on record" in told["unknown"]["text"]
    after = approvals.get(approval.id)
    assert after is not None and (after.status, after.decided_by) == ("rejected", "carol")


async def test_a_replay_is_refused_after_a_restart_and_a_foreign_payload_is_ignored(
    settings: Settings,
    slack_settings: SlackSettings,
    standin: SlackStandIn,
    approvals: ApprovalStore,
) -> None:
    from starlette.applications import Starlette

    from kubemedic.slack import slack_routes
    from tests.unit.slack.conftest import serving

    approval = _pending(approvals)
    body = click_body(BOB, REJECT, approval.id, standin.response_url("first"))
    headers = signed_headers(body)
    for attempt, expected in ((1, 200), (2, 409)):  # a new process on the same state directory
        with serving(Starlette(routes=slack_routes(settings, slack_settings))) as endpoint:
            assert (await _post(endpoint, body, headers)).status_code == expected, attempt
            if attempt == 1:
                await _until(lambda: approvals.get(approval.id).status == "rejected")  # type: ignore[union-attr]
    foreign = b"payload=" + b'{"type":"view_submission"}'
    with serving(Starlette(routes=slack_routes(settings, slack_settings))) as endpoint:
        assert (await _post(endpoint, foreign, signed_headers(foreign))).status_code == 200
    still = approvals.get(approval.id)
    assert still is not None and still.decided_by == "bob via Slack"
