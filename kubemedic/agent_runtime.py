"""Composition of the agent for the `watch`, `chat` and `approvals` commands.

The agent reaches the cluster only through MCP. By default the MCP server runs in this process
(in-memory MCP streams, the same server `kubemedic mcp` serves, with this process's settings);
`--mcp-url` points the agent at a server elsewhere (streamable HTTP with a bearer token).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import ClientSession
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.context import AuditSink, IncidentContext
from agent.incidents import IncidentRegistry
from agent.llm import resolve_chat_model
from agent.runner import IncidentRunner, open_checkpointer
from agent.tools import Toolbox
from agent.watch import WatchSettings
from kubemedic.settings import Settings
from mcp_server.approvals import ApprovalStore, split_target_key
from mcp_server.audit import AuditLog, AuditTarget
from policies import Policy, load_policy


class AgentTuning(BaseSettings):
    """How the agent verifies a heal (KUBEMEDIC_VERIFY_*): ask the server every `interval`
    seconds, give up after `max_checks` looks; how long an incident's lease lasts
    (KUBEMEDIC_INCIDENT_LEASE_SECONDS); and where it notifies (KUBEMEDIC_WEBHOOK_URL)."""

    model_config = SettingsConfigDict(env_prefix="KUBEMEDIC_", extra="ignore")

    verify_interval_seconds: float = Field(default=10.0, gt=0)
    verify_max_checks: int = Field(default=18, ge=1)
    # An incident's lease: another watch process adopts it this long after the last renewal.
    incident_lease_seconds: float = Field(default=30.0, ge=1)
    # A Slack-compatible incoming webhook told about approvals needed and incidents closed.
    webhook_url: str | None = None

    def deps(self, settings: Settings | None = None) -> dict[str, Any]:
        from agent.notify import webhook_notifier
        from kubemedic.slack import slack_app_notifier

        # A Slack bot (KUBEMEDIC_SLACK_BOT_TOKEN + _CHANNEL) posts approvals with buttons and
        # updates them with the outcome; else the webhook is told, one way.
        notify = slack_app_notifier(settings) if settings is not None else None
        if notify is None and self.webhook_url:
            notify = webhook_notifier(self.webhook_url)
        return {
            "verify_interval_seconds": self.verify_interval_seconds,
            "verify_max_checks": self.verify_max_checks,
            "notify": notify,
        }


@dataclass(frozen=True, slots=True)
class Remote:
    url: str
    token: str | None = None


def policy_of(settings: Settings) -> Policy:
    policy = load_policy(settings.policy)
    return policy.model_copy(update={"agent_namespace": settings.namespace})


def veto_audit_sink(audit_path: Path | str, initiator: str) -> AuditSink:
    """The graph's non-write audit events (an LLM veto, a human's rejection), written to the
    server's hash-chained audit trail; neither wrote anything to the cluster."""
    log = AuditLog(audit_path)

    def sink(record: dict[str, Any]) -> None:
        target = record.get("target") or {}
        audit_target = AuditTarget(
            str(target.get("kind", "Pod")),
            str(target.get("namespace", "")),
            str(target.get("name", "")),
        )
        if record.get("kind") == "rejection":
            by = str(record.get("approver") or "unknown")
            reason = str(record.get("reason") or "")
            log.append(
                action=str(record.get("action") or "unknown"),
                target=audit_target,
                reason=f"approval {record.get('approval_id')} rejected by {by}"
                + (f": {reason}" if reason else ""),
                initiator=by,
                approver=by,
                result="refused",
                dry_run=False,
                duration_seconds=0.0,
                error={"code": "approval_rejected", "message": reason or "rejected"},
                details={
                    "approval_id": record.get("approval_id"),
                    "incident_id": record.get("incident_id"),
                },
            )
            return
        log.append(
            action=str(record.get("proposed_action") or "unknown"),
            target=audit_target,
            reason=f"LLM proposal vetoed by the rule gate: {record.get('reason', '')}",
            initiator=f"{initiator} (llm)",
            result="refused",
            dry_run=True,
            duration_seconds=0.0,
            error={"code": "vetoed", "message": str(record.get("reason", ""))},
            details={
                "incident_id": record.get("incident_id"),
                "rule_action": record.get("rule_action"),
                "proposal": record.get("proposal"),
            },
        )

    return sink


def audit_rejection(settings: Settings, approval: Any, by: str, reason: str) -> None:
    """A human's rejection, as an audit record next to the refused attempt that asked."""
    cluster, kind, namespace, name = split_target_key(str(approval.target))
    AuditLog(settings.audit_target, cluster=cluster).append(
        action=str(approval.action),
        target=AuditTarget(kind, namespace, name),
        reason=f"approval {approval.id} rejected by {by}" + (f": {reason}" if reason else ""),
        initiator=by,
        approver=by,
        result="refused",
        dry_run=False,
        duration_seconds=0.0,
        error={"code": "approval_rejected", "message": reason or "rejected"},
        details={"approval_id": approval.id},
    )


def approval_store(settings: Settings) -> ApprovalStore:
    policy = policy_of(settings)
    return ApprovalStore(settings.store_target, ttl_seconds=float(policy.approval_ttl_seconds))


def incident_registry(settings: Settings) -> IncidentRegistry:
    return IncidentRegistry(settings.incidents_target)


def watch_settings(settings: Settings, **overrides: Any) -> WatchSettings:
    tuning = AgentTuning()
    model = resolve_chat_model(settings.llm, timeout_seconds=settings.llm_timeout_seconds)
    options: dict[str, Any] = {
        "state_dir": settings.state_dir,
        "policy": policy_of(settings),
        "model": model,
        "llm_timeout_seconds": settings.llm_timeout_seconds,
        "caller": settings.caller,
        "audit": veto_audit_sink(settings.audit_target, settings.caller),
        "lease_seconds": tuning.incident_lease_seconds,
        "database_url": settings.database(),
        **tuning.deps(settings),
    }
    specs = settings.cluster_specs()
    if specs:
        options["clusters"] = tuple(spec.name for spec in specs)
    options.update(overrides)
    return WatchSettings(**options)


@asynccontextmanager
async def mcp_session(
    settings: Settings,
    remote: Remote | None = None,
    *,
    pod_cache: bool = True,
    on_state: Callable[[Any], None] | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialised MCP client session: to `remote`, or to a server in this process
    (`on_state` is handed that server's state: its gateway, its readiness)."""
    if remote is not None:
        from mcp.client.streamable_http import streamablehttp_client

        headers = {"Authorization": f"Bearer {remote.token}"} if remote.token else None
        async with streamablehttp_client(remote.url, headers=headers) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
        return

    from mcp.shared.memory import create_connected_server_and_client_session

    from mcp_server.config import ServerConfig
    from mcp_server.server import create_server
    from mcp_server.state import build_state

    config = ServerConfig(
        kubeconfig=settings.kubeconfig,
        context=settings.context,
        policy_path=settings.policy,
        state_dir=settings.state_dir,
        database_url=settings.database_secret(),
        local_caller=settings.caller,
        pod_cache=pod_cache,
        usage_sample_seconds=settings.usage_sample_seconds,
        # The agent's own namespace is protected from its actions in every mode.
        agent_namespace=settings.namespace,
    )
    from kubemedic.clusters import build_fleet

    served: Any = build_fleet(settings.cluster_specs(), config) or build_state(config)
    if on_state is not None:
        on_state(served)
    try:
        async with create_connected_server_and_client_session(create_server(served)) as session:
            yield session
    finally:
        served.close()


async def toolbox_of(settings: Settings, session: ClientSession) -> Toolbox:
    """The session's tools, each call bounded by KUBEMEDIC_TOOL_TIMEOUT_SECONDS."""
    return await Toolbox.from_session(session, timeout_seconds=settings.tool_timeout_seconds)


@asynccontextmanager
async def incident_runner(
    settings: Settings, toolbox: Toolbox, **deps: Any
) -> AsyncIterator[IncidentRunner]:
    """A runner on the state directory's checkpoints, with this process's settings."""
    async with open_checkpointer(settings.checkpoint_target) as saver:
        options: dict[str, Any] = {
            "model": resolve_chat_model(settings.llm, timeout_seconds=settings.llm_timeout_seconds),
            "llm_timeout_seconds": settings.llm_timeout_seconds,
            "caller": settings.caller,
            "audit": veto_audit_sink(settings.audit_target, settings.caller),
            **AgentTuning().deps(settings),
        }
        options.update(deps)
        yield IncidentRunner(
            IncidentContext(toolbox=toolbox, policy=policy_of(settings), **options), saver
        )


def age(seconds_since_epoch: float) -> str:
    delta = max(0.0, time.time() - seconds_since_epoch)
    if delta < 120:
        return f"{delta:.0f}s"
    if delta < 7200:
        return f"{delta / 60:.0f}m"
    return f"{delta / 3600:.1f}h"
