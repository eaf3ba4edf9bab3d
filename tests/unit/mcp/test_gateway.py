"""The gateway's pure parts: error classes, retries with Retry-After, the diagnosis read plan."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from mcp_server.diagnosis_reads import _plan_reads
from mcp_server.gateway import (
    Conflict,
    Forbidden,
    Gateway,
    GatewayError,
    Gone,
    Invalid,
    NotFound,
    RetryPolicy,
    ServerError,
    TooManyRequests,
    _resource_of,
    classify,
)


class _Headers(dict[str, str]):
    pass


def _exc(status: int, body: str = "", headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.body = body
    exc.headers = _Headers(headers or {})
    return exc


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (404, NotFound, False),
        (409, Conflict, False),  # a failed precondition: sending it again cannot help
        (403, Forbidden, False),
        (401, Forbidden, False),
        (410, Gone, False),
        (422, Invalid, False),
        (429, TooManyRequests, True),
        (500, ServerError, True),
        (503, ServerError, True),
    ],
)
def test_classify(status: int, kind: type[GatewayError], retryable: bool) -> None:
    error = classify(_exc(status, '{"kind":"Status","message":"pods \\"x\\" not found"}'))
    assert isinstance(error, kind)
    assert error.retryable is retryable
    assert error.status == status


def test_retry_after_is_read_and_capped() -> None:
    error = classify(_exc(429, "slow down", {"Retry-After": "3"}))
    assert isinstance(error, TooManyRequests) and error.retry_after == 3.0
    policy = RetryPolicy(max_delay=2.0)
    assert policy.delay(1, error) == 2.0
    # Full jitter: anywhere between 0 and the exponential ceiling.
    assert RetryPolicy(jitter=lambda: 1.0).delay(1, ServerError("x")) == pytest.approx(0.2)
    assert RetryPolicy(jitter=lambda: 0.5).delay(3, ServerError("x")) == pytest.approx(0.4)


class _Response:
    status = 200
    data = b'{"kind": "Pod", "metadata": {"name": "p"}}'


def _gateway(sleeps: list[float], **kwargs: Any) -> Gateway:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:1"
    return Gateway(client.ApiClient(configuration), sleep=sleeps.append, **kwargs)


def test_reads_retry_on_429_then_succeed() -> None:
    sleeps: list[float] = []
    gw = _gateway(sleeps, retry=RetryPolicy(jitter=lambda: 1.0))
    answers: list[Any] = [_exc(429, "", {"Retry-After": "1"}), _exc(500, "boom"), _Response()]

    def call() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert gw._json("get", "pods", call)["kind"] == "Pod"
    assert sleeps == [1.0, pytest.approx(0.4)]
    assert gw.requests_sent == 3


def test_writes_are_not_retried_after_a_server_error() -> None:
    sleeps: list[float] = []
    gw = _gateway(sleeps)
    calls = []

    def call() -> Any:
        calls.append(1)
        raise _exc(500, "boom")

    with pytest.raises(ServerError):
        gw._json("delete", "pods", call, write=True)
    assert len(calls) == 1 and sleeps == []


def test_retries_are_bounded() -> None:
    sleeps: list[float] = []
    gw = _gateway(sleeps, retry=RetryPolicy(max_attempts=3))

    def call() -> Any:
        raise _exc(429, "", {"Retry-After": "0"})

    with pytest.raises(TooManyRequests):
        gw._json("get", "pods", call)
    assert gw.requests_sent == 3


def test_resource_labels_are_bounded() -> None:
    assert _resource_of("/api/v1/namespaces/d/pods/x/log") == "pods/log"
    assert _resource_of("/apis/apps/v1/namespaces/d/deployments/web") == "deployments"
    assert _resource_of("/api/v1/nodes") == "nodes"


def _pod(phase: str, statuses: list[dict[str, Any]], owned: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "d", "uid": "u"}
    if owned:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web-1"}]
    return {"metadata": meta, "status": {"phase": phase, "containerStatuses": statuses}}


def test_plan_for_a_crash_looping_pod_reads_the_previous_log() -> None:
    crashing = {
        "name": "app",
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1}},
    }
    plan = _plan_reads(_pod("Running", [crashing]), check_logs=True, check_events=True)
    assert [r.what for r in plan] == ["events", "replicasets", "deployment", "log", "log"]
    assert plan[3].previous is True and plan[3].container == "app"
    assert plan[4].previous is False  # only if the budget allows: 1 + 4 reads fill it
    bare = _plan_reads(_pod("Running", [crashing], owned=False), check_logs=True, check_events=True)
    assert [(r.what, r.previous) for r in bare] == [
        ("events", False),
        ("log", True),
        ("log", False),
    ]


def test_plan_for_an_unscheduled_pod_reads_nodes_not_logs() -> None:
    plan = _plan_reads(_pod("Pending", []), check_logs=True, check_events=True)
    assert [r.what for r in plan] == ["events", "replicasets", "deployment", "nodes"]


def test_plan_for_a_running_pod_prefers_metrics() -> None:
    running = {"name": "app", "restartCount": 0, "state": {"running": {}}}
    plan = _plan_reads(_pod("Running", [running], owned=False), check_logs=True, check_events=True)
    assert [r.what for r in plan] == ["events", "metrics", "log"]
    plan = _plan_reads(_pod("Running", [running]), check_logs=False, check_events=False)
    assert [r.what for r in plan] == ["replicasets", "deployment", "metrics"]


def test_image_pull_pod_has_no_log_to_read() -> None:
    pulling = {
        "name": "app",
        "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff"}},
    }
    plan = _plan_reads(_pod("Pending", [pulling]), check_logs=True, check_events=True)
    assert "log" not in [r.what for r in plan]
