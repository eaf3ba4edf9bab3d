"""Raising a memory limit in place (pods/resize, Kubernetes 1.33+), through a real MCP session
against kubesim at a given version, checked with kubesim's request log and the real kubectl.

At 1.28 the raise is the template patch alone. From 1.33 the running pods of the current
template are resized first (no restart), then the template is patched; a resize the node
cannot admit (Infeasible) falls back to the template rollout, and the verdict says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from mcp import ClientSession

from kubesim import KubeSim
from mcp_server.preview import parse_preview, preview_lines
from mcp_server.state import ServerState
from policies import Policy
from tests.integration.mcp.conftest import (
    call,
    kubectl,
    live,
    make_state,
    restarts,
    run_session,
    verified,
    wait_for,
    writes,
)

JSON = dict[str, Any]

# stress holds 100M under a 50Mi limit: OOM-killed until the limit is raised. Two replicas,
# so more than one pod is resized in place.
HOG = """
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

# 7.5Gi in use under a 7Gi limit (the request defaults to the limit): the raise the rules
# compute (about 8.4Gi) is more than a node's 8Gi allocatable, so the kubelet cannot admit it.
GIANT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: giant, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: giant}}
  template:
    metadata:
      labels: {app: giant}
      annotations: {kubesim.io/memory: 7680Mi}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        resources:
          limits: {memory: 7Gi}
"""


def _oom_looping(sim: KubeSim, prefix: str, count: int) -> bool:
    found = live(sim, prefix)
    return len(found) == count and all(restarts(p) > 1 for p in found)


def _resize_calls(sim: KubeSim) -> list[Any]:
    return [r for r in sim.requests if r.resource == "pods" and r.subresource == "resize"]


def _template_limit(sim: KubeSim, name: str) -> str:
    out = _kubectl_json(sim, "deployment", name)
    return str(out["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])


def _kubectl_json(sim: KubeSim, kind: str, name: str) -> JSON:
    from mcp_server.gateway import Gateway

    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        if kind == "deployment":
            return gw.get_deployment("default", name)
        return gw.get_pod("default", name)
    finally:
        gw.close()


async def _approved_raise(
    session: ClientSession, state: ServerState, name: str, *, by: str = "bob"
) -> tuple[JSON, JSON]:
    """Ask (an approval with its preview), grant, execute: the preview and the answer."""
    asked = await call(session, "auto_heal_pod", namespace="default", pod_name=name, diagnosis={})
    assert asked["error"]["code"] == "approval_required", asked
    assert asked["error"]["action"] == "increase_memory_limit", asked
    state.approvals.grant(asked["error"]["approval_id"], by=by)
    done = await call(
        session,
        "auto_heal_pod",
        namespace="default",
        pod_name=name,
        plan_id=asked["error"]["plan_id"],
        approval_id=asked["error"]["approval_id"],
    )
    assert done["success"] is True, done
    return asked["error"], done


def test_at_128_the_raise_is_the_template_patch_alone(sim: KubeSim, tmp_path: Path) -> None:
    sim.apply(HOG)
    wait_for(sim, lambda: _oom_looping(sim, "hog-", 2))
    name = live(sim, "hog-")[0]["metadata"]["name"]
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await _approved_raise(session, state, name)
        assert not [c for c in asked["preview"]["changes"] if c["object"].startswith("Pod/")]
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check
        assert "resize" not in check and "in place" not in check["message"], check

    try:
        run_session(state, body)
    finally:
        state.close()
    assert not _resize_calls(sim)
    # Discovery was asked once: /api/v1 does not list pods/resize at 1.28.
    assert len([r for r in sim.requests if r.path.rstrip("/") == "/api/v1"]) == 1
    patches = [(r.resource, r.subresource) for r in writes(sim) if r.verb == "patch"]
    assert patches == [("deployments", "")]
    assert _template_limit(sim, "hog") != "50Mi"


def test_at_133_running_pods_are_resized_in_place_then_the_template_is_patched(
    sim133: KubeSim, tmp_path: Path
) -> None:
    sim = sim133
    sim.apply(HOG)
    wait_for(sim, lambda: _oom_looping(sim, "hog-", 2))
    before = {p["metadata"]["name"]: restarts(p) for p in live(sim, "hog-")}
    name = sorted(before)[0]
    state = make_state(sim, tmp_path / "state", pod_cache=True)
    sim.reset_requests()
    seen: JSON = {}

    async def body(session: ClientSession) -> None:
        asked, done = await _approved_raise(session, state, name)
        limit = f"{asked['parameters']['memory_limit_bytes'] // 2**20}Mi"
        seen["limit"] = limit
        # The approval's preview: one line per running pod, then the template.
        lines = preview_lines(parse_preview(asked["preview"]))  # type: ignore[arg-type]
        for pod in before:
            assert f"  Pod/default/{pod} resources.limits.memory: 50Mi -> {limit} (in place)" in (
                lines
            ), lines
        assert any(line.startswith("  Deployment/default/hog spec.template") for line in lines)
        assert "first 2 of 2 running pods resized in place" in asked["preview"]["summary"]
        # Right after the write, before the clock moves: the same pods, new limit in spec
        # and status, restart count unchanged by the resize.
        for pod, restarted in before.items():
            shown = yaml.safe_load(
                kubectl(sim, tmp_path, "get", "pod", pod, "-o", "yaml", "-n", "default")
            )
            container = shown["spec"]["containers"][0]
            status = shown["status"]["containerStatuses"][0]
            assert container["resources"]["limits"]["memory"] == limit, container
            assert status["resources"]["limits"]["memory"] == limit, status
            assert status["restartCount"] == restarted, (pod, status)
        assert _template_limit(sim, "hog") == limit
        record = next(r for r in state.audit.records() if r.get("result") == "applied")
        resized = record["details"]["write"]["resize"]
        assert sorted(e["pod"] for e in resized) == sorted(before)
        assert {e["result"] for e in resized} == {"resized"}
        assert {e["pod"]: e["restart_count"] for e in resized} == before
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check
        assert "resized in place" in check["message"], check
        evidence = " ".join(check["evidence"])
        assert "in place" in evidence, check
        for pod in before:
            assert f"pod {pod} resized in place to {limit}" in evidence, evidence

    try:
        run_session(state, body)
    finally:
        state.close()
    calls = _resize_calls(sim)
    applied = [r for r in calls if r.status == 200 and "dryRun=All" not in (r.query or "")]
    assert sorted(r.path.rsplit("/", 2)[1] for r in applied) == sorted(before)
    # The template patch came after the resizes, once.
    patches = [(r.resource, r.subresource) for r in writes(sim) if r.verb == "patch"]
    assert patches[-1] == ("deployments", "") and patches.count(("deployments", "")) == 1
    assert {p for p in patches if p != ("deployments", "")} == {("pods", "resize")}
    assert [r for r in sim.requests if r.path.rstrip("/") == "/api/v1"], "discovery was not asked"
    assert _template_limit(sim, "hog") == seen["limit"]
    phases = [r.get("phase") for r in state.audit.records() if r.get("phase")]
    assert phases == ["intent", "outcome"]


def test_at_133_a_raise_beyond_the_node_is_infeasible_and_falls_back_to_the_rollout(
    sim133: KubeSim, tmp_path: Path
) -> None:
    sim = sim133
    sim.apply(GIANT)
    wait_for(sim, lambda: _oom_looping(sim, "giant-", 1))
    name = live(sim, "giant-")[0]["metadata"]["name"]
    policy = Policy.model_validate({"memory": {"max": "32Gi"}})
    state = make_state(sim, tmp_path / "state", pod_cache=False, policy=policy, verify_timeout=60)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await _approved_raise(session, state, name)
        assert asked["parameters"]["memory_limit_bytes"] > 8 * 2**30, asked
        record = next(r for r in state.audit.records() if r.get("result") == "applied")
        (entry,) = record["details"]["write"]["resize"]
        assert entry["pod"] == name and entry["result"] == "resized", entry
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "not_healed", check
        (look,) = check["resize"]
        assert look["state"] == "pending" and look["reason"] == "Infeasible", look
        assert "fell back to the template rollout" in check["message"], check
        assert any(
            "resize pending: Infeasible" in line and "fell back to the template rollout" in line
            for line in check["evidence"]
        ), check

    try:
        run_session(state, body)
    finally:
        state.close()
    shown = _kubectl_json(sim, "pod", name)
    conditions = {c["type"]: c for c in shown["status"].get("conditions") or []}
    assert conditions["PodResizePending"]["reason"] == "Infeasible"


def test_at_133_a_dry_run_resizes_nothing(sim133: KubeSim, tmp_path: Path) -> None:
    sim = sim133
    sim.apply(HOG)
    wait_for(sim, lambda: _oom_looping(sim, "hog-", 2))
    before = {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in live(sim, "hog-")}
    name = sorted(before)[0]
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        planned = await call(
            session,
            "auto_heal_pod",
            namespace="default",
            pod_name=name,
            diagnosis={},
            dry_run=True,
        )
        assert planned["success"] is True and planned["dry_run"] is True, planned
        assert "resize in place of" in planned["verification"]["message"], planned

    try:
        run_session(state, body)
    finally:
        state.close()
    calls = _resize_calls(sim)
    assert len(calls) == 2 and all("dryRun=All" in (r.query or "") for r in calls), calls
    assert not writes(sim)
    for pod in live(sim, "hog-"):
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert limits["memory"] == "50Mi"
    assert _template_limit(sim, "hog") == "50Mi"


# Guaranteed (cpu and memory requests equal to limits, the template names both): raising the
# limit alone would make the pod Burstable, which a resize may not do.
GUARANTEED = HOG.replace(
    "limits: {memory: 50Mi}",
    "limits: {memory: 50Mi, cpu: 100m}\n          requests: {memory: 50Mi, cpu: 100m}",
).replace("replicas: 2", "replicas: 1")


def test_at_133_a_pod_that_refuses_the_resize_is_left_to_the_rollout(
    sim133: KubeSim, tmp_path: Path
) -> None:
    sim = sim133
    sim.apply(GUARANTEED)
    wait_for(sim, lambda: _oom_looping(sim, "hog-", 1))
    pod = live(sim, "hog-")[0]
    assert pod["status"]["qosClass"] == "Guaranteed"
    name = pod["metadata"]["name"]
    state = make_state(sim, tmp_path / "state", pod_cache=False)
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        asked, done = await _approved_raise(session, state, name)
        lines = preview_lines(parse_preview(asked["preview"]))  # type: ignore[arg-type]
        assert any(
            line.startswith(f"  Pod/default/{name} resources.limits.memory: 50Mi -> ")
            and "not in place" in line
            and "QOS" in line
            for line in lines
        ), lines
        record = next(r for r in state.audit.records() if r.get("result") == "applied")
        (entry,) = record["details"]["write"]["resize"]
        assert (entry["result"], entry["status"]) == ("refused", 422), entry
        check = await verified(session, sim, done["action_id"])
        assert check["status"] == "healed", check
        assert "fell back to the template rollout" in check["message"], check
        assert "left to the template rollout" in check["evidence"][0], check

    try:
        run_session(state, body)
    finally:
        state.close()
    refused = [r for r in _resize_calls(sim) if "dryRun=All" not in (r.query or "")]
    assert [r.status for r in refused] == [422]
    assert _template_limit(sim, "hog") != "50Mi"
