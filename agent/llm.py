"""The LLM seam: one provider string, one structured rationale, one timeout.

`KUBEMEDIC_LLM` is `none` (rules only), `openai:<model>`, `anthropic:<model>` or
`ollama:<model>`; the provider packages are optional extras (`pip install kubemedic[openai]`).
Whatever the model answers, `ask_rationale` returns a RationaleOutcome: a parsed Rationale or
the reason there is none (unparseable, timeout, error). It never raises for model misbehaviour.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent import metrics
from agent.prompt import rationale_messages
from policies import Action

log = logging.getLogger(__name__)

Provider = Literal["none", "openai", "anthropic", "ollama", "custom"]
RationaleStatus = Literal["ok", "skipped", "unparseable", "timeout", "error"]


class LLMConfigError(ValueError):
    """The provider string is malformed, or names a provider whose package is not installed."""


class Rationale(BaseModel):
    """What the LLM says about one pod. Advice only: the rule gate decides."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(max_length=2000, description="one or two sentences on what is wrong")
    suspected_cause: str = Field(max_length=2000, description="the most likely root cause")
    proposed_action: Action = Field(description="exactly one action from the closed set")
    target_pod: str | None = Field(
        default=None, max_length=300, description="the pod the action is for, namespace/name"
    )
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list, max_length=20)


@dataclass(frozen=True, slots=True)
class ChatModelSpec:
    provider: Provider
    model: str | None

    @property
    def label(self) -> str:
        return self.provider if self.model is None else f"{self.provider}:{self.model}"


def parse_spec(spec: str) -> ChatModelSpec:
    """Parse `KUBEMEDIC_LLM`."""
    text = spec.strip()
    if text.lower() in ("", "none"):
        return ChatModelSpec("none", None)
    provider, sep, model = text.partition(":")
    provider = provider.strip().lower()
    if not sep or not model.strip():
        raise LLMConfigError(f"KUBEMEDIC_LLM={spec!r}: expected <provider>:<model> or none")
    if provider not in ("openai", "anthropic", "ollama"):
        raise LLMConfigError(
            f"KUBEMEDIC_LLM={spec!r}: unknown provider {provider!r} "
            "(openai, anthropic, ollama or none)"
        )
    return ChatModelSpec(provider, model.strip())  # type: ignore[arg-type]


def resolve_chat_model(spec: str, *, timeout_seconds: float = 30.0) -> BaseChatModel | None:
    """The chat model named by `spec`, or None for `none`. Raises LLMConfigError."""
    parsed = parse_spec(spec)
    if parsed.provider == "none":
        return None
    try:
        if parsed.provider == "openai":
            from langchain_openai import ChatOpenAI

            model: BaseChatModel = ChatOpenAI(
                model=parsed.model, timeout=timeout_seconds, max_retries=1
            )
            return model
        if parsed.provider == "anthropic":
            from langchain_anthropic import ChatAnthropic

            model = ChatAnthropic(model=parsed.model, timeout=timeout_seconds, max_retries=1)
            return model
        from langchain_ollama import ChatOllama

        model = ChatOllama(model=parsed.model, client_kwargs={"timeout": timeout_seconds})
        return model
    except ImportError as exc:
        raise LLMConfigError(
            f"KUBEMEDIC_LLM={spec!r} needs the {parsed.provider} extra: "
            f"pip install 'kubemedic[{parsed.provider}]'"
        ) from exc


def provider_label(model: BaseChatModel | None) -> str:
    """The `provider` metric label for a model object."""
    if model is None:
        return "none"
    name = type(model).__name__.lower()
    for provider in ("openai", "anthropic", "ollama"):
        if provider in name:
            return provider
    return "custom"


@dataclass(slots=True)
class RationaleOutcome:
    status: RationaleStatus
    provider: str
    rationale: Rationale | None = None
    detail: str = ""
    latency_seconds: float = 0.0
    tokens: dict[str, int] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        """JSON-native form for the graph state."""
        return {
            "status": self.status,
            "provider": self.provider,
            "rationale": None if self.rationale is None else self.rationale.model_dump(mode="json"),
            "detail": self.detail,
            "latency_seconds": round(self.latency_seconds, 4),
            "tokens": dict(self.tokens),
        }


async def ask_rationale(
    model: BaseChatModel | None,
    diagnosis: dict[str, Any],
    *,
    target: str,
    timeout_seconds: float,
) -> RationaleOutcome:
    """Ask `model` for a Rationale about `target`; never raises for the model's misbehaviour."""
    provider = provider_label(model)
    if model is None:
        return RationaleOutcome("skipped", provider, detail="no LLM configured: rules only")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            message, parsed = await _invoke(model, diagnosis, target=target)
    except TimeoutError:
        outcome = RationaleOutcome(
            "timeout", provider, detail=f"no answer within {timeout_seconds:g}s"
        )
    except Exception as exc:  # noqa: BLE001 - any provider failure degrades to rules only
        log.warning("LLM request failed", extra={"error": repr(exc)})
        outcome = RationaleOutcome("error", provider, detail=f"{type(exc).__name__}: {exc}"[:500])
    else:
        tokens = _usage(message)
        if parsed is None:
            outcome = RationaleOutcome(
                "unparseable",
                provider,
                detail="the answer is not a valid rationale: " + _preview(message),
                tokens=tokens,
            )
        else:
            outcome = RationaleOutcome("ok", provider, rationale=parsed, tokens=tokens)
    outcome.latency_seconds = time.perf_counter() - started
    metrics.llm_requests_total.labels(provider, outcome.status).inc()
    metrics.llm_latency_seconds.labels(provider).observe(outcome.latency_seconds)
    for kind, count in outcome.tokens.items():
        metrics.llm_tokens_total.labels(provider, kind).inc(count)
    return outcome


async def _invoke(
    model: BaseChatModel, diagnosis: dict[str, Any], *, target: str
) -> tuple[BaseMessage | None, Rationale | None]:
    """Structured output where the model supports tool calling, JSON in text otherwise."""
    try:
        # OpenAI's strict JSON-schema mode rejects some constraints of the schema; plain tool
        # calling takes it as is (the pydantic model still validates the answer).
        options = {"method": "function_calling"} if provider_label(model) == "openai" else {}
        structured = model.with_structured_output(Rationale, include_raw=True, **options)
    except NotImplementedError:
        structured = None
    if structured is not None:
        messages = rationale_messages(diagnosis, target=target, structured=True)
        result = await structured.ainvoke(messages)
        raw = result.get("raw") if isinstance(result, dict) else None
        parsed = result.get("parsed") if isinstance(result, dict) else None
        if isinstance(parsed, Rationale):
            return raw, parsed
        # Some providers put the JSON in the text instead of a tool call: try that too.
        return raw, _parse_text(raw)
    messages = rationale_messages(diagnosis, target=target, structured=False)
    raw_message = await model.ainvoke(messages)
    return raw_message, _parse_text(raw_message)


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _parse_text(message: BaseMessage | None) -> Rationale | None:
    if message is None:
        return None
    text = message.text if isinstance(message.text, str) else str(message.content)
    match = _JSON_OBJECT.search(text)
    if match is None:
        return None
    try:
        return Rationale.model_validate(json.loads(match.group(0)))
    except (ValueError, ValidationError):
        return None


def _usage(message: BaseMessage | None) -> dict[str, int]:
    if not isinstance(message, AIMessage) or not message.usage_metadata:
        return {}
    usage = message.usage_metadata
    return {
        "input": int(usage.get("input_tokens", 0)),
        "output": int(usage.get("output_tokens", 0)),
    }


def _preview(message: BaseMessage | None) -> str:
    if message is None:
        return "(no message)"
    text = message.text if isinstance(message.text, str) else str(message.content)
    return repr(text[:200])
