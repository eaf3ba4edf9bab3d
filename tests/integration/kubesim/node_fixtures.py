"""The recorded drain target (reference/kube-apiserver-1.28, "Additions"): node `rk-node-4`
tainted `rk/drain-test`, the DaemonSet `node-agent` that tolerates it, a bare pod
`drain-bare`, and `drain-guarded` whose PodDisruptionBudget allows no disruption."""

from __future__ import annotations

import copy
import json
from typing import Any

from kubesim import KubeSim
from kubesim.sim import node_object
from kubesim.store import NODES
from tests.integration.kubesim.apps_workloads import DAEMONSET
from tests.integration.kubesim.conftest import REFERENCE

NODE_RECORDINGS = {"cordon", "uncordon", "drain"}
DRAIN_NODE = "rk-node-4"


def bare_pod(name: str, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"app": name},
            "annotations": dict(annotations),
        },
        "spec": {
            "nodeName": DRAIN_NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "app", "image": "nginx:1.25"}],
        },
    }


GUARD: dict[str, Any] = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "drain-guarded", "namespace": "default"},
    "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "drain-guarded"}}},
}


def add_drain_node(sim: KubeSim) -> None:
    node = node_object(DRAIN_NODE, index=4, kube=sim.kube_version)
    node["spec"]["taints"] = [{"key": "rk/drain-test", "value": "true", "effect": "NoSchedule"}]
    sim.store.create(NODES, node)
    sim.settle()


def setup_drain(sim: KubeSim) -> None:
    """The drain target with its three pods running (the bare one ignores SIGTERM for its 1 s
    grace period, so it is still there right after its eviction, as the recording polled it)."""
    add_drain_node(sim)
    sim.apply(copy.deepcopy(DAEMONSET))
    sim.apply(
        [
            bare_pod("drain-bare", **{"kubesim.io/ignore-sigterm": "true"}),
            bare_pod("drain-guarded"),
            GUARD,
        ]
    )
    sim.advance(15)


def setup_nodes(name: str, sim: KubeSim) -> None:
    """What recording `name` needs of the node recordings (nothing for others)."""
    if name in ("cordon", "uncordon"):
        add_drain_node(sim)
        if name == "uncordon":  # recorded on the node the drain had cordoned
            sim.store.mutate(NODES, "", DRAIN_NODE, lambda n: n["spec"].update(unschedulable=True))
    elif name == "drain":
        setup_drain(sim)


def node_request_body(name: str, method: str, path: str) -> tuple[Any, str]:
    """The body kubectl sent with a request of the node recordings, and its content type."""
    if method == "PATCH":
        if name == "uncordon":
            return {"spec": {"unschedulable": None}}, "application/strategic-merge-patch+json"
        body = json.loads((REFERENCE / "kubectl" / "cordon.patch-body.json").read_text())
        return body, "application/strategic-merge-patch+json"
    if method == "POST" and path.endswith("/eviction"):
        body = json.loads((REFERENCE / "kubectl" / "drain.eviction-body.json").read_text())
        body["metadata"]["name"] = path.split("/")[-2]
        return body, "application/json"
    return None, ""
