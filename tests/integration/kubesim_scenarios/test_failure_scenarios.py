"""k8s/scenarios applied with real kubectl against kubesim produce a real cluster's symptoms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from kubesim import KubeSim
from tests.integration.kubesim_scenarios.conftest import Kubectl, scenario


def _row(kubectl: Kubectl, name: str) -> dict[str, str]:
    """`kubectl get pod NAME` as header -> value (STATUS, RESTARTS, ...)."""
    header, row = kubectl("get", "pod", name).stdout.splitlines()[:2]
    columns = header.split()
    starts = [header.index(c) for c in columns] + [len(row) + 1]
    return {c: row[starts[i] : starts[i + 1]].strip() for i, c in enumerate(columns)}


def test_crashloop_scenario(sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api) -> None:
    kubectl("apply", "-f", scenario("crashloop"))
    sim.advance(40)
    row = _row(kubectl, "crashloop-test")
    assert row["STATUS"] == "CrashLoopBackOff"
    first = int(row["RESTARTS"].split()[0])
    assert first >= 2
    sim.advance(120, step=2)
    assert int(_row(kubectl, "crashloop-test")["RESTARTS"].split()[0]) > first
    pod = core.read_namespaced_pod("crashloop-test", "default")
    status = pod.status.container_statuses[0]
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.exit_code == 1
    assert status.last_state.terminated.reason == "Error"
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=crashloop-test,reason=BackOff"
    ).items
    assert events and events[0].count >= 2 and events[0].type == "Warning"


def test_oom_scenario(sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api) -> None:
    kubectl("apply", "-f", scenario("oom"))
    sim.advance(30)
    status = core.read_namespaced_pod("oom-test", "default").status.container_statuses[0]
    assert status.last_state.terminated.reason == "OOMKilled"
    assert status.last_state.terminated.exit_code == 137
    assert _row(kubectl, "oom-test")["STATUS"] in ("CrashLoopBackOff", "OOMKilled")


def test_imagepull_scenario(sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api) -> None:
    kubectl("apply", "-f", scenario("imagepull"))
    sim.advance(20)
    assert _row(kubectl, "imagepull-test")["STATUS"] == "ImagePullBackOff"
    described = kubectl("describe", "pod", "imagepull-test").stdout
    assert "Back-off pulling image" in described
    assert "failed to pull and unpack image" in described and ": not found" in described
    waiting = (
        core.read_namespaced_pod("imagepull-test", "default")
        .status.container_statuses[0]
        .state.waiting
    )
    assert waiting.reason == "ImagePullBackOff"


def test_resource_exhaustion_scenario(
    sim: KubeSim, kubectl: Kubectl, kubectl_json: Callable[..., Any]
) -> None:
    kubectl("apply", "-f", scenario("resource-exhaustion"))
    sim.advance(10)
    assert _row(kubectl, "resource-hog")["STATUS"] == "Pending"
    events = kubectl_json("get", "events", "--field-selector", "involvedObject.name=resource-hog")[
        "items"
    ]
    assert [e["reason"] for e in events] == ["FailedScheduling"]
    assert events[0]["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")
    assert "FailedScheduling" in kubectl("get", "events").stdout


def test_healthy_deployment_and_pod_replacement(
    sim: KubeSim, kubectl: Kubectl, kubectl_json: Callable[..., Any], core: client.CoreV1Api
) -> None:
    kubectl("apply", "-f", scenario("healthy-deployment"))
    sim.advance(30)
    deployment = kubectl_json("get", "deployment", "web")
    assert deployment["status"]["readyReplicas"] == 3
    pods = kubectl_json("get", "pods", "-l", "app=web")["items"]
    victim = pods[0]["metadata"]["name"]
    kubectl("delete", "pod", victim)
    sim.advance(30)
    pods = kubectl_json("get", "pods", "-l", "app=web")["items"]
    names = {p["metadata"]["name"] for p in pods}
    assert victim not in names and len(names) == 3
    for pod in core.list_namespaced_pod("default", label_selector="app=web").items:
        assert pod.status.phase == "Running"
        assert pod.status.container_statuses[0].restart_count == 0
        assert pod.status.container_statuses[0].ready
    assert "nginx" in kubectl("logs", next(iter(names))).stdout


def test_bad_rollout_is_undone_to_the_old_replicaset(
    sim: KubeSim, kubectl: Kubectl, kubectl_json: Callable[..., Any], apps: client.AppsV1Api
) -> None:
    kubectl("apply", "-f", scenario("bad-rollout"))
    sim.advance(20)
    [good] = kubectl_json("get", "rs", "-l", "app=checkout")["items"]
    good_name = good["metadata"]["name"]
    kubectl("set", "image", "deployment/checkout", "app=nginx:1.25-does-not-exist")
    sim.advance(30)
    rss = {
        r["metadata"]["name"]: r for r in kubectl_json("get", "rs", "-l", "app=checkout")["items"]
    }
    bad_name = next(n for n in rss if n != good_name)
    assert rss[good_name]["status"]["readyReplicas"] == 3  # the old pods keep serving
    bad_pods = kubectl_json("get", "pods", "-l", f"pod-template-hash={bad_name.rsplit('-', 1)[1]}")[
        "items"
    ]
    assert (
        bad_pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
        == "ImagePullBackOff"
    )
    sim.advance(130, step=5)
    conditions = {
        c.type: c for c in apps.read_namespaced_deployment("checkout", "default").status.conditions
    }
    assert conditions["Progressing"].reason == "ProgressDeadlineExceeded"
    history = kubectl("rollout", "history", "deployment/checkout").stdout
    assert "1 " in history and "2 " in history

    kubectl("rollout", "undo", "deployment/checkout")
    sim.advance(30)
    rss = {
        r["metadata"]["name"]: r for r in kubectl_json("get", "rs", "-l", "app=checkout")["items"]
    }
    assert rss[good_name]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rss[good_name]["spec"]["replicas"] == 3 and rss[bad_name]["spec"]["replicas"] == 0
    deployment = apps.read_namespaced_deployment("checkout", "default")
    assert deployment.spec.template.spec.containers[0].image == "nginx:1.25"
    assert deployment.status.updated_replicas == 3 and deployment.status.available_replicas == 3
    assert {c.type: c.reason for c in deployment.status.conditions}[
        "Progressing"
    ] == "NewReplicaSetAvailable"


def test_crashing_deployment_logs_current_and_previous(sim: KubeSim, kubectl: Kubectl) -> None:
    kubectl("apply", "-f", scenario("crashloop-deployment"))
    sim.advance(40)
    previous = kubectl("logs", "deployment/payments", "--previous").stdout
    assert previous.splitlines() == [
        "INFO payments starting",
        "ERROR Failed to connect to database: connection refused",
    ]


def test_memory_leak_scenario_ends_in_oom_kill(
    sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api
) -> None:
    kubectl("apply", "-f", scenario("memory-leak"))
    sim.advance(200, step=5)
    [pod] = core.list_namespaced_pod("default", label_selector="app=reports").items
    assert pod.status.container_statuses[0].restart_count == 0
    sim.advance(90, step=5)
    [pod] = core.list_namespaced_pod("default", label_selector="app=reports").items
    last = pod.status.container_statuses[0].last_state.terminated
    assert last.reason == "OOMKilled" and last.exit_code == 137
    assert "WARN report cache grew to" in kubectl("logs", pod.metadata.name, "--previous").stdout


def test_liveness_failure_scenario(sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api) -> None:
    kubectl("apply", "-f", scenario("liveness-failure"))
    sim.advance(100, step=2)
    [pod] = core.list_namespaced_pod("default", label_selector="app=search").items
    status = pod.status.container_statuses[0]
    assert status.restart_count == 1 and status.last_state.terminated.exit_code == 137
    events = core.list_namespaced_event(
        "default", field_selector=f"involvedObject.name={pod.metadata.name}"
    ).items
    reasons = {e.reason: e for e in events}
    assert (
        reasons["Unhealthy"].message
        == "Liveness probe failed: HTTP probe failed with statuscode: 500"
    )
    assert reasons["Unhealthy"].count == 3
    assert reasons["Killing"].message == "Container app failed liveness probe, will be restarted"
