"""The bodies of the executor's writes: selectors, conditional patches, events, replacements."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from kubesim.api.selectors import matches_labels, parse_label_selector
from mcp_server.writes import (
    EVENT_MESSAGE_LIMIT,
    MemoryPatch,
    ReplacementQuery,
    RollbackPatch,
    WriteRefused,
    event_body,
    event_reason,
    is_replacement,
    label_selector,
    memory_patch,
    memory_text,
    owner_uid,
    replacement_selector,
    revision_of,
    rollback_patch,
    rollback_refusal,
)

RV = {"op": "replace", "path": "/metadata/resourceVersion", "value": "41"}

# ------------------------------------------------------------------------------- selectors


def test_label_selector_renders_match_labels_and_every_operator() -> None:
    selector = {
        "matchLabels": {"app": "web", "example.com/team": "a"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a", "b"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "canary", "operator": "Exists", "values": []},
        ],
    }
    assert label_selector(selector) == (
        "app=web,canary,env notin (dev),example.com/team=a,!legacy,tier in (a,b)"
    )


def test_label_selector_text_parses_back_to_the_same_meaning() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    requirements = parse_label_selector(label_selector(selector))
    for labels, expected in [
        ({"app": "web", "tier": "a"}, True),
        ({"app": "web", "tier": "b", "other": "x"}, True),
        ({"app": "web", "tier": "c"}, False),
        ({"app": "web"}, False),
        ({"app": "web", "tier": "a", "legacy": ""}, False),
        ({"app": "api", "tier": "a"}, False),
    ]:
        assert matches_labels(requirements, {"metadata": {"labels": labels}}) is expected, labels


def test_empty_selector_selects_everything_as_in_the_api() -> None:
    assert label_selector({}) == ""
    assert label_selector({"matchLabels": {}, "matchExpressions": []}) == ""


def test_unknown_operator_is_refused_with_a_code() -> None:
    with pytest.raises(WriteRefused) as refused:
        label_selector({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})
    assert refused.value.code == "unsupported"
    assert "'Gt' is not a valid label selector operator" in refused.value.message
    assert isinstance(refused.value, Exception) and str(refused.value) == refused.value.message


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchLabels": {"a": "x,y"}},
        {"matchLabels": {"bad key": "x"}},
        {"matchLabels": {"a": 1}},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": ["a)"]}]},
        {"matchExpressions": "a"},
    ],
)
def test_malformed_selectors_never_become_query_text(selector: dict[str, Any]) -> None:
    with pytest.raises(WriteRefused) as refused:
        label_selector(selector)
    assert refused.value.code == "invalid_input"


# ---------------------------------------------------------------------------------- rollback


def _deployment(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "dep-uid",
            "resourceVersion": "41",
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:bad"}]},
            },
            **spec,
        },
    }


def test_a_paused_deployment_may_not_be_rolled_back() -> None:
    assert rollback_refusal(_deployment()) is None
    assert rollback_refusal(_deployment(paused=False)) is None
    assert rollback_refusal(_deployment(paused=True)) == (
        "you cannot rollback a paused deployment; resume it first with "
        "'kubectl rollout resume deployment/web -n shop' and try again"
    )
    deleting = _deployment()
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert rollback_refusal(deleting) == "deployment web is being deleted"


def _rs(revision: int, image: str, owner: str = "dep-uid") -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-{revision}",
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": f"v{revision}",
            },
            "ownerReferences": [
                {"kind": "Deployment", "name": "web", "uid": owner, "controller": True}
            ],
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            }
        },
    }


def test_rollback_patch_is_kubectl_rollout_undo_made_conditional() -> None:
    sets = [_rs(1, "nginx:1.25"), _rs(2, "nginx:bad"), _rs(1, "evil", owner="other")]
    result = rollback_patch(_deployment(), sets)
    assert isinstance(result, RollbackPatch) and result.revision == 1
    patch, chosen = result  # unpacks as the executor's old (ops, revision) pair
    assert chosen == 1
    assert patch == [
        RV,
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
    assert sets[0]["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == "h1"
    # Applied to the object it was built from, it succeeds; to a changed one, the
    # resourceVersion differs from the stored one (the server answers 409).
    patched = jsonpatch.apply_patch(_deployment(), patch)
    assert patched["metadata"]["resourceVersion"] == "41"
    assert patched["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_rollback_to_a_named_revision_and_its_refusals() -> None:
    sets = [_rs(1, "a"), _rs(2, "b"), _rs(3, "nginx:bad"), _rs(4, "c")]
    deployment = _deployment()
    deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "c"
    assert rollback_patch(deployment, sets, 1).revision == 1
    assert rollback_patch(deployment, sets, 0).revision == 3  # 0: the previous one
    cases: list[tuple[dict[str, Any], list[dict[str, Any]], Any, str]] = [
        (deployment, sets, 7, "not_found"),
        (deployment, sets, 4, "vetoed"),  # the current revision
        (deployment, sets, -1, "invalid_input"),
        (deployment, sets, True, "invalid_input"),
        (_deployment(paused=True), sets, 1, "vetoed"),
        (_deployment(), [_rs(2, "nginx:bad")], None, "not_found"),
    ]
    for dep, replicasets, revision, code in cases:
        with pytest.raises(WriteRefused) as refused:
            rollback_patch(dep, replicasets, revision)
        assert refused.value.code == code, (revision, refused.value.message)
    # revision 3's template is the current one (its hash label aside): nothing to undo
    with pytest.raises(WriteRefused, match="already matches revision 3") as refused:
        rollback_patch(deployment, [_rs(1, "a"), _rs(3, "c"), _rs(4, "c")], 3)
    assert refused.value.code == "vetoed"


def test_rollback_without_a_revision_annotation_never_picks_the_current_template() -> None:
    deployment = _deployment()
    del deployment["metadata"]["annotations"]
    assert rollback_patch(deployment, [_rs(1, "a"), _rs(2, "nginx:bad")]).revision == 1


def test_a_write_needs_the_resource_version_it_is_conditional_on() -> None:
    deployment = _deployment()
    del deployment["metadata"]["resourceVersion"]
    with pytest.raises(WriteRefused) as refused:
        rollback_patch(deployment, [_rs(1, "a"), _rs(2, "nginx:bad")])
    assert refused.value.code == "invalid_input"
    with pytest.raises(WriteRefused):
        memory_patch(deployment, "app", 2**30)


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
    good_revision = revision_of(good)
    assert good_revision is not None
    deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(
        good_revision + 1
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:broken"
    ops, chosen = rollback_patch(deployment, sets, good_revision)
    assert chosen == good_revision
    assert ops[0] == {
        "op": "replace",
        "path": "/metadata/resourceVersion",
        "value": deployment["metadata"]["resourceVersion"],
    }
    assert ops[1] == recorded[0]
    assert ops[2]["value"]["deployment.kubernetes.io/revision"] == str(good_revision + 1)


# ---------------------------------------------------------------------------- memory limits

TWO_CONTAINERS: dict[str, Any] = {
    "metadata": {"name": "web", "uid": "dep-uid", "resourceVersion": "41"},
    "spec": {
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "side", "image": "busybox"},
                    {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "1"}}},
                ]
            },
        }
    },
}


def test_memory_patch_adds_the_limit_where_none_was_conditionally() -> None:
    result = memory_patch(TWO_CONTAINERS, "app", 96 * 2**20)
    assert isinstance(result, MemoryPatch)
    assert (result.container, result.value) == ("app", "96Mi")
    assert result.ops[:2] == [
        RV,
        {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "app"},
    ]
    patched = jsonpatch.apply_patch(copy.deepcopy(TWO_CONTAINERS), result.ops)
    app = patched["spec"]["template"]["spec"]["containers"][1]
    assert app["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "96Mi"}}


def test_memory_patch_replaces_an_existing_limit() -> None:
    deployment = copy.deepcopy(TWO_CONTAINERS)
    app = deployment["spec"]["template"]["spec"]["containers"][1]
    app["resources"] = {"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}}
    ops, container, value = memory_patch(deployment, "app", 2**30)
    assert (container, value) == ("app", "1Gi")
    patched = jsonpatch.apply_patch(deployment, ops)
    assert patched["spec"]["template"]["spec"]["containers"][1]["resources"] == {
        "requests": {"memory": "64Mi"},
        "limits": {"memory": "1Gi"},
    }


def test_memory_patch_fails_whole_when_the_template_moved() -> None:
    ops = memory_patch(TWO_CONTAINERS, "app", 2**30).ops
    moved = copy.deepcopy(TWO_CONTAINERS)
    moved["spec"]["template"]["spec"]["containers"].reverse()
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(moved, ops)


def test_memory_patch_refusals() -> None:
    single = copy.deepcopy(TWO_CONTAINERS)
    single["spec"]["template"]["spec"]["containers"].pop(0)
    assert memory_patch(single, None, 2**30).container == "app"  # the only one
    requesting = copy.deepcopy(single)
    requesting["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"memory": "2Gi"}
    }
    for deployment, container, limit, code in [
        (TWO_CONTAINERS, "nope", 2**30, "not_found"),
        (TWO_CONTAINERS, None, 2**30, "invalid_input"),  # which of the two?
        (TWO_CONTAINERS, "app", 0, "safety_check_failed"),
        (TWO_CONTAINERS, "app", True, "safety_check_failed"),
        (requesting, "app", 2**30, "safety_check_failed"),  # below the request: a 422
    ]:
        with pytest.raises(WriteRefused) as refused:
            memory_patch(deployment, container, limit)
        assert refused.value.code == code, refused.value.message


def test_memory_text_uses_the_largest_exact_unit() -> None:
    assert [memory_text(v) for v in (2**30, 3 * 2**20, 5 * 2**10, 1000)] == [
        "1Gi",
        "3Mi",
        "5Ki",
        "1000",
    ]


# ------------------------------------------------------------------------------------ events


def test_event_body_names_the_object_by_uid() -> None:
    body = event_body(
        "Deployment",
        "shop",
        "web",
        "dep-uid",
        "rollback_deployment",
        "the new image does not pull",
        "2026-01-01T00:00:00Z",
        "kubemedic-7d9f",
    )
    assert body == {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "web.kubemedic-", "namespace": "shop"},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "namespace": "shop",
            "uid": "dep-uid",
        },
        "reason": "KubemedicRollbackDeployment",
        "message": "kubemedic rollback_deployment: the new image does not pull",
        "type": "Normal",
        "source": {"component": "kubemedic"},
        "reportingComponent": "kubemedic",
        "reportingInstance": "kubemedic-7d9f",
        "action": "rollback_deployment",
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "count": 1,
    }
    pod = event_body("Pod", "shop", "web-1", None, "delete_pod", "x", "t", "i")
    assert pod["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "web-1",
        "namespace": "shop",
    }
    assert event_reason("increase_memory_limit") == "KubemedicIncreaseMemoryLimit"


def test_event_message_is_cut_to_the_limit() -> None:
    long = event_body("Pod", "ns", "p", "u", "delete_pod", "x" * 5000, "t", "i")
    assert len(long["message"]) == EVENT_MESSAGE_LIMIT
    wide = event_body("Pod", "ns", "p", "u", "delete_pod", "é" * 5000, "t", "i")
    assert len(wide["message"].encode()) <= 1024  # the API's limit is in bytes


# ---------------------------------------------------------------------------- replacements


def _pod(
    name: str,
    uid: str,
    owner_kind: str | None = "ReplicaSet",
    owner: str = "rs-uid",
    labels: dict[str, str] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "shop",
        "uid": uid,
        "labels": {"app": "web", "pod-template-hash": "h1"} if labels is None else labels,
        **meta,
    }
    if owner_kind:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner_kind,
                "name": "x",
                "uid": owner,
                "controller": True,
            }
        ]
    return {"metadata": metadata}


def test_replicaset_pod_replacement_is_found_by_template_hash_and_owner() -> None:
    old = _pod("web-a", "u1")
    query = replacement_selector(old)
    assert query == ReplacementQuery("pod-template-hash=h1", "ReplicaSet", "rs-uid", False)
    assert is_replacement(_pod("web-b", "u2"), old, query)
    assert not is_replacement(old, old, query)  # the old pod itself
    assert not is_replacement(_pod("web-c", "u3", owner="other-rs"), old, query)
    assert not is_replacement(_pod("web-d", "u4", owner_kind=None), old, query)
    assert not is_replacement(
        _pod("web-e", "u5", deletionTimestamp="2026-01-01T00:00:00Z"), old, query
    )
    assert not is_replacement(_pod("web-f", "u6"), old, query, known_uids={"u6"})


def test_relabelling_the_old_pod_does_not_change_the_query() -> None:
    plain = _pod("web-a", "u1")
    debugged = _pod(
        "web-a", "u1", labels={"app": "web", "pod-template-hash": "h1", "debug": "true"}
    )
    assert replacement_selector(debugged) == replacement_selector(plain)
    # the replacement does not carry the debug label and is still found
    assert is_replacement(_pod("web-b", "u2"), debugged, replacement_selector(debugged))


def test_statefulset_and_daemonset_pods_use_the_controller_revision_hash() -> None:
    labels = {"app": "db", "controller-revision-hash": "db-5f7c"}
    old = _pod("db-0", "u1", owner_kind="StatefulSet", owner="sts-uid", labels=labels)
    query = replacement_selector(old)
    assert query == ReplacementQuery(
        "controller-revision-hash=db-5f7c", "StatefulSet", "sts-uid", True
    )
    fresh = _pod("db-0", "u2", owner_kind="StatefulSet", owner="sts-uid", labels=labels)
    sibling = _pod("db-1", "u3", owner_kind="StatefulSet", owner="sts-uid", labels=labels)
    assert is_replacement(fresh, old, query)
    assert not is_replacement(sibling, old, query)  # same owner, another ordinal
    ds = _pod("agent-x", "u4", owner_kind="DaemonSet", owner="ds-uid", labels=labels)
    assert replacement_selector(ds) == ReplacementQuery(
        "controller-revision-hash=db-5f7c", "DaemonSet", "ds-uid", False
    )


def test_pods_nobody_replaces_and_pods_without_the_hash_label() -> None:
    bare = _pod("bare", "u1", owner_kind=None)
    assert replacement_selector(bare) == ReplacementQuery("", None, None, False)
    assert not is_replacement(
        _pod("other", "u2", owner_kind=None), bare, replacement_selector(bare)
    )
    unhashed = _pod("web-a", "u1", labels={})
    query = replacement_selector(unhashed)
    assert query == ReplacementQuery("", "ReplicaSet", "rs-uid", False)  # list, filter by owner
    assert is_replacement(_pod("web-b", "u2"), unhashed, query)


def test_owner_helpers_prefer_the_controller_reference() -> None:
    pod = {
        "metadata": {
            "ownerReferences": [
                {"kind": "ReplicaSet", "uid": "not-controller"},
                {"kind": "ReplicaSet", "uid": "controller", "controller": True},
            ]
        }
    }
    assert owner_uid(pod) == "controller"
    assert owner_uid(pod, "ReplicaSet") == "controller"
    assert owner_uid(pod, "StatefulSet") is None
    assert owner_uid({"metadata": {"ownerReferences": [{"kind": "Job", "uid": "j"}]}}) is None
    assert owner_uid({"metadata": {"ownerReferences": [{"kind": "Job", "uid": "j"}]}}, "Job") == "j"
