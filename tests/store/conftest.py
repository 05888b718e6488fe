"""Fixtures for the store tests.

PostgreSQL tests use the server the brief names (127.0.0.1:5432, trust, user postgres, database
``test``), each test in its own uniquely named schema dropped afterwards; they skip with the
reason when the server is unreachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def _pg_reachable() -> str | None:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        return f"psycopg not importable: {exc}"
    try:
        with psycopg.connect(PG_CONNINFO) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at 127.0.0.1:5432 unreachable: {str(exc).strip()}"
    return None


@pytest.fixture(scope="session")
def pg_conninfo() -> str:
    reason = _pg_reachable()
    if reason is not None:
        pytest.skip(reason)
    return PG_CONNINFO


@pytest.fixture
def pg_schema(pg_conninfo: str) -> Iterator[str]:
    """A fresh schema name for one test; the schema is dropped afterwards, whatever happened."""
    import psycopg

    name = f"kizuna_test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(params=["sqlite", "sqlite-memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Every Store implementation, for the contract tests that all of them must pass."""
    if request.param == "postgres":
        from kizuna.store.postgres import PostgresStore

        schema = request.getfixturevalue("pg_schema")
        opened: Any = PostgresStore(request.getfixturevalue("pg_conninfo"), schema=schema)
    else:
        from kizuna.store.sqlite import SQLiteStore

        target = ":memory:" if request.param == "sqlite-memory" else tmp_path / "store.db"
        opened = SQLiteStore(target)
    yield opened
    opened.close()
