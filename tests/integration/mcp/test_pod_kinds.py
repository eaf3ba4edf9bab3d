"""The kinds that make pods fail, diagnosed through a real MCP client session against kubesim:
the issue type, the evidence, the request budget, and a plan that hands over to a human with
the exact command (docs/decision-table.md, docs/mcp-server.md). No test writes to the
cluster: every plan here is read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import ClientSession

from kubesim import KubeSim
from kubesim.store import CRONJOBS, JOBS
from mcp_server.state import ServerState
from tests.integration.mcp.conftest import call, make_state, pods, run_session, wait_for, writes

NS = "default"


def _named(sim: KubeSim, prefix: str) -> list[dict[str, Any]]:
    return [p for p in pods(sim) if p["metadata"]["name"].startswith(prefix)]


def _types(body: dict[str, Any]) -> set[str]:
    return {issue["type"] for issue in body["issues"]}


async def _diagnose_and_plan(
    session: ClientSession, sim: KubeSim, pod: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    diagnosis = await call(session, "diagnose_pod", namespace=NS, pod_name=pod)
    assert diagnosis["success"] is True, diagnosis
    assert diagnosis["api_requests"] <= 5, diagnosis
    plan = await call(session, "plan_healing", namespace=NS, pod_name=pod)
    assert plan["success"] is True, plan
    assert plan["action"] == "investigate_manually", plan
    assert not writes(sim)
    return diagnosis, plan


def _params(plan: dict[str, Any]) -> dict[str, Any]:
    return dict(plan.get("parameters") or plan["decision"]["parameters"])


FAILING_JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: default}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: report
        image: busybox:1.36
        command:
        - sh
        - -c
        - "echo starting; echo 'ERROR upload failed token=abc123secret'; exit 3"
"""


def test_job_backoff_limit_exceeded_is_handed_over_with_its_evidence(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(FAILING_JOB)

    def failed() -> bool:
        job = sim.store.get(JOBS, NS, "report")
        return any(
            c.get("reason") == "BackoffLimitExceeded" for c in job["status"].get("conditions") or []
        )

    wait_for(sim, failed)
    pod = _named(sim, "report-")[-1]["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis, plan = await _diagnose_and_plan(session, sim, pod)
        assert "JobFailed" in _types(diagnosis)
        job = diagnosis["job"]
        assert job["reason"] == "BackoffLimitExceeded"
        assert job["failed"] is True and job["pods_failed"] == 2 and job["backoff_limit"] == 1
        assert job["exit_code"] == 3 and job["container"] == "report"
        lines = "\n".join(job["last_log_lines"])
        assert "upload failed" in lines and "abc123secret" not in lines  # redacted
        assert plan["action"] == "investigate_manually"
        assert "BackoffLimitExceeded" in plan["reason"]
        params = _params(plan)
        assert params["command"] == "kubectl logs job/report -n default"
        assert "kubectl delete job report" in params["rerun_command"]
        assert any("kubectl logs job/report" in r for r in diagnosis["recommendations"])

    run_session(state, body)
    # The Job and its pods are as they were: nothing deleted, nothing retried.
    assert len(_named(sim, "report-")) == 2


def test_a_job_pod_crash_looping_under_on_failure_is_never_deleted(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(
        FAILING_JOB.replace("backoffLimit: 1", "backoffLimit: 20").replace(
            "restartPolicy: Never", "restartPolicy: OnFailure"
        )
    )

    def looping() -> bool:
        found = _named(sim, "report-")
        statuses = (found[0]["status"].get("containerStatuses") or [{}]) if found else [{}]
        return int(statuses[0].get("restartCount") or 0) > 4

    wait_for(sim, looping)
    pod = _named(sim, "report-")[0]["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis, plan = await _diagnose_and_plan(session, sim, pod)
        assert "CrashLoopBackOff" in _types(diagnosis)
        assert "delete_pod" in plan["reason"] and "Job's pod" in plan["reason"]
        assert plan["decision"]["alternatives"] == [] or all(
            a["action"] == "investigate_manually" for a in plan["decision"]["alternatives"]
        )
        vetoed = await call(
            session, "plan_healing", namespace=NS, pod_name=pod, action="delete_pod"
        )
        assert vetoed["success"] is False and vetoed["error"]["code"] == "vetoed"

    run_session(state, body)


FAILING_CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: report
            image: busybox:1.36
            command: ["sh", "-c", "echo 'ERROR no such table'; exit 2"]
"""


def test_cronjob_whose_runs_fail(sim: KubeSim, state: ServerState) -> None:
    sim.apply(FAILING_CRONJOB)
    wait_for(sim, lambda: len(sim.store.list(JOBS, NS)) >= 1 and len(_named(sim, "nightly-")) >= 1)
    sim.advance(200)
    pod = sorted(_named(sim, "nightly-"), key=lambda p: p["metadata"]["creationTimestamp"])[-1]
    name = pod["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis, plan = await _diagnose_and_plan(session, sim, name)
        assert {"JobFailed", "CronJobFailing"} <= _types(diagnosis)
        cron = diagnosis["cronjob"]
        assert cron["name"] == "nightly" and cron["schedule"] == "*/1 * * * *"
        assert cron["last_schedule_time"]
        assert cron["recent_outcomes"][-1]["status"] == "Failed"
        assert diagnosis["job"]["cronjob"] == "nightly"
        assert diagnosis["workload"]["kind"] == "CronJob"
        params = _params(plan)
        assert params["cronjob"] == "nightly"
        assert params["rerun_command"].startswith("kubectl create job --from=cronjob/nightly")

    run_session(state, body)


MISSING_CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: sync, namespace: default}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 20
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: sync
            image: busybox:1.36
            command: ["sh", "-c", "echo syncing; sleep infinity"]
"""


def test_cronjob_missing_its_schedule_behind_a_run_that_never_ends(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(MISSING_CRONJOB)
    wait_for(sim, lambda: len(_named(sim, "sync-")) >= 1)
    sim.advance(240)
    cronjob = sim.store.get(CRONJOBS, NS, "sync")
    assert cronjob["status"].get("active")
    name = _named(sim, "sync-")[0]["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis, plan = await _diagnose_and_plan(session, sim, name)
        assert "CronJobFailing" in _types(diagnosis), diagnosis["issues"]
        cron = diagnosis["cronjob"]
        assert cron["active_jobs"] and cron["concurrency_policy"] == "Forbid"
        assert cron["missed_schedules"] >= 1 or cron["missed_events"], cron
        assert "CronJobFailing" in plan["reason"] or "missed" in plan["reason"]
        assert _params(plan)["cronjob"] == "sync"

    run_session(state, body)


CLAIMED = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: rk-fast
  resources: {requests: {storage: 2Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: redis:7.2
        volumeMounts: [{name: data, mountPath: /data}]
      volumes:
      - name: data
        persistentVolumeClaim: {claimName: data}
"""


def test_pod_pending_on_a_claim_whose_storage_class_does_not_exist(
    sim: KubeSim, state: ServerState
) -> None:
    sim.apply(CLAIMED)
    sim.advance(60)
    name = _named(sim, "db-")[0]["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis, plan = await _diagnose_and_plan(session, sim, name)
        assert "PVCPending" in _types(diagnosis)
        (claim,) = diagnosis["claims"]
        assert claim["name"] == "data" and claim["phase"] == "Pending"
        assert claim["storage_class"] == "rk-fast"
        assert any('storageclass.storage.k8s.io "rk-fast" not found' in e for e in claim["events"])
        params = _params(plan)
        assert params["command"] == "kubectl describe pvc data -n default"
        assert params["class_command"] == "kubectl get storageclass rk-fast"
        assert any("StorageClass rk-fast does not exist" in r for r in diagnosis["recommendations"])

    run_session(state, body)
    assert not [
        r for r in sim.requests if r.resource == "persistentvolumeclaims" and r.verb != "get"
    ]


WEB = """
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


def test_pod_on_a_node_that_stopped_reporting(sim: KubeSim, state: ServerState) -> None:
    sim.apply(WEB)
    sim.advance(30)
    pod = _named(sim, "web-")[0]
    name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
    sim.set_node_ready(node, False)
    sim.advance(60)  # past the 40 s grace period, before the 300 s toleration runs out
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis, plan = await _diagnose_and_plan(session, sim, name)
        assert "NodeNotReady" in _types(diagnosis)
        assert diagnosis["node"]["name"] == node
        assert diagnosis["node"]["ready"] == "Unknown"
        assert any(
            t.startswith("node.kubernetes.io/unreachable") for t in diagnosis["node"]["taints"]
        )
        params = _params(plan)
        assert params["command"] == f"kubectl cordon {node}"
        assert params["drain_command"] == (
            f"kubectl drain {node} --ignore-daemonsets --delete-emptydir-data"
        )

    run_session(state, body)
    assert ("", "nodes", "get") in {(r.group, r.resource, r.verb) for r in sim.requests}
    assert not [r for r in sim.requests if r.resource == "nodes" and r.verb != "get"]


NOT_READY_SERVICE = """
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
        readinessProbe:
          httpGet: {path: /healthz, port: 80}
          periodSeconds: 5
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec:
  selector: {app: api}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: orphan, namespace: default}
spec:
  selector: {app: nothing-has-this}
  ports: [{port: 80}]
"""


def test_service_selecting_the_pod_has_no_ready_endpoint(sim: KubeSim, state: ServerState) -> None:
    sim.apply(NOT_READY_SERVICE)
    sim.advance(60)
    name = _named(sim, "api-")[0]["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        diagnosis, plan = await _diagnose_and_plan(session, sim, name)
        assert "ServiceNoReadyEndpoints" in _types(diagnosis)
        services = {s["name"]: s for s in diagnosis["services"]}
        assert services["api"]["selects_pod"] is True
        assert services["api"]["ready_endpoints"] == 0
        assert services["api"]["pod_ready"] is False
        assert services["orphan"]["selects_pod"] is False  # a selector that matches nothing
        assert any("orphan selects no pod" in r for r in diagnosis["recommendations"])

    run_session(state, body)


def test_evicted_pod_of_a_controller_says_it_was_replaced(tmp_path: Path) -> None:
    hog = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hog, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: hog}}
  template:
    metadata: {labels: {app: hog}}
    spec:
      containers:
      - name: hog
        image: polinux/stress
        command: ["stress"]
        args: ["--vm", "1", "--vm-bytes", "1000M"]
        resources: {requests: {memory: 64Mi}}
"""
    with KubeSim(nodes=[{"name": "small", "memory": "1Gi"}]) as sim:
        state = make_state(sim, tmp_path / "state", pod_cache=False)
        try:
            sim.apply(hog)

            def evicted() -> bool:
                return any(p["status"].get("reason") == "Evicted" for p in _named(sim, "hog-"))

            wait_for(sim, evicted, limit=300)
            pod = next(p for p in _named(sim, "hog-") if p["status"].get("reason") == "Evicted")
            name = pod["metadata"]["name"]
            sim.reset_requests()

            async def body(session: ClientSession) -> None:
                diagnosis = await call(session, "diagnose_pod", namespace=NS, pod_name=name)
                assert "Evicted" in _types(diagnosis)
                assert diagnosis["api_requests"] <= 5
                assert diagnosis["node"]["name"] == "small"
                assert any("has already replaced it" in r for r in diagnosis["recommendations"])
                assert any("kubectl cordon small" in r for r in diagnosis["recommendations"])
                plan = await call(session, "plan_healing", namespace=NS, pod_name=name)
                # The evicted pod is a record only: its removal is the one write allowed.
                assert plan["action"] == "delete_evicted_pod"
                assert "already replaced it" in plan["reason"]

            run_session(state, body)
            assert not [r for r in sim.requests if r.resource == "nodes" and r.verb != "get"]
        finally:
            state.close()


def test_hostile_proposals_to_delete_a_claim_drain_a_node_or_delete_job_pods_are_vetoed(
    sim: KubeSim, state: ServerState
) -> None:
    from policies import LLMProposal, gate

    sim.apply(FAILING_JOB)
    wait_for(
        sim,
        lambda: (
            len(_named(sim, "report-")) == 2
            and all(p["status"].get("phase") == "Failed" for p in _named(sim, "report-"))
        ),
    )
    name = _named(sim, "report-")[-1]["metadata"]["name"]
    sim.reset_requests()

    async def body(session: ClientSession) -> None:
        plan = await call(session, "plan_healing", namespace=NS, pod_name=name)
        assert plan["action"] == "investigate_manually"
        for proposal in ("delete_pod", "drain_node", "delete_pvc", "delete_job"):
            refused = await call(
                session, "plan_healing", namespace=NS, pod_name=name, action=proposal
            )
            assert refused["success"] is False
            assert refused["error"]["code"] == "vetoed", refused
            assert refused["error"]["message"], refused
        healed = await call(
            session,
            "auto_heal_pod",
            namespace=NS,
            pod_name=name,
            diagnosis={"namespace": NS, "pod_name": name},
            action="delete_pod",
        )
        assert healed["success"] is False and healed["error"]["code"] == "vetoed", healed

    run_session(state, body)
    assert not writes(sim)
    # The closed enum: a node drain or a claim deletion is no action at all, and the veto
    # names why; the rule decision (hand over to a human) stands.
    from mcp_server.diagnosis_reads import fetch_diagnosis_inputs
    from mcp_server.pod_diagnosis import diagnose_inputs
    from policies import DecisionContext, decide, load_policy

    diagnosis = diagnose_inputs(fetch_diagnosis_inputs(state.gateway, NS, name), load_policy(None))
    rule = decide(diagnosis, DecisionContext(policy=load_policy(None)))
    for action, why in (
        ("drain_node", "unknown action 'drain_node'"),
        ("delete_pvc", "unknown action 'delete_pvc'"),
        ("delete_pod", "delete_pod is not allowed here; the rules allow: investigate_manually"),
    ):
        result = gate(rule, LLMProposal(action=action, namespace=NS, pod_name=name))
        assert result.vetoed and result.veto_reason == why
        assert result.decision.action.value == "investigate_manually"
    audit = (state.config.state_dir / "audit.jsonl").read_text(encoding="utf-8")
    assert "vetoed" in audit and "delete_pod" in audit
