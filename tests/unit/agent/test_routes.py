"""The graph's routes: an outcome always ends in the report node."""

from __future__ import annotations

from typing import Any

from agent import routes


def test_an_outcome_goes_to_the_report_from_every_node() -> None:
    ended: Any = {"outcome": "failed", "pending_approval": {"approval_id": "a"}}
    for route in (
        routes.after_diagnose,
        routes.after_gate,
        routes.after_act,
        routes.after_approve,
        routes.after_verify,
        routes.after_escalate,
    ):
        assert route(ended) == "report", route.__name__


def test_without_an_outcome_the_incident_moves_on() -> None:
    assert routes.after_diagnose({}) == "rationale"
    assert routes.after_gate({}) == "act"
    assert routes.after_act({"pending_approval": {"approval_id": "a"}}) == "approve"
    assert routes.after_act({}) == "verify"
    assert routes.after_approve({}) == "act"
    assert routes.after_verify({}) == "escalate"
    assert routes.after_escalate({}) == "diagnose"
