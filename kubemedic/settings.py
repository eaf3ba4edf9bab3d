"""Settings read from `KUBEMEDIC_*` environment variables and mounted secret files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kubemedic_store import StateLayout


class Settings(BaseSettings):
    """Everything an operator can set without editing code."""

    model_config = SettingsConfigDict(
        env_prefix="KUBEMEDIC_",
        secrets_dir=None,
        extra="ignore",
    )

    kubeconfig: Path | None = Field(
        default=None,
        description="kubeconfig to use; default: KUBECONFIG, in-cluster in a pod, ~/.kube/config",
    )
    context: str | None = Field(
        default=None, description="kubeconfig context; default: the kubeconfig's current-context"
    )
    contexts: tuple[str, ...] = Field(
        default=(),
        description="several kubeconfig contexts, one cluster each (`watch --context A "
        "--context B`); one or none: `context`, one cluster",
    )
    clusters_file: Path | None = Field(
        default=None,
        description="a YAML list of {name, context, kubeconfig?, policy?}: one agent, several "
        "clusters",
    )
    state_dir: Path = Field(
        default=Path("var"),
        description="SQLite state (approvals, rate limits, checkpoints) and the audit log",
    )
    policy: Path | None = Field(
        default=None, description="policy YAML; default: the shipped policies/default.yaml"
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://… : all state (approvals, plans, intents, rate limits, "
        "incidents, the audit chain, checkpoints) in that database, shared by several replicas; "
        "unset: SQLite files in state_dir (one replica)",
    )
    database_url_file: Path | None = Field(
        default=None,
        description="a file holding the database URL (a mounted Kubernetes Secret)",
    )
    llm: str = Field(
        default="none", description="chat model, e.g. openai:gpt-4o-mini, anthropic:…, or none"
    )
    llm_timeout_seconds: float = Field(default=30.0, gt=0)
    # One MCP tool call of the agent (graph, watch loop, chat): past this, `tool_timeout`.
    tool_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    log_format: str = Field(default="auto", pattern="^(auto|json|text)$")
    log_level: str = Field(default="INFO")
    caller: str = Field(default="kubemedic-agent", description="who this process is to the server")
    namespace: str = Field(default="kubemedic", description="the agent's own namespace (protected)")
    usage_sample_seconds: float = Field(
        default=15.0,
        ge=0,
        description="the MCP server's usage sampler: PodMetrics listed this often (0: off)",
    )

    def cluster_specs(self) -> list[Any]:
        """The clusters (`kubemedic.clusters.ClusterSpec`) when there are several; [] for
        one (the one-cluster path: `kubeconfig` and `context`)."""
        from kubemedic.clusters import clusters_of

        return clusters_of(self.contexts, self.clusters_file, self.kubeconfig)

    @property
    def layout(self) -> StateLayout:
        """The state directory's files (SQLite stores, the audit log)."""
        return StateLayout(self.state_dir)

    @property
    def audit_path(self) -> Path:
        return self.layout.audit_log

    def database(self) -> str | None:
        """The PostgreSQL URL (KUBEMEDIC_DATABASE_URL, else the file named by
        KUBEMEDIC_DATABASE_URL_FILE), or None for SQLite in the state directory."""
        if self.database_url is not None and self.database_url.get_secret_value().strip():
            return self.database_url.get_secret_value().strip()
        if self.database_url_file is not None:
            return self.database_url_file.read_text(encoding="utf-8").strip() or None
        return None

    def database_secret(self) -> SecretStr | None:
        """`database()` as a secret, for configurations that are logged or printed."""
        url = self.database()
        return None if url is None else SecretStr(url)

    @property
    def store_target(self) -> Path | str:
        """Approvals, plans, intents and rate limits: the database, or state.sqlite."""
        return self.database() or self.layout.state_db

    @property
    def incidents_target(self) -> Path | str:
        return self.database() or self.layout.incidents_db

    @property
    def audit_target(self) -> Path | str:
        """The audit chain: the database's audit_records table, or audit.jsonl."""
        return self.database() or self.audit_path

    @property
    def checkpoint_target(self) -> Path | str:
        """LangGraph's checkpoints: the database, or checkpoints.sqlite."""
        return self.database() or self.checkpoint_db

    @property
    def approvals_db(self) -> Path:
        return self.layout.state_db

    @property
    def ratelimit_db(self) -> Path:
        return self.layout.state_db

    @property
    def checkpoint_db(self) -> Path:
        return self.layout.checkpoints_db


def load_settings() -> Settings:
    return Settings()
