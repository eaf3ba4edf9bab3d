"""A gated decision as the nodes read it back from state: `policies.Decision.to_dict()`,
parsed once into the parts the gate, the approval payload and the human's edits use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from policies import WRITE_ACTIONS, Action, is_milder, parse_action


@dataclass(frozen=True, slots=True)
class DecisionView:
    """The fields of a Decision.to_dict() the agent reads (missing ones are empty)."""

    action: str | None  # as recorded, for the payload and for comparison with state
    reason: str | None
    target: Any
    confidence: Any
    estimated_risk: Any
    checks: tuple[Mapping[str, Any], ...]
    alternatives: tuple[Mapping[str, Any], ...]

    @classmethod
    def of(cls, decision: Mapping[str, Any] | None) -> DecisionView:
        data = decision or {}
        action = data.get("action")
        return cls(
            action=None if action is None else str(action),
            reason=data.get("reason"),
            target=data.get("target"),
            confidence=data.get("confidence"),
            estimated_risk=data.get("estimated_risk"),
            checks=tuple(c for c in data.get("checks") or [] if isinstance(c, Mapping)),
            alternatives=tuple(a for a in data.get("alternatives") or [] if isinstance(a, Mapping)),
        )

    def blocking_checks(self) -> list[Mapping[str, Any]]:
        """Failed safety checks; the approval check only says a human must answer."""
        return [c for c in self.checks if not c.get("passed") and c.get("name") != "approval"]

    def milder_edits(self) -> list[dict[str, Any]]:
        """The milder allowed actions a human may edit to."""
        try:
            action = Action(self.action or "")
        except ValueError:
            return []
        edits = []
        for alt in self.alternatives:
            alt_action = parse_action(alt.get("action"))
            if alt_action is not None and is_milder(alt_action, action):
                edits.append(
                    {
                        "action": alt_action.value,
                        "target": alt.get("target"),
                        "reason": alt.get("reason"),
                        "risk": alt.get("estimated_risk"),
                        "writes": alt_action in WRITE_ACTIONS,
                    }
                )
        return edits

    def summary(self, source: Any) -> dict[str, Any]:
        """The rule decision as an approval payload shows it."""
        return {
            "action": self.action,
            "reason": self.reason,
            "confidence": self.confidence,
            "estimated_risk": self.estimated_risk,
            "source": source,
        }


def milder_edits(decision: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The milder allowed actions a human may edit to, from a Decision.to_dict()."""
    return DecisionView.of(decision).milder_edits()
