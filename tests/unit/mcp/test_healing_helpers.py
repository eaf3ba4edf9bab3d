"""The executor's pure parts: forged-diagnosis detection, the memory and rollback patches."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from mcp_server.healing import _memory_patch, _rollback_patch, forged_issue_types
from mcp_server.tools.models import ToolFailure
from policies import Action, Decision, Diagnosis, Risk, Target
from policies.diagnosis import Issue


def _diagnosis(*types: str) -> Diagnosis:
    return Diagnosis(
        namespace="default",
        pod_name="web-1",
        issues=[Issue(type=t, severity="critical") for t in types],
    )


def test_a_claimed_issue_the_cluster_shows_is_not_forged() -> None:
    claimed = {"issues": [{"type": "CrashLoopBackOff"}]}
    assert forged_issue_types(claimed, _diagnosis("CrashLoopBackOff")) == []


def test_one_condition_seen_at_another_moment_is_not_forged() -> None:
    claimed = {"issues": [{"type": "CrashLoopBackOff"}, {"type": "LogErrors"}]}
    assert forged_issue_types(claimed, _diagnosis("Error", "HighRestartCount")) == []


def test_an_issue_the_cluster_does_not_show_is_forged() -> None:
    claimed = {"issues": [{"type": "OOMKilled"}, {"type": "ImagePullBackOff"}]}
    assert forged_issue_types(claimed, _diagnosis()) == ["ImagePullBackOff", "OOMKilled"]
    assert forged_issue_types(claimed, _diagnosis("Pending")) == ["ImagePullBackOff", "OOMKilled"]


def test_junk_issues_are_ignored_not_trusted() -> None:
    assert forged_issue_types({"issues": "lots"}, _diagnosis()) == []
    assert forged_issue_types({"issues": [1, None, {"x": 1}]}, _diagnosis()) == []


DEPLOYMENT: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "uid": "dep-uid",
        "annotations": {"deployment.kubernetes.io/revision": "2"},
    },
    "spec": {
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "side", "image": "busybox"},
                    {"name": "app", "image": "nginx:bad", "resources": {"requests": {"cpu": "1"}}},
                ]
            },
        }
    },
}


def _decision(**parameters: Any) -> Decision:
    pod = Target("Pod", "default", "web-1")
    return Decision(
        action=Action.INCREASE_MEMORY_LIMIT,
        reason="r",
        confidence=1.0,
        estimated_risk=Risk.MEDIUM,
        requires_approval=True,
        safety_checks_passed=True,
        checks=(),
        target=Target("Deployment", "default", "web"),
        pod=pod,
        workload="Deployment/web",
        parameters=parameters,
    )


def test_memory_patch_adds_the_limit_where_none_was() -> None:
    patch, container, value = _memory_patch(
        DEPLOYMENT, _decision(container="app", memory_limit_bytes=96 * 2**20)
    )
    assert (container, value) == ("app", "96Mi")
    patched = jsonpatch.apply_patch(copy.deepcopy(DEPLOYMENT), patch)
    app = patched["spec"]["template"]["spec"]["containers"][1]
    assert app["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "96Mi"}}


def test_memory_patch_fails_whole_when_the_template_moved() -> None:
    patch, _, _ = _memory_patch(DEPLOYMENT, _decision(container="app", memory_limit_bytes=2**30))
    moved = copy.deepcopy(DEPLOYMENT)
    moved["spec"]["template"]["spec"]["containers"].reverse()
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved, patch)


def test_memory_patch_needs_the_container() -> None:
    with pytest.raises(ToolFailure):
        _memory_patch(DEPLOYMENT, _decision(container="nope", memory_limit_bytes=2**30))


def _rs(revision: int, image: str, owner: str = "dep-uid") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{revision}",
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": f"v{revision}",
            },
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner}],
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            }
        },
    }


def test_rollback_patch_is_kubectl_rollout_undo() -> None:
    sets = [_rs(1, "nginx:1.25"), _rs(2, "nginx:bad"), _rs(1, "evil", owner="other")]
    patch, chosen = _rollback_patch(DEPLOYMENT, sets, None)
    assert chosen == 1
    assert patch == [
        {
            "op": "replace",
            "path": "/spec/template",
            "value": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
            },
        },
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {"deployment.kubernetes.io/revision": "2", "kubernetes.io/change-cause": "v1"},
        },
    ]
    # The ReplicaSet itself is untouched.
    assert sets[0]["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == "h1"


def test_rollback_needs_an_earlier_revision() -> None:
    with pytest.raises(ToolFailure):
        _rollback_patch(DEPLOYMENT, [_rs(2, "nginx:bad")], None)
    with pytest.raises(ToolFailure):
        _rollback_patch(DEPLOYMENT, [_rs(1, "a"), _rs(2, "b")], 7)


def test_oom_is_not_implied_by_a_crash() -> None:
    claimed = {"issues": [{"type": "OOMKilled"}]}
    assert forged_issue_types(claimed, _diagnosis("CrashLoopBackOff")) == ["OOMKilled"]
    assert forged_issue_types(claimed, _diagnosis("CrashLoopBackOff", "OOMKilled")) == []


REFERENCE = Path("/work/shared/reference/kube-apiserver-1.28")


@pytest.mark.skipif(not REFERENCE.exists(), reason="the recorded reference is not on this machine")
def test_rollback_template_matches_what_kubectl_sent() -> None:
    """Against a real apiserver's objects: the template op is byte-for-byte kubectl's."""
    recorded = json.loads((REFERENCE / "kubectl/rollout-undo.patch-body.json").read_text())
    deployment = json.loads((REFERENCE / "responses/deployment-get.json").read_text())
    sets = json.loads((REFERENCE / "responses/replicasets-list.json").read_text())["items"]
    good = next(
        rs
        for rs in sets
        if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    )
    good_revision = int(good["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
    deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(
        good_revision + 1
    )
    patch, chosen = _rollback_patch(deployment, sets, good_revision)
    assert chosen == good_revision
    assert patch[0] == recorded[0]
    assert patch[1]["value"]["deployment.kubernetes.io/revision"] == str(good_revision + 1)
