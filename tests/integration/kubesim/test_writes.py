# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""The executor's write bodies (mcp_server.writes) sent with the official client to kubesim,
answered as a real kube-apiserver answers them (reference/kube-apiserver-1.28)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesim import KubeSim
from mcp_server.writes import (
    event_body,
    is_replacement,
    label_selector,
    memory_patch,
    replacement_selector,
    rollback_patch,
)
from tests.integration.kubesim.conftest import REFERENCE, Kubectl

JSON_PATCH = "application/json-patch+json"


def _deployment(name: str, image: str = "nginx:1.25", replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def _read(apps: client.AppsV1Api, name: str) -> dict[str, Any]:
    response = apps.read_namespaced_deployment(name, "default", _preload_content=False)
    data: dict[str, Any] = json.loads(response.data)
    return data


def _patch(apps: client.AppsV1Api, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    response = apps.patch_namespaced_deployment(
        name, "default", ops, _content_type=JSON_PATCH, _preload_content=False
    )
    data: dict[str, Any] = json.loads(response.data)
    return data


def _reference(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / "responses" / name).read_text())
    return data


# -------------------------------------------------------------------- conditional patches


def test_a_patch_built_from_a_stale_read_is_a_409_conflict(
    sim: KubeSim, apps: client.AppsV1Api
) -> None:
    sim.apply(_deployment("web"))
    sim.advance(5)
    stale = _read(apps, "web")
    ops = memory_patch(stale, "app", 256 * 2**20).ops
    # someone else changes the Deployment between the read and the write
    apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"team": "b"}}})
    with pytest.raises(ApiException) as conflict:
        _patch(apps, "web", ops)
    body = json.loads(conflict.value.body)
    assert conflict.value.status == 409
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on deployments.apps "web": the object has been '
        "modified; please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 409,
    }
    limits = _read(apps, "web")["spec"]["template"]["spec"]["containers"][0].get("resources")
    assert not (limits or {}).get("limits")  # nothing was written
    # built again from a fresh read, the same change goes through
    fresh = _read(apps, "web")
    written = _patch(apps, "web", memory_patch(fresh, "app", 256 * 2**20).ops)
    container = written["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"memory": "256Mi"}
    assert written["metadata"]["resourceVersion"] != fresh["metadata"]["resourceVersion"]
    assert written["metadata"]["labels"] == {"team": "b"}


def test_a_dry_run_of_a_stale_patch_is_refused_too(sim: KubeSim, apps: client.AppsV1Api) -> None:
    sim.apply(_deployment("web"))
    stale = _read(apps, "web")
    apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"team": "b"}}})
    with pytest.raises(ApiException) as conflict:
        apps.patch_namespaced_deployment(
            "web",
            "default",
            memory_patch(stale, "app", 2**30).ops,
            dry_run="All",
            _content_type=JSON_PATCH,
        )
    assert conflict.value.status == 409


def test_a_stale_rollback_is_a_conflict_and_a_fresh_one_rolls_back(
    sim: KubeSim, apps: client.AppsV1Api
) -> None:
    sim.apply(_deployment("web"))
    sim.advance(5)
    sim.apply(_deployment("web", image="nginx:broken"))
    sim.advance(5)
    replicasets = json.loads(
        apps.list_namespaced_replica_set("default", _preload_content=False).data
    )["items"]
    deployment = _read(apps, "web")
    ops, revision = rollback_patch(deployment, replicasets)
    assert revision == 1
    sim.advance(5)  # the controllers write the Deployment's status: a new resourceVersion
    if (
        _read(apps, "web")["metadata"]["resourceVersion"]
        == deployment["metadata"]["resourceVersion"]
    ):
        apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "y"}}})
    with pytest.raises(ApiException) as conflict:
        _patch(apps, "web", ops)
    assert conflict.value.status == 409 and json.loads(conflict.value.body)["reason"] == "Conflict"
    ops, _ = rollback_patch(_read(apps, "web"), replicasets)
    written = _patch(apps, "web", ops)
    assert written["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_a_failed_test_op_is_the_generic_422_a_real_server_sends(
    sim: KubeSim, apps: client.AppsV1Api
) -> None:
    sim.apply(_deployment("web"))
    ops = [{"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "other"}]
    with pytest.raises(ApiException) as invalid:
        _patch(apps, "web", ops)
    assert invalid.value.status == 422
    assert json.loads(invalid.value.body) == _reference("error-422-jsonpatch-test-failed.json")


# ------------------------------------------------------------------------ label selectors


def _pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
    }


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "web"}}, {"a", "b", "c", "d"}),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}],
            },
            {"a", "b"},
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]},
            {"b", "c", "d", "e"},  # no tier label at all matches NotIn, as in the API
        ),
        ({"matchExpressions": [{"key": "legacy", "operator": "Exists"}]}, {"c", "e"}),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "legacy", "operator": "DoesNotExist"}],
            },
            {"a", "b", "d"},
        ),
        (
            {
                "matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["web", "api"]},
                    {"key": "tier", "operator": "NotIn", "values": ["x", "y"]},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ]
            },
            {"d"},
        ),
    ],
)
def test_set_based_selectors_filter_pods(
    core: client.CoreV1Api, selector: dict[str, Any], expected: set[str]
) -> None:
    for name, labels in {
        "a": {"app": "web", "tier": "x"},
        "b": {"app": "web", "tier": "y"},
        "c": {"app": "web", "tier": "z", "legacy": "true"},
        "d": {"app": "web"},
        "e": {"app": "api", "legacy": ""},
    }.items():
        core.create_namespaced_pod("default", _pod(name, labels))
    listed = core.list_namespaced_pod("default", label_selector=label_selector(selector))
    assert {p.metadata.name for p in listed.items} == expected


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("app===x,", "error-400-malformed-labelselector.json"),
        ("app in (a", "error-400-malformed-labelselector-2.json"),
    ],
)
def test_malformed_label_selectors_are_the_real_bad_requests(
    core: client.CoreV1Api, text: str, reference: str
) -> None:
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod("default", label_selector=text)
    assert bad.value.status == 400
    assert json.loads(bad.value.body) == _reference(reference)


def test_unknown_event_field_selector_is_the_real_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_event("default", field_selector="involvedObject.foo=x")
    assert json.loads(bad.value.body) == _reference("error-400-unknown-fieldselector-events.json")


# ---------------------------------------------------------------------------------- events


def test_kubectl_describe_shows_the_event_on_the_objects_uid(
    sim: KubeSim, core: client.CoreV1Api, apps: client.AppsV1Api, kubectl: Kubectl
) -> None:
    sim.apply(_deployment("web"))
    sim.advance(10)
    pod = core.list_namespaced_pod("default", label_selector="app=web").items[0]
    deployment = apps.read_namespaced_deployment("web", "default")
    now = sim.clock.rfc3339()
    core.create_namespaced_event(
        "default",
        event_body(
            "Pod",
            "default",
            pod.metadata.name,
            pod.metadata.uid,
            "delete_pod",
            "crash-looping for 10 minutes",
            now,
            "kubemedic-0",
        ),
    )
    core.create_namespaced_event(
        "default",
        event_body(
            "Deployment",
            "default",
            "web",
            deployment.metadata.uid,
            "rollback_deployment",
            "the new image does not pull",
            now,
            "kubemedic-0",
        ),
    )
    # an event on an earlier incarnation of the same name is not this pod's
    core.create_namespaced_event(
        "default",
        event_body(
            "Pod",
            "default",
            pod.metadata.name,
            "0a1b2c3d-old",
            "increase_memory_limit",
            "old",
            now,
            "kubemedic-0",
        ),
    )
    described = kubectl("describe", "pod", pod.metadata.name).stdout
    events = described[described.index("Events:") :]
    assert "KubemedicDeletePod" in events and "kubemedic" in events
    assert "kubemedic delete_pod: crash-looping for 10 minutes" in events
    assert "KubemedicIncreaseMemoryLimit" not in events
    described = kubectl("describe", "deployment", "web").stdout
    events = described[described.index("Events:") :]
    assert "KubemedicRollbackDeployment" in events
    assert "kubemedic rollback_deployment: the new image does not pull" in events
    assert "KubemedicDeletePod" not in events


def test_an_event_outside_its_objects_namespace_is_invalid(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "shop"}})
    body = event_body("Pod", "shop", "web-1", "u", "delete_pod", "x", "2026-01-01T00:00:00Z", "i")
    body["metadata"] = {"name": "mismatch.1"}
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_event("default", body)
    assert invalid.value.status == 422
    assert json.loads(invalid.value.body) == _reference("error-422-event-namespace-mismatch.json")


# ---------------------------------------------------------------------------- replacements


def test_the_replacement_of_a_relabelled_pod_is_found_through_its_owner(
    sim: KubeSim, core: client.CoreV1Api, kubectl: Kubectl
) -> None:
    sim.apply(_deployment("web", replicas=2))
    sim.advance(10)
    before = core.list_namespaced_pod("default", label_selector="app=web").items
    assert len(before) == 2
    name = before[0].metadata.name
    kubectl("label", "pod", name, "debug=true")
    old = json.loads(core.read_namespaced_pod(name, "default", _preload_content=False).data)
    assert old["metadata"]["labels"]["debug"] == "true"
    query = replacement_selector(old)
    assert query.selector.startswith("pod-template-hash=") and query.owner_kind == "ReplicaSet"
    known = {p.metadata.uid for p in before}
    core.delete_namespaced_pod(name, "default")
    found: list[dict[str, Any]] = []
    for _ in range(60):
        listed = core.list_namespaced_pod(
            "default", label_selector=query.selector, _preload_content=False
        )
        found = [
            p
            for p in json.loads(listed.data)["items"]
            if is_replacement(p, old, query, known_uids=known)
        ]
        if found:
            break
        sim.advance(1)
    assert len(found) == 1
    assert found[0]["metadata"]["name"] != name
    assert "debug" not in found[0]["metadata"]["labels"]
