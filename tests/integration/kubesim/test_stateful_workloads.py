# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""StatefulSets, DaemonSets and ControllerRevisions through the official client and kubectl,
on the simulated clock, against what the 1.28 recordings show."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from kubernetes import client

from kubesim import KubeSim
from kubesim.store import CONTROLLERREVISIONS, DAEMONSETS, EVENTS, NODES, PODS, PVCS, STATEFULSETS
from tests.integration.kubesim.apps_workloads import DAEMONSET, STATEFULSET, with_image
from tests.integration.kubesim.conftest import REFERENCE, Kubectl

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _ref(name: str) -> Any:
    return json.loads((REFERENCE / "responses" / name).read_text())


def _until(sim: KubeSim, done: Callable[[], bool], limit: float = 120) -> float:
    """Advance the simulated clock second by second until `done()`; the seconds it took."""
    waited = 0.0
    while not done():
        assert waited < limit, "condition not reached on the simulated clock"
        sim.advance(1)
        waited += 1
    return waited


def _pods(sim: KubeSim, prefix: str) -> dict[str, dict[str, Any]]:
    return {
        p["metadata"]["name"]: p
        for p in sim.store.list(PODS, "default")
        if p["metadata"]["name"].startswith(prefix)
    }


def _ready(pod: dict[str, Any] | None) -> bool:
    return pod is not None and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _sts_status(sim: KubeSim) -> dict[str, Any]:
    return dict(sim.store.get(STATEFULSETS, "default", "db")["status"])


def _settled(sim: KubeSim) -> Callable[[], bool]:
    def done() -> bool:
        status = _sts_status(sim)
        return (
            status.get("readyReplicas") == 2
            and status.get("updatedReplicas") == 2
            and status.get("currentRevision") == status.get("updateRevision")
        )

    return done


# -- StatefulSets ------------------------------------------------------------------------
def test_ordered_creation_waits_for_each_pod_to_be_ready(
    sim: KubeSim, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    created = apps.create_namespaced_stateful_set("default", copy.deepcopy(STATEFULSET))
    assert created.spec.pod_management_policy == "OrderedReady"
    assert created.spec.update_strategy.rolling_update.partition == 0
    assert created.spec.revision_history_limit == 10
    assert created.spec.volume_claim_templates[0].spec.volume_mode == "Filesystem"
    seen_db1_before_db0_ready = False
    for _ in range(60):
        pods = _pods(sim, "db-")
        if "db-1" in pods and not _ready(pods.get("db-0")):
            seen_db1_before_db0_ready = True
        if _ready(pods.get("db-1")):
            break
        sim.advance(1)
    assert not seen_db1_before_db0_ready
    db0 = core.read_namespaced_pod("db-0", "default")
    labels = db0.metadata.labels
    assert labels["statefulset.kubernetes.io/pod-name"] == "db-0"
    assert labels["apps.kubernetes.io/pod-index"] == "0"
    # the recorded template hashes to the recorded revision name
    assert labels["controller-revision-hash"] == "db-d5457c6b8"
    assert (db0.spec.hostname, db0.spec.subdomain) == ("db-0", "db")
    assert db0.spec.volumes[0].persistent_volume_claim.claim_name == "data-db-0"
    assert db0.metadata.owner_references[0].kind == "StatefulSet"
    status = _sts_status(sim)
    recorded = _ref("statefulset-db-get.json")["status"]
    assert list(status) == list(recorded)
    assert status == recorded
    messages = [
        e.message
        for e in core.list_namespaced_event(
            "default", field_selector="involvedObject.kind=StatefulSet"
        ).items
    ]
    assert messages == [
        "create Claim data-db-0 Pod db-0 in StatefulSet db success",
        "create Pod db-0 in StatefulSet db successful",
        "create Claim data-db-1 Pod db-1 in StatefulSet db success",
        "create Pod db-1 in StatefulSet db successful",
    ]


def test_parallel_creates_every_pod_at_once(sim: KubeSim) -> None:
    manifest = copy.deepcopy(STATEFULSET)
    manifest["spec"]["podManagementPolicy"] = "Parallel"
    manifest["spec"]["replicas"] = 3
    sim.apply(manifest)
    assert set(_pods(sim, "db-")) == {"db-0", "db-1", "db-2"}


def test_deleted_pod_comes_back_with_its_name_and_claim(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    sim.apply(STATEFULSET)
    _until(sim, _settled(sim))
    old_uid = core.read_namespaced_pod("db-0", "default").metadata.uid
    claim_uid = core.read_namespaced_persistent_volume_claim("data-db-0", "default").metadata.uid
    core.delete_namespaced_pod("db-0", "default")
    _until(
        sim,
        lambda: (
            _ready(_pods(sim, "db-").get("db-0"))
            and _pods(sim, "db-")["db-0"]["metadata"]["uid"] != old_uid
        ),
    )
    again = core.read_namespaced_pod("db-0", "default")
    assert again.metadata.uid != old_uid
    assert again.spec.volumes[0].persistent_volume_claim.claim_name == "data-db-0"
    claim = core.read_namespaced_persistent_volume_claim("data-db-0", "default")
    assert claim.metadata.uid == claim_uid  # the claim outlives its pod


def test_claims_from_templates_and_an_unbound_claim_blocks_the_set(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    sim.apply(STATEFULSET)
    _until(sim, _settled(sim))
    claims = {
        c.metadata.name: c for c in core.list_namespaced_persistent_volume_claim("default").items
    }
    assert set(claims) == {"data-db-0", "data-db-1"}
    recorded = _ref("pvc-bound-get.json")
    for claim in claims.values():
        assert claim.metadata.labels == recorded["metadata"]["labels"]
        assert claim.spec.volume_mode == "Filesystem"
        assert claim.status.phase == "Bound"
    # the recorded `cache`: a claim that stays Pending keeps cache-0 unschedulable, cache-1 unmade
    cache = copy.deepcopy(STATEFULSET)
    cache["metadata"]["name"] = "cache"
    cache["spec"]["selector"] = {"matchLabels": {"app": "cache"}}
    cache["spec"]["template"]["metadata"]["labels"] = {"app": "cache"}
    cache["spec"]["serviceName"] = "cache"
    # the recorded class `rk-fast` has a provisioner that does not exist: nothing binds it
    cache["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = "rk-fast"
    cache["spec"]["volumeClaimTemplates"][0]["metadata"]["annotations"] = {
        "kubesim.io/unbound": "true"
    }
    sim.apply(cache)
    sim.advance(30)
    pods = _pods(sim, "cache-")
    assert set(pods) == {"cache-0"}
    condition = pods["cache-0"]["status"]["conditions"][0]
    recorded_pod = _ref("pod-statefulset-unschedulable-unbound-pvc-get.json")
    expected = dict(recorded_pod["status"]["conditions"][0])
    assert (condition["reason"], condition["message"]) == (expected["reason"], expected["message"])
    status = dict(sim.store.get(STATEFULSETS, "default", "cache")["status"])
    recorded_status = _ref("statefulset-cache-pvc-pending-get.json")["status"]
    assert status.keys() == recorded_status.keys()
    assert {k: v for k, v in status.items() if "Revision" not in k} == {
        k: v for k, v in recorded_status.items() if "Revision" not in k
    }


def test_rolling_update_goes_from_the_highest_ordinal_down(
    sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api
) -> None:
    sim.apply(STATEFULSET)
    _until(sim, _settled(sim))
    kubectl("set", "image", "statefulset/db", "nginx=nginx:1.26")
    order: list[str] = []
    for _ in range(120):
        for name, pod in _pods(sim, "db-").items():
            image = pod["spec"]["containers"][0]["image"]
            if image == "nginx:1.26" and name not in order:
                order.append(name)
        if _settled(sim)():
            break
        sim.advance(1)
    assert order == ["db-1", "db-0"]
    status = _sts_status(sim)
    recorded = _ref("statefulset-db-after-image-change-get.json")["status"]
    assert status == recorded  # db-78774d4f87, as the recorded cluster named it
    deletes = [
        e.message
        for e in core.list_namespaced_event("default").items
        if e.reason == "SuccessfulDelete"
    ]
    assert deletes == [
        "delete Pod db-1 in StatefulSet db successful",
        "delete Pod db-0 in StatefulSet db successful",
    ]
    rollout = kubectl("rollout", "status", "statefulset/db", "--timeout=10s").stdout
    # kubectl's words for a set with a partition (0 is still one)
    assert rollout == "partitioned roll out complete: 2 new pods have been updated...\n"


def test_partition_holds_lower_ordinals_and_on_delete_waits(sim: KubeSim) -> None:
    manifest = copy.deepcopy(STATEFULSET)
    manifest["spec"]["replicas"] = 3
    manifest["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 2},
    }
    sim.apply(manifest)
    _until(sim, lambda: _sts_status(sim).get("readyReplicas") == 3)
    sim.apply(with_image(manifest, "nginx:1.26"))
    sim.advance(60)
    images = {n: p["spec"]["containers"][0]["image"] for n, p in _pods(sim, "db-").items()}
    assert images == {"db-0": "nginx:1.25", "db-1": "nginx:1.25", "db-2": "nginx:1.26"}
    status = _sts_status(sim)
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)
    assert status["currentRevision"] != status["updateRevision"]
    # OnDelete: nothing moves until a pod is deleted
    on_delete = with_image(manifest, "nginx:1.27")
    on_delete["spec"]["updateStrategy"] = {"type": "OnDelete"}
    sim.apply(on_delete)
    sim.advance(60)
    assert {p["spec"]["containers"][0]["image"] for p in _pods(sim, "db-").values()} == {
        "nginx:1.25",
        "nginx:1.26",
    }
    sim.store.delete(PODS, "default", "db-0")
    sim.advance(60)
    assert _pods(sim, "db-")["db-0"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_scale_down_removes_the_highest_ordinal_first(sim: KubeSim, apps: client.AppsV1Api) -> None:
    manifest = copy.deepcopy(STATEFULSET)
    manifest["spec"]["replicas"] = 3
    sim.apply(manifest)
    _until(sim, lambda: _sts_status(sim).get("readyReplicas") == 3)
    apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 1}})
    _until(sim, lambda: set(_pods(sim, "db-")) == {"db-0"})
    deletes = sorted(
        (e for e in sim.store.list(EVENTS, "default") if e["reason"] == "SuccessfulDelete"),
        key=lambda e: int(e["metadata"]["resourceVersion"]),
    )
    assert [e["message"] for e in deletes] == [
        "delete Pod db-2 in StatefulSet db successful",
        "delete Pod db-1 in StatefulSet db successful",
    ]
    assert sim.store.find(PVCS, "default", "data-db-2") is not None  # whenScaled: Retain


def test_rollout_undo_restores_the_previous_template_and_renumbers_it(
    sim: KubeSim, kubectl: Kubectl
) -> None:
    sim.apply(STATEFULSET)
    _until(sim, _settled(sim))
    sim.apply(with_image(STATEFULSET, "nginx:1.26"))
    sim.advance(2)
    _until(sim, _settled(sim))
    history = kubectl("rollout", "history", "statefulset/db").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    shown = kubectl("rollout", "history", "statefulset/db", "--revision=1").stdout
    assert "nginx:1.25" in shown
    sim.reset_requests()
    out = kubectl("rollout", "undo", "statefulset/db")
    assert "rolled back" in out.stdout
    patch = next(r for r in sim.requests if r.method == "PATCH")
    assert patch.resource == "statefulsets"
    sim.advance(2)
    _until(sim, _settled(sim))
    assert {p["spec"]["containers"][0]["image"] for p in _pods(sim, "db-").values()} == {
        "nginx:1.25"
    }
    revisions = {
        r["metadata"]["name"]: r["revision"] for r in sim.store.list(CONTROLLERREVISIONS, "default")
    }
    recorded = {
        r["metadata"]["name"]: r["revision"]
        for r in _ref("controllerrevisions-after-undo-list.json")["items"]
        if r["metadata"]["name"].startswith("db-")
    }
    assert revisions == recorded  # no new revision: the old one is revision 3 now
    assert _sts_status(sim) == _ref("statefulset-db-after-undo-get.json")["status"]
    listed = kubectl("rollout", "history", "statefulset/db").stdout
    assert [line.split()[0] for line in listed.splitlines()[2:] if line.strip()] == ["2", "3"]


def test_describe_and_tables(sim: KubeSim, kubectl: Kubectl, http: httpx.Client) -> None:
    sim.apply(STATEFULSET)
    sim.apply(DAEMONSET)
    _until(sim, _settled(sim))
    described = kubectl("describe", "statefulset", "db").stdout
    assert "Pods Status:" in described and "2 Running" in described
    assert "create Pod db-1 in StatefulSet db successful" in described
    assert "Volume Claims:" in described
    assert "Desired Number of Nodes Scheduled: 2" in kubectl("describe", "ds", "node-agent").stdout
    for plural, ref in (
        ("statefulsets", "statefulsets-table.json"),
        ("daemonsets", "daemonsets-table.json"),
        ("controllerrevisions", "controllerrevisions-table.json"),
    ):
        ours = http.get(f"/apis/apps/v1/namespaces/default/{plural}", headers={"Accept": TABLE})
        theirs = _ref(ref)
        assert [
            (c["name"], c["type"], c["format"], c["priority"], c["description"])
            for c in ours.json()["columnDefinitions"]
        ] == [
            (c["name"], c["type"], c["format"], c["priority"], c["description"])
            for c in theirs["columnDefinitions"]
        ]
        rows = ours.json()["rows"]
        assert rows and [type(c) for c in rows[0]["cells"]] == [
            type(c) for c in theirs["rows"][0]["cells"]
        ]
    sts_row = http.get("/apis/apps/v1/namespaces/default/statefulsets", headers={"Accept": TABLE})
    assert sts_row.json()["rows"][0]["cells"][1:2] == ["2/2"]
    cr_rows = http.get(
        "/apis/apps/v1/namespaces/default/controllerrevisions", headers={"Accept": TABLE}
    ).json()["rows"]
    assert ["db-d5457c6b8", "statefulset.apps/db", 1] in [r["cells"][:3] for r in cr_rows]
    assert kubectl("get", "statefulsets").stdout.splitlines()[1].split()[:2] == ["db", "2/2"]


# -- DaemonSets --------------------------------------------------------------------------
def _taint(sim: KubeSim, node: str, key: str, effect: str = "NoSchedule") -> None:
    def change(obj: dict[str, Any]) -> None:
        obj.setdefault("spec", {}).setdefault("taints", []).append({"key": key, "effect": effect})

    sim.store.mutate(NODES, "", node, change)


@pytest.fixture
def three_nodes() -> Any:
    with KubeSim(nodes=["rk-node-1", "rk-node-2", "rk-node-3"]) as running:
        yield running


def test_one_pod_per_node_and_a_tainted_node_only_when_tolerated(
    three_nodes: KubeSim,
) -> None:
    sim = three_nodes
    _taint(sim, "rk-node-3", "dedicated")
    untolerating = copy.deepcopy(DAEMONSET)
    untolerating["spec"]["template"]["spec"].pop("tolerations")
    sim.apply(untolerating)
    sim.advance(15)
    pods = _pods(sim, "node-agent-")
    assert sorted(p["spec"]["nodeName"] for p in pods.values()) == ["rk-node-1", "rk-node-2"]
    status = dict(sim.store.get(DAEMONSETS, "default", "node-agent")["status"])
    assert status["desiredNumberScheduled"] == 2 and status["numberReady"] == 2
    # tolerating the taint adds the node (a rolling update replaces the other two)
    tolerating = copy.deepcopy(untolerating)
    tolerating["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
    ]
    sim.apply(tolerating)
    sim.advance(60)
    pods = _pods(sim, "node-agent-")
    live = [p for p in pods.values() if not p["metadata"].get("deletionTimestamp")]
    assert sorted(p["spec"]["nodeName"] for p in live) == ["rk-node-1", "rk-node-2", "rk-node-3"]
    recorded = _ref("pods-daemonset-list.json")["items"][0]
    pod = live[0]
    assert [t["key"] for t in pod["spec"]["tolerations"]] == [
        "dedicated",
        *[t["key"] for t in recorded["spec"]["tolerations"][1:]],
    ]
    assert pod["spec"]["affinity"]["nodeAffinity"] == {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchFields": [
                        {
                            "key": "metadata.name",
                            "operator": "In",
                            "values": [pod["spec"]["nodeName"]],
                        }
                    ]
                }
            ]
        }
    }
    assert set(pod["metadata"]["labels"]) == set(recorded["metadata"]["labels"])
    assert pod["metadata"]["labels"]["pod-template-generation"] == "2"


def test_daemonset_rolling_update_and_rollout_undo(
    sim: KubeSim, kubectl: Kubectl, apps: client.AppsV1Api
) -> None:
    created = apps.create_namespaced_daemon_set("default", copy.deepcopy(DAEMONSET))
    assert created.metadata.annotations["deprecated.daemonset.template.generation"] == "1"
    recorded_spec = _ref("daemonset-get.json")["spec"]
    assert created.to_dict()["spec"]["update_strategy"] == {
        "type": "RollingUpdate",
        "rolling_update": {"max_surge": 0, "max_unavailable": 1},
    }
    assert recorded_spec["updateStrategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    sim.advance(15)
    kubectl("set", "image", "daemonset/node-agent", "agent=nginx:1.26")
    unavailable_seen = 0
    for _ in range(60):
        ds = apps.read_namespaced_daemon_set("node-agent", "default")
        unavailable_seen = max(unavailable_seen, ds.status.number_unavailable or 0)
        if ds.status.updated_number_scheduled == 2 and ds.status.number_available == 2:
            break
        sim.advance(1)
    assert unavailable_seen == 1  # maxUnavailable: one node at a time
    ds = apps.read_namespaced_daemon_set("node-agent", "default")
    assert ds.metadata.annotations["deprecated.daemonset.template.generation"] == "2"
    history = kubectl("rollout", "history", "daemonset/node-agent").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    kubectl("rollout", "undo", "daemonset/node-agent")
    sim.advance(60)
    ds = apps.read_namespaced_daemon_set("node-agent", "default")
    assert ds.spec.template.spec.containers[0].image == "nginx:1.25"
    assert ds.metadata.generation == 3
    assert ds.metadata.annotations["deprecated.daemonset.template.generation"] == "3"
    recorded = _ref("daemonset-after-undo-get.json")["status"]
    mine = ds.to_dict()["status"]
    assert {
        "currentNumberScheduled": mine["current_number_scheduled"],
        "numberMisscheduled": mine["number_misscheduled"],
        "desiredNumberScheduled": mine["desired_number_scheduled"],
        "numberReady": mine["number_ready"],
        "observedGeneration": mine["observed_generation"],
        "updatedNumberScheduled": mine["updated_number_scheduled"],
        "numberAvailable": mine["number_available"],
    } == {k: (2 if v == 3 and k != "observedGeneration" else v) for k, v in recorded.items()}
    pods = [
        p for p in _pods(sim, "node-agent-").values() if not p["metadata"].get("deletionTimestamp")
    ]
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.25"}
    assert {p["metadata"]["labels"]["pod-template-generation"] for p in pods} == {"3"}
    revisions = sorted(
        (r["revision"], r["metadata"]["labels"]["controller-revision-hash"])
        for r in sim.store.list(CONTROLLERREVISIONS, "default")
    )
    assert [n for n, _ in revisions] == [2, 3]  # the first revision renumbered, none created
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} == {revisions[1][1]}
    listed = kubectl("rollout", "history", "daemonset/node-agent").stdout
    assert [line.split()[0] for line in listed.splitlines()[2:] if line.strip()] == ["2", "3"]


@pytest.fixture
def http(sim: KubeSim) -> Any:
    with httpx.Client(
        base_url=sim.url, verify=False, headers={"Authorization": f"Bearer {sim.token}"}, timeout=30
    ) as session:
        yield session
