from __future__ import annotations

from typing import Any

from mcp_server.diagnostics.pod_status import (
    container_status_summary,
    first_failure_at,
    health_score,
    pod_issues,
)
from policies.diagnosis import IssueType

from .conftest import load


def _types(pod: dict[str, Any]) -> list[str]:
    return [issue.type for issue in pod_issues(pod)]


def test_crashloop_reports_restarts_and_last_exit() -> None:
    pod = load("crashloop")["pod"]
    issues = pod_issues(pod)
    assert [i.type for i in issues] == [IssueType.CRASH_LOOP]
    crash = issues[0]
    assert crash.severity == "critical"
    assert crash.container == "app"
    assert crash.restart_count == 5
    assert crash.exit_code == 1
    assert crash.last_termination_reason == "Error"
    assert "5 restarts" in crash.message


def test_oom_crashloop_reports_oom_first_and_the_loop() -> None:
    pod = load("oomkilled")["pod"]
    issues = pod_issues(pod)
    assert [i.type for i in issues] == [IssueType.OOM_KILLED, IssueType.CRASH_LOOP]
    assert all(i.last_termination_reason == "OOMKilled" for i in issues)
    assert issues[0].exit_code == 137
    assert issues[0].severity == "critical"


def test_currently_terminated_oom_is_critical() -> None:
    pod = load("oomkilled")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {"terminated": cs["lastState"]["terminated"]}
    cs["lastState"] = {}
    assert _types(pod) == [IssueType.OOM_KILLED]


def test_running_again_after_oom_is_a_warning() -> None:
    pod = load("oomkilled")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {"running": {"startedAt": "2026-11-24T17:22:00Z"}}
    cs["ready"] = True
    issues = pod_issues(pod)
    assert [(i.type, i.severity) for i in issues] == [(IssueType.OOM_KILLED, "warning")]


def test_image_pull_backoff() -> None:
    pod = load("imagepull-notfound")["pod"]
    issues = pod_issues(pod)
    assert [i.type for i in issues] == [IssueType.IMAGE_PULL_BACKOFF]
    assert "nginx:1.99-doesnotexist" in issues[0].message
    assert first_failure_at(pod) is not None


def test_err_image_pull_and_invalid_name() -> None:
    pod = load("imagepull-notfound")["pod"]
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    waiting["reason"] = "ErrImagePull"
    assert _types(pod) == [IssueType.ERR_IMAGE_PULL]
    waiting["reason"] = "InvalidImageName"
    assert _types(pod) == [IssueType.INVALID_IMAGE_NAME]


def test_high_restart_count_when_running() -> None:
    pod = load("crashloop")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {"running": {"startedAt": "2026-11-24T17:30:00Z"}}
    cs["ready"] = True
    issues = pod_issues(pod)
    assert [(i.type, i.severity) for i in issues] == [(IssueType.HIGH_RESTART_COUNT, "warning")]
    assert issues[0].restart_count == 5
    cs["restartCount"] = 2
    assert pod_issues(pod) == []


def test_not_ready_running_container() -> None:
    pod = load("crashloop")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {"running": {"startedAt": "2026-11-24T17:30:00Z"}}
    cs["restartCount"] = 0
    cs["lastState"] = {}
    assert _types(pod) == [IssueType.NOT_READY]


def test_non_zero_exit_without_backoff_is_an_error() -> None:
    pod = load("crashloop")["pod"]
    pod["spec"]["restartPolicy"] = "Never"
    pod["status"]["phase"] = "Failed"
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {"terminated": {"exitCode": 2, "reason": "Error", "message": "bad flag"}}
    issues = pod_issues(pod)
    assert [i.type for i in issues] == [IssueType.CONTAINER_ERROR]
    assert issues[0].exit_code == 2
    assert "bad flag" in issues[0].message
    assert health_score(pod, issues) == 0


def test_init_container_crash_loop_is_reported() -> None:
    pod = load("crashloop")["pod"]
    pod["status"]["phase"] = "Pending"
    cs = pod["status"].pop("containerStatuses")[0]
    cs["name"] = "migrate"
    pod["status"]["initContainerStatuses"] = [cs]
    issues = pod_issues(pod)
    assert [i.type for i in issues] == [IssueType.CRASH_LOOP]
    assert issues[0].container == "migrate"
    assert "init container migrate" in issues[0].message
    assert container_status_summary(pod)[0]["init"] is True


def test_unschedulable_condition_is_pending() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/2 nodes are available: pod has unbound immediate "
                    "PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 "
                    "Preemption is not helpful for scheduling.",
                }
            ],
        },
    }
    assert _types(pod) == [IssueType.PENDING, IssueType.UNBOUND_PVC]
    assert health_score(pod) <= 50


def test_evicted_pod() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "status": {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: memory.",
        },
    }
    issues = pod_issues(pod)
    assert [i.type for i in issues] == [IssueType.EVICTED]
    assert "low on resource" in issues[0].message


def test_health_score_orders_states() -> None:
    healthy = load("crashloop")["pod"]
    cs = healthy["status"]["containerStatuses"][0]
    cs.update(state={"running": {}}, ready=True, restartCount=0, lastState={})
    for cond in healthy["status"]["conditions"]:
        cond["status"] = "True"
    crashing = load("crashloop")["pod"]
    assert health_score(healthy) == 100
    assert 0 < health_score(crashing) < 60
    assert health_score(crashing) > health_score({"status": {"phase": "Failed"}})


def test_garbage_objects_do_not_raise() -> None:
    for junk in (
        {},
        {"status": None},
        {"status": {"containerStatuses": [None, 3, "x"]}},
        {"status": {"containerStatuses": [{"state": "weird", "restartCount": "5"}]}},
    ):
        assert isinstance(pod_issues(junk), list)
        assert 0 <= health_score(junk) <= 100


def test_termination_messages_are_redacted() -> None:
    pod = load("crashloop")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {
        "terminated": {
            "exitCode": 1,
            "reason": "Error",
            "message": "fatal: cannot connect with password=Hunter2Secret to db",
        }
    }
    issues = pod_issues(pod)
    assert "Hunter2Secret" not in issues[0].message
    assert "Hunter2Secret" not in str(container_status_summary(pod))


def test_config_error_names_the_missing_object() -> None:
    pod = load("createcontainerconfigerror")["pod"]
    issues = pod_issues(pod)
    assert [i.type for i in issues] == [
        IssueType.CREATE_CONTAINER_CONFIG_ERROR,
        IssueType.MISSING_CONFIG_REF,
    ]
    assert issues[1].model_extra == {"ref_kind": "Secret", "ref_name": "orders-db"}
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    waiting["message"] = "couldn't find key password in Secret shop/orders-db"
    missing = pod_issues(pod)[1]
    assert missing.message.startswith('key "password" of Secret "orders-db"')
    waiting["message"] = "container has runAsNonRoot and image will run as root"
    assert [i.type for i in pod_issues(pod)] == [IssueType.CREATE_CONTAINER_CONFIG_ERROR]


def test_running_between_crashes_is_still_a_crash_loop() -> None:
    pod = load("crashloop")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {"running": {"startedAt": "2026-11-24T17:17:21Z"}}  # restarted, not ready
    [issue] = pod_issues(pod)
    assert (issue.type, issue.severity, issue.restart_count) == (
        IssueType.CRASH_LOOP,
        "critical",
        5,
    )
    assert issue.exit_code == 1
    cs["ready"] = True  # it came up and stays up: only the history remains
    assert [i.type for i in pod_issues(pod)] == [IssueType.HIGH_RESTART_COUNT]
    cs["ready"] = False
    cs["lastState"]["terminated"].update(exitCode=0, reason="Completed")
    assert [i.type for i in pod_issues(pod)] == [IssueType.HIGH_RESTART_COUNT]


def test_oom_between_crashes_is_critical() -> None:
    pod = load("oomkilled")["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["state"] = {"running": {"startedAt": "2026-11-24T17:22:00Z"}}
    issues = pod_issues(pod)
    assert [(i.type, i.severity) for i in issues] == [
        (IssueType.OOM_KILLED, "critical"),
        (IssueType.CRASH_LOOP, "critical"),
    ]
