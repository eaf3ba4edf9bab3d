"""Deployment and ReplicaSet controllers: revisions, rolling updates, replacement, history."""

from __future__ import annotations

import copy
import re

from kubesim.controllers.deployment import HASH_LABEL, template_hash
from kubesim.store import DEPLOYMENTS, PODS, REPLICASETS, Obj
from tests.unit.kubesim.harness import (
    Cluster,
    container_status,
    deployment_manifest,
    waiting_reason,
)

REVISION = "deployment.kubernetes.io/revision"


def _running(pods: list[Obj]) -> list[Obj]:
    return [
        p
        for p in pods
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def _set_image(image: str):  # type: ignore[no-untyped-def]
    def change(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def _rollout_undo(cluster: Cluster, name: str, to_revision: int | None = None) -> None:
    """What `kubectl rollout undo` sends: the old ReplicaSet's template without its hash label."""
    rss = [r for r in cluster.replicasets(name + "-")]
    rss.sort(key=lambda r: int(r["metadata"]["annotations"][REVISION]))
    target = (
        rss[-2]
        if to_revision is None
        else next(r for r in rss if r["metadata"]["annotations"][REVISION] == str(to_revision))
    )
    template = copy.deepcopy(target["spec"]["template"])
    del template["metadata"]["labels"][HASH_LABEL]

    def change(d: Obj) -> None:
        d["spec"]["template"] = template

    cluster.update("Deployment", name, change)


def test_deployment_creates_a_revisioned_replicaset_and_owned_pods(cluster: Cluster) -> None:
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=3))
    cluster.advance(20)
    d = cluster.deployment("web")
    [rs] = cluster.replicasets("web-")
    h = rs["metadata"]["labels"][HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{6,10}", h)
    assert h == template_hash(d["spec"]["template"])
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4",
        REVISION: "1",
    }
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": d["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: h}
    assert d["metadata"]["annotations"][REVISION] == "1"
    pods = cluster.pods("web-")
    assert len(pods) == 3
    for pod in pods:
        assert re.fullmatch(rf"web-{h}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", pod["metadata"]["name"])
        assert pod["metadata"]["labels"] == {"app": "web", HASH_LABEL: h}
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["status"]["phase"] == "Running"
        assert container_status(pod)["ready"] is True
    assert (
        d["status"]["replicas"]
        == d["status"]["readyReplicas"]
        == d["status"]["availableReplicas"]
        == 3
    )
    assert d["status"]["updatedReplicas"] == 3 and "unavailableReplicas" not in d["status"]
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert (
        conditions["Progressing"]["message"] == f'ReplicaSet "web-{h}" has successfully progressed.'
    )
    assert [e["message"] for e in cluster.events("web", "ScalingReplicaSet")] == [
        f"Scaled up replica set web-{h} to 3"
    ]
    assert len(cluster.events(f"web-{h}", "SuccessfulCreate")) == 3
    assert rs["metadata"]["name"] == cluster.replicasets("web-")[0]["metadata"]["name"]
    rs_status = cluster.replicasets("web-")[0]["status"]
    assert (
        rs_status["replicas"] == rs_status["readyReplicas"] == rs_status["availableReplicas"] == 3
    )


def test_a_deleted_pod_is_replaced_by_a_fresh_one(cluster: Cluster) -> None:
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=2))
    cluster.advance(20)
    victim = cluster.pods("web-")[0]["metadata"]["name"]
    cluster.delete_pod(victim)
    names = [p["metadata"]["name"] for p in cluster.pods("web-")]
    assert victim not in names and len(names) == 2
    cluster.advance(20)
    pods = _running(cluster.pods("web-"))
    assert len(pods) == 2
    for pod in pods:
        assert container_status(pod)["restartCount"] == 0
    assert cluster.logs.read("default", victim, "app") is None


def test_a_crash_looping_pod_deleted_comes_back_with_restart_count_zero(cluster: Cluster) -> None:
    manifest = deployment_manifest("crashy", "busybox:1.36", replicas=1)
    manifest["spec"]["template"]["spec"]["containers"][0]["command"] = [
        "sh",
        "-c",
        "echo boom; exit 3",
    ]
    cluster.create(manifest)
    cluster.advance(120, step=2)
    [pod] = cluster.pods("crashy-")
    assert container_status(pod)["restartCount"] >= 3
    previous = cluster.logs.read("default", pod["metadata"]["name"], "app", previous=True)
    assert previous is not None and previous[-1][1] == "boom"
    cluster.delete_pod(pod["metadata"]["name"])
    cluster.advance(1)
    [fresh] = cluster.pods("crashy-")
    assert fresh["metadata"]["name"] != pod["metadata"]["name"]
    assert container_status(fresh)["restartCount"] == 0


def test_bad_image_rollout_keeps_old_pods_and_undo_restores_the_old_replicaset(
    cluster: Cluster,
) -> None:
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=3))
    cluster.advance(20)
    [good] = cluster.replicasets("web-")
    good_name = good["metadata"]["name"]
    cluster.update("Deployment", "web", _set_image("nginx:1.25-doesnotexist"))
    cluster.advance(60)
    rss = {r["metadata"]["name"]: r for r in cluster.replicasets("web-")}
    bad_name = next(n for n in rss if n != good_name)
    assert rss[bad_name]["metadata"]["annotations"][REVISION] == "2"
    # maxSurge 25% of 3 rounds up to 1, maxUnavailable rounds down to 0: old pods all stay.
    assert rss[bad_name]["spec"]["replicas"] == 1 and rss[good_name]["spec"]["replicas"] == 3
    old_pods = [p for p in cluster.pods(good_name) if container_status(p)["ready"]]
    assert len(old_pods) == 3
    [bad_pod] = cluster.pods(bad_name)
    assert waiting_reason(bad_pod) in ("ImagePullBackOff", "ErrImagePull")
    d = cluster.deployment("web")
    assert d["status"]["unavailableReplicas"] == 1 and d["status"]["updatedReplicas"] == 1
    assert {c["type"]: c["reason"] for c in d["status"]["conditions"]} == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "ReplicaSetUpdated",
    } or {c["type"]: c["reason"] for c in d["status"]["conditions"]}[
        "Progressing"
    ] == "NewReplicaSetCreated"

    cluster.advance(600, step=10)
    progressing = next(
        c for c in cluster.deployment("web")["status"]["conditions"] if c["type"] == "Progressing"
    )
    assert progressing["status"] == "False" and progressing["reason"] == "ProgressDeadlineExceeded"
    assert progressing["message"] == f'ReplicaSet "{bad_name}" has timed out progressing.'

    _rollout_undo(cluster, "web")
    cluster.advance(30)
    rss = {r["metadata"]["name"]: r for r in cluster.replicasets("web-")}
    assert rss[good_name]["metadata"]["annotations"][REVISION] == "3"
    assert (
        rss[good_name]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"]
        == "1"
    )
    assert rss[good_name]["spec"]["replicas"] == 3 and rss[bad_name]["spec"]["replicas"] == 0
    d = cluster.deployment("web")
    assert d["metadata"]["annotations"][REVISION] == "3"
    assert cluster.pods(bad_name) == []
    assert len(_running(cluster.pods(good_name))) == 3
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["status"] == "True" and progressing["reason"] == "NewReplicaSetAvailable"
    assert f"Scaled down replica set {bad_name} to 0 from 1" in [
        e["message"] for e in cluster.events("web", "ScalingReplicaSet")
    ]


def test_good_rollout_replaces_pods_within_surge_and_unavailability(cluster: Cluster) -> None:
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=4))
    cluster.advance(20)
    cluster.update("Deployment", "web", _set_image("nginx:1.26"))
    desired, surge, unavailable = 4, 1, 1
    for _ in range(60):
        cluster.advance(1)
        rss = cluster.replicasets("web-")
        assert sum(r["spec"]["replicas"] for r in rss) <= desired + surge
        available = sum(r["status"].get("availableReplicas", 0) for r in rss)
        assert available >= desired - unavailable
    [new] = [r for r in cluster.replicasets("web-") if r["spec"]["replicas"]]
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert len(_running(cluster.pods("web-"))) == 4
    reasons = {c["type"]: c["reason"] for c in cluster.deployment("web")["status"]["conditions"]}
    assert reasons == {
        "Available": "MinimumReplicasAvailable",
        "Progressing": "NewReplicaSetAvailable",
    }


def test_scale_down_removes_unready_pods_first(cluster: Cluster) -> None:
    manifest = deployment_manifest("web", "nginx:1.25", replicas=3)
    cluster.create(manifest)
    cluster.advance(20)
    keep = {p["metadata"]["name"] for p in cluster.pods("web-")}

    def scale(replicas: int):  # type: ignore[no-untyped-def]
        def change(d: Obj) -> None:
            d["spec"]["replicas"] = replicas

        return change

    cluster.update("Deployment", "web", scale(5))
    newcomers = {p["metadata"]["name"] for p in cluster.pods("web-")} - keep
    assert len(newcomers) == 2
    cluster.update("Deployment", "web", scale(3))  # the newcomers are not ready yet
    cluster.advance(5)
    assert {p["metadata"]["name"] for p in cluster.pods("web-")} == keep
    assert (
        len(cluster.events(cluster.replicasets("web-")[0]["metadata"]["name"], "SuccessfulDelete"))
        == 2
    )


def test_revision_history_limit_prunes_the_oldest_replicasets(cluster: Cluster) -> None:
    manifest = deployment_manifest("web", "nginx:1.20", replicas=1)
    manifest["spec"]["revisionHistoryLimit"] = 2
    cluster.create(manifest)
    for version in ("1.21", "1.22", "1.23", "1.24"):
        cluster.advance(15)
        cluster.update("Deployment", "web", _set_image(f"nginx:{version}"))
    cluster.advance(30)
    revisions = sorted(
        int(r["metadata"]["annotations"][REVISION]) for r in cluster.replicasets("web-")
    )
    assert revisions == [3, 4, 5]


def test_deleting_a_deployment_collects_its_replicasets_and_pods(cluster: Cluster) -> None:
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=2))
    cluster.advance(20)
    cluster.store.delete(DEPLOYMENTS, "default", "web")
    cluster.advance(2)
    assert cluster.store.list(REPLICASETS) == []
    assert cluster.store.list(PODS) == []


def test_recreate_strategy_stops_old_pods_before_starting_new_ones(cluster: Cluster) -> None:
    manifest = deployment_manifest("db", "redis:7.2", replicas=2)
    manifest["spec"]["strategy"] = {"type": "Recreate"}
    cluster.create(manifest)
    cluster.advance(20)
    cluster.update("Deployment", "db", _set_image("redis:7.0"))
    images = {c["image"] for p in cluster.pods("db-") for c in p["spec"]["containers"]}
    assert images == {"redis:7.0"} or images == set()
    cluster.advance(20)
    pods = _running(cluster.pods("db-"))
    assert len(pods) == 2 and {p["spec"]["containers"][0]["image"] for p in pods} == {"redis:7.0"}


def test_template_hash_is_stable_and_ignores_the_hash_label() -> None:
    template: Obj = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "a", "image": "nginx"}]},
    }
    labelled = copy.deepcopy(template)
    labelled["metadata"]["labels"][HASH_LABEL] = "whatever"
    assert (
        template_hash(template) == template_hash(labelled) == template_hash(copy.deepcopy(template))
    )
    other = copy.deepcopy(template)
    other["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert template_hash(other) != template_hash(template)
    assert template_hash(template, 1) != template_hash(template)


def test_events_expire_after_an_hour(cluster: Cluster) -> None:
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=1))
    cluster.advance(20)
    assert cluster.events("web", "ScalingReplicaSet")
    cluster.advance(3700, step=60)
    assert cluster.events("web", "ScalingReplicaSet") == []


def test_pod_disruption_budget_status_follows_ready_pods(cluster: Cluster) -> None:
    from kubesim.store import PDBS

    manifest = deployment_manifest("web", "nginx:1.25", replicas=3)
    manifest["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "httpGet": {"path": "/", "port": 80},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
    }
    cluster.create(manifest)
    for name, budget in (("min", {"minAvailable": 2}), ("max", {"maxUnavailable": "34%"})):
        cluster.create(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": f"web-{name}"},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, **budget},
            }
        )
    cluster.advance(20)
    minimum = cluster.store.get(PDBS, "default", "web-min")["status"]
    assert (
        minimum["currentHealthy"],
        minimum["desiredHealthy"],
        minimum["disruptionsAllowed"],
    ) == (3, 2, 1)
    assert minimum["expectedPods"] == 3
    assert minimum["conditions"][0]["reason"] == "SufficientPods"
    maximum = cluster.store.get(PDBS, "default", "web-max")["status"]
    assert (maximum["desiredHealthy"], maximum["disruptionsAllowed"]) == (1, 2)  # 34% of 3 -> 2

    cluster.delete_pod(cluster.pods("web-")[0]["metadata"]["name"])
    minimum = cluster.store.get(PDBS, "default", "web-min")["status"]
    assert minimum["currentHealthy"] == 2 and minimum["disruptionsAllowed"] == 0
    assert minimum["conditions"][0]["status"] == "False"
    assert minimum["conditions"][0]["reason"] == "InsufficientPods"
    cluster.advance(20)
    assert cluster.store.get(PDBS, "default", "web-min")["status"]["disruptionsAllowed"] == 1


def test_raising_the_memory_limit_rolls_out_pods_that_stop_being_oom_killed(
    cluster: Cluster,
) -> None:
    manifest = deployment_manifest("etl", "polinux/stress", replicas=2)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["--vm", "1", "--vm-bytes", "100M", "--vm-hang", "1"]
    container["resources"] = {"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}}
    cluster.create(manifest)
    cluster.advance(60)
    for pod in cluster.pods("etl-"):
        assert container_status(pod)["lastState"]["terminated"]["reason"] == "OOMKilled"

    def raise_limit(d: Obj) -> None:
        resources = d["spec"]["template"]["spec"]["containers"][0]["resources"]
        resources["limits"]["memory"] = resources["requests"]["memory"] = "256Mi"

    cluster.update("Deployment", "etl", raise_limit)
    cluster.advance(60)
    pods = _running(cluster.pods("etl-"))
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "256Mi"
        status = container_status(pod)
        assert status["restartCount"] == 0 and status["ready"]
    assert cluster.deployment("etl")["metadata"]["annotations"][REVISION] == "2"


def test_a_loaded_deployment_keeps_its_recorded_replicaset(cluster: Cluster) -> None:
    """A recording whose template differs in a defaulted field from its ReplicaSet's."""
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=2))
    cluster.advance(20)
    [rs] = cluster.replicasets("web-")
    d = cluster.deployment("web")
    recorded_d, recorded_rs = copy.deepcopy(d), copy.deepcopy(rs)
    recorded_d["spec"]["template"]["spec"]["containers"][0]["terminationMessagePolicy"] = "File"
    recorded_rs["spec"]["template"]["spec"]["containers"][0].pop("terminationMessagePolicy", None)
    pods = cluster.store.list(PODS)
    for obj, rtype in [(p, PODS) for p in pods] + [(rs, REPLICASETS), (d, DEPLOYMENTS)]:
        cluster.store.delete(rtype, obj["metadata"]["namespace"], obj["metadata"]["name"])
    cluster.store.create(DEPLOYMENTS, recorded_d, keep_metadata=True)
    cluster.store.create(REPLICASETS, recorded_rs, keep_metadata=True)
    for pod in pods:
        cluster.store.create(PODS, pod, keep_metadata=True)
    cluster.advance(20)
    assert [r["metadata"]["name"] for r in cluster.replicasets("web-")] == [rs["metadata"]["name"]]
    assert sorted(p["metadata"]["name"] for p in cluster.pods("web-")) == sorted(
        p["metadata"]["name"] for p in pods
    )


def test_pods_of_a_deleted_node_are_collected_and_replaced(cluster: Cluster) -> None:
    from kubesim.store import NODES

    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=4))
    cluster.advance(20)
    on_node_1 = [p for p in cluster.pods("web-") if p["spec"]["nodeName"] == "kubesim-node-1"]
    assert on_node_1
    cluster.store.delete(NODES, "", "kubesim-node-1")
    cluster.advance(20)
    pods = _running(cluster.pods("web-"))
    assert len(pods) == 4 and {p["spec"]["nodeName"] for p in pods} == {"kubesim-node-2"}


def test_scaling_a_stuck_rollout_spreads_replicas_in_proportion(cluster: Cluster) -> None:
    manifest = deployment_manifest("web", "nginx:1.25", replicas=10)
    manifest["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2},
    }
    cluster.create(manifest)
    cluster.advance(20)
    [good] = cluster.replicasets("web-")
    cluster.update("Deployment", "web", _set_image("nginx:0.0.1-missing"))
    cluster.advance(20)
    sizes = {r["metadata"]["name"]: r["spec"]["replicas"] for r in cluster.replicasets("web-")}
    good_name = good["metadata"]["name"]
    bad_name = next(n for n in sizes if n != good_name)
    assert sizes == {good_name: 8, bad_name: 5}  # 13 = 10 + maxSurge 3, 8 available

    def scale(d: Obj) -> None:
        d["spec"]["replicas"] = 20

    cluster.update("Deployment", "web", scale)
    cluster.advance(5)
    sizes = {r["metadata"]["name"]: r["spec"]["replicas"] for r in cluster.replicasets("web-")}
    # 23 allowed now: both grow by the same factor (8 * 23/13 -> 14, 5 * 23/13 -> 9).
    assert sizes == {good_name: 14, bad_name: 9}
    for rs in cluster.replicasets("web-"):
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "20"
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "23"


def test_a_paused_deployment_does_not_roll_out_until_resumed(cluster: Cluster) -> None:
    cluster.create(deployment_manifest("web", "nginx:1.25", replicas=2))
    cluster.advance(20)

    def pause_and_change(d: Obj) -> None:
        d["spec"]["paused"] = True
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"

    cluster.update("Deployment", "web", pause_and_change)
    cluster.advance(20)
    assert len(cluster.replicasets("web-")) == 1
    progressing = next(
        c for c in cluster.deployment("web")["status"]["conditions"] if c["type"] == "Progressing"
    )
    assert progressing["status"] == "Unknown" and progressing["reason"] == "DeploymentPaused"

    def resume(d: Obj) -> None:
        d["spec"]["paused"] = False

    cluster.update("Deployment", "web", resume)
    cluster.advance(30)
    images = {p["spec"]["containers"][0]["image"] for p in _running(cluster.pods("web-"))}
    assert images == {"nginx:1.26"}
