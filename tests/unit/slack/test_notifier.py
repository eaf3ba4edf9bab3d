"""The agent's Slack notifier against a local stand-in for Slack's Web API."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from pydantic import SecretStr

from kubemedic.agent_runtime import AgentTuning
from kubemedic.settings import Settings
from kubemedic.slack import SlackSettings, slack_app_notifier
from kubemedic.slack.messages import APPROVE, REJECT
from mcp_server.approvals import ApprovalStore
from tests.unit.slack.conftest import CHANNEL
from tests.unit.slack.standin import SlackStandIn

pytestmark = pytest.mark.anyio


async def test_an_approval_is_posted_and_its_outcome_updates_the_same_message(
    standin: SlackStandIn,
    settings: Settings,
    slack_settings: SlackSettings,
    approvals: ApprovalStore,
) -> None:
    approval = approvals.request(
        "delete_pod",
        "Pod/default/web-5d8f7-abcde",
        reason="CrashLoopBackOff",
        requested_by="kubemedic-agent",
    )
    notify = slack_app_notifier(settings, slack_settings)
    assert notify is not None
    await notify(
        {
            "kind": "approval",
            "approval_id": approval.id,
            "incident_id": "inc-9",
            "action": "delete_pod",
            "workload": "web",
        }
    )
    (post,) = standin.of("chat.postMessage")
    assert post.authorization == "Bearer xoxb-test-token"
    assert post.body["channel"] == CHANNEL
    blocks = json.dumps(post.body["blocks"])
    assert APPROVE in blocks and REJECT in blocks and approval.id in blocks

    approvals.grant(approval.id, by="dana")
    await notify(
        {
            "kind": "incident",
            "incident_id": "inc-9",
            "workload": "default/web",
            "outcome": "healed",
            "action": "delete_pod",
            "approver": "dana",
            "summary": "the replacement pod is ready",
        }
    )
    (update,) = standin.of("chat.update")
    assert (update.body["channel"], update.body["ts"]) == (CHANNEL, "1700000000.000001")
    updated = json.dumps(update.body["blocks"])
    assert "healed" in updated and "dana" in updated and "the replacement pod is ready" in updated
    assert APPROVE not in updated

    # An incident that closed without an approval message gets a one-way notice.
    await notify({"kind": "incident", "incident_id": "inc-10", "outcome": "healed"})
    assert len(standin.of("chat.postMessage")) == 2


async def test_a_dead_slack_does_not_raise(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/api/"
    slack = SlackSettings(bot_token=SecretStr("xoxb-x"), channel=CHANNEL, api_url=dead)
    notify = slack_app_notifier(Settings(state_dir=tmp_path), slack)
    assert notify is not None
    await notify({"kind": "approval", "approval_id": "0123456789abcdef", "action": "delete_pod"})
    await notify({"kind": "incident", "incident_id": "inc-1", "outcome": "healed"})


def test_without_a_bot_token_the_webhook_is_told_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBEMEDIC_SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("KUBEMEDIC_SLACK_BOT_TOKEN_FILE", raising=False)
    settings = Settings(state_dir=tmp_path)
    assert slack_app_notifier(settings, SlackSettings(channel=CHANNEL)) is None
    tuning = AgentTuning(webhook_url="http://127.0.0.1:9/hook")
    assert tuning.deps(settings)["notify"] is not None
    assert AgentTuning(webhook_url=None).deps(settings)["notify"] is None


def test_secrets_and_approvers_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cr3t\n")
    (tmp_path / "approvers.yaml").write_text("U0ALICE01: alice\nW0GRID001: grace\n")
    slack = SlackSettings(
        signing_secret_file=tmp_path / "secret",
        approvers={"U0BOB0002": "bob"},
        approvers_file=tmp_path / "approvers.yaml",
    )
    assert slack.secret() == "s3cr3t"
    assert slack.approver_names() == {
        "U0BOB0002": "bob",
        "U0ALICE01": "alice",
        "W0GRID001": "grace",
    }


async def test_the_incident_graph_posts_then_updates_one_message(
    standin: SlackStandIn, settings: Settings, slack_settings: SlackSettings
) -> None:
    """The events the real graph sends (approval, then incident closed) fit the notifier."""
    from tests.unit.agent.harness import runner_for
    from tests.unit.agent.scripted import ScriptedCluster, crashloop_diagnosis

    pod = "web-5d8f7-abcde"
    cluster = ScriptedCluster(diagnoses={pod: crashloop_diagnosis(pod)})
    notify = slack_app_notifier(settings, slack_settings)
    async with runner_for(cluster, settings.checkpoint_db, notify=notify) as runner:
        await runner.start("inc-s", "default", pod)
        (post,) = standin.of("chat.postMessage")
        assert "appr-1" in json.dumps(post.body["blocks"])
        cluster.grant("appr-1")
        await runner.resume("inc-s", {"decision": "approve", "approver": "jo"})
    (update,) = standin.of("chat.update")
    assert update.body["ts"] == "1700000000.000001"
    assert "healed" in json.dumps(update.body["blocks"])
    assert "answered by jo" in json.dumps(update.body["blocks"])
    assert APPROVE not in json.dumps(update.body["blocks"])
