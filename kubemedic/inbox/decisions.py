"""Decisions made from the inbox, run in the background so the page answers at once.

Approving resumes the waiting incident, which executes the action and verifies it: that takes
from seconds to minutes. Each decision is a task of the server's event loop; the page polls
its progress lines and its final outcome (e.g. `healed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from kubemedic.approval_flow import DecisionKind, DecisionRefused, decide
from kubemedic.settings import Settings

log = logging.getLogger("kubemedic.inbox")

JobState = Literal["running", "done", "refused", "failed"]
MAX_LINES = 40


@dataclass(slots=True)
class Job:
    approval_id: str
    decision: DecisionKind
    by: str
    started_at: float
    edited: str | None = None
    state: JobState = "running"
    lines: list[str] = field(default_factory=list)
    outcome: str | None = None
    incident_id: str | None = None
    waiting_again: str | None = None
    message: str = ""
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "approval_id": self.approval_id,
            "decision": self.decision,
            "edited": self.edited,
            "by": self.by,
            "state": self.state,
            "outcome": self.outcome,
            "incident_id": self.incident_id,
            "waiting_again": self.waiting_again,
            "message": self.message,
            "lines": list(self.lines),
        }


class Decisions:
    """The decisions this process started, by approval id (the latest one per approval)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, approval_id: str) -> Job | None:
        return self._jobs.get(approval_id)

    def all(self) -> dict[str, Job]:
        return dict(self._jobs)

    def running(self, approval_id: str) -> bool:
        job = self._jobs.get(approval_id)
        return job is not None and job.state == "running"

    def start(
        self,
        approval_id: str,
        by: str,
        decision: DecisionKind,
        *,
        edited: str | None = None,
        reason: str = "",
    ) -> Job:
        """Start deciding (the caller checked who may); one decision per approval at a time."""
        if self.running(approval_id):
            raise DecisionRefused(f"a decision on {approval_id} is already under way")
        job = Job(approval_id, decision, by, time.time(), edited=edited)
        self._jobs[approval_id] = job
        task = asyncio.create_task(self._run(job, reason), name=f"inbox-decide-{approval_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job, reason: str) -> None:
        def progress(line: str) -> None:
            job.lines.append(line[:500])
            del job.lines[:-MAX_LINES]

        try:
            result = await decide(
                self.settings,
                job.approval_id,
                job.by,
                job.decision,
                edited=job.edited,
                reason=reason,
                resume=True,
                progress=progress,
            )
        except DecisionRefused as refused:
            job.state = "refused"
            job.message = refused.message
        except Exception as error:  # noqa: BLE001 - shown on the page and logged; never lost
            log.exception("inbox decision failed", extra={"approval_id": job.approval_id})
            job.state = "failed"
            job.message = f"{type(error).__name__}: {error}"[:500]
        else:
            job.state = "done"
            job.outcome = result.outcome
            job.incident_id = result.incident_id
            job.waiting_again = result.waiting_again
            job.message = result.lines[-1] if result.lines else ""
            for line in result.lines:
                progress(line)
        finally:
            job.finished_at = time.time()

    async def drain(self, timeout: float = 30.0) -> None:
        """On shutdown: let running decisions finish (a resume half done is reconciled later,
        but finishing is kinder), then cancel what is left."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
