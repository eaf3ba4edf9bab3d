"""Disruption controller: PodDisruptionBudget status (pkg/controller/disruption).

`disruptionsAllowed = currentHealthy - desiredHealthy` (never below 0), where currentHealthy
counts the selected pods that are Ready, and desiredHealthy comes from `minAvailable` or from
`expectedPods - maxUnavailable`. With `maxUnavailable` or a percentage, expectedPods is the
scale of the pods' controllers (a Deployment's or ReplicaSet's replicas), as upstream.
"""

from __future__ import annotations

import math
from typing import Any

from kubesim.controllers.base import (
    Context,
    controller_ref,
    is_terminating,
    pod_is_ready,
    selector_matches,
    set_condition,
    write_status,
)
from kubesim.store import DEPLOYMENTS, PDBS, PODS, REPLICASETS, Obj


def _scaled(value: Any, total: int) -> tuple[int, bool]:
    """An IntOrString against a total: (value, was a percentage); percentages round up."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(float(value[:-1]) * total / 100), True
    return int(value), False


class DisruptionController:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def next_due(self) -> float | None:
        return None

    def reconcile(self, now: float) -> bool:
        changed = False
        for pdb in list(self.ctx.store.iter_refs(PDBS)):
            changed |= self._sync(pdb, now)
        return changed

    def _expected(self, pods: list[Obj]) -> int:
        """The summed scale of the controllers of `pods` (each controller once)."""
        seen: set[str] = set()
        total = 0
        for pod in pods:
            ref = controller_ref(pod)
            namespace = pod["metadata"].get("namespace", "")
            if ref is None or ref.get("kind") != "ReplicaSet":
                total += 1
                continue
            rs = self.ctx.store.peek(REPLICASETS, namespace, str(ref.get("name")))
            if rs is None:
                total += 1
                continue
            owner = controller_ref(rs)
            scale_obj: Obj = rs
            if owner is not None and owner.get("kind") == "Deployment":
                deployment = self.ctx.store.peek(DEPLOYMENTS, namespace, str(owner.get("name")))
                if deployment is not None:
                    scale_obj = deployment
            uid = scale_obj["metadata"]["uid"]
            if uid in seen:
                continue
            seen.add(uid)
            replicas = (scale_obj.get("spec") or {}).get("replicas")
            total += 1 if replicas is None else int(replicas)
        return total

    def _sync(self, pdb: Obj, now: float) -> bool:
        spec = pdb.get("spec") or {}
        namespace = pdb["metadata"].get("namespace", "")
        selector = spec.get("selector")
        pods = [
            p
            for p in self.ctx.store.iter_refs(PODS, namespace)
            if selector_matches(selector, p["metadata"].get("labels"))
            and not is_terminating(p)
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        healthy = sum(1 for p in pods if pod_is_ready(p))
        if spec.get("maxUnavailable") is not None:
            expected = self._expected(pods)
            unavailable, _ = _scaled(spec["maxUnavailable"], expected)
            desired = max(expected - unavailable, 0)
        elif spec.get("minAvailable") is not None:
            value = spec["minAvailable"]
            if isinstance(value, str) and value.endswith("%"):
                expected = self._expected(pods)
                desired, _ = _scaled(value, expected)
            else:
                expected = len(pods)
                desired = int(value)
        else:
            expected, desired = len(pods), len(pods)  # no budget given: nothing may go
        allowed = max(healthy - desired, 0)
        old = pdb.get("status") or {}
        conditions = [dict(c) for c in old.get("conditions") or []]
        generation = pdb["metadata"].get("generation", 1)
        set_condition(
            conditions,
            "DisruptionAllowed",
            "True" if allowed > 0 else "False",
            self.ctx.stamp(now),
            "SufficientPods" if allowed > 0 else "InsufficientPods",
            "",
        )
        for cond in conditions:
            cond["observedGeneration"] = generation
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": conditions,
        }
        return write_status(self.ctx, PDBS, pdb, status)
