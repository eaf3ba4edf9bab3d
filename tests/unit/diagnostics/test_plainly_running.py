"""`plainly_running`, the watch cache's fast path, never disagrees with the full reading:
whenever it says a pod is plainly running, every step of `pod_issues` finds nothing and the
health score is what the full computation gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_server.diagnostics.diagnose import classify_unhealthy
from mcp_server.diagnostics.pod_status import (
    HIGH_RESTART_THRESHOLD,
    _all_pod_issues,
    health_score,
    plainly_running,
    pod_issues,
)

_reasons = st.sampled_from(
    [None, "OOMKilled", "Error", "Completed", "CrashLoopBackOff", "ErrImagePull", "Evicted"]
)
_exit = st.one_of(st.none(), st.integers(min_value=0, max_value=255))
_state = st.one_of(
    st.just({"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
    st.just({"running": {}}),
    st.builds(lambda r: {"waiting": {"reason": r}}, _reasons),
    st.builds(lambda r, c: {"terminated": {"reason": r, "exitCode": c}}, _reasons, _exit),
    st.just({}),
    st.just({"running": {}, "waiting": {"reason": "CrashLoopBackOff"}}),
)
_last = st.one_of(
    st.just({}),
    st.none(),
    st.builds(lambda r, c: {"terminated": {"reason": r, "exitCode": c}}, _reasons, _exit),
)
_container = st.fixed_dictionaries(
    {"name": st.sampled_from(["app", "sidecar"])},
    optional={
        "ready": st.one_of(st.booleans(), st.none()),
        "restartCount": st.one_of(
            st.integers(min_value=0, max_value=12), st.none(), st.just(False)
        ),
        "started": st.booleans(),
        "state": _state,
        "lastState": _last,
    },
)
_condition = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Ready", "PodScheduled", "ContainersReady", "Initialized"]),
        "status": st.sampled_from(["True", "False", "Unknown"]),
    },
    optional={"reason": st.sampled_from(["Unschedulable", "ContainersNotReady"])},
)
_status = st.fixed_dictionaries(
    {"phase": st.sampled_from(["Running", "Pending", "Failed", "Succeeded", "Unknown"])},
    optional={
        "reason": st.sampled_from(["Evicted", "OutOfcpu"]),
        "conditions": st.lists(_condition, max_size=4),
        "containerStatuses": st.lists(_container, max_size=3),
        "initContainerStatuses": st.lists(_container, max_size=1),
    },
)


@settings(max_examples=400, deadline=None)
@given(status=_status, deleting=st.booleans())
def test_the_fast_path_agrees_with_the_full_reading(status: dict[str, Any], deleting: bool) -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p", "namespace": "default"}, "status": status}
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    full = _all_pod_issues(pod, restart_threshold=HIGH_RESTART_THRESHOLD)
    assert pod_issues(pod) == full
    assert health_score(pod) == health_score(pod, full)
    if plainly_running(status):
        assert full == []
        assert classify_unhealthy(pod) is None
        assert health_score(pod) in (60, 100)


def test_a_plain_running_pod_takes_the_fast_path() -> None:
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {"name": "app", "ready": True, "restartCount": 0, "state": {"running": {}}}
        ],
    }
    assert plainly_running(status)
    assert health_score({"status": status}) == 100
    status["containerStatuses"][0]["restartCount"] = 1
    assert not plainly_running(status)
