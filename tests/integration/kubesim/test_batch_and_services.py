# mypy: disable-error-code="union-attr,arg-type,index,operator,no-untyped-call,attr-defined"
"""Jobs, CronJobs, Services, EndpointSlices and Endpoints as the 1.28 recordings show them
(README "Additions" §4, §5, §9), through the official client and real kubectl, on the
simulated clock."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubesim import KubeSim
from kubesim.store import ENDPOINTS, ENDPOINTSLICES, EVENTS, JOBS, PODS, SERVICES
from tests.integration.kubesim.conftest import REFERENCE, Kubectl

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"  # noqa: E501
START = datetime(2026, 12, 7, 17, 44, 30, tzinfo=UTC)


def _ref(*parts: str) -> Any:
    return json.loads(REFERENCE.joinpath(*parts).read_text())


def _job(name: str, command: list[str], image: str = "busybox:1.36", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "containers": [{"name": "pi", "image": image, "command": command}],
                    "restartPolicy": "Never",
                }
            },
        },
    }


PI_OK = _job(
    "pi-ok",
    ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"],
    "perl:5.34",
    backoffLimit=4,
    completions=2,
    parallelism=2,
)
CRONJOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "nightly", "namespace": "default"},
    "spec": {
        "schedule": "*/5 * * * *",
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 2,
        "failedJobsHistoryLimit": 1,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "report",
                                "image": "busybox:1.36",
                                "command": ["sh", "-c", "date"],
                            }
                        ],
                        "restartPolicy": "Never",
                    }
                },
            }
        },
    },
}


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    """The recording's afternoon, 30 s before a five-minute boundary."""
    with KubeSim(speed=0.0, port=0, start=START) as running:
        yield running


@pytest.fixture
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


@pytest.fixture
def http(sim: KubeSim) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sim.url, verify=False, headers={"Authorization": f"Bearer {sim.token}"}, timeout=30
    ) as c:
        yield c


def _events(sim: KubeSim, kind: str, name: str) -> list[tuple[str, str, str]]:
    return [
        (e["type"], e["reason"], e["message"])
        for e in sorted(sim.store.list(EVENTS, "default"), key=lambda e: e["metadata"]["name"])
        if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name
    ]


# -- Jobs ----------------------------------------------------------------------------------
def test_job_defaults_and_generated_selector_match_the_recording(
    sim: KubeSim, batch: client.BatchV1Api
) -> None:
    created = batch.create_namespaced_job("default", PI_OK).to_dict()
    recorded = _ref("responses", "job-complete-get.json")
    uid = created["metadata"]["uid"]
    raw = sim.store.get(JOBS, "default", "pi-ok")
    assert list(raw["spec"]) == list(recorded["spec"])
    assert raw["metadata"]["labels"] == {
        k: (uid if "uid" in k else "pi-ok") for k in recorded["metadata"]["labels"]
    }
    assert raw["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert raw["spec"]["template"]["metadata"]["labels"] == raw["metadata"]["labels"]
    assert (raw["spec"]["completionMode"], raw["spec"]["suspend"]) == ("NonIndexed", False)
    template = raw["spec"]["template"]
    assert template["spec"] == recorded["spec"]["template"]["spec"] | {
        "containers": template["spec"]["containers"]
    }


def test_job_without_restart_policy_is_invalid(batch: client.BatchV1Api) -> None:
    body = copy.deepcopy(PI_OK)
    del body["spec"]["template"]["spec"]["restartPolicy"]
    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_job("default", body)
    assert raised.value.status == 422
    cause = json.loads(raised.value.body)["details"]["causes"][0]
    assert cause == {
        "reason": "FieldValueNotSupported",
        "message": 'Unsupported value: "Always": supported values: "OnFailure", "Never"',
        "field": "spec.template.spec.restartPolicy",
    }


def test_pi_job_completes(sim: KubeSim, batch: client.BatchV1Api, core: client.CoreV1Api) -> None:
    batch.create_namespaced_job("default", PI_OK)
    sim.advance(60)
    job = batch.read_namespaced_job("pi-ok", "default")
    assert job.status.succeeded == 2 and job.status.active is None and job.status.ready == 0
    assert [(c.type, c.status) for c in job.status.conditions] == [("Complete", "True")]
    assert job.status.completion_time is not None and job.status.start_time is not None
    pods = core.list_namespaced_pod("default", label_selector="job-name=pi-ok").items
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Succeeded"}
    assert all(p.metadata.name.startswith("pi-ok-") and len(p.metadata.name) == 11 for p in pods)
    assert all(not p.metadata.finalizers for p in pods)
    log = core.read_namespaced_pod_log(pods[0].metadata.name, "default")
    assert log.startswith("3.14159265358979") and len(log.strip()) == 2001
    reasons = [r for _, r, _ in _events(sim, "Job", "pi-ok")]
    assert sorted(reasons) == ["Completed", "SuccessfulCreate", "SuccessfulCreate"]


def test_failing_job_backs_off_and_exceeds_its_backoff_limit(
    sim: KubeSim, batch: client.BatchV1Api
) -> None:
    batch.create_namespaced_job("default", _job("pi-fail", ["sh", "-c", "exit 1"], backoffLimit=3))
    sim.advance(300)
    job = batch.read_namespaced_job("pi-fail", "default").to_dict()
    recorded = _ref("responses", "job-backofflimit-failed-get.json")["status"]
    assert job["status"]["failed"] == 4 and job["status"]["completion_time"] is None
    (condition,) = job["status"]["conditions"]
    assert (condition["type"], condition["reason"], condition["message"]) == (
        "Failed",
        recorded["conditions"][0]["reason"],
        recorded["conditions"][0]["message"],
    )
    pods = sorted(
        (p for p in sim.store.list(PODS, "default") if p["metadata"]["name"].startswith("pi-fail")),
        key=lambda p: str(p["metadata"]["creationTimestamp"]),
    )
    assert len(pods) == 4  # backoffLimit + 1
    created = [sim.clock.to_seconds(p["metadata"]["creationTimestamp"]) for p in pods]
    finished = [
        sim.clock.to_seconds(
            p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
        )
        for p in pods
    ]
    gaps = [created[i + 1] - finished[i] for i in range(3)]
    assert [round(g) for g in gaps] == [10, 20, 40]
    assert _events(sim, "Job", "pi-fail")[-1] == (
        "Warning",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )


def test_active_deadline_fails_the_job(sim: KubeSim, batch: client.BatchV1Api) -> None:
    body = _job("slow", ["sh", "-c", "sleep 600"], activeDeadlineSeconds=30)
    batch.create_namespaced_job("default", body)
    sim.advance(40)
    job = batch.read_namespaced_job("slow", "default")
    (condition,) = job.status.conditions or []
    assert (condition.type, condition.reason) == ("Failed", "DeadlineExceeded")
    assert condition.message == "Job was active longer than specified deadline"


def test_ttl_after_finished_deletes_the_job_and_its_pods(
    sim: KubeSim, batch: client.BatchV1Api
) -> None:
    batch.create_namespaced_job(
        "default", _job("quick", ["sh", "-c", "true"], ttlSecondsAfterFinished=30)
    )
    sim.advance(20)
    assert sim.store.find(JOBS, "default", "quick") is not None
    sim.advance(30)
    assert sim.store.find(JOBS, "default", "quick") is None
    assert not [
        p for p in sim.store.list(PODS, "default") if p["metadata"]["name"].startswith("quick")
    ]


# -- CronJobs ------------------------------------------------------------------------------
def test_cronjob_creates_jobs_on_schedule_and_prunes_history(
    sim: KubeSim, batch: client.BatchV1Api
) -> None:
    batch.create_namespaced_cron_job("default", CRONJOB)
    sim.advance(29)  # 17:44:59: nothing yet
    assert batch.list_namespaced_job("default").items == []
    sim.advance(1)  # 17:45:00
    (job,) = batch.list_namespaced_job("default").items
    assert (
        job.metadata.name
        == f"nightly-{int(datetime(2026, 12, 7, 17, 45, tzinfo=UTC).timestamp()) // 60}"
    )
    assert job.metadata.annotations == {
        "batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-12-07T17:45:00Z"
    }
    assert job.metadata.owner_references[0].kind == "CronJob"
    cronjob = batch.read_namespaced_cron_job("nightly", "default").to_dict()
    assert [a["name"] for a in cronjob["status"]["active"]] == [job.metadata.name]
    sim.advance(60 * 16)  # 17:45, 17:50, 17:55, 18:00 (history limit 2)
    names = sorted(str(j.metadata.name) for j in batch.list_namespaced_job("default").items)
    assert names == ["nightly-29944435", "nightly-29944440"]
    status = batch.read_namespaced_cron_job("nightly", "default").to_dict()["status"]
    assert status["last_schedule_time"] == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    assert status["last_successful_time"] is not None and not status["active"]
    reasons = [r for _, r, _ in _events(sim, "CronJob", "nightly")]
    assert reasons.count("SuccessfulCreate") == 4 and reasons.count("SawCompletedJob") == 4
    assert reasons.count("SuccessfulDelete") == 2
    recorded = {e["reason"] for e in _ref("responses", "events-cronjob-list.json")["items"]}
    assert recorded <= set(reasons)


def test_forbid_skips_runs_while_one_is_active(sim: KubeSim, batch: client.BatchV1Api) -> None:
    body = copy.deepcopy(CRONJOB)
    container = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["sh", "-c", "sleep 720"]  # 12 minutes: spans two schedule times
    body["spec"]["startingDeadlineSeconds"] = 60
    batch.create_namespaced_cron_job("default", body)
    sim.advance(30 + 60 * 15)  # 17:45 .. 18:00
    names = sorted(str(j.metadata.name) for j in batch.list_namespaced_job("default").items)
    # 17:45 runs until 17:57; 17:50 and 17:55 are skipped (Forbid, past the deadline by then)
    assert names == ["nightly-29944425", "nightly-29944440"]


def test_replace_deletes_the_running_job(sim: KubeSim, batch: client.BatchV1Api) -> None:
    body = copy.deepcopy(CRONJOB)
    body["spec"]["concurrencyPolicy"] = "Replace"
    container = body["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["sh", "-c", "sleep 3600"]
    batch.create_namespaced_cron_job("default", body)
    sim.advance(30 + 60 * 5)
    names = [j.metadata.name for j in batch.list_namespaced_job("default").items]
    assert names == ["nightly-29944430"]
    assert ("Normal", "SuccessfulDelete", "Deleted job nightly-29944425") in _events(
        sim, "CronJob", "nightly"
    )


def test_invalid_schedule_is_refused(batch: client.BatchV1Api) -> None:
    body = copy.deepcopy(CRONJOB)
    body["spec"]["schedule"] = "*/5 * *"
    with pytest.raises(ApiException) as raised:
        batch.create_namespaced_cron_job("default", body)
    assert raised.value.status == 422
    assert "spec.schedule" in raised.value.body


# -- Services, EndpointSlices, Endpoints -----------------------------------------------------
def _service(name: str, selector: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            **spec,
        },
    }


def _pod(name: str, image: str, command: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": image}
    if command:
        container["command"] = command
    container.update(extra)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"svc": "mixed"}},
        "spec": {"containers": [container]},
    }


def test_service_defaults_and_cluster_ip_as_recorded(sim: KubeSim, core: client.CoreV1Api) -> None:
    created = core.create_namespaced_service("default", _service("mixed", {"svc": "mixed"}))
    recorded = _ref("responses", "service-mixed-get.json")
    raw = sim.store.get(SERVICES, "default", "mixed")
    assert raw["spec"]["clusterIP"] == created.spec.cluster_ip
    assert list(raw["spec"]) == list(recorded["spec"])
    for key in (
        "ports",
        "type",
        "sessionAffinity",
        "ipFamilies",
        "ipFamilyPolicy",
        "internalTrafficPolicy",
    ):
        assert raw["spec"][key] == recorded["spec"][key]
    assert raw["spec"]["clusterIPs"] == [raw["spec"]["clusterIP"]]
    assert raw["spec"]["clusterIP"].startswith(("10.96.", "10.97.", "10.98.", "10.99.", "10.1"))
    assert raw["status"] == recorded["status"]
    headless = core.create_namespaced_service(
        "default", _service("db", {"app": "db"}, clusterIP="None")
    )
    assert headless.spec.cluster_ip == "None"
    assert sim.store.get(SERVICES, "default", "db")["spec"]["clusterIPs"] == ["None"]
    kubernetes = core.read_namespaced_service("kubernetes", "default")
    assert kubernetes.spec.cluster_ip == "10.96.0.1"
    taken = _service("other", {"app": "x"}, clusterIP=raw["spec"]["clusterIP"])
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_service("default", taken)
    assert raised.value.status == 422 and "provided IP is already allocated" in raised.value.body


def test_endpointslice_and_endpoints_follow_readiness(sim: KubeSim, core: client.CoreV1Api) -> None:
    probe = {"readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 5}}
    sim.apply(
        [
            _service("mixed", {"svc": "mixed"}),
            _pod("mixed-ok", "nginx:1.25"),
            _pod(
                "mixed-bad",
                "busybox:1.36",
                ["sh", "-c", "sleep 30; touch /tmp/ready; sleep 3600"],
                **probe,
            ),
        ]
    )
    sim.advance(15)
    discovery = client.DiscoveryV1Api(core.api_client)
    (eps,) = discovery.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=mixed"
    ).items
    raw = core.api_client.sanitize_for_serialization(eps)
    recorded = _ref("responses", "endpointslice-mixed-get.json")
    assert raw["metadata"]["labels"] == recorded["metadata"]["labels"]
    assert raw["metadata"]["generateName"] == "mixed-" and len(raw["metadata"]["name"]) == 11
    assert raw["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert raw["ports"] == recorded["ports"] and raw["addressType"] == "IPv4"
    by_pod = {e["targetRef"]["name"]: e for e in raw["endpoints"]}
    assert by_pod["mixed-bad"]["conditions"] == recorded["endpoints"][0]["conditions"]
    assert by_pod["mixed-ok"]["conditions"] == recorded["endpoints"][1]["conditions"]
    assert set(by_pod["mixed-ok"]) >= {"addresses", "conditions", "targetRef", "nodeName"}
    endpoints = core.api_client.sanitize_for_serialization(
        core.read_namespaced_endpoints("mixed", "default")
    )
    (subset,) = endpoints["subsets"]
    assert [a["targetRef"]["name"] for a in subset["addresses"]] == ["mixed-ok"]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["mixed-bad"]
    assert subset["ports"] == _ref("responses", "endpoints-mixed-get.json")["subsets"][0]["ports"]
    generation = raw["metadata"]["generation"]
    sim.advance(30)  # mixed-bad turns Ready
    slice_now = sim.store.get(ENDPOINTSLICES, "default", raw["metadata"]["name"])
    assert all(e["conditions"]["ready"] for e in slice_now["endpoints"])
    assert slice_now["metadata"]["generation"] > generation
    ep_now = sim.store.get(ENDPOINTS, "default", "mixed")
    assert len(ep_now["subsets"][0]["addresses"]) == 2
    assert "notReadyAddresses" not in ep_now["subsets"][0]


def test_service_that_selects_nothing_has_an_empty_slice(sim: KubeSim, http: httpx.Client) -> None:
    sim.apply(_service("lonely", {"app": "nobody"}))
    listing = http.get(
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        params={"labelSelector": "kubernetes.io/service-name=lonely"},
    ).json()
    (eps,) = listing["items"]
    assert (eps["endpoints"], eps["ports"]) == (None, None)
    ep = http.get("/api/v1/namespaces/default/endpoints/lonely").json()
    assert "subsets" not in ep
    assert http.delete("/api/v1/namespaces/default/services/lonely").status_code == 200
    assert http.get("/api/v1/namespaces/default/endpoints/lonely").status_code == 404


# -- discovery, Tables, kubectl --------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("/apis/batch/v1", "apis-batch-v1.json"),
        ("/apis/discovery.k8s.io/v1", "apis-discovery-k8s-io-v1.json"),
    ],
)
def test_discovery_entries_match_the_recording(path: str, ref: str, http: httpx.Client) -> None:
    ours = {r["name"]: r for r in http.get(path).json()["resources"]}
    theirs = {
        r["name"]: {k: v for k, v in r.items() if k != "storageVersionHash"}
        for r in _ref("discovery", ref)["resources"]
    }
    assert ours == theirs


@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("/apis/batch/v1/namespaces/default/jobs", "jobs-table.json"),
        ("/apis/batch/v1/namespaces/default/cronjobs", "cronjobs-table.json"),
        ("/api/v1/namespaces/default/services", "services-table.json"),
        (
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            "endpointslices-table.json",
        ),
    ],
)
def test_tables_match_the_recorded_columns_and_cells(
    path: str, ref: str, sim: KubeSim, http: httpx.Client
) -> None:
    sim.apply([PI_OK, CRONJOB, _service("mixed", {"svc": "mixed"}), _pod("mixed-ok", "nginx:1.25")])
    sim.advance(5)
    ours = http.get(path, headers={"Accept": TABLE}).json()
    theirs = _ref("responses", ref)
    assert ours["columnDefinitions"] == theirs["columnDefinitions"]
    assert ours["rows"]
    ref_types = [type(c) for c in theirs["rows"][0]["cells"]]
    for row in ours["rows"]:
        assert [type(c) for c in row["cells"]] == ref_types
        assert row["object"]["kind"] == "PartialObjectMetadata"


def test_kubectl_get_and_describe(sim: KubeSim, kubectl: Kubectl) -> None:
    sim.apply([PI_OK, CRONJOB, _service("mixed", {"svc": "mixed"}), _pod("mixed-ok", "nginx:1.25")])
    sim.advance(60)
    jobs = kubectl("get", "jobs").stdout.splitlines()
    assert jobs[0].split() == ["NAME", "COMPLETIONS", "DURATION", "AGE"]
    assert ["pi-ok", "2/2"] in [line.split()[:2] for line in jobs]
    assert kubectl("get", "cronjobs").stdout.splitlines()[1].split()[:3] == [
        "nightly",
        "*/5",
        "*",
    ]
    services = kubectl("get", "svc").stdout
    assert "kubernetes" in services and "10.96.0.1" in services and "80/TCP" in services
    slices = kubectl("get", "endpointslices").stdout.splitlines()
    assert slices[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert any(line.startswith("mixed-") and " 8080 " in line for line in slices)
    endpoints = kubectl("get", "endpoints", "mixed").stdout
    assert ":8080" in endpoints
    described = kubectl("describe", "job", "pi-ok").stdout
    assert "Pods Statuses:" in described and "2 Succeeded" in described
    assert "SuccessfulCreate" in described and "Completed" in described
