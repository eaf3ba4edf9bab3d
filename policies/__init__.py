"""kubemedic's rule engine: decide, veto, and check safety. Pure code; imports nothing of ours.

Public API (everything below is importable from `policies`):

- `Action` (str enum, the closed set of docs/contracts.md), `Risk`, `WRITE_ACTIONS` /
  `DESTRUCTIVE_ACTIONS`, `is_milder(a, b)`, `parse_action(value)`.
- `Policy` loaded by `load_policy(path | None)` (None: the shipped `policies/default.yaml`;
  `DEMO_POLICY_PATH` is the demo one). Bad files raise `PolicyError` naming the field.
  Set the agent's own namespace with `policy.updated(agent_namespace=ns)` (validated).
- `Diagnosis` (policies.diagnosis, the contract with the diagnostics).
- `DecisionContext(policy, now, recent_actions, global_actions_last_hour, caller, force,
  approval_granted, target_exists)`; `DecisionContext.from_store(store, diagnosis, policy,
  now=..., caller=..., force=..., approval_granted=...)` fills the history from the store.
  Pass `now` from the clock the actions were recorded with (kubesim's clock in the demo):
  cooldowns, hourly limits and the escalation window are measured against it.
- `decide(diagnosis, context) -> Decision`: the rule action with reason, confidence,
  estimated_risk, requires_approval, target (what is written: the Pod, or the owning
  workload), parameters, issue_type, checks (`CheckResult(name, passed, detail, scope)`),
  safety_checks_passed, and `alternatives` (the milder allowed actions, each a full Decision
  with its own checks). `Decision.awaiting_approval` is True when only the approval check
  failed: ask a human, then decide again with `approval_granted=True`.
  `Decision`, `CheckResult` and `Target` are immutable NamedTuples (cheap on the hot path):
  serialise with `to_dict()` (json.dumps of the tuple itself would give a list) and restore
  with `Decision.from_dict()`.
- `allowed_actions(diagnosis, context) -> frozenset[Action]`.
- `gate(rule_decision, LLMProposal | None) -> GateResult(decision, vetoed, veto_reason,
  proposal, source)`. An MCP caller's `action=` goes through the same gate as
  `LLMProposal(action=..., namespace=..., pod_name=...)`.
- Safety checks `check_target_exists`, `check_managed_by_controller`,
  `check_action_fits_issue`, `check_namespace_not_protected`, `check_rate_limit`,
  `check_blast_radius`, `check_approval`, each `(decision, diagnosis, context) ->
  CheckResult`; `run_safety_checks(decision, diagnosis, context) -> list[CheckResult]`.
- `check_rate_limits(limits, total_last_hour=, workload_last_hour=, last_same_action_at=,
  now=, action=, workload=)`: the pure rate-limit rule over the counts, raising
  `RateLimitExceeded(scope)`; the records live in the server's state store
  (`mcp_server.ratelimit_store.RateLimitStore`, which counts and inserts in one transaction so
  two concurrent writers cannot both take the last slot). `ActionHistory` is the read
  interface `DecisionContext.from_store` takes; `workload_key(diagnosis)` (also
  `Decision.workload`) is its per-workload key; `Outcome` the record outcomes (dry_run never
  counts, failed does).

Typical use (the MCP server before a write, the agent's gate):

    policy = load_policy(settings.policy)
    ctx = DecisionContext.from_store(store, diagnosis, policy, now=now, caller=caller)
    result = gate(decide(diagnosis, ctx), proposal)   # proposal may be None
    decision = result.decision
    if decision.awaiting_approval: ...look up / request an approval for (action, target), then
        decide again with approval_granted=True...
    if decision.safety_checks_passed and decision.writes:
        record = store.reserve(ns, decision.workload, decision.action, policy.rate_limits, now)
        ...write...; store.update_outcome(record.id, Outcome.FAILED / HEALED / NOT_HEALED)
"""

from policies.actions import (
    DESTRUCTIVE_ACTIONS,
    MILDNESS,
    WORKLOAD_ACTIONS,
    WRITE_ACTIONS,
    Action,
    Risk,
    is_milder,
    parse_action,
    risk_at_most,
)
from policies.decision import (
    ActionRecord,
    CheckResult,
    Decision,
    DecisionContext,
    Outcome,
    Target,
)
from policies.diagnosis import Diagnosis, IssueType
from policies.facts import workload_key
from policies.gate import GateResult, LLMProposal, gate
from policies.policy import (
    DEFAULT_POLICY_PATH,
    DEMO_POLICY_PATH,
    MemoryPolicy,
    Policy,
    PolicyError,
    RateLimits,
    load_policy,
    parse_memory_quantity,
    policy_from_dict,
)
from policies.ratelimit import ActionHistory, RateLimitExceeded, check_rate_limits
from policies.rules import allowed_actions, decide, new_memory_limit
from policies.safety import (
    CHECK_NAMES,
    check_action_fits_issue,
    check_approval,
    check_blast_radius,
    check_managed_by_controller,
    check_namespace_not_protected,
    check_rate_limit,
    check_target_exists,
    run_safety_checks,
)

__all__ = [
    "CHECK_NAMES",
    "DEFAULT_POLICY_PATH",
    "DEMO_POLICY_PATH",
    "DESTRUCTIVE_ACTIONS",
    "MILDNESS",
    "WORKLOAD_ACTIONS",
    "WRITE_ACTIONS",
    "Action",
    "ActionRecord",
    "CheckResult",
    "Decision",
    "DecisionContext",
    "Diagnosis",
    "GateResult",
    "IssueType",
    "LLMProposal",
    "MemoryPolicy",
    "Outcome",
    "Policy",
    "PolicyError",
    "ActionHistory",
    "RateLimitExceeded",
    "RateLimits",
    "check_rate_limits",
    "Risk",
    "Target",
    "allowed_actions",
    "check_action_fits_issue",
    "check_approval",
    "check_blast_radius",
    "check_managed_by_controller",
    "check_namespace_not_protected",
    "check_rate_limit",
    "check_target_exists",
    "decide",
    "gate",
    "is_milder",
    "load_policy",
    "new_memory_limit",
    "parse_action",
    "parse_memory_quantity",
    "policy_from_dict",
    "risk_at_most",
    "run_safety_checks",
    "workload_key",
]
