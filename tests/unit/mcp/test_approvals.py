"""Approvals: pending -> granted by a named human -> consumed once, for one action on one target."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_server.approvals import (
    ApprovalAlreadyUsed,
    ApprovalError,
    ApprovalExpired,
    ApprovalMismatch,
    ApprovalNotFound,
    ApprovalNotGranted,
    ApprovalStore,
    target_key,
)

POD = target_key("Pod", "default", "web-1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_target: Path | str, clock: Clock) -> ApprovalStore:
    """On SQLite and on PostgreSQL: every store test runs on both."""
    return ApprovalStore(store_target, ttl_seconds=600, clock=clock)


def test_request_grant_consume_once(store: ApprovalStore) -> None:
    pending = store.request(
        "delete_pod", POD, reason="crash loop", risk="medium", requested_by="agent"
    )
    assert pending.status == "pending"
    assert [a.id for a in store.list("pending")] == [pending.id]
    granted = store.grant(pending.id, by="alice")
    assert granted.status == "granted" and granted.decided_by == "alice"
    used = store.consume(pending.id, "delete_pod", POD)
    assert used.status == "consumed"
    with pytest.raises(ApprovalAlreadyUsed):
        store.consume(pending.id, "delete_pod", POD)


def test_a_pending_request_is_reused(store: ApprovalStore) -> None:
    a = store.request("delete_pod", POD, reason="r", requested_by="agent")
    b = store.request("delete_pod", POD, reason="r", requested_by="agent")
    assert a.id == b.id


def test_missing_not_granted_rejected(store: ApprovalStore) -> None:
    with pytest.raises(ApprovalNotFound):
        store.consume("nope", "delete_pod", POD)
    a = store.request("delete_pod", POD, reason="r", requested_by="agent")
    with pytest.raises(ApprovalNotGranted):
        store.consume(a.id, "delete_pod", POD)
    store.reject(a.id, by="bob", reason="not now")
    with pytest.raises(ApprovalNotGranted):
        store.consume(a.id, "delete_pod", POD)
    with pytest.raises(ApprovalError):
        store.grant(a.id, by="alice")


def test_other_target_or_action_is_a_mismatch(store: ApprovalStore) -> None:
    a = store.request("delete_pod", POD, reason="r", requested_by="agent")
    store.grant(a.id, by="alice")
    with pytest.raises(ApprovalMismatch):
        store.consume(a.id, "delete_pod", target_key("Pod", "default", "web-2"))
    with pytest.raises(ApprovalMismatch):
        store.consume(a.id, "rollback_deployment", POD)
    assert store.consume(a.id, "delete_pod", POD).status == "consumed"


def test_expiry(store: ApprovalStore, clock: Clock) -> None:
    a = store.request("delete_pod", POD, reason="r", requested_by="agent")
    store.grant(a.id, by="alice")
    clock.now += 601
    with pytest.raises(ApprovalExpired):
        store.consume(a.id, "delete_pod", POD)
    assert store.list("expired")[0].id == a.id
    b = store.request("delete_pod", POD, reason="r", requested_by="agent")
    assert b.id != a.id
    clock.now += 601
    with pytest.raises(ApprovalExpired):
        store.grant(b.id, by="alice")


def test_decisions_need_a_name(store: ApprovalStore) -> None:
    a = store.request("delete_pod", POD, reason="r", requested_by="agent")
    with pytest.raises(ApprovalError):
        store.grant(a.id, by=" ")


def test_state_survives_reopening(store_target: Path | str, clock: Clock) -> None:
    path = store_target
    a = ApprovalStore(path, clock=clock).request("delete_pod", POD, reason="r", requested_by="x")
    ApprovalStore(path, clock=clock).grant(a.id, by="alice")
    assert ApprovalStore(path, clock=clock).consume(a.id, "delete_pod", POD).status == "consumed"


def test_pending_stats(store: ApprovalStore, clock: Clock) -> None:
    assert store.pending_stats() == (0, 0.0)
    store.request("delete_pod", POD, reason="r", requested_by="agent")
    clock.now += 30
    assert store.pending_stats() == (1, 30.0)


def test_racing_consumers_use_an_approval_once(store_target: Path | str, clock: Clock) -> None:
    """Eight threads on four databases (four pools on PostgreSQL: as four replicas) consume one
    granted approval: exactly one gets it."""
    import threading

    from kubemedic_store import open_database
    from kubemedic_store.postgres import PostgresDatabase

    def separate() -> ApprovalStore:
        db = (
            PostgresDatabase(store_target, min_size=0, max_size=2)
            if isinstance(store_target, str)
            else open_database(store_target)
        )
        return ApprovalStore(db, clock=clock)

    stores = [separate() for _ in range(4)]
    approval = stores[0].request("delete_pod", POD, reason="r", requested_by="agent")
    stores[0].grant(approval.id, by="alice")
    won: list[int] = []
    used: list[str] = []
    barrier = threading.Barrier(8)

    def race(n: int) -> None:
        barrier.wait()
        try:
            stores[n % 4].consume(approval.id, "delete_pod", POD)
            won.append(n)
        except ApprovalAlreadyUsed as error:
            used.append(error.code)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for one in stores:
        one.db.close()
    assert len(won) == 1 and used == ["approval_used"] * 7
