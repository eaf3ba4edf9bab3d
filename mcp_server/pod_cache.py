"""A watch-backed pod cache (an informer, as client-go's reflector runs one).

- **List** in pages (`limit=500` + `continue`), each page with its own timeout; a 410 on a
  continued page (the token expired) starts the list again from the first page. The pages
  are swapped in at once when the last one arrived, so readers never see half a list.
- **Watch** from the list's resourceVersion with `allowWatchBookmarks=true`; when the server
  ends the stream (its `timeoutSeconds`), watch again from the last resourceVersion seen (an
  event's or a bookmark's): no re-list.
- **410 Gone** (an HTTP 410 or an ERROR frame with code 410 in the stream) and any other
  failure: back off exponentially with jitter (0.8 s doubling to 30 s, ±20 %), then re-list
  (after a 410) or watch again. The back-off resets after a healthy watch (one that delivered
  something, or stayed open for `healthy_watch_seconds`).

Pods are stored as a compact projection (`compact_pod`: the metadata, container names,
images and resources, and the status), which is all the server reads from the cache; tools
that need the whole pod read it from the API server. An **unhealthy index** is updated per
event (classify the one pod that changed), so `list_unhealthy_pods` and the Prometheus gauges
never scan every pod. Changes of the unhealthy set (a pod became unhealthy or changed issue,
recovered, or is gone) go to subscribers (`subscribe()`: an asyncio-friendly, bounded,
coalescing stream per subscriber), which is what the MCP resource `kubemedic://pods/unhealthy`
notifies its subscribers from.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from mcp_server.gateway import Gateway
from mcp_server.pod_index import (
    CHANGE_STREAM_SIZE,
    ChangeBatch,
    ChangeKind,
    ChangeStream,
    Classifier,
    PodChange,
    PodIndex,
    Scorer,
    UnhealthyPod,
)
from mcp_server.pod_projection import JSON, Key, compact_pod
from mcp_server.pod_reflector import PAGE_SIZE, Reflector

__all__ = [
    "CHANGE_STREAM_SIZE",
    "JSON",
    "PAGE_SIZE",
    "ChangeBatch",
    "ChangeKind",
    "ChangeStream",
    "Classifier",
    "Key",
    "PodCache",
    "PodChange",
    "Scorer",
    "UnhealthyPod",
    "compact_pod",
    "wait_until",
]


class PodCache:
    """The informer: a `Reflector` keeping a `PodIndex` in step with the API server."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        classify: Classifier,
        score: Scorer | None = None,
        namespace: str | None = None,
        watch_timeout_seconds: int = 300,
        watch_read_timeout_seconds: float | None = None,
        page_size: int = PAGE_SIZE,
        list_timeout_seconds: float = 60.0,
        min_backoff_seconds: float = 0.8,
        max_backoff_seconds: float = 30.0,
        backoff_jitter: float = 0.2,
        healthy_watch_seconds: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._index = PodIndex(classify, score)
        self._reflector = Reflector(
            gateway,
            self._index,
            namespace=namespace,
            watch_timeout_seconds=watch_timeout_seconds,
            watch_read_timeout_seconds=watch_read_timeout_seconds,
            page_size=page_size,
            list_timeout_seconds=list_timeout_seconds,
            min_backoff_seconds=min_backoff_seconds,
            max_backoff_seconds=max_backoff_seconds,
            backoff_jitter=backoff_jitter,
            healthy_watch_seconds=healthy_watch_seconds,
            sleep=sleep,
            rng=rng,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._reflector.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._reflector.stop(timeout)
        self._index.close_subscribers()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._reflector.synced_event.wait(timeout)

    @property
    def synced(self) -> bool:
        return self._reflector.synced_event.is_set()

    # -- the reflector's counters ----------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return self._reflector.resource_version

    @property
    def lists(self) -> int:
        return self._reflector.lists

    @property
    def pages(self) -> int:
        return self._reflector.pages

    @property
    def watches(self) -> int:
        return self._reflector.watches

    @property
    def gone(self) -> int:
        return self._reflector.gone

    @property
    def failures(self) -> int:
        return self._reflector.failures

    @property
    def backoffs(self) -> list[float]:
        return self._reflector.backoffs

    @property
    def events(self) -> int:
        return self._reflector.events

    @property
    def bookmarks(self) -> int:
        return self._reflector.bookmarks

    @property
    def last_error(self) -> str | None:
        return self._reflector.last_error

    # -- reads -----------------------------------------------------------------------------

    def pods(self, namespace: str | None = None) -> list[JSON]:
        """The cached pods (compact: see `compact_pod`); do not mutate them."""
        return self._index.pods(namespace)

    def count(self, namespace: str | None = None) -> int:
        return self._index.count(namespace)

    def get(self, namespace: str, name: str) -> JSON | None:
        return self._index.get(namespace, name)

    def unhealthy(self, namespace: str | None = None) -> list[UnhealthyPod]:
        """The unhealthy pods, sorted by (namespace, name), from the index."""
        return self._index.unhealthy(namespace)

    def unhealthy_keys(self) -> dict[Key, str]:
        """(namespace, name) -> issue type of every unhealthy pod."""
        return self._index.unhealthy_keys()

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, maxsize: int = CHANGE_STREAM_SIZE) -> ChangeStream:
        """A stream of unhealthy-set changes for the running event loop (`close()` it)."""
        return self._index.subscribe(maxsize)

    def _unsubscribe(self, stream: ChangeStream) -> None:
        self._index.unsubscribe(stream)

    # -- one step of the informer (for tests) ----------------------------------------------

    def _list(self) -> None:
        self._reflector._list()

    def _apply(self, kind: str, obj: JSON) -> None:
        self._index.apply(kind, obj)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll `predicate` until true or `timeout` wall seconds pass (for callers and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
