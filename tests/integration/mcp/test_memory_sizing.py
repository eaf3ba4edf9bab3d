"""Memory sized from evidence, and OOM kills predicted before they happen: kubesim over HTTP,
the MCP server with its pod cache and usage sampler, a real MCP client session. Every wait
advances kubesim's simulated clock; the sampler takes a round after each step."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from kubesim import KubeSim
from mcp_server.gateway import Gateway
from mcp_server.pod_cache import PodCache, wait_until
from mcp_server.state import ServerState
from policies import DEMO_POLICY_PATH, Action, Policy, load_policy
from tests.integration.mcp.conftest import call, make_state, pods, run_session, writes

MI = 2**20

# The Kubernetes docs' memory example: the worker allocates 200M under a 128Mi limit.
STRESS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: stress, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: stress}}
  template:
    metadata: {labels: {app: stress}}
    spec:
      containers:
      - name: memory-demo
        image: polinux/stress
        command: ["stress"]
        args: ["--vm", "1", "--vm-bytes", "200M", "--vm-hang", "1"]
        resources:
          requests: {memory: 64Mi}
          limits: {memory: 128Mi}
"""


def grower(name: str, annotations: dict[str, str], limit: str) -> str:
    notes = "\n".join(f'        kubesim.io/{k}: "{v}"' for k, v in annotations.items())
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations:
{notes}
    spec:
      containers:
      - name: app
        image: redis:7
        resources:
          limits: {{memory: {limit}}}
"""


# ~10Mi a minute from 64Mi toward a 160Mi limit: a leak (killed after ~9.6 min).
LEAKY = grower("leaky", {"memory": "64Mi", "memory-growth": "10Mi/min"}, "160Mi")
# ~12Mi a minute at first, slowing toward 180Mi: a cache warming up past its 150Mi limit.
WARMING = grower(
    "warming",
    {"memory": "64Mi", "memory-growth": "12Mi/min", "memory-plateau": "180Mi"},
    "150Mi",
)
FLAT = grower("flat", {"memory": "100Mi"}, "128Mi")


def _state(sim: KubeSim, tmp_path: Path, policy: Policy | None = None) -> ServerState:
    state = make_state(sim, tmp_path / "state", policy=policy, pod_cache=True)
    assert state.cache is not None and state.usage is not None
    return state


@pytest.fixture
def live(sim: KubeSim, tmp_path: Path) -> Iterator[ServerState]:
    state = _state(sim, tmp_path)
    yield state
    state.close()


def _versions(sim: KubeSim) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in pods(sim)}


def _caught_up(cache: PodCache, api: dict[str, str]) -> bool:
    pods_seen = cache.pods("default")
    return {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in pods_seen} == api


def tick(sim: KubeSim, state: ServerState, seconds: float, step: float = 15.0) -> None:
    """Advance the simulated clock; after each step, let the pod cache catch up and take one
    sampling round (as the sampler thread does every 15 s on a real cluster)."""
    assert state.cache is not None and state.usage is not None
    cache, usage = state.cache, state.usage
    waited = 0.0
    while waited < seconds:
        sim.advance(step)
        waited += step
        assert wait_until(partial(_caught_up, cache, _versions(sim)), 10)
        usage.sample_once()


def _pod(sim: KubeSim, prefix: str) -> dict[str, Any]:
    found = [
        p
        for p in pods(sim)
        if p["metadata"]["name"].startswith(prefix) and not p["metadata"].get("deletionTimestamp")
    ]
    assert len(found) == 1, [p["metadata"]["name"] for p in found]
    return found[0]


def _restarts(pod: dict[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return int(statuses[0].get("restartCount") or 0)


def _oom_killed(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    last = (statuses[0].get("lastState") or {}).get("terminated") or {}
    return last.get("reason") == "OOMKilled"


def _limit(sim: KubeSim, name: str) -> str:
    gw = Gateway.from_kubeconfig(sim.kubeconfig_path)
    try:
        deployment = gw.get_deployment("default", name)
    finally:
        gw.close()
    return str(
        deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    )


async def _approve_and_heal(
    session: ClientSession, state: ServerState, sim: KubeSim, pod: str, plan: dict[str, Any]
) -> dict[str, Any]:
    heal = {"namespace": "default", "pod_name": pod, "plan_id": plan["plan_id"]}
    asked = await call(session, "auto_heal_pod", **heal)
    assert asked["error"]["code"] == "approval_required", asked
    state.approvals.grant(asked["error"]["approval_id"], by="alice")
    done = await call(session, "auto_heal_pod", approval_id=asked["error"]["approval_id"], **heal)
    assert done["success"], done
    for _ in range(200):
        status = await call(session, "get_action_status", action_id=done["action_id"])
        if status["verification"]["status"] != "pending":
            return dict(status["verification"])
        tick(sim, state, 5, step=5)
    raise AssertionError("verification still pending")


# -- sizing from evidence -------------------------------------------------------------------


def test_200m_under_128mi_is_raised_to_228mi_once_and_heals(
    sim: KubeSim, live: ServerState
) -> None:
    state = live

    async def body(session: ClientSession) -> None:
        sim.apply(STRESS)
        for _ in range(40):
            tick(sim, state, 15)
            if _restarts(_pod(sim, "stress-")) > 1 and _oom_killed(_pod(sim, "stress-")):
                break
        name = _pod(sim, "stress-")["metadata"]["name"]
        sim.reset_requests()
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["action"] == "increase_memory_limit", plan
        assert plan["parameters"]["memory_limit_bytes"] == 228 * MI
        assert plan["reason"] == (
            "container memory-demo OOM-killed at 128Mi (peak 128Mi, request 64Mi); "
            "VPA rule max(peak+100Mi, peak×1.2) = 228Mi"
        )
        assert plan["requires_approval"] is True
        verdict = await _approve_and_heal(session, state, sim, name, plan)
        assert verdict["status"] == "healed", verdict
        # The rollout's pod runs on without an OOM kill.
        tick(sim, state, 300, step=30)
        fresh = _pod(sim, "stress-")
        assert fresh["metadata"]["name"] != name
        assert _restarts(fresh) == 0 and not _oom_killed(fresh)

    run_session(state, body)
    assert _limit(sim, "stress") == "228Mi"
    patches = [r for r in writes(sim) if r.verb == "patch"]
    assert [(r.resource, r.subresource) for r in patches] == [("deployments", "")]  # one rollout
    assert len(state.approvals.list("granted")) + len(state.approvals.list("consumed")) == 1


# -- predicted OOM kills --------------------------------------------------------------------


def _unhealthy(result: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [p for p in result["pods"] if p["pod_name"].startswith(prefix)]


def test_a_leak_is_predicted_before_the_first_kill_and_handed_to_a_human(
    sim: KubeSim, live: ServerState
) -> None:
    state = live

    async def body(session: ClientSession) -> None:
        sim.apply(LEAKY)
        seen: list[dict[str, Any]] = []
        for _ in range(40):  # 10 minutes at most; the first kill comes at ~9.6 min
            tick(sim, state, 15)
            found = _unhealthy(await call(session, "list_unhealthy_pods"), "leaky-")
            if found:
                seen = found
                break
        assert seen, "never predicted"
        (entry,) = seen
        pod = _pod(sim, "leaky-")
        assert _restarts(pod) == 0  # before the first kill
        assert entry["issue_type"] == "PredictedOOM" and entry["container"] == "app"
        assert entry["minutes_to_limit"] is not None and 0 < entry["minutes_to_limit"] <= 30
        assert entry["reason"].startswith("PredictedOOM: container app reaches its memory limit")
        name = entry["pod_name"]
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        (issue,) = [i for i in diagnosis["issues"] if i["type"] == "PredictedOOM"]
        trend = issue["trend"]
        assert trend["shape"] == "linear" and trend["samples"] >= 8
        assert trend["rate_mib_per_minute"] == pytest.approx(10, rel=0.05)
        assert trend["limit_bytes"] == 160 * MI and trend["usage_bytes"] < 160 * MI
        assert trend["minutes_to_limit"] == pytest.approx(entry["minutes_to_limit"], abs=1)
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["action"] == "investigate_manually", plan
        assert plan["issue_type"] == "PredictedOOM" and "likely leak" in plan["reason"]

    run_session(state, body)
    assert not [r for r in writes(sim) if r.verb == "patch"]


def test_a_warming_cache_is_predicted_and_its_raise_asks_even_an_auto_approving_policy(
    sim: KubeSim, tmp_path: Path
) -> None:
    demo = load_policy(DEMO_POLICY_PATH)
    generous = demo.updated(
        auto_approve=[*demo.auto_approve, Action.INCREASE_MEMORY_LIMIT],
        auto_approve_max_risk="high",
    )
    state = _state(sim, tmp_path, generous)

    async def body(session: ClientSession) -> None:
        sim.apply(WARMING)
        seen: list[dict[str, Any]] = []
        for _ in range(48):  # the first kill would come at ~13 min
            tick(sim, state, 15)
            seen = _unhealthy(await call(session, "list_unhealthy_pods"), "warming-")
            if seen:
                break
        assert seen and seen[0]["issue_type"] == "PredictedOOM"
        name = seen[0]["pod_name"]
        assert _restarts(_pod(sim, name)) == 0
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["action"] == "increase_memory_limit", plan
        assert plan["issue_type"] == "PredictedOOM"
        assert plan["requires_approval"] is True  # whatever the policy auto-approves
        assert "predicted to be OOM-killed" in plan["reason"]
        assert plan["parameters"]["memory_limit_bytes"] > 180 * MI
        verdict = await _approve_and_heal(session, state, sim, name, plan)
        assert verdict["status"] == "healed", verdict

    try:
        run_session(state, body)
    finally:
        state.close()
    assert _limit(sim, "warming") != "150Mi"


def test_a_flat_pod_is_never_predicted(sim: KubeSim, live: ServerState) -> None:
    state = live

    async def body(session: ClientSession) -> None:
        sim.apply(FLAT)
        for _ in range(12):  # an hour, twice the horizon
            tick(sim, state, 300, step=15)
            assert not _unhealthy(await call(session, "list_unhealthy_pods"), "flat-")
        assert state.usage is not None and state.usage.predicted() == []
        name = _pod(sim, "flat-")["metadata"]["name"]
        diagnosis = await call(session, "diagnose_pod", namespace="default", pod_name=name)
        assert "PredictedOOM" not in {i["type"] for i in diagnosis["issues"]}

    run_session(state, body)


# -- a second OOM kill after a raise ----------------------------------------------------------


def test_a_second_oom_after_a_raise_is_a_leak_candidate_with_the_trend(
    sim: KubeSim, live: ServerState
) -> None:
    state = live
    fast = grower("fast", {"memory": "64Mi", "memory-growth": "40Mi/min"}, "128Mi")

    async def body(session: ClientSession) -> None:
        sim.apply(fast)
        for _ in range(40):
            tick(sim, state, 15)
            if _oom_killed(_pod(sim, "fast-")):
                break
        name = _pod(sim, "fast-")["metadata"]["name"]
        plan = await call(session, "plan_healing", namespace="default", pod_name=name)
        assert plan["action"] == "increase_memory_limit", plan
        assert plan["parameters"]["memory_limit_bytes"] == 228 * MI
        heal = {"namespace": "default", "pod_name": name, "plan_id": plan["plan_id"]}
        asked = await call(session, "auto_heal_pod", **heal)
        state.approvals.grant(asked["error"]["approval_id"], by="alice")
        done = await call(
            session, "auto_heal_pod", approval_id=asked["error"]["approval_id"], **heal
        )
        assert done["success"], done
        # The rolled-out pod leaks on at 40Mi/min and is killed again at 228Mi.
        for _ in range(60):
            tick(sim, state, 15)
            fresh = [p for p in pods(sim) if p["metadata"]["name"] != name]
            if fresh and _oom_killed(fresh[0]):
                break
        again = _pod(sim, "fast-")
        assert again["metadata"]["name"] != name and _oom_killed(again)
        plan = await call(
            session, "plan_healing", namespace="default", pod_name=again["metadata"]["name"]
        )
        assert plan["action"] == "investigate_manually", plan
        assert "OOM-killed again at 228Mi" in plan["reason"]
        assert "leak candidate" in plan["reason"] and "Mi/min" in plan["reason"]
        assert plan["parameters"]["leak_candidate"] == "true"
        assert float(plan["parameters"]["rate_mib_per_minute"]) == pytest.approx(40, rel=0.1)

    run_session(state, body)
    assert _limit(sim, "fast") == "228Mi"  # raised once, not again
