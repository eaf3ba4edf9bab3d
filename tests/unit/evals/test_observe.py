"""Classifying a Deployment spec change into the action it amounts to."""

from __future__ import annotations

import copy
from typing import Any

from evals.observe import SpecChange, classify_change


def template(image: str = "app:2", memory: str = "256Mi", hash_: str = "abc") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web", "pod-template-hash": hash_}},
        "spec": {
            "containers": [
                {"name": "app", "image": image,
                 "resources": {"limits": {"memory": memory}, "requests": {"memory": "128Mi"}}}
            ]
        },
    }  # fmt: skip


def spec(replicas: int = 3, **kw: Any) -> dict[str, Any]:
    t = template(**kw)
    t["metadata"]["labels"].pop("pod-template-hash")
    return {"replicas": replicas, "template": t}


def rs(revision: int, **kw: Any) -> dict[str, Any]:
    return {
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": str(revision)}},
        "spec": {"template": template(hash_=f"h{revision}", **kw)},
    }


def change(before: dict[str, Any], after: dict[str, Any]) -> SpecChange:
    return SpecChange(copy.deepcopy(before), copy.deepcopy(after), seq=1)


def test_a_template_equal_to_an_older_revision_is_a_rollback() -> None:
    action, detail = classify_change(
        change(spec(image="app:2"), spec(image="app:1")),
        [rs(1, image="app:1"), rs(2, image="app:2")],
    )
    assert (action, detail) == ("rollback_deployment", "to revision 1")


def test_a_raised_memory_limit_is_an_increase() -> None:
    action, _ = classify_change(change(spec(), spec(memory="384Mi")), [rs(1)])
    assert action == "increase_memory_limit"


def test_a_lowered_memory_limit_or_a_new_image_is_no_allowed_action() -> None:
    assert classify_change(change(spec(), spec(memory="128Mi")), [rs(1)])[0] == "other_write"
    assert classify_change(change(spec(), spec(image="evil:latest")), [rs(1)])[0] == "other_write"


def test_replica_changes() -> None:
    assert classify_change(change(spec(6), spec(4)), [])[0] == "scale_down_deployment"
    assert classify_change(change(spec(3), spec(0)), [])[0] == "scale_to_zero"
    assert classify_change(change(spec(3), spec(9)), [])[0] == "other_write"
