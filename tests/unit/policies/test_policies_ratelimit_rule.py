"""The pure rate-limit rule: counts in, a refusal with its scope out."""

from __future__ import annotations

import pytest

from policies import RateLimitExceeded, RateLimits, check_rate_limits

LIMITS = RateLimits(global_per_hour=4, per_workload_per_hour=2, cooldown_per_workload_seconds=60)


def _check(total: int, mine: int, last: float | None, now: float = 1000.0) -> None:
    check_rate_limits(
        LIMITS,
        total_last_hour=total,
        workload_last_hour=mine,
        last_same_action_at=last,
        now=now,
        action="delete_pod",
        workload="Deployment/web",
    )


def test_under_every_limit_passes() -> None:
    _check(3, 1, 900.0)
    _check(0, 0, None)


@pytest.mark.parametrize(
    ("total", "mine", "last", "scope"),
    [
        (4, 0, None, "global"),
        (9, 5, 999.0, "global"),
        (3, 2, None, "workload"),
        (1, 1, 950.0, "cooldown"),
    ],
)
def test_the_first_limit_passed_names_its_scope(
    total: int, mine: int, last: float | None, scope: str
) -> None:
    with pytest.raises(RateLimitExceeded) as refused:
        _check(total, mine, last)
    assert refused.value.scope == scope


def test_the_cooldown_ends_at_its_length() -> None:
    _check(0, 0, 940.0)  # exactly 60 s ago
