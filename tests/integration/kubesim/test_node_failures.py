# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""Node failures on the simulated clock: a node whose kubelet stops (NotReady, the unreachable
taints, the taint manager's evictions after tolerationSeconds), memory pressure evictions, and
`kubectl cordon / uncordon / drain` as recorded (reference/kube-apiserver-1.28: `node-*`,
`kubectl/cordon.*`, `drain.*`)."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

from kubernetes import client

from kubesim import KubeSim
from kubesim.store import EVENTS, NODES, PDBS, PODS
from tests.integration.kubesim.conftest import KUBECTL, REFERENCE, Kubectl
from tests.integration.kubesim.node_fixtures import DRAIN_NODE, add_drain_node, setup_drain

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]},
        },
    },
}


def _ref(name: str) -> Any:
    return json.loads((REFERENCE / "responses" / name).read_text())


def _on(sim: KubeSim, node: str) -> list[dict[str, Any]]:
    return [p for p in sim.store.list(PODS, "default") if p["spec"].get("nodeName") == node]


def _taints(sim: KubeSim, node: str) -> list[tuple[str, str]]:
    spec = sim.store.get(NODES, "", node)["spec"]
    return [(t["key"], t["effect"]) for t in spec.get("taints") or []]


# -- NotReady ------------------------------------------------------------------------------------
def test_not_ready_node_is_tainted_and_its_pods_evicted_after_the_toleration(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    sim.apply(DEPLOYMENT)
    sim.advance(10)
    [victim] = _on(sim, "kubesim-node-1")
    assert {(t["key"], t.get("tolerationSeconds")) for t in victim["spec"]["tolerations"]} == {
        ("node.kubernetes.io/not-ready", 300),
        ("node.kubernetes.io/unreachable", 300),
    }
    sim.set_node_ready("kubesim-node-1", False)
    sim.advance(39)
    assert core.read_node("kubesim-node-1").status.conditions[-1].status == "True"  # grace
    sim.advance(1)
    node = sim.store.get(NODES, "", "kubesim-node-1")
    recorded = _ref("node-notready-tainted-get.json")
    conditions = zip(node["status"]["conditions"], recorded["status"]["conditions"], strict=True)
    for ours, theirs in conditions:
        assert list(ours) == list(theirs)
        assert {k: ours[k] for k in ("type", "status", "reason", "message")} == {
            k: theirs[k] for k in ("type", "status", "reason", "message")
        }
    assert [{k: t[k] for k in ("key", "effect")} for t in node["spec"]["taints"]] == [
        {k: t[k] for k in ("key", "effect")} for t in recorded["spec"]["taints"]
    ]
    assert all(t["timeAdded"] for t in node["spec"]["taints"])
    pod = sim.store.get(PODS, "default", victim["metadata"]["name"])
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    table = sim.store.get(NODES, "", "kubesim-node-1")
    assert table["status"]["conditions"][-1]["status"] == "Unknown"
    sim.advance(299)
    pod = sim.store.get(PODS, "default", victim["metadata"]["name"])
    assert not pod["metadata"].get("deletionTimestamp")  # not before tolerationSeconds
    sim.advance(1)
    pod = sim.store.get(PODS, "default", victim["metadata"]["name"])
    assert pod["metadata"]["deletionTimestamp"]  # stays Terminating: that kubelet is down
    disruption = next(c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert disruption["reason"] == "DeletionByTaintManager"
    [event] = [
        e for e in sim.store.list(EVENTS, "default") if e["reason"] == "TaintManagerEviction"
    ]
    assert event["message"] == f"Marking for deletion Pod default/{victim['metadata']['name']}"
    sim.advance(10)
    running = [
        p
        for p in sim.store.list(PODS, "default")
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(running) == 2 and {p["spec"]["nodeName"] for p in running} == {"kubesim-node-2"}
    sim.set_node_ready("kubesim-node-1", True)
    sim.advance(2)
    assert sim.store.find(PODS, "default", victim["metadata"]["name"]) is None
    assert _taints(sim, "kubesim-node-1") == []


def test_not_ready_through_the_annotation_and_kubectl_get_nodes(
    sim: KubeSim, kubectl: Kubectl
) -> None:
    kubectl("annotate", "node", "kubesim-node-2", "kubesim.io/node-ready=false")
    sim.advance(41)
    sim.reset_requests()
    lines = kubectl("get", "nodes").stdout.splitlines()
    assert lines[2].split()[:2] == ["kubesim-node-2", "NotReady"]
    requests = [f"{r.method} {r.path}?{r.query} {r.status}" for r in sim.requests]
    recorded = (REFERENCE / "kubectl" / "get-nodes.requests.txt").read_text().splitlines()
    assert [r for r in requests if "/nodes" in r] == recorded


# -- memory pressure -----------------------------------------------------------------------------
def test_memory_pressure_evicts_the_pod_most_over_its_request() -> None:
    with KubeSim(nodes=[{"name": "small", "memory": "1Gi"}]) as sim:
        greedy = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "cache",
                "namespace": "default",
                "annotations": {"kubesim.io/memory": "600Mi"},
            },
            "spec": {"containers": [{"name": "cache", "image": "redis:7.2"}]},
        }
        modest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "api",
                "namespace": "default",
                "annotations": {"kubesim.io/memory": "420Mi"},
            },
            "spec": {
                "containers": [
                    {
                        "name": "api",
                        "image": "nginx:1.25",
                        "resources": {"requests": {"memory": "400Mi"}},
                    }
                ]
            },
        }
        sim.apply([greedy, modest])
        for _ in range(60):
            if sim.store.get(PODS, "default", "cache")["status"].get("reason") == "Evicted":
                break
            sim.advance(1)
        evicted = sim.store.get(PODS, "default", "cache")["status"]
        assert evicted["phase"] == "Failed"
        assert evicted["message"].startswith(
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
        )
        assert evicted["message"].endswith(
            "Container cache was using 614400Ki, request is 0, has larger consumption of memory. "
        )
        assert ("node.kubernetes.io/memory-pressure", "NoSchedule") in _taints(sim, "small")
        assert sim.store.get(PODS, "default", "api")["status"]["phase"] == "Running"
        sim.advance(11)
        assert _taints(sim, "small") == []  # pressure relieved: the taint goes


# -- cordon / uncordon / drain -------------------------------------------------------------------
def test_cordon_and_uncordon_as_recorded(sim: KubeSim, kubectl: Kubectl) -> None:
    add_drain_node(sim)
    assert kubectl("cordon", DRAIN_NODE).stdout == f"node/{DRAIN_NODE} cordoned\n"
    node = sim.store.get(NODES, "", DRAIN_NODE)
    assert node["spec"]["unschedulable"] is True
    assert _taints(sim, DRAIN_NODE) == [
        ("rk/drain-test", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    assert "SchedulingDisabled" in kubectl("get", "node", DRAIN_NODE).stdout
    assert kubectl("uncordon", DRAIN_NODE).stdout == f"node/{DRAIN_NODE} uncordoned\n"
    assert "unschedulable" not in sim.store.get(NODES, "", DRAIN_NODE)["spec"]
    assert _taints(sim, DRAIN_NODE) == [("rk/drain-test", "NoSchedule")]


def _run_while_the_clock_moves(sim: KubeSim, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run kubectl while the simulated clock advances (graceful deletions finish)."""
    result: list[subprocess.CompletedProcess[str]] = []
    cmd = [KUBECTL, "--kubeconfig", str(sim.kubeconfig_path), *args]

    def run() -> None:
        result.append(subprocess.run(cmd, capture_output=True, text=True, timeout=60))

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        sim.advance(0.5, step=0.5)
        worker.join(timeout=0.1)
    return result[0]


def test_drain_is_refused_by_the_budget_then_succeeds(sim: KubeSim) -> None:
    setup_drain(sim)
    args = ["drain", DRAIN_NODE, "--ignore-daemonsets", "--delete-emptydir-data", "--force"]
    refused = _run_while_the_clock_moves(sim, [*args, "--timeout=6s"])
    assert refused.returncode == 1
    recorded = (REFERENCE / "kubectl" / "drain.stderr.txt").read_text().splitlines()
    daemon = next(p for p in _on(sim, DRAIN_NODE) if p["metadata"]["name"].startswith("node-agent"))
    ours = refused.stderr.replace(daemon["metadata"]["name"], "node-agent-tvvqq")
    ours = ours.replace("6s", "20s")
    lines = ours.splitlines()
    # kubectl joins the warning's parts in map order: compare them as a set
    assert set(lines[0].removeprefix("Warning: ").split("; ")) == set(
        recorded[0].removeprefix("Warning: ").split("; ")
    )
    assert recorded[1] in lines
    assert lines[-1] == recorded[-1]
    for line in recorded[-7:-1]:
        assert line in lines
    assert sim.store.find(PODS, "default", "drain-bare") is None
    assert sim.store.get(NODES, "", DRAIN_NODE)["spec"]["unschedulable"] is True
    sim.store.delete(PDBS, "default", "drain-guarded")
    drained = _run_while_the_clock_moves(sim, [*args, "--timeout=20s"])
    assert drained.returncode == 0, drained.stderr
    assert "pod/drain-guarded evicted" in drained.stdout
    assert drained.stdout.endswith(f"node/{DRAIN_NODE} drained\n")
    assert [p["metadata"]["name"] for p in _on(sim, DRAIN_NODE)] == [daemon["metadata"]["name"]]
