"""Property tests: patch semantics, selector parsing, and dryRun=All never writing."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubesim.api.errors import ApiError
from kubesim.api.handlers import ListQuery
from kubesim.api.patch import STRATEGIC, apply_patch, merge_patch, strategic_merge
from kubesim.api.paths import Target
from kubesim.api.selectors import Requirement, matches_labels, parse_label_selector
from kubesim.sim import KubeSim
from kubesim.store import DEPLOYMENTS, PODS

names = st.text(alphabet="abcdefghij", min_size=1, max_size=4)
json_leaf = st.one_of(st.integers(-5, 5), st.text(alphabet="xyz", max_size=3), st.booleans())
json_value = st.recursive(
    json_leaf,
    lambda inner: st.dictionaries(names, inner, max_size=3) | st.lists(inner, max_size=3),
    max_leaves=8,
)
json_object = st.dictionaries(names, json_value, max_size=4)
patch_object = st.dictionaries(names, st.one_of(st.none(), json_value), max_size=4)


@given(json_object, patch_object)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
    assert all(k not in once for k, v in patch.items() if v is None)


@given(json_object)
def test_empty_patches_change_nothing(target: dict[str, Any]) -> None:
    assert merge_patch(target, {}) == target
    assert strategic_merge(target, {}, None) == target


containers = st.lists(
    st.fixed_dictionaries({"name": names, "image": names, "tty": st.booleans()}),
    min_size=1,
    max_size=4,
    unique_by=lambda c: c["name"],
)


@given(containers, st.data())
def test_strategic_merge_merges_containers_by_name(
    current: list[dict[str, Any]], data: Any
) -> None:
    chosen = data.draw(st.lists(st.sampled_from([c["name"] for c in current]), unique=True))
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": c["name"]} for c in current],
            "containers": [{"name": n, "image": n + "-new"} for n in chosen],
        }
    }
    pod = {"spec": {"containers": copy.deepcopy(current)}}
    result = apply_patch(pod, patch, STRATEGIC, "io.k8s.api.core.v1.Pod")
    merged = result["spec"]["containers"]
    assert [c["name"] for c in merged] == [c["name"] for c in current]
    for before, after in zip(current, merged, strict=True):
        assert after["tty"] == before["tty"]  # untouched fields survive the merge
        assert after["image"] == (
            before["name"] + "-new" if before["name"] in chosen else before["image"]
        )


@given(containers)
def test_strategic_delete_directive_removes_only_that_container(
    current: list[dict[str, Any]],
) -> None:
    victim = current[0]["name"]
    patch = {"spec": {"containers": [{"name": victim, "$patch": "delete"}]}}
    result = apply_patch(
        {"spec": {"containers": current}}, patch, STRATEGIC, "io.k8s.api.core.v1.Pod"
    )
    assert [c["name"] for c in result["spec"]["containers"]] == [c["name"] for c in current[1:]]


label_keys = st.sampled_from(["app", "tier", "team", "env"])
label_values = st.sampled_from(["a", "b", "c"])
requirements = st.one_of(
    st.builds(lambda k, v: Requirement(k, "=", (v,)), label_keys, label_values),
    st.builds(lambda k, v: Requirement(k, "!=", (v,)), label_keys, label_values),
    st.builds(
        lambda k, vs: Requirement(k, "in", tuple(vs)),
        label_keys,
        st.lists(label_values, min_size=1, max_size=3, unique=True),
    ),
    st.builds(
        lambda k, vs: Requirement(k, "notin", tuple(vs)),
        label_keys,
        st.lists(label_values, min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda k: Requirement(k, "exists"), label_keys),
    st.builds(lambda k: Requirement(k, "!"), label_keys),
)


def _format(r: Requirement) -> str:
    if r.op in ("=", "!="):
        return f"{r.key}{r.op}{r.values[0]}"
    if r.op in ("in", "notin"):
        return f"{r.key} {r.op} ({','.join(r.values)})"
    return r.key if r.op == "exists" else f"!{r.key}"


@given(st.lists(requirements, min_size=1, max_size=4), st.dictionaries(label_keys, label_values))
def test_label_selector_text_means_what_its_requirements_mean(
    reqs: list[Requirement], labels: dict[str, str]
) -> None:
    parsed = parse_label_selector(",".join(_format(r) for r in reqs))
    assert parsed == reqs
    obj = {"metadata": {"labels": labels}}
    assert matches_labels(parsed, obj) == all(r.matches(labels) for r in reqs)


_SIM = KubeSim()  # never started: the handlers alone, no HTTP, one store for all examples
_SIM.apply(
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
            },
        },
    }
)

operations = st.one_of(
    st.tuples(st.just("create"), names),
    st.tuples(st.just("patch"), st.integers(0, 20)),
    st.tuples(st.just("delete"), st.sampled_from(["web", "missing"])),
    st.tuples(st.just("delete-pods"), st.just("")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=6))
def test_dry_run_never_writes(ops: list[tuple[str, Any]]) -> None:
    handlers = _SIM._handlers
    before = _SIM.store.resource_version
    snapshot = _SIM.store.list(DEPLOYMENTS, "default")
    for op, arg in ops:
        try:
            if op == "create":
                pod = {
                    "metadata": {"name": arg},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                }
                handlers.create(Target(PODS, "default", None), pod, dry_run=True)
            elif op == "patch":
                body = {"spec": {"replicas": arg}}
                handlers.patch(Target(DEPLOYMENTS, "default", "web"), body, STRATEGIC, dry_run=True)
            elif op == "delete":
                handlers.delete(Target(DEPLOYMENTS, "default", arg), {}, dry_run=True)
            else:
                handlers.delete_collection(
                    Target(PODS, "default", None), ListQuery(), {}, dry_run=True
                )
        except ApiError:
            pass  # refusing is fine; writing is not
    assert _SIM.store.resource_version == before
    assert _SIM.store.list(DEPLOYMENTS, "default") == snapshot
