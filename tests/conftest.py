"""Fixtures every test folder may use: a real PostgreSQL server (tests/fixtures/postgres.py)."""

from tests.fixtures.postgres import postgres_server, postgres_url, store_target

__all__ = ["postgres_server", "postgres_url", "store_target"]
