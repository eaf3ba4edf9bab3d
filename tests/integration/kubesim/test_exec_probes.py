# mypy: disable-error-code="union-attr,index,no-untyped-call,attr-defined,arg-type"
"""Exec probes over the API: the Kubernetes docs' liveness-exec example restarts its container
as the simulated clock moves (official client, `kubectl get pod --watch`), and a readiness exec
probe flips READY without restarts."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import IO, Any

from kubernetes import client

from kubesim import KubeSim
from tests.integration.kubesim.conftest import KUBECTL, Kubectl

# https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/
LIVENESS_EXEC: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "liveness-exec", "labels": {"test": "liveness"}},
    "spec": {
        "containers": [
            {
                "name": "liveness",
                "image": "registry.k8s.io/busybox",
                "args": [
                    "/bin/sh",
                    "-c",
                    "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600",
                ],
                "livenessProbe": {
                    "exec": {"command": ["cat", "/tmp/healthy"]},
                    "initialDelaySeconds": 5,
                    "periodSeconds": 5,
                },
            }
        ]
    },
}
READINESS_EXEC: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "readiness-exec"},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "busybox:1.36",
                "command": [
                    "sh",
                    "-c",
                    "sleep 20; touch /tmp/ready; sleep 60; rm /tmp/ready; sleep 3600",
                ],
                "readinessProbe": {
                    "exec": {"command": ["sh", "-c", "test -f /tmp/ready"]},
                    "periodSeconds": 5,
                },
            }
        ]
    },
}


def test_liveness_exec_through_the_official_client(sim: KubeSim, core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", LIVENESS_EXEC)
    sim.advance(30)
    pod = core.read_namespaced_pod("liveness-exec", "default")
    assert pod.status.container_statuses[0].restart_count == 0
    sim.advance(30)  # the file went at 30 s: three failed probes, then the kill
    pod = core.read_namespaced_pod("liveness-exec", "default")
    status = pod.status.container_statuses[0]
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == 137
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=liveness-exec"
    ).items
    by_reason = {e.reason: e for e in events}
    assert by_reason["Unhealthy"].message == (
        "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"
    )
    assert by_reason["Unhealthy"].count == 3 and by_reason["Unhealthy"].type == "Warning"
    assert by_reason["Killing"].message == (
        "Container liveness failed liveness probe, will be restarted"
    )
    sim.advance(240)
    status = core.read_namespaced_pod("liveness-exec", "default").status.container_statuses[0]
    assert status.restart_count >= 3


def _watch(sim: KubeSim, out: IO[str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(sim.kubeconfig_path), "get", "pod", *args, "--watch"],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _rows(path: Path, name: str) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.startswith(name)]


def test_kubectl_get_pod_watch_sees_the_restarts(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(LIVENESS_EXEC)
    with open(tmp_path / "watch.out", "w") as out:
        _watch_restarts(sim, tmp_path, out)
    rows = _rows(tmp_path / "watch.out", "liveness-exec")
    restarts = [int(r[3]) for r in rows]
    assert restarts[0] == 0 and max(restarts) >= 2
    assert restarts == sorted(restarts)
    assert any(r[2] == "CrashLoopBackOff" for r in rows)  # the back-off after a kill
    assert any(r[2] == "Running" and r[3] != "0" for r in rows)


def _watch_restarts(sim: KubeSim, tmp_path: Path, out: IO[str]) -> None:
    watcher = _watch(sim, out, "liveness-exec")
    try:
        deadline = time.monotonic() + 20
        while not _rows(tmp_path / "watch.out", "liveness-exec") and time.monotonic() < deadline:
            time.sleep(0.2)
        for _ in range(20):  # 200 simulated seconds, 10 at a time, as a user would watch
            sim.advance(10)
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        watcher.terminate()
        watcher.wait(10)


def test_readiness_exec_flips_ready_without_restarts(sim: KubeSim, kubectl: Kubectl) -> None:
    sim.apply(READINESS_EXEC)

    def columns() -> list[str]:
        return kubectl("get", "pod", "readiness-exec", "--no-headers").stdout.split()

    sim.advance(15)
    assert columns()[1:4] == ["0/1", "Running", "0"]
    sim.advance(15)  # the file came at 20 s: ready from the next probe
    assert columns()[1:4] == ["1/1", "Running", "0"]
    sim.advance(75)  # removed at 80 s: three failures, unready
    assert columns()[1:4] == ["0/1", "Running", "0"]
    described = kubectl("describe", "pod", "readiness-exec").stdout
    assert "Readiness probe failed:" in described
    assert "Killing" not in described
