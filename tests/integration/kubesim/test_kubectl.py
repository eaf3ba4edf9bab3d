# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
# (the official client models make every field Optional and take dict bodies at runtime)
"""The real kubectl (v1.32) against kubesim: what an operator types, answered as a cluster would."""

from __future__ import annotations

import json
import re

from kubesim import KubeSim
from tests.integration.kubesim.conftest import Kubectl

CRASHLOOP = """
apiVersion: v1
kind: Pod
metadata: {name: crashloop-test}
spec:
  containers:
  - name: crasher
    image: busybox
    command: [sh, -c, "exit 1"]
    resources: {limits: {cpu: 100m, memory: 64Mi}}
"""

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1.25"}
"""


def _rows(output: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def test_apply_sends_the_reference_sequence_and_creates(kubectl: Kubectl, sim: KubeSim) -> None:
    sim.reset_requests()
    out = kubectl("apply", "-f", "-", input=CRASHLOOP).stdout
    assert "pod/crashloop-test created" in out
    calls = [
        (r.method, r.path, r.status)
        for r in sim.requests
        if not r.path.startswith(("/api", "/apis")) or r.verb
    ]
    assert ("GET", "/api/v1/namespaces/default/pods/crashloop-test", 404) in calls
    assert ("POST", "/api/v1/namespaces/default/pods", 201) in calls
    assert any(p.startswith("/openapi/v3/api/v1") for _, p, _ in calls)
    # a second apply is a PATCH; pods refuse changes to immutable fields, as a real server does
    sim.reset_requests()
    labelled = CRASHLOOP.replace(
        "metadata: {name: crashloop-test}", "metadata: {name: crashloop-test, labels: {team: a}}"
    )
    assert "pod/crashloop-test configured" in kubectl("apply", "-f", "-", input=labelled).stdout
    assert [r.verb for r in sim.requests if r.verb] == ["get", "patch"]
    refused = kubectl("apply", "-f", "-", input=labelled.replace("exit 1", "exit 2"), check=False)
    assert (
        refused.returncode == 1 and "Forbidden: pod updates may not change fields" in refused.stderr
    )


def test_get_pods_shows_crashloop_status_and_restarts(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=CRASHLOOP)
    sim.advance(90)
    header, row = _rows(kubectl("get", "pods").stdout)
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert row[0] == "crashloop-test" and row[1] == "0/1"
    assert row[2] in ("CrashLoopBackOff", "Error")
    assert re.fullmatch(r"[1-9]\d* \(\d+[smh]\d*s? ago\)", row[3]), row[3]
    wide = _rows(kubectl("get", "pods", "-o", "wide").stdout)[0]
    assert wide[-4:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]


def test_describe_logs_previous_and_delete(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=CRASHLOOP)
    sim.advance(60)
    described = kubectl("describe", "pod", "crashloop-test").stdout
    assert "Name:             crashloop-test" in described
    assert "Restart Count:" in described and "Events:" in described
    assert kubectl("logs", "crashloop-test").returncode == 0
    assert kubectl("logs", "crashloop-test", "--previous").returncode == 0
    out = kubectl("delete", "pod", "crashloop-test", "--wait=false").stdout
    assert 'pod "crashloop-test" deleted' in out


def test_logs_of_a_serving_container(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=WEB)
    sim.advance(30)
    pods = json.loads(kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(pods) == 2
    name = pods[0]["metadata"]["name"]
    logs = kubectl("logs", name, "--tail", "3", "--timestamps").stdout.strip().splitlines()
    assert 0 < len(logs) <= 3
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ", line) for line in logs)


def test_scale_set_image_rollout_history_and_undo(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=WEB)
    sim.advance(30)
    assert "scaled" in kubectl("scale", "deployment/web", "--replicas=3").stdout
    sim.advance(30)
    header, row = _rows(kubectl("get", "deploy", "web").stdout)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row[1] == "3/3"
    first_rs = {
        r["metadata"]["name"]
        for r in json.loads(kubectl("get", "rs", "-o", "json").stdout)["items"]
    }
    kubectl("set", "image", "deployment/web", "nginx=nginx:does-not-exist-404")
    sim.advance(60)
    history = kubectl("rollout", "history", "deployment/web").stdout
    assert "REVISION" in history and "2" in history
    assert "rolled back" in kubectl("rollout", "undo", "deployment/web").stdout
    sim.advance(60)
    dep = json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    active = [
        r["metadata"]["name"]
        for r in json.loads(kubectl("get", "rs", "-o", "json").stdout)["items"]
        if r["spec"]["replicas"] > 0
    ]
    assert active and set(active) <= first_rs


def test_get_events_lists_what_controllers_wrote(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=WEB)
    sim.advance(10)
    rows = _rows(kubectl("get", "events").stdout)
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    reasons = {r[2] for r in rows[1:]}
    assert "ScalingReplicaSet" in reasons


def test_get_pods_watch_streams_rows(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=CRASHLOOP)
    # --request-timeout bounds the watch; kubectl prints the table rows it received
    result = kubectl("get", "pods", "-w", "--request-timeout=2s", check=False)
    assert "crashloop-test" in result.stdout
    assert result.stdout.splitlines()[0].split()[:3] == ["NAME", "READY", "STATUS"]


def test_unauthenticated_requests_get_401(sim: KubeSim) -> None:
    import httpx

    with httpx.Client(verify=False) as http:  # noqa: S501 - the sim's own throwaway certificate
        response = http.get(f"{sim.url}/api/v1/namespaces/default/pods")
    assert response.status_code == 401
    assert response.json()["reason"] == "Unauthorized"


def test_strict_field_validation_rejects_unknown_fields(kubectl: Kubectl) -> None:
    typo = WEB.replace("- {name: nginx, image:", "- {name: nginx, imagee:")
    result = kubectl("apply", "-f", "-", input=typo, check=False)
    assert result.returncode == 1
    assert (
        'strict decoding error: unknown field "spec.template.spec.containers[0].imagee"'
        in result.stderr
    )


def test_get_all_and_server_side_dry_run(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=WEB)
    sim.advance(20)
    everything = kubectl("get", "all").stdout
    assert "deployment.apps/web" in everything and "podmetrics" not in everything
    out = kubectl(
        "apply", "-f", "-", "--dry-run=server", input=WEB.replace("replicas: 2", "replicas: 7")
    )
    assert "(server dry run)" in out.stdout
    assert json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)["spec"]["replicas"] == 2


def test_top_pods_and_nodes_read_the_metrics_api(kubectl: Kubectl, sim: KubeSim) -> None:
    kubectl("apply", "-f", "-", input=WEB)
    sim.advance(30)
    pods = _rows(kubectl("top", "pods").stdout)
    assert pods[0][:3] == ["NAME", "CPU(cores)", "MEMORY(bytes)"] and len(pods) == 3
    nodes = _rows(kubectl("top", "nodes").stdout)
    assert [r[0] for r in nodes[1:]] == ["kubesim-node-1", "kubesim-node-2"]


def test_server_side_apply_creates_then_updates(kubectl: Kubectl, sim: KubeSim) -> None:
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=WEB).stdout
    scaled = WEB.replace("replicas: 2", "replicas: 3")
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", "-", input=scaled).stdout
    assert json.loads(kubectl("get", "deploy", "web", "-o", "json").stdout)["spec"]["replicas"] == 3
