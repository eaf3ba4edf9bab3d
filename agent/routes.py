"""Where the incident graph goes after each node: an outcome ends it in the report node."""

from __future__ import annotations

from typing import Literal

from agent.state import IncidentState

Route = Literal["rationale", "gate", "act", "approve", "verify", "escalate", "diagnose", "report"]


def after_diagnose(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "rationale"


def after_gate(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "act"


def after_act(state: IncidentState) -> Route:
    if state.get("outcome"):
        return "report"
    if state.get("pending_approval"):
        return "approve"
    return "verify"


def after_approve(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "act"


def after_verify(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "escalate"


def after_escalate(state: IncidentState) -> Route:
    return "report" if state.get("outcome") else "diagnose"
