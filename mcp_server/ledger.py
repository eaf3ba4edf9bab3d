"""The write ledger: plans and intents in the state database, beside approvals and rate limits.

`begin` is the one transaction before any write: it replays an idempotency key (or a plan)
seen before, reserves the rate-limit slots, consumes the approval and inserts the intent, all
under the state domain's write lock (SQLite: `BEGIN IMMEDIATE` on `state.sqlite`; PostgreSQL:
`pg_advisory_xact_lock` on the state key), so two processes on one state directory, or two
replicas on one database, cannot both pass. `finish`
records the outcome exactly once. An intent whose outcome is missing and whose owner is gone
(a dead process on this host, or an expired lease) is an orphan for reconciliation.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubemedic_store import (
    Database,
    Migration,
    Row,
    SqliteDatabase,
    StateLayout,
    Tx,
    open_database,
)
from mcp_server import approvals as approvals_store
from mcp_server import ratelimit_store
from mcp_server.approvals import Approval, consume_in
from mcp_server.plans import Plan
from mcp_server.ratelimit_store import cluster_namespace, global_prefix, reserve_in
from policies import Outcome, RateLimits

JSON = dict[str, Any]
IntentOutcome = Literal["applied", "not_applied"]

MIGRATIONS = (
    Migration(
        1,
        "plans and intents",
        """
CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intents (
    action_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    plan_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    initiator TEXT NOT NULL,
    approver TEXT,
    approval_id TEXT,
    reservation_id BIGINT,
    owner TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    lease_expires_at DOUBLE PRECISION NOT NULL,
    outcome TEXT CHECK (outcome IN ('applied', 'not_applied')),
    outcome_at DOUBLE PRECISION,
    result TEXT NOT NULL DEFAULT '{}',
    expected TEXT NOT NULL DEFAULT '{}',
    verification TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS intents_plan ON intents(plan_id);
CREATE INDEX IF NOT EXISTS intents_open ON intents(outcome, lease_expires_at)
""",
    ),
)


def migrate(db: Database) -> None:
    """Every table of the state database: approvals, action records, plans and intents."""
    approvals_store.migrate(db)
    ratelimit_store.migrate(db)
    db.migrate("ledger", MIGRATIONS)


# How long an intent's owner may take from the intent to its outcome record before another
# process may reconcile it. The write in between is bounded far below this by the API timeouts.
DEFAULT_WRITE_LEASE_SECONDS = 300.0


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), so
    that a reused pid is not taken for the process that wrote an intent."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def process_owner() -> str:
    """`host:pid:start`: who holds an intent until it has an outcome."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(owner: str) -> bool | None:
    """True / False for an owner on this host; None when it is on another host (only its
    lease can tell)."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not (pid_text.isascii() and pid_text.isdigit()) or not start:
        return None
    if not _start_time(os.getpid()):
        return None  # no /proc here: only the lease can tell
    current = _start_time(int(pid_text))
    return bool(current) and current == start


@dataclass(frozen=True, slots=True)
class Intent:
    action_id: str
    idempotency_key: str
    plan_id: str
    action: str
    target: JSON
    initiator: str
    approver: str | None
    approval_id: str | None
    reservation_id: int | None
    owner: str
    created_at: float
    lease_expires_at: float
    outcome: IntentOutcome | None
    outcome_at: float | None
    result: JSON = field(default_factory=dict)
    expected: JSON = field(default_factory=dict)
    verification: JSON = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Begun:
    intent: Intent
    approval: Approval | None


@dataclass(frozen=True, slots=True)
class Replayed:
    """The idempotency key (or an applied intent of the same plan) was seen before."""

    intent: Intent


class Ledger:
    def __init__(
        self,
        target: Database | Path | str,
        *,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        write_lease_seconds: float = DEFAULT_WRITE_LEASE_SECONDS,
    ) -> None:
        self.db = open_database(target)
        self._clock = clock
        self.owner = owner or process_owner()
        self.write_lease_seconds = write_lease_seconds
        migrate(self.db)

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        with self.db.read() as db:
            yield db

    @contextmanager
    def _tx(self, *, durable: bool = True, lock: str | None = "state") -> Iterator[Tx]:
        with self.db.write(lock, durable=durable) as db:
            yield db

    # -- plans -------------------------------------------------------------------------------

    def save_plan(self, plan: Plan) -> str:
        plan_id = plan.plan_id
        # Not fsynced: a plan lost in a power cut is planned again; intents are what must last.
        # One upsert needs no domain lock: it serialises on its row alone.
        with self._tx(durable=False, lock=None) as db:
            db.execute(
                # The same digest may be planned again with fresher checks (a rate limit
                # that now passes): the latest look is what execution refuses on.
                "INSERT INTO plans (plan_id, created_at, body) VALUES (?, ?, ?) "
                "ON CONFLICT (plan_id) DO UPDATE SET created_at = excluded.created_at, "
                "body = excluded.body",
                (plan_id, plan.created_at or self._clock(), json.dumps(plan.to_dict())),
            )
        return plan_id

    def plan(self, plan_id: str) -> Plan | None:
        with self._read() as db:
            row = db.execute("SELECT body FROM plans WHERE plan_id = ?", (plan_id,)).one()
        return None if row is None else Plan.from_dict(json.loads(row["body"]))

    # -- intents -----------------------------------------------------------------------------

    def begin(
        self,
        plan: Plan,
        *,
        idempotency_key: str,
        initiator: str,
        limits: RateLimits,
        approval_id: str | None,
        approval_target: str,
        expected: JSON,
    ) -> Begun | Replayed:
        """Reserve, consume, record the intent — or replay. Raises RateLimitExceeded or an
        ApprovalError (nothing is kept then: the transaction rolls back)."""
        now = self._clock()
        with self._tx() as db:
            seen = _earlier_intent(db, idempotency_key, plan.plan_id)
            if seen is not None:
                return Replayed(_intent(seen))
            reservation = reserve_in(
                db,
                cluster_namespace(plan.cluster, plan.namespace),
                plan.workload,
                plan.action,
                limits,
                now,
                global_prefix(plan.cluster, limits),
            )
            approval = None
            if approval_id is not None:
                approval = _consume(db, approval_id, approval_target, plan, now)
            intent = Intent(
                action_id="act-" + secrets.token_hex(8),
                idempotency_key=idempotency_key,
                plan_id=plan.plan_id,
                action=plan.action,
                target=dict(plan.target),
                initiator=initiator,
                approver=None if approval is None else approval.decided_by,
                approval_id=approval_id,
                reservation_id=reservation.id,
                owner=self.owner,
                created_at=now,
                lease_expires_at=now + self.write_lease_seconds,
                outcome=None,
                outcome_at=None,
                expected=dict(expected),
            )
            _insert(db, intent)
        return Begun(intent, approval)

    def finish(
        self,
        action_id: str,
        outcome: IntentOutcome,
        result: JSON,
        *,
        restore_approval: bool = False,
    ) -> bool:
        """Record the outcome once, by the intent's holder (False: it had one already, or
        another process took it over). A write that was not applied
        gives its rate-limit slot back; with `restore_approval` (the process died before the
        write) the consumed approval is granted again, so the approved change can still run."""
        now = self._clock()
        with self._tx() as db:
            row = db.execute("SELECT * FROM intents WHERE action_id = ?", (action_id,)).one()
            if row is None or row["outcome"] is not None or row["owner"] != self.owner:
                return False
            db.execute(
                "UPDATE intents SET outcome = ?, outcome_at = ?, result = ? WHERE action_id = ?",
                (outcome, now, json.dumps(result, default=str), action_id),
            )
            if outcome == "not_applied" and row["reservation_id"] is not None:
                db.execute("DELETE FROM actions WHERE id = ?", (row["reservation_id"],))
            if outcome == "not_applied" and restore_approval and row["approval_id"]:
                db.execute(
                    "UPDATE approvals SET status = 'granted', consumed_at = NULL "
                    "WHERE id = ? AND status = 'consumed'",
                    (row["approval_id"],),
                )
        return True

    def set_verification(self, action_id: str, verification: JSON) -> None:
        """Store the verifier's state; a final verdict also becomes the rate-limit record's
        outcome (escalation reads it)."""
        status = verification.get("status")
        with self._tx(durable=False) as db:
            row = db.execute(
                "SELECT reservation_id FROM intents WHERE action_id = ?", (action_id,)
            ).one()
            if row is None:
                return
            db.execute(
                "UPDATE intents SET verification = ? WHERE action_id = ?",
                (json.dumps(verification, default=str), action_id),
            )
            final = {"healed": Outcome.HEALED, "not_healed": Outcome.NOT_HEALED}.get(str(status))
            if final is not None and row["reservation_id"] is not None:
                db.execute(
                    "UPDATE actions SET outcome = ? WHERE id = ?",
                    (str(final), row["reservation_id"]),
                )

    def intent(self, action_id: str) -> Intent | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM intents WHERE action_id = ?", (action_id,)).one()
        return None if row is None else _intent(row)

    def intent_of_plan(self, plan_id: str) -> Intent | None:
        """The plan's open or applied intent (a plan is applied at most once)."""
        with self._read() as db:
            row = _open_or_applied(db, plan_id)
        return None if row is None else _intent(row)

    def still_mine(self, action_id: str) -> bool:
        """Just before the write: this process still holds the intent (nobody reconciled it
        while we stalled), and its lease starts again."""
        now = self._clock()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE intents SET lease_expires_at = ? "
                "WHERE action_id = ? AND owner = ? AND outcome IS NULL",
                (now + self.write_lease_seconds, action_id, self.owner),
            )
            return cursor.rowcount == 1

    def intents_by_key(self, idempotency_key: str) -> list[Intent]:
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM intents WHERE idempotency_key = ?", (idempotency_key,)
            ).all()
        return [_intent(row) for row in rows]

    def intents(self, *, limit: int = 1000) -> list[Intent]:
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM intents ORDER BY created_at DESC LIMIT ?", (limit,)
            ).all()
        return [_intent(row) for row in rows]

    def orphans(self) -> list[Intent]:
        """Intents without an outcome whose owner is gone: a dead process on this host, or
        any owner whose lease expired. This process's own open intents are never orphans."""
        now = self._clock()
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM intents WHERE outcome IS NULL ORDER BY created_at"
            ).all()
        found = []
        for row in rows:
            intent = _intent(row)
            if intent.owner == self.owner:
                continue
            alive = owner_alive(intent.owner)
            if alive is False or (alive is None and intent.lease_expires_at <= now):
                found.append(intent)
        return found

    def adopt(self, intent: Intent) -> bool:
        """Take an orphan over (one process reconciles it): False if someone else did."""
        now = self._clock()
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE intents SET owner = ?, lease_expires_at = ? "
                "WHERE action_id = ? AND owner = ? AND outcome IS NULL",
                (self.owner, now + self.write_lease_seconds, intent.action_id, intent.owner),
            )
            return cursor.rowcount == 1

    def owner_gone(self, intent: Intent) -> bool:
        if intent.owner == self.owner:
            return False
        alive = owner_alive(intent.owner)
        return alive is False or (alive is None and intent.lease_expires_at <= self._clock())


def _earlier_intent(db: Tx, idempotency_key: str, plan_id: str) -> Row | None:
    """The intent recorded with this key, else the plan's open or applied one."""
    seen = db.execute("SELECT * FROM intents WHERE idempotency_key = ?", (idempotency_key,)).one()
    if seen is None:
        # A plan is applied at most once, whatever key the caller sends.
        seen = _open_or_applied(db, plan_id)
    return seen


def _consume(db: Tx, approval_id: str, approval_target: str, plan: Plan, now: float) -> Approval:
    """Use up the approval for this plan's action on its target (ApprovalError otherwise)."""
    return consume_in(
        db,
        approval_id,
        plan.action,
        approval_target,
        plan_id=plan.plan_id,
        now=now,
        parameters=plan.parameters,
    )


def _open_or_applied(db: Tx, plan_id: str) -> Row | None:
    return db.execute(
        "SELECT * FROM intents WHERE plan_id = ? AND (outcome IS NULL OR outcome = 'applied') "
        "ORDER BY created_at LIMIT 1",
        (plan_id,),
    ).one()


def _insert(db: Tx, intent: Intent) -> None:
    db.execute(
        "INSERT INTO intents (action_id, idempotency_key, plan_id, action, target, initiator, "
        "approver, approval_id, reservation_id, owner, created_at, lease_expires_at, expected) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            intent.action_id,
            intent.idempotency_key,
            intent.plan_id,
            intent.action,
            json.dumps(intent.target),
            intent.initiator,
            intent.approver,
            intent.approval_id,
            intent.reservation_id,
            intent.owner,
            intent.created_at,
            intent.lease_expires_at,
            json.dumps(intent.expected),
        ),
    )


def _intent(row: Row) -> Intent:
    return Intent(
        action_id=row["action_id"],
        idempotency_key=row["idempotency_key"],
        plan_id=row["plan_id"],
        action=row["action"],
        target=json.loads(row["target"]),
        initiator=row["initiator"],
        approver=row["approver"],
        approval_id=row["approval_id"],
        reservation_id=row["reservation_id"],
        owner=row["owner"],
        created_at=row["created_at"],
        lease_expires_at=row["lease_expires_at"],
        outcome=row["outcome"],
        outcome_at=row["outcome_at"],
        result=json.loads(row["result"] or "{}"),
        expected=json.loads(row["expected"] or "{}"),
        verification=json.loads(row["verification"] or "{}"),
    )


def migrate_legacy_state(state_dir: Path, store_path: Path) -> None:
    """Earlier releases kept approvals and rate limits in two files; move their rows into the
    one state database once, so neither a pending approval nor a limit is lost on upgrade."""
    legacy = {
        "approvals": StateLayout(state_dir).legacy_approvals_db,
        "actions": StateLayout(state_dir).legacy_ratelimits_db,
    }
    found = {table: path for table, path in legacy.items() if path.exists()}
    if not found:
        return
    store = SqliteDatabase(store_path)
    migrate(store)  # creates every table
    db = store.connection()
    try:
        for table, path in found.items():
            db.execute("ATTACH DATABASE ? AS legacy", (str(path),))
            try:
                db.execute("BEGIN IMMEDIATE")
                exists = db.execute(
                    "SELECT 1 FROM legacy.sqlite_master WHERE type='table' AND name=?", (table,)
                ).fetchone()
                if exists:
                    columns = ",".join(
                        row["name"] for row in db.execute(f"PRAGMA legacy.table_info({table})")
                    )
                    db.execute(
                        f"INSERT OR IGNORE INTO main.{table} ({columns}) "
                        f"SELECT {columns} FROM legacy.{table}"
                    )
                db.execute("COMMIT")
            finally:
                db.execute("DETACH DATABASE legacy")
            path.rename(path.with_name(path.name + ".migrated"))
    finally:
        db.close()
