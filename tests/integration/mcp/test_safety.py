"""Every refusal through a real MCP session: its code, nothing written, one audit record each.

One cluster for the module (crash loops take simulated minutes to build); each test gets its
own server state (audit trail, approvals, rate limits) and counts the writes it caused.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from kubesim import KubeSim
from mcp_server.approvals import target_key
from mcp_server.gateway import Gateway
from mcp_server.state import ServerState
from tests.integration.mcp.conftest import call, make_state, run_session, wait_for, writes

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{kubesim.io/pull-seconds: "5s"}}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        resources:
          limits: {{memory: 64Mi, cpu: 100m}}
"""

BARE = """
apiVersion: v1
kind: Pod
metadata: {name: lonely, namespace: default}
spec:
  containers:
  - name: crasher
    image: busybox
    command: ["sh", "-c", "exit 1"]
"""


def _pods(gw: Gateway, namespace: str, prefix: str) -> list[dict[str, Any]]:
    return [p for p in gw.list_pods(namespace).items if p["metadata"]["name"].startswith(prefix)]


def _looping(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    waiting = (statuses[0].get("state") or {}).get("waiting") or {}
    return waiting.get("reason") == "CrashLoopBackOff" and statuses[0].get("restartCount", 0) > 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[KubeSim, dict[str, str]]]:
    with KubeSim() as sim:
        gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
        names: dict[str, str] = {}
        sim.apply(BARE)
        for key, namespace, name in (
            ("web", "default", "web"),
            ("other", "default", "other"),
            ("system", "kube-system", "sysapp"),
        ):
            sim.apply(DEPLOYMENT.format(name=name, namespace=namespace))
            pod = _pods(gw, namespace, f"{name}-")[0]
            gw._core.patch_namespaced_pod(
                pod["metadata"]["name"],
                namespace,
                {"metadata": {"annotations": {"kubesim.io/crash-after": "2s"}}},
            )
            names[key] = pod["metadata"]["name"]
        sim.apply(DEPLOYMENT.format(name="calm", namespace="default"))

        def all_looping() -> bool:
            return all(
                _looping(p)
                for ns, prefix in (
                    ("default", "web-"),
                    ("default", "other-"),
                    ("kube-system", "sysapp-"),
                    ("default", "lonely"),
                )
                for p in _pods(gw, ns, prefix)
            )

        wait_for(sim, all_looping)
        names["calm"] = _pods(gw, "default", "calm-")[0]["metadata"]["name"]
        gw.close()
        yield sim, names


@pytest.fixture
def sim(cluster: tuple[KubeSim, dict[str, str]]) -> KubeSim:
    return cluster[0]


@pytest.fixture
def names(cluster: tuple[KubeSim, dict[str, str]]) -> dict[str, str]:
    return cluster[1]


@pytest.fixture
def state(sim: KubeSim, tmp_path: Path) -> Iterator[ServerState]:
    server_state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()
    yield server_state
    server_state.close()


async def _diagnose(session: ClientSession, namespace: str, pod: str) -> dict[str, Any]:
    return await call(session, "diagnose_pod", namespace=namespace, pod_name=pod)


def _refused(result: dict[str, Any], code: str) -> None:
    assert result["success"] is False, result
    assert result["error"]["code"] == code, result["error"]


def _audited(state: ServerState, *results: str) -> None:
    assert [r["result"] for r in state.audit.records()] == list(results)


def test_nonexistent_pod(sim: KubeSim, state: ServerState) -> None:
    async def body(session: ClientSession) -> None:
        result = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name="no-such-pod",
            diagnosis={"issues": [{"type": "CrashLoopBackOff", "restart_count": 9}]},
        )
        _refused(result, "not_found")
        diagnosed = await _diagnose(session, "default", "no-such-pod")
        _refused(diagnosed, "not_found")
        unknown_ns = await _diagnose(session, "no-such-namespace", "web")
        _refused(unknown_ns, "not_found")

    run_session(state, body)
    assert not writes(sim)
    _audited(state, "refused")


def test_bare_pod_is_never_deleted(sim: KubeSim, state: ServerState) -> None:
    async def body(session: ClientSession) -> None:
        diagnosis = await _diagnose(session, "default", "lonely")
        assert "CrashLoopBackOff" in {i["type"] for i in diagnosis["issues"]}
        asked = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name="lonely",
            diagnosis=diagnosis,
            action="delete_pod",
        )
        _refused(asked, "vetoed")
        ruled = await call(
            session, "auto_heal_pod", namespace="default", pod_name="lonely", diagnosis=diagnosis
        )
        assert ruled["success"] is True
        assert ruled["action_taken"] == "investigate_manually"

    run_session(state, body)
    assert not writes(sim)
    _audited(state, "refused", "no_write")


def test_protected_namespace(sim: KubeSim, state: ServerState, names: dict[str, str]) -> None:
    async def body(session: ClientSession) -> None:
        pod = names["system"]
        diagnosis = await _diagnose(session, "kube-system", pod)
        result = await call(
            session, "auto_heal_pod", namespace="kube-system", pod_name=pod, diagnosis=diagnosis
        )
        _refused(result, "protected_namespace")
        assert result["error"]["check"] == "namespace_not_protected"

    run_session(state, body)
    assert not writes(sim)
    _audited(state, "refused")


def test_rate_limit_exhausted(sim: KubeSim, state: ServerState, names: dict[str, str]) -> None:
    # The global hourly budget is spent on other workloads (this one's history stays clean,
    # so the rules still choose delete_pod and only the limit stands in the way).
    now = sim.clock.now()
    for i in range(state.policy.rate_limits.global_per_hour):
        state.ratelimits.record(
            "default",
            f"Deployment/app-{i}",
            "delete_pod",
            "executed",
            at=now - timedelta(minutes=50 - i),
        )

    async def body(session: ClientSession) -> None:
        diagnosis = await _diagnose(session, "default", names["web"])
        result = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=names["web"],
            diagnosis=diagnosis,
        )
        _refused(result, "rate_limited")
        assert result["error"]["action"] == "delete_pod"

    run_session(state, body)
    assert not writes(sim)
    _audited(state, "refused")


def test_approval_missing_expired_reused_and_for_another_target(
    sim: KubeSim, state: ServerState, names: dict[str, str]
) -> None:
    pod = names["web"]
    other = state.approvals.request(
        "delete_pod", target_key("Pod", "default", names["other"]), reason="r", requested_by="x"
    )
    state.approvals.grant(other.id, by="alice")

    async def body(session: ClientSession) -> None:
        diagnosis = await _diagnose(session, "default", pod)
        heal = {"namespace": "default", "pod_name": pod, "diagnosis": diagnosis}
        missing = await call(session, "auto_heal_pod", **heal)
        _refused(missing, "approval_required")
        approval_id = missing["error"]["approval_id"]
        not_granted = await call(session, "auto_heal_pod", approval_id=approval_id, **heal)
        _refused(not_granted, "approval_not_granted")
        wrong = await call(session, "auto_heal_pod", approval_id=other.id, **heal)
        _refused(wrong, "approval_mismatch")
        unknown = await call(session, "auto_heal_pod", approval_id="deadbeef", **heal)
        _refused(unknown, "approval_not_found")
        state.approvals.grant(approval_id, by="alice")
        sim.clock.advance(state.policy.approval_ttl_seconds + 1)
        expired = await call(session, "auto_heal_pod", approval_id=approval_id, **heal)
        _refused(expired, "approval_expired")

    run_session(state, body)
    assert not writes(sim)
    _audited(state, *["refused"] * 5)
    # The other target's approval was not spent by the mismatched attempt (time ran it out).
    remaining = state.approvals.get(other.id)
    assert remaining is not None and remaining.status == "expired"


def test_a_used_approval_cannot_be_used_again(
    sim: KubeSim, state: ServerState, names: dict[str, str]
) -> None:
    pod = names["other"]

    async def body(session: ClientSession) -> None:
        diagnosis = await _diagnose(session, "default", pod)
        heal = {"namespace": "default", "pod_name": pod, "diagnosis": diagnosis}
        asked = await call(session, "auto_heal_pod", **heal)
        approval_id = asked["error"]["approval_id"]
        state.approvals.grant(approval_id, by="alice")
        # A dry run does not spend the approval.
        dry = await call(session, "auto_heal_pod", approval_id=approval_id, dry_run=True, **heal)
        assert dry["success"] is True and dry["dry_run"] is True
        assert not writes(sim)
        done = await call(session, "auto_heal_pod", approval_id=approval_id, **heal)
        assert done["success"] is True, done
        again = await call(session, "auto_heal_pod", approval_id=approval_id, **heal)
        _refused(again, "not_found")  # the pod is gone; a replacement has another name

    run_session(state, body)
    assert [r.verb for r in writes(sim) if r.resource == "pods"] == ["delete"]
    assert [r["result"] for r in state.audit.records()] == [
        "refused",
        "dry_run",
        "intent",
        "applied",
        "refused",
    ]
    used = state.approvals.list("consumed")
    assert len(used) == 1 and used[0].decided_by == "alice"


def test_forged_diagnosis(sim: KubeSim, state: ServerState, names: dict[str, str]) -> None:
    async def body(session: ClientSession) -> None:
        forged = {
            "namespace": "default",
            "pod_name": names["calm"],
            "issues": [{"type": "CrashLoopBackOff", "restart_count": 12, "severity": "critical"}],
        }
        result = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=names["calm"],
            diagnosis=forged,
            force=False,
        )
        _refused(result, "diagnosis_mismatch")
        elsewhere = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=names["web"],
            diagnosis={"namespace": "default", "pod_name": names["calm"], "issues": []},
        )
        _refused(elsewhere, "diagnosis_mismatch")

    run_session(state, body)
    assert not writes(sim)
    _audited(state, "refused", "refused")


def test_force_from_an_untrusted_caller(
    sim: KubeSim, state: ServerState, names: dict[str, str]
) -> None:
    async def body(session: ClientSession) -> None:
        diagnosis = await _diagnose(session, "default", names["web"])
        result = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=names["web"],
            diagnosis=diagnosis,
            force=True,
        )
        _refused(result, "forbidden")
        assert "force" in result["error"]["message"]

    run_session(state, body)
    assert not writes(sim)
    _audited(state, "refused")


def test_force_from_a_trusted_caller_skips_only_the_approval(
    sim: KubeSim, tmp_path: Path, names: dict[str, str]
) -> None:
    trusted = make_state(
        sim,
        tmp_path / "trusted",
        trusted=frozenset({"ops-bot"}),
        local_caller="ops-bot",
        pod_cache=False,
    )
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        system = await _diagnose(session, "kube-system", names["system"])
        protected = await call(
            session,
            "auto_heal_pod",
            namespace="kube-system",
            pod_name=names["system"],
            diagnosis=system,
            force=True,
        )
        _refused(protected, "protected_namespace")
        diagnosis = await _diagnose(session, "default", names["web"])
        dry = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=names["web"],
            diagnosis=diagnosis,
            force=True,
            dry_run=True,
        )
        assert dry["success"] is True and dry["action_taken"] == "delete_pod"

    try:
        run_session(trusted, body)
    finally:
        trusted.close()
    assert not writes(sim)
    dry_runs = [r for r in sim.requests if r.verb == "delete"]
    assert dry_runs and all("dryRun=All" in r.query for r in dry_runs)
    assert [r["result"] for r in trusted.audit.records()] == ["refused", "dry_run"]


def test_an_approval_binds_the_values_it_was_given_for(
    sim: KubeSim, state: ServerState, names: dict[str, str]
) -> None:
    pod = names["web"]
    crafted = state.approvals.request(
        "delete_pod",
        target_key("Pod", "default", pod),
        reason="r",
        requested_by="x",
        details={"parameters": {"replicas": 0}},
    )
    state.approvals.grant(crafted.id, by="alice")

    async def body(session: ClientSession) -> None:
        diagnosis = await _diagnose(session, "default", pod)
        result = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=pod,
            diagnosis=diagnosis,
            approval_id=crafted.id,
        )
        _refused(result, "approval_mismatch")

    run_session(state, body)
    assert not writes(sim)
    _audited(state, "refused")
    still = state.approvals.get(crafted.id)
    assert still is not None and still.status == "granted"  # not spent by the refusal


def test_bad_input_is_refused_before_any_api_request(sim: KubeSim, state: ServerState) -> None:
    bad_calls: list[tuple[str, dict[str, Any]]] = [
        ("diagnose_pod", {"namespace": "Default", "pod_name": "web"}),
        ("diagnose_pod", {"namespace": "default", "pod_name": "web_1"}),
        ("diagnose_pod", {"namespace": "default"}),
        ("diagnose_pod", {"namespace": 7, "pod_name": "web"}),
        ("analyze_logs", {"namespace": "default", "pod_name": "web", "tail_lines": 0}),
        ("analyze_logs", {"namespace": "default", "pod_name": "web", "since_seconds": 10**9}),
        ("analyze_logs", {"namespace": "default", "pod_name": "web", "tail_lines": "100"}),
        ("auto_heal_pod", {"namespace": "default", "pod_name": "web", "diagnosis": "x"}),
        (
            "auto_heal_pod",
            {
                "namespace": "default",
                "pod_name": "web",
                "diagnosis": {},
                "approval_id": "../../etc",
            },
        ),
        ("rollback_deployment", {"namespace": "default", "deployment_name": "web", "revision": 0}),
        ("list_unhealthy_pods", {"namespace": "-bad-"}),
    ]

    async def body(session: ClientSession) -> None:
        for tool, arguments in bad_calls:
            result = await call(session, tool, **arguments)
            _refused(result, "invalid_input")
            assert result["error"]["fields"], result["error"]

    run_session(state, body)
    assert sim.requests == []
    records = state.audit.records()  # the three write-tool calls, refused before any request
    assert [(r["action"], r["result"]) for r in records] == [
        ("auto_heal_pod", "refused"),
        ("auto_heal_pod", "refused"),
        ("rollback_deployment", "refused"),
    ]
    assert all(r["error"]["code"] == "invalid_input" for r in records)
