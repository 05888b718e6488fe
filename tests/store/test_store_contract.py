"""Contract tests every Store implementation must pass (SQLite file, SQLite memory, PostgreSQL).

Like a slot test: one fixture parametrised over the implementations, the same assertions for
each, so the sharing layer can swap stores without noticing.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from store_samples import T0_S, alert, prediction, report, track

from kizuna.store.base import REPLAY_PAGE, Store, StoreError, product_key
from kizuna.timefmt import format_time


def test_implements_protocol(store: Any) -> None:
    assert isinstance(store, Store)


def test_duplicate_report_changes_nothing(store: Any) -> None:
    first = report("JPN-FPS5-1:000001", T0_S + 1.25, range_m=800_000.0)
    assert store.put_report(first, received_at_s=T0_S + 2.0) is True
    # Same id, different content and receipt time: still a duplicate, and the first row stays.
    again = report("JPN-FPS5-1:000001", T0_S + 9.0, range_m=900_000.0)
    assert store.put_report(again, received_at_s=T0_S + 50.0) is False
    assert store.put_report(first) is False
    rows = store.reports()
    assert len(rows) == 1
    assert rows[0].report == first
    assert rows[0].report.range_m == 800_000.0
    assert rows[0].t == pytest.approx(T0_S + 1.25, abs=1e-6)
    assert rows[0].received_at_s == pytest.approx(T0_S + 2.0, abs=1e-6)
    assert store.count("reports") == 1


def test_report_round_trip_every_kind(store: Any) -> None:
    originals = [
        report("R:1", T0_S + 1.0, kind="radar"),
        report("L:1", T0_S + 2.0, kind="launch"),
        report("P:1", T0_S + 3.0, kind="position"),
    ]
    assert store.put_reports(originals, received_at_s=T0_S + 4.0) == [True, True, True]
    assert [row.report for row in store.reports()] == originals
    assert [row.report.id for row in store.reports(kind="launch")] == ["L:1"]
    store.put_report(report("R:2", T0_S + 0.5), received_at_s=T0_S + 99.0)
    early = store.reports(received_until_s=T0_S + 99.0)
    assert [row.report.id for row in early] == ["R:1", "L:1", "P:1"]


def test_batch_flags_duplicates_inside_and_across_batches(store: Any) -> None:
    assert store.put_report(report("A", T0_S)) is True
    batch = [
        report("B", T0_S + 1.0),
        report("A", T0_S + 2.0),  # stored before
        report("C", T0_S + 3.0),
        report("B", T0_S + 4.0),  # earlier in this batch
    ]
    assert store.put_reports(batch) == [True, False, True, False]
    assert store.put_reports([]) == []
    assert [row.report.id for row in store.reports()] == ["A", "B", "C"]
    # The in-batch duplicate did not overwrite the first copy.
    assert store.reports()[1].t == pytest.approx(T0_S + 1.0, abs=1e-6)


def test_reports_are_kept_per_node(store: Any) -> None:
    shared = report("KOR-1:7", T0_S + 5.0)
    assert store.put_report(shared, node_id="INDOPACOM") is True
    assert store.put_report(shared, node_id="JJOC") is True
    assert store.put_report(shared, node_id="JJOC") is False
    assert store.count("reports") == 2
    assert store.count("reports", node_id="JJOC") == 1
    assert [r.node_id for r in store.reports(node_id=None)] == ["INDOPACOM", "JJOC"]
    assert store.reports() == []  # the default node received nothing
    assert [r.id for r in store.replay(node_id="JJOC")] == ["KOR-1:7"]


def test_product_keys_and_dedup(store: Any) -> None:
    t1 = track("USFJ-T1", "2026-11-25T03:01:00.000Z")
    # The same instant written with an offset is the same product.
    t1_offset = track("USFJ-T1", "2026-11-25T12:01:00.000+09:00")
    assert product_key(t1) == product_key(t1_offset) == "track:USFJ-T1:2026-11-25T03:01:00.000Z"
    assert store.put_product("JJOC", t1, T0_S + 61.0, "USA-track-all") is True
    assert store.put_product("JJOC", t1_offset, T0_S + 62.0, "USA-track-all") is False
    assert store.put_product("USFK", t1, T0_S + 61.5, None) is True

    issued = alert("A1", "2026-11-25T03:02:00.000Z", "issued")
    cancelled = alert("A1", "2026-11-25T03:02:00.000Z", "cancelled")
    flags = store.put_products(
        "JJOC",
        [
            (issued, T0_S + 120.0, "alerts-to-all"),
            (cancelled, T0_S + 120.0, "alerts-to-all"),  # same time, new status: distinct
            (issued, T0_S + 121.0, "alerts-to-all"),  # duplicate inside the batch
            (prediction("USFJ-T1", "2026-11-25T03:01:30.000Z"), T0_S + 91.0, None),
        ],
    )
    assert flags == [True, True, False, True]
    assert store.count("products") == 5
    assert store.count("products", node_id="JJOC") == 4

    jjoc = store.products(node_id="JJOC")
    assert [p.kind for p in jjoc] == ["track", "prediction", "alert", "alert"]
    assert jjoc[0].product == t1
    assert jjoc[0].rule == "USA-track-all"
    assert jjoc[0].received_at_s == pytest.approx(T0_S + 61.0, abs=1e-6)
    assert jjoc[1].rule is None
    assert {p.product.status for p in jjoc[2:]} == {"issued", "cancelled"}


def test_product_queries(store: Any) -> None:
    entries = []
    for i in range(10):
        stamp = format_time(T0_S + 10.0 * i)
        entries.append((track(f"T{i % 2}", stamp), T0_S + 10.0 * i + 0.1, "r"))
    store.put_products("INDOPACOM", entries)
    store.put_product("USFK", alert("A9", format_time(T0_S + 35.0)), T0_S + 36.0, "r")

    window = store.products(since_s=T0_S + 20.0, until_s=T0_S + 50.0)
    # Half-open: 20 and 30 and 40 (tracks) plus the alert at 35; not 50.
    assert [round(p.t - T0_S) for p in window] == [20, 30, 35, 40]
    alerts = store.products(kind="alert")
    assert [p.key for p in alerts] == ["alert:A9:2026-11-25T03:00:35.000Z:issued"]
    assert len(store.products(track_id="T1", kind="track")) == 5
    assert len(store.products(node_id="USFK")) == 1
    assert len(store.products(limit=3)) == 3
    # After action: what had been received before T0+30.1 s (receipt 0.1 s after each track).
    known = store.products(node_id="INDOPACOM", received_until_s=T0_S + 30.1)
    assert [round(p.t - T0_S) for p in known] == [0, 10, 20]
    with pytest.raises(StoreError, match="product kind"):
        store.products(kind="radar")
    with pytest.raises(StoreError, match="report kind"):
        store.reports(kind="track")


def test_replay_is_in_time_order_across_pages(store: Any) -> None:
    rng = random.Random(20261125)
    n = 2 * REPLAY_PAGE + 37  # spans three pages of the keyset replay
    # Integer-millisecond times with many ties, so the (time, id) tiebreak is exercised.
    items = [
        report(f"S{rng.randrange(4)}:{i:05d}", T0_S + rng.randrange(600) * 0.5) for i in range(n)
    ]
    rng.shuffle(items)  # arrival order is not time order
    for start in range(0, n, 500):
        assert all(store.put_reports(items[start : start + 500]))

    expected = sorted(items, key=lambda r: (r.t, r.id))
    replayed = list(store.replay())
    assert [r.id for r in replayed] == [r.id for r in expected]
    assert replayed == expected

    since, until = T0_S + 100.0, T0_S + 200.0
    window = list(store.replay(since, until))
    assert [r.id for r in window] == [r.id for r in expected if since <= r.t < until]
    assert window and all(since <= r.t < until for r in window)
    assert list(store.replay(T0_S + 1e6)) == []
    assert list(store.replay(kind="launch")) == []


def test_replay_products_in_time_order(store: Any) -> None:
    rng = random.Random(7)
    entries = [
        (track(f"T{i}", format_time(T0_S + rng.randrange(50))), T0_S + 100.0, None)
        for i in range(120)
    ]
    store.put_products("JJOC", entries)
    replayed = list(store.replay_products(node_id="JJOC"))
    assert [(p.t, p.key) for p in replayed] == sorted((p.t, p.key) for p in replayed)
    assert len(replayed) == 120
    assert sorted(p.product.track_id for p in replayed) == sorted(e[0].track_id for e in entries)
    by_id = {e[0].track_id: e[0] for e in entries}
    assert all(p.product == by_id[p.product.track_id] for p in replayed)
    assert list(store.replay_products(node_id="USFK")) == []


def test_closed_store_refuses(store: Any) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.put_report(report("X", T0_S))
    store.close()  # idempotent


def test_a_copied_report_is_stored_with_its_own_content(store: Any) -> None:
    # A report's payload is dumped once per report object and kept with it (every node of a
    # laptop run stores the same object); a model_copy carries that over and must dump again.
    first = report("JPN-FPS5-1:000007", T0_S + 1.0, range_m=800_000.0)
    store.put_report(first, node_id="JJOC")
    changed = first.model_copy(update={"range_m": 700_000.0})
    store.put_report(changed, node_id="USFK")
    store.put_report(first, node_id="INDOPACOM")
    by_node = {n: store.reports(node_id=n)[0].report for n in ("JJOC", "USFK", "INDOPACOM")}
    assert by_node["JJOC"] == by_node["INDOPACOM"] == first
    assert by_node["USFK"] == changed and by_node["USFK"].range_m == 700_000.0
    assert first.dump_json() == first.model_dump_json() and first == report(
        "JPN-FPS5-1:000007", T0_S + 1.0, range_m=800_000.0
    )
