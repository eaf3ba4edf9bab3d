"""`KUBEMEDIC_NAMESPACE` names the agent's own namespace, and every mode protects it.

`watch`, `chat` and `approvals approve` all reach the cluster through
`kubemedic.agent_runtime.mcp_session(load_settings())`, the in-process MCP server built from
the environment. With KUBEMEDIC_NAMESPACE=ops, a crash-looping pod in `ops` is never healed,
even under a policy that auto-approves pod deletes and does not list `ops` as protected; the
same failure in `default` is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.tools import Toolbox
from agent.watch import run_watch
from kubemedic.agent_runtime import mcp_session, watch_settings
from kubemedic.settings import load_settings
from kubesim import KubeSim
from kubesim.store import PODS
from tests.integration.agent.conftest import advance_until, restarts, waiting_reason
from tests.integration.agent.test_scenarios import _core

pytestmark = pytest.mark.anyio

POLICY = """
name: deletes-without-asking
restart_threshold: 3
protected_namespaces: [kube-system]
rate_limits: {global_per_hour: 20, per_workload_per_hour: 5, cooldown_per_workload_seconds: 60}
auto_approve: [delete_pod]
auto_approve_max_risk: medium
"""

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: app
        image: busybox
        command: ["sh", "-c", "sleep 3600"]
"""


def _pod(sim: KubeSim, namespace: str) -> dict[str, Any]:
    """The namespace's newest pod."""
    pods = sim.store.list(PODS, namespace)
    return max(pods, key=lambda p: p["metadata"]["creationTimestamp"])


def _crash_looping(sim: KubeSim, namespace: str) -> str:
    sim.apply(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n")
    sim.apply(WEB.format(namespace=namespace))
    advance_until(sim, lambda: bool(sim.store.list(PODS, namespace)))
    name = str(_pod(sim, namespace)["metadata"]["name"])
    _core(sim).patch_namespaced_pod(
        name, namespace, {"metadata": {"annotations": {"kubesim.io/crash-after": "2s"}}}
    )
    return name


@pytest.fixture
def env(sim: KubeSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubeSim:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    for name, value in {
        "KUBEMEDIC_NAMESPACE": "ops",
        "KUBEMEDIC_KUBECONFIG": str(sim.kubeconfig_path),
        "KUBEMEDIC_STATE_DIR": str(tmp_path / "state"),
        "KUBEMEDIC_POLICY": str(policy),
        "KUBEMEDIC_LLM": "none",
        "KUBEMEDIC_USAGE_SAMPLE_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return sim


async def test_the_agent_namespace_is_refused_and_others_are_not(env: KubeSim) -> None:
    """What chat and approvals call: a plan in `ops` is blocked by the namespace check."""
    sim = env
    pods = {ns: _crash_looping(sim, ns) for ns in ("ops", "default")}
    advance_until(
        sim,
        lambda: all(
            waiting_reason(_pod(sim, ns)) == "CrashLoopBackOff" and restarts(_pod(sim, ns)) > 3
            for ns in pods
        ),
    )
    async with mcp_session(load_settings(), pod_cache=False) as session:
        tools = await Toolbox.from_session(session)
        ops = await tools.call("plan_healing", namespace="ops", pod_name=pods["ops"])
        default = await tools.call("plan_healing", namespace="default", pod_name=pods["default"])
    assert ops["success"] is False or ops.get("blocked_by"), ops
    refusal = ops.get("error") or {}
    checks = refusal.get("checks") or ops.get("blocked_by") or []
    assert any("namespace" in str(check.get("name")) for check in checks), ops
    assert default["success"] and default["action"] == "delete_pod", default
    assert not default.get("blocked_by"), default


async def test_watch_writes_in_default_and_leaves_ops_alone(env: KubeSim) -> None:
    sim = env
    pods = {ns: _crash_looping(sim, ns) for ns in ("ops", "default")}
    advance_until(
        sim,
        lambda: all(
            waiting_reason(_pod(sim, ns)) == "CrashLoopBackOff" and restarts(_pod(sim, ns)) > 3
            for ns in pods
        ),
    )
    sim.reset_requests()

    async def advance(seconds: float) -> None:
        sim.advance(seconds)

    settings = load_settings()
    config = watch_settings(
        settings,
        sleep=advance,
        poll_interval_seconds=5,
        verify_interval_seconds=10,
        verify_max_checks=24,
        stop_when_idle=True,
        max_polls=40,
    )
    async with mcp_session(settings, pod_cache=False) as session:
        summary = await run_watch(session, config)

    # The server here runs on the wall clock while kubesim's time is advanced by hand, so the
    # verdict on default's heal is not the point: that it was written, and ops's was not.
    outcomes = {report.workload: report.outcome for report in summary.incidents}
    assert outcomes.get("ops/Deployment/web") == "blocked", outcomes
    assert outcomes.get("default/Deployment/web") != "blocked", outcomes
    deleted = {r.path for r in sim.requests if r.verb == "delete" and r.resource == "pods"}
    assert deleted and all("/namespaces/default/" in path for path in deleted), deleted
