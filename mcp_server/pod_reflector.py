"""The pod cache's reflector (as client-go's informer runs one): list in pages, watch from
the list's resourceVersion, resume after the server ends a stream, and back off (then
re-list after a 410) when it fails. See `mcp_server.pod_cache`."""

from __future__ import annotations

import gc
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_server.gateway import Gateway, GatewayError, Gone, PodWatch
from mcp_server.pod_index import PodIndex, UnhealthyPod
from mcp_server.pod_projection import JSON, Key, compact_pod, pod_key

log = logging.getLogger("mcp_server.pod_cache")

PAGE_SIZE = 500


# Pages of pods (items, resourceVersion) from the fetching thread; an error or None ends them.
_Pages = queue.Queue[tuple[list[JSON], str] | BaseException | None]


@dataclass
class _Pass:
    """One list or watch: what it saw, for the back-off's idea of a healthy watch."""

    started: float = field(default_factory=time.monotonic)
    events: int = 0


class Reflector:
    """Keeps a `PodIndex` in step with the API server, on its own thread."""

    def __init__(
        self,
        gateway: Gateway,
        index: PodIndex,
        *,
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
        self._gateway = gateway
        self._index = index
        self._namespace = namespace
        self._watch_timeout = watch_timeout_seconds
        self._watch_read_timeout = watch_read_timeout_seconds
        self._page_size = page_size
        self._list_timeout = list_timeout_seconds
        self._min_backoff = min_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._jitter = backoff_jitter
        self._healthy_watch = healthy_watch_seconds
        self._rng = rng or random.Random()
        self._stopping = threading.Event()
        self._sleep: Callable[[float], None] = sleep or self._interruptible_sleep
        self.synced_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: PodWatch | None = None
        self.resource_version = ""
        self.lists = 0  # how many times the cache listed (1 + re-lists)
        self.pages = 0  # list requests that answered
        self.watches = 0
        self.gone = 0  # 410s seen (watch or expired continue token)
        self.failures = 0  # consecutive failures (the back-off's exponent)
        self.backoffs: list[float] = []  # every back-off delay slept, in order (last 100)
        self.events = 0  # watch events applied
        self.bookmarks = 0  # BOOKMARK events seen
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="kubemedic-pod-cache", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        watch = self._watch
        if watch is not None:
            watch.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _backoff(self) -> None:
        self.failures += 1
        base = min(self._max_backoff, self._min_backoff * 2.0 ** (self.failures - 1))
        delay = base * (1.0 + self._jitter * (2.0 * self._rng.random() - 1.0))
        self.backoffs = [*self.backoffs[-99:], delay]
        log.info("pod cache: backing off %.2fs (failure %d)", delay, self.failures)
        self._sleep(delay)

    def _run(self) -> None:
        need_list = True
        while not self._stopping.is_set():
            current = _Pass()
            try:
                if need_list:
                    self._list()
                    need_list = False
                current = _Pass()
                self._watch_once(current)
                if self._stopping.is_set():
                    break
                # The server ended the stream (its timeout): watch again from where we are,
                # at once after a healthy watch; a stream that ends as soon as it opens, with
                # nothing in it, is a failure like any other (no tight loop).
                if current.events or time.monotonic() - current.started >= self._healthy_watch:
                    self.failures = 0
                    self.last_error = None
                elif time.monotonic() - current.started < 1.0:
                    self._backoff()
            except Gone as error:
                if self._stopping.is_set():
                    break
                self.gone += 1
                self._healthy(current)
                log.info(
                    "pod cache: resourceVersion %s is gone (%s), re-listing",
                    self.resource_version,
                    error.message,
                )
                self.last_error = f"Gone: {error.message}"
                need_list = True
                self._backoff()
            except GatewayError as error:
                if self._stopping.is_set():
                    break
                self._healthy(current)
                self.last_error = f"{error.reason}: {error.message}"
                log.warning("pod cache: %s", self.last_error)
                self._backoff()
            except Exception:  # noqa: BLE001 - the informer must outlive any one bad event
                if self._stopping.is_set():
                    break
                log.exception("pod cache: unexpected error; re-listing")
                need_list = True
                self._backoff()

    def _healthy(self, current: _Pass) -> None:
        """A watch that delivered something before it failed was healthy: start the back-off
        from the beginning."""
        if current.events or time.monotonic() - current.started >= self._healthy_watch:
            self.failures = 0

    def _list(self) -> None:
        """Every page, then one swap. An expired continue token (410) starts again from the
        first page once; a second 410 goes to the back-off."""
        restarted = False
        while True:
            try:
                fresh, resource_version = self._pages()
                break
            except Gone:
                if restarted or self._stopping.is_set():
                    raise
                restarted = True
                self.gone += 1
                log.info("pod cache: the list's continue token expired; listing again")
        self.lists += 1
        self._index.replace(fresh)
        self.resource_version = resource_version
        self.synced_event.set()

    def _pages(self) -> tuple[dict[Key, tuple[JSON, UnhealthyPod | None]], str]:
        """The whole list, page by page. A helper thread fetches and parses the next page
        while this one compacts and classifies the last (the API server works meanwhile),
        at most two pages ahead."""
        pages: _Pages = queue.Queue(2)
        halt = threading.Event()
        fetcher = threading.Thread(
            target=self._fetch_pages, args=(pages, halt), name="kubemedic-pod-list", daemon=True
        )
        # Parsing a list makes millions of dicts and lists, none of them cyclic garbage: the
        # cyclic collector would run hundreds of times over them and double the time taken.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        fetcher.start()
        fresh: dict[Key, tuple[JSON, UnhealthyPod | None]] = {}
        resource_version = ""
        try:
            while True:
                got = pages.get()
                if got is None:
                    return fresh, resource_version
                if isinstance(got, BaseException):
                    raise got
                items, page_version = got
                resource_version = page_version or resource_version
                for pod in items:
                    compact = compact_pod(pod)
                    key = pod_key(compact)
                    fresh[key] = (compact, self._index.assess(key, compact))
                if self._stopping.is_set():
                    raise Gone("stopping")
        finally:
            halt.set()
            while fetcher.is_alive():  # let a fetcher blocked on a full queue finish
                try:
                    pages.get(timeout=0.05)
                except queue.Empty:
                    pass
            fetcher.join()
            if paused:
                gc.enable()

    def _fetch_pages(self, pages: _Pages, halt: threading.Event) -> None:
        """The fetching thread: each page's items and resourceVersion into `pages`, then None
        (or the error that stopped it)."""
        token: str | None = None
        try:
            while not halt.is_set():
                page = self._gateway.list_pods(
                    self._namespace,
                    limit=self._page_size,
                    continue_token=token,
                    timeout=self._list_timeout,
                )
                self.pages += 1
                pages.put((page.items, page.resource_version))
                token = page.continue_token or None
                if token is None:
                    break
        except BaseException as error:  # noqa: BLE001 - handed to the listing thread
            pages.put(error)
            return
        pages.put(None)

    def _watch_once(self, current: _Pass) -> None:
        self._watch = self._gateway.watch_pods(
            self.resource_version,
            namespace=self._namespace,
            timeout_seconds=self._watch_timeout,
            read_timeout=self._watch_read_timeout,
        )
        self.watches += 1
        try:
            if self._stopping.is_set():
                return
            for event in self._watch:
                if self._stopping.is_set():
                    return
                if not current.events:
                    # The watch works: a later failure starts the back-off afresh.
                    self.failures = 0
                    self.last_error = None
                current.events += 1
                rv = (event.object.get("metadata") or {}).get("resourceVersion")
                if event.type == "BOOKMARK":
                    self.bookmarks += 1
                else:
                    self._index.apply(event.type, event.object)
                    self.events += 1
                if rv:
                    self.resource_version = str(rv)
        finally:
            self._watch.close()
            self._watch = None
