"""Settings read from `KUBEMEDIC_*` environment variables and mounted secret files."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mcp_server.config import STATE_DB


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
    state_dir: Path = Field(
        default=Path("var"),
        description="SQLite state (approvals, rate limits, checkpoints) and the audit log",
    )
    policy: Path | None = Field(
        default=None, description="policy YAML; default: the shipped policies/default.yaml"
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

    @property
    def audit_path(self) -> Path:
        return self.state_dir / "audit.jsonl"

    @property
    def approvals_db(self) -> Path:
        return self.state_dir / STATE_DB

    @property
    def ratelimit_db(self) -> Path:
        return self.state_dir / STATE_DB

    @property
    def checkpoint_db(self) -> Path:
        return self.state_dir / "checkpoints.sqlite"


def load_settings() -> Settings:
    return Settings()
