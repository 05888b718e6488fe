"""Faults on loopback with real processes: ``kizuna node`` x 5 over our own nats-server.

Each test replays the same 115 s of the srbm-salvo feed (706 reports of three nations, to the
first missile's burnout and its impact notice) at 6x through the five nodes of the trilateral
agreement, injects one fault, and checks that every node's record equals the fault-free
run's: nothing lost, nothing duplicated. (The first 60 s held alerts only while the tracker
took the boost of a missile for a coast.)

The faults hit INDOPACOM, USFK or the server. A node's clock is the slowest of its sources
(kizuna.sharing.watermark): its own feed and the heartbeats of every partner whose reports may
reach it, so through an outage it waits, and its partners wait for it, and after it everyone
runs the same steps over the same reports. INDOPACOM's only own sensor (SBIRS) reports at
launch; USFK is fed by its own TPY-2 radar all through its cut, which is the case a clock
driven by the node's own data got wrong (it ran ahead and its partners' delayed reports came
too late to be fused). Every node is started with a --partner-timeout longer than any outage
here: a partner silent for longer is dropped and the run is then not equal to a fault-free one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from federation_support import SPEED, Federation, assert_same_records, running, write_feed
from node_support import canonical, record_keys
from sharing_helpers import needs_nats

from kizuna.sharing.agreement import Agreement

pytestmark = needs_nats


@pytest.fixture(scope="module")
def feed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("feed") / "reports.jsonl"
    assert write_feed(path) > 150
    return path


@pytest.fixture(scope="module")
def reference(
    trilateral: Agreement, feed_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """The fault-free run's records."""
    fed = Federation(trilateral, tmp_path_factory.mktemp("clean"), feed_file)
    try:
        fed.start_all()
        fed.wait()
    finally:
        fed.close()
    records = fed.records()
    # A meaningful reference: every node holds reports and partner products.
    for node_id, lines in records.items():
        kinds = {line["product"] for line in lines}
        assert {"report", "track", "prediction"} <= kinds, node_id
    return records


@pytest.fixture
def federation(trilateral: Agreement, feed_file: Path, tmp_path: Path) -> Iterator[Federation]:
    fed = Federation(trilateral, tmp_path / "run", feed_file)
    yield fed
    fed.close()


def own_products(lines: list[dict[str, Any]], node_id: str) -> list[str]:
    """What ``node_id`` derived itself, without its name (to compare two nodes' pictures)."""
    return canonical(
        [
            {**line, "origin_node": "SELF"}
            for line in lines
            if line["origin_node"] == node_id and line["product"] != "report"
        ]
    )


def test_the_harness_tells_a_computing_process_from_an_idle_one() -> None:
    """What ``Federation.wait`` counts on: a process computing is seen running
    (or waiting for a CPU) at nearly every poll, one waiting for input almost never."""
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen(
        [sys.executable, "-c", "import time; print(flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert idle.stdout is not None
        idle.stdout.readline()  # past its start-up (which computes), about to sleep
        seen = {"spin": 0, "idle": 0}
        for _ in range(20):
            seen["spin"] += running(spin.pid)
            seen["idle"] += running(idle.pid)
            time.sleep(0.02)
        assert seen["spin"] >= 15 and seen["idle"] <= 5, seen
    finally:
        for process in (spin, idle):
            process.kill()
            process.wait()
        if idle.stdout is not None:
            idle.stdout.close()
    assert not running(spin.pid)  # gone


def test_kill_9_a_node_and_restart_it_fast(federation: Federation) -> None:
    """The default-run variant (one run, no reference run): the three US nodes receive the
    same reports (everything Japan and Korea release to the US, and each other's), so the
    restarted INDOPACOM must end with exactly the picture USFK derived without a fault, and
    every node must hold INDOPACOM's products once each, as many as USFK's."""
    federation.start_all()
    federation.wait_for_lines("INDOPACOM", 150)
    federation.kill("INDOPACOM")
    time.sleep(1.0)
    federation.spawn("INDOPACOM")
    federation.wait()
    records = federation.records()
    indopacom = own_products(records["INDOPACOM"], "INDOPACOM")
    assert {json.loads(line)["product"] for line in indopacom} == {"track", "prediction", "alert"}
    assert indopacom == own_products(records["USFK"], "USFK")
    reports = {line["id"] for line in records["USFK"] if line["product"] == "report"}
    assert reports
    for node_id, lines in records.items():
        keys = record_keys(lines)
        assert len(keys) == len(set(keys)), f"{node_id}: a product recorded twice"
        if node_id not in ("INDOPACOM", "USFK"):
            assert own_products(lines, "INDOPACOM") == own_products(lines, "USFK"), node_id
    assert {line["id"] for line in records["INDOPACOM"] if line["product"] == "report"} == reports


@pytest.mark.slow
def test_kill_9_a_node_mid_scenario_and_restart_it(
    federation: Federation, reference: dict[str, list[dict[str, Any]]]
) -> None:
    federation.start_all()
    federation.wait_for_lines("INDOPACOM", 150)  # of ~700 in the end
    federation.kill("INDOPACOM")
    time.sleep(2.0)
    federation.spawn("INDOPACOM")
    federation.wait()
    assert federation.starts["INDOPACOM"] == 2
    assert_same_records(federation.records(), reference)


@pytest.mark.slow
def test_cut_the_link_between_a_node_and_the_federation_for_30_s(
    federation: Federation, reference: dict[str, list[dict[str, Any]]]
) -> None:
    proxy = federation.proxy("INDOPACOM")
    federation.start_all()
    federation.wait_for_lines("INDOPACOM", 100)
    proxy.cut()
    cut_at = time.time()
    others = len(federation.records()["USFK"])
    time.sleep(30.0)
    # Nothing sent after the cut reached INDOPACOM while its link was down (what it had
    # fetched before may still be recorded meanwhile); its partners went on.
    assert federation.last_partner_report_due("INDOPACOM") < cut_at
    assert len(federation.records()["USFK"]) > others
    proxy.restore()
    federation.wait()
    assert_same_records(federation.records(), reference)


@pytest.mark.slow
def test_cut_a_node_fed_by_its_own_radars_for_30_s(
    federation: Federation, reference: dict[str, list[dict[str, Any]]]
) -> None:
    """USFK's link goes down 40 s of data into the run, before its TPY-2 tracks the salvo,
    and stays down for 30 s of wall time (the rest of the feed): USFK keeps accepting its own
    radar's reports and waits for its partners' heartbeats, its partners wait for its own."""

    def own() -> int:
        lines = federation.records()["USFK"]
        return sum(line.get("sensor", {}).get("id") == "USA-TPY2-SEONGJU" for line in lines)

    proxy = federation.proxy("USFK")
    federation.start_all()
    while time.time() < federation.start_at + 40.0 / SPEED:
        time.sleep(0.05)
    own_before = own()
    proxy.cut()
    cut_at = time.time()
    time.sleep(30.0)
    own_after = own()
    # Fed by its own radar through the cut; nothing its partners sent since reached it.
    assert own_after - own_before >= 40, (own_before, own_after)
    assert federation.last_partner_report_due("USFK") < cut_at
    proxy.restore()
    federation.wait()
    assert_same_records(federation.records(), reference)
    # No node stopped waiting for a partner (it would have said so in its audit log).
    for node_id in federation.agreement.node_ids:
        audit = (federation.root / "data" / f"{node_id}.audit.jsonl").read_text()
        assert '"action":"proceeded"' not in audit, node_id


@pytest.mark.slow
def test_stop_and_restart_the_nats_server(
    federation: Federation, reference: dict[str, list[dict[str, Any]]]
) -> None:
    federation.start_all()
    federation.wait_for_lines("INDOPACOM", 200)
    federation.server.stop()
    time.sleep(0.5)
    federation.server.start()
    federation.wait()
    assert_same_records(federation.records(), reference)
