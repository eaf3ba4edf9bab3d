"""PostgreSQL through psycopg 3 and a connection pool (psycopg-pool).

Write transactions serialise per domain with `pg_advisory_xact_lock(<fixed key>)`, taken as
the first statement, and released by the commit or the rollback. Why not SERIALIZABLE with a
retry: the write path's transaction raises domain errors (a rate limit, an approval already
used) and mints ids; a serialisation failure would re-run all of it, and on a hot table (every
process reserves slots in the same `actions` rows) retries pile up. The advisory lock gives the
same single-writer order SQLite's `BEGIN IMMEDIATE` gives, in one pass, and the audit chain
(read the head hash, insert the next record) needs exactly that order anyway. Reads take no
lock (autocommit statements, READ COMMITTED).

A non-durable write sets `synchronous_commit = off` for its transaction; durable ones keep the
server's default (`on`): the commit returns once the WAL record is flushed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from kubemedic_store.database import (
    Database,
    Dialect,
    Params,
    Result,
    StoreError,
    Tx,
    lock_key,
    redact_url,
)

DEFAULT_POOL_SIZE = 8
CONNECT_TIMEOUT_SECONDS = 30.0


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """`?` placeholders to psycopg's `%s` (a literal `%` doubled). Domain SQL never puts a `?`
    or a `%` inside a string literal."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresTx(Tx):
    dialect: Dialect = "postgresql"

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Params = ()) -> Result:
        cursor = self.connection.execute(translate(sql), tuple(params) or None)
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, cursor.rowcount)


class PostgresDatabase(Database):
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = DEFAULT_POOL_SIZE) -> None:
        super().__init__()
        self.url = url
        try:
            self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                url,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True, "row_factory": dict_row},
                timeout=CONNECT_TIMEOUT_SECONDS,
                name="kubemedic-store",
                open=True,
            )
        except psycopg.Error as error:
            raise StoreError(f"{self.describe()}: {error}") from error

    def describe(self) -> str:
        return redact_url(self.url)

    @contextmanager
    def write(self, lock: str | None = "state", *, durable: bool = True) -> Iterator[Tx]:
        with self._pool.connection() as connection, connection.transaction():
            if not durable:
                connection.execute("SET LOCAL synchronous_commit = off")
            if lock is not None:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(lock),))
            yield PostgresTx(connection)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self._pool.connection() as connection:
            yield PostgresTx(connection)

    def close(self) -> None:
        self._pool.close()
