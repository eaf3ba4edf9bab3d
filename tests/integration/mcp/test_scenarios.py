"""The failure scenarios of the original specification, through a real MCP client session."""

from __future__ import annotations

from typing import Any

from mcp import ClientSession

from kubesim import KubeSim
from mcp_server import metrics
from mcp_server.audit import verify
from mcp_server.gateway import Gateway
from mcp_server.state import ServerState
from tests.integration.manifests import CRASHING, OOM
from tests.integration.manifests import SHOP as GOOD
from tests.integration.mcp.conftest import (
    apply_and_wait,
    call,
    pods,
    run_session,
    verified,
    writes,
)

GREEDY = """
apiVersion: v1
kind: Pod
metadata: {name: greedy, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:1.25
    resources:
      requests: {cpu: "64"}
"""


def _status(pod: dict[str, Any]) -> tuple[str | None, int]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    waiting = (statuses[0].get("state") or {}).get("waiting") or {}
    return waiting.get("reason"), int(statuses[0].get("restartCount") or 0)


def _pod_named(sim: KubeSim, prefix: str) -> dict[str, Any]:
    found = [p for p in pods(sim) if p["metadata"]["name"].startswith(prefix)]
    assert len(found) == 1, [p["metadata"]["name"] for p in found]
    return found[0]


def crash_loop(sim: KubeSim) -> str:
    sim.apply(CRASHING)
    name = _pod_named(sim, "web-")["metadata"]["name"]
    assert isinstance(name, str)
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    gw._core.patch_namespaced_pod(  # the fault: on this pod only, not on its template
        name,
        "default",
        {
            "metadata": {
                "annotations": {
                    "kubesim.io/crash-after": "2s",
                    "kubesim.io/log-exit": "ERROR connection refused",
                }
            }
        },
    )
    gw.close()

    def looping() -> bool:
        reason, restarts = _status(_pod_named(sim, "web-"))
        return reason == "CrashLoopBackOff" and restarts > 3

    apply_and_wait(sim, CRASHING, looping)
    return name


def test_crash_loop_is_healed_by_deleting_the_pod(sim: KubeSim, state: ServerState) -> None:
    name = crash_loop(sim)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert diagnosis["success"] is True
        types = {issue["type"] for issue in diagnosis["issues"]}
        assert "CrashLoopBackOff" in types
        assert diagnosis["api_requests"] <= 5
        assert not writes(sim)
        # The crashed instance's log was read and its error found.
        assert any("connection refused" in e["message"] for e in diagnosis["logs"]["errors"])

        first = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, diagnosis=diagnosis
        )
        assert first["success"] is False
        assert first["error"]["code"] == "approval_required"
        assert first["error"]["action"] == "delete_pod"
        assert not writes(sim)
        approval_id = first["error"]["approval_id"]
        state.approvals.grant(approval_id, by="alice")

        healed = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            diagnosis=diagnosis,
            approval_id=approval_id,
        )
        assert healed["success"] is True, healed
        assert healed["action_taken"] == "delete_pod"
        assert healed["approver"] == "alice"
        assert healed["verification"]["status"] == "pending"
        check = await verified(session, sim, healed["action_id"])
        assert check["status"] == "healed", check
        assert check["healthy"] is True
        assert check["restart_count"] == 0
        assert check["new_pod_name"] != name

    run_session(state, body)
    labels = ("default", name, "delete_pod")
    assert metrics.healing_attempts_total.labels(*labels)._value.get() == 1
    assert metrics.healing_success_total.labels(*labels)._value.get() == 1
    deletes = [r for r in writes(sim) if r.verb == "delete"]
    assert len(deletes) == 1 and deletes[0].resource == "pods"
    events = [r for r in writes(sim) if r.resource == "events" and r.verb == "create"]
    assert len(events) == 1
    records = state.audit.records()
    assert [r["result"] for r in records] == ["refused", "intent", "applied"]
    assert records[1]["approver"] == "alice" and records[1]["action"] == "delete_pod"
    assert records[1]["details"]["action_id"] == records[2]["details"]["action_id"]
    assert verify(state.audit.path).ok
    fresh = _pod_named(sim, "web-")
    assert fresh["metadata"]["name"] != name and _status(fresh) == (None, 0)


def test_oom_killed_is_healed_by_raising_the_memory_limit(sim: KubeSim, state: ServerState) -> None:
    def oom_looping() -> bool:
        pod = _pod_named(sim, "hog-")
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        last = (statuses[0].get("lastState") or {}).get("terminated") or {}
        return last.get("reason") == "OOMKilled" and int(statuses[0].get("restartCount") or 0) > 1

    apply_and_wait(sim, OOM, oom_looping)
    name = _pod_named(sim, "hog-")["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert "OOMKilled" in {i["type"] for i in diagnosis["issues"]}
        asked = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, diagnosis=diagnosis
        )
        assert asked["error"]["code"] == "approval_required"
        assert asked["error"]["action"] == "increase_memory_limit"
        assert asked["error"]["target"] == {
            "kind": "Deployment",
            "namespace": "default",
            "name": "hog",
        }
        state.approvals.grant(asked["error"]["approval_id"], by="bob")
        healed = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            diagnosis=diagnosis,
            approval_id=asked["error"]["approval_id"],
        )
        assert healed["success"] is True, healed
        assert healed["action_taken"] == "increase_memory_limit"
        check = await verified(session, sim, healed["action_id"])
        assert check["status"] == "healed" and check["healthy"] is True, check

    run_session(state, body)
    patches = [r for r in writes(sim) if r.verb == "patch"]
    assert [(r.resource, r.subresource) for r in patches] == [("deployments", "")]
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    deployment = gw.get_deployment("default", "hog")
    gw.close()
    limit = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limit["memory"] not in ("50Mi", None)


def test_image_pull_after_a_bad_rollout_is_healed_by_rollback(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(GOOD)
    sim.advance(30)
    sim.apply(GOOD.replace("nginx:1.25", "nginx:1.25-does-not-exist"))

    def pulling() -> bool:
        return any(
            _status(p)[0] == "ImagePullBackOff"
            for p in pods(sim)
            if p["metadata"]["name"].startswith("shop-")
        )

    apply_and_wait(sim, GOOD.replace("nginx:1.25", "nginx:1.25-does-not-exist"), pulling)
    bad = next(p for p in pods(sim) if _status(p)[0] == "ImagePullBackOff")
    name = bad["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert {"ImagePullBackOff", "ErrImagePull"} & {i["type"] for i in diagnosis["issues"]}
        rollout = diagnosis["workload"]["rollout"]
        assert rollout["image_changed_in_latest_rollout"] is True
        # auto_heal_pod reaches the same decision from the pod (here as a dry run).
        planned = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            diagnosis=diagnosis,
            dry_run=True,
        )
        assert planned["success"] is True, planned
        assert planned["action_taken"] == "rollback_deployment"
        assert planned["target"] == {"kind": "Deployment", "namespace": "default", "name": "shop"}
        assert not writes(sim)
        asked = await call(
            session, "rollback_deployment", namespace="default", deployment_name="shop"
        )
        assert asked["error"]["code"] == "approval_required", asked
        state.approvals.grant(asked["error"]["approval_id"], by="carol")
        done = await call(
            session,
            "rollback_deployment",
            namespace="default",
            deployment_name="shop",
            approval_id=asked["error"]["approval_id"],
        )
        assert done["success"] is True, done
        assert done["to_revision"] == 1
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed" and check["healthy"] is True, check

    run_session(state, body)
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    deployment = gw.get_deployment("default", "shop")
    gw.close()
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_pending_on_insufficient_cpu_is_diagnosed_with_the_schedulers_reason(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(GREEDY)
    sim.advance(10)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name="greedy")
        assert "Pending" in {i["type"] for i in diagnosis["issues"]}
        scheduling = diagnosis["scheduling"]
        assert "Insufficient cpu" in scheduling["message"]
        assert scheduling["insufficient"] == ["cpu"]
        assert scheduling["fits_any_node"] is False
        assert diagnosis["api_requests"] <= 5
        healed = await call(
            session, "auto_heal_pod", namespace="default", pod_name="greedy", diagnosis=diagnosis
        )
        assert healed["success"] is True
        assert healed["action_taken"] == "investigate_manually"

    run_session(state, body)
    assert not writes(sim)


FULL = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: batch, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: batch}}
  template:
    metadata: {labels: {app: batch}}
    spec:
      containers:
      - name: worker
        image: nginx:1.25
        resources:
          requests: {cpu: 1500m}
"""


def test_a_full_cluster_is_relieved_by_scaling_down(tmp_path: Any) -> None:
    from tests.integration.mcp.conftest import make_state

    with KubeSim(nodes=[{"name": "small-1", "cpu": "2"}, {"name": "small-2", "cpu": "2"}]) as sim:
        sim.apply(FULL)
        sim.advance(30)
        pending = [p for p in pods(sim) if p["status"].get("phase") == "Pending"]
        assert len(pending) == 1
        name = pending[0]["metadata"]["name"]
        state = make_state(sim, tmp_path / "state", pod_cache=False)
        sim.reset_requests()

        async def body(session: ClientSession) -> None:
            diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
            assert diagnosis["scheduling"]["insufficient"] == ["cpu"]
            assert diagnosis["scheduling"]["fits_any_node"] is True
            asked = await call(
                session, "auto_heal_pod", namespace="default", pod_name=name, diagnosis=diagnosis
            )
            assert asked["error"]["code"] == "approval_required", asked
            assert asked["error"]["action"] == "scale_down_deployment"
            state.approvals.grant(asked["error"]["approval_id"], by="dana")
            done = await call(
                session,
                "auto_heal_pod",
                namespace="default",
                pod_name=name,
                diagnosis=diagnosis,
                approval_id=asked["error"]["approval_id"],
            )
            assert done["success"] is True, done
            check = await verified(session, sim, done["action_id"])
            assert check["status"] == "healed" and check["healthy"] is True, check

        try:
            run_session(state, body)
        finally:
            state.close()
        scales = [r for r in writes(sim) if r.verb == "patch"]
        assert [(r.resource, r.subresource) for r in scales] == [("deployments", "scale")]
        gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
        assert gw.get_deployment("default", "batch")["spec"]["replicas"] == 2
        gw.close()


def test_an_evicted_pod_is_cleaned_up(tmp_path: Any) -> None:
    import copy

    from tests.integration.mcp.conftest import make_state

    with KubeSim() as sim:
        sim.apply(GOOD)
        sim.advance(20)
        (running,) = pods(sim)
        evicted = copy.deepcopy(running)
        evicted.update(apiVersion="v1", kind="Pod")
        evicted["metadata"] = {
            key: running["metadata"][key] for key in ("labels", "ownerReferences", "namespace")
        }
        evicted["metadata"]["name"] = "shop-evicted"
        evicted["status"] = {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: memory.",
        }
        sim.load([evicted])
        sim.advance(5)
        state = make_state(
            sim,
            tmp_path / "state",
            trusted=frozenset({"ops"}),
            local_caller="ops",
            pod_cache=False,
        )
        sim.reset_requests()

        async def body(session: ClientSession) -> None:
            diagnosis = await call(
                session, "diagnose_pod", namespace="default", pod_name="shop-evicted"
            )
            assert "Evicted" in {i["type"] for i in diagnosis["issues"]}
            done = await call(
                session,
                "auto_heal_pod",
                namespace="default",
                pod_name="shop-evicted",
                diagnosis=diagnosis,
                force=True,
            )
            assert done["success"] is True, done
            assert done["action_taken"] == "delete_evicted_pod"
            check = await verified(session, sim, done["action_id"])
            assert check["status"] == "healed" and check["healthy"] is True, check

        try:
            run_session(state, body)
        finally:
            state.close()
        assert [p["metadata"]["name"] for p in pods(sim)] == [running["metadata"]["name"]]
        assert [r.verb for r in writes(sim) if r.resource == "pods"] == ["delete"]


BAD_BARE = """
apiVersion: v1
kind: Pod
metadata: {name: typo, namespace: default}
spec:
  containers:
  - name: app
    image: nginx:1.25-no-such-tag
"""


def test_an_image_that_cannot_be_pulled_is_classified_not_touched(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(BAD_BARE)
    sim.advance(60)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name="typo")
        result = await call(
            session, "auto_heal_pod", namespace="default", pod_name="typo", diagnosis=diagnosis
        )
        assert result["success"] is True
        assert result["action_taken"] == "check_image_availability"
        (pull,) = result["findings"]["image_pull"]
        assert pull["image"] == "nginx:1.25-no-such-tag"
        assert pull["error_class"] == "not_found"

    run_session(state, body)
    assert not writes(sim)
    assert [r["result"] for r in state.audit.records()] == ["no_write"]
