"""`list_unhealthy_pods` and `diagnose_pod` name each pod's workload from its owner chain,
and the agent takes that answer through its typed call (no guessing from pod names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from agent.tools import DIAGNOSE_POD, LIST_UNHEALTHY_PODS, Toolbox, ToolCallError
from agent.workloads import entry_workload, unhealthy_of_workload
from kubemedic_contract import DiagnosePodResult, ListUnhealthyResult
from kubesim import KubeSim
from tests.integration.mcp.conftest import call, make_state, pods, run_session, wait_for
from tests.integration.mcp.test_pod_kinds import FAILING_CRONJOB

CRASHING = {"containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", "exit 1"]}]}


def _template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": CRASHING}


def _controller(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": _template(name),
            **spec,
        },
    }


# A Deployment whose name looks like a ReplicaSet's, and a bare ReplicaSet whose name looks
# like a Deployment's: a guess from names gets both wrong.
WORKLOADS: list[dict[str, Any]] = [
    _controller("Deployment", "web"),
    _controller("ReplicaSet", "cache-redis"),
    _controller("StatefulSet", "db", serviceName="db"),
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "lonely", "namespace": "default"},
        "spec": CRASHING,
    },
]
EXPECTED = {
    "web": "Deployment/web",
    "cache-redis": "ReplicaSet/cache-redis",
    "db": "StatefulSet/db",
    "lonely": "Pod/lonely",
}


def _crashing(sim: KubeSim) -> None:
    for manifest in WORKLOADS:
        sim.apply(manifest)
    sim.advance(120, step=5)


def _app_of(pod_name: str) -> str:
    return next(app for app in sorted(EXPECTED, key=len, reverse=True) if pod_name.startswith(app))


def _replicaset_reads(sim: KubeSim) -> list[Any]:
    return [r for r in sim.requests if r.resource == "replicasets"]


def test_list_unhealthy_pods_names_each_workload_from_the_cache(
    sim: KubeSim, tmp_path: Path
) -> None:
    _crashing(sim)
    state = make_state(sim, tmp_path / "state", pod_cache=True)

    async def body(session: ClientSession) -> None:
        assert state.cache is not None and state.cache.wait_synced(10)
        sim.reset_requests()
        result = await call(session, "list_unhealthy_pods", namespace="default")
        found = {_app_of(p["pod_name"]): p for p in result["pods"]}
        assert {
            app: f"{p['workload']['kind']}/{p['workload']['name']}" for app, p in found.items()
        } == EXPECTED
        # The nearest owner stays as the pod names it: the Deployment's ReplicaSet.
        assert found["web"]["owner_kind"] == "ReplicaSet"
        assert found["web"]["owner_name"].startswith("web-")
        # One list of the namespace's ReplicaSets answers for both; the next look reads none.
        assert len(_replicaset_reads(sim)) == 1
        sim.reset_requests()
        again = await call(session, "list_unhealthy_pods", namespace="default")
        assert again["pods"] == result["pods"]
        assert _replicaset_reads(sim) == []

    try:
        run_session(state, body)
    finally:
        state.close()


def test_without_a_cache_the_one_list_names_workloads_too(sim: KubeSim, tmp_path: Path) -> None:
    _crashing(sim)
    state = make_state(sim, tmp_path / "state", pod_cache=False)

    async def body(session: ClientSession) -> None:
        result = await call(session, "list_unhealthy_pods", namespace="default")
        assert result["source"] == "list"
        found = {
            _app_of(p["pod_name"]): f"{p['workload']['kind']}/{p['workload']['name']}"
            for p in result["pods"]
        }
        assert found == EXPECTED

    try:
        run_session(state, body)
    finally:
        state.close()


def test_the_agent_reads_the_workload_through_its_typed_call(sim: KubeSim, tmp_path: Path) -> None:
    _crashing(sim)
    state = make_state(sim, tmp_path / "state", pod_cache=True)

    async def body(session: ClientSession) -> None:
        assert state.cache is not None and state.cache.wait_synced(10)
        toolbox = await Toolbox.from_session(session)
        listed = await toolbox.typed(LIST_UNHEALTHY_PODS, ListUnhealthyResult, namespace="default")
        assert isinstance(listed, ListUnhealthyResult)
        workloads = {_app_of(entry.pod_name): entry_workload(entry) for entry in listed.pods}
        assert workloads == EXPECTED
        redis = unhealthy_of_workload(listed, "default", "ReplicaSet/cache-redis")
        assert [_app_of(entry.pod_name) for entry in redis] == ["cache-redis"]
        assert unhealthy_of_workload(listed, "default", "Deployment/cache") == []
        # diagnose_pod's workload is the same top controller, parsed into the contract.
        for entry in listed.pods:
            diagnosis = await toolbox.typed(
                DIAGNOSE_POD, DiagnosePodResult, namespace="default", pod_name=entry.pod_name
            )
            expected = EXPECTED[_app_of(entry.pod_name)]
            if expected.startswith("Pod/"):
                assert diagnosis.workload is None  # a bare pod has no controller
            else:
                assert diagnosis.workload is not None
                assert f"{diagnosis.workload.kind}/{diagnosis.workload.name}" == expected
        # A failed call is a typed error, not a dict to inspect.
        with pytest.raises(ToolCallError) as failed:
            await toolbox.typed(
                DIAGNOSE_POD, DiagnosePodResult, namespace="default", pod_name="no-such-pod"
            )
        assert failed.value.code == "not_found"
        assert failed.value.tool == DIAGNOSE_POD

    try:
        run_session(state, body)
    finally:
        state.close()


def test_a_cronjobs_failed_run_is_the_cronjobs(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(FAILING_CRONJOB)
    wait_for(sim, lambda: any(_app_of_cron(p) for p in pods(sim)))
    sim.advance(120, step=5)
    state = make_state(sim, tmp_path / "state", pod_cache=True)

    async def body(session: ClientSession) -> None:
        assert state.cache is not None and state.cache.wait_synced(10)
        sim.reset_requests()
        result = await call(session, "list_unhealthy_pods", namespace="default")
        runs = [p for p in result["pods"] if p["pod_name"].startswith("nightly-")]
        assert runs, result["pods"]
        assert {(p["owner_kind"], p["workload"]["kind"], p["workload"]["name"]) for p in runs} == {
            ("Job", "CronJob", "nightly")
        }
        # One read per distinct Job, and none the next time.
        jobs = {p["owner_name"] for p in runs}
        assert len([r for r in sim.requests if r.resource == "jobs"]) == len(jobs)
        sim.reset_requests()
        await call(session, "list_unhealthy_pods", namespace="default")
        assert [r for r in sim.requests if r.resource == "jobs"] == []

    try:
        run_session(state, body)
    finally:
        state.close()


def _app_of_cron(pod: dict[str, Any]) -> bool:
    return str(pod["metadata"]["name"]).startswith("nightly-")
