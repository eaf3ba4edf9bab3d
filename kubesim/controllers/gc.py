"""Garbage collection: dependents whose controlling owner is gone (background propagation),
pods bound to nodes that no longer exist (PodGC), and events past their TTL."""

from __future__ import annotations

from kubesim.controllers.base import Context, controller_ref, delete_pod, is_terminating
from kubesim.store import (
    DAEMONSETS,
    DEPLOYMENTS,
    EVENTS,
    JOBS,
    NODES,
    PODS,
    REPLICASETS,
    STATEFULSETS,
    NotFound,
    Obj,
    ResourceType,
)

# The API server keeps events for an hour (--event-ttl); we sweep them once a minute.
EVENT_TTL = 3600.0
EVENT_SWEEP = 60.0

_OWNER_TYPES: dict[str, ResourceType] = {
    "Deployment": DEPLOYMENTS,
    "ReplicaSet": REPLICASETS,
    "StatefulSet": STATEFULSETS,
    "DaemonSet": DAEMONSETS,
}
_OWNER_TYPES["Job"] = JOBS


class GarbageCollector:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._swept = -1e18

    def next_due(self) -> float | None:
        return None

    def _owner_exists(self, obj: Obj) -> bool:
        ref = controller_ref(obj)
        if ref is None:
            return True
        rtype = _OWNER_TYPES.get(str(ref.get("kind")))
        if rtype is None:
            return True  # owners we do not simulate (Jobs, StatefulSets...) are assumed alive
        owner = self.ctx.store.peek(
            rtype, obj["metadata"].get("namespace", ""), str(ref.get("name"))
        )
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")

    def reconcile(self, now: float) -> bool:
        changed = False
        for rs in list(self.ctx.store.iter_refs(REPLICASETS)):
            if not self._owner_exists(rs):
                try:
                    self.ctx.store.delete(
                        REPLICASETS, rs["metadata"].get("namespace", ""), rs["metadata"]["name"]
                    )
                    changed = True
                except NotFound:
                    pass
        nodes = {n["metadata"]["name"] for n in self.ctx.store.iter_refs(NODES)}
        for pod in list(self.ctx.store.iter_refs(PODS)):
            node = (pod.get("spec") or {}).get("nodeName")
            if node and node not in nodes:
                # PodGC: a pod bound to a node that no longer exists is force-deleted.
                changed |= delete_pod(self.ctx, pod, now, grace=0)
            elif not is_terminating(pod) and not self._owner_exists(pod):
                changed |= delete_pod(self.ctx, pod, now)
        if now - self._swept >= EVENT_SWEEP:
            self._swept = now
            self._expire_events(now)
        return changed

    def _last_seen(self, event: Obj) -> float | None:
        series = event.get("series") or {}
        for stamp in (
            event.get("lastTimestamp"),
            series.get("lastObservedTime"),
            event.get("eventTime"),
            event["metadata"].get("creationTimestamp"),
        ):
            if stamp:
                seconds = self.ctx.seconds(str(stamp).split(".")[0].rstrip("Z") + "Z")
                if seconds is not None:
                    return seconds
        return None

    def _expire_events(self, now: float) -> None:
        """Events older than the TTL go, as etcd's lease on them runs out."""
        for event in list(self.ctx.store.iter_refs(EVENTS)):
            seen = self._last_seen(event)
            if seen is not None and now - seen > EVENT_TTL:
                try:
                    self.ctx.store.delete(
                        EVENTS, event["metadata"].get("namespace", ""), event["metadata"]["name"]
                    )
                except NotFound:
                    pass
