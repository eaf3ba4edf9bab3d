"""metrics.k8s.io NodeMetrics, summed from the PodMetrics the kubelet keeps (as metrics-server
would report a node's usage from its pods' cgroups; system overhead is left out)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubesim.clock import SimClock
from kubesim.store import NODES, POD_METRICS, PODS, ResourceType, Store

NODE_METRICS = ResourceType(
    "metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, verbs=("get", "list")
)
Obj = dict[str, Any]
_SUFFIX = {
    "n": Decimal(10) ** -9,
    "u": Decimal(10) ** -6,
    "m": Decimal(10) ** -3,
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
}


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("250m", "7200Ki", "1.5Gi") as a number."""
    text = str(text).strip()
    for suffix in ("Ki", "Mi", "Gi", "Ti", "n", "u", "m", "k", "M", "G", "T"):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIX[suffix]
    return Decimal(text or "0")


def node_metrics(store: Store, clock: SimClock, name: str | None = None) -> list[Obj]:
    usage: dict[str, tuple[Decimal, Decimal]] = {}
    placement = {
        (p["metadata"].get("namespace", ""), p["metadata"]["name"]): (p.get("spec") or {}).get(
            "nodeName"
        )
        for p in store.iter_refs(PODS)
    }
    for pm in store.iter_refs(POD_METRICS):
        node = placement.get((pm["metadata"].get("namespace", ""), pm["metadata"]["name"]))
        if not node:
            continue
        cpu, memory = usage.get(node, (Decimal(0), Decimal(0)))
        for container in pm.get("containers") or []:
            u = container.get("usage") or {}
            cpu += parse_quantity(u.get("cpu", "0"))
            memory += parse_quantity(u.get("memory", "0"))
        usage[node] = (cpu, memory)
    now = clock.rfc3339()
    out: list[Obj] = []
    for node in store.iter_refs(NODES):
        node_name = node["metadata"]["name"]
        if name is not None and node_name != name:
            continue
        cpu, memory = usage.get(node_name, (Decimal(0), Decimal(0)))
        out.append(
            {
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {
                    "name": node_name,
                    "creationTimestamp": now,
                    "labels": dict(node["metadata"].get("labels") or {}),
                },
                "timestamp": now,
                "window": "20s",
                "usage": {"cpu": f"{int(cpu * 10**9)}n", "memory": f"{int(memory / 1024)}Ki"},
            }
        )
    return sorted(out, key=lambda o: o["metadata"]["name"])
