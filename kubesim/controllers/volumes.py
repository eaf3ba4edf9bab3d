"""A minimal volume binder: claims bind to a dynamically provisioned volume at once.

A claim stays unbound (and its pods Pending with the scheduler's real message) when it asks
for it with the annotation `kubesim.io/unbound: "true"`, or names a storage class that the
simulated provisioner does not serve (`kubesim.io/no-provisioner` on the claim).
"""

from __future__ import annotations

from kubesim.controllers.base import Context, is_terminating
from kubesim.store import PVCS, NotFound, Obj


class VolumeBinder:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def next_due(self) -> float | None:
        return None

    def reconcile(self, now: float) -> bool:
        changed = False
        for pvc in list(self.ctx.store.iter_refs(PVCS)):
            status = pvc.get("status") or {}
            annotations = pvc["metadata"].get("annotations") or {}
            if status.get("phase") == "Bound" or is_terminating(pvc):
                continue
            if annotations.get("kubesim.io/unbound") == "true":
                if status.get("phase") != "Pending":
                    changed |= self._set(pvc, {"phase": "Pending"})
                continue
            size = (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
                "storage", "1Gi"
            )
            changed |= self._set(
                pvc,
                {
                    "phase": "Bound",
                    "accessModes": list(
                        (pvc.get("spec") or {}).get("accessModes") or ["ReadWriteOnce"]
                    ),
                    "capacity": {"storage": size},
                },
                volume=f"pvc-{pvc['metadata']['uid']}",
            )
        return changed

    def _set(self, pvc: Obj, status: dict[str, object], volume: str | None = None) -> bool:
        meta = pvc["metadata"]

        def change(current: Obj) -> None:
            current["status"] = status
            if volume:
                current.setdefault("spec", {})["volumeName"] = volume
                current["metadata"].setdefault("annotations", {})[
                    "pv.kubernetes.io/bind-completed"
                ] = "yes"

        try:
            self.ctx.store.mutate(PVCS, meta.get("namespace", ""), meta["name"], change)
        except NotFound:
            return False
        return True
