# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""DiskPressure on the simulated clock, through the official client: the kubelet's
`nodefs.available<10%` threshold against the node's ephemeral-storage capacity (100Gi by
default), with each pod's use from `kubesim.io/ephemeral-storage-usage`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from kubesim import KubeSim

NODE = "small"
USAGE = "kubesim.io/ephemeral-storage-usage"


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "scratch", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "scratch"}},
            "template": {
                "metadata": {"labels": {"app": "scratch"}, "annotations": {USAGE: "95Gi"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
            },
        },
    }


def _steady_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "steady", "namespace": "default", "annotations": {USAGE: "3Gi"}},
        "spec": {
            "containers": [
                {
                    "name": "steady",
                    "image": "nginx:1.25",
                    "resources": {"requests": {"ephemeral-storage": "5Gi"}},
                }
            ]
        },
    }


@pytest.fixture
def one_node() -> Iterator[tuple[KubeSim, client.ApiClient]]:
    with KubeSim(nodes=[{"name": NODE}], speed=0.0, port=0) as sim:
        api = config.new_client_from_config(str(sim.kubeconfig_path))
        try:
            yield sim, api
        finally:
            api.close()


def _disk_pressure(core: client.CoreV1Api) -> str:
    node = core.read_node(NODE)
    return next(c.status for c in node.status.conditions if c.type == "DiskPressure")


def _tainted(core: client.CoreV1Api) -> bool:
    taints = core.read_node(NODE).spec.taints or []
    return "node.kubernetes.io/disk-pressure" in [t.key for t in taints]


def test_disk_pressure_evicts_the_pod_over_its_budget(
    one_node: tuple[KubeSim, client.ApiClient],
) -> None:
    sim, api = one_node
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespaced_pod("default", _steady_pod())
    apps.create_namespaced_deployment("default", _deployment())

    evicted = None
    for _ in range(60):
        sim.advance(1)
        pods = core.list_namespaced_pod("default", label_selector="app=scratch").items
        evicted = next((p for p in pods if p.status.reason == "Evicted"), None)
        if evicted is not None:
            break
    assert evicted is not None, "the pod over its disk budget was never evicted"
    assert evicted.status.phase == "Failed"
    # 100Gi capacity: threshold int64(100Gi * float32(0.1)); 100Gi - 95Gi - 3Gi available
    assert evicted.status.message == (
        "The node was low on resource: ephemeral-storage. Threshold quantity: 10737418400, "
        "available: 2097152Ki. Container app was using 99614720Ki, request is 0, has larger "
        "consumption of ephemeral-storage. "
    )

    node = core.read_node(NODE)
    pressure = next(c for c in node.status.conditions if c.type == "DiskPressure")
    assert (pressure.status, pressure.reason, pressure.message) == (
        "True",
        "KubeletHasDiskPressure",
        "kubelet has disk pressure",
    )
    taints = [(t.key, t.effect) for t in node.spec.taints or []]
    assert ("node.kubernetes.io/disk-pressure", "NoSchedule") in taints
    reasons = {
        (e.reason, e.message)
        for e in core.list_namespaced_event("default").items
        if e.involved_object.kind == "Node"
    }
    assert ("EvictionThresholdMet", "Attempting to reclaim ephemeral-storage") in reasons

    # its ReplicaSet replaces it; the pod within its budget keeps running
    pods = core.list_namespaced_pod("default", label_selector="app=scratch").items
    replacements = [p for p in pods if p.metadata.name != evicted.metadata.name]
    assert len(replacements) == 1
    assert replacements[0].metadata.owner_references[0].kind == "ReplicaSet"
    assert replacements[0].status.phase == "Pending"  # the disk-pressure taint keeps it off
    steady = core.read_namespaced_pod("steady", "default")
    assert steady.status.phase == "Running"
    assert steady.status.reason is None

    # the next check finds the disk again: the condition and its taint clear
    for _ in range(15):
        sim.advance(1)
        if not _tainted(core) and _disk_pressure(core) == "False":
            break
    node = core.read_node(NODE)
    pressure = next(c for c in node.status.conditions if c.type == "DiskPressure")
    assert (pressure.status, pressure.reason, pressure.message) == (
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    )
    assert not _tainted(core)


def test_pods_within_the_disk_budget_are_not_evicted(
    one_node: tuple[KubeSim, client.ApiClient],
) -> None:
    sim, api = one_node
    core = client.CoreV1Api(api)
    core.create_namespaced_pod("default", _steady_pod())
    sim.advance(60)
    steady = core.read_namespaced_pod("steady", "default")
    assert steady.status.phase == "Running"
    assert _disk_pressure(core) == "False"
