"""Every error code the server can send has one outcome in the agent's table."""

from __future__ import annotations

from agent.outcomes import OUTCOME_OF_CODE, outcome_of
from mcp_server.errors import ErrorCode


def test_every_error_code_has_an_outcome() -> None:
    assert {code.value for code in ErrorCode} <= set(OUTCOME_OF_CODE)


def test_a_failed_write_is_never_reported_as_nothing_written() -> None:
    for code in ("write_failed", "conflict", "api_throttled", "internal_error"):
        assert outcome_of(code) == "failed"
    assert outcome_of("some-code-from-a-newer-server") == "failed"


def test_kubemedics_own_limit_and_the_apis_429_are_told_apart() -> None:
    assert outcome_of(ErrorCode.RATE_LIMITED) == "blocked"
    assert outcome_of(ErrorCode.API_THROTTLED) == "failed"
