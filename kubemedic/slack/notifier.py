"""The agent's notifier when a Slack bot is configured.

An approval event posts the interactive message (and remembers its channel and ts); an
incident-closed event updates the messages of that incident with the outcome, or posts a
one-way notice when the incident had none. Every message is rendered from the approval
record, so whoever decided (Slack, the terminal, the web inbox) the message tells the truth.
A failing Slack call is logged; the incident goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubemedic.slack.client import SlackClient, respond
from kubemedic.slack.messages import approval_message, final_message, notice_message
from kubemedic.slack.settings import SlackSettings
from kubemedic.slack.store import SlackStore
from mcp_server.approvals import Approval, ApprovalStore

if TYPE_CHECKING:
    from agent.notify import Notifier
    from kubemedic.settings import Settings

log = logging.getLogger(__name__)


class SlackMessenger:
    """Posts and updates kubemedic's messages in one channel, for one state directory."""

    def __init__(
        self,
        state_dir: Path,
        approvals_db: Path | str,
        client: SlackClient | None,
        channel: str | None,
    ) -> None:
        shared = approvals_db if isinstance(approvals_db, str) else None
        self.store = SlackStore(state_dir, database_url=shared)
        self._approvals_db = approvals_db
        self.client = client
        self.channel = channel

    @classmethod
    def of(cls, settings: Settings, slack: SlackSettings) -> SlackMessenger:
        token = slack.token()
        client = (
            SlackClient(token, base_url=slack.api_url, timeout_seconds=slack.timeout_seconds)
            if token
            else None
        )
        return cls(settings.state_dir, settings.store_target, client, slack.channel)

    def approval(self, approval_id: str) -> Approval | None:
        try:
            return ApprovalStore(self._approvals_db).get(approval_id)
        except Exception:  # noqa: BLE001 - a message without the record still goes out
            log.exception("approval record unreadable", extra={"approval_id": approval_id})
            return None

    async def notify(self, event: Mapping[str, Any]) -> None:
        """The agent's `Notifier`: never raises."""
        try:
            if event.get("kind") == "approval" and event.get("approval_id"):
                await self.post_approval(event)
            else:
                await self.close_incident(event)
        except Exception:  # noqa: BLE001 - telling people must not break the incident
            log.exception("Slack notification failed")

    async def post_approval(self, event: Mapping[str, Any]) -> None:
        if self.client is None or not self.channel:
            return
        approval_id = str(event["approval_id"])
        approval = self.approval(approval_id)
        message = approval_message(event, approval)
        posted = self.store.message(approval_id)
        if posted is not None:  # the same approval asked again (a retry, a restart)
            await self.client.update(posted.channel, posted.ts, message)
            self.store.save_message(approval_id, posted.channel, posted.ts, event)
            return
        where = await self.client.post(self.channel, message)
        if where is not None:
            self.store.save_message(approval_id, where[0], where[1], event)

    async def close_incident(self, event: Mapping[str, Any]) -> None:
        if self.client is None:
            return
        incident_id = str(event.get("incident_id") or "")
        outcome = str(event.get("outcome") or "")
        summary = str(event.get("summary") or "")
        posted = self.store.messages_of_incident(incident_id) if incident_id else []
        if not posted:
            if self.channel:
                await self.client.post(self.channel, notice_message(event))
            return
        approver = str(event.get("approver") or "") or None
        self.store.record_outcome(incident_id, outcome, summary, approver)
        for message in posted:
            await self.refresh(message.approval_id)

    async def refresh(self, approval_id: str, response_url: str | None = None) -> bool:
        """Show the approval's decision (and the incident's outcome when known) in its
        message: `chat.update` where we posted it, else through the interaction's
        `response_url`."""
        posted = self.store.message(approval_id)
        approval = self.approval(approval_id)
        event = posted.event if posted is not None else {"approval_id": approval_id}
        message = final_message(
            event,
            approval,
            outcome=posted.outcome if posted is not None else None,
            summary=posted.summary if posted is not None else "",
            approver=posted.approver if posted is not None else None,
        )
        if posted is not None and self.client is not None:
            if await self.client.update(posted.channel, posted.ts, message):
                return True
        if response_url:
            return await respond(response_url, {**message, "replace_original": True})
        return False


def slack_app_notifier(settings: Settings, slack: SlackSettings | None = None) -> Notifier | None:
    """The Slack app's notifier when a bot token and a channel are set; None otherwise."""
    slack = slack if slack is not None else SlackSettings()
    if not slack.token() or not slack.channel:
        return None
    return SlackMessenger.of(settings, slack).notify
