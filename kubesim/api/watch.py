"""Watch streams: one JSON object per line, from a resourceVersion or from "now" with the current
objects as ADDED first; ERROR with a 410 Status for a version the history no longer holds;
BOOKMARK events when allowed; Table events for `kubectl get -w`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from kubesim.api import errors, tables
from kubesim.api.paths import Target
from kubesim.api.selectors import matches_labels, parse_field_selector, parse_label_selector
from kubesim.clock import SimClock
from kubesim.store import Gone, Store, WatchEvent

Obj = dict[str, Any]
DEFAULT_TIMEOUT = 1800.0  # the apiserver's --min-request-timeout
BOOKMARK_FREQUENCY = 60.0  # the watch cache's periodic bookmark
PRETIMEOUT = 2.0  # and one this long before the watch's deadline
BUCKET = 1.0  # the watch cache fires bookmarks on a one-second tick
# Go's zero values of each kind, as a bookmark object carries them besides its resourceVersion.
_EMPTY_TEMPLATE: Obj = {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}}
_BOOKMARK_BODY: dict[str, Obj] = {
    "Pod": {"spec": {"containers": None}, "status": {}},
    "Node": {
        "spec": {},
        "status": {
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                k: ""
                for k in (
                    "machineID",
                    "systemUUID",
                    "bootID",
                    "kernelVersion",
                    "osImage",
                    "containerRuntimeVersion",
                    "kubeletVersion",
                    "kubeProxyVersion",
                    "operatingSystem",
                    "architecture",
                )
            },
        },
    },
    "Namespace": {"spec": {}, "status": {}},
    "Event": {
        "involvedObject": {},
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "eventTime": None,
        "reportingComponent": "",
        "reportingInstance": "",
    },
    "Deployment": {
        "spec": {"selector": None, "template": _EMPTY_TEMPLATE, "strategy": {}},
        "status": {},
    },
    "ReplicaSet": {
        "spec": {"selector": None, "template": _EMPTY_TEMPLATE},
        "status": {"replicas": 0},
    },
    "PersistentVolumeClaim": {"spec": {"resources": {}}, "status": {}},
    "LimitRange": {"spec": {"limits": None}},
    "PodDisruptionBudget": {
        "spec": {},
        "status": {
            "disruptionsAllowed": 0,
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "expectedPods": 0,
        },
    },
}


@dataclass
class _OpenWatch:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[WatchEvent | None]


@dataclass
class WatchRegistry:
    """Open watch streams, so fault injection can end them all at once."""

    _open: dict[int, _OpenWatch] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[WatchEvent | None]) -> int:
        with self._lock:
            self._open[id(queue)] = _OpenWatch(loop, queue)
        return id(queue)

    def remove(self, key: int) -> None:
        with self._lock:
            self._open.pop(key, None)

    def drop_all(self) -> int:
        with self._lock:
            open_now = list(self._open.values())
        for w in open_now:
            w.loop.call_soon_threadsafe(w.queue.put_nowait, None)
        return len(open_now)


def filtered_type(event: WatchEvent, match: Callable[[Obj], bool]) -> str | None:
    """The event type a filtered watch sees: a change that takes an object out of the selection
    is its DELETED, one that brings it in is its ADDED (None: not this watch's business)."""
    now = match(event.object)
    if event.type != "MODIFIED" or event.previous is None:
        return event.type if now else None
    before = match(event.previous)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else None


def bookmark_object(kind: str, api_version: str, resource_version: int) -> Obj:
    """An empty object of the kind with only its resourceVersion set, serialised as Go
    serialises a zero value (`creationTimestamp: null`, `spec.containers: null` for a Pod)."""
    obj: Obj = {
        "kind": kind,
        "apiVersion": api_version,
        "metadata": {"resourceVersion": str(resource_version), "creationTimestamp": None},
    }
    obj.update(json.loads(json.dumps(_BOOKMARK_BODY.get(kind, {}))))
    return obj


@dataclass
class WatchTimer:
    """A watch's time: the deadline (`timeoutSeconds`) and the bookmarks run on the simulated
    clock when it moves faster than wall time (an advanced manual clock, a sped-up one) and on
    wall time otherwise, whichever is further along."""

    clock: SimClock
    timeout: float
    wall_start: float = field(default_factory=time.monotonic)
    sim_start: float = 0.0

    def __post_init__(self) -> None:
        self.sim_start = self.clock.seconds()

    def elapsed(self) -> float:
        return max(time.monotonic() - self.wall_start, self.clock.seconds() - self.sim_start)

    def next_bookmark(self, now: float) -> float | None:
        """cacheWatcher.nextBookmarkTime: a minute on, or the deadline less 2 s if sooner;
        none once that has passed. Requeued no sooner than the watch cache's next tick."""
        at = min(now + BOOKMARK_FREQUENCY, self.timeout - PRETIMEOUT)
        if at < now:
            return None
        return at

    def wall_wait(self, target: float) -> float:
        """Wall seconds to sleep before `target` (elapsed) may have come."""
        left = max(target - self.elapsed(), 0.0)
        return left / max(self.clock.speed, 1.0)


def _line(event_type: str, obj: Obj) -> bytes:
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


async def open_watch(
    store: Store, clock: SimClock, registry: WatchRegistry, request: Request, t: Target
) -> StreamingResponse:
    q = request.query_params
    labels = parse_label_selector(q.get("labelSelector"))
    field_match = parse_field_selector(q.get("fieldSelector"), t.rtype.kind)

    def match(obj: Obj) -> bool:
        if t.name and obj["metadata"].get("name") != t.name:
            return False
        return matches_labels(labels, obj) and field_match(obj)

    accept = request.headers.get("accept", "").split(",")[0]
    as_table = "as=Table" in accept
    bookmarks = q.get("allowWatchBookmarks") in ("true", "1", "True")
    timeout = errors.query_number(q.get("timeoutSeconds"), "timeoutSeconds", DEFAULT_TIMEOUT)
    rv_text = q.get("resourceVersion") or ""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
    wake = asyncio.Event()  # the simulated clock moved

    def deliver(event: WatchEvent) -> None:  # runs under the store lock: hand off only
        loop.call_soon_threadsafe(queue.put_nowait, event)

    def ticked(_now: float) -> None:
        loop.call_soon_threadsafe(wake.set)

    initial: list[WatchEvent] = []
    gone_message: str | None = None
    with store.lock:  # subscribe and read the backlog atomically: no event falls between
        unsubscribe = store.subscribe(t.rtype, t.namespace, deliver)
        start_rv = store.resource_version
        if rv_text in ("", "0"):
            initial = [
                WatchEvent("ADDED", t.rtype, o, start_rv) for o in store.list(t.rtype, t.namespace)
            ]
        else:
            try:
                initial = store.events_since(t.rtype, t.namespace, int(rv_text))
            except Gone as exc:
                gone_message = str(exc)
            except ValueError as exc:
                unsubscribe()
                raise errors.bad_request(f"invalid resource version: {rv_text}") from exc
    key = registry.add(loop, queue)
    clock.on_advance(ticked)
    timer = WatchTimer(clock, timeout)
    first = [True]  # only the first Table event carries the column definitions

    def encode(event_type: str, obj: Obj) -> bytes:
        if as_table:
            listing = {
                "metadata": {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                "items": [obj],
            }
            obj = tables.table(t.rtype, listing, clock, request, columns=first[0])
            first[0] = False
        return _line(event_type, obj)

    def bookmark(rv: int) -> bytes:
        if as_table:
            table = {
                "kind": "Table",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": str(rv)},
                "columnDefinitions": None,
                "rows": None,
            }
            return _line("BOOKMARK", table)
        return _line("BOOKMARK", bookmark_object(t.rtype.kind, t.rtype.api_version, rv))

    async def stream() -> AsyncIterator[bytes]:
        try:
            if gone_message is not None:
                yield _line("ERROR", errors.gone(gone_message).body())
                return
            last_rv = int(rv_text) if rv_text not in ("", "0") else start_rv
            for event in initial:
                kind = filtered_type(event, match)
                if kind:
                    yield encode(kind, event.object)
                last_rv = max(last_rv, event.resource_version)
            bookmark_rv = last_rv  # a bookmark goes out only when the watch has moved on
            next_bookmark = timer.next_bookmark(0.0) if bookmarks else None
            while True:
                elapsed = timer.elapsed()
                if next_bookmark is not None and elapsed >= next_bookmark:
                    with store.lock:
                        rv = store.type_resource_version(t.rtype) or 0
                    await asyncio.sleep(0)  # deliveries up to rv are scheduled: take them in
                    while not queue.empty():
                        arrived = queue.get_nowait()
                        if arrived is None:
                            return
                        if arrived.resource_version > last_rv:
                            last_rv = arrived.resource_version
                            kind = filtered_type(arrived, match)
                            if kind:
                                yield encode(kind, arrived.object)
                    if rv > bookmark_rv and rv >= last_rv:
                        bookmark_rv = rv
                        yield bookmark(rv)
                    after = timer.next_bookmark(elapsed)
                    next_bookmark = None if after is None else max(after, elapsed + BUCKET)
                    continue
                if elapsed >= timer.timeout:
                    return  # closed cleanly, no final frame
                target = timer.timeout if next_bookmark is None else next_bookmark
                wake.clear()
                getter = asyncio.ensure_future(queue.get())
                waker = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait(
                        {getter, waker},
                        timeout=max(timer.wall_wait(target), 0.001),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waker.cancel()
                    got = getter.done()
                    if not got:
                        getter.cancel()  # an event stays queued for the next get
                if not got:
                    continue
                arrived = getter.result()
                if arrived is None:  # dropped by fault injection
                    return
                if arrived.resource_version <= last_rv:
                    continue  # already sent from the backlog
                last_rv = arrived.resource_version
                kind = filtered_type(arrived, match)
                if kind:
                    yield encode(kind, arrived.object)
        finally:
            clock.remove_listener(ticked)
            unsubscribe()
            registry.remove(key)

    return StreamingResponse(
        stream(), media_type="application/json", headers={"Cache-Control": "no-cache, private"}
    )
