"""The action records behind rate limits, cooldowns and escalation, in the state store.

One table of action records (`actions`) in the state database (SQLite `state.sqlite`, or
PostgreSQL), beside approvals, plans and intents, so the write path reserves its slot in the
same transaction that consumes the approval and records the intent (`ledger.begin`). A restart
cannot reset the limits: every read goes to the database, and every process (and replica) on
the same database counts the same rows. The rule itself is `policies.check_rate_limits`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from kubemedic_store import Database, Migration, Row, Tx, open_database
from policies import ActionRecord, Outcome, RateLimits, check_rate_limits
from policies.decision import COUNTED, HOUR

MIGRATIONS = (
    Migration(
        1,
        "actions",
        """
        CREATE TABLE IF NOT EXISTS actions (
            id {id_pk},
            at DOUBLE PRECISION NOT NULL,
            namespace TEXT NOT NULL,
            workload TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS actions_at ON actions (at);
        CREATE INDEX IF NOT EXISTS actions_workload ON actions (namespace, workload, at)
        """,
    ),
)

_COUNTED = tuple(sorted(COUNTED))
_IN_COUNTED = "outcome IN (" + ",".join("?" * len(_COUNTED)) + ")"
_COLUMNS = "id, at, namespace, workload, action, outcome"


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:  # naive datetimes are taken as UTC, never as local time
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _record(row: Row) -> ActionRecord:
    return ActionRecord(
        at=datetime.fromtimestamp(float(row["at"]), UTC),
        namespace=row["namespace"],
        workload=row["workload"],
        action=row["action"],
        outcome=row["outcome"],
        id=int(row["id"]),
    )


def migrate(db: Database) -> None:
    db.migrate("ratelimits", MIGRATIONS)


class RateLimitStore:
    """Action records on a `Database` (a SQLite path, `":memory:"`, or a PostgreSQL URL)."""

    def __init__(self, target: Database | Path | str) -> None:
        self.db = open_database(target)
        migrate(self.db)

    @property
    def path(self) -> str:
        return self.db.describe()

    def close(self) -> None:
        """Nothing to release: the database is shared (SQLite opens a connection per use)."""

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
        now = _ts(at or datetime.now(UTC))
        with self.db.write("state", durable=False) as tx:
            return _insert(tx, namespace, workload, str(action), str(outcome), now)

    def update_outcome(self, record_id: int, outcome: str) -> bool:
        """Set the outcome of a record (e.g. healed / not_healed after verification)."""
        with self.db.write("state", durable=False) as tx:
            done = tx.execute(
                "UPDATE actions SET outcome = ? WHERE id = ?", (str(outcome), record_id)
            )
            return done.rowcount == 1

    def count_since(
        self, since: datetime, namespace: str | None = None, workload: str | None = None
    ) -> int:
        """Counted writes (every outcome but dry_run) since `since`, optionally per workload."""
        with self.db.read() as tx:
            return _count(tx, _ts(since), namespace, workload)

    def last_action(
        self, namespace: str, workload: str, action: str | None = None
    ) -> ActionRecord | None:
        """The latest counted record for a workload (of one action, if given)."""
        sql = (
            f"SELECT {_COLUMNS} FROM actions WHERE namespace = ? AND workload = ? AND {_IN_COUNTED}"
        )
        args: list[Any] = [namespace, workload, *_COUNTED]
        if action is not None:
            sql += " AND action = ?"
            args.append(str(action))
        sql += " ORDER BY at DESC, id DESC LIMIT 1"
        with self.db.read() as tx:
            row = tx.execute(sql, args).one()
        return _record(row) if row else None

    def recent_actions(self, namespace: str, workload: str, since: datetime) -> list[ActionRecord]:
        """A workload's records (all outcomes) since `since`, oldest first."""
        with self.db.read() as tx:
            rows = tx.execute(
                f"SELECT {_COLUMNS} FROM actions"
                " WHERE namespace = ? AND workload = ? AND at >= ? ORDER BY at, id",
                (namespace, workload, _ts(since)),
            ).all()
        return [_record(row) for row in rows]

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
        two processes or replicas: the counts and the insert hold the write lock together.
        Record the real outcome afterwards with `update_outcome` (e.g. failed, healed)."""
        now = _ts(at or datetime.now(UTC))
        with self.db.write("state") as tx:
            return reserve_in(tx, namespace, workload, str(action), limits, now)

    def release(self, record_id: int) -> bool:
        """Give a reserved slot back (the write was never applied): it stops counting."""
        with self.db.write("state") as tx:
            return tx.execute("DELETE FROM actions WHERE id = ?", (record_id,)).rowcount == 1


def _count(
    tx: Tx, since: float, namespace: str | None, workload: str | None, prefix: str | None = None
) -> int:
    sql = f"SELECT COUNT(*) AS n FROM actions WHERE at >= ? AND {_IN_COUNTED}"
    args: list[Any] = [since, *_COUNTED]
    if prefix is not None:
        # One cluster's rows: their namespace column is `cluster/namespace`.
        sql += " AND substr(namespace, 1, ?) = ?"
        args.extend([len(prefix), prefix])
    if namespace is not None:
        sql += " AND namespace = ?"
        args.append(namespace)
    if workload is not None:
        sql += " AND workload = ?"
        args.append(workload)
    return int(tx.execute(sql, args).scalar() or 0)


def _insert(
    tx: Tx, namespace: str, workload: str, action: str, outcome: str, now: float
) -> ActionRecord:
    ident = tx.execute(
        "INSERT INTO actions (at, namespace, workload, action, outcome) VALUES (?, ?, ?, ?, ?) "
        "RETURNING id",
        (now, namespace, workload, action, outcome),
    ).scalar()
    return ActionRecord(
        at=datetime.fromtimestamp(now, UTC),
        namespace=namespace,
        workload=workload,
        action=action,
        outcome=outcome,
        id=int(ident),
    )


def reserve_in(
    tx: Tx,
    namespace: str,
    workload: str,
    action: str,
    limits: RateLimits,
    now: float,
    global_prefix: str | None = None,
) -> ActionRecord:
    """Count, check (`policies.check_rate_limits`) and insert inside the caller's write
    transaction (the write path reserves, consumes the approval and records its intent in one).
    """
    hour_ago = now - HOUR.total_seconds()
    last = tx.execute(
        f"SELECT MAX(at) AS last FROM actions WHERE {_IN_COUNTED}"
        " AND namespace = ? AND workload = ? AND action = ?",
        (*_COUNTED, namespace, workload, action),
    ).scalar()
    check_rate_limits(
        limits,
        total_last_hour=_count(tx, hour_ago, None, None, global_prefix),
        workload_last_hour=_count(tx, hour_ago, namespace, workload),
        last_same_action_at=None if last is None else float(last),
        now=now,
        action=action,
        workload=workload,
    )
    return _insert(tx, namespace, workload, action, str(Outcome.EXECUTED), now)


def cluster_namespace(cluster: str | None, namespace: str) -> str:
    """The `namespace` column of a cluster's action records (one cluster: the namespace)."""
    return namespace if cluster is None else f"{cluster}/{namespace}"


def global_prefix(cluster: str | None, limits: RateLimits) -> str | None:
    """What global_per_hour counts: one cluster's rows (scope `cluster`), or all (None)."""
    if cluster is None or limits.scope == "global":
        return None
    return f"{cluster}/"


class ClusterActionHistory:
    """A cluster's view of the shared action records (`policies.ratelimit.ActionHistory`):
    its workloads are its own; the global count is its own unless the scope is global."""

    def __init__(self, store: RateLimitStore, cluster: str, limits: RateLimits) -> None:
        self.store = store
        self.cluster = cluster
        self.prefix = global_prefix(cluster, limits)

    def count_since(
        self, since: datetime, namespace: str | None = None, workload: str | None = None
    ) -> int:
        scoped = None if namespace is None else cluster_namespace(self.cluster, namespace)
        with self.store.db.read() as tx:
            prefix = self.prefix if namespace is None else None
            return _count(tx, _ts(since), scoped, workload, prefix)

    def recent_actions(self, namespace: str, workload: str, since: datetime) -> list[ActionRecord]:
        return self.store.recent_actions(
            cluster_namespace(self.cluster, namespace), workload, since
        )
