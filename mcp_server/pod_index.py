"""The pod cache's store: the compact pods, the unhealthy index (updated per pod, so
readers and the Prometheus gauges never scan every pod), and the subscribers' streams of
changes of the unhealthy set."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from mcp_server import metrics
from mcp_server.pod_projection import JSON, Key, compact_pod, controller_ref, pod_key, restarts

Classifier = Callable[[JSON], str | None]  # pod -> issue type, or None when healthy
Scorer = Callable[[JSON], float]  # pod -> health score 0..100

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
    owner_uid: str | None = None


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

    def __init__(self, index: PodIndex, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._index = index
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
        self._index.unsubscribe(self)
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:
            pass


# --------------------------------------------------------------------------------------------
# The index


class PodIndex:
    """The cached pods by namespace and name, and the unhealthy index, behind one lock."""

    def __init__(self, classify: Classifier, score: Scorer | None = None) -> None:
        self._classify = classify
        self._score = score
        self._lock = threading.Lock()
        self._pods: dict[str, dict[str, JSON]] = {}  # namespace -> name -> compact pod
        self._total = 0
        self._unhealthy: dict[Key, UnhealthyPod] = {}  # the incremental unhealthy index
        self._counts: dict[str, int] = {}  # issue type -> pods with it
        self._subscribers: list[ChangeStream] = []

    def close_subscribers(self) -> None:
        for stream in list(self._subscribers):
            stream.close()

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

    def subscribe(self, maxsize: int = CHANGE_STREAM_SIZE) -> ChangeStream:
        """A stream of unhealthy-set changes for the running event loop (`close()` it)."""
        stream = ChangeStream(self, asyncio.get_running_loop(), maxsize)
        with self._lock:
            self._subscribers.append(stream)
        return stream

    def unsubscribe(self, stream: ChangeStream) -> None:
        with self._lock:
            if stream in self._subscribers:
                self._subscribers.remove(stream)

    def publish(self, changes: Iterable[PodChange]) -> None:
        changes = list(changes)
        if not changes:
            return
        with self._lock:
            subscribers = list(self._subscribers)
        for stream in subscribers:
            for change in changes:
                stream.offer(change)

    def assess(self, key: Key, pod: JSON) -> UnhealthyPod | None:
        issue = self._classify(pod)
        if self._score is not None:
            metrics.set_pod_health(key[0], key[1], self._score(pod))
        if not issue:
            return None
        owner = controller_ref(pod)
        return UnhealthyPod(
            namespace=key[0],
            name=key[1],
            issue_type=issue,
            phase=(pod.get("status") or {}).get("phase"),
            restart_count=restarts(pod),
            owner_kind=owner.get("kind"),
            owner_name=owner.get("name"),
            owner_uid=owner.get("uid"),
        )

    def replace(self, fresh: dict[Key, tuple[JSON, UnhealthyPod | None]]) -> None:
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
        self.publish(changes)

    def apply(self, kind: str, obj: JSON) -> None:
        """One watch event: the pod, its entry in the unhealthy index, the gauges of the
        issue types it left and joined, and the change (if any) for subscribers."""
        pod = compact_pod(obj)
        key = pod_key(pod)
        namespace, name = key
        deleted = kind == "DELETED"
        entry = None if deleted else self.assess(key, pod)
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
            self.publish([PodChange("unhealthy", namespace, name, new_type, old_type)])
        else:
            self.publish(
                [PodChange("gone" if deleted else "recovered", namespace, name, None, old_type)]
            )


_published_types: set[str] = set()
