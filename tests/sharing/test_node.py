"""The node runtime (kizuna.sharing.node) in laptop mode, over a short real feed.

Every test runs real nodes: SQLite stores (WAL, fsync), the in-process hub, the record files
and the pipeline (tracker, predictor with cheap settings, alert engine) over the first seconds
of the shipped ``srbm-salvo`` scenario (see node_support).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from node_support import canonical, laptop, open_store, read_record, record_keys
from node_support import short_feed as _short_feed

from kizuna.contract import Marking
from kizuna.errors import PolicyError
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.bus import BusEvent, Delivery, InProcessHub
from kizuna.sharing.envelope import Envelope
from kizuna.sharing.federation import assign_owners, close_laptop, drive, restart_node
from kizuna.sharing.node import Node
from kizuna.sharing.policy import decide
from kizuna.store import SQLiteStore
from kizuna.timefmt import parse_time

FEED_S = 100.0  # first 100 s of deliveries: ~115 reports of all three nations


def short_feed(nations: Any = None) -> list[Any]:
    return _short_feed(FEED_S, nations)


def own_batch(agreement: Agreement, node_id: str, n: int) -> list[Any]:
    """The first ``n`` feed reports of sensors that ``node_id`` owns."""
    feed = short_feed()
    owners = assign_owners(agreement, feed)
    return [r for _, r in feed if owners[r.sensor.id] == node_id][:n]


def stored_ids(path: Path, node_id: str) -> set[str]:
    """Report ids in a node's store, read through a connection of its own (what a restarted
    process would see)."""
    with SQLiteStore(path) as store:
        return {row.report.id for row in store.reports(node_id=node_id)}


async def test_accept_is_durable_before_it_is_published_and_returns(
    trilateral: Agreement, tmp_path: Path
) -> None:
    batch = own_batch(trilateral, "ROK-JCS", 12)
    db = tmp_path / "ROK-JCS.sqlite"
    seen_at_publish: list[set[str]] = []
    hub = InProcessHub(trilateral)
    bus = hub.connect("ROK-JCS")
    publish = bus.publish

    async def spying_publish(envelope: Envelope) -> Any:
        # Another connection to the file, as a process started after a crash would open it.
        seen_at_publish.append(stored_ids(db, "ROK-JCS"))
        return await publish(envelope)

    bus.publish = spying_publish  # type: ignore[method-assign]
    node = Node("ROK-JCS", trilateral, bus, open_store(tmp_path, "ROK-JCS"))
    added = await node.accept(batch)
    assert added == [True] * len(batch)
    # Durable when accept returned ...
    assert stored_ids(db, "ROK-JCS") == {r.id for r in batch}
    # ... and already before the first copy left the node.
    assert len(seen_at_publish) == len(batch)
    assert all(ids == {r.id for r in batch} for ids in seen_at_publish)
    await node.close()


async def test_a_duplicate_replay_changes_nothing(trilateral: Agreement, tmp_path: Path) -> None:
    batch = own_batch(trilateral, "JJOC", 10)
    events: list[BusEvent] = []
    hub = InProcessHub(trilateral, observer=events.append)
    record = tmp_path / "record" / "JJOC.jsonl"
    node = Node(
        "JJOC", trilateral, hub.connect("JJOC"), open_store(tmp_path, "JJOC"), record=record
    )
    partner = Node(
        "USFJ-JFHQ",
        trilateral,
        hub.connect("USFJ-JFHQ"),
        open_store(tmp_path, "USFJ-JFHQ"),
        record=tmp_path / "record" / "USFJ-JFHQ.jsonl",
    )
    assert await node.accept(batch) == [True] * len(batch)
    await partner.drain()

    def snapshot() -> tuple[Any, ...]:
        return (
            stored_ids(tmp_path / "JJOC.sqlite", "JJOC"),
            stored_ids(tmp_path / "USFJ-JFHQ.sqlite", "USFJ-JFHQ"),
            record.read_bytes(),
            (tmp_path / "record" / "USFJ-JFHQ.jsonl").read_bytes(),
            node.stats.accepted,
            partner.stats.received["report"],
            len([e for e in events if e.kind == "released"]),
        )

    before = snapshot()
    n_events = len(events)
    assert len(before[0]) == len(batch)
    assert len(before[1]) == len(batch)  # Japan's reports are released to the US

    # The same reports again, in another order: all reported as duplicates, nothing moves.
    assert await node.accept(list(reversed(batch))) == [False] * len(batch)
    await partner.drain()
    assert node.stats.duplicates == len(batch)
    # A redelivery to the partner (what a consumer does after a lost ack) is dropped too.
    envelope = Envelope.of(batch[0], origin_node="JJOC", agreement=trilateral)
    decision = decide("report", envelope.marking, "JPN", "USFJ-JFHQ", trilateral, envelope.time)
    await partner.take([Delivery(envelope, decision, ("JJOC", "USFJ-JFHQ"))])
    assert snapshot() == before
    # A duplicate is not even offered to the bus: not published again, no event at all.
    assert len(events) == n_events
    await node.close()
    await partner.close()


async def test_a_node_refuses_reports_of_a_sensor_it_does_not_own(
    trilateral: Agreement, tmp_path: Path
) -> None:
    korean = own_batch(trilateral, "ROK-JCS", 3)
    japanese = own_batch(trilateral, "JJOC", 3)
    events: list[BusEvent] = []
    hub = InProcessHub(trilateral, observer=events.append)
    node = Node("JJOC", trilateral, hub.connect("JJOC"), open_store(tmp_path, "JJOC"))
    with pytest.raises(PolicyError, match="does not own sensor KOR-"):
        await node.accept(korean)
    # A batch with one foreign report is refused whole: nothing of it stored or sent.
    with pytest.raises(PolicyError):
        await node.accept([*japanese, korean[0]])
    assert stored_ids(tmp_path / "JJOC.sqlite", "JJOC") == set()
    assert events == []
    assert node.stats.accepted == 0
    # The same node takes its own sensors' reports.
    assert await node.accept(japanese) == [True] * 3
    await node.close()


async def test_jjoc_sees_a_korean_only_launch_through_indopacom_as_tracks_never_as_reports(
    trilateral: Agreement, tmp_path: Path
) -> None:
    """Issue 5: a launch seen only by Korean radars reaches JJOC as tracks and predictions
    derived by US and Korean nodes, routed through INDOPACOM, and never as Korean reports."""
    feed = short_feed(nations={"KOR"})
    assert {r.sensor.nation for _, r in feed} == {"KOR"}
    assert any(r.kind == "radar" for _, r in feed)
    paths: dict[str, list[tuple[str, ...]]] = {}

    def probe(envelope: Envelope, _at: float, path: tuple[str, ...]) -> None:
        paths.setdefault(path[-1], []).append(path)
        assert not (path[-1] == "JJOC" and envelope.kind == "report"), envelope.id

    run = laptop(trilateral, tmp_path, on_received=probe)
    await drive(run, feed)
    await close_laptop(run)

    jjoc = read_record(tmp_path / "record" / "JJOC.jsonl")
    kinds = Counter(line["product"] for line in jjoc)
    assert kinds["report"] == 0
    assert kinds["track"] > 0 and kinds["prediction"] > 0
    # JJOC holds no Korean report, so it derives nothing itself: all it has came from partners.
    assert {line["origin_node"] for line in jjoc} <= {"USFK", "INDOPACOM", "USFJ-JFHQ", "ROK-JCS"}
    assert "ROK-JCS" in {line["origin_node"] for line in jjoc}
    for line in jjoc:
        if line["product"] in ("track", "prediction"):
            rule = line["marking"]["released_by"]
            assert rule in ("USA-PICTURE", "KOR-PICTURE"), line
            assert "JPN" in line["marking"]["releasable_to"]
        if line["product"] == "track":
            # Tracks built from Korean radars only.
            assert all(s.startswith("KOR-") for s in line["sensors"]), line
    # Everything JJOC knows crossed INDOPACOM (Japan and Korea are not linked): the products
    # of USFK, ROK-JCS and INDOPACOM on their way to JJOC, and USFJ-JFHQ's (its neighbour)
    # were derived from Korean reports that had crossed INDOPACOM to reach USFJ-JFHQ.
    assert paths["JJOC"]
    for path in paths["JJOC"]:
        assert "INDOPACOM" in path or path == ("USFJ-JFHQ", "JJOC"), path
    assert paths["USFJ-JFHQ"]
    assert all("INDOPACOM" in path for path in paths["USFJ-JFHQ"] if path[0] == "ROK-JCS")
    assert any(path[0] == "ROK-JCS" for path in paths["JJOC"])
    # The US did get the raw reports (bilateral release), JJOC's refusal was not a blackout.
    usfk = Counter(line["product"] for line in read_record(tmp_path / "record" / "USFK.jsonl"))
    assert usfk["report"] == len(feed)


async def test_every_record_line_passes_the_policy_and_each_product_is_recorded_once(
    trilateral: Agreement, tmp_path: Path
) -> None:
    feed = short_feed()
    run = laptop(trilateral, tmp_path)
    await drive(run, feed)
    await close_laptop(run)
    nation_of = {n: trilateral.node(n).nation for n in trilateral.node_ids}
    report_nations: dict[str, set[str]] = {}
    for node_id in trilateral.node_ids:
        lines = read_record(tmp_path / "record" / f"{node_id}.jsonl")
        assert lines, node_id
        keys = record_keys(lines)
        assert len(keys) == len(set(keys)), f"{node_id}: a product recorded twice"
        for line in lines:
            kind = line["product"]
            originator = (
                line["sensor"]["nation"] if kind == "report" else nation_of[line["origin_node"]]
            )
            decision = decide(
                kind,
                Marking.model_validate(line["marking"]),
                originator,
                node_id,
                trilateral,
                parse_time(line["time"]),
            )
            assert decision.allowed, (node_id, line["product"], decision.reason)
        report_nations[node_id] = {
            line["sensor"]["nation"] for line in lines if line["product"] == "report"
        }
    # Raw reports stay bilateral with the US.
    assert report_nations["JJOC"] == {"JPN", "USA"}
    assert report_nations["ROK-JCS"] == {"KOR", "USA"}
    for us in ("INDOPACOM", "USFJ-JFHQ", "USFK"):
        assert report_nations[us] == {"JPN", "KOR", "USA"}


async def test_recover_after_a_crash_gives_the_fault_free_record(
    trilateral: Agreement, tmp_path: Path
) -> None:
    feed = short_feed()
    clean = laptop(trilateral, tmp_path / "clean")
    await drive(clean, feed)
    await close_laptop(clean)

    crash_at = {feed[0][0] + 50.0: "USFK", feed[0][0] + 70.0: "JJOC"}
    replayed: dict[str, int] = {}
    faulty = laptop(trilateral, tmp_path / "faulty")

    async def crash(tick: float) -> None:
        for when, node_id in list(crash_at.items()):
            if tick >= when:
                del crash_at[when]
                record = tmp_path / "faulty" / "record" / f"{node_id}.jsonl"
                node = faulty.nodes[node_id]
                assert node.recorder is not None
                node.recorder.close()
                # The process died while writing a line: a torn tail the restart must cut.
                with record.open("a") as handle:
                    handle.write('{"id":"torn')
                fresh = await restart_node(faulty, node_id)
                replayed[node_id] = fresh.stats.steps

    await drive(faulty, feed, on_tick=crash)
    await close_laptop(faulty)
    assert not crash_at and set(replayed) == {"USFK", "JJOC"}
    assert all(steps > 0 for steps in replayed.values())  # the restart re-ran the pipeline

    for node_id in trilateral.node_ids:
        want = read_record(tmp_path / "clean" / "record" / f"{node_id}.jsonl")
        got = read_record(tmp_path / "faulty" / "record" / f"{node_id}.jsonl")
        keys = record_keys(got)
        assert len(keys) == len(set(keys)), f"{node_id}: a product recorded twice"
        assert canonical(got) == canonical(want), node_id
    # The restarted nodes derived products again and the hub dropped them as duplicates.
    usfk = read_record(tmp_path / "faulty" / "record" / "USFK.jsonl")
    assert any(line["product"] == "track" and line["origin_node"] == "USFK" for line in usfk)
