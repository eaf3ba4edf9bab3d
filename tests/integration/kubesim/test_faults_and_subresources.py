# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""Fault injection, the request log, pods/eviction with PodDisruptionBudgets, logs and metrics."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from kubesim import KubeSim
from kubesim.store import PODS

WEB: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]},
        },
    },
}
PDB = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "web"},
    "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
}


def test_throttle_answers_429_until_the_client_gives_up(
    core: client.CoreV1Api, sim: KubeSim
) -> None:
    # urllib3 under the official client honours Retry-After on 429 and retries three times.
    sim.faults.throttle(4, retry_after=0)
    sim.reset_requests()
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("default")
    assert err.value.status == 429
    assert err.value.headers["Retry-After"] == "0"
    assert json.loads(err.value.body)["reason"] == "TooManyRequests"
    assert [r.status for r in sim.requests] == [429, 429, 429, 429]
    sim.faults.throttle(1, retry_after=0)
    assert core.list_namespaced_pod("default").items == []  # one retry gets through
    assert [r.status for r in sim.requests][-2:] == [429, 200]


def test_server_errors_and_update_conflicts(
    core: client.CoreV1Api, apps: client.AppsV1Api, sim: KubeSim
) -> None:
    apps.create_namespaced_deployment("default", WEB)
    sim.faults.fail(1, verbs=("get",))
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("web", "default")
    assert err.value.status == 500
    assert apps.read_namespaced_deployment("web", "default").metadata.name == "web"
    sim.faults.conflict_on_update(1)
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 2}})
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "Conflict"
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 2


def test_latency_is_added_to_requests(core: client.CoreV1Api, sim: KubeSim) -> None:
    sim.faults.add_latency(0.2)
    started = time.monotonic()
    core.list_namespaced_pod("default")
    assert time.monotonic() - started >= 0.2  # a lower bound: the delay happened
    sim.faults.clear()


def test_dropped_watch_ends_the_stream(core: client.CoreV1Api, sim: KubeSim) -> None:
    rv = core.list_namespaced_pod("default").metadata.resource_version
    opened = threading.Event()
    ended = threading.Event()

    def consume() -> None:
        w = watch.Watch()
        stream = w.stream(
            core.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=60
        )
        opened.set()
        for _ in stream:
            pass
        ended.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    opened.wait(10)
    deadline = time.monotonic() + 10
    while sim.faults.drop_watches() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # the stream registers once its first byte is requested
    assert ended.wait(10)


def test_admin_api_arms_and_clears_faults(sim: KubeSim) -> None:
    auth = {"Authorization": f"Bearer {sim.token}"}
    with httpx.Client(base_url=sim.url, verify=False, headers=auth) as http:
        armed = http.post(
            "/kubesim/faults", json={"throttle": {"count": 1, "retryAfter": 2}}
        ).json()
        assert armed["throttle"]["count"] == 1
        limited = http.get("/api/v1/namespaces")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert http.get("/api/v1/namespaces").status_code == 200
        http.post("/kubesim/faults", json={"errors": {"count": 5}})
        assert http.delete("/kubesim/faults").json()["errors"] is None
        assert http.get("/api/v1/namespaces").status_code == 200
        assert http.post("/kubesim/faults", json=[1]).status_code == 400
        assert httpx.get(f"{sim.url}/kubesim/faults", verify=False).status_code == 401


def test_request_log_records_rbac_verbs(
    core: client.CoreV1Api, apps: client.AppsV1Api, sim: KubeSim
) -> None:
    sim.reset_requests()
    core.list_namespaced_pod("default")
    apps.create_namespaced_deployment("default", WEB)
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 2}})
    core.list_pod_for_all_namespaces()
    records = [
        (r.verb, r.group, r.resource, r.subresource, r.namespace, r.status) for r in sim.requests
    ]
    assert records == [
        ("list", "", "pods", "", "default", 200),
        ("create", "apps", "deployments", "", "default", 201),
        ("patch", "apps", "deployments", "", "default", 200),
        ("list", "", "pods", "", "", 200),
    ]


def test_eviction_respects_disruption_budget(core: client.CoreV1Api, sim: KubeSim) -> None:
    sim.apply([WEB, PDB])
    sim.advance(30)
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 1
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pods[0].metadata.name, "namespace": "default"},
    }
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction(pods[0].metadata.name, "default", eviction)
    assert err.value.status == 429
    assert json.loads(err.value.body)["details"]["causes"][0]["reason"] == "DisruptionBudget"
    sim.apply({**WEB, "spec": {**WEB["spec"], "replicas": 2}})
    sim.advance(30)
    core.create_namespaced_pod_eviction(pods[0].metadata.name, "default", eviction)
    evicted = sim.store.find(PODS, "default", pods[0].metadata.name)
    assert evicted is None or evicted["metadata"].get("deletionTimestamp")


def test_pod_logs_with_tail_and_errors(core: client.CoreV1Api, sim: KubeSim) -> None:
    sim.apply(WEB)
    sim.advance(60)
    name = core.list_namespaced_pod("default").items[0].metadata.name
    text = core.read_namespaced_pod_log(name, "default", tail_lines=2)
    assert 0 < len(text.splitlines()) <= 2
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(name, "default", container="nope")
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("missing", "default")
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(name, "default", tail_lines=-5)
    assert err.value.status == 422  # a structured refusal, never a 500


def test_pod_metrics_served_from_metrics_api(api_client: client.ApiClient, sim: KubeSim) -> None:
    sim.apply(WEB)
    sim.advance(90)
    custom = client.CustomObjectsApi(api_client)
    listing = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods")
    assert listing["kind"] == "PodMetricsList"
    assert listing["items"] and listing["items"][0]["containers"][0]["usage"]["memory"]


def test_follow_streams_new_lines_until_the_container_stops(
    core: client.CoreV1Api, sim: KubeSim
) -> None:
    sim.apply(WEB)
    sim.advance(30)
    name = core.list_namespaced_pod("default").items[0].metadata.name
    auth = {"Authorization": f"Bearer {sim.token}"}
    with httpx.Client(base_url=sim.url, verify=False, headers=auth, timeout=30) as http:
        path = f"/api/v1/namespaces/default/pods/{name}/log"
        with http.stream("GET", path, params={"follow": "true", "tailLines": "1"}) as response:
            lines = response.iter_lines()
            first = next(lines)  # what was there already
            # the container writes while the stream is open (as a process would)
            sim.logs.append("default", name, "nginx", "GET /healthz 200", sim.clock.seconds())
            assert next(lines) == "GET /healthz 200"
            core.delete_namespaced_pod(name, "default", grace_period_seconds=0)
            rest = list(lines)  # the stream ends once the container is gone
    assert first and rest == []
