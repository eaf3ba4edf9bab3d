"""The audit trail: one hash-chained JSON line per attempted write, on disk before the answer.

Each record carries the SHA-256 of the record before it (`prev_hash`) and its own `hash`
over its canonical JSON, so an edited, removed or reordered line breaks the chain at that
line; `verify(path)` names the first broken record. Appends take an exclusive file lock, so
several server processes can share one trail, and are fsynced before the tool answers.

With a shared PostgreSQL database (`KUBEMEDIC_DATABASE_URL`) the trail is the `audit_records`
table instead: an append takes the audit domain's advisory lock, reads the head's hash and
inserts the next record in one committed transaction (synchronous commit: on disk before the
tool answers), so the chain stays one line across replicas. `verify_database` walks it and
`export_jsonl` writes it in the file's exact format.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from kubemedic_store import Database, Migration, is_postgres_url, open_database
from mcp_server.redaction import redact as redact_secrets

GENESIS = "0" * 64

MIGRATIONS = (
    Migration(
        1,
        "audit records",
        """
        CREATE TABLE IF NOT EXISTS audit_records (
            seq BIGINT PRIMARY KEY,
            hash TEXT NOT NULL,
            record TEXT NOT NULL
        )
        """,
    ),
)

# A write is two records: `intent` (phase "intent", before the write) and its outcome
# (phase "outcome": applied / not_applied), linked by `details.action_id`. A call that writes
# nothing is one record: refused, dry_run, no_write (the decision was read-only), or failure.
Result = Literal[
    "intent", "applied", "not_applied", "success", "failure", "refused", "dry_run", "no_write"
]
Phase = Literal["intent", "outcome"]
Redactor = Callable[[str], str]


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _redact_value(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(v, redact) for v in value]
    return value


@dataclass(frozen=True)
class AuditTarget:
    kind: str
    namespace: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


def audit_database(target: Database | str) -> Database:
    db = open_database(target)
    db.migrate("audit", MIGRATIONS)
    return db


class AuditLog:
    """Append-only trail; `append` returns the record as written (with its hash). A path: the
    JSONL file; a `Database` or a `postgresql://` URL: the `audit_records` table."""

    def __init__(
        self,
        target: Database | Path | str,
        *,
        redact: Redactor | None = redact_secrets,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        cluster: str | None = None,
    ) -> None:
        # With several clusters, every record names its cluster (one cluster: today's format).
        self.cluster = cluster
        self.db: Database | None = None
        if isinstance(target, Database) or is_postgres_url(target):
            self.db = audit_database(target)  # type: ignore[arg-type]
            self.path = Path(self.db.describe())
        else:
            self.path = Path(target)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redact = redact
        self._now = now
        self._lock = threading.Lock()

    def append(
        self,
        *,
        action: str,
        target: AuditTarget,
        reason: str,
        initiator: str,
        result: Result,
        dry_run: bool,
        duration_seconds: float,
        approver: str | None = None,
        error: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        phase: Phase | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "timestamp": self._now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "action": action,
            "target": target.as_dict(),
            "reason": reason,
            "initiator": initiator,
            "approver": approver,
            "dry_run": dry_run,
            "result": result,
            "duration_seconds": round(duration_seconds, 6),
            "error": error,
            "details": details or {},
        }
        if phase is not None:
            fields["phase"] = phase
        if self.cluster is not None:
            fields["cluster"] = self.cluster
        if self._redact is not None:
            fields = _redact_value(fields, self._redact)
        if self.db is not None:
            return self._append_row(fields)
        with self._lock, open(self.path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                seq, prev = _last_link(handle)
                record = {"seq": seq + 1, **fields, "prev_hash": prev}
                record["hash"] = record_hash(record)
                handle.seek(0, os.SEEK_END)
                handle.write(_canonical(record) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return record

    def _append_row(self, fields: dict[str, Any]) -> dict[str, Any]:
        assert self.db is not None
        with self.db.write("audit") as tx:
            head = tx.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").one()
            seq, prev = (0, GENESIS) if head is None else (int(head["seq"]), str(head["hash"]))
            record = {"seq": seq + 1, **fields, "prev_hash": prev}
            record["hash"] = record_hash(record)
            tx.execute(
                "INSERT INTO audit_records (seq, hash, record) VALUES (?, ?, ?)",
                (record["seq"], record["hash"], _canonical(record).decode()),
            )
        return record

    def records(self) -> list[dict[str, Any]]:
        if self.db is not None:
            return [json.loads(line) for line in _database_lines(self.db)]
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]


def phases_by_action(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """action_id -> {phase: record} for the write records of a trail."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        phase = record.get("phase")
        action_id = (record.get("details") or {}).get("action_id")
        if phase and action_id:
            found.setdefault(str(action_id), {})[str(phase)] = record
    return found


@dataclass(frozen=True)
class Pairing:
    """How a trail's write records pair up: each action id one intent, then one outcome."""

    writes: int
    open_intents: tuple[str, ...]  # no outcome yet: in flight, or left for recovery
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def pairing(records: list[dict[str, Any]]) -> Pairing:
    seen: dict[str, list[str]] = {}
    for record in records:
        phase = record.get("phase")
        action_id = (record.get("details") or {}).get("action_id")
        if phase in ("intent", "outcome") and action_id:
            seen.setdefault(str(action_id), []).append(str(phase))
    violations = []
    open_intents = []
    for action_id, phases in seen.items():
        if phases == ["intent"]:
            open_intents.append(action_id)
        elif phases != ["intent", "outcome"]:
            violations.append(f"{action_id}: {' then '.join(phases)}")
    return Pairing(len(seen), tuple(open_intents), tuple(violations))


def _last_link(handle: Any) -> tuple[int, str]:
    """(seq, hash) of the last record in the file, or (0, GENESIS) for an empty trail."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size == 0:
        return 0, GENESIS
    chunk = 4096
    data = b""
    while True:
        start = max(0, size - chunk)
        handle.seek(start)
        data = handle.read(size - start)
        lines = [line for line in data.split(b"\n") if line.strip()]
        if (len(lines) >= 2 or start == 0) and lines:
            last = json.loads(lines[-1])
            return int(last.get("seq", 0)), str(last.get("hash", GENESIS))
        if start == 0:
            return 0, GENESIS
        chunk *= 4


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    records: int
    first_broken: int | None = None  # 1-based line number of the first bad record
    reason: str = ""


def verify(path: Path | str) -> ChainVerification:
    """Walk the chain; the first record whose link or hash does not hold is named."""
    path = Path(path)
    if not path.exists():
        return ChainVerification(False, 0, None, f"{path} does not exist")
    with open(path, encoding="utf-8") as handle:
        return verify_lines(handle)


def _database_lines(db: Database) -> list[str]:
    with db.read() as tx:
        return [
            row["record"]
            for row in tx.execute("SELECT record FROM audit_records ORDER BY seq").all()
        ]


def verify_database(target: Database | str) -> ChainVerification:
    """The same walk over the `audit_records` table (`first_broken`: the row's position)."""
    return verify_lines(_database_lines(audit_database(target)))


def export_jsonl(target: Database | str, out: Path | str) -> int:
    """Write the table's chain as JSONL, byte for byte the file trail's format; the count."""
    lines = _database_lines(audit_database(target))
    with open(out, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return len(lines)


def verify_lines(lines: Iterable[str]) -> ChainVerification:
    """Walk a chain given as its JSON lines, in order."""
    prev = GENESIS
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return ChainVerification(False, count, number, "not valid JSON")
        if not isinstance(record, dict):
            return ChainVerification(False, count, number, "not a JSON object")
        if record.get("prev_hash") != prev:
            return ChainVerification(
                False, count, number, "prev_hash does not match the record before it"
            )
        if record.get("hash") != record_hash(record):
            return ChainVerification(
                False, count, number, "hash does not match the record's content"
            )
        if record.get("seq") != count + 1:
            return ChainVerification(
                False, count, number, f"seq {record.get('seq')} is out of order"
            )
        prev = str(record["hash"])
        count += 1
    return ChainVerification(True, count)
