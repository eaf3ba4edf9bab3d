"""What every controller shares: its context, and small helpers over plain object dicts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubesim.clock import SimClock
from kubesim.controllers.events import EventRecorder
from kubesim.images import ImageCatalog
from kubesim.logs import LogStore
from kubesim.store import PODS, NotFound, Obj, ResourceType, Store
from kubesim.version import DEFAULT, KubeVersion

# The alphabet Kubernetes uses for generated names and encoded hashes (no vowels, no 0/1/3).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class Controller(Protocol):
    def reconcile(self, now: float) -> bool:
        """One pass at simulated time `now`; True when it changed anything."""
        ...

    def next_due(self) -> float | None:
        """The earliest simulated time at which this controller has something to do."""
        ...


@dataclass
class Context:
    store: Store
    clock: SimClock
    logs: LogStore
    events: EventRecorder
    images: ImageCatalog
    rng: random.Random = field(default_factory=random.Random)
    kube: KubeVersion = DEFAULT  # the version the cluster runs (features such as resize)
    _stamps: dict[str, float | None] = field(default_factory=dict)

    def stamp(self, at: float) -> str:
        return self.clock.rfc3339(at)

    def seconds(self, stamp: str | None) -> float | None:
        if not stamp:
            return None
        cached = self._stamps.get(stamp, -1.0)
        if cached != -1.0:
            return cached
        try:
            value: float | None = self.clock.to_seconds(stamp)
        except ValueError:
            value = None
        if len(self._stamps) > 100_000:
            self._stamps.clear()
        self._stamps[stamp] = value
        return value

    def random_suffix(self, length: int = 5) -> str:
        return "".join(self.rng.choice(SAFE_ALPHABET) for _ in range(length))


def safe_encode(value: int) -> str:
    """rand.SafeEncodeString of a decimal number, as pod-template-hash is written."""
    return "".join(SAFE_ALPHABET[int(ch) % len(SAFE_ALPHABET)] for ch in str(value))


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"]["uid"]


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels; empty matches nothing."""
    if not selector:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and (not present or labels[key] not in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return bool(selector.get("matchLabels") or selector.get("matchExpressions"))


def is_terminating(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def pod_is_active(pod: Obj) -> bool:
    """Counted by its ReplicaSet: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def pod_condition(pod: Obj, type_: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def pod_is_ready(pod: Obj) -> bool:
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_ready_since(ctx: Context, pod: Obj) -> float | None:
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return ctx.seconds(cond.get("lastTransitionTime"))


def pod_is_available(ctx: Context, pod: Obj, min_ready_seconds: int, now: float) -> bool:
    since = pod_ready_since(ctx, pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or since + min_ready_seconds <= now


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: str,
    now_stamp: str,
    reason: str | None = None,
    message: str | None = None,
    *,
    probe_time: bool = False,
    update_time: bool = False,
) -> None:
    """Set a condition in place, keeping lastTransitionTime unless the status flips."""
    for cond in conditions:
        if cond.get("type") == type_:
            if cond.get("status") != status:
                cond["lastTransitionTime"] = now_stamp
            cond["status"] = status
            if update_time:
                cond["lastUpdateTime"] = now_stamp
            _reason_message(cond, reason, message)
            return
    new: dict[str, Any] = {"type": type_, "status": status}
    if probe_time:
        new["lastProbeTime"] = None
    if update_time:
        new["lastUpdateTime"] = now_stamp
    new["lastTransitionTime"] = now_stamp
    _reason_message(new, reason, message)
    conditions.append(new)


def _reason_message(cond: dict[str, Any], reason: str | None, message: str | None) -> None:
    if reason is None:
        cond.pop("reason", None)
    else:
        cond["reason"] = reason
    if message is None:
        cond.pop("message", None)
    else:
        cond["message"] = message


def write_status(ctx: Context, rtype: ResourceType, obj: Obj, status: dict[str, Any]) -> bool:
    """Store a new status if it differs; False when unchanged or the object is gone."""
    if obj.get("status") == status:
        return False
    meta = obj["metadata"]

    def change(current: Obj) -> None:
        current["status"] = status

    try:
        ctx.store.mutate(rtype, meta.get("namespace", ""), meta["name"], change)
    except NotFound:
        return False
    return True


def delete_pod(ctx: Context, pod: Obj, now: float, grace: int | None = None) -> bool:
    """Graceful deletion as the API server starts it: unbound pods go at once."""
    meta = pod["metadata"]
    namespace, name = meta.get("namespace", ""), meta["name"]
    if grace is None:
        grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)
    if not (pod.get("spec") or {}).get("nodeName") or grace <= 0:
        try:
            ctx.store.delete(PODS, namespace, name)
        except NotFound:
            return False
        ctx.logs.drop_pod(namespace, name)
        return True
    if meta.get("deletionTimestamp"):
        return False

    def mark(current: Obj) -> None:
        current["metadata"]["deletionTimestamp"] = ctx.stamp(now + grace)
        current["metadata"]["deletionGracePeriodSeconds"] = grace

    try:
        ctx.store.mutate(PODS, namespace, name, mark)
    except NotFound:
        return False
    return True
