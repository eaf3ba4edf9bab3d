"""One pass of every MCP tool and every write action against kubesim, through a real MCP
client session, then a scrape of the server's HTTP endpoints. The RBAC and /metrics tests of
this folder read what it recorded (it takes a while, so it runs once per session)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import yaml
from mcp import ClientSession
from mcp.shared.memory import create_connected_server_and_client_session
from pydantic import SecretStr
from starlette.testclient import TestClient

from kubesim import KubeSim
from kubesim.sim import node_object
from kubesim.store import NODES
from mcp_server.config import ServerConfig, TokenConfig
from mcp_server.gateway import Gateway
from mcp_server.http_app import create_http_app
from mcp_server.server import create_server, tool_names
from mcp_server.state import Clock, ServerState
from tests.integration.kubesim.apps_workloads import STATEFULSET, with_image

ROOT = Path(__file__).resolve().parents[3]
NS = "default"

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
# The kinds that make pods fail (each read a diagnosis adds for them is exercised): a Job past
# its backoff limit, a CronJob whose runs fail, a pod Pending on a claim of a StorageClass that
# does not exist, a Service whose only pod is not ready, a pod on a node that stops reporting.
KINDS = """
apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: default}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: report, image: busybox:1.36, command: ["sh", "-c", "echo failed; exit 1"]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "*/1 * * * *"
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - {name: nightly, image: busybox:1.36, command: ["sh", "-c", "exit 2"]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: no-such-class
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: claimant, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: claimant}}
  template:
    metadata: {labels: {app: claimant}}
    spec:
      containers:
        - name: claimant
          image: redis:7.2
          volumeMounts: [{name: data, mountPath: /data}]
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: data}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata:
      labels: {app: api}
      annotations: {kubesim.io/readiness: fail}
    spec:
      containers:
        - name: api
          image: nginx:1.25
          readinessProbe: {httpGet: {path: /, port: 80}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  selector: {app: api}
  ports: [{port: 80}]
"""
# A StatefulSet and a DaemonSet OOM-killed under a 50Mi limit (their templates raised; at 1.33
# their pods resized in place first), and the StatefulSet `db` rolled out to an image that does
# not exist (rolled back to its previous ControllerRevision with `kind: StatefulSet`; its stuck
# OrderedReady pod deleted after the template patch).
APPS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache, namespace: default}
spec:
  replicas: 1
  serviceName: cache
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers:
        - name: memory-hog
          image: polinux/stress
          command: ["stress"]
          args: ["--vm", "1", "--vm-bytes", "100M"]
          resources: {limits: {memory: 50Mi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
        - name: memory-hog
          image: polinux/stress
          command: ["stress"]
          args: ["--vm", "1", "--vm-bytes", "100M"]
          resources: {limits: {memory: 50Mi}}
"""
BAD_STATEFULSET = "db"  # rolled back explicitly, not through auto_heal_pod
APPS_OWNERS = {"cache", "agent", BAD_STATEFULSET}  # healed after the Deployments' loop
EDGE_NODE = "kubesim-node-3"
# Pinned to a small third node that joins late (the hog fits it no better).
EDGE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge}}
    spec:
      nodeSelector: {kubernetes.io/hostname: kubesim-node-3}
      containers:
        - {name: edge, image: nginx:1.25}
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
    # The HTTP endpoints after the pass: path -> (status, body).
    http: dict[str, tuple[int, str]] = field(default_factory=dict)


async def call(session: ClientSession, run: Run, tool: str, **args: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, args)
    run.tools_called.add(tool)
    body = result.structuredContent
    assert body is not None, f"{tool} returned no structured content: {result.content}"
    return dict(body)


async def approved(
    session: ClientSession, run: Run, state: ServerState, sim: KubeSim, tool: str, **args: Any
) -> dict[str, Any]:
    """Call a writing tool the way a client must: dry run, ask, a human grants, call again."""
    dry = await call(session, run, tool, **args, dry_run=True)
    run.log.append(f"{tool} dry run {args.get('pod_name') or args.get('deployment_name')}: {dry}")
    body = await call(session, run, tool, **args)
    error = body.get("error") or {}
    if not body.get("success") and error.get("code") == "approval_required":
        # What `kubemedic approvals approve ID --by NAME` does, out of band.
        state.approvals.grant(error["approval_id"], by="rbac-test")
        body = await call(session, run, tool, **args, approval_id=error["approval_id"])
    run.log.append(f"{tool} {args.get('pod_name') or args.get('deployment_name')}: {body}")
    if body.get("action_id"):
        # Verification is a status the server's verifier answers: ask until it decides.
        for _ in range(120):
            status = await call(session, run, "get_action_status", action_id=body["action_id"])
            if status["verification"]["status"] != "pending":
                break
            sim.advance(5)
        run.log.append(f"get_action_status {body['action_id']}: {status}")
    if body.get("success"):
        action = body.get("action_taken") or (
            "rollback_deployment" if tool == "rollback_deployment" else None
        )
        if action:
            run.actions_taken.add(str(action))
    return body


async def diagnose_and_heal(
    session: ClientSession, run: Run, state: ServerState, sim: KubeSim, pod: dict[str, Any]
) -> None:
    """Every read tool on one pod, then the heal its plan chooses (approved)."""
    ref = {"namespace": pod["namespace"], "pod_name": pod["pod_name"]}
    diagnosis = await call(session, run, "diagnose_pod", **ref)
    await call(session, run, "analyze_logs", **ref)
    await call(session, run, "check_resource_usage", **ref)
    await call(session, run, "plan_healing", **ref)
    await approved(session, run, state, sim, "auto_heal_pod", **ref, diagnosis=diagnosis)


async def drive(sim: KubeSim, state: ServerState, run: Run) -> None:
    mcp = create_server(state)
    run.tools_served = set(tool_names(mcp))
    async with create_connected_server_and_client_session(mcp) as session:
        with anyio.fail_after(120):
            listed = await call(session, run, "list_unhealthy_pods")
            await call(session, run, "list_unhealthy_pods", namespace=NS)
            # Answered from the pod cache and the usage sampler: no request of its own.
            await call(session, run, "get_rightsizing")
        assert listed["success"], listed
        # One pod per workload: healing one replica is what the loop does too.
        by_owner: dict[str, dict[str, Any]] = {}
        for pod in listed["pods"]:
            if pod.get("owner_name") not in APPS_OWNERS:
                by_owner.setdefault(str(pod.get("owner_name")), pod)
        for pod in by_owner.values():
            await diagnose_and_heal(session, run, state, sim, pod)
        await approved(
            session, run, state, sim, "rollback_deployment", namespace=NS, deployment_name="web"
        )
        # After the loop (whose heals move the clock, and the CronJob's pods must still be
        # there when their turn comes): the StatefulSet's and the DaemonSet's memory raised.
        listed = await call(session, run, "list_unhealthy_pods", namespace=NS)
        for owner in ("cache", "agent"):
            pod = next(p for p in listed["pods"] if p.get("owner_name") == owner)
            await diagnose_and_heal(session, run, state, sim, pod)
        # A StatefulSet's rollback: to its previous ControllerRevision, as `kubectl rollout
        # undo` does.
        await approved(
            session,
            run,
            state,
            sim,
            "rollback_deployment",
            namespace=NS,
            deployment_name=BAD_STATEFULSET,
            kind="StatefulSet",
        )
        # Last, as its taints would change every other Pending pod's scheduling facts: the edge
        # pod's node stops reporting; the pod is marked not ready, not yet evicted (300 s).
        sim.set_node_ready(EDGE_NODE, False)
        sim.advance(60)
        listed = await call(session, run, "list_unhealthy_pods", namespace=NS)
        edge = [p for p in listed["pods"] if str(p["pod_name"]).startswith("edge-")]
        assert edge, listed
        ref = {"namespace": NS, "pod_name": edge[0]["pod_name"]}
        diagnosis = await call(session, run, "diagnose_pod", **ref)
        run.log.append(f"diagnose_pod {ref['pod_name']}: {diagnosis}")
        await call(session, run, "plan_healing", **ref)
        # The refusal paths ask the API too (does the pod, the namespace exist?).
        await call(session, run, "diagnose_pod", namespace="no-such-namespace", pod_name="ghost")
        await call(session, run, "list_unhealthy_pods", namespace="no-such-namespace")
        await call(
            session, run, "auto_heal_pod", namespace=NS, pod_name="ghost", diagnosis={"issues": []}
        )


def run_everything(state_dir: Path) -> Run:
    """Seed the failures, drive every tool, record requests and scrape the endpoints."""
    # 1.33: a memory raise also resizes the running pods in place (pods/resize).
    with KubeSim(speed=0.0, port=0, kube_version="1.33") as sim:
        sim.apply(WORKLOADS)
        sim.apply(KINDS)
        sim.apply(APPS)
        sim.apply(copy.deepcopy(STATEFULSET))
        sim.advance(30)
        # A rollout to an image that does not exist: the new ReplicaSet's pod cannot pull.
        web = next(d for d in yaml.safe_load_all(WORKLOADS) if d["metadata"]["name"] == "web")
        web["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:no-such-tag-404"
        sim.apply(web)
        sim.apply(with_image(STATEFULSET, "nginx:no-such-tag-404"))
        sim.advance(300)  # long enough for back-offs, restarts and OOM kills to show
        # A small node joins (the hog still fits nowhere), runs the edge pod, then stops
        # reporting: its pod is marked not ready, not yet evicted (300 s).
        sim.store.create(NODES, node_object(EDGE_NODE, cpu="500m", memory="1Gi", index=3))
        sim.apply(EDGE)
        sim.advance(30)
        config = ServerConfig(
            kubeconfig=sim.kubeconfig_path,
            state_dir=state_dir,
            verify_timeout_seconds=180,
            tokens=(
                TokenConfig(
                    caller="scraper", token=SecretStr("s" * 32), scopes=frozenset({"metrics"})
                ),
            ),
        )
        # The executor's waits move the simulated clock instead of sleeping.
        clock = Clock(now=sim.clock.now, monotonic=sim.clock.seconds, sleep=sim.advance)
        state = ServerState(config, Gateway.from_kubeconfig(sim.kubeconfig_path), clock=clock)
        sim.reset_requests()
        result = Run()
        try:
            anyio.run(drive, sim, state, result)
            # Without the lifespan: the probes and /metrics must not depend on an MCP session.
            http = TestClient(create_http_app(state))
            scraper = {"Authorization": "Bearer " + "s" * 32}  # the metrics scope's token
            for path in ("/metrics", "/healthz", "/readyz"):
                response = http.get(path, headers=scraper)
                result.http[path] = (response.status_code, response.text)
        finally:
            state.close()
        for record in sim.requests:
            result.statuses.add(record.status)
            if record.resource:  # discovery and /version are non-resource URLs
                resource = record.resource + (
                    f"/{record.subresource}" if record.subresource else ""
                )
                result.requests.add((record.group, resource, record.verb))
    return result
