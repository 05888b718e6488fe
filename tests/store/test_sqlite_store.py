"""SQLite store: durability across processes, settings, threads, migrations, asyncio."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from store_samples import T0_S, report

from kizuna.store.aio import AsyncStore
from kizuna.store.base import StoreError
from kizuna.store.sqlite import SCHEMA_VERSION, SQLiteStore

HERE = Path(__file__).parent


def _writer_script(db: Path, n: int, *, batch: int, then: str) -> str:
    """A child process that stores ``n`` reports, printing ``ACK <i>`` after each put returns."""
    return textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(HERE)!r})
        from store_samples import T0_S, report
        from kizuna.store.sqlite import SQLiteStore
        store = SQLiteStore({str(db)!r})
        i = 0
        while i < {n}:
            stop = min(i + {batch}, {n})
            chunk = [report(f"D:{{j:06d}}", T0_S + j * 0.01) for j in range(i, stop)]
            flags = store.put_reports(chunk)
            assert all(flags)
            i += len(chunk)
            print(f"ACK {{i}}", flush=True)
        {then}
        """
    )


def test_settings_are_wal_and_full_sync(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "k.db") as store:
        # synchronous is per connection: check the writer's, the one that commits.
        assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn = sqlite3.connect(tmp_path / "k.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in file
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_acknowledged_reports_survive_abrupt_exit(tmp_path: Path) -> None:
    """A child stores and acknowledges, then leaves with os._exit (no close, no cleanup)."""
    db = tmp_path / "node.db"
    script = _writer_script(db, 250, batch=1, then="os._exit(0)")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "250"
    # A fresh process-level connection (new store object) finds every acknowledged report.
    with SQLiteStore(db) as store:
        assert store.count("reports") == 250
        ids = [r.id for r in store.replay()]
    assert ids == [f"D:{j:06d}" for j in range(250)]


def test_acknowledged_batches_survive_kill_9(tmp_path: Path) -> None:
    """SIGKILL a child mid-stream: every batch it acknowledged is in the file, whole."""
    db = tmp_path / "node.db"
    script = _writer_script(db, 1_000_000, batch=50, then="")
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    acked = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acked = int(line.split()[1])
            if acked >= 2000:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert acked >= 2000
    with SQLiteStore(db) as store:
        stored = store.count("reports")
        # At least what was acknowledged; batches are atomic, so a multiple of the batch size.
        assert stored >= acked
        assert stored % 50 == 0
        ids = [r.id for r in store.replay()]
    assert ids == [f"D:{j:06d}" for j in range(stored)]


def test_two_stores_on_one_file_share_dedup(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    with SQLiteStore(db) as a, SQLiteStore(db) as b:
        assert a.put_report(report("X", T0_S)) is True
        assert b.put_report(report("X", T0_S)) is False
        assert b.put_reports([report("Y", T0_S), report("X", T0_S)]) == [True, False]
        assert a.count("reports") == 2


def test_concurrent_threads_store_each_report_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "k.db")
    ids = [f"C:{i:04d}" for i in range(400)]
    results: list[list[tuple[str, bool]]] = [[] for _ in range(4)]
    errors: list[Exception] = []

    def work(k: int) -> None:
        try:
            # Every thread offers every id (rotated), in batches of 20: heavy overlap.
            mine = ids[k * 100 :] + ids[: k * 100]
            for start in range(0, len(mine), 20):
                chunk = [report(i, T0_S + int(i[2:]) * 0.1) for i in mine[start : start + 20]]
                flags = store.put_reports(chunk)
                results[k].extend(zip((r.id for r in chunk), flags, strict=True))
                store.reports(limit=5)  # reads interleaved with writes, own connection
        except Exception as exc:  # collected and asserted on in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    new_by_id: dict[str, int] = {}
    for per_thread in results:
        for report_id, is_new in per_thread:
            new_by_id[report_id] = new_by_id.get(report_id, 0) + int(is_new)
    assert new_by_id == {i: 1 for i in ids}  # exactly one thread stored each id
    assert store.count("reports") == 400
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    SQLiteStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(db)


def test_reopen_keeps_schema_and_rows(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "k.db"  # directory created on demand
    with SQLiteStore(db) as store:
        store.put_report(report("K", T0_S))
    with SQLiteStore(db) as store:  # migrations are a no-op the second time
        assert store.put_report(report("K", T0_S)) is False
        assert store.count("reports") == 1


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteStore(tmp_path / "dir.db")


def test_replay_sees_rows_written_during_iteration(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "k.db") as store:
        store.put_reports([report(f"A:{i:04d}", T0_S + i) for i in range(1500)])
        seen = []
        for r in store.replay():
            seen.append(r.id)
            if r.id == "A:0000":
                # Written while replaying: later in time, so the keyset pages reach it.
                store.put_report(report("Z:late", T0_S + 5000.0))
        assert seen[-1] == "Z:late"
        assert len(seen) == 1501


async def test_async_store_keeps_order_and_is_durable(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    async with AsyncStore(SQLiteStore(db)) as store:
        # Submitted concurrently: one worker thread runs them in submission order.
        flags = await asyncio.gather(
            *(store.put_report(report(f"Q:{i % 30:03d}", T0_S + i % 30)) for i in range(60))
        )
        assert flags == [True] * 30 + [False] * 30
        assert await store.count("reports") == 30
        replayed = [r.id async for r in store.replay()]
        assert replayed == [f"Q:{i:03d}" for i in range(30)]
        rows = await store.reports(since_s=T0_S + 10.0, until_s=T0_S + 12.0)
        assert [r.report.id for r in rows] == ["Q:010", "Q:011"]
    with SQLiteStore(db) as fresh:
        assert fresh.count("reports") == 30


def test_memory_store_is_usable_but_separate() -> None:
    with SQLiteStore(":memory:") as a, SQLiteStore(":memory:") as b:
        a.put_report(report("M", T0_S))
        assert a.count("reports") == 1
        assert b.count("reports") == 0
