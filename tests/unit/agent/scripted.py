"""A scripted MCP server for the graph's unit tests: the real MCP protocol and adapters, with
tool answers taken from a small in-memory cluster model instead of kubesim.

It answers like the real server's contract (docs/contracts.md): a write action without a
granted approval gets `approval_required` with an approval id and writes nothing; a granted
approval is consumed once.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

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
    # Successive answers of list_unhealthy_pods (the last one repeats).
    unhealthy: list[list[dict[str, Any]]] = field(default_factory=lambda: [[]])
    auto_approve: set[str] = field(default_factory=set)
    granted: set[str] = field(default_factory=set)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    consumed: set[str] = field(default_factory=set)
    writes: list[dict[str, Any]] = field(default_factory=list)
    heal_calls: list[dict[str, Any]] = field(default_factory=list)
    # After a write: the pod that replaces the acted-on one (and its diagnosis), if any.
    replacements: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    # Answer the next N heal calls with diagnosis_mismatch (the pod changed meanwhile).
    mismatches: int = 0
    # Veto every heal with this rule action (the server's rules decided otherwise).
    server_rule: str | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _looks: int = 0

    def grant(self, approval_id: str) -> None:
        self.granted.add(approval_id)

    def list_unhealthy(self) -> list[dict[str, Any]]:
        index = min(self._looks, len(self.unhealthy) - 1)
        self._looks += 1
        return copy.deepcopy(self.unhealthy[index])

    def heal(
        self, namespace: str, pod_name: str, action: str | None, approval_id: str | None
    ) -> dict[str, Any]:
        self.heal_calls.append(
            {"namespace": namespace, "pod": pod_name, "action": action, "approval_id": approval_id}
        )
        if pod_name not in self.diagnoses:
            return {"success": False, "error": {"code": "not_found", "message": "no such pod"}}
        if self.server_rule is not None and action not in (None, self.server_rule):
            return {
                "success": False,
                "error": {
                    "code": "vetoed",
                    "message": f"{action} is not allowed here",
                    "rule_action": self.server_rule,
                    "rule_reason": "still crash-looping after the pod was deleted",
                },
            }
        if self.mismatches > 0:
            self.mismatches -= 1
            return {
                "success": False,
                "error": {"code": "diagnosis_mismatch", "message": "the pod changed"},
            }
        act = action or "delete_pod"
        if act in WRITES and act not in self.auto_approve:
            if approval_id is None:
                approval = next(
                    (
                        a
                        for a in self.approvals.values()
                        if a["action"] == act and a["pod"] == pod_name and a["status"] == "pending"
                    ),
                    None,
                )
                if approval is None:
                    approval = {
                        "id": f"appr-{next(self._ids)}",
                        "action": act,
                        "pod": pod_name,
                        "status": "pending",
                    }
                    self.approvals[approval["id"]] = approval
                return {
                    "success": False,
                    "error": {
                        "code": "approval_required",
                        "message": f"{act} needs a human approval",
                        "approval_id": approval["id"],
                        "action": act,
                        "target": {"kind": "Pod", "namespace": namespace, "name": pod_name},
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
            self.consumed.add(approval_id)
        if act in WRITES:
            self.writes.append({"action": act, "pod": pod_name, "approval_id": approval_id})
            if pod_name in self.replacements:
                new_pod, diagnosis = self.replacements.pop(pod_name)
                self.diagnoses[new_pod] = diagnosis
        return {
            "success": True,
            "action_taken": act,
            "pod_name": pod_name,
            "namespace": namespace,
            "reason": f"scripted {act}",
            "dry_run": False,
            "verification": {"new_pod_status": "Running", "restart_count": 0, "healthy": True},
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
        found = cluster.diagnoses.get(pod_name)
        if found is None or found["namespace"] != namespace:
            return {"success": False, "error": {"code": "not_found", "message": "no such pod"}}
        return copy.deepcopy(found)

    @server.tool(annotations=read_only)
    def list_unhealthy_pods(namespace: str | None = None) -> dict[str, Any]:
        """Unhealthy pods from the cache."""
        pods = [p for p in cluster.list_unhealthy() if namespace in (None, p["namespace"])]
        return {"success": True, "pods": pods, "count": len(pods)}

    @server.tool(annotations=destructive)
    def auto_heal_pod(
        namespace: str,
        pod_name: str,
        diagnosis: dict[str, Any],
        dry_run: bool = False,
        force: bool = False,
        action: str | None = None,
        approval_id: str | None = None,
    ) -> dict[str, Any]:
        """Heal one pod."""
        return cluster.heal(namespace, pod_name, action, approval_id)

    return server


def unhealthy_pod(
    name: str, workload: str = "Deployment/web", namespace: str = "default"
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "name": name,
        "issue_type": "CrashLoopBackOff",
        "workload": workload,
    }
