"""Every error code the server can send has one outcome in the agent's table."""

from __future__ import annotations

import pytest

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


@pytest.mark.anyio
async def test_a_tool_that_does_not_answer_is_a_failure_not_a_hang() -> None:
    import asyncio

    from langchain_core.tools import StructuredTool

    from agent.tools import Toolbox

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    toolbox = Toolbox(
        [StructuredTool.from_function(coroutine=hang, name="auto_heal_pod", description="d")],
        timeout_seconds=0.05,
    )
    result = await toolbox.call("auto_heal_pod")
    assert result["error"]["code"] == "tool_timeout"
    assert outcome_of(result["error"]["code"]) == "failed"
