"""The rule engine's data: check results, targets, decisions, the context a decision is made in.

Immutable records: NamedTuples for what decide() builds on its hot path (decide + gate run
tens of thousands of times a second, and a NamedTuple is several times cheaper to build than a
frozen dataclass), frozen dataclasses for the rest. `to_dict()` / `from_dict()` give the
JSON-native form for graph state, audit records and MCP answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from policies.actions import WRITE_ACTIONS, Action, Risk
from policies.policy import Policy

if TYPE_CHECKING:
    from policies.diagnosis import Diagnosis
    from policies.ratelimit import ActionHistory

ParamValue = int | str
HOUR = timedelta(hours=1)


class Outcome(StrEnum):
    """What became of a recorded action (the rate-limit store keeps one per write)."""

    EXECUTED = "executed"  # written, not verified (yet)
    HEALED = "healed"  # verified healthy afterwards
    NOT_HEALED = "not_healed"  # written, but verification found the workload still broken
    FAILED = "failed"  # the write itself failed (still counts against the rate limits)
    DRY_RUN = "dry_run"  # nothing written; never counts


# Records that say the action really reached the cluster (what escalation looks at).
HAPPENED: frozenset[str] = frozenset({Outcome.EXECUTED, Outcome.HEALED, Outcome.NOT_HEALED})
# Records that count against rate limits and cooldowns: every attempted write.
COUNTED: frozenset[str] = HAPPENED | {Outcome.FAILED}


class CheckResult(NamedTuple):
    """One safety check's verdict. `scope` says which limit tripped (rate limit: global,
    workload or cooldown) so metrics can label it."""

    name: str
    passed: bool
    detail: str
    scope: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "scope": self.scope,
        }


class Target(NamedTuple):
    """The object an action writes to (or, for read-only actions, the pod it is about)."""

    kind: str
    namespace: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One row of the rate-limit store."""

    at: datetime
    namespace: str
    workload: str  # workload_key(): "Deployment/web", or "Pod/name" for a bare pod
    action: str
    outcome: str
    id: int | None = None


NO_PARAMETERS: Mapping[str, ParamValue] = MappingProxyType({})


class Decision(NamedTuple):
    """What the rules decided for one diagnosis, with the safety checks for that action.

    `parameters` holds what the write needs: `pod_uid` (delete preconditions), `container`,
    `memory_limit_bytes` and `previous_memory_limit_bytes`, `replicas` and `from_replicas`,
    `revision` (rollback target). `alternatives` are the milder actions the rules also allow
    for this diagnosis, each a full Decision with its own checks (the gate picks among them).
    """

    action: Action
    reason: str
    confidence: float
    estimated_risk: Risk
    requires_approval: bool
    safety_checks_passed: bool
    checks: tuple[CheckResult, ...]
    target: Target
    pod: Target  # the pod the diagnosis is about
    workload: str  # rate-limit key of the owning workload (workload_key)
    parameters: Mapping[str, ParamValue] = NO_PARAMETERS
    issue_type: str | None = None
    alternatives: tuple[Decision, ...] = ()

    @property
    def writes(self) -> bool:
        return self.action in WRITE_ACTIONS

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(check.name for check in self.checks if not check.passed)

    @property
    def awaiting_approval(self) -> bool:
        """Everything passed except the approval: ask a human, then decide again with it."""
        return self.failed_checks == ("approval",)

    @property
    def allowed_actions(self) -> frozenset[Action]:
        return frozenset({self.action, *(alt.action for alt in self.alternatives)})

    def alternative(self, action: Action) -> Decision | None:
        """This decision if `action` is its own, else the milder alternative for `action`."""
        if action is self.action:
            return self
        for alt in self.alternatives:
            if alt.action is action:
                return alt
        return None

    def check(self, name: str) -> CheckResult | None:
        for item in self.checks:
            if item.name == name:
                return item
        return None

    def with_parameters(self, reason: str, **updates: ParamValue) -> Decision:
        return self._replace(reason=reason, parameters={**self.parameters, **updates})

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "reason": self.reason,
            "confidence": self.confidence,
            "estimated_risk": self.estimated_risk.value,
            "requires_approval": self.requires_approval,
            "safety_checks_passed": self.safety_checks_passed,
            "checks": [check.to_dict() for check in self.checks],
            "target": self.target.to_dict(),
            "pod": self.pod.to_dict(),
            "workload": self.workload,
            "parameters": dict(self.parameters),
            "issue_type": self.issue_type,
            "alternatives": [alt.to_dict() for alt in self.alternatives],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Rebuild a Decision from `to_dict()` output (e.g. restored graph state)."""
        return cls(
            action=Action(data["action"]),
            reason=str(data["reason"]),
            confidence=float(data["confidence"]),
            estimated_risk=Risk(data["estimated_risk"]),
            requires_approval=bool(data["requires_approval"]),
            safety_checks_passed=bool(data["safety_checks_passed"]),
            checks=tuple(
                CheckResult(c["name"], bool(c["passed"]), c["detail"], c.get("scope"))
                for c in data["checks"]
            ),
            target=Target(**data["target"]),
            pod=Target(**data["pod"]),
            workload=str(data["workload"]),
            parameters=dict(data.get("parameters") or {}),
            issue_type=data.get("issue_type"),
            alternatives=tuple(cls.from_dict(alt) for alt in data.get("alternatives") or ()),
        )


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything besides the diagnosis that a decision and its checks depend on.

    `recent_actions`: this workload's records from the rate-limit store (at least the last
    hour and the policy's escalation window); `global_actions_last_hour`: all counted writes
    in the last hour. `target_exists=False` (the caller looked and the object is gone) fails
    check_target_exists; None means "as far as the diagnosis says". Build it with
    `DecisionContext.from_store(...)` to have the store fill in the history.
    """

    policy: Policy
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    recent_actions: tuple[ActionRecord, ...] = ()
    global_actions_last_hour: int = 0
    caller: str | None = None
    force: bool = False
    approval_granted: bool = False
    target_exists: bool | None = None

    @classmethod
    def from_store(
        cls,
        store: ActionHistory,
        diagnosis: Diagnosis,
        policy: Policy,
        *,
        now: datetime | None = None,
        caller: str | None = None,
        force: bool = False,
        approval_granted: bool = False,
        target_exists: bool | None = None,
    ) -> DecisionContext:
        from policies.facts import workload_key

        moment = now or datetime.now(UTC)
        window = max(HOUR, timedelta(seconds=policy.escalation_window_seconds))
        recent = store.recent_actions(
            diagnosis.namespace, workload_key(diagnosis), since=moment - window
        )
        return cls(
            policy=policy,
            now=moment,
            recent_actions=tuple(recent),
            global_actions_last_hour=store.count_since(moment - HOUR),
            caller=caller,
            force=force,
            approval_granted=approval_granted,
            target_exists=target_exists,
        )

    def actions_since(self, since: datetime, outcomes: Iterable[str]) -> list[ActionRecord]:
        wanted = frozenset(outcomes)
        return [r for r in self.recent_actions if r.at >= since and r.outcome in wanted]
