"""The Table printers against what kube-apiserver's printers produce for the same objects."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.api.tables import format_selector, human_duration, pod_status_reason


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (10799, "179m"),
        (10800, "3h"),
        (3 * 3600 + 1800, "3h30m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (730 * 86400, "2y"),
        (740 * 86400, "2y10d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def _pod(statuses: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": s["name"]} for s in statuses]},
        "status": {"phase": "Running", "containerStatuses": statuses},
    }
    for key, value in extra.items():
        if key == "deletionTimestamp":
            pod["metadata"][key] = value
        else:
            pod["status"][key] = value
    return pod


def _cs(
    name: str,
    state: dict[str, Any],
    ready: bool = False,
    restarts: int = 0,
    last: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "ready": ready,
        "restartCount": restarts,
        "lastState": last or {},
    }


def test_crashloop_shows_waiting_reason_and_last_restart() -> None:
    pod = _pod(
        [
            _cs(
                "c",
                {"waiting": {"reason": "CrashLoopBackOff"}},
                restarts=4,
                last={
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "finishedAt": "2026-01-01T00:00:10Z",
                    }
                },
            )
        ]
    )
    assert pod_status_reason(pod) == ("CrashLoopBackOff", 0, 4, "2026-01-01T00:00:10Z")


def test_terminated_without_reason_shows_exit_code_or_signal() -> None:
    assert pod_status_reason(_pod([_cs("c", {"terminated": {"exitCode": 3}})]))[0] == "ExitCode:3"
    assert (
        pod_status_reason(_pod([_cs("c", {"terminated": {"exitCode": 0, "signal": 9}})]))[0]
        == "Signal:9"
    )


def test_oomkilled_and_ready_counts() -> None:
    pod = _pod(
        [
            _cs("a", {"running": {}}, ready=True),
            _cs("b", {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
        ]
    )
    assert pod_status_reason(pod)[:2] == ("OOMKilled", 1)


def test_completed_with_a_running_container_is_running_or_not_ready() -> None:
    statuses = [
        _cs("a", {"running": {}}, ready=True),
        _cs("b", {"terminated": {"exitCode": 0, "reason": "Completed"}}),
    ]
    ready = _pod(statuses, conditions=[{"type": "Ready", "status": "True"}])
    assert pod_status_reason(ready)[0] == "Running"
    assert pod_status_reason(_pod(statuses))[0] == "NotReady"


def test_init_containers_and_terminating() -> None:
    pod = _pod([_cs("c", {"waiting": {"reason": "PodInitializing"}})])
    pod["spec"]["initContainers"] = [{"name": "i1"}, {"name": "i2"}]
    pod["status"]["initContainerStatuses"] = [
        _cs("i1", {"terminated": {"exitCode": 0, "reason": "Completed"}}),
        _cs("i2", {"waiting": {"reason": "CrashLoopBackOff"}}, restarts=2),
    ]
    assert pod_status_reason(pod)[0] == "Init:CrashLoopBackOff"
    pod["status"]["initContainerStatuses"][1] = _cs("i2", {"running": {}})
    assert pod_status_reason(pod)[0] == "Init:1/2"
    gone = _pod([_cs("c", {"running": {}}, ready=True)], deletionTimestamp="2026-01-01T00:00:00Z")
    assert pod_status_reason(gone)[0] == "Terminating"


def test_evicted_pod_keeps_the_status_reason() -> None:
    pod = _pod([], reason="Evicted")
    pod["status"]["phase"] = "Failed"
    assert pod_status_reason(pod)[0] == "Evicted"


def test_selector_formatting() -> None:
    assert format_selector({"matchLabels": {"b": "2", "a": "1"}}) == "a=1,b=2"
    expr = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}
    assert format_selector(expr) == "tier in (api,web)"
    assert format_selector(None) == "<none>"
