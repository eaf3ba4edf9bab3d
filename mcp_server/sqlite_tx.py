"""Short SQLite transactions on the state database: a connection per transaction, so any
thread and any process may use the same file, with SQLite's write lock taken up front."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 30.0


@contextmanager
def write_transaction(path: Path, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` … `COMMIT` (rolled back on any exception). `durable`: fsync the
    commit (an intent, an approval's use); otherwise WAL's NORMAL is enough."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()


@contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """Reads take no write lock (WAL): many status looks never queue behind a write."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()
