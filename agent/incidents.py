"""Open incidents, one per workload at a time, persisted in SQLite.

A partial unique index (`workload` where `status = 'open'`) makes "at most one open incident
per workload" a property of the database, so it holds across restarts and between two watch
processes that share a state directory.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    workload TEXT NOT NULL,
    namespace TEXT NOT NULL,
    pod_name TEXT NOT NULL,
    issue_type TEXT,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    outcome TEXT,
    opened_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open_per_workload
    ON incidents(workload) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS incidents_status ON incidents(status);
"""


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    workload: str  # "<namespace>/<Kind>/<name>"
    namespace: str
    pod_name: str
    issue_type: str | None
    status: str
    outcome: str | None
    opened_at: str
    closed_at: str | None


def new_incident_id() -> str:
    return f"inc-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


class IncidentRegistry:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            db.executescript(_SCHEMA)  # commits on its own; not inside _tx
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # A short connection per operation: usable from any thread or process.
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def open(
        self, workload: str, namespace: str, pod_name: str, issue_type: str | None = None
    ) -> tuple[Incident, bool]:
        """The open incident for `workload`, or a new one. Returns (incident, created)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM incidents WHERE workload = ? AND status = 'open'", (workload,)
            ).fetchone()
            if row is not None:
                return _incident(row), False
            incident = Incident(
                id=new_incident_id(),
                workload=workload,
                namespace=namespace,
                pod_name=pod_name,
                issue_type=issue_type,
                status="open",
                outcome=None,
                opened_at=_now(),
                closed_at=None,
            )
            db.execute(
                "INSERT INTO incidents (id, workload, namespace, pod_name, issue_type, status, "
                "opened_at) VALUES (?, ?, ?, ?, ?, 'open', ?)",
                (
                    incident.id,
                    workload,
                    namespace,
                    pod_name,
                    issue_type,
                    incident.opened_at,
                ),
            )
            return incident, True

    def close(self, incident_id: str, outcome: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE incidents SET status = 'closed', outcome = ?, closed_at = ? "
                "WHERE id = ? AND status = 'open'",
                (outcome, _now(), incident_id),
            )

    def last_closed(self, workload: str) -> Incident | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM incidents WHERE workload = ? AND status = 'closed' "
                "ORDER BY closed_at DESC LIMIT 1",
                (workload,),
            ).fetchone()
        return None if row is None else _incident(row)

    def get(self, incident_id: str) -> Incident | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return None if row is None else _incident(row)

    def open_incidents(self) -> list[Incident]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM incidents WHERE status = 'open' ORDER BY opened_at"
            ).fetchall()
        return [_incident(row) for row in rows]

    def all(self, limit: int = 200) -> list[Incident]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM incidents ORDER BY opened_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_incident(row) for row in rows]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _incident(row: sqlite3.Row) -> Incident:
    return Incident(
        id=row["id"],
        workload=row["workload"],
        namespace=row["namespace"],
        pod_name=row["pod_name"],
        issue_type=row["issue_type"],
        status=row["status"],
        outcome=row["outcome"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )
