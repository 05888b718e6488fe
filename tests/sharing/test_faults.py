"""Faults on loopback with real processes: ``kizuna node`` x 5 over our own nats-server.

Each test replays the same 60 s of the srbm-salvo feed (191 reports of three nations) at 6x
through the five nodes of the trilateral agreement, injects one fault, and checks that every
node's record equals the fault-free run's: nothing lost, nothing duplicated.

The faults hit INDOPACOM or the server. Why INDOPACOM for the node faults: a node's clock is
its data (a step runs once a report --lag newer has arrived), and INDOPACOM's only own sensor
(SBIRS) reports at launch, so its clock is driven by what partners send it, in stream order;
after an outage it catches up over the same sequence and derives the same products. A node
fed by its own radars during a long outage would run ahead of its partners and keep their
delayed reports out of its tracks (they are kept and recorded, but late): its records would
then differ from a fault-free run's, by design of the data clock (see the report).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from federation_support import Federation, assert_same_records, write_feed
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
    time.sleep(2.0)  # what it had fetched before the cut is taken in
    held = len(federation.records()["INDOPACOM"])
    others = len(federation.records()["USFK"])
    time.sleep(28.0)
    # Nothing reached INDOPACOM while its link was down; its partners went on.
    assert len(federation.records()["INDOPACOM"]) == held
    assert len(federation.records()["USFK"]) > others
    proxy.restore()
    federation.wait()
    assert_same_records(federation.records(), reference)


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
