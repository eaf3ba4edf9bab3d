"""The pure builders of an in-place resize: which pods, and the body kubectl would send."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_server.verifier import resize_state, resize_summary
from mcp_server.writes import (
    WriteRefused,
    current_template_pods,
    memory_patch,
    resize_patch,
)

JSON = dict[str, Any]
MI = 2**20


def _deployment(revision: str = "2") -> JSON:
    return {
        "metadata": {
            "name": "web",
            "uid": "d-uid",
            "resourceVersion": "10",
            "annotations": {"deployment.kubernetes.io/revision": revision},
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "1"}}}]},
            }
        },
    }


def _rs(name: str, uid: str, template_hash: str, revision: str) -> JSON:
    return {
        "metadata": {
            "name": name,
            "uid": uid,
            "labels": {"pod-template-hash": template_hash},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"kind": "Deployment", "uid": "d-uid", "controller": True}],
        }
    }


def _pod(name: str, rs_uid: str, template_hash: str, phase: str = "Running", **meta: Any) -> JSON:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"{name}-uid",
            "resourceVersion": "7",
            "labels": {"pod-template-hash": template_hash},
            "ownerReferences": [{"kind": "ReplicaSet", "uid": rs_uid, "controller": True}],
            **meta,
        },
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "resources": {
                        "limits": {"memory": "128Mi", "cpu": "200m"},
                        "requests": {"memory": "128Mi"},
                    },
                }
            ]
        },
        "status": {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": 3}]},
    }


def test_only_running_pods_of_the_current_template_are_resized() -> None:
    replicasets = [_rs("web-old", "rs-1", "aaa", "1"), _rs("web-new", "rs-2", "bbb", "2")]
    pods = [
        _pod("web-new-1", "rs-2", "bbb"),
        _pod("web-old-1", "rs-1", "aaa"),  # an older template: the rollout's
        _pod("web-new-2", "rs-2", "bbb", phase="Pending"),
        _pod("web-new-3", "rs-2", "bbb", deletionTimestamp="2026-01-01T00:00:00Z"),
        _pod("web-new-4", "rs-2", "zzz"),  # relabelled: not of this template
        _pod("stray", "rs-9", "bbb"),  # another owner with the same label
    ]
    found = current_template_pods(_deployment(), replicasets, pods)
    assert [p["metadata"]["name"] for p in found] == ["web-new-1"]
    assert current_template_pods(_deployment("5"), [], pods) == []


def test_the_resize_body_is_kubectls_with_a_resource_version_precondition() -> None:
    pod = _pod("web-1", "rs-2", "bbb")
    patch = resize_patch(pod, "c", 228 * MI)
    assert patch.body == {
        "metadata": {"resourceVersion": "7"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    # the request equalled the limit and the template names none: defaulted,
                    # as a new pod of the patched template gets it
                    "resources": {"limits": {"memory": "228Mi"}, "requests": {"memory": "228Mi"}},
                }
            ]
        },
    }
    assert (patch.limit_before, patch.limit) == ("128Mi", "228Mi")
    named = {"name": "c", "resources": {"requests": {"memory": "128Mi"}}}
    kept = resize_patch(pod, "c", 228 * MI, template_container=named)
    assert "requests" not in kept.body["spec"]["containers"][0]["resources"]
    planned = resize_patch(pod, "c", 228 * MI, request_bytes=200 * MI)
    assert planned.request == "200Mi"
    with pytest.raises(WriteRefused) as missing:
        resize_patch(pod, "sidecar", 228 * MI)
    assert missing.value.code == "not_found"


def test_the_template_patch_sets_a_planned_request_too() -> None:
    ops = memory_patch(_deployment(), "c", 256 * MI, request_bytes=200 * MI).ops
    base = "/spec/template/spec/containers/0/resources"
    assert {"op": "add", "path": f"{base}/requests", "value": {}} in ops
    assert ops[-1] == {
        "op": "add",
        "path": "/spec/template/spec/containers/0/resources/requests/memory",
        "value": "200Mi",
    }
    with pytest.raises(WriteRefused):
        memory_patch(_deployment(), "c", 256 * MI, request_bytes=300 * MI)


def test_a_resized_pod_is_in_place_pending_or_in_progress() -> None:
    entry = {"pod": "web-1", "uid": "u", "container": "c", "restart_count": 3}
    entry["memory_limit"] = {"before": "128Mi", "after": "228Mi"}
    pod = _pod("web-1", "rs-2", "bbb")
    pod["status"]["containerStatuses"][0]["resources"] = {"limits": {"memory": "228Mi"}}
    done = resize_state(pod, entry)
    assert done["state"] == "in_place" and done["restart_count"] == 3
    pod["status"]["containerStatuses"][0]["resources"] = {"limits": {"memory": "128Mi"}}
    assert resize_state(pod, entry)["state"] == "in_progress"
    pod["status"]["conditions"] = [
        {"type": "PodResizePending", "status": "True", "reason": "Infeasible", "message": "no"}
    ]
    pending = resize_state(pod, entry)
    assert (pending["state"], pending["reason"]) == ("pending", "Infeasible")
    summary = resize_summary([done, pending])
    assert summary == "resized in place: web-1; fell back to the template rollout: web-1"


def test_a_pod_replaced_before_its_resize_showed_did_not_fall_back() -> None:
    replaced = {"pod": "web-1", "state": "replaced", "pod_gone": True}
    pending = {"pod": "web-2", "state": "pending", "reason": "Deferred"}
    summary = resize_summary([replaced, pending])
    assert summary == (
        "replaced by the template rollout before the resize showed: web-1; "
        "fell back to the template rollout: web-2"
    )
