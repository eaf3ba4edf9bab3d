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
    # RBAC-like denials that stay until cleared: (resource[/subresource], verbs; empty: any).
    _forbidden: dict[str, frozenset[str]] = field(default_factory=dict)
    _forbidden_user: str = "system:serviceaccount:kubemedic:kubemedic"
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

    def forbid(
        self,
        resource: str,
        *,
        verbs: tuple[str, ...] = (),
        user: str = "system:serviceaccount:kubemedic:kubemedic",
    ) -> None:
        """Every matching request answers 403 Forbidden until `clear()`, as a real API server
        does for a user whose RBAC lacks the rule. `resource` is a plural, or `plural/subresource`
        (e.g. "pods/log") to deny only the subresource."""
        with self._lock:
            self._forbidden[resource] = frozenset(verbs)
            self._forbidden_user = user

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
            self._forbidden = {}

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
                "forbidden": {r: sorted(v) for r, v in sorted(self._forbidden.items())},
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

    def check(
        self,
        verb: str,
        resource: str,
        *,
        subresource: str = "",
        group: str = "",
        namespace: str = "",
        name: str | None = None,
    ) -> ApiError | None:
        """The error this request must fail with, if a fault is armed for it."""
        with self._lock:
            denied = self._denied(verb, resource, subresource)
            if denied is not None:
                return _forbidden(verb, denied, group, namespace, name, self._forbidden_user)
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

    def _denied(self, verb: str, resource: str, subresource: str) -> str | None:
        full = f"{resource}/{subresource}" if subresource else resource
        verbs = self._forbidden.get(full)
        if verbs is not None and (not verbs or verb in verbs):
            return full
        return None

    def configure(self, body: dict[str, Any]) -> None:
        """Admin API body: {"latency": s, "throttle": {"count", "retryAfter", "verbs", "resource"},
        "errors": {...}, "conflicts": {...}, "forbidden": [{"resource", "verbs"}],
        "dropWatches": true, "expireHistory": true}."""
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
        for rule in body.get("forbidden") or []:
            self.forbid(str(rule["resource"]), verbs=tuple(rule.get("verbs") or ()))
        if body.get("dropWatches"):
            self.drop_watches()
        if body.get("expireHistory"):
            self.expire_history()


def _forbidden(
    verb: str, resource: str, group: str, namespace: str, name: str | None, user: str
) -> ApiError:
    """The Status a real API server answers when RBAC denies a request (reason Forbidden)."""
    plural = resource.partition("/")[0]
    qualified = f"{plural}.{group}" if group else plural
    subject = f'{qualified} "{name}"' if name else qualified
    where = f' in the namespace "{namespace}"' if namespace else ""
    details: dict[str, Any] = {"kind": plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return ApiError(
        403,
        "Forbidden",
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{group}"{where}',
        details,
    )
