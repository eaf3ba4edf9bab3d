"""SQLite: one file, WAL, a connection per transaction (any thread and any process may use the
file), `BEGIN IMMEDIATE` for writes and a deferred transaction for reads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubemedic_store.database import Database, Dialect, Params, Result, Row, StoreError, Tx

BUSY_TIMEOUT_SECONDS = 30.0


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteTx(Tx):
    dialect: Dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection) -> None:
        self.connection = db

    def execute(self, sql: str, params: Params = ()) -> Result:
        cursor = self.connection.execute(sql, tuple(params))
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, cursor.rowcount)


class SqliteDatabase(Database):
    """A SQLite file (`":memory:"`: one private in-memory database, for throwaway stores)."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path | str) -> None:
        super().__init__()
        self.path = Path(path) if str(path) != ":memory:" else None
        self._memory: sqlite3.Connection | None = None
        self._anchor: sqlite3.Connection | None = None
        self._memory_lock = threading.RLock()
        if self.path is None:
            self._memory = sqlite3.connect(
                ":memory:", check_same_thread=False, isolation_level=None
            )
            self._memory.row_factory = _dict_row
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        return str(self.path) if self.path is not None else ":memory:"

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._memory is not None:
            with self._memory_lock:
                yield self._memory
            return
        assert self.path is not None
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(f"{self.describe()}: {error}") from error
        db.row_factory = _dict_row
        try:
            yield db
        finally:
            db.close()

    def _prepare(self) -> None:
        if self._memory is None and self._anchor is None:
            # WAL, and one idle connection held open for the life of this object: closing the
            # last connection to a WAL file checkpoints it (with fsyncs) — without the anchor,
            # every short transaction would pay that on its close.
            anchor = sqlite3.connect(
                self.path or ":memory:", timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
            )
            anchor.execute("PRAGMA journal_mode=WAL")
            self._anchor = anchor

    @contextmanager
    def write(self, lock: str | None = "state", *, durable: bool = True) -> Iterator[Tx]:
        # One write lock for the whole file: `lock` needs no key of its own here.
        with self._connect() as db:
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        # WAL: a deferred transaction reads one snapshot and never queues behind a writer.
        with self._connect() as db:
            db.execute("BEGIN")
            try:
                yield SqliteTx(db)
            finally:
                db.execute("COMMIT")

    def connection(self) -> sqlite3.Connection:
        """A plain connection (the legacy-file migration attaches the old files to it)."""
        if self.path is None:
            raise StoreError("an in-memory database has no second connection")
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        db.row_factory = _dict_row
        return db

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
        if self._anchor is not None:
            self._anchor.close()
            self._anchor = None
