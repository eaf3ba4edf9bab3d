"""Single-use approvals for destructive actions, kept in the state store (SQLite or PostgreSQL).

Lifecycle: `request` -> pending (with an id) -> a human `grant`s or `reject`s it, by name, out
of band -> the server `consume`s a granted one exactly once, for exactly the action and target
it was requested for, before it expires. Every step is one write transaction under the state
domain's lock, so two server processes (or replicas) cannot both consume the same approval.
"""

from __future__ import annotations

import builtins
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubemedic_store import Database, Migration, Row, Tx, open_database

Status = Literal["pending", "granted", "rejected", "consumed", "expired"]
STATUSES: tuple[Status, ...] = ("pending", "granted", "rejected", "consumed", "expired")

DEFAULT_TTL_SECONDS = 3600.0

MIGRATIONS = (
    Migration(
        1,
        "approvals",
        """
        CREATE TABLE IF NOT EXISTS approvals (
            id TEXT PRIMARY KEY,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            reason TEXT NOT NULL,
            risk TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            requested_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            status TEXT NOT NULL,
            decided_by TEXT,
            decided_at DOUBLE PRECISION,
            note TEXT,
            consumed_at DOUBLE PRECISION,
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status)
        """,
    ),
)


def migrate(db: Database) -> None:
    db.migrate("approvals", MIGRATIONS)


# The values an approval binds besides the action and the target (when no plan binds it all).
_APPROVED_PARAMETERS = ("memory_limit_bytes", "container", "revision", "replicas")


def target_key(kind: str, namespace: str, name: str, cluster: str | None = None) -> str:
    """The one string an approval is bound to, e.g. `Pod/default/web-7d4b9`; with several
    clusters it names the cluster first (`prod-eu/Pod/default/web-7d4b9`)."""
    key = f"{kind}/{namespace}/{name}"
    return key if cluster is None else f"{cluster}/{key}"


def split_target_key(key: str) -> tuple[str | None, str, str, str]:
    """(cluster or None, kind, namespace, name) of a `target_key`."""
    parts = str(key).split("/")
    cluster = parts.pop(0) if len(parts) >= 4 else None
    kind, namespace, name = (parts + ["", "", ""])[:3]
    return cluster, kind, namespace, name


class ApprovalError(Exception):
    """An approval cannot be used (or decided) as asked; `code` is the MCP error code."""

    code = "approval_invalid"

    def __init__(self, message: str, approval_id: str) -> None:
        super().__init__(message)
        self.message = message
        self.approval_id = approval_id


class ApprovalNotFound(ApprovalError):
    code = "approval_not_found"


class ApprovalNotGranted(ApprovalError):
    code = "approval_not_granted"


class ApprovalExpired(ApprovalError):
    code = "approval_expired"


class ApprovalMismatch(ApprovalError):
    code = "approval_mismatch"


class ApprovalAlreadyUsed(ApprovalError):
    code = "approval_used"


@dataclass
class Approval:
    id: str
    action: str
    target: str
    reason: str
    risk: str
    requested_by: str
    requested_at: float
    expires_at: float
    status: Status
    decided_by: str | None = None
    decided_at: float | None = None
    note: str | None = None
    consumed_at: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ApprovalStore:
    def __init__(
        self,
        target: Database | Path | str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = open_database(target)
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        migrate(self.db)

    @contextmanager
    def _tx(self) -> Iterator[Tx]:
        # An approval's grant and use must survive a power cut: durable commits.
        with self.db.write("state") as db:
            yield db

    def _expire(self, db: Tx) -> None:
        db.execute(
            "UPDATE approvals SET status='expired' WHERE status IN ('pending','granted') "
            "AND expires_at <= ?",
            (self._clock(),),
        )

    def request(
        self,
        action: str,
        target: str,
        *,
        reason: str,
        risk: str = "medium",
        requested_by: str,
        details: dict[str, Any] | None = None,
        ttl_seconds: float | None = None,
    ) -> Approval:
        """A pending approval for `action` on `target`; an open one for the same pair (and
        the same plan, when `details` names one) is reused. A pending one for an older plan of
        the same pair is superseded: a human must not approve values nobody will apply."""
        now = self._clock()
        plan_id = (details or {}).get("plan_id")
        with self._tx() as db:
            self._expire(db)
            rows = db.execute(
                "SELECT * FROM approvals WHERE action=? AND target=? AND status='pending' "
                "ORDER BY requested_at DESC",
                (action, target),
            ).all()
            for row in rows:
                if plan_id is None or json.loads(row["details"] or "{}").get("plan_id") == plan_id:
                    return _approval(row)
                db.execute(
                    "UPDATE approvals SET status='expired', note=? WHERE id=?",
                    ("superseded by a newer plan", row["id"]),
                )
            approval = Approval(
                id=secrets.token_hex(8),
                action=action,
                target=target,
                reason=reason,
                risk=risk,
                requested_by=requested_by,
                requested_at=now,
                expires_at=now + (ttl_seconds if ttl_seconds is not None else self.ttl_seconds),
                status="pending",
                details=details or {},
            )
            db.execute(
                "INSERT INTO approvals (id, action, target, reason, risk, requested_by, "
                "requested_at, expires_at, status, details) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    approval.id,
                    action,
                    target,
                    reason,
                    risk,
                    requested_by,
                    approval.requested_at,
                    approval.expires_at,
                    "pending",
                    json.dumps(approval.details, default=str),
                ),
            )
            return approval

    def _decide(self, approval_id: str, by: str, status: Status, note: str | None) -> Approval:
        if not by.strip():
            raise ApprovalError("a decision needs the name of the person who made it", approval_id)
        with self._tx() as db:
            self._expire(db)
            row = db.execute("SELECT * FROM approvals WHERE id=?", (approval_id,)).one()
            if row is None:
                raise ApprovalNotFound(f"no approval {approval_id}", approval_id)
            if row["status"] == "expired":
                raise ApprovalExpired(f"approval {approval_id} has expired", approval_id)
            if row["status"] != "pending":
                raise ApprovalError(
                    f"approval {approval_id} is already {row['status']}", approval_id
                )
            db.execute(
                "UPDATE approvals SET status=?, decided_by=?, decided_at=?, note=? WHERE id=?",
                (status, by, self._clock(), note, approval_id),
            )
            return _approval(_row(db, approval_id))

    def grant(self, approval_id: str, by: str, note: str | None = None) -> Approval:
        return self._decide(approval_id, by, "granted", note)

    def reject(self, approval_id: str, by: str, reason: str = "") -> Approval:
        return self._decide(approval_id, by, "rejected", reason or None)

    def get(self, approval_id: str) -> Approval | None:
        with self._tx() as db:
            self._expire(db)
            row = db.execute("SELECT * FROM approvals WHERE id=?", (approval_id,)).one()
            return _approval(row) if row is not None else None

    def list(self, status: Status | None = None) -> builtins.list[Approval]:
        with self._tx() as db:
            self._expire(db)
            if status is None:
                rows = db.execute("SELECT * FROM approvals ORDER BY requested_at").all()
            else:
                rows = db.execute(
                    "SELECT * FROM approvals WHERE status=? ORDER BY requested_at", (status,)
                ).all()
            return [_approval(row) for row in rows]

    def consume(
        self, approval_id: str, action: str, target: str, *, plan_id: str | None = None
    ) -> Approval:
        """Use a granted approval for exactly this action on this target (and plan), once."""
        with self._tx() as db:
            self._expire(db)
            return consume_in(db, approval_id, action, target, plan_id=plan_id, now=self._clock())

    def pending_stats(self) -> tuple[int, float]:
        """(number pending, age in seconds of the oldest pending one) for the gauges."""
        pending = self.list("pending")
        if not pending:
            return 0, 0.0
        oldest = min(a.requested_at for a in pending)
        return len(pending), max(0.0, self._clock() - oldest)


def consume_in(
    db: Tx,
    approval_id: str,
    action: str,
    target: str,
    *,
    plan_id: str | None,
    now: float,
    parameters: Mapping[str, Any] | None = None,
) -> Approval:
    """Consume inside the caller's transaction (the write path reserves, consumes and records
    its intent in one). Raises an ApprovalError subclass; the caller rolls back."""
    row = db.execute("SELECT * FROM approvals WHERE id=?", (approval_id,)).one()
    if row is None:
        raise ApprovalNotFound(f"no approval {approval_id}", approval_id)
    if row["action"] != action or row["target"] != target:
        raise ApprovalMismatch(
            f"approval {approval_id} is for {row['action']} on {row['target']}, "
            f"not {action} on {target}",
            approval_id,
        )
    details = json.loads(row["details"] or "{}")
    bound = details.get("plan_id")
    if plan_id is not None and bound is not None and bound != plan_id:
        raise ApprovalMismatch(
            f"approval {approval_id} was granted for plan {bound}, not {plan_id}", approval_id
        )
    approved = details.get("parameters")
    if bound is None and parameters is not None and isinstance(approved, dict):
        # Not bound to a plan: a human still approved one change, with these values.
        for key in _APPROVED_PARAMETERS:
            if key in approved and approved[key] != parameters.get(key):
                raise ApprovalMismatch(
                    f"approval {approval_id} was for {key}={approved[key]}, the plan has "
                    f"{key}={parameters.get(key)}: ask for a new approval",
                    approval_id,
                )
    status = row["status"]
    if status in ("pending", "granted") and row["expires_at"] <= now:
        status = "expired"
    if status == "consumed":
        raise ApprovalAlreadyUsed(f"approval {approval_id} was already used", approval_id)
    if status == "expired":
        raise ApprovalExpired(f"approval {approval_id} has expired", approval_id)
    if status != "granted":
        raise ApprovalNotGranted(f"approval {approval_id} is {status}", approval_id)
    db.execute(
        "UPDATE approvals SET status='consumed', consumed_at=? WHERE id=?", (now, approval_id)
    )
    return _approval(_row(db, approval_id))


def _row(db: Tx, approval_id: str) -> Row:
    row = db.execute("SELECT * FROM approvals WHERE id=?", (approval_id,)).one()
    if row is None:
        raise ApprovalNotFound(f"no approval {approval_id}", approval_id)
    return row


def _approval(row: Row) -> Approval:
    return Approval(
        id=row["id"],
        action=row["action"],
        target=row["target"],
        reason=row["reason"],
        risk=row["risk"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        expires_at=row["expires_at"],
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        note=row["note"],
        consumed_at=row["consumed_at"],
        details=json.loads(row["details"] or "{}"),
    )
