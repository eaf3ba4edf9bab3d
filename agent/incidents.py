"""Open incidents, one per workload at a time, in the state store, each held by one process.

A partial unique index (`workload` where `status = 'open'`) makes "at most one open incident
per workload" a property of the database, so it holds across restarts and between two watch
processes that share a state directory (SQLite `incidents.sqlite`) or replicas that share a
PostgreSQL database (every write takes the incidents domain's lock, as SQLite's `BEGIN
IMMEDIATE` does).

An open incident is driven by the process that holds it: `owner` (see `new_owner_id`) with a
lease until `lease_expires_at` (epoch seconds of the registry's clock). The holder renews the
lease while it works on the incident or waits for its approval; another process takes the
incident over (`claim`) only once it has no owner or the lease ran out, so two `kubemedic
watch` processes never act on one incident at the same time.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubemedic_store import Database, Migration, Row, Tx, open_database

DEFAULT_LEASE_SECONDS = 30.0

Clock = Callable[[], float]

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
    closed_at TEXT,
    owner TEXT,
    lease_expires_at DOUBLE PRECISION
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_open_per_workload
    ON incidents(workload) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS incidents_status ON incidents(status)
"""

# Columns added after the first release; files made before get them in migration 2.
_ADDED_COLUMNS = {"owner": "TEXT", "lease_expires_at": "DOUBLE PRECISION"}


def _add_lease_columns(tx: Tx) -> None:
    present = tx.columns("incidents")
    for column, kind in _ADDED_COLUMNS.items():
        if column not in present:
            tx.execute(f"ALTER TABLE incidents ADD COLUMN {column} {kind}")


MIGRATIONS = (
    Migration(1, "incidents", _SCHEMA),
    Migration(2, "incident owners and leases", run=_add_lease_columns),
)


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
    owner: str | None = None  # the process holding it (None: nobody; anyone may claim it)
    lease_expires_at: float | None = None


def new_incident_id() -> str:
    return f"inc-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def new_owner_id() -> str:
    """One process's name as an incident holder: host and pid say who it is, the random suffix
    keeps a restarted process (same pid in a new container) from passing for the old one."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class IncidentRegistry:
    def __init__(
        self,
        target: Database | Path | str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.db = open_database(target)
        self.lease_seconds = float(lease_seconds)
        self.clock = clock
        # The SQLite file (None on PostgreSQL).
        self.path: Path | None = getattr(self.db, "path", None)
        self.db.migrate("incidents", MIGRATIONS)

    @contextmanager
    def _tx(self) -> Iterator[Tx]:
        # A short transaction per operation (SQLite: a connection each), usable from any
        # thread or process; leases are ordered like the writes that grant them.
        with self.db.write("incidents") as db:
            yield db

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        with self.db.read() as db:
            yield db

    def open(
        self,
        workload: str,
        namespace: str,
        pod_name: str,
        issue_type: str | None = None,
        *,
        owner: str | None = None,
    ) -> tuple[Incident, bool]:
        """The open incident for `workload`, or a new one held by `owner` (None: by nobody).
        Returns (incident, created); an incident already open is returned as it is, not taken.
        """
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM incidents WHERE workload = ? AND status = 'open'", (workload,)
            ).one()
            if row is not None:
                return _incident(row), False
            # Read inside the transaction: leases are ordered like the writes that grant them.
            expires = None if owner is None else self.clock() + self.lease_seconds
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
                owner=owner,
                lease_expires_at=expires,
            )
            db.execute(
                "INSERT INTO incidents (id, workload, namespace, pod_name, issue_type, status, "
                "opened_at, owner, lease_expires_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?)",
                (
                    incident.id,
                    workload,
                    namespace,
                    pod_name,
                    issue_type,
                    incident.opened_at,
                    owner,
                    expires,
                ),
            )
            return incident, True

    def claimable(self, incident: Incident, owner: str) -> bool:
        """Whether `claim` could take `incident` as last read (no database access)."""
        return incident.status == "open" and (
            incident.owner is None
            or incident.owner == owner
            or incident.lease_expires_at is None
            or incident.lease_expires_at <= self.clock()
        )

    def claim(self, incident_id: str, owner: str, *, leader: bool = False) -> bool:
        """Take the open incident for `owner` with a fresh lease if nobody holds it, `owner`
        already does, or its holder's lease ran out. False: it is closed or held by another.

        `leader`: the caller has just become the holder of the leader Lease, so every other
        process has stopped acting (a leader that cannot renew steps down before its Lease
        expires); it takes the incident whatever its lease says."""
        with self._tx() as db:
            now = self.clock()
            cursor = db.execute(
                "UPDATE incidents SET owner = ?, lease_expires_at = ? "
                "WHERE id = ? AND status = 'open' AND (? OR owner IS NULL OR owner = ? "
                "OR lease_expires_at IS NULL OR lease_expires_at <= ?)",
                (owner, now + self.lease_seconds, incident_id, leader, owner, now),
            )
            return cursor.rowcount == 1

    def renew(self, owner: str) -> set[str]:
        """Extend the lease of every open incident `owner` holds (its heartbeat); the ids it
        still holds. An id missing from the answer was closed or taken over by another."""
        with self._tx() as db:
            now = self.clock()
            db.execute(
                "UPDATE incidents SET lease_expires_at = ? WHERE status = 'open' AND owner = ?",
                (now + self.lease_seconds, owner),
            )
            rows = db.execute(
                "SELECT id FROM incidents WHERE status = 'open' AND owner = ?", (owner,)
            ).all()
        return {row["id"] for row in rows}

    def release(self, incident_id: str, owner: str) -> bool:
        """Give up an open incident `owner` holds, so that another may claim it at once."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE incidents SET owner = NULL, lease_expires_at = NULL "
                "WHERE id = ? AND status = 'open' AND owner = ?",
                (incident_id, owner),
            )
            return cursor.rowcount == 1

    def close(self, incident_id: str, outcome: str, owner: str | None = None) -> bool:
        """Close an open incident; True if this call closed it. With `owner`, only while
        `owner` holds it (a process that lost the incident must not end it). Without, whoever
        holds it: the `approvals` command, run by a human, ends the incident it resumed."""
        with self._tx() as db:
            if owner is None:
                cursor = db.execute(
                    "UPDATE incidents SET status = 'closed', outcome = ?, closed_at = ?, "
                    "lease_expires_at = NULL WHERE id = ? AND status = 'open'",
                    (outcome, _now(), incident_id),
                )
            else:
                cursor = db.execute(
                    "UPDATE incidents SET status = 'closed', outcome = ?, closed_at = ?, "
                    "lease_expires_at = NULL WHERE id = ? AND status = 'open' AND owner = ?",
                    (outcome, _now(), incident_id, owner),
                )
            return cursor.rowcount == 1

    def last_closed(self, workload: str) -> Incident | None:
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM incidents WHERE workload = ? AND status = 'closed' "
                "ORDER BY closed_at DESC LIMIT 1",
                (workload,),
            ).one()
        return None if row is None else _incident(row)

    def get(self, incident_id: str) -> Incident | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).one()
        return None if row is None else _incident(row)

    def open_incidents(self) -> list[Incident]:
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM incidents WHERE status = 'open' ORDER BY opened_at"
            ).all()
        return [_incident(row) for row in rows]

    def all(self, limit: int = 200) -> list[Incident]:
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM incidents ORDER BY opened_at DESC LIMIT ?", (limit,)
            ).all()
        return [_incident(row) for row in rows]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _incident(row: Row) -> Incident:
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
        owner=row["owner"],
        lease_expires_at=row["lease_expires_at"],
    )
