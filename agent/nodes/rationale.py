"""The rationale node: the LLM's structured reading of the diagnosis (skipped, and saying so,
when no model is configured or it fails)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.runtime import Runtime

from agent.context import IncidentContext
from agent.llm import Rationale, ask_rationale
from agent.nodes.common import incident_log, timeline
from agent.state import IncidentState


async def rationale(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    context = runtime.context
    target = f"{state['namespace']}/{state['pod_name']}"
    with incident_log(state):
        outcome = await ask_rationale(
            context.model,
            state.get("diagnosis") or {},
            target=target,
            timeout_seconds=context.llm_timeout_seconds,
        )
    detail = outcome.detail
    if outcome.rationale is not None:
        r = outcome.rationale
        detail = f"proposes {r.proposed_action.value} ({r.confidence:.2f}): {r.summary}"[:300]
    return {
        "llm": outcome.to_state(),
        "rules_only": outcome.status != "ok",
        "timeline": timeline("rationale", outcome.status, detail),
    }


def rationale_of(state: Mapping[str, Any]) -> Rationale | None:
    """The rationale recorded in a state, typed again (None when there is none)."""
    llm = state.get("llm") or {}
    data = llm.get("rationale")
    return Rationale.model_validate(data) if data else None
