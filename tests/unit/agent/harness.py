"""Wire a graph to the scripted MCP server through a real in-memory MCP session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from langchain_core.language_models import BaseChatModel
from mcp.shared.memory import create_connected_server_and_client_session

from agent.context import AuditSink, IncidentContext
from agent.runner import IncidentRunner, open_checkpointer
from agent.tools import Toolbox
from policies import Policy, policy_from_dict
from tests.unit.agent.scripted import ScriptedCluster, scripted_server


async def no_wait(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


@asynccontextmanager
async def runner_for(
    cluster: ScriptedCluster,
    db: Path,
    *,
    model: BaseChatModel | None = None,
    policy: Policy | None = None,
    audit: AuditSink | None = None,
    **deps: Any,
) -> AsyncIterator[IncidentRunner]:
    async with create_connected_server_and_client_session(scripted_server(cluster)) as session:
        toolbox = await Toolbox.from_session(session)
        async with open_checkpointer(db) as saver:
            options: dict[str, Any] = {
                "sleep": no_wait,
                "verify_interval_seconds": 10.0,
                "verify_max_checks": 4,
                "llm_timeout_seconds": 5.0,
            }
            options.update(deps)
            yield IncidentRunner(
                IncidentContext(
                    toolbox=toolbox,
                    policy=policy or policy_from_dict({}),
                    model=model,
                    audit=audit,
                    **options,
                ),
                saver,
            )
