"""The veto: an LLM (or any caller) may agree with the rules or pick a milder allowed action.

Anything else (an action the rules do not allow for this diagnosis, another target, a higher
memory limit, a claim that checks passed or that no approval is needed, fields the schema does
not have) is vetoed, and the rule decision stands. The gate never clears a safety check: the
final decision carries the checks the rules computed for that action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from policies.actions import Action, parse_action
from policies.decision import Decision

GateSource = Literal["rules", "llm_agreed", "llm_milder"]


class LLMProposal(BaseModel):
    """What the language model (or an MCP caller) proposes. Untrusted: every field is checked.

    `action` stays a plain string so an unknown or hostile action reaches the gate (and is
    vetoed there) instead of failing to parse.
    """

    model_config = ConfigDict(extra="allow")

    action: str
    namespace: str | None = None
    pod_name: str | None = None
    confidence: float | None = None
    memory_limit_bytes: int | None = None
    reason: str = ""
    # Claims the model has no business making; any value but None is vetoed.
    safety_checks_passed: bool | None = None
    requires_approval: bool | None = None


@dataclass(frozen=True, slots=True)
class GateResult:
    """The final decision, whether the proposal was vetoed and why, and the proposal itself."""

    decision: Decision
    vetoed: bool
    veto_reason: str | None
    proposal: LLMProposal | None
    source: GateSource

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.to_dict(),
            "vetoed": self.vetoed,
            "veto_reason": self.veto_reason,
            "proposal": self.proposal.model_dump() if self.proposal is not None else None,
            "source": self.source,
        }


def _veto(rule: Decision, proposal: LLMProposal, reason: str) -> GateResult:
    return GateResult(rule, True, reason, proposal, "rules")


def _allowed(rule: Decision) -> str:
    # Actions are str enums: sorting and joining them uses their values directly.
    return ", ".join(sorted(rule.allowed_actions))


def gate(rule_decision: Decision, llm_proposal: LLMProposal | None) -> GateResult:
    """The decision that stands: the rule decision, or the milder allowed one proposed."""
    rule = rule_decision
    proposal = llm_proposal
    if proposal is None:
        return GateResult(rule, False, None, None, "rules")
    # model_extra is a property over this attribute; read it once, directly.
    extra = proposal.__pydantic_extra__
    if extra:
        fields = ", ".join(sorted(extra))
        return _veto(rule, proposal, f"proposal carries fields it may not set: {fields}")
    if proposal.safety_checks_passed is not None:
        return _veto(rule, proposal, "a proposal cannot state the outcome of the safety checks")
    if proposal.requires_approval is not None:
        return _veto(rule, proposal, "a proposal cannot state whether approval is needed")
    action = parse_action(proposal.action)
    if action is None:
        return _veto(rule, proposal, f"unknown action {proposal.action!r}")
    pod = rule.pod
    namespace = proposal.namespace
    if namespace is not None and namespace != pod.namespace:
        return _veto(rule, proposal, f"other namespace {namespace!r} than the diagnosis")
    pod_name = proposal.pod_name
    if pod_name is not None and pod_name != pod.name:
        return _veto(rule, proposal, f"other pod {pod_name!r} than the diagnosis")
    chosen = rule.alternative(action)
    if chosen is None:
        return _veto(
            rule, proposal, f"{action} is not allowed here; the rules allow: {_allowed(rule)}"
        )
    limit = proposal.memory_limit_bytes
    if limit is not None:
        if chosen.action is not Action.INCREASE_MEMORY_LIMIT:
            return _veto(rule, proposal, f"{action} sets no memory limit")
        ruled = chosen.parameters.get("memory_limit_bytes")
        current = chosen.parameters.get("previous_memory_limit_bytes")
        if not isinstance(ruled, int) or not isinstance(current, int):
            return _veto(rule, proposal, "the rules computed no memory limit to compare with")
        if limit > ruled:
            return _veto(rule, proposal, f"memory limit {limit} above the rules' {ruled}")
        if limit <= current:
            return _veto(
                rule, proposal, f"memory limit {limit} does not raise the current {current}"
            )
        if limit < ruled:
            milder = chosen.with_parameters(
                f"{chosen.reason}; lowered to {limit} bytes as proposed", memory_limit_bytes=limit
            )
            return GateResult(milder, False, None, proposal, "llm_milder")
    if chosen is rule:
        return GateResult(rule, False, None, proposal, "llm_agreed")
    return GateResult(chosen, False, None, proposal, "llm_milder")
