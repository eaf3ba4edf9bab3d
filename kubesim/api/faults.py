"""Fault injection: what a flaky or overloaded API server does to its clients."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubesim.api.errors import ApiError, too_many_requests


@dataclass
class _Pending:
    count: int
    retry_after: int = 1
    verbs: frozenset[str] = frozenset()  # empty: any verb
    resource: str | None = None  # plural, None: any


@dataclass
class Faults:
    """Thread-safe fault switches. Counters are spent one per matching API request.

    The admin API (`/kubesim/faults`) and the Python API both set these.
    """

    latency: float = 0.0  # wall seconds added to every API request
    _throttle: _Pending | None = None
    _errors: _Pending | None = None
    _conflicts: _Pending | None = None
    _drop_watches: Callable[[], int] | None = None
    _compact: Callable[[], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_latency(self, seconds: float) -> None:
        self.latency = max(0.0, float(seconds))

    def throttle(
        self,
        count: int,
        retry_after: int = 1,
        *,
        verbs: tuple[str, ...] = (),
        resource: str | None = None,
    ) -> None:
        """The next `count` matching requests answer 429 with `Retry-After`."""
        with self._lock:
            self._throttle = _Pending(count, retry_after, frozenset(verbs), resource)

    def fail(self, count: int, *, verbs: tuple[str, ...] = (), resource: str | None = None) -> None:
        """The next `count` matching requests answer 500."""
        with self._lock:
            self._errors = _Pending(count, 0, frozenset(verbs), resource)

    def conflict_on_update(self, count: int, *, resource: str | None = None) -> None:
        """The next `count` updates / patches answer 409 Conflict."""
        with self._lock:
            self._conflicts = _Pending(count, 0, frozenset({"update", "patch"}), resource)

    def drop_watches(self) -> int:
        """End every open watch stream now; returns how many were open."""
        return self._drop_watches() if self._drop_watches else 0

    def expire_history(self) -> None:
        """Compact the watch history: any watch from an older resourceVersion gets 410 Gone."""
        if self._compact:
            self._compact()

    def clear(self) -> None:
        with self._lock:
            self.latency = 0.0
            self._throttle = self._errors = self._conflicts = None

    def state(self) -> dict[str, Any]:
        def show(p: _Pending | None) -> dict[str, Any] | None:
            if p is None or p.count <= 0:
                return None
            return {
                "count": p.count,
                "retryAfter": p.retry_after,
                "verbs": sorted(p.verbs),
                "resource": p.resource,
            }

        with self._lock:
            return {
                "latency": self.latency,
                "throttle": show(self._throttle),
                "errors": show(self._errors),
                "conflicts": show(self._conflicts),
            }

    @staticmethod
    def _take(pending: _Pending | None, verb: str, resource: str) -> bool:
        if pending is None or pending.count <= 0:
            return False
        if pending.verbs and verb not in pending.verbs:
            return False
        if pending.resource and pending.resource != resource:
            return False
        pending.count -= 1
        return True

    def check(self, verb: str, resource: str) -> ApiError | None:
        """The error this request must fail with, if a fault is armed for it."""
        with self._lock:
            if self._take(self._throttle, verb, resource):
                retry = self._throttle.retry_after if self._throttle else 1
                return too_many_requests(
                    "the server has received too many requests and has asked us to try again later",
                    retry,
                )
            if self._take(self._errors, verb, resource):
                return ApiError(
                    500,
                    "InternalError",
                    "Internal error occurred: injected fault",
                    {"causes": [{"message": "injected fault"}]},
                )
            if self._take(self._conflicts, verb, resource):
                return ApiError(
                    409,
                    "Conflict",
                    f"Operation cannot be fulfilled on {resource}: the object has "
                    "been modified; please apply your changes to the latest version and try again",
                    {"kind": resource},
                )
        return None

    def configure(self, body: dict[str, Any]) -> None:
        """Admin API body: {"latency": s, "throttle": {"count", "retryAfter", "verbs", "resource"},
        "errors": {...}, "conflicts": {...}, "dropWatches": true, "expireHistory": true}."""
        if "latency" in body:
            self.add_latency(float(body["latency"] or 0))
        if body.get("throttle"):
            t = body["throttle"]
            self.throttle(
                int(t.get("count", 1)),
                int(t.get("retryAfter", 1)),
                verbs=tuple(t.get("verbs") or ()),
                resource=t.get("resource"),
            )
        if body.get("errors"):
            e = body["errors"]
            self.fail(
                int(e.get("count", 1)),
                verbs=tuple(e.get("verbs") or ()),
                resource=e.get("resource"),
            )
        if body.get("conflicts"):
            c = body["conflicts"]
            self.conflict_on_update(int(c.get("count", 1)), resource=c.get("resource"))
        if body.get("dropWatches"):
            self.drop_watches()
        if body.get("expireHistory"):
            self.expire_history()
