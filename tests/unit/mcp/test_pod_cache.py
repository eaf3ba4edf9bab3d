"""The pod cache's pieces without a cluster: an expired continue token, the change streams,
and the compact projection (which must classify and score as the whole pod does)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcp_server.gateway import Gone, ObjectList
from mcp_server.pod_cache import PodCache, PodChange, compact_pod
from mcp_server.pod_diagnosis import classify_pod, pod_health_score

JSON = dict[str, Any]


def _pod(name: str, *, waiting: str | None = None, restarts: int = 0) -> JSON:
    state: JSON = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "resourceVersion": "7",
            "labels": {"app": "web", "pod-template-hash": "abc"},
            "annotations": {"big": "x" * 1000},
            "managedFields": [{"manager": "kubelet"}],
            "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "uid": "rs-1"}],
        },
        "spec": {
            "nodeName": "n1",
            "volumes": [{"name": "token"}],
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "env": [{"name": "A", "value": "b"}],
                    "resources": {"limits": {"memory": "64Mi"}},
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "conditions": [
                {"type": "Ready", "status": "False" if waiting else "True", "lastProbeTime": None}
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "ready": not waiting,
                    "restartCount": restarts,
                    "image": "nginx:1.25",
                    "imageID": "sha256:0",
                    "state": state,
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}
                    if restarts
                    else {},
                }
            ],
        },
    }


class _PagedGateway:
    """list_pods in pages; the first continued page answers 410 once (token expired)."""

    def __init__(self, pods: list[JSON], page: int, expire_once: bool = True) -> None:
        self.pods = pods
        self.page = page
        self.expire = expire_once
        self.calls: list[str | None] = []

    def list_pods(self, namespace: str | None = None, **kwargs: Any) -> ObjectList:
        token = kwargs.get("continue_token")
        self.calls.append(token)
        start = int(token or 0)
        if token and self.expire:
            self.expire = False
            raise Gone("The provided continue parameter is too old", status=410)
        chunk = self.pods[start : start + self.page]
        more = start + self.page < len(self.pods)
        return ObjectList(chunk, "100", str(start + self.page) if more else "")


def _cache(gateway: Any) -> PodCache:
    return PodCache(gateway, classify=classify_pod, score=pod_health_score)


def test_an_expired_continue_token_lists_again_from_the_first_page() -> None:
    gateway = _PagedGateway([_pod(f"p{i}") for i in range(5)], page=2)
    cache = _cache(gateway)
    cache._list()
    assert gateway.calls == [None, "2", None, "2", "4"]
    assert cache.count() == 5 and cache.lists == 1 and cache.gone == 1
    assert cache.resource_version == "100" and cache.synced


def test_two_expired_tokens_in_a_row_go_to_the_back_off() -> None:
    gateway = _PagedGateway([_pod(f"p{i}") for i in range(5)], page=2)
    original = gateway.list_pods

    def always_expired(namespace: str | None = None, **kwargs: Any) -> ObjectList:
        gateway.expire = True
        return original(namespace, **kwargs)

    gateway.list_pods = always_expired  # type: ignore[method-assign]
    with pytest.raises(Gone):
        _cache(gateway)._list()


def test_the_compact_pod_classifies_and_scores_as_the_whole_pod() -> None:
    for pod in (
        _pod("ok"),
        _pod("pull", waiting="ErrImagePull"),
        _pod("crash", waiting="CrashLoopBackOff", restarts=6),
        _pod("config", waiting="CreateContainerConfigError"),
    ):
        compact = compact_pod(pod)
        assert classify_pod(compact) == classify_pod(pod)
        assert pod_health_score(compact) == pod_health_score(pod)
        assert "annotations" not in compact["metadata"]
        assert "managedFields" not in compact["metadata"]
        assert "env" not in compact["spec"]["containers"][0]
        assert "volumes" not in compact["spec"]
        assert compact["metadata"]["labels"] == pod["metadata"]["labels"]
        assert compact["spec"]["containers"][0]["resources"] == {"limits": {"memory": "64Mi"}}


def test_the_index_and_the_changes_of_one_event_each() -> None:
    async def main() -> None:
        cache = _cache(_PagedGateway([_pod("a"), _pod("b", waiting="ErrImagePull")], page=10))
        stream = cache.subscribe(maxsize=2)
        cache._list()
        batch = await stream.next()
        assert batch.changes == [PodChange("unhealthy", "default", "b", "ErrImagePull")]
        cache._apply("MODIFIED", _pod("a", waiting="ImagePullBackOff"))
        cache._apply("MODIFIED", _pod("a", waiting="ErrImagePull"))  # coalesced: the last wins
        cache._apply("MODIFIED", _pod("b"))
        batch = await stream.next()
        assert batch.changes == [
            PodChange("unhealthy", "default", "a", "ErrImagePull", "ImagePullBackOff"),
            PodChange("recovered", "default", "b", None, "ErrImagePull"),
        ]
        assert [p.name for p in cache.unhealthy()] == ["a"]
        cache._apply("MODIFIED", _pod("a", waiting="ErrImagePull", restarts=0))  # no change
        cache._apply("ADDED", _pod("c", waiting="ErrImagePull"))
        cache._apply("ADDED", _pod("d", waiting="ErrImagePull"))
        cache._apply("DELETED", _pod("a", waiting="ErrImagePull"))
        batch = await stream.next()  # three pods changed, room for two: the oldest dropped
        assert batch.overflowed
        assert [(c.kind, c.name) for c in batch.changes] == [("unhealthy", "d"), ("gone", "a")]
        assert cache.count() == 3 and [p.name for p in cache.unhealthy()] == ["c", "d"]
        cache.stop()
        assert (await asyncio.wait_for(stream.next(), 5)).closed

    asyncio.run(main())


def test_pods_alike_share_their_parts_and_types_stay_apart() -> None:
    one, two = compact_pod(_pod("one")), compact_pod(_pod("two"))
    assert one["metadata"]["labels"] is two["metadata"]["labels"]
    assert one["metadata"]["ownerReferences"] is two["metadata"]["ownerReferences"]
    assert one["spec"]["containers"] is two["spec"]["containers"]
    assert one["status"]["conditions"] is two["status"]["conditions"]
    assert one["metadata"]["uid"] != two["metadata"]["uid"]
    flag, number = _pod("flag"), _pod("number")
    flag["metadata"]["ownerReferences"][0]["controller"] = True
    number["metadata"]["ownerReferences"][0]["controller"] = 1
    kept = compact_pod(flag)["metadata"]["ownerReferences"][0]["controller"]
    other = compact_pod(number)["metadata"]["ownerReferences"][0]["controller"]
    assert kept is True and other == 1 and other is not True
