"""LangChain fake chat models for the rationale node: agreeing, milder, hostile, unparseable,
hanging. Built on langchain-core's GenericFakeChatModel."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage


class ToolCallingFake(GenericFakeChatModel):
    """A fake that 'supports' tool calling, so with_structured_output takes the tool path."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFake:
        return self


def rationale_args(action: str, target: str | None = None, **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "summary": "the container keeps crashing",
        "suspected_cause": "the process exits with status 1 at start",
        "proposed_action": action,
        "confidence": 0.8,
        "evidence": ["CrashLoopBackOff with 5 restarts"],
    }
    if target is not None:
        args["target_pod"] = target
    args.update(extra)
    return args


def structured_model(
    *answers: dict[str, Any], tokens: tuple[int, int] = (120, 40)
) -> ToolCallingFake:
    """Answers through a tool call (the structured-output path of real providers)."""
    messages = [
        AIMessage(
            content="",
            tool_calls=[{"name": "Rationale", "args": args, "id": f"call-{i}"}],
            usage_metadata={
                "input_tokens": tokens[0],
                "output_tokens": tokens[1],
                "total_tokens": sum(tokens),
            },
        )
        for i, args in enumerate(answers)
    ]
    return ToolCallingFake(messages=iter(messages))


def text_model(*texts: str) -> GenericFakeChatModel:
    """Answers in plain text (a model without tool calling, e.g. a small local one)."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=t) for t in texts]))


def json_text_model(*answers: dict[str, Any]) -> GenericFakeChatModel:
    return text_model(*(json.dumps(a) for a in answers))


class HangingModel(GenericFakeChatModel):
    """Never answers (a provider that stalls): the rationale node must time out."""

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def hanging_model() -> HangingModel:
    return HangingModel(messages=iter([]))
