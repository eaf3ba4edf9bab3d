"""Persisted action history for rate limits, cooldowns and escalation (SQLite, WAL).

One table of action records. A restart of the process cannot reset the limits: the records
are on disk and every read goes to the database. One connection per store, guarded by a lock,
so the store is safe to share between threads; WAL and a busy timeout let several processes
(the MCP server and a CLI) use the same file.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from policies.decision import COUNTED, HOUR, ActionRecord, Outcome
from policies.policy import RateLimits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    namespace TEXT NOT NULL,
    workload TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_at ON actions (at);
CREATE INDEX IF NOT EXISTS actions_workload ON actions (namespace, workload, at);
"""

_COUNTED = tuple(sorted(COUNTED))
_IN_COUNTED = "outcome IN (" + ",".join("?" * len(_COUNTED)) + ")"


class RateLimitStoreError(RuntimeError):
    """The store could not be opened or written."""


class RateLimitExceeded(Exception):
    """`reserve()` refused: `scope` is global, workload or cooldown."""

    def __init__(self, scope: str, detail: str) -> None:
        super().__init__(detail)
        self.scope = scope
        self.detail = detail


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:  # naive datetimes are taken as UTC, never as local time
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _row(row: tuple[int, float, str, str, str, str]) -> ActionRecord:
    ident, at, namespace, workload, action, outcome = row
    return ActionRecord(
        at=datetime.fromtimestamp(at, UTC),
        namespace=namespace,
        workload=workload,
        action=action,
        outcome=outcome,
        id=ident,
    )


class RateLimitStore:
    """Action records on SQLite. `path=":memory:"` for a throwaway store."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=10.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise RateLimitStoreError(f"rate-limit store {self.path}: {error}") from error

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RateLimitStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def record(
        self,
        namespace: str,
        workload: str,
        action: str,
        outcome: str = Outcome.EXECUTED,
        at: datetime | None = None,
    ) -> ActionRecord:
        """Store one attempted action (committed before this returns)."""
        moment = at or datetime.now(UTC)
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO actions (at, namespace, workload, action, outcome)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (_ts(moment), namespace, workload, str(action), str(outcome)),
                )
            except sqlite3.Error as error:
                raise RateLimitStoreError(f"rate-limit store {self.path}: {error}") from error
            ident = cursor.lastrowid
        return ActionRecord(
            at=datetime.fromtimestamp(_ts(moment), UTC),
            namespace=namespace,
            workload=workload,
            action=str(action),
            outcome=str(outcome),
            id=ident,
        )

    def update_outcome(self, record_id: int, outcome: str) -> bool:
        """Set the outcome of a record (e.g. healed / not_healed after verification)."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE actions SET outcome = ? WHERE id = ?", (str(outcome), record_id)
            )
            return cursor.rowcount == 1

    def count_since(
        self, since: datetime, namespace: str | None = None, workload: str | None = None
    ) -> int:
        """Counted writes (every outcome but dry_run) since `since`, optionally per workload."""
        sql = f"SELECT COUNT(*) FROM actions WHERE at >= ? AND {_IN_COUNTED}"
        args: list[object] = [_ts(since), *_COUNTED]
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        if workload is not None:
            sql += " AND workload = ?"
            args.append(workload)
        with self._lock:
            (count,) = self._db.execute(sql, args).fetchone()
        return int(count)

    def last_action(
        self, namespace: str, workload: str, action: str | None = None
    ) -> ActionRecord | None:
        """The latest counted record for a workload (of one action, if given)."""
        sql = (
            "SELECT id, at, namespace, workload, action, outcome FROM actions"
            f" WHERE namespace = ? AND workload = ? AND {_IN_COUNTED}"
        )
        args: list[object] = [namespace, workload, *_COUNTED]
        if action is not None:
            sql += " AND action = ?"
            args.append(str(action))
        sql += " ORDER BY at DESC, id DESC LIMIT 1"
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return _row(row) if row else None

    def recent_actions(self, namespace: str, workload: str, since: datetime) -> list[ActionRecord]:
        """A workload's records (all outcomes) since `since`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, namespace, workload, action, outcome FROM actions"
                " WHERE namespace = ? AND workload = ? AND at >= ? ORDER BY at, id",
                (namespace, workload, _ts(since)),
            ).fetchall()
        return [_row(row) for row in rows]

    def reserve(
        self,
        namespace: str,
        workload: str,
        action: str,
        limits: RateLimits,
        at: datetime | None = None,
    ) -> ActionRecord:
        """Check the limits and record the action in one transaction, or raise
        RateLimitExceeded. Two callers racing for the last slot cannot both get it, even from
        two processes: the check and the insert hold SQLite's write lock together. Record the
        real outcome afterwards with `update_outcome` (e.g. failed, healed)."""
        moment = at or datetime.now(UTC)
        now = _ts(moment)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    record = reserve_in(self._db, namespace, workload, str(action), limits, now)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise RateLimitStoreError(f"rate-limit store {self.path}: {error}") from error
        return record

    def release(self, record_id: int) -> bool:
        """Give a reserved slot back (the write was never applied): it stops counting."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM actions WHERE id = ?", (record_id,))
            return cursor.rowcount == 1


def create_schema(db: sqlite3.Connection) -> None:
    """The actions table, for a store that shares this database file."""
    db.executescript(_SCHEMA)


def reserve_in(
    db: sqlite3.Connection,
    namespace: str,
    workload: str,
    action: str,
    limits: RateLimits,
    now: float,
) -> ActionRecord:
    """Check the limits and insert the action inside the caller's write transaction (the
    write path reserves, consumes the approval and records its intent in one)."""
    hour_ago = now - HOUR.total_seconds()
    counted = f"at >= ? AND {_IN_COUNTED}"
    (total,) = db.execute(
        f"SELECT COUNT(*) FROM actions WHERE {counted}", (hour_ago, *_COUNTED)
    ).fetchone()
    if total >= limits.global_per_hour:
        raise RateLimitExceeded(
            "global", f"{total} actions in the last hour, limit {limits.global_per_hour}"
        )
    (mine,) = db.execute(
        f"SELECT COUNT(*) FROM actions WHERE {counted} AND namespace = ? AND workload = ?",
        (hour_ago, *_COUNTED, namespace, workload),
    ).fetchone()
    if mine >= limits.per_workload_per_hour:
        raise RateLimitExceeded(
            "workload",
            f"{mine} actions on {workload} in the last hour, limit {limits.per_workload_per_hour}",
        )
    (last,) = db.execute(
        f"SELECT MAX(at) FROM actions WHERE {_IN_COUNTED}"
        " AND namespace = ? AND workload = ? AND action = ?",
        (*_COUNTED, namespace, workload, action),
    ).fetchone()
    cooldown = limits.cooldown_per_workload_seconds
    if last is not None and now - last < cooldown:
        raise RateLimitExceeded(
            "cooldown",
            f"{action} on {workload} is cooling down for {cooldown - (now - last):.0f}s more",
        )
    cursor = db.execute(
        "INSERT INTO actions (at, namespace, workload, action, outcome) VALUES (?, ?, ?, ?, ?)",
        (now, namespace, workload, action, str(Outcome.EXECUTED)),
    )
    return ActionRecord(
        at=datetime.fromtimestamp(now, UTC),
        namespace=namespace,
        workload=workload,
        action=action,
        outcome=str(Outcome.EXECUTED),
        id=cursor.lastrowid,
    )
