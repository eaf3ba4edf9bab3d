"""The verify node: ask the server's verifier until it decides (agent.verification), holding
no write slot; after a memory raise it also samples the rolled-out pod for a leak."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.context import IncidentContext
from agent.state import IncidentState
from agent.verification import verify_node


async def verify(state: IncidentState, runtime: Runtime[IncidentContext]) -> dict[str, Any]:
    return await verify_node(runtime.context, state)
