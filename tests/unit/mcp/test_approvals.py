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
def store(tmp_path: Path, clock: Clock) -> ApprovalStore:
    return ApprovalStore(tmp_path / "approvals.sqlite", ttl_seconds=600, clock=clock)


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


def test_state_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "a.sqlite"
    a = ApprovalStore(path, clock=clock).request("delete_pod", POD, reason="r", requested_by="x")
    ApprovalStore(path, clock=clock).grant(a.id, by="alice")
    assert ApprovalStore(path, clock=clock).consume(a.id, "delete_pod", POD).status == "consumed"


def test_pending_stats(store: ApprovalStore, clock: Clock) -> None:
    assert store.pending_stats() == (0, 0.0)
    store.request("delete_pod", POD, reason="r", requested_by="agent")
    clock.now += 30
    assert store.pending_stats() == (1, 30.0)
