"""coordination.k8s.io/v1 Leases as the 1.28 recordings show them (README "Additions" §6, §9):
discovery, create 201, get, list (namespaced and all namespaces), a PUT that renews (200), a PUT
with a stale resourceVersion (409 with the recorded Status), delete, watch, Tables and
`kubectl get leases`, MicroTime round-trips and validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kubesim import KubeSim
from tests.integration.kubesim.conftest import REFERENCE, Kubectl

BASE = "/apis/coordination.k8s.io/v1"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"  # noqa: E501
LEASE: dict[str, Any] = {
    "apiVersion": "coordination.k8s.io/v1",
    "kind": "Lease",
    "metadata": {"name": "rec-leader", "namespace": "default"},
    "spec": {
        "holderIdentity": "rec-a_1111",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-12-07T17:46:30.000000Z",
        "renewTime": "2026-12-07T17:46:30.000000Z",
        "leaseTransitions": 0,
    },
}


def _ref(*parts: str) -> Any:
    return json.loads(REFERENCE.joinpath(*parts).read_text())


@pytest.fixture
def http(sim: KubeSim) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.url, verify=False, headers={"Authorization": f"Bearer {sim.token}"}, timeout=30
    ) as client:
        yield client


def _shape(obj: Any) -> Any:
    """Keys (recursively) without values that differ by nature: uid, versions, timestamps."""
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items() if k != "managedFields"}
    if isinstance(obj, list):
        return [_shape(v) for v in obj]
    return type(obj).__name__


def test_discovery_lists_leases_as_recorded(http: httpx.Client) -> None:
    ours = http.get(BASE).json()
    theirs = _ref("discovery", "apis-coordination-k8s-io-v1.json")
    assert (ours["kind"], ours["groupVersion"]) == (theirs["kind"], theirs["groupVersion"])
    expected = [
        {k: v for k, v in r.items() if k != "storageVersionHash"} for r in theirs["resources"]
    ]
    assert ours["resources"] == expected
    groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
    reference = {g["name"]: g for g in _ref("discovery", "apis.json")["groups"]}
    assert groups["coordination.k8s.io"] == reference["coordination.k8s.io"]
    aggregated = http.get(
        "/apis",
        headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        },
    ).json()
    items = {i["metadata"]["name"]: i for i in aggregated["items"]}
    resources = items["coordination.k8s.io"]["versions"][0]["resources"]
    assert [(r["resource"], r["scope"], r["verbs"]) for r in resources] == [
        ("leases", "Namespaced", expected[0]["verbs"])
    ]


def test_create_get_renew_and_stale_put_match_the_recordings(http: httpx.Client) -> None:
    created = http.post(f"{BASE}/namespaces/default/leases", json=LEASE)
    assert created.status_code == 201
    body = created.json()
    reference = _ref("responses", "lease-create-201.json")
    assert _shape(body) == _shape(reference)
    assert body["spec"] == reference["spec"]
    got = http.get(f"{BASE}/namespaces/default/leases/rec-leader")
    assert got.status_code == 200 and got.json() == body

    renewed = {**body, "spec": {**body["spec"], "renewTime": "2026-12-07T17:46:31.000000Z"}}
    put = http.put(f"{BASE}/namespaces/default/leases/rec-leader", json=renewed)
    assert put.status_code == 200
    assert put.json()["spec"] == _ref("responses", "lease-put-renew-200.json")["spec"]
    assert int(put.json()["metadata"]["resourceVersion"]) > int(body["metadata"]["resourceVersion"])

    stale = http.put(f"{BASE}/namespaces/default/leases/rec-leader", json=renewed)
    assert stale.status_code == 409
    assert stale.json() == _ref("responses", "error-409-lease-put-stale.json")


def test_lists_namespaced_and_across_namespaces(sim: KubeSim, http: httpx.Client) -> None:
    http.post(f"{BASE}/namespaces/default/leases", json=LEASE)
    sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubemedic"}})
    other = json.loads(json.dumps(LEASE))
    other["metadata"] = {"name": "kubemedic-leader", "namespace": "kubemedic"}
    http.post(f"{BASE}/namespaces/kubemedic/leases", json=other)
    listing = http.get(f"{BASE}/namespaces/default/leases").json()
    reference = _ref("responses", "lease-list.json")
    assert (listing["kind"], listing["apiVersion"]) == (reference["kind"], reference["apiVersion"])
    assert [i["metadata"]["name"] for i in listing["items"]] == ["rec-leader"]
    assert _shape(listing["items"][0]) == _shape(reference["items"][0])
    everywhere = http.get(f"{BASE}/leases").json()
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]] == [
        ("default", "rec-leader"),
        ("kubemedic", "kubemedic-leader"),
    ]


def test_micro_time_round_trips_in_utc_with_six_digits(http: httpx.Client) -> None:
    lease = json.loads(json.dumps(LEASE))
    lease["spec"]["renewTime"] = "2026-12-07T19:46:31.250000+02:00"
    body = http.post(f"{BASE}/namespaces/default/leases", json=lease).json()
    assert body["spec"]["renewTime"] == "2026-12-07T17:46:31.250000Z"
    lease["metadata"]["name"] = "seconds-only"
    lease["spec"]["renewTime"] = "2026-12-07T17:46:31Z"
    refused = http.post(f"{BASE}/namespaces/default/leases", json=lease)
    assert refused.status_code == 400 and refused.json()["reason"] == "BadRequest"
    assert "2006-01-02T15:04:05.000000Z07:00" in refused.json()["message"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "leaseDurationSeconds",
            0,
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        ),  # noqa: E501
        (
            "leaseTransitions",
            -1,
            "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        ),  # noqa: E501
    ],
)
def test_validation(field: str, value: int, message: str, http: httpx.Client) -> None:
    lease = json.loads(json.dumps(LEASE))
    lease["spec"][field] = value
    response = http.post(f"{BASE}/namespaces/default/leases", json=lease)
    assert response.status_code == 422
    assert response.json()["message"] == (
        f'Lease.coordination.k8s.io "rec-leader" is invalid: {message}'
    )


def test_delete_and_watch(http: httpx.Client) -> None:
    start = http.get(f"{BASE}/namespaces/default/leases").json()["metadata"]["resourceVersion"]
    http.post(f"{BASE}/namespaces/default/leases", json=LEASE)
    deleted = http.delete(f"{BASE}/namespaces/default/leases/rec-leader")
    assert deleted.status_code == 200
    assert http.get(f"{BASE}/namespaces/default/leases/rec-leader").status_code == 404
    with http.stream(
        "GET",
        f"{BASE}/namespaces/default/leases",
        params={"watch": "1", "resourceVersion": start, "timeoutSeconds": "1"},
    ) as r:
        events = [json.loads(line) for line in r.iter_lines() if line]
    assert [(e["type"], e["object"]["kind"]) for e in events] == [
        ("ADDED", "Lease"),
        ("DELETED", "Lease"),
    ]


@pytest.mark.parametrize(
    ("path", "ref"),
    [
        (f"{BASE}/namespaces/default/leases", "leases-table.json"),
        (f"{BASE}/leases", "leases-all-namespaces-table.json"),
    ],
)
def test_tables_match_the_recorded_columns(path: str, ref: str, http: httpx.Client) -> None:
    http.post(f"{BASE}/namespaces/default/leases", json=LEASE)
    ours = http.get(path, headers={"Accept": TABLE}).json()
    theirs = _ref("responses", ref)
    assert ours["columnDefinitions"] == theirs["columnDefinitions"]
    row = ours["rows"][0]
    assert row["cells"][:2] == theirs["rows"][0]["cells"][:2]
    assert [type(c) for c in row["cells"]] == [type(c) for c in theirs["rows"][0]["cells"]]
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_kubectl_get_leases(sim: KubeSim, kubectl: Kubectl, http: httpx.Client) -> None:
    sim.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubemedic"}})
    lease = json.loads(json.dumps(LEASE))
    lease["metadata"] = {"name": "kubemedic-leader", "namespace": "kubemedic"}
    lease["spec"]["holderIdentity"] = "kubemedic-7d9f-abcde"
    http.post(f"{BASE}/namespaces/kubemedic/leases", json=lease)
    sim.reset_requests()
    out = kubectl("get", "leases", "-n", "kubemedic").stdout.splitlines()
    assert out[0].split() == ["NAME", "HOLDER", "AGE"]
    assert out[1].split()[:2] == ["kubemedic-leader", "kubemedic-7d9f-abcde"]
    sent = [
        (r.method, r.path, r.query, r.status)
        for r in sim.requests
        if r.path not in ("/api", "/apis", "/version") and not r.path.startswith("/openapi")
    ]
    assert sent == [("GET", f"{BASE}/namespaces/kubemedic/leases", "limit=500", 200)]
    one = kubectl("get", "lease", "kubemedic-leader", "-n", "kubemedic", "-o", "json").stdout
    assert json.loads(one)["spec"]["holderIdentity"] == "kubemedic-7d9f-abcde"
