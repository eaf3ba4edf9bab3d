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

import asyncio
import gc
import logging
import queue
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_server import metrics
from mcp_server.gateway import Gateway, GatewayError, Gone, PodWatch

log = logging.getLogger(__name__)

JSON = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)
Classifier = Callable[[JSON], str | None]  # pod -> issue type, or None when healthy
Scorer = Callable[[JSON], float]  # pod -> health score 0..100

PAGE_SIZE = 500
CHANGE_STREAM_SIZE = 1024


@dataclass(frozen=True, slots=True)
class UnhealthyPod:
    namespace: str
    name: str
    issue_type: str
    phase: str | None
    restart_count: int
    owner_kind: str | None
    owner_name: str | None


ChangeKind = Literal["unhealthy", "recovered", "gone"]


@dataclass(frozen=True, slots=True)
class PodChange:
    """One change of the unhealthy set: `unhealthy` (the pod became unhealthy, or its issue
    type changed: `issue_type` is the new one), `recovered` (healthy again) or `gone` (an
    unhealthy pod was deleted); `previous` is the issue type before, if any."""

    kind: ChangeKind
    namespace: str
    name: str
    issue_type: str | None
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    changes: list[PodChange]
    # Changes were dropped (more distinct pods changed than the stream holds): read the
    # whole set again rather than trusting `changes` alone.
    overflowed: bool = False
    closed: bool = False


def _key(pod: JSON) -> Key:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _restarts(pod: JSON) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict))


# --------------------------------------------------------------------------------------------
# The compact projection

_META_KEYS = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "ownerReferences",
)
_SPEC_KEYS = ("nodeName", "restartPolicy", "priority")
_CONTAINER_KEYS = ("name", "image", "resources", "resizePolicy", "restartPolicy")
_intern = sys.intern
_STATUS_KEYS = ("phase", "reason", "message", "qosClass", "nominatedNodeName", "resize")
_CONDITION_KEYS = ("type", "status", "reason", "message")
_CONTAINER_STATUS_KEYS = (
    "name",
    "ready",
    "started",
    "restartCount",
    "image",
    "state",
    "lastState",
    "resources",
    "allocatedResources",
)
# Small parts that many pods have alike (a ReplicaSet's labels and owner, a template's
# containers, conditions without their timestamps) are kept once and shared by the pods that
# have them: cached pods are read, never changed.
_SHARED_LIMIT = 100_000
_shared: dict[Any, Any] = {}


def _freeze(value: Any) -> Any:
    """A hashable key for a JSON value (types kept apart: True is not 1)."""
    kind = type(value)
    if kind is dict:
        return (
            dict,
            tuple([(k, v if type(v) is str else _freeze(v)) for k, v in value.items()]),
        )
    if kind is list:
        return (list, tuple([v if type(v) is str else _freeze(v) for v in value]))
    if kind is str:
        return value
    return (kind, value)


def _share(value: Any) -> Any:
    """The one copy of an equal value seen before, or this one (now the shared copy)."""
    key = _freeze(value)
    found = _shared.get(key)
    if found is not None:
        return found
    if len(_shared) >= _SHARED_LIMIT:
        _shared.clear()
    _shared[key] = value
    return value


def _interned(value: Any) -> Any:
    return _intern(value) if type(value) is str and len(value) <= 64 else value


def _container(c: Any) -> Any:
    if not isinstance(c, dict):
        return c
    return {key: c[key] for key in _CONTAINER_KEYS if key in c}


def compact_pod(pod: JSON) -> JSON:
    """What the server reads from a cached pod, and nothing else: the metadata that names,
    versions and owns it (labels, owner references, uid, resourceVersion, timestamps), the
    node, each container's name, image, resources and resize policy, and the status (see
    `_status`). Annotations, managed fields, volumes, env, commands, probes, IPs and ids are
    dropped (a diagnosis reads the pod itself from the API server). Parts that many pods have
    alike are shared between them: do not change a compact pod."""
    meta_in = pod.get("metadata") or {}
    meta: JSON = {}
    for key in _META_KEYS:
        if key in meta_in:
            value = meta_in[key]
            if key in ("labels", "ownerReferences"):
                value = _share(value)
            elif key == "namespace":
                value = _interned(value)
            meta[key] = value
    spec_in = pod.get("spec") or {}
    spec: JSON = {key: _interned(spec_in[key]) for key in _SPEC_KEYS if key in spec_in}
    for key in ("containers", "initContainers"):
        if key in spec_in and isinstance(spec_in[key], list):
            spec[key] = _share([_container(c) for c in spec_in[key]])
    out: JSON = {"metadata": meta, "spec": spec}
    status = pod.get("status")
    if isinstance(status, dict):
        out["status"] = _status(status)
    return out


def _status(status: JSON) -> JSON:
    """The status the classifier, the health score, the verifier and the resize looks read:
    phase, reason and message; conditions without their timestamps; container statuses
    without image and container ids."""
    out: JSON = {key: status[key] for key in _STATUS_KEYS if key in status}
    phase = out.get("phase")
    if type(phase) is str:
        out["phase"] = _intern(phase)
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        kept = [
            {k: c[k] for k in _CONDITION_KEYS if k in c} if isinstance(c, dict) else c
            for c in conditions
        ]
        out["conditions"] = _share(kept)
    for key in ("initContainerStatuses", "containerStatuses"):
        statuses = status.get(key)
        if isinstance(statuses, list):
            out[key] = [
                {k: c[k] for k in _CONTAINER_STATUS_KEYS if k in c} if isinstance(c, dict) else c
                for c in statuses
            ]
    return out


# --------------------------------------------------------------------------------------------
# Change streams


class ChangeStream:
    """One subscriber's changes, for a coroutine in the event loop it was created in.

    The cache's thread offers changes; `await next()` (or `async for batch in stream`) takes
    everything that arrived since the last call, at most `maxsize` pods, the latest change per
    pod (a pod that turned unhealthy and recovered before the subscriber looked shows only
    `recovered`). Past `maxsize` distinct pods the oldest are dropped and the batch says
    `overflowed`. The cache never waits for a subscriber.
    """

    def __init__(self, cache: PodCache, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._cache = cache
        self._loop = loop
        self._maxsize = max(1, maxsize)
        self._lock = threading.Lock()
        self._pending: dict[Key, PodChange] = {}
        self._overflowed = False
        self._signalled = False
        self._event = asyncio.Event()
        self.closed = False
        self.offered = 0

    def offer(self, change: PodChange) -> None:
        """From any thread: queue a change, coalescing it with one pending for that pod."""
        key = (change.namespace, change.name)
        with self._lock:
            if self.closed:
                return
            self.offered += 1
            self._pending.pop(key, None)
            if len(self._pending) >= self._maxsize:
                self._pending.pop(next(iter(self._pending)))
                self._overflowed = True
            self._pending[key] = change
            if self._signalled:
                return
            self._signalled = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.close()

    def _take(self) -> ChangeBatch | None:
        with self._lock:
            if not (self._pending or self._overflowed or self.closed):
                self._signalled = False
                return None
            batch = ChangeBatch(list(self._pending.values()), self._overflowed, self.closed)
            self._pending = {}
            self._overflowed = False
            self._signalled = False
            return batch

    async def next(self) -> ChangeBatch:
        """Wait for changes (or the end: `closed`), and take them."""
        while True:
            self._event.clear()
            batch = self._take()
            if batch is not None:
                return batch
            await self._event.wait()

    def __aiter__(self) -> AsyncIterator[ChangeBatch]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChangeBatch]:
        while True:
            batch = await self.next()
            if batch.changes or batch.overflowed:
                yield batch
            if batch.closed:
                return

    def close(self) -> None:
        """Stop receiving; a waiting `next()` returns a `closed` batch."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._cache._unsubscribe(self)
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:
            pass


# --------------------------------------------------------------------------------------------
# The cache


@dataclass
class _Pass:
    """One list or watch: what it saw, for the back-off's idea of a healthy watch."""

    started: float = field(default_factory=time.monotonic)
    events: int = 0


class PodCache:
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
        self._gateway = gateway
        self._classify = classify
        self._score = score
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
        self._lock = threading.Lock()
        self._pods: dict[str, dict[str, JSON]] = {}  # namespace -> name -> compact pod
        self._total = 0
        self._unhealthy: dict[Key, UnhealthyPod] = {}  # the incremental unhealthy index
        self._counts: dict[str, int] = {}  # issue type -> pods with it
        self._subscribers: list[ChangeStream] = []
        self._synced = threading.Event()
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

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # -- lifecycle -------------------------------------------------------------------------

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
        for stream in list(self._subscribers):
            stream.close()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    # -- reads -----------------------------------------------------------------------------

    def pods(self, namespace: str | None = None) -> list[JSON]:
        """The cached pods (compact: see `compact_pod`); do not mutate them."""
        with self._lock:
            if namespace is not None:
                return list((self._pods.get(namespace) or {}).values())
            return [pod for names in self._pods.values() for pod in names.values()]

    def count(self, namespace: str | None = None) -> int:
        with self._lock:
            if namespace is not None:
                return len(self._pods.get(namespace) or {})
            return self._total

    def get(self, namespace: str, name: str) -> JSON | None:
        with self._lock:
            return (self._pods.get(namespace) or {}).get(name)

    def unhealthy(self, namespace: str | None = None) -> list[UnhealthyPod]:
        """The unhealthy pods, sorted by (namespace, name), from the index."""
        with self._lock:
            found = [
                entry
                for key, entry in self._unhealthy.items()
                if namespace is None or key[0] == namespace
            ]
        found.sort(key=lambda p: (p.namespace, p.name))
        return found

    def unhealthy_keys(self) -> dict[Key, str]:
        """(namespace, name) -> issue type of every unhealthy pod."""
        with self._lock:
            return {key: entry.issue_type for key, entry in self._unhealthy.items()}

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, maxsize: int = CHANGE_STREAM_SIZE) -> ChangeStream:
        """A stream of unhealthy-set changes for the running event loop (`close()` it)."""
        stream = ChangeStream(self, asyncio.get_running_loop(), maxsize)
        with self._lock:
            self._subscribers.append(stream)
        return stream

    def _unsubscribe(self, stream: ChangeStream) -> None:
        with self._lock:
            if stream in self._subscribers:
                self._subscribers.remove(stream)

    def _publish(self, changes: Iterable[PodChange]) -> None:
        changes = list(changes)
        if not changes:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for stream in subscribers:
            for change in changes:
                stream.offer(change)

    # -- the informer loop -----------------------------------------------------------------

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
        self._replace(fresh)
        self.resource_version = resource_version
        self._synced.set()

    def _pages(self) -> tuple[dict[Key, tuple[JSON, UnhealthyPod | None]], str]:
        """The whole list, page by page. A helper thread fetches and parses the next page
        while this one compacts and classifies the last (the API server works meanwhile),
        at most two pages ahead."""
        pages: queue.Queue[tuple[list[JSON], str] | BaseException | None] = queue.Queue(2)
        halt = threading.Event()

        def fetch() -> None:
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

        fetcher = threading.Thread(target=fetch, name="kubemedic-pod-list", daemon=True)
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
                    key = _key(compact)
                    fresh[key] = (compact, self._assess(key, compact))
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

    def _assess(self, key: Key, pod: JSON) -> UnhealthyPod | None:
        issue = self._classify(pod)
        if self._score is not None:
            metrics.set_pod_health(key[0], key[1], self._score(pod))
        if not issue:
            return None
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        owner = owners[0] if owners and isinstance(owners[0], dict) else {}
        return UnhealthyPod(
            namespace=key[0],
            name=key[1],
            issue_type=issue,
            phase=(pod.get("status") or {}).get("phase"),
            restart_count=_restarts(pod),
            owner_kind=owner.get("kind"),
            owner_name=owner.get("name"),
        )

    def _replace(self, fresh: dict[Key, tuple[JSON, UnhealthyPod | None]]) -> None:
        """Swap in a complete list; the changes against what was cached go to subscribers."""
        by_ns: dict[str, dict[str, JSON]] = {}
        unhealthy: dict[Key, UnhealthyPod] = {}
        counts: dict[str, int] = {}
        for key, (pod, entry) in fresh.items():
            by_ns.setdefault(key[0], {})[key[1]] = pod
            if entry is not None:
                unhealthy[key] = entry
                counts[entry.issue_type] = counts.get(entry.issue_type, 0) + 1
        with self._lock:
            before = self._unhealthy
            gone = [
                (ns, name)
                for ns, names in self._pods.items()
                for name in names
                if (ns, name) not in fresh
            ]
            old_counts = self._counts
            self._pods = by_ns
            self._total = len(fresh)
            self._unhealthy = unhealthy
            self._counts = counts
        for namespace, name in gone:
            metrics.forget_pod(namespace, name)
        changes: list[PodChange] = []
        for key, old in before.items():
            new = unhealthy.get(key)
            if new is None:
                kind: ChangeKind = "recovered" if key in fresh else "gone"
                changes.append(PodChange(kind, key[0], key[1], None, old.issue_type))
            elif new.issue_type != old.issue_type:
                changes.append(
                    PodChange("unhealthy", key[0], key[1], new.issue_type, old.issue_type)
                )
        for key, new in unhealthy.items():
            if key not in before:
                changes.append(PodChange("unhealthy", key[0], key[1], new.issue_type))
        metrics.pods_monitored.set(len(fresh))
        for issue_type in set(old_counts) | set(counts) | _published_types:
            metrics.unhealthy_pods.labels(issue_type=issue_type).set(counts.get(issue_type, 0))
        _published_types.update(counts)
        self._publish(changes)

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
                    self._apply(event.type, event.object)
                    self.events += 1
                if rv:
                    self.resource_version = str(rv)
        finally:
            self._watch.close()
            self._watch = None

    def _apply(self, kind: str, obj: JSON) -> None:
        """One watch event: the pod, its entry in the unhealthy index, the gauges of the
        issue types it left and joined, and the change (if any) for subscribers."""
        pod = compact_pod(obj)
        key = _key(pod)
        namespace, name = key
        deleted = kind == "DELETED"
        entry = None if deleted else self._assess(key, pod)
        with self._lock:
            names = self._pods.get(namespace)
            if deleted:
                if names is not None and names.pop(name, None) is not None:
                    self._total -= 1
                    if not names:
                        del self._pods[namespace]
            else:
                if names is None:
                    names = self._pods[namespace] = {}
                if name not in names:
                    self._total += 1
                names[name] = pod
            old = self._unhealthy.pop(key, None)
            if entry is not None:
                self._unhealthy[key] = entry
            touched = set()
            if old is not None:
                self._counts[old.issue_type] = self._counts.get(old.issue_type, 1) - 1
                touched.add(old.issue_type)
            if entry is not None:
                self._counts[entry.issue_type] = self._counts.get(entry.issue_type, 0) + 1
                touched.add(entry.issue_type)
            counts = {t: self._counts.get(t, 0) for t in touched}
            total = self._total
        if deleted:
            metrics.forget_pod(namespace, name)
        metrics.pods_monitored.set(total)
        for issue_type, count in counts.items():
            metrics.unhealthy_pods.labels(issue_type=issue_type).set(count)
        _published_types.update(counts)
        old_type = old.issue_type if old is not None else None
        new_type = entry.issue_type if entry is not None else None
        if old_type == new_type:
            return
        if new_type is not None:
            self._publish([PodChange("unhealthy", namespace, name, new_type, old_type)])
        else:
            self._publish(
                [PodChange("gone" if deleted else "recovered", namespace, name, None, old_type)]
            )


_published_types: set[str] = set()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll `predicate` until true or `timeout` wall seconds pass (for callers and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
