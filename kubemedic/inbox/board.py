"""What the inbox shows: the approvals of the state directory with what is known about each.

Pending approvals first (oldest first: they expire first), then the recent decided, consumed
and expired ones with who decided and the outcome when it is known (a decision made here, or
the verification the server recorded for the write that used the approval).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kubemedic.approval_flow import waiting_incidents
from kubemedic.inbox.decisions import Decisions, Job
from kubemedic.settings import Settings
from mcp_server.approvals import Approval, ApprovalStore
from mcp_server.ledger import Ledger
from mcp_server.preview import ChangePreview, parse_preview

RECENT = 20
# How long the waiting incidents are reused while the set of pending approvals is unchanged.
WAITING_TTL_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class Row:
    approval: Approval
    preview: ChangePreview | None
    incident: dict[str, Any] | None  # {incident_id, payload} of the incident waiting on it
    job: Job | None
    outcome: str | None

    @property
    def payload(self) -> dict[str, Any]:
        return dict((self.incident or {}).get("payload") or {})

    def to_dict(self) -> dict[str, Any]:
        approval = self.approval
        return {
            "id": approval.id,
            "status": approval.status,
            "action": approval.action,
            "target": approval.target,
            "risk": approval.risk,
            "reason": approval.reason,
            "requested_by": approval.requested_by,
            "decided_by": approval.decided_by,
            "note": approval.note,
            "outcome": self.outcome,
            "incident_id": (self.incident or {}).get("incident_id")
            or (self.job.incident_id if self.job else None),
            "edits": [e.get("action") for e in self.payload.get("edits") or []],
            "has_preview": self.preview is not None,
            "job": self.job.to_dict() if self.job else None,
        }


@dataclass(frozen=True, slots=True)
class Board:
    pending: list[Row]
    recent: list[Row]

    def to_dict(self) -> list[dict[str, Any]]:
        return [row.to_dict() for row in self.pending + self.recent]


class BoardSource:
    def __init__(self, settings: Settings, store: ApprovalStore, decisions: Decisions) -> None:
        self.settings = settings
        self.store = store
        self.decisions = decisions
        self.ledger = Ledger(settings.store_target)
        self._waiting: dict[str, dict[str, Any]] = {}
        self._waiting_key: frozenset[str] | None = None
        self._waiting_at = 0.0

    async def waiting(self, pending: frozenset[str], *, fresh: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        if fresh or pending != self._waiting_key or now - self._waiting_at > WAITING_TTL_SECONDS:
            self._waiting = await waiting_incidents(self.settings) if pending else {}
            self._waiting_key = pending
            self._waiting_at = now
        return self._waiting

    async def board(self) -> Board:
        approvals = self.store.list()
        pending_ids = frozenset(a.id for a in approvals if a.status == "pending")
        waiting = await self.waiting(pending_ids)
        jobs = self.decisions.all()
        verdicts = self._verdicts()
        pending: list[Row] = []
        recent: list[Row] = []
        for approval in approvals:
            job = jobs.get(approval.id)
            row = Row(
                approval,
                parse_preview((approval.details or {}).get("preview")),
                waiting.get(approval.id),
                job,
                _outcome(approval, job, verdicts.get(approval.id)),
            )
            (pending if approval.status == "pending" else recent).append(row)
        recent.sort(
            key=lambda r: max(
                r.job.started_at if r.job else 0.0,
                r.approval.decided_at or 0.0,
                r.approval.requested_at,
            ),
            reverse=True,
        )
        return Board(pending, recent[:RECENT])

    def _verdicts(self) -> dict[str, str]:
        """approval id -> what became of the write that used it (the server's record)."""
        found: dict[str, str] = {}
        for intent in self.ledger.intents(limit=200):
            if not intent.approval_id or intent.approval_id in found:
                continue
            status = str((intent.verification or {}).get("status") or "")
            if status in ("healed", "not_healed", "pending"):
                found[intent.approval_id] = "verifying" if status == "pending" else status
            elif intent.outcome:
                found[intent.approval_id] = str(intent.outcome)
        return found


def _outcome(approval: Approval, job: Job | None, verdict: str | None) -> str | None:
    if job is not None and job.outcome:
        return job.outcome
    if verdict is not None:
        return verdict
    if approval.status == "rejected":
        return "rejected"
    return None
