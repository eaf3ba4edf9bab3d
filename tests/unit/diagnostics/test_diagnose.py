"""The composed diagnosis per recorded scenario, and what the rule engine decides from it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_server.diagnostics.config import ConfigExistence
from mcp_server.diagnostics.diagnose import build_diagnosis, classify_unhealthy
from policies import Action, DecisionContext, decide, load_policy
from policies.diagnosis import Diagnosis, IssueType

from .conftest import FIXTURES, load

NODES = load("nodes")["nodes"]


def _owners_for(pod: dict[str, Any], replicas: int = 3) -> list[dict[str, Any]]:
    """A ReplicaSet and Deployment matching the pod's owner reference (revision 1 only)."""
    ref = pod["metadata"]["ownerReferences"][0]
    dep_name = ref["name"].rsplit("-", 1)[0]
    ns = pod["metadata"]["namespace"]
    dep_uid = "d0d0d0d0-0000-4000-8000-" + ref["uid"][-12:]
    template = {"spec": {"containers": copy.deepcopy(pod["spec"]["containers"])}}
    deployment = {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": dep_name,
            "namespace": ns,
            "uid": dep_uid,
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {"replicas": replicas, "template": template},
        "status": {
            "replicas": replicas,
            "readyReplicas": replicas - 1,
            "availableReplicas": replicas - 1,
        },
    }
    replicaset = {
        "kind": "ReplicaSet",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": ref["name"],
            "namespace": ns,
            "uid": ref["uid"],
            "creationTimestamp": "2026-11-24T09:00:00Z",
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": dep_name,
                    "uid": dep_uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": replicas, "template": template},
        "status": {"replicas": replicas, "readyReplicas": replicas - 1},
    }
    return [replicaset, deployment]


def _diagnose(name: str, **extra: Any) -> Diagnosis:
    data = load(name)
    pod = data["pod"]
    kwargs: dict[str, Any] = {
        "events": data.get("events", []),
        "logs_current": data.get("logs_current"),
        "logs_previous": data.get("logs_previous"),
        "nodes": NODES,
    }
    if "metrics" in data:
        kwargs.update(pod_metrics=data["metrics"], metrics_available=True)
    if "deployment" in data:
        kwargs.update(
            owners=[data["deployment"], *data["replicasets"]],
            replicasets=data["replicasets"],
            pdbs=data.get("pdbs", []),
        )
    else:
        kwargs["owners"] = _owners_for(pod)
    if "existing" in data:
        e = data["existing"]
        kwargs["config"] = ConfigExistence.of(e["configmaps"], e["secrets"], e["pvcs"])
    kwargs.update(extra)
    return build_diagnosis(pod, **kwargs)


def _action(diagnosis: Diagnosis) -> Action:
    return decide(diagnosis, DecisionContext(policy=load_policy(None))).action


def test_crashloop() -> None:
    d = _diagnose("crashloop")
    assert d.issue_types == {IssueType.CRASH_LOOP, IssueType.LOG_ERRORS}
    assert d.status["phase"] == "Running"
    assert d.status["container_statuses"][0]["last_state"]["exitCode"] == 1
    assert d.logs["errors"][0]["source"] == "previous"
    assert d.logs["errors"][0]["pattern"] in ("file_not_found", "missing_config")
    assert [e["reason"] for e in d.events] == ["Scheduled", "Pulled", "BackOff"]
    assert d.workload is not None and d.workload.kind == "Deployment"
    assert 0 < d.health_score < 60  # type: ignore[attr-defined]
    assert _action(d) == Action.DELETE_POD


def test_oomkilled_raises_memory() -> None:
    d = _diagnose("oomkilled")
    assert d.issues[0].type == IssueType.OOM_KILLED
    [res] = d.resources
    assert res.memory_limit_bytes == 50 * 2**20
    assert res.memory_usage_bytes == 51380 * 1024
    assert d.metrics_available
    assert _action(d) == Action.INCREASE_MEMORY_LIMIT


def test_bad_image_rollout_rolls_back() -> None:
    d = _diagnose("imagepull-notfound")
    assert d.image_pull[0].error_class == "not_found"
    assert d.workload is not None and d.workload.rollout.failure_began_with_latest_rollout
    assert d.recommendations[0].startswith("The failure began with revision 2")
    assert _action(d) == Action.ROLLBACK_DEPLOYMENT


def test_unauthorized_pull_checks_the_image() -> None:
    d = _diagnose("imagepull-unauthorized")
    assert d.issue_types == {IssueType.ERR_IMAGE_PULL}
    assert d.image_pull[0].error_class == "unauthorized"
    assert any("imagePullSecrets" in r for r in d.recommendations)
    assert _action(d) == Action.CHECK_IMAGE_AVAILABILITY


def test_pending_insufficient_cpu_with_the_schedulers_reason() -> None:
    d = _diagnose("pending-insufficient-cpu")
    assert d.issue_types == {IssueType.PENDING}
    assert d.scheduling is not None
    assert d.scheduling.insufficient == ["cpu"] and d.scheduling.fits_any_node is True
    assert "Insufficient cpu" in d.issues[0].message
    assert _action(d) == Action.SCALE_DOWN_DEPLOYMENT


def test_pending_larger_than_any_node_is_for_a_human() -> None:
    d = _diagnose("pending-too-large")
    assert d.scheduling is not None and d.scheduling.fits_any_node is False
    assert any("No node is large enough" in r for r in d.recommendations)
    assert _action(d) == Action.INVESTIGATE_MANUALLY


def test_pending_taint() -> None:
    d = _diagnose("pending-taint")
    assert any("toleration" in r for r in d.recommendations)
    assert _action(d) == Action.INVESTIGATE_MANUALLY


def test_pending_unbound_pvc() -> None:
    d = _diagnose("pending-unbound-pvc", config=ConfigExistence.of(pvcs=["batch-data"]))
    assert IssueType.UNBOUND_PVC in d.issue_types
    assert IssueType.MISSING_CONFIG_REF not in d.issue_types  # it exists, it is just unbound
    assert _action(d) == Action.INVESTIGATE_MANUALLY


def test_create_container_config_error() -> None:
    d = _diagnose("createcontainerconfigerror")
    assert {IssueType.CREATE_CONTAINER_CONFIG_ERROR, IssueType.MISSING_CONFIG_REF} <= d.issue_types
    # Named by the kubelet and by the existence check: reported once.
    [missing] = [i for i in d.issues if i.type == IssueType.MISSING_CONFIG_REF]
    assert missing.message == (
        'Secret "orders-db" (used by env DB_PASSWORD of container orders) does not exist'
    )
    # Without the namespace's object lists, the kubelet's message still names it.
    alone = build_diagnosis(load("createcontainerconfigerror")["pod"])
    assert [i.message for i in alone.issues if i.type == IssueType.MISSING_CONFIG_REF] == [
        'Secret "orders-db" (kubelet: secret "orders-db" not found) does not exist'
    ]
    assert _action(d) == Action.INVESTIGATE_MANUALLY


def test_liveness_failing() -> None:
    d = _diagnose("liveness-failing")
    assert {IssueType.LIVENESS_PROBE_FAILED, IssueType.PROBE_MISCONFIGURED} <= d.issue_types
    assert _action(d) == Action.INVESTIGATE_MANUALLY


def test_evicted() -> None:
    d = _diagnose("evicted")
    assert d.issue_types == {IssueType.EVICTED, IssueType.NO_RESOURCE_LIMITS}
    assert d.status["reason"] == "Evicted"
    assert d.health_score == 0  # type: ignore[attr-defined]
    assert _action(d) == Action.DELETE_EVICTED_POD


def test_healthy_with_noisy_logs_needs_nothing() -> None:
    d = _diagnose("healthy-noisy")
    assert d.issues == []
    assert d.logs["errors"] == []
    assert len(d.logs["warnings"]) == 1
    assert d.health_score == 100  # type: ignore[attr-defined]
    assert _action(d) == Action.NONE


def test_without_metrics_usage_is_unknown() -> None:
    d = _diagnose("oomkilled", metrics_available=False)
    assert not d.metrics_available
    assert d.resources[0].memory_usage_bytes is None


def test_diagnosis_is_json_plain_and_redacted() -> None:
    d = _diagnose(
        "crashloop",
        logs_previous={"app": "ERROR db auth failed password=Sup3rS3cret!\n"},
    )
    blob = json.dumps(d.model_dump(mode="json"))
    assert "Sup3rS3cret" not in blob
    assert Diagnosis.model_validate_json(blob).issue_types == d.issue_types


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("crashloop", IssueType.CRASH_LOOP),
        ("oomkilled", IssueType.OOM_KILLED),
        ("imagepull-notfound", IssueType.IMAGE_PULL_BACKOFF),
        ("imagepull-unauthorized", IssueType.ERR_IMAGE_PULL),
        ("pending-insufficient-cpu", IssueType.PENDING),
        ("pending-unbound-pvc", IssueType.UNBOUND_PVC),
        ("createcontainerconfigerror", IssueType.CREATE_CONTAINER_CONFIG_ERROR),
        # Running for a moment between liveness kills: still a crash loop.
        ("liveness-failing", IssueType.CRASH_LOOP),
        ("evicted", IssueType.EVICTED),
        ("healthy-noisy", None),
    ],
)
def test_classify_unhealthy(name: str, expected: str | None) -> None:
    assert classify_unhealthy(load(name)["pod"]) == expected


def test_terminating_and_completed_pods_are_not_unhealthy() -> None:
    pod = load("crashloop")["pod"]
    pod["metadata"]["deletionTimestamp"] = "2026-11-24T17:20:00Z"
    assert classify_unhealthy(pod) is None
    assert classify_unhealthy({"status": {"phase": "Succeeded"}}) is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json, st.lists(_json, max_size=3))
def test_junk_objects_never_raise(junk: Any, events: list[Any]) -> None:
    pod = junk if isinstance(junk, dict) else {"status": junk}
    d = build_diagnosis(pod, events=[e for e in events if isinstance(e, dict)], nodes=[])
    assert isinstance(d, Diagnosis)
    classify_unhealthy(pod)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["crashloop", "oomkilled", "liveness-failing", "imagepull-notfound"]), st.data()
)
def test_mutated_statuses_never_raise(name: str, data: st.DataObject) -> None:
    pod = load(name)["pod"]
    cs = pod["status"]["containerStatuses"][0]
    key = data.draw(st.sampled_from(sorted(cs)))
    cs[key] = data.draw(_json)
    d = build_diagnosis(pod, events=load(name)["events"], nodes=NODES)
    assert 0 <= d.health_score <= 100  # type: ignore[attr-defined]


def test_output_has_the_shape_of_the_spec() -> None:
    body = _diagnose("crashloop").model_dump(mode="json")
    assert {
        "success",
        "pod_name",
        "namespace",
        "status",
        "issues",
        "logs",
        "events",
        "recommendations",
    } <= set(body)
    assert {"phase", "conditions", "container_statuses"} <= set(body["status"])
    assert {"severity", "type", "container", "message", "restart_count"} <= set(body["issues"][0])
    assert {"errors", "warnings"} <= set(body["logs"])
    entry = body["logs"]["errors"][0]
    assert {"timestamp", "level", "message", "pattern"} <= set(entry)
    event = body["events"][-1]
    assert {"type", "reason", "message", "count", "first_timestamp", "last_timestamp"} <= set(event)
    assert isinstance(body["health_score"], int)


def test_fixtures_are_valid_kubernetes_objects() -> None:
    """The recorded-shape fixtures validate against the 1.28 schemas (strict: no made-up fields)."""
    import kubernetes_validate

    for path in sorted(FIXTURES.glob("*.yaml")):
        data = load(path.stem)
        objects = [data[k] for k in ("pod", "deployment") if k in data]
        for key in ("replicasets", "pdbs", "nodes", "events"):
            objects += data.get(key, [])
        for obj in objects:
            body = {"apiVersion": "v1", "kind": "Event", **obj}
            kubernetes_validate.validate(body, "1.28", strict=True)


@settings(max_examples=40, deadline=None)
@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=24),
)
def test_no_secret_leaves_through_any_text_field(key_body: str, password_body: str) -> None:
    key = "AKIA" + key_body
    password = "Pw9" + password_body  # distinctive: never a substring of ordinary output
    data = load("crashloop")
    pod = data["pod"]
    cs = pod["status"]["containerStatuses"][0]
    cs["lastState"]["terminated"]["message"] = f"boot failed with aws key {key}"
    pod["status"]["message"] = f"db url postgres://app:{password}@db:5432/app"
    events = [*data["events"]]
    events[-1] = {**events[-1], "message": f"Back-off: token={password} key {key}"}
    d = build_diagnosis(
        pod,
        events=events,
        logs_previous=f"ERROR connect postgres://app:{password}@db failed\nkey={key}\n",
        logs_current=f'{{"level":"error","msg":"auth","password":"{password}"}}',
    )
    blob = d.model_dump_json()
    assert key not in blob
    assert password not in blob
