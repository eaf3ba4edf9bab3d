"""An approval carries a preview: the exact change as the API server's dry run answers it,
the evidence (redacted) and the rule decision; asking for one writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp import ClientSession

from kubesim import KubeSim
from mcp_server.gateway import Gateway, Invalid
from mcp_server.preview import parse_preview, preview_lines
from mcp_server.state import ServerState
from tests.integration.manifests import CRASHING, OOM
from tests.integration.manifests import SHOP as GOOD
from tests.integration.mcp.conftest import apply_and_wait, call, pods, run_session, writes

SECRET = "hunter2"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrdWJlbWVkaWMifQ.c2lnbmF0dXJl"


def _status(pod: dict[str, Any]) -> tuple[str | None, int]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    waiting = (statuses[0].get("state") or {}).get("waiting") or {}
    return waiting.get("reason"), int(statuses[0].get("restartCount") or 0)


def _pod_named(sim: KubeSim, prefix: str) -> dict[str, Any]:
    found = [
        p
        for p in pods(sim)
        if p["metadata"]["name"].startswith(prefix) and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(found) == 1, [p["metadata"]["name"] for p in found]
    return found[0]


def _deployment(sim: KubeSim, name: str) -> dict[str, Any]:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        return gw.get_deployment("default", name)
    finally:
        gw.close()


def _oom(sim: KubeSim) -> str:
    def oom_looping() -> bool:
        pod = _pod_named(sim, "hog-")
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        last = (statuses[0].get("lastState") or {}).get("terminated") or {}
        return last.get("reason") == "OOMKilled" and int(statuses[0].get("restartCount") or 0) > 1

    apply_and_wait(sim, OOM, oom_looping)
    return str(_pod_named(sim, "hog-")["metadata"]["name"])


def _stored_preview(state: ServerState, approval_id: str) -> dict[str, Any]:
    approval = state.approvals.get(approval_id)
    assert approval is not None and approval.status == "pending"
    preview = approval.details["preview"]
    assert parse_preview(preview) is not None, preview
    return dict(preview)


def test_a_memory_raise_shows_the_real_limits_before_and_after(
    sim: KubeSim, state: ServerState
) -> None:
    name = _oom(sim)
    generation = _deployment(sim, "hog")["metadata"]["generation"]
    sim.reset_requests()
    asked: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        answer = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, diagnosis=diagnosis
        )
        asked.update(answer["error"])

    run_session(state, body)
    assert asked["code"] == "approval_required", asked
    assert not writes(sim)
    dry_runs = [r for r in sim.requests if r.verb == "patch"]
    assert len(dry_runs) == 1 and "dryRun=All" in dry_runs[0].query
    assert _deployment(sim, "hog")["metadata"]["generation"] == generation
    preview = _stored_preview(state, asked["approval_id"])
    assert asked["preview"] == preview  # the payload and the record say the same
    (change,) = preview["changes"]
    assert change["object"] == "Deployment/default/hog"
    assert change["path"] == "spec.template.spec.containers[memory-hog].resources.limits.memory"
    assert change["before"] == "50Mi"
    new_limit = asked["parameters"]["memory_limit_bytes"]
    assert change["after"] == f"{new_limit // 2**20}Mi" and change["after"] != "50Mi"
    assert preview["dry_run"]["ok"] is True
    evidence = preview["evidence"]
    assert evidence["issue"] == "OOMKilled"
    assert evidence["restarts"] >= 2
    assert evidence["last_termination"].startswith("OOMKilled, exit code 137")
    assert preview["decision"]["action"] == "increase_memory_limit"
    assert preview["decision"]["requires_approval"] is True
    lines = preview_lines(parse_preview(preview))  # type: ignore[arg-type]
    assert (
        "  Deployment/default/hog spec.template.spec.containers[memory-hog].resources.limits."
        f"memory: 50Mi -> {change['after']}"
    ) in lines


def test_a_rollbacks_preview_shows_the_image_going_back(sim: KubeSim, state: ServerState) -> None:
    bad_image = "nginx:1.25-does-not-exist"
    sim.apply(GOOD)
    sim.advance(30)

    def pulling() -> bool:
        return any(
            _status(p)[0] == "ImagePullBackOff"
            for p in pods(sim)
            if p["metadata"]["name"].startswith("shop-")
        )

    apply_and_wait(sim, GOOD.replace("nginx:1.25", bad_image), pulling)
    before = _deployment(sim, "shop")
    sim.reset_requests()
    asked: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        answer = await call(
            session, "rollback_deployment", namespace="default", deployment_name="shop"
        )
        asked.update(answer["error"])

    run_session(state, body)
    assert asked["code"] == "approval_required", asked
    assert not writes(sim)
    after = _deployment(sim, "shop")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["template"] == before["spec"]["template"]
    preview = _stored_preview(state, asked["approval_id"])
    paths = {c["path"]: c for c in preview["changes"]}
    image = paths["spec.template.spec.containers[nginx].image"]
    assert (image["before"], image["after"]) == (bad_image, "nginx:1.25")
    assert not any("pod-template-hash" in path for path in paths)
    assert "to revision 1" in preview["summary"]
    assert preview["decision"]["action"] == "rollback_deployment"


def test_a_restarts_preview_names_the_pod_and_its_owners_and_hides_secrets(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(CRASHING)
    name = str(_pod_named(sim, "web-")["metadata"]["name"])
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    gw._core.patch_namespaced_pod(
        name,
        "default",
        {
            "metadata": {
                "annotations": {
                    "kubesim.io/crash-after": "2s",
                    "kubesim.io/log-exit": (
                        f"ERROR connection refused: db password={SECRET} "
                        f"Authorization: Bearer {TOKEN}"
                    ),
                }
            }
        },
    )
    gw.close()

    def looping() -> bool:
        reason, restarts = _status(_pod_named(sim, "web-"))
        return reason == "CrashLoopBackOff" and restarts > 3

    apply_and_wait(sim, CRASHING, looping)
    pod = _pod_named(sim, "web-")
    uid = pod["metadata"]["uid"]
    (owner,) = pod["metadata"]["ownerReferences"]
    sim.reset_requests()
    asked: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        answer = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, plan_id=plan["plan_id"]
        )
        asked.update(answer)

    run_session(state, body)
    error = asked["error"]
    assert error["code"] == "approval_required", asked
    assert not writes(sim)
    deletes = [r for r in sim.requests if r.verb == "delete"]
    assert len(deletes) == 1 and "dryRun=All" in deletes[0].query
    assert _pod_named(sim, "web-")["metadata"]["uid"] == uid  # the same pod, still there
    preview = _stored_preview(state, error["approval_id"])
    (deletion,) = preview["deletes"]
    assert deletion["object"] == f"Pod/default/{name}"
    assert deletion["replaced_by"] == (
        f"ReplicaSet/default/{owner['name']} of Deployment/default/web"
    )
    evidence = preview["evidence"]
    assert evidence["issue"] == "CrashLoopBackOff"
    assert evidence["restarts"] > 3
    assert any("connection refused" in line for line in evidence["log_lines"]), evidence
    assert 0 < len(evidence["event_lines"]) <= 5
    assert all(len(line) <= 300 for line in evidence["log_lines"] + evidence["event_lines"])
    stored = json.dumps(state.approvals.get(error["approval_id"]).details)  # type: ignore[union-attr]
    answered = json.dumps(asked)
    for text in (stored, answered):
        assert SECRET not in text and TOKEN not in text and "[REDACTED]" in text


def test_a_stale_plan_asks_nobody(sim: KubeSim, state: ServerState) -> None:
    name = _oom(sim)
    asked: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
        gw.patch_deployment(  # someone changes the Deployment meanwhile
            "default",
            "hog",
            {"spec": {"template": {"metadata": {"annotations": {"touched": "yes"}}}}},
            patch_type="strategic",
        )
        gw.close()
        answer = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, plan_id=plan["plan_id"]
        )
        asked.update(answer["error"])

    run_session(state, body)
    assert asked["code"] == "plan_stale", asked
    assert state.approvals.list() == []
    assert not [r for r in sim.requests if "dryRun=All" in (r.query or "")]


class _AdmissionDenies(Gateway):
    """An admission webhook that denies the change (kubesim has none): 422 on the dry run."""

    def patch_deployment(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if kwargs.get("dry_run"):
            raise Invalid(
                'admission webhook "quota.example.com" denied the request: memory above quota',
                status=422,
                reason="Invalid",
            )
        return super().patch_deployment(*args, **kwargs)


def test_a_dry_run_the_api_server_rejects_asks_nobody(
    sim: KubeSim, state: ServerState, tmp_path: Path
) -> None:
    name = _oom(sim)
    state.gateway.close()
    state.gateway = _AdmissionDenies.from_kubeconfig(sim.kubeconfig_path)
    sim.reset_requests()
    asked: dict[str, Any] = {}

    async def body(session: ClientSession) -> None:
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        answer = await call(
            session, "auto_heal_pod", namespace="default", pod_name=name, diagnosis=diagnosis
        )
        asked.update(answer["error"])

    run_session(state, body)
    assert asked["code"] == "dry_run_rejected", asked
    assert asked["status"] == 422
    assert "quota.example.com" in asked["message"]
    assert state.approvals.list() == []
    assert not writes(sim)
    (record,) = state.audit.records()
    assert record["result"] == "refused" and record["error"]["code"] == "dry_run_rejected"
