"""Garbage collector: dependents whose controlling owner is gone are deleted (background)."""

from __future__ import annotations

from kubesim.controllers.base import Context, controller_ref, delete_pod, is_terminating
from kubesim.store import DEPLOYMENTS, PODS, REPLICASETS, NotFound, Obj, ResourceType

_OWNER_TYPES: dict[str, ResourceType] = {"Deployment": DEPLOYMENTS, "ReplicaSet": REPLICASETS}


class GarbageCollector:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
        for pod in list(self.ctx.store.iter_refs(PODS)):
            if not is_terminating(pod) and not self._owner_exists(pod):
                changed |= delete_pod(self.ctx, pod, now)
        return changed
