"""PodDisruptionBudget arithmetic for pods/eviction, as the disruption controller counts."""

from __future__ import annotations

import math
from typing import Any

from kubesim.api.selectors import Requirement, label_selector_from_dict, matches_labels
from kubesim.store import PDBS, PODS, Store

Obj = dict[str, Any]


def is_ready(pod: Obj) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _scaled(value: Any, total: int) -> int:
    """An int-or-percent against a total, rounded up as the controller does."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def health(store: Store, pdb: Obj, selector: list[Requirement]) -> tuple[int, int]:
    """(currently healthy pods, pods the budget needs healthy)."""
    namespace = pdb["metadata"].get("namespace", "")
    pods = [
        p
        for p in store.iter_refs(PODS, namespace)
        if matches_labels(selector, p)
        and not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    healthy = sum(1 for p in pods if is_ready(p))
    spec = pdb.get("spec") or {}
    if "minAvailable" in spec:
        desired = _scaled(spec["minAvailable"], len(pods))
    elif "maxUnavailable" in spec:
        desired = max(0, len(pods) - _scaled(spec["maxUnavailable"], len(pods)))
    else:
        desired = 0
    return healthy, desired


def blocking_budget(store: Store, pod: Obj) -> tuple[str, int, int] | None:
    """The first budget this eviction would violate: (name, needed, healthy); None if none."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
        return None  # evicting a finished or terminating pod disrupts nothing
    for pdb in store.iter_refs(PDBS, pod["metadata"].get("namespace", "")):
        selector = label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
        if not selector or not matches_labels(selector, pod):
            continue
        healthy, desired = health(store, pdb, selector)
        if healthy - desired <= 0:
            return pdb["metadata"]["name"], desired, healthy
    return None
