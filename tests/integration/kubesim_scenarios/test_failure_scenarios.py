"""k8s/scenarios applied with real kubectl against kubesim produce a real cluster's symptoms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client

from kubesim import KubeSim
from tests.integration.kubesim_scenarios.conftest import Kubectl, scenario

T = TypeVar("T")


def _set(value: T | None) -> T:
    """The client models make every field optional; here each one must be set."""
    assert value is not None
    return value


def _container(pod: client.V1Pod, index: int = 0) -> client.V1ContainerStatus:
    return _set(_set(pod.status).container_statuses)[index]


def _waiting(status: client.V1ContainerStatus) -> client.V1ContainerStateWaiting:
    return _set(_set(status.state).waiting)


def _last_terminated(status: client.V1ContainerStatus) -> client.V1ContainerStateTerminated:
    return _set(_set(status.last_state).terminated)


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
    status = _container(pod)
    assert _waiting(status).reason == "CrashLoopBackOff"
    assert _last_terminated(status).exit_code == 1
    assert _last_terminated(status).reason == "Error"
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=crashloop-test,reason=BackOff"
    ).items
    assert events and _set(events[0].count) >= 2 and events[0].type == "Warning"


def test_oom_scenario(sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api) -> None:
    kubectl("apply", "-f", scenario("oom"))
    sim.advance(30)
    status = _container(core.read_namespaced_pod("oom-test", "default"))
    assert _last_terminated(status).reason == "OOMKilled"
    assert _last_terminated(status).exit_code == 137
    assert _row(kubectl, "oom-test")["STATUS"] in ("CrashLoopBackOff", "OOMKilled")


def test_imagepull_scenario(sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api) -> None:
    kubectl("apply", "-f", scenario("imagepull"))
    sim.advance(20)
    assert _row(kubectl, "imagepull-test")["STATUS"] == "ImagePullBackOff"
    described = kubectl("describe", "pod", "imagepull-test").stdout
    assert "Back-off pulling image" in described
    assert "failed to pull and unpack image" in described and ": not found" in described
    waiting = _waiting(_container(core.read_namespaced_pod("imagepull-test", "default")))
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
        assert _set(pod.status).phase == "Running"
        assert _container(pod).restart_count == 0
        assert _container(pod).ready
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
    rolled = apps.read_namespaced_deployment("checkout", "default")
    conditions = {c.type: c for c in _set(_set(rolled.status).conditions)}
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
    assert _set(_set(deployment.spec).template.spec).containers[0].image == "nginx:1.25"
    status = _set(deployment.status)
    assert status.updated_replicas == 3 and status.available_replicas == 3
    assert {c.type: c.reason for c in _set(status.conditions)}[
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
    assert _container(pod).restart_count == 0
    sim.advance(90, step=5)
    [pod] = core.list_namespaced_pod("default", label_selector="app=reports").items
    last = _last_terminated(_container(pod))
    assert last.reason == "OOMKilled" and last.exit_code == 137
    name = _set(_set(pod.metadata).name)
    assert "WARN report cache grew to" in kubectl("logs", name, "--previous").stdout


def test_liveness_failure_scenario(sim: KubeSim, kubectl: Kubectl, core: client.CoreV1Api) -> None:
    kubectl("apply", "-f", scenario("liveness-failure"))
    sim.advance(100, step=2)
    [pod] = core.list_namespaced_pod("default", label_selector="app=search").items
    status = _container(pod)
    assert status.restart_count == 1 and _last_terminated(status).exit_code == 137
    events = core.list_namespaced_event(
        "default", field_selector=f"involvedObject.name={_set(pod.metadata).name}"
    ).items
    reasons = {e.reason: e for e in events}
    assert (
        reasons["Unhealthy"].message
        == "Liveness probe failed: HTTP probe failed with statuscode: 500"
    )
    assert reasons["Unhealthy"].count == 3
    assert reasons["Killing"].message == "Container app failed liveness probe, will be restarted"
