"""`notifications/resources/updated` from the MCP server, as an asyncio signal.

The watch loop subscribes to `kubemedic://pods/unhealthy` through its MCP session and polls
`list_unhealthy_pods` as soon as the server says the unhealthy set changed, instead of at the
next interval (which stays as the fallback, and is all there is with a server that does not
offer subscriptions).

The SDK's `ClientSession` takes its `message_handler` when it is built; a session built
without one (as most callers do) gets ours chained in front of the one it has for the time of
the subscription (`attach`), so every caller of the watch loop gets notifications without
building its session differently. A caller that builds the session itself may pass
`ResourceUpdates.handle` as the `message_handler` instead (`attach(..., install=False)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp import types
from pydantic import AnyUrl

log = logging.getLogger(__name__)

UNHEALTHY_PODS_URI = "kubemedic://pods/unhealthy"

MessageHandler = Callable[[Any], Awaitable[None]]


class ResourceUpdates:
    """Counts the `resources/updated` notifications for the URIs it watches and sets an
    event for each; `take()` clears it (call it just before reading the resource, so a
    notification that arrives during the read is not lost)."""

    def __init__(self, uris: frozenset[str] = frozenset({UNHEALTHY_PODS_URI})) -> None:
        self.uris = uris
        self.received = 0
        self._event = asyncio.Event()
        self._session: Any = None
        self._previous: MessageHandler | None = None
        self.subscribed: set[str] = set()

    async def handle(self, message: Any) -> None:
        """A `message_handler` for `mcp.ClientSession` (it only looks; chained ones run)."""
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ResourceUpdatedNotification
        ):
            if str(message.root.params.uri) in self.uris:
                self.received += 1
                self._event.set()

    @property
    def pending(self) -> bool:
        return self._event.is_set()

    def take(self) -> bool:
        """Whether a notification arrived since the last take; clears it."""
        arrived = self._event.is_set()
        self._event.clear()
        return arrived

    async def wait(self) -> None:
        await self._event.wait()

    @classmethod
    async def attach(cls, session: Any, *, install: bool = True) -> ResourceUpdates | None:
        """Subscribe `session` (an initialised `mcp.ClientSession`) to the unhealthy pods.
        None when it cannot be: not a ClientSession, or a server without resource
        subscriptions (then the caller polls at its interval alone)."""
        capabilities = getattr(session, "get_server_capabilities", None)
        if capabilities is None or not callable(capabilities):
            return None
        found = capabilities()
        resources = getattr(found, "resources", None)
        if resources is None or not getattr(resources, "subscribe", False):
            return None
        updates = cls()
        if install:
            previous = getattr(session, "_message_handler", None)
            if previous is None:
                return None

            async def chained(message: Any) -> None:
                await updates.handle(message)
                await previous(message)

            updates._session = session
            updates._previous = previous
            session._message_handler = chained
        for uri in sorted(updates.uris):
            try:
                await session.subscribe_resource(AnyUrl(uri))
            except Exception as error:  # noqa: BLE001 - polling still works without it
                log.warning("could not subscribe to %s: %s; polling only", uri, error)
                updates.detach_handler()
                return None
            updates.subscribed.add(uri)
        return updates

    def detach_handler(self) -> None:
        if self._session is not None and self._previous is not None:
            self._session._message_handler = self._previous
        self._session = None
        self._previous = None

    async def detach(self, session: Any) -> None:
        """Unsubscribe (best effort: the session may be closing) and put the session's own
        message handler back."""
        for uri in sorted(self.subscribed):
            with contextlib.suppress(Exception):
                with anyio.fail_after(2.0):
                    await session.unsubscribe_resource(AnyUrl(uri))
        self.subscribed.clear()
        self.detach_handler()
