"""The action history on SQLite and PostgreSQL: counts, cooldowns, reopen after a restart,
threads, racing writers."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from kubemedic_store import Database, open_database
from kubemedic_store.postgres import PostgresDatabase
from mcp_server.ratelimit_store import RateLimitStore
from policies import (
    Action,
    DecisionContext,
    Outcome,
    RateLimitExceeded,
    RateLimits,
    decide,
    load_policy,
    workload_key,
)
from tests.unit.policies.policies_builders import NOW, context, crash, diagnosis


def _separate(target: Path | str) -> Database:
    if isinstance(target, str):
        return PostgresDatabase(target, min_size=0, max_size=4)
    return open_database(target)


def test_record_and_count(store_target: Path | str) -> None:
    with RateLimitStore(store_target) as store:
        store.record("default", "Deployment/web", "delete_pod", at=NOW - timedelta(minutes=90))
        store.record("default", "Deployment/web", "delete_pod", at=NOW - timedelta(minutes=30))
        store.record("default", "Deployment/api", "rollback_deployment", at=NOW)
        store.record("default", "Deployment/web", "delete_pod", Outcome.DRY_RUN, at=NOW)
        store.record("default", "Deployment/web", "delete_pod", Outcome.FAILED, at=NOW)
        hour_ago = NOW - timedelta(hours=1)
        assert store.count_since(hour_ago) == 3  # dry runs never count; failures do
        assert store.count_since(hour_ago, "default", "Deployment/web") == 2
        assert store.count_since(hour_ago, "other", "Deployment/web") == 0


def test_last_and_recent_actions(store_target: Path | str) -> None:
    with RateLimitStore(store_target) as store:
        first = store.record("ns", "Deployment/web", "delete_pod", at=NOW - timedelta(minutes=9))
        store.record("ns", "Deployment/web", "increase_memory_limit", at=NOW - timedelta(minutes=3))
        store.record("ns", "Deployment/web", "delete_pod", Outcome.DRY_RUN, at=NOW)
        last = store.last_action("ns", "Deployment/web")
        assert last is not None and last.action == "increase_memory_limit"
        last_delete = store.last_action("ns", "Deployment/web", "delete_pod")
        assert last_delete is not None and last_delete.id == first.id
        assert last_delete.at == NOW - timedelta(minutes=9)
        recent = store.recent_actions("ns", "Deployment/web", NOW - timedelta(minutes=5))
        assert [r.action for r in recent] == ["increase_memory_limit", "delete_pod"]
        assert store.last_action("ns", "Deployment/none") is None


def test_update_outcome(store_target: Path | str) -> None:
    with RateLimitStore(store_target) as store:
        rec = store.record("ns", "Deployment/web", "delete_pod", at=NOW)
        assert rec.id is not None
        assert store.update_outcome(rec.id, Outcome.NOT_HEALED)
        assert not store.update_outcome(rec.id + 100, Outcome.HEALED)
        (row,) = store.recent_actions("ns", "Deployment/web", NOW - timedelta(seconds=1))
        assert row.outcome == "not_healed"


def test_limits_survive_a_restart(store_target: Path | str) -> None:
    """A new process (a new store on the same file) sees the same history and refuses."""
    path = store_target
    policy = load_policy()
    d = diagnosis(crash(restarts=6))
    store = RateLimitStore(path)
    for minutes in (50, 30, 10):
        store.record(
            d.namespace, workload_key(d), "delete_pod", at=NOW - timedelta(minutes=minutes)
        )
    store.close()

    reopened = RateLimitStore(path)
    try:
        ctx = DecisionContext.from_store(reopened, d, policy, now=NOW, approval_granted=True)
        assert len(ctx.recent_actions) == 3 and ctx.global_actions_last_hour == 3
        decision = decide(d, ctx)
        # Three deletes this hour: the per-workload limit holds, and escalation sees them.
        assert decision.action is Action.INVESTIGATE_MANUALLY
        fresh = decide(d, context(approval_granted=True))
        assert fresh.action is Action.DELETE_POD and fresh.safety_checks_passed
        rate = decide(
            d,
            DecisionContext.from_store(
                reopened, d, policy, now=NOW + timedelta(hours=2), approval_granted=True
            ),
        )
        assert rate.action is Action.DELETE_POD and rate.safety_checks_passed
    finally:
        reopened.close()


def test_global_limit_from_store_after_reopen(store_target: Path | str) -> None:
    path = store_target
    with RateLimitStore(path) as store:
        for i in range(10):
            store.record(
                "default", f"Deployment/app{i}", "delete_pod", at=NOW - timedelta(minutes=i)
            )
    d = diagnosis(crash(restarts=6))
    with RateLimitStore(path) as store:
        ctx = DecisionContext.from_store(store, d, load_policy(), now=NOW, approval_granted=True)
        decision = decide(d, ctx)
    assert decision.action is Action.DELETE_POD
    assert decision.failed_checks == ("rate_limit",)
    check = decision.check("rate_limit")
    assert check is not None and check.scope == "global"


def test_concurrent_threads(store_target: Path | str) -> None:
    store = RateLimitStore(store_target)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(25):
                store.record("ns", f"Deployment/w{n}", "delete_pod", at=NOW)
                store.count_since(NOW - timedelta(hours=1))
                store.recent_actions("ns", f"Deployment/w{n}", NOW - timedelta(hours=1))
        except BaseException as error:  # surfaced below; a thread cannot raise into the test
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count_since(NOW - timedelta(hours=1)) == 200
    store.close()


def test_two_stores_on_one_file(store_target: Path | str) -> None:
    path = store_target
    with RateLimitStore(path) as server, RateLimitStore(path) as cli:
        server.record("ns", "Deployment/web", "delete_pod", at=NOW)
        assert cli.count_since(NOW - timedelta(minutes=1)) == 1


def test_naive_datetimes_are_utc(store_target: Path | str) -> None:
    with RateLimitStore(store_target) as store:
        store.record("ns", "Deployment/web", "delete_pod", at=NOW.replace(tzinfo=None))
        assert store.count_since(NOW) == 1


def test_memory_store() -> None:
    with RateLimitStore(":memory:") as store:
        store.record("ns", "Pod/p", "delete_evicted_pod", at=NOW)
        assert store.count_since(NOW - timedelta(seconds=1), "ns", "Pod/p") == 1


LIMITS = RateLimits(global_per_hour=4, per_workload_per_hour=2, cooldown_per_workload_seconds=60)


def test_reserve_enforces_each_scope(store_target: Path | str) -> None:
    with RateLimitStore(store_target) as store:
        store.reserve("ns", "Deployment/web", "delete_pod", LIMITS, at=NOW)
        with pytest.raises(RateLimitExceeded) as cooldown:
            store.reserve(
                "ns", "Deployment/web", "delete_pod", LIMITS, at=NOW + timedelta(seconds=30)
            )
        assert cooldown.value.scope == "cooldown"
        store.reserve("ns", "Deployment/web", "rollback_deployment", LIMITS, at=NOW)
        with pytest.raises(RateLimitExceeded) as workload:
            store.reserve(
                "ns", "Deployment/web", "delete_pod", LIMITS, at=NOW + timedelta(minutes=5)
            )
        assert workload.value.scope == "workload"
        store.reserve("ns", "Deployment/a", "delete_pod", LIMITS, at=NOW)
        store.reserve("ns", "Deployment/b", "delete_pod", LIMITS, at=NOW)
        with pytest.raises(RateLimitExceeded) as global_:
            store.reserve("ns", "Deployment/c", "delete_pod", LIMITS, at=NOW)
        assert global_.value.scope == "global"
        # An hour later the slots are free again.
        later = NOW + timedelta(hours=1, seconds=1)
        rec = store.reserve("ns", "Deployment/web", "delete_pod", LIMITS, at=later)
        assert rec.outcome == Outcome.EXECUTED and rec.id is not None


def test_reserve_dry_runs_do_not_count_but_failures_do(store_target: Path | str) -> None:
    with RateLimitStore(store_target) as store:
        for _ in range(5):
            store.record("ns", "Deployment/web", "delete_pod", Outcome.DRY_RUN, at=NOW)
        rec = store.reserve("ns", "Deployment/web", "delete_pod", LIMITS, at=NOW)
        assert rec.id is not None
        store.update_outcome(rec.id, Outcome.FAILED)
        with pytest.raises(RateLimitExceeded):
            store.reserve("ns", "Deployment/web", "delete_pod", LIMITS, at=NOW)


def test_reserve_survives_reopen(store_target: Path | str) -> None:
    path = store_target
    with RateLimitStore(path) as store:
        store.reserve("ns", "Deployment/web", "delete_pod", LIMITS, at=NOW)
    with RateLimitStore(path) as store, pytest.raises(RateLimitExceeded):
        store.reserve("ns", "Deployment/web", "delete_pod", LIMITS, at=NOW + timedelta(seconds=1))


def test_racing_writers_cannot_both_take_the_last_slot(store_target: Path | str) -> None:
    """Sixteen writers on four connections (as four processes would) race for two slots."""
    path = store_target
    # Four databases (four pools on PostgreSQL), as four processes would have.
    stores = [RateLimitStore(_separate(path)) for _ in range(4)]
    limits = RateLimits(
        global_per_hour=100, per_workload_per_hour=2, cooldown_per_workload_seconds=0
    )
    won: list[int] = []
    refused: list[str] = []
    barrier = threading.Barrier(16)

    def race(n: int) -> None:
        barrier.wait()
        try:
            rec = stores[n % 4].reserve("ns", "Deployment/web", f"action{n}", limits, at=NOW)
            won.append(rec.id or 0)
        except RateLimitExceeded as error:
            refused.append(error.scope)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.db.close()
    assert len(won) == 2
    assert refused == ["workload"] * 14
