"""What the tools share: gateway, pod cache, policy, stores, audit, executor.

Built once per process and handed to the tools through the MCP server's lifespan context.
The SDK runs the lifespan once per session (every HTTP session, every stdio connection), so
the state is reference-counted: the pod cache starts with the first session and stops with
the last.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubemedic_store import Database, open_database
from mcp_server import metrics
from mcp_server.approvals import ApprovalStore
from mcp_server.audit import AuditLog
from mcp_server.config import ServerConfig
from mcp_server.gateway import Gateway
from mcp_server.ledger import Ledger, migrate_legacy_state
from mcp_server.pod_cache import PodCache
from mcp_server.ratelimit_store import ClusterActionHistory, RateLimitStore
from mcp_server.usage import UsageSampler
from mcp_server.usage.rightsizing import RightsizingPublisher
from mcp_server.workload_refs import WorkloadRefs
from policies import Policy, load_policy
from policies.ratelimit import ActionHistory

log = logging.getLogger(__name__)


@dataclass
class Clock:
    """Time as the executor sees it; tests against a simulated cluster inject its clock."""

    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def _server_policy(config: ServerConfig, policy: Policy | None) -> Policy:
    """The policy file's (or the given) policy with the server's own settings laid over it."""
    base = policy or load_policy(config.policy_path)
    # The server's trusted callers may force as well as the policy's own.
    update: dict[str, object] = {
        "trusted_callers": frozenset(base.trusted_callers) | config.trusted_callers
    }
    if config.agent_namespace:
        update["agent_namespace"] = config.agent_namespace
    return base.model_copy(update=update)


def _new_pod_cache(gateway: Gateway, config: ServerConfig) -> PodCache:
    from mcp_server.pod_diagnosis import classify_pod, pod_health_score

    return PodCache(
        gateway,
        classify=classify_pod,
        score=pod_health_score,
        watch_timeout_seconds=config.watch_timeout_seconds,
    )


class ServerState:
    database: Database
    ratelimits: RateLimitStore
    approvals: ApprovalStore
    ledger: Ledger
    audit: AuditLog

    def __init__(
        self,
        config: ServerConfig,
        gateway: Gateway,
        *,
        policy: Policy | None = None,
        clock: Clock | None = None,
        pod_cache: PodCache | None = None,
        cluster: str | None = None,
        shared: ServerState | None = None,
    ) -> None:
        from mcp_server.planning import DiagnosisMemo

        # The cluster's name when the server serves several (None: the only one; plans,
        # approvals and audit records keep their one-cluster formats).
        self.cluster = cluster
        self.config = config
        self.gateway = gateway
        self.clock = clock or Clock()
        self.gateway.wall_clock = self.clock.now
        self.policy = _server_policy(config, policy)
        self.owns_stores = shared is None
        if shared is not None:
            self._share_stores(shared)
        else:
            self._open_stores()
        # What the decisions read of the action records: one cluster's own (several clusters)
        self.action_history: ActionHistory = self.ratelimits
        if cluster is not None:
            self.action_history = ClusterActionHistory(
                self.ratelimits, cluster, self.policy.rate_limits
            )
        self.memo = DiagnosisMemo()
        self.workloads = WorkloadRefs()  # the owners' owners list_unhealthy_pods has read
        self.cache = pod_cache
        if self.cache is None and config.pod_cache:
            self.cache = _new_pod_cache(gateway, config)
        # The usage sampler runs with the pod cache (it tags samples with the cached pods).
        self.usage: UsageSampler | None = None
        if self.cache is not None and config.usage_sample_seconds > 0:
            self.usage = self._new_usage_sampler(self.cache)
        self._users = 0
        self._recovered = False
        self._lock = threading.Lock()

    def _share_stores(self, shared: ServerState) -> None:
        # Several clusters, one store: approvals, plans, intents, rate limits and the
        # audit chain are shared; every record names its cluster.
        self.database = shared.database
        self.ratelimits = shared.ratelimits
        self.approvals = shared.approvals
        self.ledger = shared.ledger
        audit_shared = shared.audit.db if shared.audit.db is not None else shared.audit.path
        self.audit = AuditLog(audit_shared, now=self.clock.now, cluster=self.cluster)

    def _open_stores(self) -> None:
        config = self.config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        if config.database_url is None:
            migrate_legacy_state(config.state_dir, config.store_path)
        # One database for approvals, action records, plans and intents (the write path's
        # one transaction spans them); the audit chain joins it on PostgreSQL.
        self.database = open_database(config.store_target)
        self.ratelimits = RateLimitStore(self.database)
        self.approvals = ApprovalStore(
            self.database,
            ttl_seconds=float(self.policy.approval_ttl_seconds),
            clock=lambda: self.clock.now().timestamp(),
        )
        audit_target = config.audit_path if config.database_url is None else self.database
        self.audit = AuditLog(audit_target, now=self.clock.now, cluster=self.cluster)
        self.ledger = Ledger(self.database, clock=lambda: self.clock.now().timestamp())

    def _new_usage_sampler(self, cache: PodCache) -> UsageSampler:
        config = self.config
        usage = UsageSampler(
            self.gateway,
            cache,
            now=lambda: self.clock.now().timestamp(),
            interval_seconds=config.usage_sample_seconds,
            window_seconds=config.usage_window_seconds,
            horizon_minutes=self.policy.memory.predict_horizon_minutes,
        )
        # The kubemedic_rightsizing_* gauges, refreshed after a round (once a minute).
        usage.add_listener(
            RightsizingPublisher(
                cache.pods,
                usage,
                lambda: self.policy,
                monotonic=self.clock.monotonic,
            )
        )
        return usage

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            first = self._users == 1
            recover = first and not self._recovered
            self._recovered = True
        if recover:
            self.recover()
        if first and self.cache is not None:
            self.cache.start()
            if self.usage is not None:
                self.usage.start()

    def recover(self) -> None:
        """On start: every intent a dead process left without an outcome gets one."""
        from mcp_server.reconcile import reconcile

        try:
            done = reconcile(self)
        except Exception:  # noqa: BLE001 - serving reads must not depend on it; writes retry it
            log.exception("could not reconcile the intents left without an outcome")
            return
        if done:
            log.warning("reconciled %d intent(s) left without an outcome", len(done))

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last and self.usage is not None:
            self.usage.stop()
        if last and self.cache is not None:
            self.cache.stop()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[ServerState]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    def publish_approval_metrics(self) -> None:
        count, oldest = self.approvals.pending_stats()
        metrics.approvals_pending.set(count)
        metrics.approval_oldest_pending_seconds.set(oldest)

    def ready(self) -> tuple[bool, str]:
        if self.cache is not None and not self.cache.synced:
            return False, "pod cache not synced yet"
        return True, "ok"

    def close(self) -> None:
        if self.usage is not None:
            self.usage.stop()
        if self.cache is not None:
            self.cache.stop()
        if self.owns_stores:
            self.ratelimits.close()
        self.gateway.close()


def build_state(
    config: ServerConfig, *, policy: Policy | None = None, clock: Clock | None = None
) -> ServerState:
    """The state for a real cluster: a gateway from the configured kubeconfig / in-cluster."""
    gateway = Gateway.from_config(config)
    return ServerState(config, gateway, policy=policy, clock=clock)
