"""ReplicaSet controller: keep `spec.replicas` active pods, replace lost ones, report status."""

from __future__ import annotations

import copy
from typing import Any

from kubesim.controllers import events
from kubesim.controllers.base import (
    Context,
    delete_pod,
    is_terminating,
    owned_by,
    owner_reference,
    pod_is_active,
    pod_is_available,
    pod_is_ready,
    write_status,
)
from kubesim.store import PODS, REPLICASETS, AlreadyExists, Obj

try:  # the API server's defaulting, so controller-made pods look like client-made ones
    from kubesim.api.defaults import apply_defaults, initial_status
except ImportError:  # pragma: no cover - the API package is optional for the controllers
    apply_defaults = None  # type: ignore[assignment]
    initial_status = None  # type: ignore[assignment]

BURST = 500  # the real controller creates at most this many pods per sync


def _phase_rank(pod: Obj) -> int:
    return {"Pending": 0, "Unknown": 1, "Running": 2}.get(
        (pod.get("status") or {}).get("phase", ""), 0
    )


def _restarts(pod: Obj) -> int:
    return sum(
        int(cs.get("restartCount", 0))
        for cs in (pod.get("status") or {}).get("containerStatuses") or []
    )


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """Which pods go first when scaling down (controller.ActivePods ordering)."""

    def rank(pod: Obj) -> tuple[Any, ...]:
        return (
            1 if (pod.get("spec") or {}).get("nodeName") else 0,  # unscheduled first
            _phase_rank(pod),  # pending < unknown < running
            1 if pod_is_ready(pod) else 0,  # not ready first
            -_restarts(pod),  # more restarts first
            # newer first: creationTimestamp descending
            tuple(-ord(c) for c in pod["metadata"].get("creationTimestamp", "")),
        )

    return sorted(pods, key=rank)


class ReplicaSetController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def next_due(self) -> float | None:
        return None  # minReadySeconds timers are picked up on the kubelet's ticks

    def reconcile(self, now: float) -> bool:
        changed = False
        pods_by_ns: dict[str, list[Obj]] = {}
        for pod in self.ctx.store.iter_refs(PODS):
            pods_by_ns.setdefault(pod["metadata"].get("namespace", ""), []).append(pod)
        for rs in list(self.ctx.store.iter_refs(REPLICASETS)):
            if is_terminating(rs):
                continue
            namespace = rs["metadata"].get("namespace", "")
            owned = [p for p in pods_by_ns.get(namespace, []) if owned_by(p, rs)]
            changed |= self._sync(rs, owned, now)
        return changed

    def _sync(self, rs: Obj, owned: list[Obj], now: float) -> bool:
        spec = rs.get("spec") or {}
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        active = [p for p in owned if pod_is_active(p)]
        changed = False
        diff = len(active) - desired
        if diff < 0:
            for _ in range(min(-diff, BURST)):
                pod = self._create_pod(rs, now)
                if pod is not None:
                    active.append(pod)
                    changed = True
        elif diff > 0:
            doomed = deletion_order(active)[:diff]
            for pod in doomed:
                if delete_pod(self.ctx, pod, now):
                    self.ctx.events.emit(
                        rs,
                        "Normal",
                        "SuccessfulDelete",
                        f"Deleted pod: {pod['metadata']['name']}",
                        events.REPLICASET,
                        now,
                    )
                    changed = True
            gone = {p["metadata"]["uid"] for p in doomed}
            active = [p for p in active if p["metadata"]["uid"] not in gone]
        changed |= self._status(rs, active, now)
        return changed

    def _create_pod(self, rs: Obj, now: float) -> Obj | None:
        template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        name = f"{rs['metadata']['name']}-{self.ctx.random_suffix()}"
        meta: dict[str, Any] = {
            "name": name,
            "generateName": f"{rs['metadata']['name']}-",
            "namespace": rs["metadata"].get("namespace", "default"),
            "labels": dict(tmeta.get("labels") or {}),
            "ownerReferences": [owner_reference(rs)],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": template.get("spec") or {},
        }
        if apply_defaults is not None and initial_status is not None:
            apply_defaults("Pod", pod, self.ctx.kube)
            pod["status"] = initial_status("Pod", pod) or {"phase": "Pending"}
        else:
            pod["status"] = {"phase": "Pending"}
        try:
            created = self.ctx.store.create(PODS, pod)
        except AlreadyExists:
            return None  # a name clash: the next pass tries another suffix
        self.ctx.events.emit(
            rs, "Normal", "SuccessfulCreate", f"Created pod: {name}", events.REPLICASET, now
        )
        return created

    def _status(self, rs: Obj, active: list[Obj], now: float) -> bool:
        spec = rs.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        ready = sum(1 for p in active if pod_is_ready(p))
        available = sum(1 for p in active if pod_is_available(self.ctx, p, min_ready, now))
        fully = sum(
            1
            for p in active
            if all(
                (p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items()
            )
        )
        status: dict[str, Any] = {"replicas": len(active)}
        if fully:
            status["fullyLabeledReplicas"] = fully
        if ready:
            status["readyReplicas"] = ready
        if available:
            status["availableReplicas"] = available
        status["observedGeneration"] = rs["metadata"].get("generation", 1)
        old = rs.get("status") or {}
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        return write_status(self.ctx, REPLICASETS, rs, status)
