"""Notifications: a webhook that receives a Slack-compatible JSON payload.

Sent when an incident needs a human (an approval) and when it ends. A failing webhook never
stops an incident: the failure is logged and the incident goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

log = logging.getLogger(__name__)

Notifier = Callable[[Mapping[str, Any]], Awaitable[None]]

_ICONS = {
    "approval": ":warning:",
    "healed": ":white_check_mark:",
    "handed_to_human": ":raising_hand:",
    "rejected": ":no_entry_sign:",
    "resolved": ":information_source:",
}


def slack_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """`{"text": ..., "blocks": [...]}` with the structured event under `kubemedic`."""
    kind = str(event.get("kind", "incident"))
    incident = event.get("incident_id", "")
    workload = event.get("workload") or event.get("target") or ""
    if kind == "approval":
        headline = (
            f"{_ICONS['approval']} approval needed for {event.get('action')} on {workload} "
            f"({incident}): `kubemedic approvals approve {event.get('approval_id')} --by NAME`"
        )
    else:
        outcome = str(event.get("outcome", ""))
        icon = _ICONS.get(outcome, ":x:")
        headline = f"{icon} {incident} {workload}: {outcome}"
    detail = str(event.get("summary") or event.get("reason") or "")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}}
    ]
    if detail:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": detail[:2000]}]})
    return {"text": headline, "blocks": blocks, "kubemedic": dict(event)}


def webhook_notifier(url: str, *, timeout_seconds: float = 5.0) -> Notifier:
    """POST each event to `url` (a Slack incoming webhook or anything that takes JSON)."""

    async def notify(event: Mapping[str, Any]) -> None:
        try:
            async with httpx.AsyncClient(timeout=timeout_seconds) as client:
                response = await client.post(url, json=slack_payload(event))
                response.raise_for_status()
        except httpx.HTTPError as error:
            log.warning("notification webhook failed", extra={"error": repr(error)})

    return notify
