"""StatefulSets and DaemonSets: the ordinal that holds a rollout and the nodes a DaemonSet's
pods are missing on, through a real MCP client session against kubesim (the workload is read
with the pod, docs/mcp-server.md). Every plan here is read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from kubesim import KubeSim
from kubesim.store import NODES
from tests.integration.mcp.conftest import call, make_state, run_session, writes
from tests.integration.mcp.test_pod_kinds import _diagnose_and_plan, _named, _types


@pytest.fixture
def three_nodes() -> Iterator[KubeSim]:
    with KubeSim(nodes=["node-a", "node-b", "node-c"]) as cluster:
        yield cluster


def test_daemonset_pods_missing_on_a_tainted_node_and_a_full_one(
    three_nodes: KubeSim, tmp_path: Path
) -> None:
    sim = three_nodes

    def taint(obj: dict[str, Any]) -> None:
        obj["spec"]["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]

    sim.store.mutate(NODES, "", "node-c", taint)
    sim.apply("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: big, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-b}
      containers:
      - {name: big, image: nginx:1.25, resources: {requests: {cpu: "3500m"}}}
""")
    sim.advance(20)
    sim.apply("""
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - {name: agent, image: nginx:1.25, resources: {requests: {cpu: "1"}}}
""")
    sim.advance(60)
    pending = [p for p in _named(sim, "agent-") if p["status"].get("phase") == "Pending"]
    assert pending, [
        (p["metadata"]["name"], p["status"].get("phase")) for p in _named(sim, "agent-")
    ]
    name = pending[0]["metadata"]["name"]
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()
    try:

        async def body(session: ClientSession) -> None:
            diagnosis, plan = await _diagnose_and_plan(session, sim, name)
            assert "DaemonSetPodsMissing" in _types(diagnosis)
            ds = diagnosis["daemonset"]
            assert ds["desired"] == 2 and ds["ready"] == 1
            gaps = {g["node"]: g["reason"] for g in ds["nodes_without_pod"]}
            assert "dedicated=gpu:NoSchedule not tolerated" in gaps["node-c"]
            assert "Insufficient cpu" in gaps["node-b"]

        run_session(state, body)
    finally:
        state.close()


DB = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - {name: db, image: nginx:1.25}
"""


def test_statefulset_rollout_stuck_at_the_ordinal_that_cannot_pull(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(DB)
    sim.advance(90)
    assert len(_named(sim, "db-")) == 3
    sim.apply(DB.replace("nginx:1.25", "nginx:no-such-tag-404"))
    sim.advance(120)
    stuck = [
        p
        for p in _named(sim, "db-")
        if any(
            (cs.get("state") or {}).get("waiting", {}).get("reason")
            in ("ImagePullBackOff", "ErrImagePull")
            for cs in p["status"].get("containerStatuses") or []
        )
    ]
    assert [p["metadata"]["name"] for p in stuck] == ["db-2"]
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()
    try:

        async def body(session: ClientSession) -> None:
            diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name="db-2")
            assert diagnosis["api_requests"] <= 5
            assert "StatefulSetRolloutStuck" in _types(diagnosis)
            sts = diagnosis["statefulset"]
            assert sts["stuck"] is True and sts["pod_ordinal"] == 2
            assert sts["current_revision"] != sts["update_revision"]
            assert sts["pod_revision"] == sts["update_revision"]
            assert "ImagePullBackOff" in sts["why"] or "ErrImagePull" in sts["why"]
            stuck_issue = next(
                i for i in diagnosis["issues"] if i["type"] == "StatefulSetRolloutStuck"
            )
            assert "ordinal 2" in stuck_issue["message"]
            assert any(
                "kubectl rollout undo statefulset/db" in r for r in diagnosis["recommendations"]
            )

        run_session(state, body)
        assert not writes(sim)
    finally:
        state.close()
