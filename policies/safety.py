"""The safety checks: each a named function `(decision, diagnosis, context) -> CheckResult`.

They run for every decision (and again in the MCP server before every write). Read-only
actions pass every check ("writes nothing"); a write must pass all of them. The checks read
only the diagnosis and the context, never the decision's own claims about itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from policies.actions import WORKLOAD_ACTIONS, WRITE_ACTIONS, Action, Risk, risk_at_most
from policies.decision import COUNTED, HOUR, CheckResult, Decision, DecisionContext
from policies.diagnosis import Diagnosis, IssueType, WorkloadInfo
from policies.facts import (
    CONFIG_PROBLEM_TYPES,
    IMAGE_PULL_TYPES,
    MEMORY_PATCHABLE_KINDS,
    ROLLBACK_KINDS,
    Facts,
    facts_of,
)
from policies.policy import Policy

Check = Callable[[Decision, Diagnosis, DecisionContext], CheckResult]
# The checks proper read the facts computed once per diagnosis; the public check_* wrap them.
_Check = Callable[[Decision, Diagnosis, DecisionContext, Facts], CheckResult]

# The kind of workload each workload-level action can write to.
WORKLOAD_KINDS: dict[Action, frozenset[str]] = {
    Action.ROLLBACK_DEPLOYMENT: ROLLBACK_KINDS,
    Action.SCALE_DOWN_DEPLOYMENT: frozenset({"Deployment"}),
    Action.INCREASE_MEMORY_LIMIT: MEMORY_PATCHABLE_KINDS,
}

TARGET_EXISTS = "target_exists"
MANAGED_BY_CONTROLLER = "managed_by_controller"
ACTION_FITS_ISSUE = "action_fits_issue"
NAMESPACE_NOT_PROTECTED = "namespace_not_protected"
RATE_LIMIT = "rate_limit"
BLAST_RADIUS = "blast_radius"
APPROVAL = "approval"


def _target_exists(d: Decision, diag: Diagnosis, ctx: DecisionContext, f: Facts) -> CheckResult:
    """The pod (and for workload actions, the workload and revision) exists."""
    name = TARGET_EXISTS
    if ctx.target_exists is False:
        return CheckResult(name, False, f"{d.target} no longer exists")
    namespace, pod_name = f.namespace, f.pod_name
    if not f.success or not pod_name or diag.phase == "NotFound":
        return CheckResult(name, False, f"pod {namespace}/{pod_name} was not found")
    pod = d.pod
    if pod.namespace != namespace or pod.name != pod_name:
        return CheckResult(name, False, f"decision is about {pod}, the diagnosis about another pod")
    if d.action in WORKLOAD_ACTIONS:
        workload = f.workload
        if workload is None:
            return CheckResult(name, False, "no owning workload was found")
        wanted = (workload.kind, namespace, workload.name)
        if (d.target.kind, d.target.namespace, d.target.name) != wanted:
            return CheckResult(name, False, f"{d.target} is not the pod's workload")
        if d.action is Action.ROLLBACK_DEPLOYMENT and workload.rollout.previous_revision is None:
            return CheckResult(name, False, f"{d.target} has no earlier revision to return to")
    elif d.target != pod:
        return CheckResult(name, False, f"{d.action} writes the pod, not {d.target}")
    target = d.target
    return CheckResult(name, True, f"{target.kind} {target.name} exists")


def _managed_by_controller(
    d: Decision, diag: Diagnosis, ctx: DecisionContext, f: Facts
) -> CheckResult:
    """A controller owns the pod (owner chain resolved), so what we remove comes back."""
    name = MANAGED_BY_CONTROLLER
    workload = f.workload
    if workload is None or not diag.owner_chain:
        return CheckResult(name, False, f"bare pod {f.pod_name}: no controller would recreate it")
    kinds = WORKLOAD_KINDS.get(d.action)
    if kinds is not None and workload.kind not in kinds:
        return CheckResult(
            name, False, f"{d.action} needs a {'/'.join(sorted(kinds))}, not a {workload.kind}"
        )
    return CheckResult(name, True, f"owned by {f.key}")


def _fits(action: Action, diag: Diagnosis, ctx: DecisionContext, f: Facts) -> str | None:
    """Why `action` fits the diagnosis' issue types, or None when it does not."""
    types = f.types
    if action is Action.DELETE_POD:
        restarts = f.restarts
        if (
            restarts > ctx.policy.restart_threshold
            and not f.oom
            and not types & CONFIG_PROBLEM_TYPES
        ):
            return f"CrashLoopBackOff with {restarts} restarts"
        return None
    if action is Action.DELETE_EVICTED_POD:
        return "pod was evicted" if f.evicted else None
    if action is Action.INCREASE_MEMORY_LIMIT:
        if f.oom:
            return "container was OOM-killed"
        if IssueType.PREDICTED_OOM in types:
            return "container is predicted to be OOM-killed"
        return None
    if action is Action.SCALE_DOWN_DEPLOYMENT:
        sched = diag.scheduling
        if IssueType.PENDING in types and sched is not None and sched.insufficient:
            return f"Pending on insufficient {', '.join(sched.insufficient)}"
        return None
    if action is Action.ROLLBACK_DEPLOYMENT:
        workload = f.workload
        if workload is None or workload.rollout.previous_revision is None:
            return None
        rollout = workload.rollout
        if IssueType.CRASH_LOOP in types and rollout.failure_began_with_latest_rollout:
            return "crash loop began with the latest rollout"
        if types & IMAGE_PULL_TYPES and rollout.image_changed_in_latest_rollout:
            return "image changed in the latest rollout cannot be pulled"
        return None
    return "writes nothing"


def _action_fits_issue(d: Decision, diag: Diagnosis, ctx: DecisionContext, f: Facts) -> CheckResult:
    """The action is one that can remedy the diagnosed issue type."""
    why = _fits(d.action, diag, ctx, f)
    if why is None:
        found = ", ".join(sorted(f.types)) or "no issues"
        return CheckResult(ACTION_FITS_ISSUE, False, f"{d.action} does not fit {found}")
    return CheckResult(ACTION_FITS_ISSUE, True, why)


def _namespace_not_protected(
    d: Decision, diag: Diagnosis, ctx: DecisionContext, f: Facts
) -> CheckResult:
    """Neither the pod's nor the target's namespace is protected (kube-*, listed, the agent's)."""
    name = NAMESPACE_NOT_PROTECTED
    own = f.namespace
    policy = ctx.policy
    if policy.is_protected(own):
        return CheckResult(name, False, f"namespace {own} is protected")
    target = d.target.namespace
    if target != own and policy.is_protected(target):
        return CheckResult(name, False, f"namespace {target} is protected")
    return CheckResult(name, True, f"namespace {own} is not protected")


def _rate_limit(d: Decision, diag: Diagnosis, ctx: DecisionContext, f: Facts) -> CheckResult:
    """Per hour, global and per workload; and a cooldown between repeats on one workload."""
    name = RATE_LIMIT
    limits = ctx.policy.rate_limits
    if ctx.global_actions_last_hour >= limits.global_per_hour:
        return CheckResult(
            name,
            False,
            f"{ctx.global_actions_last_hour} actions in the last hour, limit "
            f"{limits.global_per_hour}",
            "global",
        )
    key = f.key
    if not ctx.recent_actions:  # the common case: no history, nothing to count
        return CheckResult(
            name,
            True,
            f"{ctx.global_actions_last_hour}/{limits.global_per_hour} global, "
            f"0/{limits.per_workload_per_hour} on {key} this hour",
        )
    mine = [
        r
        for r in ctx.recent_actions
        if r.workload == key and r.namespace == f.namespace and r.outcome in COUNTED
    ]
    last_hour = [r for r in mine if r.at >= ctx.now - HOUR]
    if len(last_hour) >= limits.per_workload_per_hour:
        return CheckResult(
            name,
            False,
            f"{len(last_hour)} actions on {key} in the last hour, limit "
            f"{limits.per_workload_per_hour}",
            "workload",
        )
    cooldown = timedelta(seconds=limits.cooldown_per_workload_seconds)
    same = [r for r in mine if r.action == d.action and r.at > ctx.now - cooldown]
    if same:
        wait = (max(r.at for r in same) + cooldown - ctx.now).total_seconds()
        return CheckResult(
            name, False, f"{d.action} on {key} is cooling down for {wait:.0f}s more", "cooldown"
        )
    return CheckResult(
        name,
        True,
        f"{ctx.global_actions_last_hour}/{limits.global_per_hour} global, "
        f"{len(last_hour)}/{limits.per_workload_per_hour} on {key} this hour",
    )


def _pdb_words(workload: WorkloadInfo) -> str:
    return f"PodDisruptionBudget {workload.pdb_name or ''}".rstrip()


def _delete_blast_radius(workload: WorkloadInfo, ready: bool) -> CheckResult:
    """One pod deleted: a ready one only within the budget and maxUnavailable."""
    name = BLAST_RADIUS
    budget = workload.pdb_disruptions_allowed
    pdb = _pdb_words(workload)
    if not ready:
        # As the eviction API decides (IfHealthyBudget): an unhealthy pod may go unless a
        # budget is already below its healthy minimum.
        if budget is not None and budget < 1 and workload.pdb_healthy_budget_met is not True:
            return CheckResult(
                name,
                False,
                f"{pdb} allows no disruption and is not at its healthy minimum: "
                "the eviction API would refuse even this unhealthy pod",
            )
        return CheckResult(
            name, True, "the pod is not serving; deleting it removes no available replica"
        )
    if budget is not None and budget < 1:
        return CheckResult(name, False, f"{pdb} allows no disruption now")
    if workload.max_unavailable is not None:
        unavailable = workload.replicas - workload.available_replicas + 1
        if unavailable > workload.max_unavailable:
            return CheckResult(
                name,
                False,
                f"{unavailable} replicas would be unavailable, maxUnavailable is "
                f"{workload.max_unavailable}",
            )
    return CheckResult(name, True, "one ready replica may go while the controller replaces it")


def _scale_down_blast_radius(
    d: Decision, ctx: DecisionContext, workload: WorkloadInfo
) -> CheckResult:
    """Scaling down: not below the policy's minimum, nor take more than the budget allows."""
    name = BLAST_RADIUS
    budget = workload.pdb_disruptions_allowed
    replicas = d.parameters.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        return CheckResult(name, False, "no target replica count")
    if replicas < ctx.policy.min_replicas:
        return CheckResult(
            name,
            False,
            f"{replicas} replicas is below the minimum of {ctx.policy.min_replicas}",
        )
    lost = max(0, workload.available_replicas - replicas)
    if budget is not None and lost > budget:
        return CheckResult(
            name,
            False,
            f"scaling to {replicas} removes {lost} available, {_pdb_words(workload)} "
            f"allows {budget}",
        )
    return CheckResult(name, True, f"scaling to {replicas} removes {lost} available replicas")


def _rollout_blast_radius(workload: WorkloadInfo) -> CheckResult:
    """A template change rolls the pods: at most maxUnavailable of the available go at once."""
    name = BLAST_RADIUS
    budget = workload.pdb_disruptions_allowed
    pdb = _pdb_words(workload)
    if budget is not None:
        if workload.max_unavailable is None:
            return CheckResult(
                name, False, f"{pdb} set, but the rollout's maxUnavailable is unknown"
            )
        at_once = min(workload.max_unavailable, workload.available_replicas)
        if at_once > budget:
            return CheckResult(
                name,
                False,
                f"the rollout may take {at_once} available replicas, {pdb} allows {budget}",
            )
    return CheckResult(name, True, "the rolling update keeps within maxUnavailable")


def _blast_radius(d: Decision, diag: Diagnosis, ctx: DecisionContext, f: Facts) -> CheckResult:
    """Never take the workload below what its PodDisruptionBudget or maxUnavailable allows."""
    workload = f.workload
    if workload is None:
        return CheckResult(BLAST_RADIUS, False, "no workload: cannot bound the blast radius")
    if d.action is Action.DELETE_EVICTED_POD:
        return CheckResult(BLAST_RADIUS, True, "an evicted pod is already gone from service")
    if d.action is Action.DELETE_POD:
        return _delete_blast_radius(workload, f.ready)
    if d.action is Action.SCALE_DOWN_DEPLOYMENT:
        return _scale_down_blast_radius(d, ctx, workload)
    return _rollout_blast_radius(workload)


# Acting on a prediction (nothing has failed yet) always asks a human, whatever the policy
# auto-approves.
NEVER_AUTO_APPROVED_ISSUES = frozenset({IssueType.PREDICTED_OOM})


def auto_approved(action: Action, risk: Risk, issue_type: str | None, policy: Policy) -> bool:
    """The policy auto-approves this action class at this risk, for this issue type."""
    return (
        action in policy.auto_approve
        and risk_at_most(risk, policy.auto_approve_max_risk)
        and issue_type not in NEVER_AUTO_APPROVED_ISSUES
    )


def _approval(d: Decision, diag: Diagnosis, ctx: DecisionContext, f: Facts) -> CheckResult:
    """Destructive actions need a granted approval, unless the policy auto-approves the class
    (up to its risk ceiling) or a trusted caller forces it."""
    name = APPROVAL
    policy = ctx.policy
    if auto_approved(d.action, d.estimated_risk, d.issue_type, policy):
        return CheckResult(name, True, f"policy {policy.name} auto-approves {d.action}")
    if ctx.force:
        if ctx.caller is not None and ctx.caller in policy.trusted_callers:
            return CheckResult(name, True, f"forced by trusted caller {ctx.caller}")
        return CheckResult(
            name, False, f"caller {ctx.caller or '(anonymous)'} is not trusted to force"
        )
    if ctx.approval_granted:
        return CheckResult(name, True, "approval granted")
    return CheckResult(name, False, f"{d.action} needs a human approval")


_CHECKS: tuple[tuple[str, _Check], ...] = (
    (TARGET_EXISTS, _target_exists),
    (MANAGED_BY_CONTROLLER, _managed_by_controller),
    (ACTION_FITS_ISSUE, _action_fits_issue),
    (NAMESPACE_NOT_PROTECTED, _namespace_not_protected),
    (RATE_LIMIT, _rate_limit),
    (BLAST_RADIUS, _blast_radius),
    (APPROVAL, _approval),
)


def _public(check: _Check) -> Check:
    """The named check `(decision, diagnosis, context) -> CheckResult` for one check proper."""

    def run(decision: Decision, diagnosis: Diagnosis, context: DecisionContext) -> CheckResult:
        return check(decision, diagnosis, context, facts_of(diagnosis))

    run.__name__ = run.__qualname__ = "check" + check.__name__
    run.__doc__ = check.__doc__
    return run


check_target_exists = _public(_target_exists)
check_managed_by_controller = _public(_managed_by_controller)
check_action_fits_issue = _public(_action_fits_issue)
check_namespace_not_protected = _public(_namespace_not_protected)
check_rate_limit = _public(_rate_limit)
check_blast_radius = _public(_blast_radius)
check_approval = _public(_approval)

CHECKS: tuple[tuple[str, Check], ...] = (
    (TARGET_EXISTS, check_target_exists),
    (MANAGED_BY_CONTROLLER, check_managed_by_controller),
    (ACTION_FITS_ISSUE, check_action_fits_issue),
    (NAMESPACE_NOT_PROTECTED, check_namespace_not_protected),
    (RATE_LIMIT, check_rate_limit),
    (BLAST_RADIUS, check_blast_radius),
    (APPROVAL, check_approval),
)
CHECK_NAMES: tuple[str, ...] = tuple(name for name, _ in CHECKS)

READ_ONLY_CHECKS: dict[Action, tuple[CheckResult, ...]] = {
    action: tuple(CheckResult(name, True, f"{action} writes nothing") for name in CHECK_NAMES)
    for action in Action
    if action not in WRITE_ACTIONS
}


def run_safety_checks(
    decision: Decision, diagnosis: Diagnosis, context: DecisionContext
) -> list[CheckResult]:
    """All checks, in order, for one decision. Read-only actions pass them all."""
    if decision.action not in WRITE_ACTIONS:
        return list(READ_ONLY_CHECKS[decision.action])
    facts = facts_of(diagnosis)
    return [check(decision, diagnosis, context, facts) for _, check in _CHECKS]


def checks_for(
    decision: Decision, diagnosis: Diagnosis, context: DecisionContext, facts: Facts
) -> tuple[CheckResult, ...]:
    """The checks for a decision under construction (rules.decide), facts computed once."""
    if decision.action not in WRITE_ACTIONS:
        return READ_ONLY_CHECKS[decision.action]
    return (
        _target_exists(decision, diagnosis, context, facts),
        _managed_by_controller(decision, diagnosis, context, facts),
        _action_fits_issue(decision, diagnosis, context, facts),
        _namespace_not_protected(decision, diagnosis, context, facts),
        _rate_limit(decision, diagnosis, context, facts),
        _blast_radius(decision, diagnosis, context, facts),
        _approval(decision, diagnosis, context, facts),
    )
