"""Each safety check on its own, passing and failing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from policies_builders import (
    MI,
    NOW,
    context,
    crash,
    deployment,
    diagnosis,
    issue,
    oom,
    policy,
    resources,
    rollout,
)

from policies import (
    CHECK_NAMES,
    Action,
    ActionRecord,
    Decision,
    Outcome,
    RateLimits,
    Risk,
    Target,
    check_action_fits_issue,
    check_approval,
    check_blast_radius,
    check_managed_by_controller,
    check_namespace_not_protected,
    check_rate_limit,
    check_target_exists,
    decide,
    run_safety_checks,
)
from policies.diagnosis import Diagnosis


def delete_decision(d: Diagnosis | None = None) -> tuple[Decision, Diagnosis]:
    d = d or diagnosis(crash(restarts=5))
    decision = decide(d, context())
    assert decision.action is Action.DELETE_POD
    return decision, d


def as_action(decision: Decision, action: Action, **params: int | str) -> Decision:
    return decision._replace(action=action, parameters=params, alternatives=())


# -- target exists -----


def test_target_exists_passes_for_the_diagnosed_pod() -> None:
    decision, d = delete_decision()
    assert check_target_exists(decision, d, context()).passed


def test_target_gone_per_context_fails() -> None:
    decision, d = delete_decision()
    result = check_target_exists(decision, d, context(target_exists=False))
    assert not result.passed and "no longer exists" in result.detail


def test_target_not_found_in_diagnosis_fails() -> None:
    decision, d = delete_decision()
    missing = d.model_copy(update={"success": False})
    assert not check_target_exists(decision, missing, context()).passed


def test_target_other_pod_fails() -> None:
    decision, d = delete_decision()
    other = decision._replace(
        pod=Target("Pod", "default", "other"), target=Target("Pod", "default", "other")
    )
    assert not check_target_exists(other, d, context()).passed


def test_pod_action_aimed_at_workload_fails() -> None:
    decision, d = delete_decision()
    aimed = decision._replace(target=Target("Deployment", "default", "web"))
    assert not check_target_exists(aimed, d, context()).passed


def test_workload_action_needs_the_pods_own_workload() -> None:
    d = diagnosis(oom(), resources=resources())
    decision = decide(d, context())
    assert check_target_exists(decision, d, context()).passed
    elsewhere = decision._replace(target=Target("Deployment", "default", "payments"))
    assert not check_target_exists(elsewhere, d, context()).passed
    bare = d.model_copy(update={"workload": None})
    assert not check_target_exists(decision, bare, context()).passed


def test_rollback_without_earlier_revision_fails() -> None:
    wl = deployment(rollout={"current_revision": 1})
    d = diagnosis(crash(), workload=wl)
    rb = as_action(decide(d, context()), Action.ROLLBACK_DEPLOYMENT, revision=1)
    rb = rb._replace(target=Target("Deployment", "default", "web"))
    result = check_target_exists(rb, d, context())
    assert not result.passed and "no earlier revision" in result.detail


# -- managed by controller -----


def test_managed_pod_passes_with_owner_chain() -> None:
    decision, d = delete_decision()
    result = check_managed_by_controller(decision, d, context())
    assert result.passed
    assert "Deployment/web" in result.detail


def test_bare_pod_fails() -> None:
    decision, d = delete_decision()
    bare = d.model_copy(update={"workload": None, "owner_chain": []})
    result = check_managed_by_controller(decision, bare, context())
    assert not result.passed and "bare pod" in result.detail


def test_workload_kind_must_fit_action() -> None:
    wl = {"kind": "StatefulSet", "name": "db", "replicas": 3}
    d = diagnosis(crash(), workload=wl)
    scale = as_action(decide(d, context()), Action.SCALE_DOWN_DEPLOYMENT, replicas=2)
    result = check_managed_by_controller(scale, d, context())
    assert not result.passed and "Deployment" in result.detail


# -- action fits issue -----


@pytest.mark.parametrize(
    ("action", "d"),
    [
        (Action.DELETE_POD, diagnosis(crash(restarts=4))),
        (Action.DELETE_EVICTED_POD, diagnosis(issue("Evicted"))),
        (Action.INCREASE_MEMORY_LIMIT, diagnosis(oom())),
        (
            Action.SCALE_DOWN_DEPLOYMENT,
            diagnosis(issue("Pending"), scheduling={"insufficient": ["memory"]}),
        ),
        (
            Action.ROLLBACK_DEPLOYMENT,
            diagnosis(
                crash(),
                workload=deployment(rollout=rollout(failure_began_with_latest_rollout=True)),
            ),
        ),
        (
            Action.ROLLBACK_DEPLOYMENT,
            diagnosis(
                issue("ImagePullBackOff"),
                workload=deployment(rollout=rollout(image_changed_in_latest_rollout=True)),
            ),
        ),
        (Action.INVESTIGATE_MANUALLY, diagnosis()),
    ],
)
def test_action_fits(action: Action, d: Diagnosis) -> None:
    decision = as_action(decide(d, context()), action)
    assert check_action_fits_issue(decision, d, context()).passed


@pytest.mark.parametrize(
    ("action", "d"),
    [
        (Action.DELETE_POD, diagnosis(crash(restarts=3))),  # not above the threshold
        (Action.DELETE_POD, diagnosis(crash(restarts=9), issue("MissingConfigRef"))),
        (Action.DELETE_POD, diagnosis(crash(restarts=9), oom())),
        (Action.DELETE_POD, diagnosis(issue("ImagePullBackOff"))),
        (Action.DELETE_EVICTED_POD, diagnosis(crash())),
        (Action.INCREASE_MEMORY_LIMIT, diagnosis(crash())),
        (Action.SCALE_DOWN_DEPLOYMENT, diagnosis(issue("Pending"))),
        (Action.SCALE_DOWN_DEPLOYMENT, diagnosis(oom())),
        (Action.ROLLBACK_DEPLOYMENT, diagnosis(crash())),  # not from the latest rollout
        (
            Action.ROLLBACK_DEPLOYMENT,
            diagnosis(
                issue("ImagePullBackOff"),
                workload=deployment(rollout={"image_changed_in_latest_rollout": True}),
            ),  # no earlier revision
        ),
    ],
)
def test_action_does_not_fit(action: Action, d: Diagnosis) -> None:
    decision = as_action(decide(d, context()), action)
    result = check_action_fits_issue(decision, d, context())
    assert not result.passed
    assert action.value in result.detail


# -- protected namespace -----


@pytest.mark.parametrize("ns", ["kube-system", "kube-public", "kube-node-lease", "kubemedic"])
def test_protected_namespaces_fail(ns: str) -> None:
    d = diagnosis(crash(), namespace=ns)
    decision = decide(d, context())
    result = check_namespace_not_protected(decision, d, context())
    assert not result.passed and ns in result.detail
    assert not decision.safety_checks_passed
    assert "namespace_not_protected" in decision.failed_checks


def test_agent_namespace_from_policy_is_protected() -> None:
    d = diagnosis(crash(), namespace="ops")
    pol = policy(agent_namespace="ops")
    assert not check_namespace_not_protected(decide(d, context(pol)), d, context(pol)).passed


def test_policy_cannot_unprotect_kube_system() -> None:
    d = diagnosis(crash(), namespace="kube-system")
    pol = policy(protected_namespaces=())
    assert not check_namespace_not_protected(decide(d, context(pol)), d, context(pol)).passed


def test_ordinary_namespace_passes() -> None:
    decision, d = delete_decision()
    assert check_namespace_not_protected(decision, d, context()).passed


# -- rate limit -----


def rec(
    action: Action,
    minutes_ago: float,
    workload: str = "Deployment/web",
    outcome: str = Outcome.EXECUTED,
) -> ActionRecord:
    return ActionRecord(
        NOW - timedelta(minutes=minutes_ago), "default", workload, action.value, outcome
    )


def test_rate_limit_passes_under_limits() -> None:
    decision, d = delete_decision()
    result = check_rate_limit(decision, d, context(global_actions_last_hour=9))
    assert result.passed and "9/10 global" in result.detail


def test_rate_limit_global() -> None:
    decision, d = delete_decision()
    result = check_rate_limit(decision, d, context(global_actions_last_hour=10))
    assert not result.passed and result.scope == "global"


def test_rate_limit_per_workload() -> None:
    decision, d = delete_decision()
    history = (
        rec(Action.INCREASE_MEMORY_LIMIT, 50),
        rec(Action.ROLLBACK_DEPLOYMENT, 40),
        rec(Action.SCALE_DOWN_DEPLOYMENT, 30, outcome=Outcome.FAILED),
    )
    result = check_rate_limit(decision, d, context(recent_actions=history))
    assert not result.passed and result.scope == "workload"


def test_rate_limit_ignores_dry_runs_other_workloads_and_old_records() -> None:
    decision, d = delete_decision()
    history = (
        rec(Action.DELETE_POD, 1, outcome=Outcome.DRY_RUN),
        rec(Action.DELETE_POD, 1, workload="Deployment/api"),
        rec(Action.DELETE_POD, 61),
        rec(Action.DELETE_POD, 70),
        rec(Action.DELETE_POD, 80),
    )
    assert check_rate_limit(decision, d, context(recent_actions=history)).passed


def test_cooldown_per_workload() -> None:
    decision, d = delete_decision()
    result = check_rate_limit(decision, d, context(recent_actions=(rec(Action.DELETE_POD, 2),)))
    assert not result.passed and result.scope == "cooldown"
    assert "180s" in result.detail
    # A different action on the same workload is not held by the cooldown.
    other = (rec(Action.INCREASE_MEMORY_LIMIT, 2),)
    assert check_rate_limit(decision, d, context(recent_actions=other)).passed


def test_cooldown_expires() -> None:
    decision, d = delete_decision()
    pol = policy(rate_limits=RateLimits(cooldown_per_workload_seconds=60))
    ctx = context(pol, recent_actions=(rec(Action.DELETE_POD, 1.5),))
    assert check_rate_limit(decision, d, ctx).passed


# -- blast radius -----


def test_deleting_a_not_ready_pod_is_harmless_while_the_budget_is_met() -> None:
    wl = deployment(pdb_name="web", pdb_disruptions_allowed=0, pdb_healthy_budget_met=True)
    decision, d = delete_decision(diagnosis(crash(), workload=wl, ready=False))
    assert check_blast_radius(decision, d, context()).passed


@pytest.mark.parametrize("met", [False, None])
def test_a_breached_or_unknown_budget_protects_even_a_not_ready_pod(met: bool | None) -> None:
    # The eviction API (IfHealthyBudget) refuses an unhealthy pod while the budget is breached.
    wl = deployment(pdb_name="web", pdb_disruptions_allowed=0, pdb_healthy_budget_met=met)
    decision, d = delete_decision(diagnosis(crash(), workload=wl, ready=False))
    result = check_blast_radius(decision, d, context())
    assert not result.passed
    assert "healthy minimum" in result.detail


def test_a_not_ready_pod_may_go_when_the_budget_allows_disruptions() -> None:
    wl = deployment(pdb_name="web", pdb_disruptions_allowed=1, pdb_healthy_budget_met=None)
    decision, d = delete_decision(diagnosis(crash(), workload=wl, ready=False))
    assert check_blast_radius(decision, d, context()).passed


def test_deleting_a_ready_pod_needs_pdb_room() -> None:
    wl = deployment(pdb_name="web", pdb_disruptions_allowed=0)
    decision, d = delete_decision(diagnosis(crash(), workload=wl, ready=True))
    result = check_blast_radius(decision, d, context())
    assert not result.passed and "PodDisruptionBudget web" in result.detail
    assert d.workload is not None
    roomy = d.model_copy(
        update={"workload": d.workload.model_copy(update={"pdb_disruptions_allowed": 1})}
    )
    assert check_blast_radius(decision, roomy, context()).passed


def test_deleting_a_ready_pod_respects_max_unavailable() -> None:
    wl = deployment(replicas=3, ready=2, max_unavailable=1)
    decision, d = delete_decision(diagnosis(crash(), workload=wl, ready=True))
    result = check_blast_radius(decision, d, context())
    assert not result.passed and "maxUnavailable" in result.detail


def test_unknown_readiness_counts_as_ready() -> None:
    wl = deployment(pdb_name="web", pdb_disruptions_allowed=0)
    d = diagnosis(issue("HighRestartCount", severity="warning"), workload=wl, ready=None)
    decision = as_action(decide(d, context()), Action.DELETE_POD)
    assert not check_blast_radius(decision, d, context()).passed


def test_scale_down_not_below_min_replicas_or_pdb() -> None:
    wl = deployment(replicas=5, ready=3, pdb_name="web", pdb_disruptions_allowed=0)
    d = diagnosis(issue("Pending"), workload=wl)
    base = decide(d, context())
    assert check_blast_radius(
        as_action(base, Action.SCALE_DOWN_DEPLOYMENT, replicas=3), d, context()
    ).passed
    fewer = check_blast_radius(
        as_action(base, Action.SCALE_DOWN_DEPLOYMENT, replicas=2), d, context()
    )
    assert not fewer.passed and "allows 0" in fewer.detail
    zero = check_blast_radius(
        as_action(base, Action.SCALE_DOWN_DEPLOYMENT, replicas=0), d, context()
    )
    assert not zero.passed and "below the minimum" in zero.detail
    missing = check_blast_radius(as_action(base, Action.SCALE_DOWN_DEPLOYMENT), d, context())
    assert not missing.passed


def test_rollout_bounded_by_pdb_and_max_unavailable() -> None:
    def d_with(**wl: object) -> Diagnosis:
        built: Diagnosis = diagnosis(
            oom(), resources=resources(), workload=deployment(replicas=4, ready=4, **wl)
        )
        return built

    d = d_with(pdb_name="web", pdb_disruptions_allowed=1, max_unavailable=2)
    decision = decide(d, context())
    assert decision.action is Action.INCREASE_MEMORY_LIMIT
    assert not check_blast_radius(decision, d, context()).passed
    d = d_with(pdb_name="web", pdb_disruptions_allowed=1, max_unavailable=1)
    assert check_blast_radius(decision, d, context()).passed
    d = d_with(pdb_name="web", pdb_disruptions_allowed=1)  # maxUnavailable unknown
    assert not check_blast_radius(decision, d, context()).passed
    assert check_blast_radius(decision, d_with(), context()).passed


def test_blast_radius_without_workload_fails() -> None:
    decision, d = delete_decision()
    assert not check_blast_radius(
        decision, d.model_copy(update={"workload": None}), context()
    ).passed


# -- approval -----


def test_destructive_needs_approval_by_default() -> None:
    decision, d = delete_decision()
    result = check_approval(decision, d, context())
    assert not result.passed and "approval" in result.detail


def test_granted_approval_passes() -> None:
    decision, d = delete_decision()
    assert check_approval(decision, d, context(approval_granted=True)).passed


def test_auto_approved_class_passes_up_to_risk_ceiling() -> None:
    decision, d = delete_decision()
    pol = policy(auto_approve=frozenset({Action.DELETE_POD}))
    assert check_approval(decision, d, context(pol)).passed
    risky = decision._replace(estimated_risk=Risk.MEDIUM)
    assert not check_approval(risky, d, context(pol)).passed


def test_force_only_from_trusted_caller() -> None:
    decision, d = delete_decision()
    pol = policy(trusted_callers=frozenset({"oncall-bot"}))
    assert check_approval(decision, d, context(pol, force=True, caller="oncall-bot")).passed
    untrusted = check_approval(decision, d, context(pol, force=True, caller="chat-client"))
    assert not untrusted.passed and "not trusted" in untrusted.detail
    assert not check_approval(decision, d, context(pol, force=True)).passed


def test_decide_requires_approval_flag_follows_policy() -> None:
    d = diagnosis(crash())
    assert decide(d, context()).requires_approval
    pol = policy(auto_approve=frozenset({Action.DELETE_POD}))
    auto = decide(d, context(pol))
    assert not auto.requires_approval and auto.safety_checks_passed
    pol = policy(trusted_callers=frozenset({"ops"}))
    assert not decide(d, context(pol, force=True, caller="ops")).requires_approval


# -- all together -----


def test_run_safety_checks_reports_every_check_in_order() -> None:
    decision, d = delete_decision()
    results = run_safety_checks(decision, d, context(approval_granted=True))
    assert [r.name for r in results] == list(CHECK_NAMES)
    assert all(r.passed for r in results)


def test_read_only_actions_pass_every_check() -> None:
    d = diagnosis(crash(restarts=1), namespace="kube-system", workload=None)
    decision = decide(d, context(global_actions_last_hour=999))
    assert decision.action is Action.INVESTIGATE_MANUALLY
    assert decision.safety_checks_passed
    assert all("writes nothing" in c.detail for c in decision.checks)


def test_full_decision_passes_with_approval() -> None:
    d = diagnosis(oom(), resources=resources(limit=64 * MI))
    decision = decide(d, context(approval_granted=True))
    assert decision.safety_checks_passed and decision.failed_checks == ()
