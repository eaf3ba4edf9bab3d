"""The veto: agree, choose milder, or be vetoed with the rule decision standing."""

from __future__ import annotations

from policies_builders import MI, context, crash, deployment, diagnosis, oom, resources, rollout

from policies import Action, Decision, LLMProposal, decide, gate, is_milder

POD = "web-5f7d8c9b4-x2k9p"


def crash_decision() -> Decision:
    return decide(diagnosis(crash(restarts=6)), context())


def oom_decision() -> Decision:
    d = diagnosis(oom(), resources=resources(limit=100 * MI))
    decision = decide(d, context())
    assert decision.parameters["memory_limit_bytes"] == 200 * MI
    return decision


def test_no_proposal_keeps_rule_decision() -> None:
    rule = crash_decision()
    result = gate(rule, None)
    assert result.decision is rule and not result.vetoed and result.source == "rules"


def test_agreeing_proposal() -> None:
    rule = crash_decision()
    result = gate(rule, LLMProposal(action="delete_pod", namespace="default", pod_name=POD))
    assert result.decision is rule and not result.vetoed and result.source == "llm_agreed"


def test_milder_allowed_proposal_wins_with_its_own_checks() -> None:
    rule = crash_decision()
    result = gate(rule, LLMProposal(action="investigate_manually", confidence=0.4))
    assert not result.vetoed and result.source == "llm_milder"
    assert result.decision.action is Action.INVESTIGATE_MANUALLY
    assert result.decision.safety_checks_passed


def test_milder_delete_instead_of_rollback() -> None:
    wl = deployment(
        rollout=rollout(failure_began_with_latest_rollout=True, previous_revision_healthy=True)
    )
    rule = decide(diagnosis(crash(restarts=6), workload=wl), context())
    assert rule.action is Action.ROLLBACK_DEPLOYMENT
    result = gate(rule, LLMProposal(action="delete_pod"))
    assert result.decision.action is Action.DELETE_POD and not result.vetoed
    assert result.decision.target.kind == "Pod"
    assert result.decision.failed_checks == ("approval",)  # the delete still needs a human


def test_more_destructive_proposal_is_vetoed() -> None:
    rule = crash_decision()
    result = gate(rule, LLMProposal(action="rollback_deployment"))
    assert result.vetoed and result.decision is rule
    assert result.veto_reason is not None and "not allowed" in result.veto_reason


def test_unknown_action_is_vetoed() -> None:
    result = gate(crash_decision(), LLMProposal(action="drain_node"))
    assert result.vetoed and "unknown action" in (result.veto_reason or "")


def test_none_is_not_milder_when_rules_see_a_problem() -> None:
    result = gate(crash_decision(), LLMProposal(action="none"))
    assert result.vetoed


def test_other_target_is_vetoed() -> None:
    rule = crash_decision()
    assert gate(rule, LLMProposal(action="delete_pod", namespace="kube-system")).vetoed
    assert gate(rule, LLMProposal(action="delete_pod", pod_name="db-0")).vetoed


def test_claims_about_checks_or_approval_are_vetoed() -> None:
    rule = crash_decision()
    claim = gate(rule, LLMProposal(action="delete_pod", safety_checks_passed=True))
    assert claim.vetoed and claim.decision.failed_checks == ("approval",)
    assert gate(rule, LLMProposal(action="delete_pod", requires_approval=False)).vetoed
    extra = LLMProposal.model_validate({"action": "delete_pod", "force": True})
    result = gate(rule, extra)
    assert result.vetoed and "force" in (result.veto_reason or "")


def test_higher_memory_limit_is_vetoed() -> None:
    rule = oom_decision()
    result = gate(rule, LLMProposal(action="increase_memory_limit", memory_limit_bytes=8 * 2**30))
    assert result.vetoed and result.decision.parameters["memory_limit_bytes"] == 200 * MI


def test_lower_memory_limit_above_current_is_milder() -> None:
    rule = oom_decision()
    result = gate(rule, LLMProposal(action="increase_memory_limit", memory_limit_bytes=128 * MI))
    assert not result.vetoed and result.source == "llm_milder"
    assert result.decision.parameters["memory_limit_bytes"] == 128 * MI
    assert rule.parameters["memory_limit_bytes"] == 200 * MI  # the rule decision is untouched


def test_memory_limit_not_raising_is_vetoed() -> None:
    rule = oom_decision()
    assert gate(
        rule, LLMProposal(action="increase_memory_limit", memory_limit_bytes=100 * MI)
    ).vetoed


def test_same_memory_limit_agrees() -> None:
    rule = oom_decision()
    result = gate(rule, LLMProposal(action="increase_memory_limit", memory_limit_bytes=200 * MI))
    assert result.source == "llm_agreed" and result.decision is rule


def test_memory_limit_on_other_action_is_vetoed() -> None:
    assert gate(crash_decision(), LLMProposal(action="delete_pod", memory_limit_bytes=MI)).vetoed


def test_action_names_are_normalised() -> None:
    assert not gate(crash_decision(), LLMProposal(action=" Delete_Pod ")).vetoed


def test_gate_result_serialises() -> None:
    result = gate(crash_decision(), LLMProposal(action="rollback_deployment"))
    data = result.to_dict()
    assert data["vetoed"] is True
    assert data["decision"]["action"] == "delete_pod"
    assert data["proposal"]["action"] == "rollback_deployment"
    assert Decision.from_dict(data["decision"]) == result.decision


def test_is_milder() -> None:
    assert is_milder(Action.INVESTIGATE_MANUALLY, Action.DELETE_POD)
    assert is_milder(Action.DELETE_POD, Action.ROLLBACK_DEPLOYMENT)
    assert is_milder(Action.INVESTIGATE_MANUALLY, Action.CHECK_IMAGE_AVAILABILITY)
    assert not is_milder(Action.CHECK_IMAGE_AVAILABILITY, Action.INVESTIGATE_MANUALLY)
    assert not is_milder(Action.SCALE_DOWN_DEPLOYMENT, Action.INCREASE_MEMORY_LIMIT)
    assert not is_milder(Action.DELETE_POD, Action.DELETE_POD)
