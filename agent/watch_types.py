"""What the watch loop is told and what it tells: its settings, its events, incident keys.

Shared by the loop (`agent.watch`), its poller (`agent.watch_polling`) and its summary
(`agent.watch_summary`); the composition root builds `WatchSettings`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel

from agent.context import AuditSink, IncidentContext, Sleep
from agent.leadership import Leadership
from agent.notify import Notifier
from agent.tools import Toolbox
from kubemedic_store import StateLayout
from policies import Policy

EventKind = Literal[
    "started",
    "poll",
    "opened",
    "progress",
    "approval_pending",
    "answered",
    "closed",
    "error",
    "stopped",
    "leadership",
]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    kind: EventKind
    incident_id: str | None = None
    workload: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


OnEvent = Callable[[WatchEvent], Awaitable[None] | None]
Approve = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any] | None]]


@dataclass(slots=True)
class WatchSettings:
    state_dir: Path
    policy: Policy
    model: BaseChatModel | None = None
    llm_timeout_seconds: float = 30.0
    caller: str = "kubemedic-agent"
    namespace: str | None = None  # None: every namespace the server sees
    poll_interval_seconds: float = 5.0
    max_concurrent: int = 4  # writes in flight at once (verifying holds none)
    # How long another process waits before adopting an incident this one stopped renewing.
    lease_seconds: float = 30.0
    verify_interval_seconds: float = 10.0
    verify_max_checks: int = 18
    # After a memory raise: a rise reaching the new limit within this horizon is a leak
    # (IncidentContext.leak_horizon_minutes), judged on at least this many samples.
    leak_horizon_minutes: float = 30.0
    leak_min_samples: int = 3
    reopen_after_seconds: float = 900.0
    # How to wait (polls and verification); tests and the demo may advance a simulated clock.
    sleep: Sleep = asyncio.sleep
    # Stop after this many polls (None: run until `stop` is set).
    max_polls: int | None = None
    # Stop once nothing is running, nothing waits for an answer in this process, and a poll
    # found nothing new to open (the demo's "all seeded failures dealt with").
    stop_when_idle: bool = False
    audit: AuditSink | None = None
    notify: Notifier | None = None
    # Wall seconds running incidents get to finish after `stop` is set, before cancellation.
    shutdown_grace_seconds: float = 20.0
    # Subscribe to the server's `kubemedic://pods/unhealthy` and look at once when it says
    # the unhealthy pods changed (the interval stays the fallback).
    subscribe: bool = True
    # With several replicas: open, adopt and act on incidents only while this gate is open
    # (the leader Lease is held); closing it cancels this process's incident work at once.
    leadership: Leadership | None = None
    # postgresql://…: incidents and checkpoints in that database (shared by every replica);
    # None: incidents.sqlite and checkpoints.sqlite in state_dir.
    database_url: str | None = None
    # The clusters the server serves, when several: each poll lists every one's unhealthy
    # pods (`cluster` argument), incidents are per (cluster, workload), and every tool call
    # of an incident names its cluster. Empty: the server's only cluster, today's keys.
    clusters: tuple[str, ...] = ()

    @property
    def checkpoint_db(self) -> Path:
        return StateLayout(self.state_dir).checkpoints_db

    @property
    def incidents_db(self) -> Path:
        return StateLayout(self.state_dir).incidents_db

    def incident_context(self, toolbox: Toolbox) -> IncidentContext:
        """The context of this loop's incidents: every IncidentContext field is read from
        the same-named setting; `max_concurrent` bounds the writes in flight."""
        slots = asyncio.Semaphore(max(1, self.max_concurrent))
        return IncidentContext.of(toolbox, self, write_slots=slots)


def incident_key(namespace: str, workload: str, cluster: str | None = None) -> str:
    """`namespace/Kind/name`; with several clusters `cluster/namespace/Kind/name`."""
    key = f"{namespace}/{workload}"
    return key if cluster is None else f"{cluster}/{key}"


def cluster_of_key(key: str) -> str | None:
    """The cluster an incident key names (None: a one-cluster key)."""
    parts = str(key).split("/")
    return parts[0] if len(parts) >= 4 else None
