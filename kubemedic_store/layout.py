"""The state directory's files, named once.

The MCP server, the autonomous loop, the CLI and the evals share one state directory (on one
replica, or when PostgreSQL is not configured); each finds its file here, so two processes can
never disagree on where the approvals, the incidents or the audit chain live.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE_DB = "state.sqlite"
INCIDENTS_DB = "incidents.sqlite"
CHECKPOINTS_DB = "checkpoints.sqlite"
AUDIT_LOG = "audit.jsonl"
SLACK_DB = "slack.sqlite"
METRICS_SNAPSHOT = "metrics.prom"
# Earlier releases kept approvals and rate limits in files of their own (moved on start).
LEGACY_APPROVALS_DB = "approvals.sqlite"
LEGACY_RATELIMITS_DB = "ratelimits.sqlite"


@dataclass(frozen=True, slots=True)
class StateLayout:
    """Where each store keeps its file in `state_dir`."""

    state_dir: Path

    @property
    def state_db(self) -> Path:
        """Approvals, plans, intents and rate limits: one SQLite file, so the write path
        reserves, consumes and records its intent in one transaction."""
        return self.state_dir / STATE_DB

    @property
    def incidents_db(self) -> Path:
        return self.state_dir / INCIDENTS_DB

    @property
    def checkpoints_db(self) -> Path:
        """LangGraph's checkpoints (pending approvals survive a restart)."""
        return self.state_dir / CHECKPOINTS_DB

    @property
    def audit_log(self) -> Path:
        """The hash-chained audit trail, one JSON record a line."""
        return self.state_dir / AUDIT_LOG

    @property
    def slack_db(self) -> Path:
        return self.state_dir / SLACK_DB

    @property
    def metrics_snapshot(self) -> Path:
        """The demo's final Prometheus exposition."""
        return self.state_dir / METRICS_SNAPSHOT

    @property
    def legacy_approvals_db(self) -> Path:
        return self.state_dir / LEGACY_APPROVALS_DB

    @property
    def legacy_ratelimits_db(self) -> Path:
        return self.state_dir / LEGACY_RATELIMITS_DB
