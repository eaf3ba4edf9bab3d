"""What Slack needs remembered: in `slack.sqlite` in the state directory, or in the shared
PostgreSQL database when one is configured (so every replica refuses the same replays and
updates the same messages).

- `slack_messages`: where each approval's message went (channel and ts), with the approval
  event it showed and the incident's outcome once known, so the interactions endpoint and a
  later outcome event can `chat.update` the same message — from any process on the directory.
- `slack_signatures`: request signatures already accepted, so a replayed request is refused
  for as long as its timestamp would pass the freshness check (pruned after that); it
  survives a restart.

Short transactions through `kubemedic_store`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubemedic_store import Migration, Row, StateLayout, is_postgres_url, open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slack_messages (
    approval_id TEXT PRIMARY KEY,
    incident_id TEXT,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT,
    summary TEXT,
    approver TEXT,
    posted_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS slack_messages_incident ON slack_messages(incident_id);
CREATE TABLE IF NOT EXISTS slack_signatures (
    signature TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS slack_signatures_seen ON slack_signatures(seen_at);
"""


@dataclass(frozen=True, slots=True)
class PostedMessage:
    approval_id: str
    incident_id: str | None
    channel: str
    ts: str
    event: dict[str, Any]
    outcome: str | None
    summary: str
    approver: str | None = None  # who decided, as the incident reported it


class SlackStore:
    def __init__(
        self,
        state_dir: Path,
        *,
        database_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`database_url`: the shared PostgreSQL database (None, or a path: `slack.sqlite`
        in `state_dir`)."""
        self._clock = clock
        if database_url is not None and is_postgres_url(database_url):
            self.path: Path | None = None
            self._db = open_database(database_url)
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            self.path = StateLayout(state_dir).slack_db
            self._db = open_database(self.path)
        self._db.migrate("slack", (Migration(1, "slack messages and signatures", _SCHEMA),))

    # ------------------------------------------------------------------ messages

    def save_message(
        self, approval_id: str, channel: str, ts: str, event: Mapping[str, Any]
    ) -> None:
        now = self._clock()
        with self._db.write("slack", durable=False) as db:
            db.execute(
                "INSERT INTO slack_messages (approval_id, incident_id, channel, ts, event, "
                "posted_at, updated_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT(approval_id) DO "
                "UPDATE SET channel=excluded.channel, ts=excluded.ts, event=excluded.event, "
                "incident_id=excluded.incident_id, updated_at=excluded.updated_at",
                (
                    approval_id,
                    _or_none(event.get("incident_id")),
                    channel,
                    ts,
                    json.dumps(dict(event), default=str),
                    now,
                    now,
                ),
            )

    def message(self, approval_id: str) -> PostedMessage | None:
        with self._db.read() as db:
            row = db.execute(
                "SELECT * FROM slack_messages WHERE approval_id=?", (approval_id,)
            ).one()
        return _message(row) if row is not None else None

    def messages_of_incident(self, incident_id: str) -> list[PostedMessage]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT * FROM slack_messages WHERE incident_id=? ORDER BY posted_at",
                (incident_id,),
            ).all()
        return [_message(row) for row in rows]

    def record_outcome(
        self, incident_id: str, outcome: str, summary: str, approver: str | None = None
    ) -> None:
        with self._db.write("slack", durable=False) as db:
            db.execute(
                "UPDATE slack_messages SET outcome=?, summary=?, "
                "approver=COALESCE(?, approver), updated_at=? WHERE incident_id=?",
                (outcome, summary, approver, self._clock(), incident_id),
            )

    # ---------------------------------------------------------------- signatures

    def first_sight(self, signature: str, window_seconds: float) -> bool:
        """Remember `signature`; False when it was already seen inside the window (a replay).
        Signatures older than the window are forgotten in the same transaction."""
        now = self._clock()
        with self._db.write("slack") as db:
            db.execute("DELETE FROM slack_signatures WHERE seen_at < ?", (now - window_seconds,))
            seen = db.execute(
                "INSERT INTO slack_signatures (signature, seen_at) VALUES (?, ?) "
                "ON CONFLICT(signature) DO NOTHING",
                (signature, now),
            )
            return seen.rowcount == 1


def _or_none(value: Any) -> str | None:
    return str(value) if value else None


def _message(row: Row) -> PostedMessage:
    return PostedMessage(
        approval_id=row["approval_id"],
        incident_id=row["incident_id"],
        channel=row["channel"],
        ts=row["ts"],
        event=json.loads(row["event"] or "{}"),
        outcome=row["outcome"],
        summary=row["summary"] or "",
        approver=row["approver"],
    )
