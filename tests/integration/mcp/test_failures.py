"""When acting goes wrong: a delete that does not heal, a write the API refuses, a conflict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from kubesim import KubeSim
from mcp_server import metrics
from mcp_server.gateway import Conflict, Gateway
from mcp_server.state import ServerState
from mcp_server.writes import memory_patch
from tests.integration.manifests import CRASHER
from tests.integration.mcp.conftest import (
    call,
    make_state,
    run_session,
    verified,
    wait_for,
    writes,
)


def _crasher(sim: KubeSim) -> dict[str, Any]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return next(
            p
            for p in gw.list_pods("default").items
            if p["metadata"]["name"].startswith("crasher-")
            and not p["metadata"].get("deletionTimestamp")
        )
    finally:
        gw.close()


def _looping(sim: KubeSim) -> bool:
    statuses = _crasher(sim)["status"].get("containerStatuses") or [{}]
    waiting = (statuses[0].get("state") or {}).get("waiting") or {}
    return waiting.get("reason") == "CrashLoopBackOff" and statuses[0].get("restartCount", 0) > 3


@pytest.fixture
def looping(sim: KubeSim) -> str:
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    return str(_crasher(sim)["metadata"]["name"])


@pytest.fixture
def forced(sim: KubeSim, tmp_path: Path) -> Iterator[ServerState]:
    state = make_state(
        sim,
        tmp_path / "state",
        trusted=frozenset({"ops"}),
        local_caller="ops",
        pod_cache=False,
        verify_timeout=40,
    )
    sim.reset_requests()
    yield state
    state.close()


def _heal(pod: str) -> dict[str, Any]:
    return {"namespace": "default", "pod_name": pod, "diagnosis": {}, "force": True}


def test_a_delete_that_does_not_heal_says_so(
    sim: KubeSim, forced: ServerState, looping: str
) -> None:
    labels = ("default", looping, "delete_pod")
    healed_before = metrics.healing_success_total.labels(*labels)._value.get()

    async def body(session: ClientSession) -> None:
        result = await call(session, "auto_heal_pod", **_heal(looping))
        assert result["success"] is True and result["action_taken"] == "delete_pod"
        assert result["verification"]["status"] == "pending"
        check = await verified(session, sim, result["action_id"])
        assert check["status"] == "not_healed" and check["healthy"] is False, check
        # The replacement was found (through its owner) and fails the same way.
        assert check["new_pod_name"] not in (None, looping), check

    run_session(forced, body)
    assert [r.verb for r in writes(sim) if r.resource == "pods"] == ["delete"]
    (record,) = forced.ratelimits.recent_actions(
        "default", "Deployment/crasher", since=sim.clock.now().replace(year=2000)
    )
    assert record.outcome == "not_healed"
    assert metrics.healing_success_total.labels(*labels)._value.get() == healed_before
    intent, outcome = forced.audit.records()
    assert (intent["phase"], outcome["phase"]) == ("intent", "outcome")
    assert (intent["result"], outcome["result"]) == ("intent", "applied")


def test_a_refused_write_is_not_applied_and_gives_its_slot_back(
    sim: KubeSim, forced: ServerState, looping: str
) -> None:
    sim.faults.fail(1, verbs=("delete",), resource="pods")

    async def body(session: ClientSession) -> None:
        result = await call(session, "auto_heal_pod", **_heal(looping))
        assert result["success"] is False
        assert result["error"]["code"] == "write_failed"
        assert result["error"]["written"] is False
        status = await call(session, "get_action_status", action_id=result["error"]["action_id"])
        assert status["outcome"] == "not_applied"
        assert status["verification"]["status"] == "not_applicable"

    run_session(forced, body)
    sim.faults.clear()
    # Nothing was written, so nothing counts against the limits.
    assert not forced.ratelimits.recent_actions(
        "default", "Deployment/crasher", since=sim.clock.now().replace(year=2000)
    )
    intent, outcome = forced.audit.records()
    assert (intent["result"], outcome["result"]) == ("intent", "not_applied")
    assert outcome["error"]["code"] == "write_failed"
    assert _crasher(sim)["metadata"]["name"] == looping  # nothing was deleted


def test_a_conflict_is_a_failed_precondition_not_sent_again(sim: KubeSim) -> None:
    sim.apply(CRASHER)
    sim.advance(5)
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path, sleep=lambda s: None)
    sim.faults.conflict_on_update(1, resource="deployments")
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    with pytest.raises(Conflict):
        gw.patch_deployment("default", "crasher", patch)
    assert [r.status for r in sim.requests if r.verb == "patch"] == [409]
    gw.close()


def test_a_patch_whose_object_changed_gets_409_not_a_silent_overwrite(sim: KubeSim) -> None:
    sim.apply(CRASHER)
    sim.advance(5)
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path, sleep=lambda s: None)
    read = gw.get_deployment("default", "crasher")
    # Someone deploys between our read and our patch.
    gw.patch_deployment(
        "default", "crasher", [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    )
    stale = memory_patch(read, None, 64 * 2**20).ops
    with pytest.raises(Conflict):
        gw.patch_deployment("default", "crasher", stale)
    limits = gw.get_deployment("default", "crasher")["spec"]["template"]["spec"]["containers"][0]
    assert (limits.get("resources") or {}).get("limits", {}).get("memory") != "64Mi"
    gw.close()


OOM_PAIR = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hog, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: hog}}
  template:
    metadata: {labels: {app: hog}}
    spec:
      containers:
      - name: memory-hog
        image: polinux/stress
        command: ["stress"]
        args: ["--vm", "1", "--vm-bytes", "100M"]
        resources:
          limits: {memory: 50Mi}
"""


def test_two_concurrent_heals_of_one_workload_write_once(sim: KubeSim, tmp_path: Path) -> None:
    import anyio

    sim.apply(OOM_PAIR)

    def both_oom() -> bool:
        gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
        try:
            hogs = [
                p for p in gw.list_pods("default").items if p["metadata"]["name"].startswith("hog-")
            ]
        finally:
            gw.close()
        return len(hogs) == 2 and all(
            ((p["status"].get("containerStatuses") or [{}])[0].get("restartCount") or 0) > 1
            for p in hogs
        )

    wait_for(sim, both_oom)
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    names = [p["metadata"]["name"] for p in gw.list_pods("default").items]
    gw.close()
    state = make_state(
        sim,
        tmp_path / "state",
        trusted=frozenset({"ops"}),
        local_caller="ops",
        pod_cache=False,
        verify_timeout=60,
    )
    sim.reset_requests()
    results: list[dict[str, Any]] = []

    async def body(session: ClientSession) -> None:
        async def heal(pod: str) -> None:
            results.append(await call(session, "auto_heal_pod", **_heal(pod)))

        async with anyio.create_task_group() as group:
            for pod in names:
                group.start_soon(heal, pod)

    try:
        run_session(state, body)
    finally:
        state.close()
    patches = [r for r in writes(sim) if r.verb == "patch" and r.resource == "deployments"]
    assert len(patches) == 1, results
    done = [r for r in results if r["success"]]
    assert len(done) == 1 and done[0]["action_taken"] == "increase_memory_limit"
    (refused,) = [r for r in results if not r["success"]]
    assert refused["error"]["code"] in (
        "not_found",
        "rate_limited",
        "action_not_appropriate",
        "plan_stale",
    ), refused
    assert sorted(r["result"] for r in state.audit.records()) == ["applied", "intent", "refused"]
