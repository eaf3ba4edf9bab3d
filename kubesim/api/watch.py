"""Watch streams: one JSON object per line, from a resourceVersion or from "now" with the current
objects as ADDED first; ERROR with a 410 Status for a version the history no longer holds;
BOOKMARK events when allowed; Table events for `kubectl get -w`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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
BOOKMARK_EVERY = 5.0  # wall seconds between BOOKMARK events when a client allows them


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
    next_event: Callable[[], Awaitable[WatchEvent | None]] = queue.get

    def deliver(event: WatchEvent) -> None:  # runs under the store lock: hand off only
        loop.call_soon_threadsafe(queue.put_nowait, event)

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
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + BOOKMARK_EVERY
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                try:
                    arrived = await asyncio.wait_for(next_event(), timeout=max(wait, 0.001))
                except TimeoutError:
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + BOOKMARK_EVERY
                        mark = {
                            "kind": t.rtype.kind,
                            "apiVersion": t.rtype.api_version,
                            "metadata": {"resourceVersion": str(store.resource_version)},
                        }
                        yield _line("BOOKMARK", mark)
                    continue
                if arrived is None:  # dropped by fault injection
                    return
                if arrived.resource_version <= last_rv:
                    continue  # already sent from the backlog
                last_rv = arrived.resource_version
                kind = filtered_type(arrived, match)
                if kind:
                    yield encode(kind, arrived.object)
        finally:
            unsubscribe()
            registry.remove(key)

    return StreamingResponse(
        stream(), media_type="application/json", headers={"Cache-Control": "no-cache, private"}
    )
