"""An in-process cluster for controller tests: the real Store, a manual SimClock, the
ControllerManager, and the API server's defaulting (what `kubectl apply` would store)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubesim.api.defaults import apply_defaults, initial_status
from kubesim.clock import SimClock
from kubesim.controllers import ControllerManager
from kubesim.logs import LogStore
from kubesim.store import (
    CONFIGMAPS,
    DEPLOYMENTS,
    EVENTS,
    NODES,
    PDBS,
    PODS,
    PVCS,
    REPLICASETS,
    SECRETS,
    Obj,
    ResourceType,
    Store,
)

KINDS: dict[str, ResourceType] = {
    "Pod": PODS,
    "Deployment": DEPLOYMENTS,
    "ReplicaSet": REPLICASETS,
    "ConfigMap": CONFIGMAPS,
    "Secret": SECRETS,
    "PersistentVolumeClaim": PVCS,
    "PodDisruptionBudget": PDBS,
}
EPOCH = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def node(name: str, cpu: str = "4", memory: str = "8Gi", index: int = 1, **spec: Any) -> Obj:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": dict(spec),
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "addresses": [{"type": "InternalIP", "address": f"172.18.0.{index + 1}"}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


@dataclass
class Cluster:
    nodes: int = 2
    clock: SimClock = field(default_factory=lambda: SimClock(start=EPOCH))
    store: Store = field(init=False)
    logs: LogStore = field(default_factory=LogStore)
    manager: ControllerManager = field(init=False)

    def __post_init__(self) -> None:
        self.store = Store(self.clock)
        self.manager = ControllerManager(self.store, self.clock, self.logs, seed=7)
        for i in range(1, self.nodes + 1):
            self.store.create(NODES, node(f"kubesim-node-{i}", index=i))

    # -- writes, as the API server would store them ---------------------------------------
    def create(self, obj: Obj, settle: bool = True) -> Obj:
        obj = copy.deepcopy(obj)
        kind = obj["kind"]
        obj.setdefault("metadata", {}).setdefault("namespace", "default")
        apply_defaults(kind, obj)
        status = initial_status(kind, obj)
        if status is not None:
            obj["status"] = status
        created = self.store.create(KINDS[kind], obj)
        if settle:
            self.settle()
        return created

    def update(self, kind: str, name: str, change: Any, namespace: str = "default") -> Obj:
        def apply(obj: Obj) -> None:
            change(obj)
            apply_defaults(kind, obj)

        updated = self.store.mutate(KINDS[kind], namespace, name, apply)
        self.settle()
        return updated

    def delete_pod(self, name: str, namespace: str = "default") -> None:
        """`kubectl delete pod`: graceful deletion, as the API server starts it."""
        pod = self.pod(name, namespace)
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30)

        def mark(obj: Obj) -> None:
            obj["metadata"]["deletionTimestamp"] = self.clock.rfc3339(self.clock.seconds() + grace)
            obj["metadata"]["deletionGracePeriodSeconds"] = grace

        self.store.mutate(PODS, namespace, name, mark)
        self.settle()

    # -- time -----------------------------------------------------------------------------
    def settle(self) -> None:
        self.manager.reconcile()

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Like KubeSim.advance: the clock moves in steps, controllers reconcile after each."""
        remaining = seconds
        self.settle()
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(delta)
            remaining -= delta
            self.settle()

    # -- reads ----------------------------------------------------------------------------
    def pod(self, name: str, namespace: str = "default") -> Obj:
        return self.store.get(PODS, namespace, name)

    def pods(self, prefix: str = "", namespace: str = "default") -> list[Obj]:
        return [
            p for p in self.store.list(PODS, namespace) if p["metadata"]["name"].startswith(prefix)
        ]

    def deployment(self, name: str, namespace: str = "default") -> Obj:
        return self.store.get(DEPLOYMENTS, namespace, name)

    def replicasets(self, prefix: str = "", namespace: str = "default") -> list[Obj]:
        return [
            r
            for r in self.store.list(REPLICASETS, namespace)
            if r["metadata"]["name"].startswith(prefix)
        ]

    def events(self, name: str | None = None, reason: str | None = None) -> list[Obj]:
        return [
            e
            for e in self.store.list(EVENTS)
            if (name is None or e["involvedObject"]["name"] == name)
            and (reason is None or e["reason"] == reason)
        ]


def container_status(pod: Obj, index: int = 0) -> Obj:
    status = sorted(pod["status"]["containerStatuses"], key=lambda s: s["name"])[index]
    assert isinstance(status, dict)
    return status


def waiting_reason(pod: Obj) -> str | None:
    state = container_status(pod)["state"]
    return (state.get("waiting") or {}).get("reason")


def deployment_manifest(name: str, image: str, replicas: int = 3, **template_meta: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, **template_meta},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def pod_manifest(name: str, container: Obj, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [container], **spec},
    }
