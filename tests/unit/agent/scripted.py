"""A scripted MCP server for the graph's unit tests: the real MCP protocol and adapters, with
tool answers taken from a small in-memory cluster model instead of kubesim.

It answers like the real server's contract (docs/contracts.md): `plan_healing` decides with
the rules (and the server's action history), a plan whose write needs a human gets
`approval_required` with an approval id bound to the plan and writes nothing, a granted
approval is consumed once, an idempotency key seen again replays, and `get_action_status`
verifies from the unhealthy-pod sequence.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

from kubemedic_contract import ListUnhealthyResult, UnhealthyPodInfo, WorkloadRef
from policies import (
    Action,
    ActionRecord,
    DecisionContext,
    Diagnosis,
    LLMProposal,
    decide,
    gate,
    policy_from_dict,
    workload_key,
)

POLICY = policy_from_dict({})

WRITES = {
    "delete_pod",
    "delete_evicted_pod",
    "scale_down_deployment",
    "increase_memory_limit",
    "rollback_deployment",
}


def crashloop_diagnosis(
    pod: str = "web-5d8f7-abcde",
    *,
    restarts: int = 5,
    began_with_rollout: bool = False,
    previous_revision: int | None = None,
    previous_healthy: bool = False,
    namespace: str = "default",
) -> dict[str, Any]:
    return {
        "success": True,
        "namespace": namespace,
        "pod_name": pod,
        "pod_uid": f"uid-{pod}",
        "phase": "Running",
        "status": {"phase": "Running"},
        "issues": [
            {
                "severity": "critical",
                "type": "CrashLoopBackOff",
                "container": "web",
                "message": "back-off restarting failed container",
                "restart_count": restarts,
            }
        ],
        "owner_chain": [{"kind": "ReplicaSet", "name": "web-5d8f7"}],
        "workload": {
            "kind": "Deployment",
            "name": "web",
            "replicas": 2,
            "ready_replicas": 1,
            "available_replicas": 1,
            "rollout": {
                "current_revision": 2 if previous_revision else 1,
                "previous_revision": previous_revision,
                "failure_began_with_latest_rollout": began_with_rollout,
                "previous_revision_healthy": previous_healthy,
            },
        },
        "logs": {"errors": ["panic: DB_PASSWORD=hunter2 rejected"], "warnings": []},
        "events": [],
        "recommendations": ["Restart pod"],
    }


@dataclass
class ScriptedCluster:
    diagnoses: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Successive answers of list_unhealthy_pods (the last one repeats); get_action_status
    # reads the same sequence to verify.
    unhealthy: list[list[dict[str, Any]]] = field(default_factory=lambda: [[]])
    auto_approve: set[str] = field(default_factory=set)
    granted: set[str] = field(default_factory=set)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    consumed: set[str] = field(default_factory=set)
    writes: list[dict[str, Any]] = field(default_factory=list)
    heal_calls: list[dict[str, Any]] = field(default_factory=list)
    plan_calls: list[dict[str, Any]] = field(default_factory=list)
    # After a write: the pod that replaces the acted-on one (and its diagnosis), if any.
    replacements: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    # Answer the next N heal calls with plan_stale (the pod changed meanwhile).
    mismatches: int = 0
    # The server's rules decide this action, whatever the diagnosis says.
    server_rule: str | None = None
    # The server's action history (what its rules decide with).
    history: list[ActionRecord] = field(default_factory=list)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _plan_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _action_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _looks: int = 0

    def grant(self, approval_id: str) -> None:
        self.granted.add(approval_id)

    def diagnose(self, namespace: str, pod_name: str) -> dict[str, Any]:
        found = self.diagnoses.get(pod_name)
        if found is None or found["namespace"] != namespace:
            return {"success": False, "error": {"code": "not_found", "message": "no such pod"}}
        return copy.deepcopy(found)

    def unhealthy_pods(self, namespace: str | None) -> dict[str, Any]:
        """The answer in the contract's shape (as the server publishes it)."""
        pods = [p for p in self.list_unhealthy() if namespace in (None, p["namespace"])]
        answer = {"namespace": namespace, "synced": True, "pods": pods}
        return ListUnhealthyResult.model_validate(answer).model_dump()

    def execute(
        self,
        namespace: str,
        pod_name: str,
        action: str | None = None,
        approval_id: str | None = None,
        plan_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """auto_heal_pod: the given plan, or the server's own plan for the pod."""
        if plan_id is None:
            planned = self.plan(namespace, pod_name, action)
            if not planned["success"]:
                return planned
            plan_id = planned["plan_id"]
        return self.heal(namespace, pod_name, plan_id, approval_id, idempotency_key)

    def list_unhealthy(self) -> list[dict[str, Any]]:
        index = min(self._looks, len(self.unhealthy) - 1)
        self._looks += 1
        return copy.deepcopy(self.unhealthy[index])

    def plan(self, namespace: str, pod_name: str, action: str | None) -> dict[str, Any]:
        self.plan_calls.append({"namespace": namespace, "pod": pod_name, "action": action})
        found = self.diagnoses.get(pod_name)
        if found is None or found["namespace"] != namespace:
            return {"success": False, "error": {"code": "not_found", "message": "no such pod"}}
        diagnosis = Diagnosis.model_validate(found)
        mine = tuple(
            r
            for r in self.history
            if r.namespace == namespace and r.workload == workload_key(diagnosis)
        )
        context = DecisionContext(policy=POLICY, recent_actions=mine, caller="kubemedic-agent")
        rule = decide(diagnosis, context)
        if self.server_rule is not None:
            rule = rule._replace(
                action=Action(self.server_rule),
                reason="still crash-looping after the pod was deleted",
                alternatives=(),
            )
        chosen = rule
        if action is not None:
            gated = gate(rule, LLMProposal(action=action))
            if gated.vetoed:
                return {
                    "success": False,
                    "error": {
                        "code": "vetoed",
                        "message": gated.veto_reason or "not allowed",
                        "rule_action": rule.action.value,
                        "rule_reason": rule.reason,
                    },
                }
            chosen = gated.decision
        plan_id = f"plan-{next(self._plan_ids)}"
        act = chosen.action.value
        plan = {
            "success": True,
            "plan_id": plan_id,
            "action": act,
            "target": chosen.target.to_dict(),
            "pod": {"namespace": namespace, "name": pod_name},
            "parameters": dict(chosen.parameters),
            "requires_approval": act in WRITES and act not in self.auto_approve,
            "writes": act in WRITES,
            "reason": chosen.reason,
            "decision": rule.to_dict() if action is None else chosen.to_dict(),
            "workload": workload_key(diagnosis),
        }
        self.plans[plan_id] = plan
        return copy.deepcopy(plan)

    def heal(
        self,
        namespace: str,
        pod_name: str,
        plan_id: str | None,
        approval_id: str | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        plan = self.plans.get(plan_id or "")
        act = None if plan is None else plan["action"]
        self.heal_calls.append(
            {
                "namespace": namespace,
                "pod": pod_name,
                "action": act,
                "approval_id": approval_id,
                "plan_id": plan_id,
            }
        )
        if idempotency_key in self.keys:
            return {**copy.deepcopy(self.keys[idempotency_key]), "replayed": True}
        if pod_name not in self.diagnoses:
            return {"success": False, "error": {"code": "not_found", "message": "no such pod"}}
        if plan is None or act is None:
            return {"success": False, "error": {"code": "plan_not_found", "message": "no plan"}}
        if self.mismatches > 0:
            self.mismatches -= 1
            return {
                "success": False,
                "error": {"code": "plan_stale", "message": "the pod changed", "plan_id": plan_id},
            }
        if act in WRITES and act not in self.auto_approve:
            if approval_id is None:
                approval = next(
                    (
                        a
                        for a in self.approvals.values()
                        if a["plan_id"] == plan_id and a["status"] == "pending"
                    ),
                    None,
                )
                if approval is None:
                    approval = {
                        "id": f"appr-{next(self._ids)}",
                        "action": act,
                        "pod": pod_name,
                        "plan_id": plan_id,
                        "status": "pending",
                    }
                    self.approvals[approval["id"]] = approval
                return {
                    "success": False,
                    "error": {
                        "code": "approval_required",
                        "message": f"{act} needs a human approval",
                        "approval_id": approval["id"],
                        "plan_id": plan_id,
                        "action": act,
                        "target": {"kind": "Pod", "namespace": namespace, "name": pod_name},
                        "parameters": plan["parameters"],
                        "reason": "scripted",
                        "risk": "low",
                    },
                }
            if approval_id in self.consumed:
                return {"success": False, "error": {"code": "approval_used", "message": "used"}}
            if approval_id not in self.granted:
                return {
                    "success": False,
                    "error": {"code": "approval_not_granted", "message": "not granted"},
                }
            if self.approvals.get(approval_id, {}).get("plan_id") not in (None, plan_id):
                return {
                    "success": False,
                    "error": {"code": "approval_mismatch", "message": "another plan"},
                }
            self.consumed.add(approval_id)
        action_id = None
        if act in WRITES:
            action_id = f"act-{next(self._action_ids)}"
            self.writes.append({"action": act, "pod": pod_name, "approval_id": approval_id})
            record = ActionRecord(
                at=datetime.now(UTC),
                namespace=namespace,
                workload=str(plan["workload"]),
                action=act,
                outcome="executed",
            )
            self.history.append(record)
            self.actions[action_id] = {
                "workload": plan["workload"],
                "namespace": namespace,
                "record": len(self.history) - 1,
                "healthy": 0,
                "unhealthy": 0,
                "status": "pending",
            }
            if pod_name in self.replacements:
                new_pod, diagnosis = self.replacements.pop(pod_name)
                self.diagnoses[new_pod] = diagnosis
        answer = {
            "success": True,
            "action_taken": act,
            "pod_name": pod_name,
            "namespace": namespace,
            "reason": f"scripted {act}",
            "dry_run": False,
            "plan_id": plan_id,
            "action_id": action_id,
            "verification": {"status": "pending" if action_id else "not_applicable"},
        }
        if idempotency_key is not None:
            self.keys[idempotency_key] = answer
        return copy.deepcopy(answer)

    def status(self, action_id: str) -> dict[str, Any]:
        """Verify from the unhealthy-pod sequence: healthy twice running is healed,
        unhealthy three times is not."""
        action = self.actions.get(action_id)
        if action is None:
            return {"success": False, "error": {"code": "action_not_found", "message": "?"}}
        if action["status"] == "pending":
            broken = [
                p
                for p in self.list_unhealthy()
                if p["namespace"] == action["namespace"]
                and "{kind}/{name}".format(**p["workload"]) == action["workload"]
            ]
            if broken:
                action["healthy"] = 0
                action["unhealthy"] += 1
            else:
                action["healthy"] += 1
            if action["healthy"] >= 2:
                action["status"] = "healed"
            elif action["unhealthy"] >= 3:
                action["status"] = "not_healed"
            if action["status"] != "pending":
                index = action["record"]
                self.history[index] = replace(self.history[index], outcome=action["status"])
        return {
            "success": True,
            "action_id": action_id,
            "outcome": "applied",
            "verification": {
                "status": action["status"],
                "action_id": action_id,
                "message": f"scripted: {action['status']}",
            },
        }


def scripted_server(cluster: ScriptedCluster) -> FastMCP:
    server = FastMCP("scripted-kubemedic")
    read_only = ToolAnnotations(readOnlyHint=True, destructiveHint=False)
    destructive = ToolAnnotations(readOnlyHint=False, destructiveHint=True)

    @server.tool(annotations=read_only)
    def diagnose_pod(
        namespace: str, pod_name: str, check_logs: bool = True, check_events: bool = True
    ) -> dict[str, Any]:
        """Diagnose one pod."""
        return cluster.diagnose(namespace, pod_name)

    @server.tool(annotations=read_only)
    def list_unhealthy_pods(namespace: str | None = None) -> dict[str, Any]:
        """Unhealthy pods from the cache."""
        return cluster.unhealthy_pods(namespace)

    @server.tool(annotations=read_only)
    def plan_healing(namespace: str, pod_name: str, action: str | None = None) -> dict[str, Any]:
        """The server's plan for one pod."""
        return cluster.plan(namespace, pod_name, action)

    @server.tool(annotations=read_only)
    def get_action_status(action_id: str) -> dict[str, Any]:
        """An action's verification."""
        return cluster.status(action_id)

    @server.tool(annotations=destructive)
    def auto_heal_pod(
        namespace: str,
        pod_name: str,
        diagnosis: dict[str, Any] | None = None,
        dry_run: bool = False,
        force: bool = False,
        action: str | None = None,
        approval_id: str | None = None,
        plan_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Heal one pod by executing a plan."""
        return cluster.execute(namespace, pod_name, action, approval_id, plan_id, idempotency_key)

    return server


def unhealthy_pod(
    name: str, workload: str = "Deployment/web", namespace: str = "default"
) -> dict[str, Any]:
    kind, workload_name = workload.split("/", 1)
    entry = UnhealthyPodInfo(
        namespace=namespace,
        pod_name=name,
        issue_type="CrashLoopBackOff",
        workload=WorkloadRef(kind=kind, name=workload_name),
    )
    return entry.model_dump()
