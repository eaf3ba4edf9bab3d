from __future__ import annotations

import pytest

from mcp_server.diagnostics.events import (
    classify_pull_error,
    event_issues,
    image_pull_info,
    parse_scheduler_message,
    pod_events,
    scheduling_info,
    summarize_events,
)
from policies.diagnosis import IssueType, SchedulingInfo

from .conftest import load

NODES = load("nodes")["nodes"]


def _sched(name: str) -> SchedulingInfo | None:
    data = load(name)
    return scheduling_info(data["pod"], pod_events(data["pod"], data["events"]), NODES)


def test_insufficient_cpu_that_fits_a_node() -> None:
    info = _sched("pending-insufficient-cpu")
    assert info is not None
    assert info.insufficient == ["cpu"]
    assert info.other_reasons == []
    assert info.request_cpu_millicores == 3000
    assert info.request_memory_bytes == 2**30
    assert info.fits_any_node is True
    assert [n.name for n in info.nodes] == ["kubesim-node-1", "kubesim-node-2"]
    assert info.nodes[1].allocatable_cpu_millicores == 3900
    assert info.message and info.message.startswith("0/2 nodes are available")


def test_larger_than_any_node() -> None:
    info = _sched("pending-too-large")
    assert info is not None
    assert info.insufficient == ["cpu"]
    assert info.fits_any_node is False


def test_taint_and_memory() -> None:
    info = _sched("pending-taint")
    assert info is not None
    assert info.insufficient == ["memory"]
    assert info.other_reasons == ["node(s) had untolerated taint {dedicated: gpu}"]


def test_unbound_pvc() -> None:
    info = _sched("pending-unbound-pvc")
    assert info is not None
    assert info.insufficient == []
    assert info.other_reasons == ["pod has unbound immediate PersistentVolumeClaims"]


def test_fit_unknown_without_nodes_and_condition_fallback() -> None:
    data = load("pending-insufficient-cpu")
    info = scheduling_info(data["pod"], [], None)
    assert info is not None
    assert info.fits_any_node is None
    assert info.insufficient == ["cpu"]  # from the PodScheduled condition's message


def test_scheduled_pod_has_no_scheduling_info() -> None:
    data = load("crashloop")
    assert scheduling_info(data["pod"], data["events"], NODES) is None


@pytest.mark.parametrize(
    ("message", "insufficient", "other"),
    [
        ("no nodes available to schedule pods", [], ["no nodes available to schedule pods"]),
        (
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "2 Insufficient cpu, 2 Insufficient memory. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod.",
            ["cpu", "memory"],
            ["node(s) didn't match Pod's node affinity/selector"],
        ),
        (
            "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
            [],
            ["Insufficient nvidia.com/gpu"],
        ),
    ],
)
def test_scheduler_messages(message: str, insufficient: list[str], other: list[str]) -> None:
    assert parse_scheduler_message(message) == (insufficient, other)


def test_image_not_found_uses_the_event_message() -> None:
    data = load("imagepull-notfound")
    pulls = image_pull_info(data["pod"], pod_events(data["pod"], data["events"]))
    assert len(pulls) == 1
    assert pulls[0].error_class == "not_found"
    assert pulls[0].image == "nginx:1.99-doesnotexist"
    assert pulls[0].message and "not found" in pulls[0].message


def test_image_unauthorized() -> None:
    data = load("imagepull-unauthorized")
    pulls = image_pull_info(data["pod"], data["events"])
    assert [(p.container, p.error_class) for p in pulls] == [("reports", "unauthorized")]


@pytest.mark.parametrize(
    ("message", "reason", "expected"),
    [
        (
            'Failed to apply default image tag "Nginx": couldn\'t parse image reference "Nginx": '
            "invalid reference format: repository name must be lowercase",
            "InvalidImageName",
            "invalid_name",
        ),
        (
            'Failed to pull image "r.example/x:1": dial tcp: lookup r.example on 10.96.0.10:53: '
            "no such host",
            "ErrImagePull",
            "network",
        ),
        (
            'Failed to pull image "ghcr.io/a/b:1": failed to resolve reference: '
            "ghcr.io/a/b:1: not found",
            "ErrImagePull",
            "not_found",
        ),
        ('Back-off pulling image "x"', "ImagePullBackOff", "unknown"),
    ],
)
def test_pull_error_classes(message: str, reason: str, expected: str) -> None:
    assert classify_pull_error(message, reason) == expected


def test_probe_failures_become_issues() -> None:
    data = load("liveness-failing")
    issues = event_issues(data["pod"], pod_events(data["pod"], data["events"]))
    by_type = {i.type: i for i in issues}
    live = by_type[IssueType.LIVENESS_PROBE_FAILED]
    assert live.severity == "critical"
    assert live.container == "billing"
    assert live.restart_count == 3
    assert "4 times" in live.message
    assert by_type[IssueType.READINESS_PROBE_FAILED].severity == "warning"


def test_probe_errors_count_as_failures() -> None:
    data = load("liveness-failing")
    event = {
        **data["events"][0],
        "message": "Liveness probe errored: rpc error: code = DeadlineExceeded desc = timeout",
        "count": 2,
    }
    [issue] = [
        i for i in event_issues(data["pod"], [event]) if i.type == IssueType.LIVENESS_PROBE_FAILED
    ]
    assert "2 times" in issue.message


def test_probe_failures_on_a_recovered_container_are_history() -> None:
    data = load("liveness-failing")
    cs = data["pod"]["status"]["containerStatuses"][0]
    cs.update(ready=True, restartCount=0)
    assert event_issues(data["pod"], data["events"]) == []


def test_failed_mount_of_missing_configmap() -> None:
    data = load("crashloop")
    event = dict(data["events"][-1])
    event.update(
        reason="FailedMount",
        message='MountVolume.SetUp failed for volume "config" : configmap "web-config" not found',
    )
    issues = event_issues(data["pod"], [event])
    assert [(i.type, i.severity) for i in issues] == [(IssueType.MISSING_CONFIG_REF, "critical")]
    assert issues[0].message == 'ConfigMap "web-config" (a volume cannot be mounted) does not exist'
    assert issues[0].model_extra == {"ref_kind": "ConfigMap", "ref_name": "web-config"}


def test_pod_events_filters_other_pods_and_stale_uids() -> None:
    data = load("crashloop")
    other = {**data["events"][0], "involvedObject": {"kind": "Pod", "name": "someone-else"}}
    stale = {
        **data["events"][0],
        "involvedObject": {**data["events"][0]["involvedObject"], "uid": "an-older-pod"},
    }
    assert pod_events(data["pod"], [*data["events"], other, stale]) == sorted(
        data["events"], key=lambda e: e["lastTimestamp"] or e["eventTime"]
    )


def test_summary_uses_event_time_and_series_and_redacts() -> None:
    data = load("pending-insufficient-cpu")
    summary = summarize_events(data["events"])
    assert summary[0]["count"] == 4
    assert summary[0]["first_timestamp"] == "2026-11-24T19:00:00Z"
    assert summary[0]["last_timestamp"] == "2026-11-24T19:04:10Z"
    leaky = {**data["events"][0], "message": "probe failed: GET /x?token=abcd1234secret"}
    assert "abcd1234secret" not in str(summarize_events([leaky]))


def _word(n: int) -> str:
    return "m" + chr(97 + n // 26) + chr(97 + n % 26)


def test_summary_keeps_the_most_recent() -> None:
    base = load("crashloop")["events"][2]
    many = [
        {**base, "message": _word(n), "lastTimestamp": f"2026-11-24T17:{n:02d}:00Z"}
        for n in range(40)
    ]
    summary = summarize_events(many, limit=5)
    assert [e["message"] for e in summary] == [_word(n) for n in range(35, 40)]


def test_repeats_that_differ_only_in_numbers_are_merged() -> None:
    base = load("crashloop")["events"][1]
    pulls = [
        {
            **base,
            "count": 1,
            "message": f'Successfully pulled image "busybox" in {n}.{n}s',
            "lastTimestamp": f"2026-11-24T17:1{n}:00Z",
        }
        for n in range(1, 4)
    ]
    [entry] = summarize_events(pulls)
    assert entry["count"] == 3
    assert entry["message"] == 'Successfully pulled image "busybox" in 3.3s'
    assert entry["last_timestamp"] == "2026-11-24T17:13:00Z"
