"""The ClusterRole grants exactly what the code calls: derived, not guessed.

Every MCP tool runs through a real MCP client session against kubesim, including every write
action (each after a human approval, and once as a dry run), on the failure scenarios of the
original specification. kubesim records each API request with its RBAC verb, group, resource and
subresource; the set of those must equal what k8s/rbac.yaml grants. A permission the code stopped
using, or a call the role does not cover, fails this test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session

from kubesim import KubeSim
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway
from mcp_server.server import create_server, tool_names
from mcp_server.state import Clock, ServerState

ROOT = Path(__file__).resolve().parents[3]
NS = "default"
pytestmark = pytest.mark.slow  # one full pass over every tool and action against kubesim

# The four failures of the original specification, plus a bad rollout.
WORKLOADS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: crash, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: crash}}
  template:
    metadata: {labels: {app: crash}}
    spec:
      containers:
        - name: crasher
          image: busybox:1.36
          command: ["sh", "-c", "exit 1"]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: oom, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: oom}}
  template:
    metadata: {labels: {app: oom}}
    spec:
      containers:
        - name: memory-hog
          image: polinux/stress
          command: ["stress"]
          args: ["--vm", "1", "--vm-bytes", "100M"]
          resources: {limits: {memory: 50Mi}, requests: {memory: 50Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hog, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: hog}}
  template:
    metadata: {labels: {app: hog}}
    spec:
      containers:
        - name: hog
          image: nginx:1.25
          resources: {requests: {cpu: "3"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.25
"""
# Every write action the server can take and the workload that needs it.
WRITE_ACTIONS = {
    "delete_pod",
    "increase_memory_limit",
    "scale_down_deployment",
    "rollback_deployment",
}

Permission = tuple[str, str, str]  # (API group, resource[/subresource], verb)


@dataclass
class Run:
    requests: set[Permission] = field(default_factory=set)
    tools_called: set[str] = field(default_factory=set)
    tools_served: set[str] = field(default_factory=set)
    actions_taken: set[str] = field(default_factory=set)
    statuses: set[int] = field(default_factory=set)
    log: list[str] = field(default_factory=list)


def _granted() -> set[Permission]:
    role = yaml.safe_load((ROOT / "k8s" / "rbac.yaml").read_text(encoding="utf-8"))
    assert role["kind"] == "ClusterRole"
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


async def _call(session: ClientSession, run: Run, tool: str, **args: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, args)
    run.tools_called.add(tool)
    body = result.structuredContent
    assert body is not None, f"{tool} returned no structured content: {result.content}"
    return dict(body)


async def _approved(
    session: ClientSession, run: Run, state: ServerState, tool: str, **args: Any
) -> dict[str, Any]:
    """Call a writing tool the way a client must: dry run, ask, a human grants, call again."""
    dry = await _call(session, run, tool, **args, dry_run=True)
    run.log.append(f"{tool} dry run {args.get('pod_name') or args.get('deployment_name')}: {dry}")
    body = await _call(session, run, tool, **args)
    error = body.get("error") or {}
    if not body.get("success") and error.get("code") == "approval_required":
        # What `kubemedic approvals approve ID --by NAME` does, out of band.
        state.approvals.grant(error["approval_id"], by="rbac-test")
        body = await _call(session, run, tool, **args, approval_id=error["approval_id"])
    run.log.append(f"{tool} {args.get('pod_name') or args.get('deployment_name')}: {body}")
    if body.get("success"):
        action = body.get("action_taken") or (
            "rollback_deployment" if tool == "rollback_deployment" else None
        )
        if action:
            run.actions_taken.add(str(action))
    return body


async def _drive(sim: KubeSim, state: ServerState, run: Run) -> None:
    mcp = create_server(state)
    run.tools_served = set(tool_names(mcp))
    async with create_connected_server_and_client_session(mcp) as session:
        with anyio.fail_after(120):
            listed = await _call(session, run, "list_unhealthy_pods")
            await _call(session, run, "list_unhealthy_pods", namespace=NS)
        assert listed["success"], listed
        # One pod per workload: healing one replica is what the loop does too.
        by_owner: dict[str, dict[str, Any]] = {}
        for pod in listed["pods"]:
            by_owner.setdefault(str(pod.get("owner_name")), pod)
        for pod in by_owner.values():
            ref = {"namespace": pod["namespace"], "pod_name": pod["pod_name"]}
            diagnosis = await _call(session, run, "diagnose_pod", **ref)
            await _call(session, run, "analyze_logs", **ref)
            await _call(session, run, "check_resource_usage", **ref)
            await _approved(session, run, state, "auto_heal_pod", **ref, diagnosis=diagnosis)
        await _approved(
            session, run, state, "rollback_deployment", namespace=NS, deployment_name="web"
        )
        # The refusal paths ask the API too (does the pod, the namespace exist?).
        await _call(session, run, "diagnose_pod", namespace="no-such-namespace", pod_name="ghost")
        await _call(session, run, "list_unhealthy_pods", namespace="no-such-namespace")
        await _call(
            session, run, "auto_heal_pod", namespace=NS, pod_name="ghost", diagnosis={"issues": []}
        )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    state_dir = tmp_path_factory.mktemp("state")
    with KubeSim(speed=0.0, port=0) as sim:
        sim.apply(WORKLOADS)
        sim.advance(30)
        # A rollout to an image that does not exist: the new ReplicaSet's pod cannot pull.
        web = next(d for d in yaml.safe_load_all(WORKLOADS) if d["metadata"]["name"] == "web")
        web["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:no-such-tag-404"
        sim.apply(web)
        sim.advance(300)  # long enough for back-offs, restarts and OOM kills to show
        config = ServerConfig(
            kubeconfig=sim.kubeconfig_path, state_dir=state_dir, verify_timeout_seconds=180
        )
        # The executor's waits move the simulated clock instead of sleeping.
        clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=sim.advance)
        state = ServerState(config, Gateway.from_kubeconfig(sim.kubeconfig_path), clock=clock)
        sim.reset_requests()
        result = Run()
        try:
            anyio.run(_drive, sim, state, result)
        finally:
            state.close()
        for record in sim.requests:
            result.statuses.add(record.status)
            if record.resource:  # discovery and /version are non-resource URLs
                resource = record.resource + (
                    f"/{record.subresource}" if record.subresource else ""
                )
                result.requests.add((record.group, resource, record.verb))
        yield result


def test_every_tool_and_every_write_action_was_exercised(run: Run) -> None:
    assert run.tools_called == run.tools_served, "\n".join(run.log)
    assert run.actions_taken >= WRITE_ACTIONS, "\n".join(run.log)


def test_cluster_role_grants_exactly_what_the_code_calls(run: Run) -> None:
    granted = _granted()
    missing = sorted(run.requests - granted)
    unused = sorted(granted - run.requests)
    assert (missing, unused) == ([], []), (
        f"called but not granted: {missing}\ngranted but never called: {unused}"
    )


def test_the_original_specs_mistakes_are_not_copied() -> None:
    """apps/v1 has no deployments/rollback; a rollback reads ReplicaSets and patches the
    Deployment; an action writes an Event; raising a limit patches the Deployment."""
    granted = _granted()
    assert not any(resource == "deployments/rollback" for _, resource, _ in granted)
    assert ("apps", "replicasets", "list") in granted
    assert ("apps", "deployments", "patch") in granted
    assert ("", "events", "create") in granted
    assert not any(resource == "secrets" for _, resource, _ in granted)
