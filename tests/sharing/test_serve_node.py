"""End of a federated run (``serve_node`` over NATS JetStream, against a real nats-server 2.9):
the steps still within the lag run and what they derive is published, durably, before the node
exits; a plain stop does not finish unless asked to.

The nodes run in-process (``serve_node`` is what ``kizuna node`` runs) with the data clock and
a lag longer than the feed, so that *every* product comes from the end of the run: without
finishing, nothing would be derived at all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from node_support import cheap_pipeline, open_store, read_record, short_feed
from sharing_helpers import RunningServer, nats_server, needs_nats, provision_streams

from kizuna.contract import Marking
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.federation import assign_owners, serve_node
from kizuna.sharing.nats_bus import NatsBus
from kizuna.sharing.node import Node
from kizuna.sharing.policy import decide
from kizuna.timefmt import parse_time

pytestmark = needs_nats

FEED_S = 100.0
LAG_S = 10_000.0  # longer than the feed: no step runs before the end of the run


async def _node(
    agreement: Agreement, server: RunningServer, node_id: str, root: Path, **options: Any
) -> Node:
    holder: list[Node] = []
    bus = await NatsBus.connect(
        agreement,
        node_id,
        server.url,
        **server.creds(node_id),
        observer=lambda event: holder[0].bus_event(event) if holder else None,
    )
    node = Node(
        node_id,
        agreement,
        bus,
        open_store(root / "data", node_id),
        pipeline=cheap_pipeline(),
        record=root / "record" / f"{node_id}.jsonl",
        **{"clock": "data", "lag_s": LAG_S, **options},
    )
    holder.append(node)
    return node


def _feeds(agreement: Agreement, nodes: list[str]) -> tuple[dict[str, list[Any]], float]:
    feed = short_feed(FEED_S)
    owners = assign_owners(agreement, feed)
    mine = {n: [r for _, r in feed if owners[r.sensor.id] == n] for n in nodes}
    return mine, min(r.t for _, r in feed)


def test_after_the_idle_time_the_node_finishes_and_partners_get_its_last_products(
    trilateral: Agreement, tmp_path: Path
) -> None:
    nodes = ["JJOC", "INDOPACOM", "USFK"]

    async def run(server: RunningServer) -> dict[str, Any]:
        await provision_streams(trilateral, server)
        mine, t0 = _feeds(trilateral, nodes)
        assert all(mine[n] for n in ("JJOC", "USFK"))
        running = {n: await _node(trilateral, server, n, tmp_path) for n in nodes}
        finished = await asyncio.gather(
            *(
                serve_node(running[n], feed=mine[n], feed_t0_s=t0, speed=0.0, exit_after_idle_s=1.0)
                for n in nodes
            )
        )
        stats = {n: running[n].stats for n in nodes}
        for node in running.values():
            await node.close()
        return {"finished": finished, "stats": stats}

    with nats_server(trilateral) as server:
        out = asyncio.run(run(server))
    assert out["finished"] == [True, True, True]
    records = {n: read_record(tmp_path / "record" / f"{n}.jsonl") for n in nodes}
    for node_id in nodes:
        stats = out["stats"][node_id]
        assert stats.steps > 0 and stats.produced["track"] > 0, node_id
        own = [
            line
            for line in records[node_id]
            if line["origin_node"] == node_id and line["product"] != "report"
        ]
        assert len(own) == sum(stats.produced.values()), node_id
        # Every partner holds each of these last products it may hold: published durably
        # before the node exited, and taken in while the partner waited out its own idle time.
        for partner in nodes:
            if partner == node_id:
                continue
            held = {
                (line["product"], line.get("track_id"), line.get("alert_id"), line["time"])
                for line in records[partner]
                if line["origin_node"] == node_id
            }
            for line in own:
                allowed = decide(
                    line["product"],
                    Marking.model_validate(line["marking"]),
                    trilateral.node(node_id).nation,
                    partner,
                    trilateral,
                    parse_time(line["time"]),
                ).allowed
                key = (line["product"], line.get("track_id"), line.get("alert_id"), line["time"])
                assert (key in held) == allowed, (node_id, partner, key)
    # The shipped agreement shares tracks among all three nations: the check above bit.
    assert any(line["origin_node"] == "JJOC" for line in records["USFK"])


def test_a_stop_finishes_only_when_asked_and_the_last_products_are_stored_by_the_streams(
    trilateral: Agreement, tmp_path: Path
) -> None:
    async def serve_until_fed(node: Node, feed: list[Any], t0: float, **kwargs: Any) -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve_node(node, feed=feed, feed_t0_s=t0, speed=0.0, stop=stop, **kwargs)
        )
        # Every own report entered (a restarted node finds them all stored: duplicates).
        while node.stats.accepted + node.stats.duplicates < len(feed):
            await asyncio.sleep(0.05)
        stop.set()
        return await task

    async def run(server: RunningServer) -> dict[str, Any]:
        await provision_streams(trilateral, server)
        mine, t0 = _feeds(trilateral, ["ROK-JCS"])
        plain = await _node(trilateral, server, "ROK-JCS", tmp_path / "plain")
        stopped = await serve_until_fed(plain, mine["ROK-JCS"], t0)
        steps_plain = plain.stats.steps
        await plain.close()
        # The same node restarted (its store replays the reports), stopped with the flag.
        again = await _node(trilateral, server, "ROK-JCS", tmp_path / "plain")
        await again.recover()
        finished = await serve_until_fed(again, mine["ROK-JCS"], t0, finish_on_stop=True)
        produced = dict(again.stats.produced)
        await again.close()
        # USFK was never up: its durable consumer holds what ROK-JCS released to it.
        usfk = await NatsBus.connect(trilateral, "USFK", server.url, **server.creds("USFK"))
        kinds: dict[str, int] = {}
        while deliveries := await usfk.receive(512, 0.5):
            for delivery in deliveries:
                if delivery.envelope.origin_node == "ROK-JCS":
                    kinds[delivery.envelope.kind] = kinds.get(delivery.envelope.kind, 0) + 1
                await delivery.ack()
        await usfk.close()
        return {
            "stopped": stopped,
            "steps_plain": steps_plain,
            "finished": finished,
            "produced": produced,
            "kinds": kinds,
            "reports": len(mine["ROK-JCS"]),
        }

    with nats_server(trilateral) as server:
        out = asyncio.run(run(server))
    assert out["stopped"] is False and out["steps_plain"] == 0  # a plain stop derives nothing
    assert out["finished"] is True and out["produced"]["track"] > 0
    assert out["kinds"]["report"] == out["reports"]
    assert out["kinds"]["track"] == out["produced"]["track"]


def test_with_the_sources_clock_a_partner_that_never_comes_is_waited_for_then_dropped(
    trilateral: Agreement, tmp_path: Path
) -> None:
    """USFJ-JFHQ and ROK-JCS never start. The US nodes wait for both (their reports could
    reach them), JJOC for USFJ-JFHQ only (Korean reports never reach Japan), and none of them
    counts the wait as idle; after --partner-timeout each proceeds without the missing ones,
    says so in its audit log, and the run ends."""
    nodes = ["JJOC", "INDOPACOM", "USFK"]

    async def run(server: RunningServer) -> dict[str, Any]:
        await provision_streams(trilateral, server)
        mine, t0 = _feeds(trilateral, nodes)
        audits: dict[str, list[Any]] = {n: [] for n in nodes}
        running = {
            n: await _node(
                trilateral,
                server,
                n,
                tmp_path,
                clock="sources",
                lag_s=3.0,
                partner_timeout_s=2.0,
                audit=audits[n].extend,
            )
            for n in nodes
        }
        end = max(r.t for n in nodes for r in mine[n])
        started = asyncio.get_running_loop().time()
        finished = await asyncio.gather(
            *(
                serve_node(
                    running[n],
                    feed=mine[n],
                    feed_t0_s=t0,
                    feed_end_s=end,
                    speed=0.0,
                    exit_after_idle_s=0.5,
                )
                for n in nodes
            )
        )
        took = asyncio.get_running_loop().time() - started
        stats = {n: running[n].stats for n in nodes}
        for node in running.values():
            await node.close()
        return {"finished": finished, "stats": stats, "audits": audits, "took": took}

    with nats_server(trilateral) as server:
        out = asyncio.run(run(server))
    assert out["finished"] == [True, True, True]
    assert out["took"] >= 2.0  # the partners were waited for, not taken as idle
    dropped = {
        n: sorted(peer for action, _, _, _, peer in out["audits"][n] if action == "proceeded")
        for n in nodes
    }
    assert dropped == {
        "JJOC": ["USFJ-JFHQ"],
        "INDOPACOM": ["ROK-JCS", "USFJ-JFHQ"],
        "USFK": ["ROK-JCS", "USFJ-JFHQ"],
    }
    for node_id in nodes:
        stats = out["stats"][node_id]
        assert stats.partners_dropped == len(dropped[node_id])
        assert stats.steps > 0 and stats.produced["track"] > 0, node_id
