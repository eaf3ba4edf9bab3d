"""The decision table (docs/decision-table.md): from a diagnosis to an action and its reason.

`decide()` picks the rule action, adds the milder actions the rules also allow, and runs the
safety checks on each. A missing fact never makes a rule more permissive: when the diagnosis
cannot tell, the answer is `investigate_manually`.
"""

from __future__ import annotations

from policies import rules_kinds, rules_memory, rules_rollout, rules_scheduling
from policies.actions import WRITE_ACTIONS, Action, Risk
from policies.decision import Decision, DecisionContext, Target
from policies.diagnosis import Diagnosis, IssueType
from policies.facts import (
    CONFIG_PROBLEM_TYPES,
    IMAGE_PULL_TYPES,
    PENDING_TYPES,
    Facts,
    facts_of,
)
from policies.rule_context import Choice, RulesContext, clip, investigate, new_memory_limit
from policies.safety import READ_ONLY_CHECKS, auto_approved, checks_for

__all__ = ["Choice", "allowed_actions", "decide", "new_memory_limit"]

# A Job's or CronJob's pods: never deleted, never retried by the server.
JOB_KINDS = frozenset({"Job", "CronJob"})
# Findings about a pod's owner and surroundings that no write remedies.
SURROUNDING_TYPES = frozenset(
    {
        IssueType.SERVICE_NO_READY_ENDPOINTS,
        IssueType.STATEFULSET_ROLLOUT_STUCK,
        IssueType.DAEMONSET_PODS_MISSING,
        IssueType.CRONJOB_FAILING,
        IssueType.JOB_FAILED,
    }
)


class _Rules(RulesContext):
    """The order of the table's rows; each row lives with its kin in a rules_* module."""

    def choose(self) -> Choice:
        f = self.f
        if not f.success:
            return investigate("the diagnosis did not succeed; nothing to act on", None)
        issues = f.issues
        if not issues:
            return Choice(Action.NONE, "no issues detected", 1.0, Risk.LOW, None)
        types = self.f.types
        workload = self.f.workload
        if workload is not None and workload.kind in JOB_KINDS and not self.in_job_guard:
            return rules_kinds.job(self)
        if self.f.evicted:
            return rules_kinds.evicted(self)
        if IssueType.NODE_NOT_READY in types:
            return rules_kinds.node_not_ready(self)
        if IssueType.PVC_PENDING in types:
            return rules_kinds.pvc_pending(self)
        if types & PENDING_TYPES:
            return rules_scheduling.pending(self)
        if types & IMAGE_PULL_TYPES:
            return rules_rollout.image_pull(self)
        if self.f.oom:
            return rules_memory.oom(self)
        if types & CONFIG_PROBLEM_TYPES:
            return rules_rollout.config_problem(self)
        if IssueType.CRASH_LOOP in types:
            return rules_rollout.crash_loop(self)
        if IssueType.PREDICTED_OOM in types:
            return rules_memory.predicted_oom(self)
        surroundings = types & SURROUNDING_TYPES
        if surroundings:
            return rules_kinds.surroundings(self, surroundings)
        if all(issue.severity == "info" for issue in issues):
            listed = ", ".join(sorted(types))
            return Choice(Action.NONE, f"only advisory findings: {listed}", 0.9, Risk.LOW, None)
        first = next(i for i in issues if i.severity != "info")
        detail = clip(first.message or "see the diagnosis")
        return investigate(
            f"{clip(first.type)}: no automatic remedy; {detail}",
            first.type,
            0.8,
        )

    # -- the branches ---------------------------------------------------------------------


def _finish(
    choice: Choice, diagnosis: Diagnosis, context: DecisionContext, facts: Facts, pod: Target
) -> Decision:
    milder = choice.milder
    alternatives = (
        tuple([_finish(m, diagnosis, context, facts, pod) for m in milder]) if milder else ()
    )
    if choice.action not in WRITE_ACTIONS:  # read-only: nothing to approve, checks are constant
        return Decision(
            choice.action,
            choice.reason,
            choice.confidence,
            choice.risk,
            False,
            True,
            READ_ONLY_CHECKS[choice.action],
            choice.target or pod,
            pod,
            facts.key,
            choice.parameters,
            choice.issue_type,
            alternatives,
        )
    policy = context.policy
    requires_approval = not auto_approved(
        choice.action, choice.risk, choice.issue_type, policy
    ) and not (context.force and context.caller in policy.trusted_callers)
    target = choice.target or pod
    draft = Decision(
        choice.action,
        choice.reason,
        choice.confidence,
        choice.risk,
        requires_approval,
        False,
        (),
        target,
        pod,
        facts.key,
        choice.parameters,
        choice.issue_type,
        alternatives,
    )
    # The checks read the decision, so it is built twice: without and then with its checks.
    checks = checks_for(draft, diagnosis, context, facts)
    return Decision(
        choice.action,
        choice.reason,
        choice.confidence,
        choice.risk,
        requires_approval,
        all([c.passed for c in checks]),
        checks,
        target,
        pod,
        facts.key,
        choice.parameters,
        choice.issue_type,
        alternatives,
    )


def decide(diagnosis: Diagnosis, context: DecisionContext) -> Decision:
    """The rule decision for a diagnosis, its milder alternatives, and their safety checks."""
    facts = facts_of(diagnosis)
    pod = Target("Pod", facts.namespace, facts.pod_name)
    return _finish(_Rules(diagnosis, context, facts).choose(), diagnosis, context, facts, pod)


def allowed_actions(diagnosis: Diagnosis, context: DecisionContext) -> frozenset[Action]:
    """The rule action and the milder ones the rules allow for this diagnosis."""
    choice = _Rules(diagnosis, context, facts_of(diagnosis)).choose()
    return frozenset({choice.action, *(m.action for m in choice.milder)})
