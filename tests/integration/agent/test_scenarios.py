"""The failure scenarios of the original specification, healed by the agent's graph through
the real MCP server (in-memory MCP session) against kubesim."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config

from kubesim import KubeSim
from mcp_server.audit import verify
from mcp_server.state import ServerState
from tests.integration.agent.conftest import (
    advance_until,
    agent_for,
    approve_all,
    deployment,
    one_pod,
    pods,
    restarts,
    waiting_reason,
    writes,
)
from tests.integration.manifests import CRASHING, OOM, SHOP

pytestmark = pytest.mark.anyio

GREEDY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: greedy, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: greedy}}
  template:
    metadata: {labels: {app: greedy}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        resources:
          requests: {cpu: "64"}
"""

# Recreate: the old revision is gone before the new one starts, so nothing shows that the
# previous revision ran; the rules try a pod delete first and roll back when it does not help.
API_V1 = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
        resources:
          limits: {memory: 64Mi, cpu: 100m}
"""
API_V2 = API_V1.replace('"sleep 3600"', '"exit 1"')


def _core(sim: KubeSim) -> client.CoreV1Api:
    api = config.new_client_from_config(str(sim.kubeconfig_path))  # type: ignore[no-untyped-call]
    return client.CoreV1Api(api)


def crash_loop(sim: KubeSim) -> str:
    sim.apply(CRASHING)
    name = str(one_pod(sim, "web-")["metadata"]["name"])
    # The fault is on this pod only, not on its template (a transient fault).
    _core(sim).patch_namespaced_pod(
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
    advance_until(
        sim,
        lambda: (
            waiting_reason(one_pod(sim, "web-")) == "CrashLoopBackOff"
            and restarts(one_pod(sim, "web-")) > 3
        ),
    )
    return name


async def test_crash_loop_is_healed_by_deleting_the_pod(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    name = crash_loop(sim)
    sim.reset_requests()
    async with agent_for(sim, state, tmp_path / "cp.sqlite") as runner:
        status = await runner.start("inc-crash", "default", name)
        assert status.pending is not None and status.pending["action"] == "delete_pod"
        assert not writes(sim)  # nothing is written before a human answers
        done, asked = await approve_all(runner, state, status, "alice")
    assert done.outcome == "healed", done.values.get("summary")
    assert [a["action"] for a in asked] == ["delete_pod"]
    assert [(w.verb, w.resource) for w in writes(sim) if w.resource == "pods"] == [
        ("delete", "pods")
    ]
    fresh = one_pod(sim, "web-")
    assert fresh["metadata"]["name"] != name and restarts(fresh) == 0
    records = state.audit.records()
    assert [r["result"] for r in records] == ["refused", "intent", "applied"]
    assert records[-1]["approver"] == "alice"
    assert records[1]["details"]["action_id"] == records[2]["details"]["action_id"]
    assert verify(state.audit.path).ok


async def test_oom_killed_is_healed_by_raising_the_memory_limit(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    sim.apply(OOM)

    def oom_looping() -> bool:
        last = (one_pod(sim, "hog-").get("status") or {}).get("containerStatuses") or [{}]
        terminated = (last[0].get("lastState") or {}).get("terminated") or {}
        return terminated.get("reason") == "OOMKilled" and int(last[0].get("restartCount") or 0) > 1

    advance_until(sim, oom_looping)
    name = one_pod(sim, "hog-")["metadata"]["name"]
    async with agent_for(sim, state, tmp_path / "cp.sqlite") as runner:
        status = await runner.start("inc-oom", "default", name)
        assert status.pending is not None
        assert status.pending["action"] == "increase_memory_limit"
        assert status.pending["target"] == {
            "kind": "Deployment",
            "namespace": "default",
            "name": "hog",
        }
        done, _ = await approve_all(runner, state, status, "bob")
    assert done.outcome == "healed", done.values.get("summary")
    limits = deployment(sim, "hog")["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert limits["limits"]["memory"] not in ("50Mi", None)


async def test_image_pull_after_a_bad_rollout_is_rolled_back(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    sim.apply(SHOP)
    sim.advance(30)
    bad = SHOP.replace("nginx:1.25", "nginx:1.25-does-not-exist")
    sim.apply(bad)
    advance_until(
        sim,
        lambda: any(
            waiting_reason(p) == "ImagePullBackOff"
            for p in pods(sim)
            if p["metadata"]["name"].startswith("shop-")
        ),
    )
    name = next(p for p in pods(sim) if waiting_reason(p) == "ImagePullBackOff")["metadata"]["name"]
    async with agent_for(sim, state, tmp_path / "cp.sqlite") as runner:
        status = await runner.start("inc-pull", "default", name)
        assert status.pending is not None
        assert status.pending["action"] == "rollback_deployment"
        done, _ = await approve_all(runner, state, status, "carol")
    assert done.outcome == "healed", done.values.get("summary")
    image = deployment(sim, "shop")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.25"


async def test_pending_on_insufficient_cpu_is_handed_to_a_human(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    sim.apply(GREEDY)
    sim.advance(10)
    name = one_pod(sim, "greedy-")["metadata"]["name"]
    sim.reset_requests()
    async with agent_for(sim, state, tmp_path / "cp.sqlite") as runner:
        done = await runner.start("inc-pending", "default", name)
    assert done.outcome == "handed_to_human"
    assert "no node could ever fit" in (done.values.get("summary") or "")
    assert not writes(sim)


async def test_delete_that_does_not_heal_escalates_to_rollback(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    sim.apply(API_V1)
    sim.advance(30)
    sim.apply(API_V2)
    advance_until(
        sim,
        lambda: (
            waiting_reason(one_pod(sim, "api-")) == "CrashLoopBackOff"
            and restarts(one_pod(sim, "api-")) > 3
        ),
    )
    name = one_pod(sim, "api-")["metadata"]["name"]
    async with agent_for(sim, state, tmp_path / "cp.sqlite") as runner:
        status = await runner.start("inc-esc", "default", name)
        done, asked = await approve_all(runner, state, status, "dave")
    assert [a["action"] for a in asked] == ["delete_pod", "rollback_deployment"], "\n".join(
        f"{t['node']} {t['event']} {t['detail']}" for t in done.values["timeline"]
    )
    assert asked[1]["escalated"] is True
    assert done.outcome == "healed", done.values.get("summary")
    assert [h["outcome"] for h in done.values["history"]] == ["not_healed", "healed"]
    command = deployment(sim, "api")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == ["sh", "-c", "sleep 3600"]


async def test_rejection_leaves_the_cluster_untouched_and_is_audited(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    name = crash_loop(sim)
    sim.reset_requests()
    async with agent_for(sim, state, tmp_path / "cp.sqlite") as runner:
        status = await runner.start("inc-rej", "default", name)
        assert status.pending is not None
        approval_id = status.pending["approval_id"]
        state.approvals.reject(approval_id, by="erin", reason="change freeze")
        done = await runner.resume(
            "inc-rej", {"decision": "reject", "approver": "erin", "reason": "change freeze"}
        )
    assert done.outcome == "rejected"
    assert not writes(sim)
    assert one_pod(sim, "web-")["metadata"]["name"] == name
    approval = state.approvals.get(approval_id)
    assert approval is not None and approval.status == "rejected"
    assert approval.decided_by == "erin"
    # The attempt that asked for the approval, then the human's rejection; nothing written.
    records = state.audit.records()
    assert [r["result"] for r in records] == ["refused", "refused"]
    assert records[1]["error"]["code"] == "approval_rejected"
    assert records[1]["approver"] == "erin" and "change freeze" in records[1]["reason"]
    assert verify(state.audit.path).ok


async def test_hostile_llm_never_gets_its_way(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    from prometheus_client import REGISTRY

    from tests.unit.agent.fakes import rationale_args, structured_model

    name = crash_loop(sim)
    sim.reset_requests()
    hostile = structured_model(
        rationale_args("rollback_deployment", "kube-system/coredns-7c65d6cfc9-x2x4z")
    )
    label = {"proposed_action": "rollback_deployment"}
    before = REGISTRY.get_sample_value("kubemedic_llm_vetoes_total", label) or 0.0
    async with agent_for(sim, state, tmp_path / "cp.sqlite", model=hostile) as runner:
        status = await runner.start("inc-hostile", "default", name)
        assert status.values["gate"]["vetoed"] is True
        assert status.pending is not None and status.pending["action"] == "delete_pod"
        assert status.pending["veto"]["proposed_action"] == "rollback_deployment"
        done, _ = await approve_all(runner, state, status, "ken")
    assert done.outcome == "healed"
    assert REGISTRY.get_sample_value("kubemedic_llm_vetoes_total", label) == before + 1
    # Only the pod delete reached the cluster: no rollback, nothing in kube-system.
    assert {(w.verb, w.resource, w.namespace) for w in writes(sim)} <= {
        ("delete", "pods", "default"),
        ("create", "pods", "default"),
        ("create", "events", "default"),
        ("patch", "pods", "default"),
        ("update", "pods", "default"),
        ("patch", "replicasets", "default"),
        ("update", "replicasets", "default"),
    }
    records = state.audit.records()
    veto = [r for r in records if r["initiator"] == "kubemedic-agent (llm)"]
    assert len(veto) == 1 and veto[0]["action"] == "rollback_deployment"
    assert veto[0]["result"] == "refused" and veto[0]["dry_run"] is True
    assert [r["action"] for r in records if r["result"] == "applied"] == ["delete_pod"]
    assert verify(state.audit.path).ok
