"""The four failure-injection scenarios of the original spec, driven on the controllers alone."""

from __future__ import annotations

from tests.unit.kubesim.harness import Cluster, container_status, pod_manifest, waiting_reason


def test_busybox_exit_1_crash_loops_with_growing_back_off(cluster: Cluster) -> None:
    cluster.create(
        pod_manifest(
            "crashloop-test",
            {"name": "crasher", "image": "busybox", "command": ["sh", "-c", "exit 1"]},
        )
    )
    cluster.advance(30)
    pod = cluster.pod("crashloop-test")
    status = container_status(pod)
    assert pod["status"]["phase"] == "Running"  # restartPolicy Always: a crash-looping pod runs
    assert waiting_reason(pod) == "CrashLoopBackOff"
    assert status["restartCount"] >= 1
    last = status["lastState"]["terminated"]
    assert last["exitCode"] == 1 and last["reason"] == "Error"
    assert status["state"]["waiting"]["message"].startswith("back-off ")
    assert (
        "restarting failed container=crasher pod=crashloop-test_default("
        in (status["state"]["waiting"]["message"])
    )
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    backoff = cluster.events("crashloop-test", "BackOff")
    assert backoff and backoff[0]["type"] == "Warning"
    assert backoff[0]["message"].startswith("Back-off restarting failed container crasher in pod ")

    # Back-off 10 s doubling: about 5 restarts in the first three minutes, then 5 min apart.
    cluster.advance(150, step=5)
    assert container_status(cluster.pod("crashloop-test"))["restartCount"] >= 5
    cluster.advance(600, step=10)
    count = container_status(cluster.pod("crashloop-test"))["restartCount"]
    cluster.advance(300, step=10)
    assert container_status(cluster.pod("crashloop-test"))["restartCount"] - count in (1, 2)
    assert (
        "back-off 5m0s"
        in container_status(cluster.pod("crashloop-test"))["state"]["waiting"]["message"]
    )


def test_stress_over_its_memory_limit_is_oom_killed(cluster: Cluster) -> None:
    cluster.create(
        pod_manifest(
            "oom-test",
            {
                "name": "stress",
                "image": "polinux/stress",
                "command": ["stress"],
                "args": ["--vm", "1", "--vm-bytes", "100M", "--vm-hang", "1"],
                "resources": {"limits": {"memory": "50Mi"}, "requests": {"memory": "50Mi"}},
            },
        )
    )
    cluster.advance(30)
    status = container_status(cluster.pod("oom-test"))
    last = status["lastState"]["terminated"]
    assert last["reason"] == "OOMKilled" and last["exitCode"] == 137
    assert status["restartCount"] >= 1
    assert waiting_reason(cluster.pod("oom-test")) == "CrashLoopBackOff"


def test_stress_within_its_limit_keeps_running(cluster: Cluster) -> None:
    cluster.create(
        pod_manifest(
            "stress-ok",
            {
                "name": "stress",
                "image": "polinux/stress",
                "args": ["--vm", "1", "--vm-bytes", "20M"],
                "resources": {"limits": {"memory": "50Mi"}},
            },
        )
    )
    cluster.advance(120, step=5)
    status = container_status(cluster.pod("stress-ok"))
    assert "running" in status["state"] and status["restartCount"] == 0 and status["ready"]


def test_unknown_tag_fails_to_pull_then_backs_off(cluster: Cluster) -> None:
    cluster.create(
        pod_manifest("imagepull-test", {"name": "app", "image": "nginx:9.99.99-nonexistent"})
    )
    cluster.advance(5)
    pod = cluster.pod("imagepull-test")
    assert pod["status"]["phase"] == "Pending"
    assert waiting_reason(pod) in ("ErrImagePull", "ImagePullBackOff")
    cluster.advance(10)
    pod = cluster.pod("imagepull-test")
    assert waiting_reason(pod) == "ImagePullBackOff"
    assert container_status(pod)["state"]["waiting"]["message"] == (
        'Back-off pulling image "nginx:9.99.99-nonexistent"'
    )
    failed = [e["message"] for e in cluster.events("imagepull-test", "Failed")]
    full = "docker.io/library/nginx:9.99.99-nonexistent"
    assert (
        'Failed to pull image "nginx:9.99.99-nonexistent": rpc error: code = NotFound desc = '
        f'failed to pull and unpack image "{full}": failed to resolve reference "{full}": '
        f"{full}: not found"
    ) in failed
    assert "Error: ErrImagePull" in failed and "Error: ImagePullBackOff" in failed
    # Retries back off: 10 s, 20 s, 40 s ... so about 4 pulls in the first two minutes.
    cluster.advance(105, step=5)
    pulling = cluster.events("imagepull-test", "Pulling")
    assert 3 <= pulling[0]["count"] <= 5


def test_request_larger_than_any_node_stays_pending(cluster: Cluster) -> None:
    cluster.create(
        pod_manifest(
            "resource-hog",
            {
                "name": "hog",
                "image": "nginx:1.25",
                "resources": {"requests": {"cpu": "100", "memory": "1Gi"}},
            },
        )
    )
    cluster.advance(5)
    pod = cluster.pod("resource-hog")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]
    message = (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
        "2 No preemption victims found for incoming pod.."
    )
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["status"] == "False" and scheduled["reason"] == "Unschedulable"
    assert scheduled["message"] == message
    events = cluster.events("resource-hog", "FailedScheduling")
    assert [e["message"] for e in events] == [message]
    assert events[0]["type"] == "Warning" and events[0]["reportingComponent"] == "default-scheduler"


def test_a_clock_jump_fires_every_timer_in_between() -> None:
    stepped, jumped = Cluster(), Cluster()
    for cluster in (stepped, jumped):
        cluster.create(
            pod_manifest(
                "crashloop-test",
                {"name": "crasher", "image": "busybox", "command": ["sh", "-c", "exit 1"]},
            )
        )
    stepped.advance(600, step=1)
    jumped.clock.advance(600)
    jumped.settle()
    counts = [container_status(c.pod("crashloop-test"))["restartCount"] for c in (stepped, jumped)]
    assert counts[0] >= 6 and abs(counts[0] - counts[1]) <= 1


def test_back_off_resets_after_ten_minutes_of_running(cluster: Cluster) -> None:
    manifest = pod_manifest("slow-crash", {"name": "app", "image": "nginx:1.25"})
    manifest["metadata"]["annotations"] = {"kubesim.io/crash-after": "11m"}
    cluster.create(manifest)
    cluster.advance(3 * 11 * 60 + 30, step=15)
    status = container_status(cluster.pod("slow-crash"))
    # Each run outlived the 10-minute back-off window, so every restart was immediate.
    assert status["restartCount"] == 3
    assert "running" in status["state"]
    assert cluster.events("slow-crash", "BackOff") == []
