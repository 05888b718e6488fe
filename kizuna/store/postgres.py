"""PostgreSQL archive: the query and after-action store of a federation node (psycopg 3).

Same :class:`~kizuna.store.base.Store` protocol as the SQLite store. Rows keep the full
contract object as JSONB (``payload``) beside indexed columns for the questions after-action
asks: per node, by time, by kind, by track. ``ON CONFLICT DO NOTHING`` on the primary keys
``(node_id, id)`` and ``(node_id, key)`` makes every write idempotent, so a node that replays
its JetStream consumer after a restart, or retries after a lost connection, stores nothing
twice.

Durability: the session runs with ``synchronous_commit = on``, so a commit returns after the
server has flushed its WAL; ``put_*`` returns after that commit.

Schema: everything lives in one PostgreSQL schema (default ``kizuna``), created with its tables
by numbered migrations recorded in ``<schema>.kizuna_migrations``. Migrating takes a
transaction-scoped advisory lock, so several node processes starting at once against one server
do not race; running it again is a no-op.

Threads: one connection, every call under a lock (psycopg serialises a connection anyway; the
lock also keeps a batch's transaction whole). From asyncio, wrap in
:class:`kizuna.store.aio.AsyncStore`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import psycopg

from kizuna.store.base import (
    DEFAULT_NODE,
    AnyReport,
    ProductEntry,
    StoreError,
    product_key,
)
from kizuna.store.sql import SQLStore
from kizuna.timefmt import parse_time

T = TypeVar("T")

DEFAULT_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Numbered, append-only; {s} is the quoted schema name. The generated ``time`` columns are for
# people querying the archive in SQL; kizuna itself filters on the float ``t``. Keys collate
# bytewise ("C") so that ties in time replay in the same order as in SQLite, and so that the
# keyset comparison and the ORDER BY of a replay page agree whatever the server's locale.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {s}.reports (
            node_id text COLLATE "C" NOT NULL,
            id text COLLATE "C" NOT NULL,
            t double precision NOT NULL,
            time timestamptz GENERATED ALWAYS AS (to_timestamp(t)) STORED,
            kind text NOT NULL,
            sensor_id text NOT NULL,
            nation text NOT NULL,
            received_at_s double precision NOT NULL,
            payload jsonb NOT NULL,
            PRIMARY KEY (node_id, id)
        )""",
        "CREATE INDEX reports_node_time ON {s}.reports (node_id, t, id)",
        "CREATE INDEX reports_kind_time ON {s}.reports (kind, t)",
        """CREATE TABLE {s}.products (
            node_id text COLLATE "C" NOT NULL,
            key text COLLATE "C" NOT NULL,
            kind text NOT NULL,
            track_id text NOT NULL,
            t double precision NOT NULL,
            time timestamptz GENERATED ALWAYS AS (to_timestamp(t)) STORED,
            received_at_s double precision NOT NULL,
            rule text,
            payload jsonb NOT NULL,
            PRIMARY KEY (node_id, key)
        )""",
        "CREATE INDEX products_node_time ON {s}.products (node_id, t, key)",
        "CREATE INDEX products_kind_time ON {s}.products (kind, t)",
        "CREATE INDEX products_track_time ON {s}.products (track_id, t)",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)


class PostgresStore(SQLStore):
    """A :class:`kizuna.store.base.Store` in a PostgreSQL schema (see the module docstring).

    ``conninfo``: a libpq connection string or URL; ``schema``: lower-case identifier.
    Raises :class:`StoreError` if the server cannot be reached or the schema is newer than
    this code.
    """

    def __init__(
        self,
        conninfo: str = DEFAULT_CONNINFO,
        *,
        schema: str = "kizuna",
        connect_timeout_s: float = 5.0,
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise StoreError(f"schema must match {_SCHEMA_NAME.pattern}; got {schema!r}")
        self.conninfo = conninfo
        self.schema = schema
        self._s = f'"{schema}"'
        self._timeout = max(1, round(connect_timeout_s))
        self._lock = threading.Lock()
        self._closed = False
        self._conn = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._conn.close()  # do not leak the connection of a store that never opened
            raise

    # --- connection --------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self._timeout)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({self.conninfo}): {exc}") from exc
        conn.execute("SET synchronous_commit = on")
        return conn

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``work`` under the lock; reconnect and retry once if the connection dropped.

        Retrying is safe because every write is idempotent: a batch whose commit reached the
        server before the connection broke is simply found to be duplicates the second time.
        """
        with self._lock:
            if self._closed:
                raise StoreError(f"PostgreSQL store {self.schema!r} is closed")
            try:
                try:
                    return work(self._conn)
                except psycopg.OperationalError:
                    if not self._conn.closed and not self._conn.broken:
                        raise
                    self._conn = self._connect()
                    return work(self._conn)
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL store {self.schema!r}: {exc}") from exc

    def _migrate(self) -> None:
        def migrate(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"kizuna.migrate.{self.schema}",)
                )
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._s}")
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._s}.kizuna_migrations ("
                    "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                row = conn.execute(
                    f"SELECT coalesce(max(version), 0) FROM {self._s}.kizuna_migrations"
                ).fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"schema {self.schema!r} is at version {version}, newer than this "
                        f"kizuna ({SCHEMA_VERSION})"
                    )
                for number in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[number]:
                        conn.execute(statement.format(s=self._s))  # type: ignore[arg-type]
                    conn.execute(
                        f"INSERT INTO {self._s}.kizuna_migrations (version) VALUES (%s)",
                        (number + 1,),
                    )

        self._run(migrate)

    # --- writes ------------------------------------------------------------------------------

    def _insert(self, sql: str, rows: list[tuple[Any, ...]]) -> list[bool]:
        if not rows:
            return []

        def insert(conn: psycopg.Connection[Any]) -> list[bool]:
            flags: list[bool] = []
            with conn.transaction(), conn.cursor() as cur:
                # One statement per row with RETURNING: an empty result is a conflict, i.e. a
                # duplicate (also of an earlier row of this batch). psycopg pipelines them.
                cur.executemany(sql, rows, returning=True)
                while True:
                    flags.append(cur.fetchone() is not None)
                    if not cur.nextset():
                        break
            return flags

        return self._run(insert)

    def put_reports(
        self,
        reports: Iterable[AnyReport],
        *,
        node_id: str = DEFAULT_NODE,
        received_at_s: float | None = None,
    ) -> list[bool]:
        """Store a batch in one transaction; per-report flags, ``True`` where it was new."""
        now = time.time() if received_at_s is None else float(received_at_s)
        rows = [
            (
                node_id,
                r.id,
                r.t,
                r.kind,
                r.sensor.id,
                r.sensor.nation,
                now,
                r.dump_json(),
            )
            for r in reports
        ]
        return self._insert(
            f"INSERT INTO {self._s}.reports "
            "(node_id, id, t, kind, sensor_id, nation, received_at_s, payload) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
            rows,
        )

    def put_products(self, node_id: str, entries: Iterable[ProductEntry]) -> list[bool]:
        """Store a batch of ``(product, received_at_s, rule)`` in one transaction."""
        rows = [
            (
                node_id,
                product_key(p),
                p.product,
                p.track_id,
                parse_time(p.time),
                float(received),
                rule,
                p.model_dump_json(),
            )
            for p, received, rule in entries
        ]
        return self._insert(
            f"INSERT INTO {self._s}.products "
            "(node_id, key, kind, track_id, t, received_at_s, rule, payload) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING RETURNING 1",
            rows,
        )

    # --- reads -------------------------------------------------------------------------------

    _mark = "%s"

    def _table(self, name: str) -> str:
        return f"{self._s}.{name}"

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall())  # type: ignore[arg-type]

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests and teardown only)."""
        self._run(lambda conn: conn.execute(f"DROP SCHEMA IF EXISTS {self._s} CASCADE"))  # type: ignore[arg-type]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
