"""PostgreSQL archive against the real server: migrations, JSONB, after-action, reconnects.

Each test runs in its own schema (fixture ``pg_schema``), dropped afterwards; the module skips
with the reason when 127.0.0.1:5432 is unreachable.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from store_samples import T0_S, alert, report, track

from kizuna.store.base import StoreError
from kizuna.store.postgres import SCHEMA_VERSION, PostgresStore
from kizuna.timefmt import format_time


def test_round_trip_and_dedup_survive_a_new_connection(pg_conninfo: str, pg_schema: str) -> None:
    items = [report(f"KOR-LRR-1:{i:04d}", T0_S + i * 0.25) for i in range(300)]
    with PostgresStore(pg_conninfo, schema=pg_schema) as store:
        assert (
            store.put_reports(items, node_id="INDOPACOM", received_at_s=T0_S + 100.0)
            == [True] * 300
        )
        assert store.put_product("INDOPACOM", track("T1", format_time(T0_S)), T0_S + 1.0, "r1")
    # A different connection (the commit is durable, not just visible to its writer).
    with PostgresStore(pg_conninfo, schema=pg_schema) as store:
        assert store.put_reports(items[::3], node_id="INDOPACOM") == [False] * 100
        assert store.put_product("INDOPACOM", track("T1", format_time(T0_S)), 9.0, "x") is False
        assert store.count("reports") == 300
        assert list(store.replay(node_id="INDOPACOM")) == items
        (stored,) = store.products(node_id="INDOPACOM")
        assert stored.rule == "r1"
        assert stored.received_at_s == pytest.approx(T0_S + 1.0)


def test_migrations_are_idempotent_and_concurrent_safe(pg_conninfo: str, pg_schema: str) -> None:
    errors: list[Exception] = []

    def open_close() -> None:
        try:
            PostgresStore(pg_conninfo, schema=pg_schema).close()
        except Exception as exc:  # collected and asserted on in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=open_close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    PostgresStore(pg_conninfo, schema=pg_schema).close()
    with psycopg.connect(pg_conninfo) as conn:
        versions = conn.execute(f'SELECT version FROM "{pg_schema}".kizuna_migrations').fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (pg_schema,)
            )
        }
    assert {"reports_node_time", "products_track_time", "products_node_time"} <= indexes


def test_newer_schema_is_refused(pg_conninfo: str, pg_schema: str) -> None:
    PostgresStore(pg_conninfo, schema=pg_schema).close()
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{pg_schema}".kizuna_migrations (version) VALUES (%s)',
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(StoreError, match="newer"):
        PostgresStore(pg_conninfo, schema=pg_schema)


def test_payload_is_queryable_jsonb_with_timestamps(pg_conninfo: str, pg_schema: str) -> None:
    with PostgresStore(pg_conninfo, schema=pg_schema) as store:
        store.put_report(report("L:1", T0_S + 2.5, kind="launch"), node_id="JJOC")
        store.put_product("JJOC", alert("A1", format_time(T0_S + 30.0)), T0_S + 31.0, "alerts")
    with psycopg.connect(pg_conninfo) as conn:
        row = conn.execute(
            f"SELECT payload->'sensor'->>'nation', payload->>'kind', time, "
            f'jsonb_typeof(payload) FROM "{pg_schema}".reports'
        ).fetchone()
        assert row is not None
        assert row[:2] == ("JPN", "launch")
        assert row[2].timestamp() == pytest.approx(T0_S + 2.5)
        assert row[3] == "object"
        ja = conn.execute(
            f"SELECT payload->'message'->>'ja' FROM \"{pg_schema}\".products WHERE kind = 'alert'"
        ).fetchone()
        assert ja == ("ミサイル",)


def test_after_action_per_node_by_time(pg_conninfo: str, pg_schema: str) -> None:
    with PostgresStore(pg_conninfo, schema=pg_schema) as store:
        for node, offset in (("JJOC", 0.0), ("ROK-JCS", 0.5), ("INDOPACOM", 0.25)):
            store.put_products(
                node,
                [
                    (track("T1", format_time(T0_S + 10.0 * i + offset)), T0_S + 10.0 * i + 1, "r")
                    for i in range(6)
                ],
            )
        picture = store.products(node_id="ROK-JCS", since_s=T0_S + 15.0, until_s=T0_S + 45.0)
        assert [round(p.t - T0_S, 1) for p in picture] == [20.5, 30.5, 40.5]
        assert {p.node_id for p in picture} == {"ROK-JCS"}
        everyone = store.products(since_s=T0_S + 20.0, until_s=T0_S + 21.0)
        assert [p.node_id for p in everyone] == ["JJOC", "INDOPACOM", "ROK-JCS"]


def test_reconnects_after_the_server_drops_the_connection(pg_conninfo: str, pg_schema: str) -> None:
    with PostgresStore(pg_conninfo, schema=pg_schema) as store:
        assert store.put_report(report("B:1", T0_S)) is True
        pid = store._conn.info.backend_pid
        with psycopg.connect(pg_conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # The next call finds the connection dead, reconnects and retries once.
        assert store.put_report(report("B:2", T0_S + 1.0)) is True
        assert store.put_report(report("B:1", T0_S)) is False
        assert store._conn.info.backend_pid != pid
        assert store.count("reports") == 2


def test_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore("host=127.0.0.1 port=1 user=postgres dbname=test", connect_timeout_s=1)


def test_bad_schema_name_is_refused() -> None:
    with pytest.raises(StoreError, match="schema"):
        PostgresStore("host=127.0.0.1 port=1", schema='x"; DROP TABLE y; --')
