"""Exec probes that read the files the container's own command creates and removes."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.controllers.shell import FileTimeline, run_probe, run_shell
from kubesim.store import Obj
from tests.unit.kubesim.harness import Cluster, container_status, pod_manifest

# The Kubernetes docs' liveness example (pods/probe/exec-liveness.yaml).
LIVENESS_ARGS = ["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"]
CANT_OPEN = "cat: can't open '/tmp/healthy': No such file or directory"


def _container(args: list[str], **probes: Any) -> Obj:
    return {"name": "liveness", "image": "registry.k8s.io/busybox", "args": args, **probes}


def _exec(command: list[str], **extra: Any) -> Obj:
    return {"exec": {"command": command}, **extra}


def _started(cluster: Cluster, name: str) -> float:
    """When the container's current run started (to the sub-second: startedAt shows seconds)."""
    for _ in range(30):
        if "running" in container_status(cluster.pod(name))["state"]:
            break
        cluster.advance(0.5, step=0.5)
    uid = cluster.pod(name)["metadata"]["uid"]
    [container] = cluster.manager.kubelet.pods[uid].containers.values()
    assert container.run is not None
    return container.run.start


# -- the shell's file set ------------------------------------------------------------------
def test_the_script_builds_a_file_timeline_on_the_simulated_clock() -> None:
    run = run_shell(LIVENESS_ARGS)
    assert run.clock == 630 and run.last_status == 0
    files = run.timeline()
    assert files.ops == ((0.0, "add", "/tmp/healthy"), (30.0, "rm", "/tmp/healthy"))
    # A command after `sleep 30` runs just after the 30th second.
    assert files.exists("/tmp/healthy", 30) and not files.exists("/tmp/healthy", 30.1)
    assert files.exists("/tmp", 100) and files.exists("/etc/hostname", 0)
    assert not files.exists("/tmp/other", 0)


@pytest.mark.parametrize(
    ("script", "path", "present_at", "absent_at"),
    [
        ("echo ok > /tmp/ready; sleep 10; rm /tmp/ready; sleep 600", "/tmp/ready", 10, 10.5),
        ("mkdir -p /var/lib/app; sleep 5; rm -rf /var/lib; sleep 600", "/var/lib/app", 1, 5.5),
        ("sleep 20; touch /tmp/started; sleep infinity", "/tmp/started", 20.5, 20),
        ("touch /a; sleep 3; mv /a /b; sleep 600", "/b", 3.5, 3),
        ("sleep 1; echo x >>/tmp/log 2>/dev/null; sleep 600", "/tmp/log", 1.5, 1),
    ],
)
def test_commands_that_create_and_remove_files(
    script: str, path: str, present_at: float, absent_at: float
) -> None:
    files = run_shell(["sh", "-c", script]).timeline()
    assert files.exists(path, present_at)
    assert not files.exists(path, absent_at)


def test_a_while_loop_repeats_its_file_changes() -> None:
    script = "while true; do touch /tmp/ok; sleep 5; rm -f /tmp/ok; sleep 5; done"
    files = run_shell(["sh", "-c", script]).timeline()
    present = [files.exists("/tmp/ok", t + 2.5) for t in range(0, 30, 5)]
    assert present == [True, False, True, False, True, False]
    assert files.settles_at() is None


def test_a_command_reads_the_files_its_script_wrote() -> None:
    run = run_shell(["sh", "-c", "touch /tmp/a; cat /tmp/a && echo yes; cat /tmp/b || echo no"])
    assert [line for _, line in run.lines] == [
        "yes",
        "cat: can't open '/tmp/b': No such file or directory",
        "no",
    ]


@pytest.mark.parametrize(
    ("command", "passed", "output"),
    [
        (["cat", "/tmp/healthy"], False, CANT_OPEN),
        (["test", "-f", "/tmp/healthy"], False, ""),
        (["sh", "-c", "[ -f /tmp/healthy ]"], False, ""),
        (["ls", "/tmp/healthy"], False, "ls: /tmp/healthy: No such file or directory"),
        (["sh", "-c", "test -e /tmp/healthy || exit 1"], False, ""),
        (["sh", "-c", "! test -f /tmp/healthy"], True, ""),
        (["cat", "/etc/hostname"], True, ""),
        (["pg_isready"], True, ""),  # kubesim cannot tell what it checks: it passes
        (["sh", "-c", "sleep 2"], False, 'command "sh -c sleep 2" timed out'),
    ],
)
def test_probe_commands_against_the_files(command: list[str], passed: bool, output: str) -> None:
    files = run_shell(LIVENESS_ARGS).timeline()
    assert run_probe(command, files, 31, timeout=1) == (passed, output)
    if "/tmp/healthy" in " ".join(command):  # while the file is there, the other way round
        assert run_probe(command, files, 10, timeout=1)[0] is (not passed)


def test_files_of_an_unknown_image_and_of_mounted_volumes_exist() -> None:
    assert run_probe(["cat", "/app/ready"], FileTimeline(known_image=False), 0, 1)[0]
    mounted = FileTimeline(mounts=("/etc/config",))
    assert run_probe(["cat", "/etc/config/app.yaml"], mounted, 0, 1)[0]
    assert not run_probe(["cat", "/etc/other.yaml"], mounted, 0, 1)[0]


# -- the kubelet -----------------------------------------------------------------------------
def test_the_docs_liveness_exec_example_restarts_the_container(cluster: Cluster) -> None:
    probe = _exec(["cat", "/tmp/healthy"], initialDelaySeconds=5, periodSeconds=5)
    cluster.create(pod_manifest("liveness-exec", _container(LIVENESS_ARGS, livenessProbe=probe)))
    start = _started(cluster, "liveness-exec")
    cluster.advance(start + 34.5 - cluster.clock.seconds())
    assert cluster.events("liveness-exec", "Unhealthy") == []
    cluster.advance(1)  # the probe at start + 35 is the first to find the file gone
    [unhealthy] = cluster.events("liveness-exec", "Unhealthy")
    assert unhealthy["message"] == f"Liveness probe failed: {CANT_OPEN}"
    assert unhealthy["type"] == "Warning" and unhealthy["count"] == 1
    assert unhealthy["involvedObject"]["fieldPath"] == "spec.containers{liveness}"
    assert container_status(cluster.pod("liveness-exec"))["restartCount"] == 0
    cluster.advance(start + 45.5 - cluster.clock.seconds())  # third failure in a row: killed
    [killing] = cluster.events("liveness-exec", "Killing")
    assert killing["message"] == "Container liveness failed liveness probe, will be restarted"
    assert cluster.events("liveness-exec", "Unhealthy")[0]["count"] == 3
    cluster.advance(5)  # restarted at once (after pulling `latest` again)
    status = container_status(cluster.pod("liveness-exec"))
    assert status["restartCount"] == 1
    terminated = status["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")
    # The restarted container starts from the image's files and touches the file again.
    restarted = _started(cluster, "liveness-exec")
    cluster.advance(restarted + 34.5 - cluster.clock.seconds())
    assert cluster.events("liveness-exec", "Unhealthy")[0]["count"] == 3
    cluster.advance(12)
    assert container_status(cluster.pod("liveness-exec"))["restartCount"] == 1
    assert cluster.events("liveness-exec", "Unhealthy")[0]["count"] == 6
    # Then back-off: 10 s, 20 s, ... as for any container the kubelet kills.
    cluster.advance(300)
    assert container_status(cluster.pod("liveness-exec"))["restartCount"] >= 3
    assert cluster.events("liveness-exec", "BackOff")


def test_failure_threshold_and_a_probe_that_passes_again(cluster: Cluster) -> None:
    script = "touch /tmp/ok; sleep 20; rm /tmp/ok; sleep 17; touch /tmp/ok; sleep 600"
    probe = _exec(["test", "-f", "/tmp/ok"], periodSeconds=5, failureThreshold=4)
    cluster.create(pod_manifest("flaky", _container(["sh", "-c", script], livenessProbe=probe)))
    cluster.advance(300)
    status = container_status(cluster.pod("flaky"))
    assert status["restartCount"] == 0  # 3 failures in a row (25, 30, 35), then it passed
    [unhealthy] = cluster.events("flaky", "Unhealthy")
    assert (unhealthy["message"], unhealthy["count"]) == ("Liveness probe failed: ", 3)


def test_readiness_exec_flips_ready_without_restarts(cluster: Cluster) -> None:
    script = (
        "sleep 10; touch /tmp/ready; sleep 30; rm -f /tmp/ready; sleep 20; touch /tmp/ready; "
        "sleep 3600"
    )
    probe = _exec(["cat", "/tmp/ready"], periodSeconds=5, failureThreshold=2, successThreshold=2)
    cluster.create(pod_manifest("web", _container(["sh", "-c", script], readinessProbe=probe)))
    start = _started(cluster, "web")

    def ready_at(offset: float) -> bool:
        cluster.advance(start + offset + 0.5 - cluster.clock.seconds())
        pod = cluster.pod("web")
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions["Ready"] == conditions["ContainersReady"]
        return bool(container_status(pod)["ready"]) and conditions["Ready"] == "True"

    assert not ready_at(15)  # the file is there from 10: one success is not enough
    assert ready_at(20)  # the second in a row (successThreshold 2)
    assert ready_at(45)  # removed at 40: the first failure
    assert not ready_at(50)  # the second in a row (failureThreshold 2): unready
    assert not ready_at(65)  # back at 60: one success
    assert ready_at(70)
    assert container_status(cluster.pod("web"))["restartCount"] == 0
    assert cluster.events("web", "Killing") == []
    unhealthy = cluster.events("web", "Unhealthy")
    assert {e["message"] for e in unhealthy} == {
        "Readiness probe failed: cat: can't open '/tmp/ready': No such file or directory"
    }
    assert sum(e["count"] for e in unhealthy) == 3 + 4  # at 0, 5, 10; then 45, 50, 55, 60


def test_a_probe_that_runs_past_its_timeout_fails(cluster: Cluster) -> None:
    probe = _exec(["sh", "-c", "sleep 3"], periodSeconds=10, timeoutSeconds=2)
    cluster.create(
        pod_manifest("slow", _container(["sh", "-c", "sleep 3600"], livenessProbe=probe))
    )
    cluster.advance(40)
    [unhealthy] = cluster.events("slow", "Unhealthy")
    assert unhealthy["message"] == 'Liveness probe failed: command "sh -c sleep 3" timed out'
    assert container_status(cluster.pod("slow"))["restartCount"] == 1


def test_initial_delay_and_startup_probe_gate_the_exec_probes(cluster: Cluster) -> None:
    script = "sleep 25; touch /tmp/started; sleep 3600"
    startup = _exec(["test", "-f", "/tmp/started"], periodSeconds=10, failureThreshold=5)
    liveness = _exec(["test", "-f", "/tmp/started"], initialDelaySeconds=40, periodSeconds=10)
    container = _container(["sh", "-c", script], startupProbe=startup, livenessProbe=liveness)
    cluster.create(pod_manifest("gated", container))
    start = _started(cluster, "gated")
    cluster.advance(start + 29 - cluster.clock.seconds())
    assert container_status(cluster.pod("gated"))["started"] is False
    cluster.advance(2)  # the startup probe at 30 passes
    assert container_status(cluster.pod("gated"))["started"] is True
    [unhealthy] = cluster.events("gated", "Unhealthy")
    assert unhealthy["message"] == "Startup probe failed: " and unhealthy["count"] == 3
    cluster.advance(120)
    assert container_status(cluster.pod("gated"))["restartCount"] == 0


def test_a_startup_probe_that_never_passes_kills_the_container(cluster: Cluster) -> None:
    startup = _exec(["cat", "/tmp/never"], periodSeconds=5, failureThreshold=3)
    cluster.create(
        pod_manifest("never", _container(["sh", "-c", "sleep 3600"], startupProbe=startup))
    )
    cluster.advance(20)
    [killing] = cluster.events("never", "Killing")
    assert killing["message"] == "Container liveness failed startup probe, will be restarted"


def test_an_annotation_still_decides_the_probe(cluster: Cluster) -> None:
    probe = _exec(["cat", "/tmp/healthy"], periodSeconds=5)
    manifest = pod_manifest("annotated", _container(LIVENESS_ARGS, livenessProbe=probe))
    manifest["metadata"]["annotations"] = {"kubesim.io/liveness": "pass"}
    cluster.create(manifest)
    cluster.advance(120)
    assert cluster.events("annotated", "Unhealthy") == []
    assert container_status(cluster.pod("annotated"))["restartCount"] == 0


def test_an_image_of_its_own_passes_file_probes(cluster: Cluster) -> None:
    probe = _exec(["cat", "/usr/share/nginx/html/index.html"], periodSeconds=5)
    container = {"name": "web", "image": "nginx:1.25", "livenessProbe": probe}
    cluster.create(pod_manifest("nginx", container))
    cluster.advance(60)
    assert cluster.events("nginx", "Unhealthy") == []
