"""What the incident graph's nodes need from the outside world, handed to every run.

LangGraph passes it to each node as `runtime.context` (`StateGraph(..., context_schema=...)`,
`graph.astream(..., context=...)`). It is not checkpointed: a resumed incident runs with the
context of the process that resumes it (its tools, its model, its clock), which is why the
same compiled graph serves the watch loop, the approvals command, the evals and the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from typing import Any

from langchain_core.language_models import BaseChatModel

from agent.notify import Notifier
from agent.tools import Toolbox
from policies import Policy

Sleep = Callable[[float], Awaitable[None]]
AuditSink = Callable[[dict[str, Any]], None]


def _write_slots() -> asyncio.Semaphore:
    return asyncio.Semaphore(4)


@dataclass(frozen=True, slots=True)
class IncidentContext:
    """The tools, the model, the clock and the sinks of one process's incidents."""

    toolbox: Toolbox
    policy: Policy
    model: BaseChatModel | None = None
    llm_timeout_seconds: float = 30.0
    caller: str = "kubemedic-agent"
    # How to wait between verification checks: asyncio.sleep in production; tests pass a
    # function that advances the simulated cluster's clock instead.
    sleep: Sleep = asyncio.sleep
    verify_interval_seconds: float = 10.0
    verify_max_checks: int = 18  # the deadline, in looks
    # After increase_memory_limit the verify node also samples the rolled-out pod's memory:
    # usage that keeps rising and would reach the new limit within this horizon is a leak
    # (the raise only delays the next OOM kill), handed to a human instead of "healed".
    leak_horizon_minutes: float = 30.0
    leak_min_samples: int = 3  # samples (one per look) before a trend counts
    # Non-write events worth an audit record (an LLM veto, a human's rejection); the
    # composition root wires it to the server's audit trail. None: log only.
    audit: AuditSink | None = None
    # Where to tell people (a Slack-compatible webhook, agent.notify); None: nobody.
    notify: Notifier | None = None
    # Writes in flight at once, across the incidents that share this context. Only the write
    # call holds a slot: verification is a status the verify node asks for, slot-free.
    write_slots: asyncio.Semaphore = field(default_factory=_write_slots)

    @classmethod
    def of(cls, toolbox: Toolbox, settings: object, **overrides: Any) -> IncidentContext:
        """The context from any settings object: every field of this class the settings have
        (same name) is taken from them, then `overrides`. One place, so a setting added to
        both is carried without a hand copy."""
        values: dict[str, Any] = {"toolbox": toolbox}
        for item in fields(cls):
            if item.name != "toolbox" and hasattr(settings, item.name):
                values[item.name] = getattr(settings, item.name)
        values.update(overrides)
        return cls(**values)


# Every field but these can come from settings (see IncidentContext.of).
RUNTIME_ONLY_FIELDS = frozenset({"toolbox", "write_slots"})


def setting_names() -> frozenset[str]:
    """The context's fields a settings object should carry."""
    return frozenset(item.name for item in fields(IncidentContext)) - RUNTIME_ONLY_FIELDS
