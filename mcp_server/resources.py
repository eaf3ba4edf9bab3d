"""MCP resources, with subscriptions.

`kubemedic://pods/unhealthy` is the JSON that `list_unhealthy_pods` answers (all
namespaces), read from the pod cache. A client that subscribes (`resources/subscribe`) gets
`notifications/resources/updated` for it whenever the unhealthy set changes: a pod became
unhealthy or its issue type changed, a pod recovered, an unhealthy pod is gone. Restart
counts and phases changing within one issue are not notified. Notifications are coalesced:
changes that arrive while one is being sent make one more notification, not one each.

The SDK's FastMCP has no subscription support of its own: the low-level server's
`subscribe_resource` / `unsubscribe_resource` handlers are registered here, and the
`resources.subscribe` capability (which the SDK always reports as false) is advertised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.fastmcp import FastMCP
from mcp.server.session import ServerSession
from mcp.shared.exceptions import McpError
from mcp.types import INVALID_PARAMS, ErrorData, ServerCapabilities
from pydantic import AnyUrl

from mcp_server.fleet import Fleet
from mcp_server.pod_cache import ChangeStream
from mcp_server.tools import impl
from mcp_server.tools.models import ListUnhealthyInput, ListUnhealthyResult
from mcp_server.tools.registry import _run

log = logging.getLogger(__name__)

UNHEALTHY_PODS_URI = "kubemedic://pods/unhealthy"
RESOURCES = frozenset({UNHEALTHY_PODS_URI})


@dataclass
class _Subscriber:
    session: ServerSession
    uris: set[str] = field(default_factory=set)
    # One task per cluster's pod cache (one cluster: one task).
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    sent: int = 0


class Subscriptions:
    """The sessions subscribed to each resource, and one task per session that turns the
    pod cache's changes into `notifications/resources/updated`."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._subscribers: dict[int, _Subscriber] = {}
        self.notifications_sent = 0

    def subscribed(self, uri: str) -> int:
        return sum(1 for s in self._subscribers.values() if uri in s.uris)

    async def subscribe(self, session: ServerSession, uri: str) -> None:
        if uri not in RESOURCES:
            raise McpError(ErrorData(code=INVALID_PARAMS, message=f"unknown resource: {uri}"))
        subscriber = self._subscribers.get(id(session))
        if subscriber is None:
            subscriber = self._subscribers[id(session)] = _Subscriber(session)
        subscriber.uris.add(uri)
        if subscriber.tasks:
            return
        for state in self._fleet:
            if state.cache is None:
                continue
            stream = state.cache.subscribe()
            subscriber.tasks.append(
                asyncio.get_running_loop().create_task(
                    self._pump(subscriber, stream), name="kubemedic-resource-updates"
                )
            )

    async def unsubscribe(self, session: ServerSession, uri: str) -> None:
        subscriber = self._subscribers.get(id(session))
        if subscriber is None:
            return
        subscriber.uris.discard(uri)
        if not subscriber.uris:
            self._drop(subscriber)

    def _drop(self, subscriber: _Subscriber) -> None:
        if self._subscribers.get(id(subscriber.session)) is subscriber:
            del self._subscribers[id(subscriber.session)]
        for task in subscriber.tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def _pump(self, subscriber: _Subscriber, stream: ChangeStream) -> None:
        """Until the session goes away, unsubscribes, or the cache stops."""
        try:
            async for _batch in stream:
                if UNHEALTHY_PODS_URI not in subscriber.uris:
                    continue
                try:
                    await subscriber.session.send_resource_updated(AnyUrl(UNHEALTHY_PODS_URI))
                except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                    return  # the session ended
                subscriber.sent += 1
                self.notifications_sent += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a broken session must not take the server down
            log.exception("resource notifications stopped for a session")
        finally:
            stream.close()
            self._drop(subscriber)


def _unhealthy_json(result: ListUnhealthyResult) -> str:
    return result.model_dump_json()


def register_resources(mcp: FastMCP[Any], fleet: Fleet) -> Subscriptions:
    """The resources and their subscriptions on `mcp` (a change in any cluster notifies)."""
    subscriptions = Subscriptions(fleet)

    @mcp.resource(
        UNHEALTHY_PODS_URI,
        name="unhealthy_pods",
        title="Unhealthy pods",
        description=(
            "The unhealthy pods in every namespace, as list_unhealthy_pods answers (JSON), "
            "from the server's watch-backed cache. Subscribe to be told when the set changes."
        ),
        mime_type="application/json",
    )
    async def unhealthy_pods() -> str:
        ctx = mcp.get_context()
        result = await _run(
            "list_unhealthy_pods",
            ctx,
            ListUnhealthyInput,
            {},
            impl.list_unhealthy_pods,
            ListUnhealthyResult,
        )
        return _unhealthy_json(result)

    low = mcp._mcp_server

    async def on_subscribe(uri: AnyUrl) -> None:
        await subscriptions.subscribe(low.request_context.session, str(uri))

    async def on_unsubscribe(uri: AnyUrl) -> None:
        await subscriptions.unsubscribe(low.request_context.session, str(uri))

    # The SDK leaves these two decorators unannotated.
    low.subscribe_resource()(on_subscribe)  # type: ignore[no-untyped-call]
    low.unsubscribe_resource()(on_unsubscribe)  # type: ignore[no-untyped-call]
    reported = low.get_capabilities

    def capabilities(*args: Any, **kwargs: Any) -> ServerCapabilities:
        found = reported(*args, **kwargs)
        if found.resources is not None:
            found.resources.subscribe = True
        return found

    with contextlib.suppress(AttributeError):
        low.get_capabilities = capabilities  # type: ignore[method-assign]
    return subscriptions
