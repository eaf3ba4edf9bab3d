"""The rate-limit rule, pure: given the counts of recent writes, may one more happen?

The records themselves (who wrote what, when, with which outcome) live in the server's state
store (`mcp_server.ratelimit_store`, on SQLite or PostgreSQL), which counts inside the write
path's transaction and asks `check_rate_limits` with the numbers. `ActionHistory` is what a
`DecisionContext` reads its history from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from policies.decision import ActionRecord
from policies.policy import RateLimits


class RateLimitExceeded(Exception):
    """A write was refused by a limit: `scope` is global, workload or cooldown."""

    def __init__(self, scope: str, detail: str) -> None:
        super().__init__(detail)
        self.scope = scope
        self.detail = detail


class ActionHistory(Protocol):
    """The reads a decision needs from the action records."""

    def count_since(
        self, since: datetime, namespace: str | None = None, workload: str | None = None
    ) -> int: ...

    def recent_actions(
        self, namespace: str, workload: str, since: datetime
    ) -> list[ActionRecord]: ...


def check_rate_limits(
    limits: RateLimits,
    *,
    total_last_hour: int,
    workload_last_hour: int,
    last_same_action_at: float | None,
    now: float,
    action: str,
    workload: str,
) -> None:
    """Raise RateLimitExceeded when one more `action` on `workload` at `now` (epoch seconds)
    would pass a limit: the counted writes of the last hour (all, and this workload's), and
    the cooldown since this workload's last write of the same action."""
    if total_last_hour >= limits.global_per_hour:
        raise RateLimitExceeded(
            "global", f"{total_last_hour} actions in the last hour, limit {limits.global_per_hour}"
        )
    if workload_last_hour >= limits.per_workload_per_hour:
        raise RateLimitExceeded(
            "workload",
            f"{workload_last_hour} actions on {workload} in the last hour, "
            f"limit {limits.per_workload_per_hour}",
        )
    cooldown = limits.cooldown_per_workload_seconds
    if last_same_action_at is not None and now - last_same_action_at < cooldown:
        raise RateLimitExceeded(
            "cooldown",
            f"{action} on {workload} is cooling down for "
            f"{cooldown - (now - last_same_action_at):.0f}s more",
        )
