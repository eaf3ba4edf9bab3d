"""Scenario -> kubesim objects: behaviour becomes kubesim.io annotations where it belongs."""

from __future__ import annotations

from typing import Any

from evals.format import Scenario, default_scenarios_dir, load_scenarios
from evals.loader import PREFIX, Prepared, prepare

SHIPPED = {s.name: s for s in load_scenarios(default_scenarios_dir())}


def kind(p: Prepared, k: str) -> list[dict[str, Any]]:
    return [o for o in p.objects if o.get("kind") == k]


def behaviour_of(meta: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(PREFIX)}


def target(p: Prepared, s: Scenario) -> dict[str, Any]:
    return next(o for o in kind(p, "Pod") if o["metadata"]["name"] == s.target.pod)


def by_revision(p: Prepared) -> dict[int, dict[str, Any]]:
    return {
        int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]): rs
        for rs in kind(p, "ReplicaSet")
    }


def test_every_shipped_scenario_prepares_and_keeps_one_template_per_revision() -> None:
    for s in SHIPPED.values():
        p = prepare(s)
        for deploy in kind(p, "Deployment"):
            uid = deploy["metadata"]["uid"]
            owned = [
                rs for rs in kind(p, "ReplicaSet")
                if rs["metadata"]["ownerReferences"][0]["uid"] == uid
            ]  # fmt: skip
            if not owned:
                continue
            current = max(
                owned,
                key=lambda r: int(
                    r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                ),
            )
            assert behaviour_of(deploy["spec"]["template"]["metadata"]) == behaviour_of(
                current["spec"]["template"]["metadata"]
            ), s.name


def test_transient_crash_keeps_crashing_but_a_fresh_pod_is_healthy() -> None:
    s = SHIPPED["crashloop-transient-db-failover"]
    p = prepare(s)
    assert behaviour_of(target(p, s)["metadata"])[PREFIX + "crash-after"] == "3s"
    (rs,) = kind(p, "ReplicaSet")
    assert not behaviour_of(rs["spec"]["template"]["metadata"])


def test_deterministic_crash_crashes_again_after_a_delete() -> None:
    s = SHIPPED["crashloop-deterministic-nil-pointer"]
    (rs,) = kind(prepare(s), "ReplicaSet")
    annotations = behaviour_of(rs["spec"]["template"]["metadata"])
    assert annotations[PREFIX + "exit-code"] == "2"
    assert "panic: runtime error" in annotations[PREFIX + "log-startup"]


def test_the_previous_revision_is_healthy_when_rollback_helps() -> None:
    s = SHIPPED["crashloop-began-with-rollout-image"]
    revisions = by_revision(prepare(s))
    assert PREFIX + "crash-after" in behaviour_of(revisions[4]["spec"]["template"]["metadata"])
    assert not behaviour_of(revisions[3]["spec"]["template"]["metadata"])


def test_memory_needed_goes_on_pods_and_templates() -> None:
    s = SHIPPED["oom-steady"]
    p = prepare(s)
    assert behaviour_of(target(p, s)["metadata"])[PREFIX + "memory"] == "300Mi"
    (rs,) = kind(p, "ReplicaSet")
    assert behaviour_of(rs["spec"]["template"]["metadata"])[PREFIX + "memory"] == "300Mi"
    leak = prepare(SHIPPED["oom-leak"])
    (rs,) = kind(leak, "ReplicaSet")
    assert behaviour_of(rs["spec"]["template"]["metadata"])[PREFIX + "memory-growth"] == "100Mi/min"


def test_pull_failures_keep_their_class_and_missing_tags_leave_the_registry() -> None:
    s = SHIPPED["imagepull-unauthorized"]
    p = prepare(s)
    assert behaviour_of(target(p, s)["metadata"]) == {PREFIX + "pull": "unauthorized"}
    assert not p.pullable
    typo = prepare(SHIPPED["imagepull-tag-typo-in-rollout"])
    assert typo.missing == {"registry.example.com/shop/api:v2.31.0"}
    assert "registry.example.com/shop/api:v2.3.0" in typo.pullable


def test_liveness_killed_pods_keep_failing_their_probe() -> None:
    s = SHIPPED["crashloop-liveness-catalog"]
    annotations = behaviour_of(target(prepare(s), s)["metadata"])
    assert annotations[PREFIX + "liveness"] == "fail"
    assert annotations[PREFIX + "liveness-output"] == "HTTP probe failed with statuscode: 404"


def test_a_recorded_unbound_claim_stays_unbound() -> None:
    (claim,) = kind(prepare(SHIPPED["pending-unbound-pvc"]), "PersistentVolumeClaim")
    assert claim["metadata"]["annotations"][PREFIX + "unbound"] == "true"


def test_existing_kubesim_annotations_are_the_behaviour_and_are_kept() -> None:
    s = SHIPPED["crashloop-transient-db-failover"]
    data = s.model_dump(mode="json")
    for obj in data["cluster"]["objects"]:
        if obj["kind"] == "Pod" and obj["metadata"]["name"] == s.target.pod:
            obj["metadata"]["annotations"] = {PREFIX + "crash-after": "9s"}
    p = prepare(Scenario.model_validate(data))
    assert behaviour_of(target(p, s)["metadata"]) == {PREFIX + "crash-after": "9s"}


def test_recorded_nodes_replace_the_default_ones_and_logs_are_kept() -> None:
    s = SHIPPED["pending-cluster-full"]
    p = prepare(s)
    assert [n["metadata"]["name"] for n in p.nodes] == ["worker-1", "worker-2"]
    assert p.recorded_at.isoformat() == "2026-03-14T09:30:00+00:00"
    s2 = SHIPPED["secrets-database-url"]
    assert any("postgres://" in line for *_, prev, _ in prepare(s2).logs for line in prev)
