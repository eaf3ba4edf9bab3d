"""The write path through a real MCP session: plan, execute once, verify by status.

Plans bind approvals and idempotency keys; a plan whose facts moved is refused as stale; the
replacement of a deleted pod is found through its owner even after someone relabels the old
pod; a paused Deployment is not rolled back; kubemedic's Events name their object's uid, so
`kubectl describe` shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import ClientSession

from kubesim import KubeSim
from mcp_server.gateway import Gateway
from mcp_server.state import ServerState
from tests.integration.manifests import CRASHER, OOM
from tests.integration.mcp.conftest import (
    call,
    kubectl,
    make_state,
    run_session,
    verified,
    wait_for,
    writes,
)
from tests.integration.mcp.test_failures import _crasher, _looping


def _forced_state(sim: KubeSim, tmp_path: Path, **options: Any) -> ServerState:
    return make_state(
        sim,
        tmp_path / "state",
        trusted=frozenset({"ops"}),
        local_caller="ops",
        pod_cache=False,
        **options,
    )


def _pod_deletes(sim: KubeSim) -> list[Any]:
    return [r for r in writes(sim) if r.verb == "delete" and r.resource == "pods"]


def test_a_relabelled_pods_replacement_is_found_through_its_owner(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    name = str(_crasher(sim)["metadata"]["name"])
    kubectl(sim, tmp_path, "label", "pod", name, "debug=true")
    state = _forced_state(sim, tmp_path)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["success"] and plan["action"] == "delete_pod", plan
        assert plan["target"]["uid"] == plan["facts"]["pod_uid"]
        done = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            plan_id=plan["plan_id"],
            force=True,
            idempotency_key="relabelled-1",
        )
        assert done["success"], done
        check = await verified(session, sim, done["action_id"])
        # The crasher's replacement crashes too: found (not "no replacement pod yet").
        assert check["new_pod_name"] not in (None, name), check
        assert check["status"] == "not_healed", check

    try:
        run_session(state, body)
    finally:
        state.close()
    assert len(_pod_deletes(sim)) == 1


def test_a_plan_is_executed_once_whatever_the_retries(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    name = str(_crasher(sim)["metadata"]["name"])
    state = _forced_state(sim, tmp_path)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        heal = {
            "namespace": "default",
            "pod_name": name,
            "plan_id": plan["plan_id"],
            "force": True,
        }
        first = await call(session, "auto_heal_pod", idempotency_key="k-1", **heal)
        assert first["success"] and not first["replayed"], first
        again = await call(session, "auto_heal_pod", idempotency_key="k-1", **heal)
        assert again["success"] and again["replayed"], again
        assert again["action_id"] == first["action_id"]
        # Another key for the same plan: still the one applied intent, nothing new.
        other = await call(session, "auto_heal_pod", idempotency_key="k-2", **heal)
        assert other["replayed"] and other["action_id"] == first["action_id"], other

    try:
        run_session(state, body)
    finally:
        state.close()
    assert len(_pod_deletes(sim)) == 1
    phases = [r.get("phase") for r in state.audit.records() if r.get("phase")]
    assert phases == ["intent", "outcome"]


def test_a_plan_whose_workload_changed_is_stale_and_writes_nothing(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(OOM)

    def oom_looping() -> bool:
        pods = [
            p
            for p in Gateway.from_kubeconfig(sim.kubeconfig_path).list_pods("default").items
            if p["metadata"]["name"].startswith("hog-")
        ]
        statuses = (pods[0]["status"].get("containerStatuses") or [{}]) if pods else [{}]
        return int(statuses[0].get("restartCount") or 0) > 3

    wait_for(sim, oom_looping)
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    name = next(
        p["metadata"]["name"]
        for p in gw.list_pods("default").items
        if p["metadata"]["name"].startswith("hog-")
    )
    state = _forced_state(sim, tmp_path)

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["action"] == "increase_memory_limit", plan
        # Someone deploys meanwhile (the spec's generation moves on).
        gw.patch_deployment(
            "default", "hog", {"metadata": {"annotations": {"deployed": "now"}}}, patch_type="merge"
        )
        gw.patch_deployment(
            "default",
            "hog",
            {"spec": {"template": {"metadata": {"annotations": {"rev": "2"}}}}},
            patch_type="strategic",
        )
        sim.reset_requests()
        stale = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            plan_id=plan["plan_id"],
            force=True,
        )
        assert stale["error"]["code"] == "plan_stale", stale
        assert "generation" in stale["error"]["message"]

    try:
        run_session(state, body)
    finally:
        state.close()
        gw.close()
    assert not [r for r in writes(sim) if r.resource == "deployments"]


def test_an_approval_for_one_plan_does_not_execute_another(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    name = str(_crasher(sim)["metadata"]["name"])
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["requires_approval"] is True
        asked = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, plan_id=plan["plan_id"]
        )
        assert asked["error"]["code"] == "approval_required"
        assert asked["error"]["plan_id"] == plan["plan_id"]
        approval_id = asked["error"]["approval_id"]
        state.approvals.grant(approval_id, by="alice")
        sim.advance(400)  # the pod crashes again: a new plan has another digest
        newer = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert newer["plan_id"] != plan["plan_id"]
        refused = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            plan_id=newer["plan_id"],
            approval_id=approval_id,
        )
        assert refused["error"]["code"] == "approval_mismatch", refused
        done = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            plan_id=plan["plan_id"],
            approval_id=approval_id,
        )
        assert done["success"] and done["approver"] == "alice", done

    try:
        run_session(state, body)
    finally:
        state.close()
    assert len(_pod_deletes(sim)) == 1


PAUSED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: paused, namespace: default}
spec:
  replicas: 1
  paused: true
  selector:
    matchExpressions:
    - {key: app, operator: In, values: [paused]}
  template:
    metadata: {labels: {app: paused}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
"""


def test_a_paused_deployment_is_not_rolled_back(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(PAUSED)
    sim.advance(10)
    state = _forced_state(sim, tmp_path)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        result = await session.call_tool(
            "rollback_deployment",
            {"namespace": "default", "deployment_name": "paused", "force": True},
        )
        assert result.isError is True
        assert result.structuredContent is not None
        error = result.structuredContent["error"]
        assert error["code"] == "rollback_refused", error
        assert "paused" in error["message"] and "rollout resume" in error["message"]

    try:
        run_session(state, body)
    finally:
        state.close()
    assert not writes(sim)


def test_the_event_on_a_deleted_pod_shows_in_kubectl_describe(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(CRASHER)
    wait_for(sim, lambda: _looping(sim))
    pod = _crasher(sim)
    name, uid = str(pod["metadata"]["name"]), str(pod["metadata"]["uid"])
    state = _forced_state(sim, tmp_path)

    async def body(session: ClientSession) -> None:
        done = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, diagnosis={}, force=True
        )
        assert done["success"], done

    try:
        run_session(state, body)
    finally:
        state.close()
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        events = gw.list_events_for("default", name, uid=uid)
    finally:
        gw.close()
    ours = [e for e in events if e.get("reason") == "KubemedicDeletePod"]
    assert len(ours) == 1 and ours[0]["involvedObject"]["uid"] == uid
    # The deployment's describe lists events by the deployment's uid; the pod is gone, so
    # the check is on the event's own object reference as kubectl prints it.
    described = kubectl(
        sim, tmp_path, "get", "events", "--field-selector", f"involvedObject.uid={uid}"
    )
    assert "KubemedicDeletePod" in described


def test_an_idempotency_key_reused_for_another_target_is_refused(
    sim: KubeSim, tmp_path: Path
) -> None:
    sim.apply(CRASHER)
    sim.apply(OOM)
    wait_for(sim, lambda: _looping(sim))
    name = str(_crasher(sim)["metadata"]["name"])
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    hog = next(
        p["metadata"]["name"]
        for p in gw.list_pods("default").items
        if p["metadata"]["name"].startswith("hog-")
    )
    gw.close()
    state = _forced_state(sim, tmp_path)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        heal = {"namespace": "default", "diagnosis": {}, "force": True, "idempotency_key": "k1"}
        first = await call(session, "auto_heal_pod", pod_name=name, **heal)
        assert first["success"], first
        other = await call(session, "auto_heal_pod", pod_name=hog, **heal)
        assert other["error"]["code"] == "idempotency_conflict", other
        assert other["error"]["action_id"] == first["action_id"]

    try:
        run_session(state, body)
    finally:
        state.close()
    assert len(_pod_deletes(sim)) == 1
    assert not [r for r in writes(sim) if r.resource == "deployments"]


BAD_IMAGE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: nopull, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: nopull}}
  template:
    metadata: {labels: {app: nopull}}
    spec:
      containers:
      - name: app
        image: nginx:no-such-tag-404
"""


def test_a_read_only_plan_answers_with_what_a_human_needs(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(BAD_IMAGE)

    def pod() -> dict[str, Any] | None:
        gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
        try:
            found = [
                p
                for p in gw.list_pods("default").items
                if p["metadata"]["name"].startswith("nopull-")
            ]
        finally:
            gw.close()
        return found[0] if found else None

    def backing_off() -> bool:
        found = pod()
        statuses = ((found or {}).get("status") or {}).get("containerStatuses") or [{}]
        waiting = (statuses[0].get("state") or {}).get("waiting") or {}
        return waiting.get("reason") == "ImagePullBackOff"

    wait_for(sim, backing_off)
    name = str((pod() or {})["metadata"]["name"])
    state = _forced_state(sim, tmp_path)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["action"] == "check_image_availability", plan
        assert plan["writes"] is False
        done = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, plan_id=plan["plan_id"]
        )
        assert done["success"] and done["action_taken"] == "check_image_availability", done
        assert done["findings"]["image_pull"], done["findings"]
        assert done["verification"]["status"] == "not_applicable"

    try:
        run_session(state, body)
    finally:
        state.close()
    assert not writes(sim)
    assert [r["result"] for r in state.audit.records()] == ["no_write"]


class _LaggingCache:
    """A watch cache that stopped at the moment before the write: it never sees the
    replacement pod (as a cache whose watch lags the cluster)."""

    synced = True

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self._pods = pods
        self.reads = 0

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        self.reads += 1
        return [p for p in self._pods if namespace in (None, p["metadata"]["namespace"])]

    def stop(self) -> None:
        """Nothing runs behind it."""


def test_a_lagging_cache_cannot_make_a_healed_delete_not_healed(
    sim: KubeSim, tmp_path: Path
) -> None:
    """The replacement runs healthy, but the watch cache still shows only the deleted pod:
    at the timeout the verifier reads the pods live before it says "not healed", and the
    live read says healed."""
    from tests.integration.manifests import CRASHING

    sim.apply(CRASHING)
    gateway = Gateway.from_kubeconfig(sim.kubeconfig_path)
    wait_for(sim, lambda: bool(gateway.list_pods("default").items))
    name = str(gateway.list_pods("default").items[0]["metadata"]["name"])
    gateway._core.patch_namespaced_pod(
        name, "default", {"metadata": {"annotations": {"kubesim.io/crash-after": "2s"}}}
    )

    def looping() -> bool:
        pod = gateway.get_pod("default", name)
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        waiting = (statuses[0].get("state") or {}).get("waiting") or {}
        return waiting.get("reason") == "CrashLoopBackOff" and statuses[0]["restartCount"] > 3

    wait_for(sim, looping)
    before = list(gateway.list_pods("default").items)
    gateway.close()
    state = _forced_state(sim, tmp_path, verify_timeout=60)
    lagging = _LaggingCache(before)

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        done = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            plan_id=plan["plan_id"],
            force=True,
            idempotency_key="lagging-1",
        )
        assert done["success"], done
        state.cache = lagging  # type: ignore[assignment]  # from now on, the stale view
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check
        assert check["new_pod_name"] not in (None, name), check

    try:
        run_session(state, body)
    finally:
        state.cache = None
        state.close()
    assert lagging.reads > 0  # the cache was asked first
