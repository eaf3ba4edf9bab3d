"""The Slack calls kubemedic makes: `chat.postMessage`, `chat.update` and a `response_url`.

Through slack_sdk (`AsyncWebClient`, `AsyncWebhookClient`). A failing call is logged and
reported as False/None: telling people never stops an incident or a decision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

log = logging.getLogger(__name__)

# aiohttp and the SDK raise these when Slack cannot be reached or answers oddly.
_FAILURES: tuple[type[BaseException], ...] = (SlackClientError, OSError, TimeoutError, ValueError)
try:  # aiohttp is the async client's transport
    import aiohttp

    _FAILURES = (*_FAILURES, aiohttp.ClientError)
except ImportError:  # pragma: no cover - slack_sdk's async clients need it anyway
    pass


class SlackClient:
    def __init__(self, token: str, *, base_url: str, timeout_seconds: float = 10.0) -> None:
        self._token = token
        self._base_url = base_url
        self._timeout = int(max(1, round(timeout_seconds)))

    def _web(self) -> AsyncWebClient:
        # A client per call: it opens and closes its own HTTP session, so nothing is left
        # open on an event loop that ends (a test's, a command's).
        return AsyncWebClient(token=self._token, base_url=self._base_url, timeout=self._timeout)

    async def post(self, channel: str, message: Mapping[str, Any]) -> tuple[str, str] | None:
        """`chat.postMessage`; (channel id, ts) of the new message, None when it failed."""
        try:
            response = await self._web().chat_postMessage(
                channel=channel, text=message["text"], blocks=message["blocks"]
            )
        except _FAILURES as error:
            log.warning("Slack chat.postMessage failed", extra={"error": _describe(error)})
            return None
        ts = response.get("ts")
        if not ts:
            log.warning("Slack chat.postMessage answered without a ts")
            return None
        return str(response.get("channel") or channel), str(ts)

    async def update(self, channel: str, ts: str, message: Mapping[str, Any]) -> bool:
        """`chat.update` of the message at (channel, ts)."""
        try:
            await self._web().chat_update(
                channel=channel, ts=ts, text=message["text"], blocks=message["blocks"]
            )
        except _FAILURES as error:
            log.warning("Slack chat.update failed", extra={"error": _describe(error)})
            return False
        return True


async def respond(response_url: str, message: Mapping[str, Any], *, timeout: int = 10) -> bool:
    """POST a message to an interaction's `response_url` (replace the original, or answer
    only the person who clicked)."""
    if not response_url:
        return False
    try:
        response = await AsyncWebhookClient(response_url, timeout=timeout).send_dict(dict(message))
    except _FAILURES as error:
        log.warning("Slack response_url failed", extra={"error": _describe(error)})
        return False
    if response.status_code != 200:
        log.warning(
            "Slack response_url refused the message",
            extra={"status": response.status_code, "body": str(response.body)[:300]},
        )
        return False
    return True


def _describe(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return f"slack api error: {error.response.get('error')}"
    return repr(error)[:300]
