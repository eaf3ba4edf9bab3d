# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""PersistentVolumeClaims, PersistentVolumes and StorageClasses through the official client and
kubectl, on the simulated clock, against the 1.28 recordings (`pvc*`, `pv*`, `storageclass*`,
`events-persistentvolumeclaim-list.json`, `pod-statefulset-unschedulable-unbound-pvc-get.json`)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client

from kubesim import KubeSim
from kubesim.store import EVENTS, PODS, PVCS, PVS
from tests.integration.kubesim.conftest import REFERENCE, Kubectl

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
RK_FAST: dict[str, Any] = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "rk-fast"},
    "provisioner": "rk.example.com/nfs",
    "volumeBindingMode": "Immediate",
}
RK_LOCAL: dict[str, Any] = {
    "apiVersion": "storage.k8s.io/v1",
    "kind": "StorageClass",
    "metadata": {"name": "rk-local"},
    "provisioner": "kubernetes.io/no-provisioner",
    "reclaimPolicy": "Retain",
    "volumeBindingMode": "WaitForFirstConsumer",
}


def rk_pv(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"rk-pv-{index}"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": "1Gi"},
            "hostPath": {"path": f"/tmp/rk-pv-{index}"},
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "rk-local",
        },
    }


def claim(name: str, size: str = "1Gi", storage_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def pod_with(claim_name: str, name: str = "cache-0") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "redis",
                    "image": "redis:7.2",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
        },
    }


def _ref(name: str) -> Any:
    return json.loads((REFERENCE / "responses" / name).read_text())


@pytest.fixture
def bare() -> Iterator[KubeSim]:
    """A cluster without a default StorageClass (as the recording cluster was)."""
    with KubeSim(speed=0.0, port=0, default_storage_class=False) as running:
        yield running


@pytest.fixture
def http(bare: KubeSim) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=bare.url,
        verify=False,
        headers={"Authorization": f"Bearer {bare.token}"},
        timeout=30,
    ) as c:
        yield c


def _scheduled(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """The parts a recording and kubesim can share: no uids, times, versions, managedFields."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        meta.pop("annotations", None)
    ref = (out.get("spec") or {}).get("claimRef")
    if ref:
        ref.pop("uid", None)
        ref.pop("resourceVersion", None)
    return out


# -- the recorded StatefulSet `cache`: an unknown provisioner ----------------------------------
def test_claim_of_an_unknown_provisioner_stays_pending_as_recorded(
    bare: KubeSim, http: httpx.Client
) -> None:
    bare.apply(RK_FAST)
    pvc = claim("data-cache-0", "2Gi", "rk-fast")
    pvc["metadata"]["labels"] = {"app": "cache"}
    bare.apply([pvc, pod_with("data-cache-0")])
    bare.advance(122)
    recorded = _ref("pvc-pending-get.json")
    ours = http.get("/api/v1/namespaces/default/persistentvolumeclaims/data-cache-0").json()
    assert _strip(ours) == _strip(recorded)
    [event] = [
        e
        for e in bare.store.list(EVENTS, "default")
        if e["involvedObject"]["name"] == "data-cache-0"
    ]
    reference = next(
        e
        for e in _ref("events-persistentvolumeclaim-list.json")["items"]
        if e["reason"] == "ExternalProvisioning"
    )
    for key in ("reason", "message", "type", "source", "reportingComponent", "count"):
        assert event[key] == reference[key], key
    pod = bare.store.get(PODS, "default", "cache-0")
    recorded_pod = _ref("pod-statefulset-unschedulable-unbound-pvc-get.json")
    assert pod["status"]["phase"] == "Pending"
    wanted = {k: v for k, v in _scheduled(recorded_pod).items() if k != "lastTransitionTime"}
    assert {k: v for k, v in _scheduled(pod).items() if k != "lastTransitionTime"} == wanted
    assert pod["spec"]["tolerations"] == recorded_pod["spec"]["tolerations"]


def test_claim_without_any_storage_class_gets_failed_binding(bare: KubeSim) -> None:
    bare.apply([claim("data"), pod_with("data", "db")])
    bare.advance(31)
    events = [e for e in bare.store.list(EVENTS, "default") if e["reason"] == "FailedBinding"]
    assert [(e["type"], e["message"], e["count"]) for e in events] == [
        (
            "Normal",
            "no persistent volumes available for this claim and no storage class is set",
            3,
        )
    ]
    assert bare.store.get(PODS, "default", "db")["status"]["phase"] == "Pending"


def test_claim_naming_a_missing_class_fails_provisioning(bare: KubeSim) -> None:
    bare.apply(claim("data", storage_class="fast-ssd"))
    bare.advance(1)
    [event] = [e for e in bare.store.list(EVENTS, "default") if e["reason"] == "ProvisioningFailed"]
    assert (event["type"], event["message"]) == (
        "Warning",
        'storageclass.storage.k8s.io "fast-ssd" not found',
    )


def test_pod_of_a_missing_claim_fails_scheduling(sim: KubeSim, core: client.CoreV1Api) -> None:
    sim.apply(pod_with("nope", "db"))
    pod = core.read_namespaced_pod("db", "default")
    assert pod.status.conditions[0].message == (
        '0/2 nodes are available: persistentvolumeclaim "nope" not found. preemption: 0/2 nodes '
        "are available: 2 Preemption is not helpful for scheduling.."
    )


# -- the recorded StatefulSet `db`: WaitForFirstConsumer with hand-made volumes -----------------
def test_late_binding_claims_bind_to_static_volumes_when_the_pod_schedules(
    bare: KubeSim, http: httpx.Client
) -> None:
    bare.apply([RK_LOCAL, rk_pv(0), rk_pv(1)])
    pvc = claim("data-db-0", storage_class="rk-local")
    pvc["metadata"]["labels"] = {"app": "db"}
    bare.apply(pvc)
    bare.advance(1)
    assert bare.store.get(PVCS, "default", "data-db-0")["status"] == {"phase": "Pending"}
    [waiting] = [e for e in bare.store.list(EVENTS, "default") if e["reason"] != "Scheduled"]
    reference = next(
        e
        for e in _ref("events-persistentvolumeclaim-list.json")["items"]
        if e["reason"] == "WaitForFirstConsumer"
    )
    assert (waiting["reason"], waiting["message"], waiting["type"]) == (
        reference["reason"],
        reference["message"],
        reference["type"],
    )
    bare.apply(pod_with("data-db-0", "db-0"))
    bare.advance(10)
    assert bare.store.get(PODS, "default", "db-0")["status"]["phase"] == "Running"
    ours = http.get("/api/v1/namespaces/default/persistentvolumeclaims/data-db-0").json()
    assert _strip(ours) == _strip(_ref("pvc-bound-get.json"))
    volume = http.get("/api/v1/persistentvolumes/rk-pv-0").json()
    assert _strip(volume) == _strip(_ref("pv-bound-get.json"))
    assert http.get("/api/v1/persistentvolumes/rk-pv-1").json()["status"] == {"phase": "Available"}


def test_late_binding_claim_without_a_volume_left_is_unschedulable(bare: KubeSim) -> None:
    bare.apply([RK_LOCAL, claim("data", storage_class="rk-local"), pod_with("data", "db")])
    bare.advance(1)
    pod = bare.store.get(PODS, "default", "db")
    assert _scheduled(pod)["message"] == (
        "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.."
    )
    bare.apply(rk_pv(0))
    bare.advance(5)
    assert bare.store.get(PODS, "default", "db")["status"]["phase"] == "Running"


# -- a default StorageClass: dynamic provisioning ------------------------------------------------
def test_default_class_provisions_and_the_pod_runs(sim: KubeSim, core: client.CoreV1Api) -> None:
    sim.apply(claim("data"))
    stored = core.read_namespaced_persistent_volume_claim("data", "default")
    assert stored.spec.storage_class_name == "standard"  # DefaultStorageClass admission
    assert stored.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    assert stored.spec.volume_mode == "Filesystem"
    assert stored.status.phase == "Pending"  # WaitForFirstConsumer
    sim.apply(pod_with("data", "db"))
    sim.advance(10)
    assert core.read_namespaced_pod("db", "default").status.phase == "Running"
    bound = core.read_namespaced_persistent_volume_claim("data", "default")
    assert bound.status.phase == "Bound"
    assert bound.spec.volume_name == f"pvc-{bound.metadata.uid}"
    annotations = bound.metadata.annotations
    assert annotations["volume.kubernetes.io/selected-node"] == "kubesim-node-1"
    assert annotations["volume.kubernetes.io/storage-provisioner"] == "rancher.io/local-path"
    assert annotations["pv.kubernetes.io/bind-completed"] == "yes"
    pv = core.read_persistent_volume(bound.spec.volume_name)
    assert pv.spec.persistent_volume_reclaim_policy == "Delete"
    assert pv.metadata.annotations["pv.kubernetes.io/provisioned-by"] == "rancher.io/local-path"
    reasons = [
        e.reason
        for e in core.list_namespaced_event(
            "default", field_selector="involvedObject.kind=PersistentVolumeClaim"
        ).items
    ]
    assert reasons[-2:] == ["Provisioning", "ProvisioningSucceeded"]


def test_immediate_default_class_binds_an_existing_claim_retroactively(bare: KubeSim) -> None:
    bare.apply([claim("data"), pod_with("data", "db")])
    bare.advance(5)
    assert bare.store.get(PODS, "default", "db")["status"]["phase"] == "Pending"
    default = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "gp3",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "ebs.csi.aws.com",
    }
    bare.apply(default)
    bare.advance(5)
    assert bare.store.get(PVCS, "default", "data")["spec"]["storageClassName"] == "gp3"
    assert bare.store.get(PVCS, "default", "data")["status"]["phase"] == "Bound"
    assert bare.store.get(PODS, "default", "db")["status"]["phase"] == "Running"


def test_protection_keeps_a_claim_in_use_and_delete_policy_removes_the_volume(
    sim: KubeSim, core: client.CoreV1Api
) -> None:
    sim.apply([claim("data"), pod_with("data", "db")])
    sim.advance(10)
    volume = sim.store.get(PVCS, "default", "data")["spec"]["volumeName"]
    core.delete_namespaced_persistent_volume_claim("data", "default")
    terminating = sim.store.get(PVCS, "default", "data")
    assert terminating["metadata"]["deletionTimestamp"]
    sim.advance(5)
    assert sim.store.find(PVCS, "default", "data") is not None  # the pod still uses it
    core.delete_namespaced_pod("db", "default", grace_period_seconds=0)
    sim.advance(2)
    assert sim.store.find(PVCS, "default", "data") is None
    assert sim.store.find(PVS, "", volume) is None  # reclaimPolicy Delete


# -- Tables, discovery, kubectl ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("/api/v1/namespaces/default/persistentvolumeclaims", "pvcs-table.json"),
        ("/api/v1/persistentvolumes", "pvs-table.json"),
        ("/apis/storage.k8s.io/v1/storageclasses", "storageclasses-table.json"),
    ],
)
def test_tables_match_the_recorded_ones(
    path: str, ref: str, bare: KubeSim, http: httpx.Client
) -> None:
    bare.apply([RK_FAST, RK_LOCAL, rk_pv(0), rk_pv(1)])
    pending = claim("data-cache-0", "2Gi", "rk-fast")
    bare.apply([pending, claim("data-db-0", storage_class="rk-local")])
    bare.apply([pod_with("data-db-0", "db-0")])
    bare.advance(2)
    bare.apply([claim("data-db-1", storage_class="rk-local"), pod_with("data-db-1", "db-1")])
    bare.advance(5)
    ours = http.get(path, headers={"Accept": TABLE}).json()
    theirs = _ref(ref)
    assert ours["columnDefinitions"] == theirs["columnDefinitions"]
    age = [c["name"] for c in theirs["columnDefinitions"]].index("Age")
    rows = {r["cells"][0]: r["cells"][:age] + r["cells"][age + 1 :] for r in ours["rows"]}
    assert rows == {r["cells"][0]: r["cells"][:age] + r["cells"][age + 1 :] for r in theirs["rows"]}
    assert all(r["object"]["kind"] == "PartialObjectMetadata" for r in ours["rows"])


def test_storage_discovery_matches_the_recording(http: httpx.Client) -> None:
    ours = {r["name"]: r for r in http.get("/apis/storage.k8s.io/v1").json()["resources"]}
    recorded = json.loads((REFERENCE / "discovery" / "apis-storage-k8s-io-v1.json").read_text())
    theirs = {r["name"]: r for r in recorded["resources"]}
    entry = {k: v for k, v in theirs["storageclasses"].items() if k != "storageVersionHash"}
    assert ours["storageclasses"] == entry
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    for name in ("persistentvolumes", "persistentvolumes/status", "persistentvolumeclaims/status"):
        assert name in core


def test_kubectl_get_pvc_pv_sc(sim: KubeSim, kubectl: Kubectl) -> None:
    sim.apply([claim("data"), pod_with("data", "db")])
    sim.advance(10)
    sim.reset_requests()
    out = kubectl("get", "pvc").stdout
    assert out.split("\n")[1].split()[:6] == [
        "data",
        "Bound",
        sim.store.get(PVCS, "default", "data")["spec"]["volumeName"],
        "1Gi",
        "RWO",
        "standard",
    ]
    requests = [
        f"{r.method} {r.path}?{r.query} {r.status}"
        for r in sim.requests
        if r.path not in ("/api", "/apis", "/version") and not r.path.startswith("/openapi")
    ]
    assert requests == (REFERENCE / "kubectl" / "get-pvc.requests.txt").read_text().splitlines()
    assert "standard (default)   rancher.io/local-path" in kubectl("get", "sc").stdout
    assert "Bound    default/data   standard" in kubectl("get", "pv").stdout
