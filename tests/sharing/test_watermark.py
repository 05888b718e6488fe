"""Per-source watermarks (kizuna.sharing.watermark) and the node's sources clock, in process.

The clock is the minimum over the node's own feed and the heartbeats of the partners whose
reports may reach it; a partner silent for the timeout while holding the clock back is dropped.
The node-level tests run real nodes (SQLite stores, the in-process hub, the cheap pipeline)
over the first 100 s of the srbm-salvo feed: USFK (its own TPY-2) and ROK-JCS (Korean radars).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from node_support import cheap_pipeline, open_store, read_record, short_feed

from kizuna.sharing.agreement import Agreement
from kizuna.sharing.bus import InProcessHub
from kizuna.sharing.federation import assign_owners, feed_watermark
from kizuna.sharing.node import Node
from kizuna.sharing.watermark import (
    Heartbeat,
    SourceClock,
    heartbeat_nations,
    report_sources,
)

T = "2026-11-25"
US = ("INDOPACOM", "USFJ-JFHQ", "USFK")


def test_sources_are_the_partners_whose_reports_may_reach_the_node(trilateral: Agreement) -> None:
    # Japan's and Korea's raw reports go to the US only: JJOC and ROK-JCS do not wait for
    # each other, and send their heartbeats to the US alone.
    assert report_sources(trilateral, "JJOC", T) == US
    assert report_sources(trilateral, "ROK-JCS", T) == US
    assert report_sources(trilateral, "USFK", T) == ("INDOPACOM", "JJOC", "ROK-JCS", "USFJ-JFHQ")
    assert heartbeat_nations(trilateral, "ROK-JCS", T) == {"USA"}
    assert heartbeat_nations(trilateral, "USFK", T) == {"USA", "JPN", "KOR"}


def test_a_heartbeat_carries_a_node_id_and_a_time_and_nothing_else() -> None:
    assert Heartbeat(node="JJOC", time=1.5).model_dump() == {"node": "JJOC", "time": 1.5}
    with pytest.raises(ValueError):
        Heartbeat.model_validate_json('{"node":"JJOC","time":1.5,"track":"T1"}')
    with pytest.raises(ValueError):
        Heartbeat.model_validate_json('{"node":"JJOC","time":Infinity}')


def test_the_clock_is_the_minimum_over_the_feed_and_the_live_partners() -> None:
    clock = SourceClock(["A", "B"], timeout_s=5.0)
    clock.feed(100.0)
    assert clock.effective() is None  # A and B not heard yet: wait
    assert clock.holding_back() == ["A", "B"]
    clock.heard("A", 90.0, now_s=0.1)
    clock.heard("B", 120.0, now_s=0.1)
    assert clock.effective() == 90.0 and clock.holding_back() == ["A"]
    # An idle partner (nothing to share) moves the clock by its heartbeat alone.
    clock.heard("A", 110.0, now_s=0.2)
    assert clock.effective() == 100.0 and clock.holding_back() == []
    clock.heard("A", 95.0, now_s=0.3)  # an older heartbeat never moves it back
    assert clock.effective() == 100.0
    clock.feed(130.0)
    assert clock.effective() == 110.0
    # A partner without a feed of its own never holds the clock back.
    clock.heard("A", None, now_s=0.4)
    assert clock.effective() == 120.0
    # A node without a feed of its own runs on its partners' clocks.
    bare = SourceClock(["A"], timeout_s=None)
    bare.feed(None)
    bare.heard("A", 42.0, now_s=0.0)
    assert bare.effective() == 42.0


def test_a_silent_partner_is_dropped_only_while_it_holds_the_clock_back() -> None:
    clock = SourceClock(["A", "B"], timeout_s=5.0)
    clock.feed(100.0)
    clock.heard("A", 100.0, now_s=0.0)
    clock.heard("B", 80.0, now_s=0.0)
    assert clock.expire(4.9) == []
    # A is silent too, but it is not behind: only B is dropped.
    assert clock.expire(5.0) == ["B"]
    assert clock.effective() == 100.0 and clock.holding_back() == []
    assert clock.expire(50.0) == []
    # B's next heartbeat brings it back: the node waits for it again.
    assert clock.heard("B", 85.0, now_s=51.0) == "rejoined"
    assert clock.effective() == 85.0 and clock.holding_back() == ["B"]
    # A partner never heard is timed from the first check (not from the node's construction).
    mute = SourceClock(["A"], timeout_s=5.0)
    mute.feed(10.0)
    assert mute.expire(1000.0) == [] and mute.expire(1004.0) == []
    assert mute.expire(1005.0) == ["A"] and mute.effective() == 10.0
    never = SourceClock(["A"], timeout_s=None)
    never.feed(10.0)
    assert never.expire(1e9) == [] and never.effective() is None
    with pytest.raises(ValueError):
        SourceClock(["A"], timeout_s=0.0)


def test_the_feed_watermark_never_vouches_for_a_report_not_yet_entered() -> None:
    class R:
        def __init__(self, t: float) -> None:
            self.t = t

    reports: Any = [R(100.0), R(101.0), R(105.0)]
    # At 3 s of wall time at 2x, the scenario clock is 106, but report 2 (t=105) was not due
    # when the runner looked: the watermark stays below it.
    assert feed_watermark(reports, 2, 100.0, 0.0, 2.0, 3.0, 105.0) < 105.0
    assert feed_watermark(reports, 2, 100.0, 0.0, 2.0, 1.0, 105.0) == 102.0
    assert feed_watermark(reports, 3, 100.0, 0.0, 2.0, 60.0, 105.0) == 105.0  # capped at end
    assert feed_watermark(reports, 3, 100.0, 0.0, 0.0, 0.0, 105.0) == 105.0  # speed 0: at once
    assert feed_watermark([], 0, 100.0, 0.0, 1.0, 5.0, None) is None  # no feed


def _feeds(agreement: Agreement) -> tuple[dict[str, list[Any]], float]:
    feed = short_feed(100.0)
    owners = assign_owners(agreement, feed)
    mine = {
        n: sorted((r for _, r in feed if owners[r.sensor.id] == n), key=lambda r: (r.t, r.id))
        for n in ("USFK", "ROK-JCS")
    }
    end = max(r.t for n in mine for r in mine[n])
    return mine, end


async def _usfk_products(
    agreement: Agreement, root: Path, *, late_partner: bool, clock: str = "sources"
) -> tuple[list[str], Node]:
    """USFK's own products when ROK-JCS's reports arrive in step (``late_partner`` False) or
    only after USFK's own feed is over (a link cut longer than the whole run)."""
    mine, end = _feeds(agreement)
    hub = InProcessHub(agreement)
    usfk = Node(
        "USFK",
        agreement,
        hub.connect("USFK"),
        open_store(root / "data", "USFK"),
        pipeline=cheap_pipeline(),
        record=root / "USFK.jsonl",
        clock=clock,
        partner_timeout_s=None,
    )
    rok = Node("ROK-JCS", agreement, hub.connect("ROK-JCS"), open_store(root / "data", "ROK-JCS"))
    idle = [hub.connect(n) for n in ("INDOPACOM", "USFJ-JFHQ", "JJOC")]

    entered = [-math.inf]

    async def usfk_to(mark: float) -> None:
        await usfk.accept([r for r in mine["USFK"] if entered[0] < r.t <= mark])
        entered[0] = mark
        await usfk.drain()
        if clock == "sources":
            await usfk.advance(mark)

    async def rok_to(mark: float, done: float) -> None:
        await rok.accept([r for r in mine["ROK-JCS"] if done < r.t <= mark])
        await rok.publish_heartbeat(mark)

    t0 = min(r.t for n in mine for r in mine[n])
    if late_partner:
        await usfk_to(end)
        if clock == "sources":
            assert usfk.stats.steps == 0  # nobody heard yet: it waits
            for bus in idle:  # the partners with nothing to share still move the clock
                await bus.publish_heartbeat(end, end)
            await usfk_to(end)
            assert usfk.stats.steps == 0 and usfk.waiting_for == ["ROK-JCS"]
        await rok_to(end, -math.inf)
        await usfk_to(end)
    else:
        mark, done = t0, -math.inf
        while done < end:
            mark = min(mark + 0.5, end)
            await rok_to(mark, done)
            for bus in idle:
                await bus.publish_heartbeat(mark, mark)
            await usfk_to(mark)
            done = mark
    assert usfk.waiting_for == []
    await usfk.close()
    await rok.close()
    lines = read_record(root / "USFK.jsonl")
    return sorted(
        repr(sorted(line.items()))
        for line in lines
        if line["origin_node"] == "USFK" and line["product"] != "report"
    ), usfk


async def test_a_node_fed_by_its_own_radars_waits_for_a_late_partner(
    trilateral: Agreement, tmp_path: Path
) -> None:
    """USFK's own TPY-2 feed runs to the end while ROK-JCS's reports are held back: with the
    sources clock USFK derives exactly what it derives when they arrive in step; with the data
    clock (what a node did before) it runs ahead and the Korean reports come too late."""
    in_step, node = await _usfk_products(trilateral, tmp_path / "a", late_partner=False)
    assert node.stats.steps > 30 and node.stats.late == 0
    assert node.stats.received["report"] > 50  # the Korean radars' reports were fused
    assert any("'track'" in line for line in in_step)
    late, node = await _usfk_products(trilateral, tmp_path / "b", late_partner=True)
    assert node.stats.late == 0
    assert late == in_step
    ahead, node = await _usfk_products(trilateral, tmp_path / "c", late_partner=True, clock="data")
    assert ahead != in_step


async def _usfk_fed_to_the_end(
    agreement: Agreement, root: Path, timeout_s: float
) -> tuple[Node, InProcessHub, list[Any], float]:
    """USFK (sources clock, partner timeout ``timeout_s``) with its whole own feed entered and
    every partner but ROK-JCS heard at the end of it: it waits for ROK-JCS alone."""
    mine, end = _feeds(agreement)
    hub = InProcessHub(agreement)
    audit: list[Any] = []
    usfk = Node(
        "USFK",
        agreement,
        hub.connect("USFK"),
        open_store(root, "USFK"),
        pipeline=cheap_pipeline(),
        audit=audit.extend,
        clock="sources",
        partner_timeout_s=timeout_s,
    )
    for partner in ("INDOPACOM", "USFJ-JFHQ", "JJOC"):
        await hub.connect(partner).publish_heartbeat(end, end)
    await usfk.accept(mine["USFK"])
    await usfk.drain()
    return usfk, hub, audit, end


async def test_a_partner_silent_past_the_timeout_is_dropped_logged_and_audited(
    trilateral: Agreement, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    usfk, hub, audit, end = await _usfk_fed_to_the_end(trilateral, tmp_path, 0.2)
    await usfk.advance(end)
    assert usfk.stats.steps == 0 and usfk.waiting_for == ["ROK-JCS"]
    await asyncio.sleep(0.25)
    await usfk.advance(end)
    assert usfk.stats.steps > 30 and usfk.stats.partners_dropped == 1
    assert [a for a in audit if a[0] == "proceeded"] == [
        ("proceeded", "heartbeat", "heartbeat:ROK-JCS:start", None, "ROK-JCS")
    ]
    assert "no heartbeat from ROK-JCS" in caplog.text and "proceeding without it" in caplog.text
    # ROK-JCS comes back: its heartbeat makes it a source again (its reports are now late).
    await hub.connect("ROK-JCS").publish_heartbeat(end - 50.0, end)
    await usfk.drain()
    await usfk.advance(end)
    assert [a[0] for a in audit if a[2].startswith("heartbeat:")] == ["proceeded", "rejoined"]
    assert usfk.waiting_for == ["ROK-JCS"]
    await usfk.close()


def test_kizuna_node_refuses_a_partner_timeout_that_is_not_positive(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kizuna.interfaces.cli.main import main

    assert main(["node", "--id", "JJOC", "--partner-timeout", "0"]) == 2
    assert "--partner-timeout" in capsys.readouterr().err


def test_a_partner_whose_clock_stands_still_is_dropped_while_it_holds_the_clock_back() -> None:
    """A partner that keeps sending heartbeats with a clock that does not move would hold the
    node back for ever: after ``timeout_s`` of holding it back without moving, it is dropped
    as a silent one is, and it rejoins only once its clock moves past where it stood."""
    clock = SourceClock(["A", "B"], timeout_s=5.0)
    clock.feed(100.0)
    clock.heard("A", 100.0, now_s=0.0)
    clock.heard("B", 80.0, now_s=0.0)
    assert clock.expire(0.0) == []
    for now in (1.0, 2.0, 3.0, 4.0, 4.9):
        clock.heard("A", 100.0, now_s=now)  # A stands still too, but does not hold back
        clock.heard("B", 80.0, now_s=now)
        assert clock.expire(now) == []
    clock.heard("B", 80.0, now_s=5.0)
    assert clock.expire(5.0) == ["B"] and clock.effective() == 100.0
    assert clock.partners["B"].why == "stalled"
    assert clock.heard("B", 80.0, now_s=6.0) is None  # the same clock again: still dropped
    assert clock.effective() == 100.0
    assert clock.heard("B", 81.0, now_s=7.0) == "rejoined"
    assert clock.holding_back() == ["B"] and clock.expire(11.9) == []
    # A partner that moves, however slowly, is never dropped for standing still.
    for k in range(1, 20):
        clock.heard("B", 81.0 + k * 0.1, now_s=7.0 + k)
        assert clock.expire(7.0 + k) == []
    # The timer runs only while it holds the clock back: behind now, it has a full timeout.
    slow = SourceClock(["B"], timeout_s=5.0)
    slow.feed(50.0)
    slow.heard("B", 80.0, now_s=0.0)
    assert slow.expire(0.0) == [] and slow.expire(100.0) == []
    slow.feed(100.0)
    slow.heard("B", 80.0, now_s=100.0)
    assert slow.expire(100.0) == [] and slow.expire(104.0) == []
    slow.heard("B", 80.0, now_s=105.0)
    assert slow.expire(105.0) == ["B"]
    # A heartbeat the bus holds back (-inf: alive, its clock not yet applicable, see
    # kizuna.sharing.nats_bus) restarts the timer: the wait is for this node's own redeliveries.
    held = SourceClock(["B"], timeout_s=5.0)
    held.feed(100.0)
    held.heard("B", 80.0, now_s=0.0)
    assert held.expire(0.0) == [] and held.expire(4.0) == []
    held.heard("B", -math.inf, now_s=4.5)
    assert held.expire(8.0) == [] and held.expire(9.4) == [] and held.expire(9.5) == ["B"]


async def test_a_partner_stuck_at_one_clock_is_dropped_logged_and_audited(
    trilateral: Agreement, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    usfk, hub, audit, end = await _usfk_fed_to_the_end(trilateral, tmp_path, 1.0)
    rok = hub.connect("ROK-JCS")
    stuck = end - 90.0
    for _ in range(4):  # heartbeats keep coming, the clock in them does not move
        await rok.publish_heartbeat(stuck, end)
        await usfk.drain()
        await usfk.advance(end)
        assert usfk.waiting_for == ["ROK-JCS"]
        await asyncio.sleep(0.15)
    await asyncio.sleep(0.5)  # 1.1 s after its first heartbeat
    await rok.publish_heartbeat(stuck, end)
    await usfk.drain()
    await usfk.advance(end)
    assert usfk.waiting_for == [] and usfk.stats.partners_dropped == 1
    [entry] = [a for a in audit if a[0] == "proceeded"]
    assert entry[3:] == (None, "ROK-JCS")
    assert "clock of ROK-JCS has not moved" in caplog.text
    await usfk.close()
