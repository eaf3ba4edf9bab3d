# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""The official Python client against kubesim: list, watch, patch, delete, errors, dryRun."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from kubesim import KubeSim
from kubesim.store import PODS


def _pod(
    name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.25"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def _deployment(name: str, replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
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


def test_create_get_carries_server_metadata_and_defaults(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_pod("default", _pod("meta"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.spec.restart_policy == "Always"
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"
    got = core.read_namespaced_pod("meta", "default")
    assert got.metadata.uid == created.metadata.uid
    assert got.status.phase in ("Pending", "Running")


def test_list_with_selectors_limit_and_continue(core: client.CoreV1Api) -> None:
    for i in range(7):
        core.create_namespaced_pod(
            "default", _pod(f"p{i}", {"tier": "a" if i % 2 else "b", "n": str(i)})
        )
    assert len(core.list_namespaced_pod("default", label_selector="tier=a").items) == 3
    assert len(core.list_namespaced_pod("default", label_selector="tier!=a").items) == 4
    assert len(core.list_namespaced_pod("default", label_selector="n in (1,2,3),tier=b").items) == 1
    names = [
        p.metadata.name
        for p in core.list_namespaced_pod("default", field_selector="metadata.name=p3").items
    ]
    assert names == ["p3"]
    seen: list[str | None] = []
    token = None
    while True:
        page = core.list_namespaced_pod("default", limit=3, _continue=token)
        seen += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"p{i}" for i in range(7)]


def test_field_selector_on_unknown_field_is_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("default", field_selector="spec.bogus=1")
    assert err.value.status == 400


def test_errors_have_status_shapes(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("nope", "default")
    body = json.loads(err.value.body)
    assert (err.value.status, body["reason"], body["details"]) == (
        404,
        "NotFound",
        {"name": "nope", "kind": "pods"},
    )
    core.create_namespaced_pod("default", _pod("twice"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("default", _pod("twice"))
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("default", _pod("Bad_Name"))
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("nowhere", _pod("lost"))
    assert err.value.status == 404


def test_update_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    pod = core.create_namespaced_pod("default", _pod("stale"))
    fresh = core.read_namespaced_pod("stale", "default")
    fresh.metadata.labels = {"x": "1"}
    core.replace_namespaced_pod("stale", "default", fresh)
    pod.metadata.labels = {"x": "2"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_pod("stale", "default", pod)
    assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "Conflict"


def test_three_patch_types(apps: client.AppsV1Api, api_client: client.ApiClient) -> None:
    apps.create_namespaced_deployment("default", _deployment("web"))
    # strategic merge: containers merge by name (the client's default for a dict body)
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}},
    )
    dep = apps.read_namespaced_deployment("web", "default")
    assert [c.image for c in dep.spec.template.spec.containers] == ["nginx:1.26"]
    assert dep.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    # JSON merge patch replaces lists wholesale
    apps.patch_namespaced_deployment(
        "web",
        "default",
        {"metadata": {"labels": {"team": "x"}}},
        _content_type="application/merge-patch+json",
    )
    # JSON patch
    apps.patch_namespaced_deployment(
        "web", "default", [{"op": "replace", "path": "/spec/replicas", "value": 4}]
    )
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.metadata.labels == {"team": "x"} and dep.spec.replicas == 4
    assert dep.metadata.generation >= 3


def test_dry_run_changes_nothing(
    core: client.CoreV1Api, apps: client.AppsV1Api, sim: KubeSim
) -> None:
    apps.create_namespaced_deployment("default", _deployment("dry"))
    rv = sim.store.resource_version
    would_be = core.create_namespaced_pod("default", _pod("ghost"), dry_run="All")
    assert would_be.metadata.name == "ghost" and would_be.metadata.uid
    apps.patch_namespaced_deployment("dry", "default", {"spec": {"replicas": 9}}, dry_run="All")
    apps.delete_namespaced_deployment("dry", "default", dry_run="All")
    assert sim.store.resource_version == rv
    assert apps.read_namespaced_deployment("dry", "default").spec.replicas == 2
    with pytest.raises(ApiException):
        core.read_namespaced_pod("ghost", "default")


def test_watch_streams_changes_from_a_resource_version(core: client.CoreV1Api) -> None:
    listing = core.list_namespaced_pod("default")
    events: list[tuple[str, str]] = []
    w = watch.Watch()
    started = threading.Event()

    def consume() -> None:
        started.set()
        for ev in w.stream(
            core.list_namespaced_pod,
            "default",
            resource_version=listing.metadata.resource_version,
            timeout_seconds=10,
        ):
            events.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    started.wait()
    core.create_namespaced_pod("default", _pod("watched"))
    core.patch_namespaced_pod("watched", "default", {"metadata": {"labels": {"a": "b"}}})
    core.delete_namespaced_pod("watched", "default", grace_period_seconds=0)
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert events[0] == ("ADDED", "watched")
    assert events[-1] == ("DELETED", "watched")
    assert ("MODIFIED", "watched") in events


def test_watch_from_expired_version_gets_410_and_relist_recovers(
    core: client.CoreV1Api, sim: KubeSim
) -> None:
    old = core.list_namespaced_pod("default").metadata.resource_version
    core.create_namespaced_pod("default", _pod("before"))
    sim.faults.expire_history()
    w = watch.Watch()
    with pytest.raises(ApiException) as err:
        for _ in w.stream(
            core.list_namespaced_pod, "default", resource_version=old, timeout_seconds=5
        ):
            pass
    assert err.value.status == 410
    # the informer's answer to 410: list again and watch from the new version
    relisted = core.list_namespaced_pod("default")
    assert [p.metadata.name for p in relisted.items] == ["before"]
    got: list[str] = []
    for ev in w.stream(
        core.list_namespaced_pod,
        "default",
        resource_version=relisted.metadata.resource_version,
        timeout_seconds=1,
    ):
        got.append(ev["type"])
    assert got == []


def test_graceful_delete_marks_bound_pod_and_unbound_pod_goes_at_once(
    core: client.CoreV1Api, sim: KubeSim
) -> None:
    sim.load(
        [
            {
                **_pod("bound"),
                "metadata": {"name": "bound", "namespace": "default"},
                "spec": {
                    "nodeName": "kubesim-node-1",
                    "containers": [{"name": "app", "image": "nginx:1.25"}],
                },
                "status": {"phase": "Running"},
            }
        ]
    )
    marked = core.delete_namespaced_pod("bound", "default")
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.deletion_grace_period_seconds == 30
    core.create_namespaced_pod(
        "default",
        {
            **_pod("floating"),
            "spec": {
                "schedulerName": "nobody",
                "containers": [{"name": "app", "image": "nginx:1.25"}],
            },
        },
    )
    core.delete_namespaced_pod("floating", "default")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("floating", "default")
    assert err.value.status == 404


def test_background_cascade_removes_owned_objects(
    core: client.CoreV1Api, apps: client.AppsV1Api, sim: KubeSim
) -> None:
    rs = apps.create_namespaced_replica_set(
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "owner"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"o": "1"}},
                "template": {
                    "metadata": {"labels": {"o": "1"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
                },
            },
        },
    )
    ref = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "owner",
        "uid": rs.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    core.create_namespaced_pod(
        "default",
        {
            **_pod("owned"),
            "metadata": {"name": "owned", "ownerReferences": [ref]},
            "spec": {
                "schedulerName": "nobody",
                "containers": [{"name": "app", "image": "nginx:1.25"}],
            },
        },
    )
    apps.delete_namespaced_replica_set("owner", "default", propagation_policy="Background")
    assert sim.store.find(PODS, "default", "owned") is None


def test_orphan_keeps_dependents_without_owner_reference(
    core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    rs = apps.create_namespaced_replica_set(
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "parent"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"o": "2"}},
                "template": {
                    "metadata": {"labels": {"o": "2"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
                },
            },
        },
    )
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "parent", "uid": rs.metadata.uid}
    core.create_namespaced_pod(
        "default",
        {
            **_pod("child"),
            "metadata": {"name": "child", "ownerReferences": [ref]},
            "spec": {
                "schedulerName": "nobody",
                "containers": [{"name": "app", "image": "nginx:1.25"}],
            },
        },
    )
    apps.delete_namespaced_replica_set("parent", "default", propagation_policy="Orphan")
    child = core.read_namespaced_pod("child", "default")
    assert not child.metadata.owner_references


def test_scale_subresource(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", _deployment("scaled", replicas=1))
    scale = apps.read_namespaced_deployment_scale("scaled", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=scaled"
    apps.patch_namespaced_deployment_scale("scaled", "default", {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("scaled", "default").spec.replicas == 3


def test_status_subresource_is_separate_from_spec(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("st"))
    pod = core.read_namespaced_pod("st", "default")
    pod.status.message = "client wrote this"
    pod.metadata.labels = {"ignored": "yes"}
    written = core.replace_namespaced_pod_status("st", "default", pod)
    assert written.status.message == "client wrote this" and not written.metadata.labels
    # writing status through the main resource leaves status alone
    current = core.read_namespaced_pod("st", "default")
    current.status.message = "lost"
    current.metadata.labels = {"kept": "yes"}
    replaced = core.replace_namespaced_pod("st", "default", current)
    assert replaced.status.message != "lost" and replaced.metadata.labels == {"kept": "yes"}


def test_filtered_watch_sees_objects_enter_and_leave_the_selection(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", _pod("mover", {"tier": "a"}))
    rv = core.list_namespaced_pod("default").metadata.resource_version
    core.patch_namespaced_pod("mover", "default", {"metadata": {"labels": {"tier": "b"}}})
    core.patch_namespaced_pod("mover", "default", {"metadata": {"labels": {"tier": "b", "x": "1"}}})
    core.patch_namespaced_pod("mover", "default", {"metadata": {"labels": {"tier": "a"}}})
    w = watch.Watch()
    seen = [
        ev["type"]
        for ev in w.stream(
            core.list_namespaced_pod,
            "default",
            label_selector="tier=b",
            resource_version=rv,
            timeout_seconds=1,
        )
    ]
    # the kubelet may touch the pod meanwhile: only the selection changes are certain
    assert seen[0] == "ADDED" and seen[-1] == "DELETED"
    assert set(seen[1:-1]) <= {"MODIFIED"}


def test_update_without_resource_version_is_unconditional(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", _deployment("free"))
    body = _deployment("free", replicas=3)
    replaced = apps.replace_namespaced_deployment("free", "default", body)
    assert replaced.spec.replicas == 3 and replaced.metadata.generation == 2
