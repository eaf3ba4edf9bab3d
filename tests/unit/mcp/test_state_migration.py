"""Upgrading a state directory: approvals and rate limits from the two old files move into
`state.sqlite` once, so neither a pending approval nor a spent limit is lost."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from mcp_server.approvals import ApprovalStore
from mcp_server.config import STATE_DB
from mcp_server.ledger import Ledger, migrate_legacy_state
from mcp_server.ratelimit_store import RateLimitStore


def test_old_approvals_and_rate_limits_move_into_the_state_database(tmp_path: Path) -> None:
    old_approvals = ApprovalStore(tmp_path / "approvals.sqlite")
    pending = old_approvals.request(
        "delete_pod", "Pod/default/web-1", reason="crash loop", requested_by="agent"
    )
    with RateLimitStore(tmp_path / "ratelimits.sqlite") as old_limits:
        old_limits.record("default", "Deployment/web", "delete_pod", at=datetime.now(UTC))

    migrate_legacy_state(tmp_path, tmp_path / STATE_DB)
    migrate_legacy_state(tmp_path, tmp_path / STATE_DB)  # once only: the old files are gone

    moved = ApprovalStore(tmp_path / STATE_DB).get(pending.id)
    assert moved is not None and moved.status == "pending" and moved.target == "Pod/default/web-1"
    with RateLimitStore(tmp_path / STATE_DB) as limits:
        since = datetime(2000, 1, 1, tzinfo=UTC)
        assert [r.action for r in limits.recent_actions("default", "Deployment/web", since)] == [
            "delete_pod"
        ]
    assert not (tmp_path / "approvals.sqlite").exists()
    assert (tmp_path / "approvals.sqlite.migrated").exists()
    assert (tmp_path / "ratelimits.sqlite.migrated").exists()
    with closing(sqlite3.connect(tmp_path / STATE_DB)) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM approvals").fetchone()
    assert count == 1


def test_a_state_database_from_before_versioned_migrations_is_adopted_in_place(
    tmp_path: Path,
) -> None:
    """A `state.sqlite` written by a release without `schema_migrations` keeps its rows; the
    stores record their migrations on it and a second start applies nothing again."""
    path = tmp_path / STATE_DB
    with closing(sqlite3.connect(path)) as db:
        db.executescript(
            """
            CREATE TABLE actions (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
                namespace TEXT NOT NULL, workload TEXT NOT NULL, action TEXT NOT NULL,
                outcome TEXT NOT NULL);
            INSERT INTO actions (at, namespace, workload, action, outcome)
                VALUES (4102444800.0, 'default', 'Deployment/web', 'delete_pod', 'executed');
            """
        )
    ledger = Ledger(path)
    with RateLimitStore(path) as limits:
        assert limits.count_since(datetime(2000, 1, 1, tzinfo=UTC)) == 1
    applied = {(row["domain"], row["version"]) for row in ledger.db.migrations()}
    assert applied == {("approvals", 1), ("ratelimits", 1), ("ledger", 1)}
    Ledger(path)  # a second start
    assert len(ledger.db.migrations()) == 3
