"""The pod cache as an informer against kubesim over HTTP: pages, bookmarks, 410s with
back-off, the incremental unhealthy index, and the MCP resource `kubemedic://pods/unhealthy`
with subscriptions (a real MCP client session). No fixed sleeps: every wait is on a condition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import pytest
from mcp import ClientSession, types
from mcp.shared.memory import create_connected_server_and_client_session
from pydantic import AnyUrl

from kubesim import KubeSim
from kubesim.store import PODS
from mcp_server.gateway import Gateway
from mcp_server.pod_cache import PodCache, wait_until
from mcp_server.pod_diagnosis import classify_pod, pod_health_score
from mcp_server.resources import UNHEALTHY_PODS_URI
from mcp_server.server import create_server
from tests.integration.mcp.conftest import call, make_state

JSON = dict[str, Any]


def _running_pod(namespace: str, name: str, image: str = "nginx:1.25") -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bulk"}},
        "spec": {"nodeName": "kubesim-node-1", "containers": [{"name": "app", "image": image}]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": True,
                    "restartCount": 0,
                    "image": image,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                }
            ],
        },
    }


def _seed(sim: KubeSim, count: int, namespace: str = "default") -> None:
    for i in range(count):
        sim.store.create(PODS, _running_pod(namespace, f"bulk-{i:05d}"))


def _pull_error(pod: JSON) -> None:
    pod["spec"]["containers"][0]["image"] = "nginx:9.99-no-such-tag"
    pod["status"]["conditions"][0]["status"] = "False"
    pod["status"]["containerStatuses"][0].update(
        ready=False,
        state={"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}},
    )


def _recover(pod: JSON) -> None:
    pod["spec"]["containers"][0]["image"] = "nginx:1.25"
    pod["status"]["conditions"][0]["status"] = "True"
    pod["status"]["containerStatuses"][0].update(
        ready=True, state={"running": {"startedAt": "2026-01-01T00:01:00Z"}}
    )


def _pod_requests(sim: KubeSim, verb: str) -> list[Any]:
    return [
        r for r in sim.requests if r.resource == "pods" and r.verb == verb and not r.subresource
    ]


def _query(record: Any) -> dict[str, list[str]]:
    return parse_qs(record.query)


@pytest.fixture
def gateway(sim: KubeSim) -> Iterator[Gateway]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    yield gw
    gw.close()


def _cache(gateway: Gateway, **options: Any) -> PodCache:
    return PodCache(gateway, classify=classify_pod, score=pod_health_score, **options)


def test_the_cache_lists_in_pages_then_watches_with_bookmarks(
    sim: KubeSim, gateway: Gateway
) -> None:
    _seed(sim, 1_200)
    sim.reset_requests()
    cache = _cache(gateway, watch_timeout_seconds=30)
    cache.start()
    try:
        assert cache.wait_synced(60)
        assert cache.count() == 1_200 and cache.pages == 3 and cache.lists == 1
        lists = _pod_requests(sim, "list")
        assert len(lists) == 3
        assert all(_query(r).get("limit") == ["500"] for r in lists)
        assert sum("continue" in _query(r) for r in lists) == 2  # pages two and three
        assert wait_until(lambda: len(_pod_requests(sim, "watch")) >= 1, 30)
        (watch,) = _pod_requests(sim, "watch")
        query = _query(watch)
        assert query["allowWatchBookmarks"] == ["true"] and query["timeoutSeconds"] == ["30"]
        assert query["resourceVersion"] == [cache.resource_version]

        # A change, then the watch's bookmark (2 s before its deadline) and its end: the next
        # watch starts from the bookmark's resourceVersion, without a list.
        sim.store.mutate(PODS, "default", "bulk-00007", _pull_error)
        assert wait_until(lambda: cache.events >= 1, 30)
        sim.clock.advance(29)
        assert wait_until(lambda: cache.bookmarks >= 1, 30)
        bookmark_rv = cache.resource_version
        sim.clock.advance(2)
        assert wait_until(lambda: len(_pod_requests(sim, "watch")) >= 2, 30)
        assert _query(_pod_requests(sim, "watch")[1])["resourceVersion"] == [bookmark_rv]
        assert cache.lists == 1 and len(_pod_requests(sim, "list")) == 3
    finally:
        cache.stop()


def test_the_index_follows_a_pod_that_fails_and_recovers_without_a_relist(
    sim: KubeSim, gateway: Gateway
) -> None:
    _seed(sim, 600)
    cache = _cache(gateway)
    cache.start()
    try:
        assert cache.wait_synced(60)
        assert cache.unhealthy() == []
        lists = cache.lists
        sim.store.mutate(PODS, "default", "bulk-00042", _pull_error)
        assert wait_until(lambda: [p.name for p in cache.unhealthy()] == ["bulk-00042"], 30)
        (entry,) = cache.unhealthy("default")
        assert entry.issue_type == "ErrImagePull" and entry.phase == "Running"
        sim.store.mutate(PODS, "default", "bulk-00042", _recover)
        assert wait_until(lambda: cache.unhealthy() == [], 30)
        sim.store.mutate(PODS, "default", "bulk-00043", _pull_error)
        assert wait_until(lambda: len(cache.unhealthy()) == 1, 30)
        sim.store.delete(PODS, "default", "bulk-00043")
        assert wait_until(lambda: cache.unhealthy() == [] and cache.count() == 599, 30)
        assert cache.lists == lists == 1
        assert len(_pod_requests(sim, "list")) == 2  # the two pages, once
    finally:
        cache.stop()


class _Compactor:
    """Forgets the watch history every few milliseconds (fault injection), so that every
    watch (and every continued list page) asks for a resourceVersion that is gone."""

    def __init__(self, sim: KubeSim) -> None:
        self._sim = sim
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sim.faults.expire_history()

    def __enter__(self) -> _Compactor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _timed_lists(gateway: Gateway) -> list[float]:
    """When each list request started (client side: kubesim's request log has no times)."""
    starts: list[float] = []
    original: Callable[..., Any] = gateway.list_pods

    def list_pods(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("continue_token"):
            starts.append(time.monotonic())
        return original(*args, **kwargs)

    gateway.list_pods = list_pods  # type: ignore[method-assign]
    return starts


def test_repeated_410s_relist_with_a_growing_back_off(sim: KubeSim, gateway: Gateway) -> None:
    _seed(sim, 20)
    starts = _timed_lists(gateway)
    cache = _cache(gateway, min_backoff_seconds=0.2)
    cache.start()
    try:
        assert cache.wait_synced(30)
        assert wait_until(lambda: len(_pod_requests(sim, "watch")) >= 1, 30)
        sim.reset_requests()
        sim.faults.add_latency(0.15)  # room for two compactions between a list and its watch
        with _Compactor(sim):
            sim.faults.drop_watches()  # the next watch asks for a compacted resourceVersion
            assert wait_until(lambda: cache.gone >= 5, 60)
        sim.faults.clear()
        # Bounded: one list per 410, and the 410s came in the watch streams (kubesim's
        # request log counts the requests).
        lists = _pod_requests(sim, "list")
        assert 4 <= cache.gone - 1 <= len(lists) <= cache.gone + 1
        assert len(_pod_requests(sim, "watch")) >= 4
        # Spaced, and more so each time (0.2 s doubling, +-20 %): no tight loop.
        waits = cache.backoffs[-4:]
        assert all(1.3 < b / a < 3.1 for a, b in zip(waits, waits[1:], strict=False))
        relists = starts[1:]
        gaps = [b - a for a, b in zip(relists, relists[1:], strict=False)]
        assert len(gaps) >= 3
        assert all(b > a for a, b in zip(gaps, gaps[1:], strict=False)), gaps
        assert gaps[0] >= 0.2 * 0.8
        # Healthy again: it lists once more and follows the cluster; the back-off resets.
        sim.store.mutate(PODS, "default", "bulk-00003", _pull_error)
        assert wait_until(lambda: [p.name for p in cache.unhealthy()] == ["bulk-00003"], 60)
        for name in ("bulk-00004", "bulk-00005", "bulk-00006"):  # an event on a working watch
            sim.store.mutate(PODS, "default", name, _pull_error)
            if wait_until(lambda: cache.failures == 0, 20):
                break
        assert cache.failures == 0 and cache.last_error is None
    finally:
        cache.stop()


# ----------------------------------------------------------------------------- the resource


class _Notifications:
    def __init__(self) -> None:
        self.updated: list[str] = []
        self.arrived = anyio.Event()

    async def handle(self, message: Any) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(
            message.root, types.ResourceUpdatedNotification
        ):
            self.updated.append(str(message.root.params.uri))
            self.arrived.set()


def test_a_subscribed_client_is_notified_when_a_pod_fails(sim: KubeSim, tmp_path: Path) -> None:
    _seed(sim, 50)
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    notes = _Notifications()

    async def main() -> None:
        server = create_server(state)
        with anyio.fail_after(120):
            async with create_connected_server_and_client_session(
                server, message_handler=notes.handle
            ) as session:
                await body(session)

    async def body(session: ClientSession) -> None:
        capabilities = session.get_server_capabilities()
        assert capabilities is not None and capabilities.resources is not None
        assert capabilities.resources.subscribe is True
        listed = await session.list_resources()
        assert UNHEALTHY_PODS_URI in [str(r.uri) for r in listed.resources]
        assert state.cache is not None
        assert await anyio.to_thread.run_sync(state.cache.wait_synced, 30)
        before = await session.read_resource(AnyUrl(UNHEALTHY_PODS_URI))
        assert _pods_of(before) == []
        await session.subscribe_resource(AnyUrl(UNHEALTHY_PODS_URI))
        sim.reset_requests()

        sim.store.mutate(PODS, "default", "bulk-00011", _pull_error)
        with anyio.fail_after(30):
            await notes.arrived.wait()
        assert notes.updated == [UNHEALTHY_PODS_URI]
        # Told, not polled: the client made no request; the server none to the API server
        # (the usage sampler's own rounds list pod metrics).
        assert not [
            r for r in sim.requests if r.verb in ("list", "get") and r.group != "metrics.k8s.io"
        ]
        after = await session.read_resource(AnyUrl(UNHEALTHY_PODS_URI))
        tool = await call(session, "list_unhealthy_pods")
        assert _pods_of(after) == tool["pods"]
        assert [p["pod_name"] for p in tool["pods"]] == ["bulk-00011"]
        assert tool["pods"][0]["issue_type"] == "ErrImagePull"

        # Unsubscribed: the next change is not notified.
        await session.unsubscribe_resource(AnyUrl(UNHEALTHY_PODS_URI))
        sim.store.mutate(PODS, "default", "bulk-00012", _pull_error)
        assert await anyio.to_thread.run_sync(
            lambda: wait_until(lambda: len(state.cache.unhealthy()) == 2, 30)  # type: ignore[union-attr]
        )
        await session.send_ping()  # anything sent before the ping's answer has arrived
        assert notes.updated == [UNHEALTHY_PODS_URI]

    try:
        anyio.run(main)
    finally:
        state.close()


def _pods_of(result: types.ReadResourceResult) -> list[JSON]:
    import json

    (content,) = result.contents
    assert isinstance(content, types.TextResourceContents)
    assert content.mimeType == "application/json"
    body = json.loads(content.text)
    assert body["success"] is True
    pods: list[JSON] = body["pods"]
    return pods


def test_a_remote_client_over_http_is_notified(sim: KubeSim, tmp_path: Path) -> None:
    """The same over streamable HTTP with a read token: the notification comes on the
    session's GET stream, with no request from the client in between."""
    import socket

    import httpx
    import uvicorn
    from mcp.client.streamable_http import streamable_http_client
    from pydantic import SecretStr

    from mcp_server.config import TokenConfig
    from mcp_server.http_app import create_http_app

    _seed(sim, 30)
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    token = "read-token-0123456789abcdef"
    state.config.tokens = (
        TokenConfig(caller="dashboard", token=SecretStr(token), scopes=frozenset({"read"})),
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_http_app(state, port=port), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, 20)
    notes = _Notifications()

    async def main() -> None:
        with anyio.fail_after(60):
            async with (
                httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
                streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http) as (
                    read,
                    write,
                    _,
                ),
                ClientSession(read, write, message_handler=notes.handle) as session,
            ):
                await session.initialize()
                assert state.cache is not None
                assert await anyio.to_thread.run_sync(state.cache.wait_synced, 30)
                await session.subscribe_resource(AnyUrl(UNHEALTHY_PODS_URI))
                sim.store.mutate(PODS, "default", "bulk-00005", _pull_error)
                await notes.arrived.wait()
                assert notes.updated == [UNHEALTHY_PODS_URI]
                after = await session.read_resource(AnyUrl(UNHEALTHY_PODS_URI))
                assert [p["pod_name"] for p in _pods_of(after)] == ["bulk-00005"]

    try:
        anyio.run(main)
    finally:
        server.should_exit = True
        thread.join(10)
        state.close()
