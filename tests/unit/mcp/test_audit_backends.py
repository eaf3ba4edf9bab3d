"""The audit chain on both backends: audit.jsonl (SQLite mode) and the `audit_records` table
(PostgreSQL): linear across writers, verified, tampering named, exported in the file's format."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubemedic.cli import app
from kubemedic_store import open_database
from kubemedic_store.postgres import PostgresDatabase
from mcp_server.audit import AuditLog, AuditTarget, export_jsonl, verify, verify_database

TARGET = AuditTarget("Pod", "default", "web-1")


@pytest.fixture(params=["sqlite", "postgres"])
def trail(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """audit.jsonl, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "audit.jsonl"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _check(trail: Path | str) -> bool:
    return (verify(trail) if isinstance(trail, Path) else verify_database(trail)).ok


def _write(log: AuditLog, n: int, who: str = "tester") -> None:
    for i in range(n):
        log.append(
            action="delete_pod",
            target=TARGET,
            reason=f"attempt {i}",
            initiator=who,
            result="success",
            dry_run=False,
            duration_seconds=0.1,
        )


def test_the_chain_continues_across_writers_and_verifies(trail: Path | str) -> None:
    _write(AuditLog(trail), 2)
    _write(AuditLog(trail), 2)
    records = AuditLog(trail).records()
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(records, records[1:], strict=False))
    assert _check(trail)


def test_concurrent_replicas_keep_one_linear_chain(trail: Path | str) -> None:
    """Four writers with their own connections (pools) append at once: one chain, no fork."""

    def writer() -> AuditLog:
        if isinstance(trail, str):
            return AuditLog(PostgresDatabase(trail, min_size=0, max_size=1))
        return AuditLog(trail)

    logs = [writer() for _ in range(4)]
    threads = [
        threading.Thread(target=_write, args=(log, 10, f"replica-{n}"))
        for n, log in enumerate(logs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        if log.db is not None:
            log.db.close()
    records = AuditLog(trail).records()
    assert [r["seq"] for r in records] == list(range(1, 41))
    assert _check(trail)


def test_a_tampered_row_is_named(postgres_url: str) -> None:
    _write(AuditLog(postgres_url), 3)
    db = open_database(postgres_url)
    with db.write("audit") as tx:
        row = tx.execute("SELECT record FROM audit_records WHERE seq = 2").one()
        assert row is not None
        tx.execute(
            "UPDATE audit_records SET record = ? WHERE seq = 2",
            (row["record"].replace("attempt 1", "attempt 9"),),
        )
    result = verify_database(postgres_url)
    assert not result.ok and result.first_broken == 2 and result.records == 1


def test_export_writes_the_file_format(postgres_url: str, tmp_path: Path) -> None:
    _write(AuditLog(postgres_url), 3)
    out = tmp_path / "export.jsonl"
    assert export_jsonl(postgres_url, out) == 3
    assert verify(out).ok and verify(out).records == 3
    assert AuditLog(out).records() == AuditLog(postgres_url).records()


def test_the_audit_command_verifies_and_exports_the_database(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(AuditLog(postgres_url), 2)
    monkeypatch.setenv("KUBEMEDIC_STATE_DIR", str(tmp_path / "state"))
    secret = tmp_path / "database-url"
    secret.write_text(postgres_url + "\n")  # a mounted Secret
    monkeypatch.setenv("KUBEMEDIC_DATABASE_URL_FILE", str(secret))
    runner = CliRunner()
    checked = runner.invoke(app, ["audit", "verify"])
    assert checked.exit_code == 0, checked.output
    assert "audit_records" in checked.output and "OK, 2 records" in checked.output
    out = tmp_path / "copy.jsonl"
    exported = runner.invoke(app, ["audit", "export", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert verify(out).records == 2
