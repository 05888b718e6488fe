"""Embedded SQLite store: laptop mode's durable log of reports and products.

Durability
    The file runs in WAL mode with ``synchronous=FULL``: every commit fsyncs the write-ahead log
    before it returns, so a row whose ``put_*`` call has returned survives a crash of the process
    *and* of the machine. (SQLite's default for WAL, ``NORMAL``, would only survive a crash of
    the process.) A batch is one transaction: it is all there or not at all, and the call returns
    after the single commit, which is what makes batching fast (one fsync per batch).

Threads and asyncio
    One *writer* connection, guarded by a lock, does every write; ``BEGIN IMMEDIATE`` takes the
    database's write lock up front so the duplicate check and the insert of a batch are atomic
    even against another process writing the same file. Reads use one connection per thread
    (WAL lets readers run beside the writer) and fetch a page at a time, so no read transaction
    stays open while a caller iterates a replay. All calls block (a commit waits for the disk):
    from asyncio, wrap the store in :class:`kizuna.store.aio.AsyncStore`, which runs every call
    on one worker thread so the event loop never waits on an fsync.

``":memory:"`` is accepted for tests and scratch use; it is not durable and every read goes
through the writer connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from kizuna.store.base import (
    DEFAULT_NODE,
    AnyProduct,
    AnyReport,
    ProductEntry,
    StoreError,
    product_key,
)
from kizuna.store.sql import SQLStore
from kizuna.timefmt import parse_time

# Each entry upgrades the schema by one version (PRAGMA user_version). Append, never edit: a
# file written by an older kizuna is brought forward by running the entries it has not seen.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE reports (
            node_id TEXT NOT NULL,
            id TEXT NOT NULL,
            t REAL NOT NULL,
            kind TEXT NOT NULL,
            sensor_id TEXT NOT NULL,
            nation TEXT NOT NULL,
            received_at_s REAL NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (node_id, id)
        ) WITHOUT ROWID""",
        "CREATE INDEX reports_node_time ON reports (node_id, t, id)",
        "CREATE INDEX reports_kind_time ON reports (kind, t)",
        """CREATE TABLE products (
            node_id TEXT NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            track_id TEXT NOT NULL,
            t REAL NOT NULL,
            received_at_s REAL NOT NULL,
            rule TEXT,
            payload TEXT NOT NULL,
            PRIMARY KEY (node_id, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX products_node_time ON products (node_id, t, key)",
        "CREATE INDEX products_kind_time ON products (kind, t)",
        "CREATE INDEX products_track_time ON products (track_id, t)",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_REPORT_INSERT = (
    "INSERT INTO reports (node_id, id, t, kind, sensor_id, nation, received_at_s, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_PRODUCT_INSERT = (
    "INSERT INTO products (node_id, key, kind, track_id, t, received_at_s, rule, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _report_row(node_id: str, report: AnyReport, received_at_s: float) -> tuple[Any, ...]:
    return (
        node_id,
        report.id,
        report.t,
        report.kind,
        report.sensor.id,
        report.sensor.nation,
        received_at_s,
        report.dump_json(),
    )


def _product_row(
    node_id: str, key: str, product: AnyProduct, received_at_s: float, rule: str | None
) -> tuple[Any, ...]:
    return (
        node_id,
        key,
        product.product,
        product.track_id,
        parse_time(product.time),
        float(received_at_s),
        rule,
        product.model_dump_json(),
    )


class SQLiteStore(SQLStore):
    """A :class:`kizuna.store.base.Store` in one SQLite file (see the module docstring).

    ``path``: the database file (created with its directory if absent) or ``":memory:"``.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = str(path)
        self._memory = self.path == ":memory:"
        if not self._memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._busy_ms = int(busy_timeout_s * 1000)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        try:
            self._writer = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open store: {exc}") from exc
        try:
            if not self._memory:
                mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: could not switch to WAL (got {mode})")
            self._migrate()
        except sqlite3.Error as exc:
            self._writer.close()
            raise StoreError(f"{self.path}: cannot open store: {exc}") from exc
        except BaseException:
            self._writer.close()
            raise

    # --- connections ---------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so the commit that makes a row
        # durable is visible in the code rather than implied by the driver.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        # FULL: fsync the WAL at every commit (durable across power loss, not just a crash).
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            if self._memory:
                with self._lock:
                    self._check_open()
                    return self._writer.execute(sql, params).fetchall()
            self._check_open()
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed: {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")

    def _migrate(self) -> None:
        with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                version = self._writer.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path}: schema version {version} is newer than this kizuna "
                        f"({SCHEMA_VERSION})"
                    )
                for number in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[number]:
                        self._writer.execute(statement)
                self._writer.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self._writer.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # A failed COMMIT may already have ended the transaction; a second error from ROLLBACK
        # would hide the first.
        if self._writer.in_transaction:
            self._writer.execute("ROLLBACK")

    # --- writes ----------------------------------------------------------------------------

    def _insert(
        self, table: Literal["reports", "products"], rows: list[tuple[Any, ...]]
    ) -> list[bool]:
        """Insert rows keyed by ``(row[0], row[1])``; one durable commit; flags of new rows."""
        if not rows:
            self._check_open()
            return []
        key_column = "id" if table == "reports" else "key"
        sql = _REPORT_INSERT if table == "reports" else _PRODUCT_INSERT
        with self._lock:
            self._check_open()
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                try:
                    # Usually every row is new: inserted as they are, and the count of rows
                    # changed says so without looking each key up first. Otherwise (a
                    # redelivery, a copy inside the batch) the batch starts over in a new
                    # transaction and finds the duplicates by key.
                    before = self._writer.total_changes
                    self._writer.executemany(sql, rows)
                    if self._writer.total_changes - before == len(rows):
                        flags = [True] * len(rows)
                    else:
                        self._writer.execute("ROLLBACK")
                        self._writer.execute("BEGIN IMMEDIATE")
                        flags = self._insert_checked(table, key_column, sql, rows)
                    # Durable here: with synchronous=FULL the COMMIT returns after the fsync.
                    self._writer.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: write failed, nothing stored: {exc}") from exc
        return flags

    def _insert_checked(
        self, table: str, key_column: str, sql: str, rows: list[tuple[Any, ...]]
    ) -> list[bool]:
        existing = self._existing(table, key_column, rows)
        flags: list[bool] = []
        fresh: list[tuple[Any, ...]] = []
        for row in rows:
            identity = (row[0], row[1])
            is_new = identity not in existing
            flags.append(is_new)
            if is_new:
                # A second copy inside the same batch is a duplicate too.
                existing.add(identity)
                fresh.append(row)
        self._writer.executemany(sql, fresh)
        return flags

    def _existing(
        self, table: str, key_column: str, rows: list[tuple[Any, ...]]
    ) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        by_node: dict[str, list[str]] = {}
        for row in rows:
            by_node.setdefault(row[0], []).append(row[1])
        for node, keys in by_node.items():
            # Chunked to stay below SQLite's bound-parameter limit.
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                cursor = self._writer.execute(
                    f"SELECT {key_column} FROM {table} WHERE node_id = ? "
                    f"AND {key_column} IN ({marks})",
                    (node, *chunk),
                )
                found.update((node, key) for (key,) in cursor)
        return found

    def put_reports(
        self,
        reports: Iterable[AnyReport],
        *,
        node_id: str = DEFAULT_NODE,
        received_at_s: float | None = None,
    ) -> list[bool]:
        """Store a batch in one transaction; per-report flags, ``True`` where it was new."""
        now = time.time() if received_at_s is None else float(received_at_s)
        return self._insert("reports", [_report_row(node_id, r, now) for r in reports])

    def put_products(self, node_id: str, entries: Iterable[ProductEntry]) -> list[bool]:
        """Store a batch of ``(product, received_at_s, rule)`` in one transaction."""
        rows = [
            _product_row(node_id, product_key(product), product, received_at_s, rule)
            for product, received_at_s, rule in entries
        ]
        return self._insert("products", rows)

    # --- reads -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection (idempotent)."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
