# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# mypy: disable-error-code="no-any-return"
# (the official client models make every field Optional and take dict bodies at runtime)
"""`--kube-version` and in-place pod resize (pods/resize, 1.33+), through the official client
and the real kubectl, on the simulated clock."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from kubesim import KubeSim
from tests.integration.kubesim.conftest import KUBECTL

Obj = dict[str, Any]


def _pod(name: str, container: Obj, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **spec},
    }


def _web(name: str = "web", **container: Any) -> Obj:
    resources = {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi"},
    }
    return _pod(name, {"name": "c", "image": "nginx:1.25", "resources": resources, **container})


class Cluster:
    def __init__(self, sim: KubeSim, cache: Path) -> None:
        self.sim = sim
        self.cache = cache
        self.api = config.new_client_from_config(str(sim.kubeconfig_path))
        self.core = client.CoreV1Api(self.api)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [
            KUBECTL,
            "--kubeconfig",
            str(self.sim.kubeconfig_path),
            "--cache-dir",
            str(self.cache),
            *args,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def pod(self, name: str) -> Obj:
        return self.api.sanitize_for_serialization(self.core.read_namespaced_pod(name, "default"))

    def status(self, name: str) -> Obj:
        return self.pod(name)["status"]["containerStatuses"][0]

    def conditions(self, name: str) -> dict[str, Obj]:
        return {c["type"]: c for c in self.pod(name)["status"]["conditions"]}

    def resize(self, name: str, body: Any) -> Obj:
        return self.api.sanitize_for_serialization(
            self.core.patch_namespaced_pod_resize(name, "default", body)
        )


def _cluster(tmp_path: Path, version: str, **kwargs: Any) -> Iterator[Cluster]:
    with KubeSim(speed=0.0, kube_version=version, **kwargs) as sim:
        cluster = Cluster(sim, tmp_path / "kube-cache")
        try:
            yield cluster
        finally:
            cluster.api.close()


@pytest.fixture
def v133(tmp_path: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, "1.33")


@pytest.fixture
def v128(tmp_path: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, "1.28")


@pytest.fixture
def v135(tmp_path: Path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, "1.35")


def _limits(body: Obj, memory: str) -> Obj:
    return {"spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": memory}}}]}}


# -- version and discovery -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "git", "resize"), [("1.28", "v1.28.7", False), ("1.33", "v1.33.0", True)]
)
def test_version_and_discovery_follow_the_kube_version(
    tmp_path: Path, version: str, git: str, resize: bool
) -> None:
    for cluster in _cluster(tmp_path, version):
        info = client.VersionApi(cluster.api).get_code()
        assert (info.major, info.minor, info.git_version) == ("1", version[2:], git)
        resources = {r.name: r for r in cluster.core.get_api_resources().resources}
        assert ("pods/resize" in resources) is resize
        if resize:
            entry = resources["pods/resize"]
            assert (entry.kind, sorted(entry.verbs)) == ("Pod", ["get", "patch", "update"])
        out = cluster.kubectl("version", "-o", "json").stdout
        assert json.loads(out)["serverVersion"]["gitVersion"] == git
        listed = cluster.kubectl("api-resources", "--api-group=").stdout
        assert "pods" in listed.split()
        raw = json.loads(cluster.kubectl("get", "--raw", "/api/v1").stdout)
        assert any(r["name"] == "pods/resize" for r in raw["resources"]) is resize
        node = cluster.core.list_node().items[0]
        assert node.status.node_info.kubelet_version == git


def test_unknown_version_is_refused() -> None:
    from kubesim import KubeSimError

    with pytest.raises(KubeSimError, match="1.28, 1.33, 1.35"):
        KubeSim(kube_version="1.30")


# -- 1.28: no such subresource ---------------------------------------------------------------
def test_resize_is_not_found_at_128(v128: Cluster) -> None:
    v128.sim.apply(_web())
    v128.sim.advance(10)
    headers = {"Authorization": f"Bearer {v128.sim.token}"}
    url = f"{v128.sim.url}/api/v1/namespaces/default/pods/web/resize"
    with httpx.Client(verify=False, headers=headers) as http:
        for method in ("GET", "PATCH"):
            answer = http.request(
                method,
                url,
                content=json.dumps(_limits({}, "256Mi")),
                headers={"Content-Type": "application/strategic-merge-patch+json"},
            )
            assert answer.status_code == 404
            assert answer.json() == {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "the server could not find the requested resource",
                "reason": "NotFound",
                "details": {},
                "code": 404,
            }
    refused = v128.kubectl(
        "patch",
        "pod",
        "web",
        "--subresource",
        "resize",
        "-p",
        json.dumps(_limits({}, "256Mi")),
        check=False,
    )
    assert refused.returncode != 0
    assert v128.pod("web")["spec"]["containers"][0]["resources"]["limits"]["memory"] == "128Mi"
    status = v128.status("web")
    assert "resources" not in status and "allocatedResources" not in status
    assert "resizePolicy" not in v128.pod("web")["spec"]["containers"][0]


# -- 1.33: resize in place -------------------------------------------------------------------
def test_kubectl_resize_changes_the_memory_limit_without_a_restart(v133: Cluster) -> None:
    v133.sim.apply(_web())
    v133.sim.advance(10)
    pod = v133.pod("web")
    assert pod["spec"]["containers"][0]["resizePolicy"] == [
        {"resourceName": "cpu", "restartPolicy": "NotRequired"},
        {"resourceName": "memory", "restartPolicy": "NotRequired"},
    ]
    assert v133.status("web")["resources"]["limits"]["memory"] == "128Mi"
    started = v133.status("web")["state"]["running"]["startedAt"]
    out = v133.kubectl(
        "patch",
        "pod",
        "web",
        "--subresource",
        "resize",
        "--patch",
        '{"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"228Mi"}}}]}}',
    ).stdout
    assert "pod/web patched" in out
    conditions = v133.conditions("web")
    assert conditions["PodResizeInProgress"]["status"] == "True"
    v133.sim.advance(2)
    assert "PodResizeInProgress" not in v133.conditions("web")
    shown = yaml.safe_load(v133.kubectl("get", "pod", "web", "-o", "yaml").stdout)
    assert shown["spec"]["containers"][0]["resources"]["limits"]["memory"] == "228Mi"
    status = shown["status"]["containerStatuses"][0]
    assert status["resources"]["limits"] == {"cpu": "200m", "memory": "228Mi"}
    assert status["allocatedResources"] == {"cpu": "100m", "memory": "64Mi"}
    assert status["restartCount"] == 0
    assert v133.status("web")["state"]["running"]["startedAt"] == started
    row = v133.kubectl("get", "pod", "web", "--no-headers").stdout.split()
    assert row[:4] == ["web", "1/1", "Running", "0"]


def test_watch_sees_the_resize(v133: Cluster) -> None:
    v133.sim.apply(_web())
    v133.sim.advance(10)
    since = v133.core.read_namespaced_pod("web", "default").metadata.resource_version
    v133.resize("web", _limits({}, "256Mi"))
    seen = []
    for event in watch.Watch().stream(
        v133.core.list_namespaced_pod, "default", resource_version=since, timeout_seconds=1
    ):
        seen.append(event["object"].spec.containers[0].resources.limits["memory"])
    assert "256Mi" in seen


def test_a_resize_that_fits_the_usage_ends_the_oom_kills(v133: Cluster) -> None:
    stress = {
        "name": "c",
        "image": "polinux/stress",
        "command": ["stress"],
        "args": ["--vm", "1", "--vm-bytes", "100M", "--vm-hang", "1"],
        "resources": {
            "requests": {"cpu": "100m", "memory": "50Mi"},
            "limits": {"cpu": "200m", "memory": "64Mi"},
        },
    }
    v133.sim.apply(_pod("hog", stress))
    v133.sim.advance(60)
    status = v133.status("hog")
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    v133.resize("hog", _limits({}, "256Mi"))
    v133.sim.advance(330, step=10)  # through whatever back-off it was in
    restarts = v133.status("hog")["restartCount"]
    v133.sim.advance(600, step=30)
    status = v133.status("hog")
    assert status["restartCount"] == restarts
    assert "running" in status["state"]
    assert status["resources"]["limits"]["memory"] == "256Mi"


def test_restart_container_policy_restarts_once(v133: Cluster) -> None:
    policy = [
        {"resourceName": "cpu", "restartPolicy": "NotRequired"},
        {"resourceName": "memory", "restartPolicy": "RestartContainer"},
    ]
    v133.sim.apply(_web(resizePolicy=policy))
    v133.sim.advance(10)
    v133.resize("web", _limits({}, "256Mi"))
    v133.sim.advance(120, step=5)
    status = v133.status("web")
    assert status["restartCount"] == 1
    assert "running" in status["state"]
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert status["resources"]["limits"]["memory"] == "256Mi"
    killing = [
        e.message for e in v133.core.list_namespaced_event("default").items if e.reason == "Killing"
    ]
    assert killing == ["Container c resize requires restart"]
    # a CPU change under NotRequired does not restart it
    body = {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "300m"}}}]}}
    v133.resize("web", body)
    v133.sim.advance(30)
    assert v133.status("web")["restartCount"] == 1
    assert v133.status("web")["resources"]["limits"]["cpu"] == "300m"


def test_a_resize_larger_than_the_node_is_infeasible(v133: Cluster) -> None:
    v133.sim.apply(_web())
    v133.sim.advance(10)
    body = {
        "spec": {
            "containers": [
                {"name": "c", "resources": {"requests": {"cpu": "6"}, "limits": {"cpu": "6"}}}
            ]
        }
    }
    v133.resize("web", body)
    pending = v133.conditions("web")["PodResizePending"]
    assert (pending["status"], pending["reason"]) == ("True", "Infeasible")
    assert pending["message"] == (
        "Node didn't have enough capacity: cpu, requested: 6000, capacity: 4000"
    )
    v133.sim.advance(60)
    assert v133.conditions("web")["PodResizePending"]["reason"] == "Infeasible"
    assert v133.status("web")["resources"]["limits"]["cpu"] == "200m"
    assert v133.status("web")["allocatedResources"]["cpu"] == "100m"


def test_a_deferred_resize_is_applied_once_another_pod_leaves(tmp_path: Path) -> None:
    node = {"name": "small", "cpu": "2", "memory": "1Gi"}
    for cluster in _cluster(tmp_path, "1.33", nodes=[node]):
        big = {"requests": {"memory": "512Mi"}, "limits": {"memory": "512Mi"}}
        cluster.sim.apply(_pod("big", {"name": "c", "image": "nginx:1.25", "resources": big}))
        cluster.sim.apply(_web())
        cluster.sim.advance(10)
        body = {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "resources": {
                            "requests": {"memory": "600Mi"},
                            "limits": {"memory": "700Mi"},
                        },
                    }
                ]
            }
        }
        cluster.resize("web", body)
        pending = cluster.conditions("web")["PodResizePending"]
        assert pending["reason"] == "Deferred"
        assert pending["message"] == (
            "Node didn't have enough resource: memory, requested: 629145600, "
            "used: 536870912, capacity: 1073741824"
        )
        cluster.sim.advance(30)
        assert cluster.conditions("web")["PodResizePending"]["reason"] == "Deferred"
        assert cluster.status("web")["resources"]["limits"]["memory"] == "128Mi"
        cluster.core.delete_namespaced_pod("big", "default")
        cluster.sim.advance(5)
        conditions = cluster.conditions("web")
        assert "PodResizePending" not in conditions
        status = cluster.status("web")
        assert status["resources"]["limits"]["memory"] == "700Mi"
        assert status["allocatedResources"]["memory"] == "600Mi"
        assert status["restartCount"] == 0


# -- what the resize subresource refuses -------------------------------------------------------
def _refusal(cluster: Cluster, body: Any) -> Obj:
    with pytest.raises(ApiException) as caught:
        cluster.resize("web", body)
    assert caught.value.status == 422
    error: Obj = json.loads(caught.value.body)
    assert error["reason"] == "Invalid"
    return error


def test_resize_refuses_what_cannot_change_in_place(v133: Cluster) -> None:
    v133.sim.apply(_web())
    v133.sim.advance(10)
    before = v133.pod("web")
    storage = _refusal(
        v133,
        {
            "spec": {
                "containers": [{"name": "c", "resources": {"limits": {"ephemeral-storage": "1Gi"}}}]
            }
        },
    )
    assert storage["message"] == (
        'Pod "web" is invalid: spec: Forbidden: only cpu and memory resources are mutable'
    )
    removed = _refusal(
        v133, {"spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": None}}}]}}
    )
    assert (
        "spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed"
        in (removed["message"])
    )
    qos = _refusal(
        v133,
        {
            "spec": {
                "containers": [
                    {"name": "c", "resources": {"requests": {"cpu": "200m", "memory": "128Mi"}}}
                ]
            }
        },
    )
    assert (
        'spec: Invalid value: "Burstable": Pod QOS Class may not change as a result of '
        in (qos["message"])
    )
    shrink = _refusal(v133, _limits({}, "100Mi"))
    assert shrink["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: memory limits cannot be decreased unless resizePolicy is "
            "RestartContainer",
            "field": "spec.containers[0].resources.limits[memory]",
        }
    ]
    renamed = _refusal(
        v133, {"spec": {"containers": [{"name": "d", "image": "nginx", "resources": {}}]}}
    )
    assert "containers may not be renamed or reordered on resize" in renamed["message"]
    # other changes sent to /resize are dropped, not applied
    result = v133.resize(
        "web",
        {
            "metadata": {"labels": {"team": "a"}},
            "spec": {
                "containers": [
                    {"name": "c", "image": "nginx:1.27", "resources": {"limits": {"cpu": "300m"}}}
                ]
            },
        },
    )
    assert result["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert result["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "300m"
    assert "team" not in (result["metadata"].get("labels") or {})
    # and a plain pod PATCH still may not touch resources
    with pytest.raises(ApiException) as caught:
        v133.core.patch_namespaced_pod("web", "default", _limits({}, "512Mi"))
    assert caught.value.status == 422
    assert "pod updates may not change fields" in json.loads(caught.value.body)["message"]
    assert before["metadata"]["uid"] == v133.pod("web")["metadata"]["uid"]


def test_json_and_merge_patches_and_put_reach_resize(v133: Cluster) -> None:
    v133.sim.apply(_web())
    v133.sim.advance(10)
    v133.kubectl(
        "patch",
        "pod",
        "web",
        "--subresource",
        "resize",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/containers/0/resources/limits/memory","value":"300Mi"}]',
    )
    assert v133.pod("web")["spec"]["containers"][0]["resources"]["limits"]["memory"] == "300Mi"
    got = json.loads(
        v133.kubectl("get", "pod", "web", "--subresource", "resize", "-o", "json").stdout
    )
    assert got["kind"] == "Pod"
    got["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "400m"
    replaced = v133.api.sanitize_for_serialization(
        v133.core.replace_namespaced_pod_resize("web", "default", got)
    )
    assert replaced["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "400m"
    v133.sim.advance(2)
    assert v133.status("web")["resources"]["limits"] == {"cpu": "400m", "memory": "300Mi"}


def test_resize_policy_never_pods_refuse_restart_container(v133: Cluster) -> None:
    pod = _web(
        "once", resizePolicy=[{"resourceName": "memory", "restartPolicy": "RestartContainer"}]
    )
    pod["spec"]["restartPolicy"] = "Never"
    with pytest.raises(ApiException) as caught:
        v133.core.create_namespaced_pod("default", pod)
    assert caught.value.status == 422
    assert (
        'spec.containers[0].resizePolicy[0].restartPolicy: Invalid value: "RestartContainer": '
        "must be 'NotRequired' when `restartPolicy` is 'Never'"
    ) in json.loads(caught.value.body)["message"]
    wrong = _web("wrong", resizePolicy=[{"resourceName": "disk", "restartPolicy": "Sometimes"}])
    with pytest.raises(ApiException) as caught:
        v133.core.create_namespaced_pod("default", wrong)
    causes = json.loads(caught.value.body)["details"]["causes"]
    assert [c["field"] for c in causes] == [
        "spec.containers[0].resizePolicy[0].resourceName",
        "spec.containers[0].resizePolicy[0].restartPolicy",
    ]


# -- 1.35: memory limits may shrink, not below usage ------------------------------------------
def test_memory_limit_decrease_at_135_respects_usage(v135: Cluster) -> None:
    annotated = _web()
    annotated["metadata"]["annotations"] = {"kubesim.io/memory": "100Mi"}
    v135.sim.apply(annotated)
    v135.sim.advance(10)
    v135.resize("web", _limits({}, "80Mi"))  # below the 100Mi in use
    v135.sim.advance(2)
    progress = v135.conditions("web")["PodResizeInProgress"]
    assert progress["reason"] == "Error"
    assert "below its current usage" in progress["message"]
    status = v135.status("web")
    assert status["resources"]["limits"]["memory"] == "128Mi"
    assert status["restartCount"] == 0 and "running" in status["state"]
    v135.resize("web", _limits({}, "110Mi"))  # above it: applied in place
    v135.sim.advance(2)
    assert "PodResizeInProgress" not in v135.conditions("web")
    status = v135.status("web")
    assert status["resources"]["limits"]["memory"] == "110Mi"
    assert status["restartCount"] == 0
