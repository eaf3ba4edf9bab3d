"""The audit trail: chained, verifiable, redacted, and it names the first broken record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_server.audit import AuditLog, AuditTarget, verify

TARGET = AuditTarget("Pod", "default", "web-1")


def _write(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(
            action="delete_pod",
            target=TARGET,
            reason=f"attempt {i}",
            initiator="tester",
            result="success",
            dry_run=False,
            duration_seconds=0.1,
        )


def test_records_chain_and_verify(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _write(log, 3)
    records = log.records()
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[1]["prev_hash"] == records[0]["hash"]
    for key in (
        "timestamp",
        "action",
        "target",
        "reason",
        "initiator",
        "approver",
        "dry_run",
        "result",
        "duration_seconds",
        "error",
    ):
        assert key in records[0]
    result = verify(log.path)
    assert result.ok and result.records == 3


def test_a_reopened_log_continues_the_chain(tmp_path: Path) -> None:
    _write(AuditLog(tmp_path / "a.jsonl"), 2)
    _write(AuditLog(tmp_path / "a.jsonl"), 2)
    assert verify(tmp_path / "a.jsonl").ok


def test_an_edited_record_is_named(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _write(log, 4)
    lines = log.path.read_text().splitlines()
    record = json.loads(lines[2])
    record["result"] = "failure"
    lines[2] = json.dumps(record)
    log.path.write_text("\n".join(lines) + "\n")
    result = verify(log.path)
    assert not result.ok and result.first_broken == 3


def test_a_removed_record_is_named(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    _write(log, 4)
    lines = log.path.read_text().splitlines()
    del lines[1]
    log.path.write_text("\n".join(lines) + "\n")
    result = verify(log.path)
    assert not result.ok and result.first_broken == 2


def test_secrets_are_redacted(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append(
        action="delete_pod",
        target=TARGET,
        reason="log said password=hunter2secret",
        initiator="tester",
        result="refused",
        dry_run=False,
        duration_seconds=0.0,
    )
    text = log.path.read_text()
    assert "hunter2secret" not in text
    assert verify(log.path).ok


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_any_reasons_verify(tmp_path_factory: object, reasons: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        log = AuditLog(Path(folder) / "audit.jsonl")
        for reason in reasons:
            log.append(
                action="none",
                target=TARGET,
                reason=reason,
                initiator="x",
                result="refused",
                dry_run=True,
                duration_seconds=0,
            )
        assert verify(log.path).ok


def test_two_writers_share_one_chain(tmp_path: Path) -> None:
    """Two logs on one file (as two server processes would be) interleave into one chain."""
    import threading

    path = tmp_path / "audit.jsonl"
    writers = [AuditLog(path), AuditLog(path)]
    threads = [threading.Thread(target=_write, args=(w, 25)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = verify(path)
    assert result.ok and result.records == 50


def test_pairing_names_writes_that_are_not_intent_then_outcome(tmp_path: Path) -> None:
    from mcp_server.audit import AuditTarget, pairing

    log = AuditLog(tmp_path / "audit.jsonl")
    target = AuditTarget("Pod", "default", "web-1")

    def write(action_id: str, phase: Any) -> None:
        log.append(
            action="delete_pod",
            target=target,
            reason="r",
            initiator="agent",
            result="intent" if phase == "intent" else "applied",
            dry_run=False,
            duration_seconds=0.0,
            details={"action_id": action_id},
            phase=phase,
        )

    write("a", "intent")
    write("a", "outcome")
    write("b", "intent")
    assert pairing(log.records()).ok
    assert pairing(log.records()).open_intents == ("b",)
    write("c", "outcome")
    write("a", "outcome")
    broken = pairing(log.records())
    assert not broken.ok
    assert broken.violations == ("a: intent then outcome then outcome", "c: outcome")
