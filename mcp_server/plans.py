"""A plan: the server's gated decision for one pod, bound to the facts it was made on.

The `plan_id` is a digest of everything that decides the write (action, target with its uid,
parameters, the facts), so an approval granted for a plan is an approval of exactly that
change, and a plan whose facts no longer hold is refused as `plan_stale` instead of being
silently replaced by another decision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """What the decision was made on, re-read before the write."""

    pod_uid: str
    pod_resource_version: str
    # The owning workload's metadata.generation (Deployment), None for actions on the pod.
    workload_generation: int | None
    issue_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    action: str
    target: JSON  # kind, namespace, name, uid
    pod: JSON  # namespace, name, uid: the pod the diagnosis is about
    workload: str  # the rate-limit key of the owning workload
    parameters: JSON
    facts: PlanFacts
    risk: str
    requires_approval: bool
    reason: str
    issue_type: str | None = None
    decision: JSON = field(default_factory=dict)  # Decision.to_dict(), for people
    created_at: float = 0.0
    # The cluster the plan is for when the server serves several (None: the only one).
    cluster: str | None = None

    @property
    def plan_id(self) -> str:
        return plan_digest(self)

    @property
    def namespace(self) -> str:
        return str(self.target.get("namespace") or "")

    def to_dict(self) -> JSON:
        body = asdict(self)
        body["facts"]["issue_types"] = list(self.facts.issue_types)
        body["plan_id"] = self.plan_id
        if self.cluster is None:
            del body["cluster"]  # one cluster: today's format
        return body

    @classmethod
    def from_dict(cls, data: JSON) -> Plan:
        facts = dict(data["facts"])
        facts["issue_types"] = tuple(facts.get("issue_types") or ())
        return cls(
            action=str(data["action"]),
            target=dict(data["target"]),
            pod=dict(data["pod"]),
            workload=str(data["workload"]),
            parameters=dict(data.get("parameters") or {}),
            facts=PlanFacts(**facts),
            risk=str(data.get("risk") or ""),
            requires_approval=bool(data.get("requires_approval")),
            reason=str(data.get("reason") or ""),
            issue_type=data.get("issue_type"),
            decision=dict(data.get("decision") or {}),
            created_at=float(data.get("created_at") or 0.0),
            cluster=data.get("cluster"),
        )


def plan_digest(plan: Plan) -> str:
    """`plan-` + 32 hex digits of SHA-256 over the fields that decide the write."""
    bound = {
        "action": plan.action,
        "target": plan.target,
        "pod": plan.pod,
        "workload": plan.workload,
        "parameters": plan.parameters,
        "facts": {
            "pod_uid": plan.facts.pod_uid,
            "pod_resource_version": plan.facts.pod_resource_version,
            "workload_generation": plan.facts.workload_generation,
            "issue_types": sorted(plan.facts.issue_types),
        },
        "risk": plan.risk,
        "requires_approval": plan.requires_approval,
    }
    if plan.cluster is not None:
        # A plan for one cluster is never the plan (nor the approval) for another.
        bound["cluster"] = plan.cluster
    canonical = json.dumps(bound, sort_keys=True, separators=(",", ":"), default=str)
    return "plan-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
