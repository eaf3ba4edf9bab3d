"""WorkloadRefs: the top of each pod's owner chain, one read per unknown owner, remembered."""

from __future__ import annotations

from typing import Any, cast

from kubemedic_contract import WorkloadRef
from mcp_server.gateway import Gateway, NotFound
from mcp_server.workload_refs import Owner, WorkloadRefs, owner_of


def _obj(kind: str, name: str, uid: str, owner: tuple[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid}
    if owner is not None:
        meta["ownerReferences"] = [
            {"kind": owner[0], "name": owner[1], "uid": f"{owner[1]}-uid", "controller": True}
        ]
    return {"kind": kind, "metadata": meta}


class FakeGateway:
    """The two reads WorkloadRefs sends, counted."""

    def __init__(self, replicasets: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> None:
        self.replicasets = replicasets
        self.jobs = {j["metadata"]["name"]: j for j in jobs}
        self.reads: list[str] = []

    def list_replicasets(self, namespace: str) -> list[dict[str, Any]]:
        self.reads.append(f"list replicasets {namespace}")
        return self.replicasets

    def get_job(self, namespace: str, name: str) -> dict[str, Any]:
        self.reads.append(f"get job {name}")
        if name not in self.jobs:
            raise NotFound(f"job {name} not found")
        return self.jobs[name]


def _pod(name: str, owner: tuple[str, str, str] | None) -> Owner:
    if owner is None:
        return Owner("default", name, None, None, None)
    return Owner("default", name, owner[0], owner[1], owner[2])


def test_each_kind_resolves_to_its_top_controller_and_is_remembered() -> None:
    gateway = FakeGateway(
        replicasets=[
            _obj("ReplicaSet", "web-5d8f7c9b4", "rs-1", owner=("Deployment", "web")),
            _obj("ReplicaSet", "cache-redis", "rs-2"),
        ],
        jobs=[
            _obj("Job", "backup-29012345", "job-1", owner=("CronJob", "backup")),
            _obj("Job", "migrate", "job-2"),
        ],
    )
    refs = WorkloadRefs()
    pods = [
        _pod("web-5d8f7c9b4-abcde", ("ReplicaSet", "web-5d8f7c9b4", "rs-1")),
        _pod("cache-redis-x1y2z", ("ReplicaSet", "cache-redis", "rs-2")),
        _pod("backup-29012345-q", ("Job", "backup-29012345", "job-1")),
        _pod("migrate-q", ("Job", "migrate", "job-2")),
        _pod("db-0", ("StatefulSet", "db", "sts-1")),
        _pod("agent-k", ("DaemonSet", "node-agent", "ds-1")),
        _pod("lonely", None),
    ]
    found = refs.resolve(cast(Gateway, gateway), pods)
    assert {key.split("/")[1]: ref.key for key, ref in found.items()} == {
        "web-5d8f7c9b4-abcde": "Deployment/web",
        "cache-redis-x1y2z": "ReplicaSet/cache-redis",
        "backup-29012345-q": "CronJob/backup",
        "migrate-q": "Job/migrate",
        "db-0": "StatefulSet/db",
        "agent-k": "DaemonSet/node-agent",
        "lonely": "Pod/lonely",
    }
    # One list for both ReplicaSets, one read per Job; the next look reads nothing.
    assert gateway.reads == [
        "list replicasets default",
        "get job backup-29012345",
        "get job migrate",
    ]
    assert refs.resolve(cast(Gateway, gateway), pods) == found
    assert len(gateway.reads) == 3


def test_a_recreated_owner_is_read_again_and_a_gone_one_is_its_own_top() -> None:
    gateway = FakeGateway(
        replicasets=[_obj("ReplicaSet", "api-7c", "rs-old", owner=("Deployment", "api"))],
        jobs=[],
    )
    refs = WorkloadRefs()
    first = _pod("api-7c-a", ("ReplicaSet", "api-7c", "rs-old"))
    assert refs.resolve(cast(Gateway, gateway), [first])["default/api-7c-a"].key == "Deployment/api"
    # Same name, new uid (deleted and created bare): not the remembered answer.
    gateway.replicasets = [_obj("ReplicaSet", "api-7c", "rs-new")]
    second = _pod("api-7c-b", ("ReplicaSet", "api-7c", "rs-new"))
    found = refs.resolve(cast(Gateway, gateway), [second])
    assert found["default/api-7c-b"] == WorkloadRef(kind="ReplicaSet", name="api-7c")
    assert gateway.reads == ["list replicasets default"] * 2
    gone = _pod("old-job-a", ("Job", "old-job", "job-x"))
    assert refs.resolve(cast(Gateway, gateway), [gone])["default/old-job-a"].key == "Job/old-job"


def test_the_controller_reference_is_the_owner() -> None:
    pod = _obj("Pod", "p", "pod-1")
    pod["metadata"]["ownerReferences"] = [
        {"kind": "Node", "name": "n1", "uid": "n"},
        {"kind": "ReplicaSet", "name": "rs", "uid": "r", "controller": True},
    ]
    assert owner_of(pod) == Owner("default", "p", "ReplicaSet", "rs", "r")
    assert owner_of(_obj("Pod", "bare", "pod-2")) == Owner("default", "bare", None, None, None)
