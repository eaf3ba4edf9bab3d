"""The MCP server's configuration: a pydantic model, built by the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from kubemedic_store import StateLayout
from kubemedic_store.layout import STATE_DB as STATE_DB  # re-exported: `store_path` names it

# read: diagnose; heal: ask for writes; approve: decide approvals (the web inbox);
# metrics: scrape /metrics on the HTTP MCP server (when it asks for a token, see metrics_auth).
Scope = Literal["read", "heal", "approve", "metrics"]
# /metrics on the HTTP MCP server: "required" (a bearer token with the `metrics` scope),
# "open" (no token: only behind a network policy that limits who reaches the port).
MetricsAuth = Literal["required", "open"]


class TokenConfig(BaseModel):
    """A bearer token for the HTTP transport: who presents it and what it may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    caller: str = Field(min_length=1, max_length=128)
    token: SecretStr
    scopes: frozenset[Scope] = frozenset({"read"})

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("a bearer token must be at least 16 characters")
        return value


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig file; None: KUBECONFIG / ~/.kube/config / in-cluster"
    )
    context: str | None = None
    policy_path: Path | None = Field(default=None, description="None: the shipped default policy")
    state_dir: Path = Field(default=Path("var"), description="audit log, approvals, rate limits")
    # `postgresql://...`: approvals, plans, intents, rate limits and the audit chain in that
    # database, shared by every replica; None: SQLite files (and audit.jsonl) in state_dir.
    database_url: SecretStr | None = None
    # kubemedic's own namespace: always protected from its actions (None: the policy's).
    agent_namespace: str | None = None
    # Callers allowed to send `force: true` (skip the approval; never the other checks).
    trusted_callers: frozenset[str] = frozenset()
    # The identity of a stdio / in-process client: the local user who started the server.
    local_caller: str = "local"
    # Scopes the local (stdio / in-memory) caller has; HTTP callers get their token's.
    local_scopes: frozenset[Scope] = frozenset({"read", "heal"})
    tokens: tuple[TokenConfig, ...] = ()
    # Verification: how long to wait for the replacement pod or the rollout, how often to look.
    verify_timeout_seconds: float = Field(default=180.0, gt=0)
    verify_poll_seconds: float = Field(default=2.0, gt=0)
    # The pod cache; off for one-shot uses (the stdio smoke test, benchmarks of single tools).
    pod_cache: bool = True
    watch_timeout_seconds: int = Field(default=300, ge=1)
    # The usage sampler (with the pod cache): PodMetrics listed cluster-wide this often
    # (metrics-server's resolution is 15 s; 0: off), kept per container for this long.
    usage_sample_seconds: float = Field(default=15.0, ge=0)
    usage_window_seconds: float = Field(default=1800.0, gt=0, le=24 * 3600)
    # A diagnosis' budget: every API request it sends (retries, back-off and each request's
    # time) within this many seconds; what is left unread once it is spent is listed as skipped.
    diagnosis_budget_seconds: float = Field(default=20.0, gt=0, le=600)
    # At most this much of one container log is read (the API's `limitBytes`).
    log_limit_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # /metrics on the HTTP transport: a `metrics`-scope bearer token (default), or open.
    metrics_auth: MetricsAuth = "required"
    # Bounds on analyze_logs arguments.
    max_tail_lines: int = Field(default=5000, ge=1)
    max_since_seconds: int = Field(default=7 * 24 * 3600, ge=1)

    @property
    def audit_path(self) -> Path:
        return StateLayout(self.state_dir).audit_log

    @property
    def store_path(self) -> Path:
        """One SQLite file for approvals, rate limits, plans and intents, so that the write
        path reserves, consumes and records its intent in one transaction."""
        return StateLayout(self.state_dir).state_db

    @property
    def store_target(self) -> Path | str:
        """The state store: the database URL when one is set, else `store_path`."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.store_path

    @property
    def approvals_path(self) -> Path:
        return self.store_path

    @property
    def ratelimit_path(self) -> Path:
        return self.store_path
