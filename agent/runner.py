"""Run incidents on the compiled graph: start, resume after an approval, continue after a crash.

One LangGraph thread per incident (`thread_id` = incident id), checkpointed in SQLite
(langgraph-checkpoint-sqlite) or, with a `postgresql://` URL, in PostgreSQL
(langgraph-checkpoint-postgres) with `durability="sync"`: each step is on disk before the next one
starts, so a process killed while an approval is pending resumes exactly there.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.types import Command

from agent.context import IncidentContext
from agent.graph import build_graph
from agent.verification import verifying_entry
from kubemedic_store import is_postgres_url
from kubemedic_store.database import lock_key

log = logging.getLogger(__name__)

# Called with (incident_id, node, update) after every node; the watch loop turns these into
# progress events.
OnUpdate = Callable[[str, str, Mapping[str, Any]], Awaitable[None] | None]


@asynccontextmanager
async def open_checkpointer(target: Path | str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """A checkpointer on `target`: a `postgresql://` URL (AsyncPostgresSaver, its tables set
    up on first use), else a SQLite file (AsyncSqliteSaver; created with its parent
    directory). The composition root decides which."""
    if is_postgres_url(target):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection

        async with AsyncPostgresSaver.from_conn_string(str(target)) as postgres:
            connection = postgres.conn
            assert isinstance(connection, AsyncConnection)  # from_conn_string: one connection
            async with _migration_turn(connection):
                await postgres.setup()
            yield postgres
        return
    file = Path(target)
    file.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(file)) as saver:
        await saver.setup()
        yield saver


_MIGRATION_LOCK = lock_key("langgraph-checkpoint-migrations")
_MIGRATION_POLL_SECONDS = 0.1


@asynccontextmanager
async def _migration_turn(connection: Any) -> AsyncIterator[None]:
    """Replicas starting together take turns at LangGraph's migrations, which otherwise race on
    their version rows (a duplicate key ends the loser). A session advisory lock, tried rather
    than waited for: the migrations include CREATE INDEX CONCURRENTLY, which waits for every
    open transaction, a blocked `pg_advisory_lock` call included, and that is a deadlock."""
    while True:
        cursor = await connection.execute(
            "SELECT pg_try_advisory_lock(%s) AS taken", (_MIGRATION_LOCK,)
        )
        row = await cursor.fetchone()
        if row["taken"]:
            break
        await asyncio.sleep(_MIGRATION_POLL_SECONDS)
    try:
        yield
    finally:
        await connection.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))


@dataclass(frozen=True, slots=True)
class IncidentStatus:
    """Where a thread stands."""

    incident_id: str
    values: dict[str, Any] = field(default_factory=dict)
    next: tuple[str, ...] = ()
    pending: dict[str, Any] | None = None  # the approval interrupt's payload, if waiting

    @property
    def exists(self) -> bool:
        return bool(self.values)

    @property
    def waiting_for_approval(self) -> bool:
        return self.pending is not None

    @property
    def done(self) -> bool:
        return self.exists and not self.next

    @property
    def outcome(self) -> str | None:
        value = self.values.get("outcome")
        return str(value) if value and self.done else None

    @property
    def reported(self) -> bool:
        """The report node ran: the incident is over, whoever ran it. (`done` alone can be
        seen for a moment while another process is between two steps of the thread.)"""
        timeline = self.values.get("timeline") or []
        return (
            self.done
            and bool(self.outcome)
            and bool(timeline)
            and (timeline[-1].get("node") == "report")
        )


class IncidentRunner:
    """Incidents of one process: the compiled graph on a checkpointer, and the context every
    run of it is handed (the context is never checkpointed; a resume gets this one)."""

    def __init__(self, context: IncidentContext, checkpointer: BaseCheckpointSaver[Any]) -> None:
        self.context = context
        self.graph = build_graph().compile(checkpointer=checkpointer)

    def with_context(self, context: IncidentContext) -> IncidentRunner:
        """A runner on the same compiled graph and checkpoints with another context (the
        evals run every scenario on one graph, each with its own tools and clock)."""
        other = copy.copy(self)
        other.context = context
        return other

    @staticmethod
    def config(incident_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": incident_id}}

    async def start(
        self,
        incident_id: str,
        namespace: str,
        pod_name: str,
        *,
        workload: str | None = None,
        on_update: OnUpdate | None = None,
    ) -> IncidentStatus:
        """Open the incident and run it until it ends or waits for a human."""
        current = await self.status(incident_id)
        if current.exists:
            # Never start a thread twice: an existing one is continued where it stands.
            return await self.proceed(incident_id, on_update=on_update)
        initial: dict[str, Any] = {
            "incident_id": incident_id,
            "namespace": namespace,
            "pod_name": pod_name,
            "workload": workload,
            "history": [],
            "attempts": 0,
            "escalated": False,
            "rules_only": True,
            "outcome": None,
            "timeline": [],
        }
        return await self._run(incident_id, initial, on_update)

    async def resume(
        self, incident_id: str, answer: Mapping[str, Any], *, on_update: OnUpdate | None = None
    ) -> IncidentStatus:
        """Answer the pending approval: {decision: approve|edit|reject, approver,
        edited_action?, approval_id?, reason?}."""
        current = await self.status(incident_id)
        if not current.waiting_for_approval:
            raise NotWaiting(incident_id, current)
        return await self._run(incident_id, Command(resume=dict(answer)), on_update)

    async def proceed(
        self, incident_id: str, *, on_update: OnUpdate | None = None
    ) -> IncidentStatus:
        """Continue a thread that stopped mid-way (a crash); a waiting or done one is left."""
        current = await self.status(incident_id)
        if not current.exists or current.done or current.waiting_for_approval:
            return current
        return await self._run(incident_id, None, on_update)

    async def status(self, incident_id: str) -> IncidentStatus:
        snapshot = await self.graph.aget_state(self.config(incident_id))
        pending = None
        for task in snapshot.tasks:
            for item in task.interrupts:
                if isinstance(item.value, Mapping):
                    pending = dict(item.value)
        return IncidentStatus(
            incident_id=incident_id,
            values=dict(snapshot.values or {}),
            next=tuple(snapshot.next),
            pending=pending,
        )

    async def _run(
        self, incident_id: str, payload: Any, on_update: OnUpdate | None
    ) -> IncidentStatus:
        config = self.config(incident_id)
        async for mode, chunk in self.graph.astream(
            payload,
            config,
            context=self.context,
            stream_mode=["updates", "tasks"],
            durability="sync",
        ):
            if on_update is None or not isinstance(chunk, Mapping):
                continue
            if mode == "tasks":
                # A step starts (its checkpoint is on disk): say so for the long ones.
                started = _started(chunk)
                if started is not None:
                    await _tell(on_update, incident_id, str(chunk.get("name")), started)
                continue
            for node, update in chunk.items():
                await _tell(on_update, incident_id, str(node), _plain(update))
        return await self.status(incident_id)


class NotWaiting(RuntimeError):
    """Resume was asked of an incident that is not waiting for an approval."""

    def __init__(self, incident_id: str, status: IncidentStatus) -> None:
        state = "done" if status.done else ("unknown" if not status.exists else "running")
        super().__init__(f"incident {incident_id} is not waiting for an approval ({state})")
        self.incident_id = incident_id
        self.status = status


async def _tell(
    on_update: OnUpdate, incident_id: str, node: str, update: Mapping[str, Any]
) -> None:
    result = on_update(incident_id, node, update)
    if result is not None:
        await result


def _started(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The progress update that announces a starting step, for the steps that may take long
    (verification waits on the cluster): the start event of LangGraph's "tasks" stream has the
    step's input and no result. None for any other event."""
    if task.get("name") != "verify" or "result" in task or "error" in task:
        return None
    state = task.get("input")
    if not isinstance(state, Mapping):
        return None
    return {"timeline": [verifying_entry(state)]}


def _plain(update: Any) -> Mapping[str, Any]:
    if isinstance(update, Mapping):
        return update
    if isinstance(update, tuple | list):  # __interrupt__: a tuple of Interrupt objects
        return {"interrupts": [getattr(item, "value", item) for item in update]}
    return {"value": update}
