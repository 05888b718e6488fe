"""Against a real nats-server (2.9.x) started with the generated config: the server enforces the
agreement (permission violations, nothing crosses accounts unless released), the allowed flow
works, JetStream de-duplicates by message id, and a durable consumer resumes after a restart."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import stat
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nats
import pytest
from node_support import cheap_pipeline, open_store
from sharing_helpers import (
    NATS_SERVER,
    T_2026,
    nats_server,
    needs_nats,
    provision_streams,
    report,
    track,
)

from kizuna.interfaces.cli.main import main
from kizuna.sharing import Envelope, nats_bus, remark
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.nats_bus import NatsBus, msg_id
from kizuna.sharing.natsconfig import generate_nats_config, node_permissions
from kizuna.sharing.node import Node
from kizuna.sharing.subjects import STREAM, consumer_filter, product_subject

pytestmark = needs_nats


async def _collect(bus: NatsBus, timeout_s: float = 0.3) -> list[Envelope]:
    out: list[Envelope] = []
    while True:
        deliveries = await bus.receive(100, timeout_s)
        if not deliveries:
            return out
        for delivery in deliveries:
            await delivery.ack()
            out.append(delivery.envelope)


@pytest.mark.parametrize("name", ["trilateral", "quadrilateral"])
def test_generated_config_is_accepted_by_nats_server_29(tmp_path: Path, name: str) -> None:
    from kizuna.sharing.agreement import load_agreement

    config = generate_nats_config(
        load_agreement(name), at_time=T_2026, port=14999, store_dir=tmp_path / "js"
    )
    path = tmp_path / "server.conf"
    path.write_text(config.text)
    checked = subprocess.run(
        [NATS_SERVER, "-c", str(path), "-t"], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # No 2.10+ consumer or stream settings: 2.9 would drop them silently.
    for newer in ("filter_subjects", "subject_transform", "metadata", "compression"):
        assert newer not in config.text


def test_permissions_mirror_the_release_rules(trilateral: Agreement) -> None:
    publish, subscribe = node_permissions(trilateral, "JJOC", T_2026)
    assert product_subject("JPN", "USA", "report", "JJOC") in publish
    assert product_subject("JPN", "KOR", "report", "JJOC") not in publish  # no JPN->KOR reports
    assert product_subject("JPN", "KOR", "track", "JJOC") in publish
    assert not any(".KOR." in s and s.startswith("kz.KOR") for s in publish)  # no forging
    assert subscribe == [consumer_filter("JPN"), "_INBOX_JJOC.>"]


def test_server_exports_follow_routes_not_only_rules() -> None:
    """If Japan released tracks to Korea but not to the US, the only path (through US nodes)
    is closed, so the server must not export Japan's tracks to Korea either."""
    import yaml

    from kizuna.sharing.agreement import shipped_agreements
    from kizuna.sharing.natsconfig import release_table

    data = yaml.safe_load(shipped_agreements()["trilateral"].read_text())
    next(r for r in data["release"] if r["id"] == "JPN-PICTURE")["to"] = ["KOR"]
    variant = Agreement.from_dict(data, source="variant.yaml")
    table = release_table(variant, T_2026)
    assert "track" not in table.get(("JPN", "KOR"), [])
    assert "alert" in table[("JPN", "KOR")]  # alerts still go to all, through the US
    text = generate_nats_config(variant, at_time=T_2026).text
    assert '"kz.JPN.KOR.track.>"' not in text and '"kz.JPN.KOR.alert.>"' in text


async def test_server_refuses_a_partner_reading_what_it_may_not(trilateral: Agreement) -> None:
    with nats_server(trilateral) as server:
        rok = await NatsBus.connect(trilateral, "ROK-JCS", server.url, **server.creds("ROK-JCS"))
        usfk = await NatsBus.connect(trilateral, "USFK", server.url, **server.creds("USFK"))
        jjoc = await NatsBus.connect(trilateral, "JJOC", server.url, **server.creds("JJOC"))
        # A Japanese client tries to read Korea's raw reports released to the US.
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        spy = await nats.connect(server.url, **server.creds("JJOC"), error_cb=on_error)
        spied: list[bytes] = []

        async def keep(msg: nats.aio.msg.Msg) -> None:
            spied.append(msg.data)

        await spy.subscribe("kz.KOR.USA.report.>", cb=keep)
        await spy.subscribe("kz.>", cb=keep)
        await spy.flush()

        korean = Envelope.of(
            report("KOR-R1:1", "KOR", ["KOR", "USA"]), origin_node="ROK-JCS", agreement=trilateral
        )
        routing = await rok.publish(korean)
        assert routing.reached == {"USFK", "INDOPACOM", "USFJ-JFHQ"}
        [received] = await _collect(usfk)
        assert received == korean  # the allowed flow works
        assert await _collect(jjoc) == []
        await asyncio.sleep(0.2)
        assert spied == []
        assert any("permissions violation for subscription" in e for e in errors), errors
        log = server.log_text()
        assert 'Subscription Violation - User "JJOC", Subject "kz.KOR.USA.report.>"' in log
        assert 'Subscription Violation - User "JJOC", Subject "kz.>"' in log

        # The same launch reaches JJOC as a US track through the server, under its rule.
        marking = remark("track", korean.marking, "USA", trilateral, T_2026)
        us_track = Envelope.of(
            track("USFK-T1", marking.model_dump(mode="json")),
            origin_node="USFK",
            agreement=trilateral,
        )
        await usfk.publish(us_track)
        [at_jjoc] = await _collect(jjoc)
        assert at_jjoc.kind == "track" and at_jjoc.marking.released_by == "USA-PICTURE"
        assert not (rok.errors or usfk.errors or jjoc.errors or jjoc.dropped)
        await spy.close()
        for bus in (rok, usfk, jjoc):
            await bus.close()


async def test_server_refuses_a_rogue_publisher(trilateral: Agreement) -> None:
    """A buggy or hostile JJOC client publishes what Japan does not release, or as Korea:
    the server rejects the publication and nothing reaches Korea."""
    with nats_server(trilateral) as server:
        rok = await NatsBus.connect(trilateral, "ROK-JCS", server.url, **server.creds("ROK-JCS"))
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        rogue = await nats.connect(server.url, **server.creds("JJOC"), error_cb=on_error)
        envelope = Envelope.of(
            report("JPN-FPS5:7", "JPN", ["JPN", "USA", "KOR"]),
            origin_node="JJOC",
            agreement=trilateral,
        )
        for subject in (
            product_subject("JPN", "KOR", "report", "JJOC"),  # no JPN->KOR report rule
            product_subject("KOR", "KOR", "report", "ROK-JCS"),  # forged originator and node
            product_subject("JPN", "KOR", "track", "USFJ-JFHQ"),  # another node's name
        ):
            await rogue.publish(subject, envelope.to_bytes())
        # Even through JetStream's API with a stream that would capture everything, the
        # rogue cannot reach Korea's account: its stream lives in Japan's account.
        with pytest.raises(nats.errors.Error):
            await rogue.jetstream(timeout=0.5).add_stream(name="ROGUE", subjects=["kz.KOR.>"])
        await rogue.flush()
        await asyncio.sleep(0.3)
        assert sum("permissions violation for publish" in e for e in errors) >= 4, errors
        assert any("$js.api.stream.create.rogue" in e.lower() for e in errors), errors
        assert await _collect(rok) == []
        await rogue.close()
        await rok.close()


async def test_receiver_drops_a_product_whose_marking_excludes_it(trilateral: Agreement) -> None:
    """The server checks subjects, not markings: a buggy JJOC may publish, on a subject Japan
    does release to the US, a report whose marking keeps it in Japan. The US node's arrival
    check refuses it and records the refusal; nothing is handed over."""
    with nats_server(trilateral) as server:
        indo = await NatsBus.connect(
            trilateral, "INDOPACOM", server.url, **server.creds("INDOPACOM")
        )
        buggy = await nats.connect(server.url, **server.creds("JJOC"))
        japan_only = Envelope.of(
            report("JPN-FPS5:8", "JPN", ["JPN"]), origin_node="JJOC", agreement=trilateral
        )
        await buggy.publish(product_subject("JPN", "USA", "report", "JJOC"), japan_only.to_bytes())
        # And an envelope that lies about its origin on an honest subject.
        [liar] = _jjoc_reports(trilateral, [9])
        await buggy.publish(product_subject("JPN", "USA", "track", "JJOC"), liar.to_bytes())
        await buggy.flush()
        assert await _collect(indo) == []
        # (Two plain publishes: the second may reach the stream after a receive came back
        # empty on a loaded machine.)
        deadline = time.monotonic() + 5.0
        while len(indo.dropped) < 2 and time.monotonic() < deadline:
            assert await indo.receive(100, 0.3) == []
        reasons = [event.decision.reason for event in indo.dropped if event.decision]
        assert len(reasons) == 2
        assert any("does not match the envelope" in r for r in reasons), reasons
        assert any("marking does not release to USA" in r for r in reasons), reasons
        await buggy.close()
        await indo.close()


def _reports_to_usa_from_2027() -> Agreement:
    """The trilateral agreement with JPN-REPORT-USA in force from 2027 only: a node holding it
    releases a 2027 report the server (configured for 2026) refuses."""
    import yaml

    from kizuna.sharing.agreement import shipped_agreements

    data = yaml.safe_load(shipped_agreements()["trilateral"].read_text())
    next(r for r in data["release"] if r["id"] == "JPN-REPORT-USA")["effective_from"] = "2027-01-01"
    return Agreement.from_dict(data, source="variant.yaml")


async def test_server_enforces_the_config_even_when_the_node_would_release() -> None:
    """A node whose agreement says a rule is in force (here: from 2027) talks to a server
    configured for 2026, when it is not: the server refuses the copy, the node gets a
    TransportError and an audit event, and nothing reaches the US; in a batch, only the refused
    copies fail."""
    from kizuna.errors import PolicyError
    from kizuna.sharing.bus import BusEvent
    from kizuna.sharing.nats_bus import PermissionRefusedError, TransportError
    from kizuna.sharing.policy import Routing

    agreement = _reports_to_usa_from_2027()
    events: list[BusEvent] = []
    with nats_server(agreement, at_time=T_2026) as server:
        indo = await NatsBus.connect(
            agreement, "INDOPACOM", server.url, **server.creds("INDOPACOM")
        )
        # Korea's stream exists too: it is the one that acknowledges the copy sent to Korea.
        rok = await NatsBus.connect(agreement, "ROK-JCS", server.url, **server.creds("ROK-JCS"))
        jjoc = await NatsBus.connect(
            agreement,
            "JJOC",
            server.url,
            **server.creds("JJOC"),
            observer=events.append,
            publish_timeout_s=0.3,
        )
        envelope = Envelope.of(
            report("JPN-FPS5:30", "JPN", ["JPN", "USA"], time_text="2027-06-01T00:00:00.000Z"),
            origin_node="JJOC",
            agreement=agreement,
        )
        with pytest.raises(TransportError, match="not stored for USA"):
            await jjoc.publish(envelope)
        assert ("refused", "USA") in [(e.kind, e.peer) for e in events]
        assert "released" not in {e.kind for e in events}
        assert any("permissions violation for publish" in e for e in jjoc.errors)
        assert await _collect(indo) == []

        # A batch (publish_many) writes every copy, then waits for the acknowledgements
        # together: a copy the server refuses fails its own envelope only, after one timeout
        # for the whole batch; an envelope the node may not publish fails with PolicyError;
        # the acknowledged copies are released and arrive.
        events.clear()
        refused = [
            Envelope.of(
                report(f"JPN-FPS5:{i}", "JPN", ["JPN", "USA"], time_text="2027-06-01T00:00:00Z"),
                origin_node="JJOC",
                agreement=agreement,
            )
            for i in range(3)
        ]
        marking = remark("track", refused[0].marking, "JPN", agreement, T_2026)
        jpn_track = Envelope.of(
            track("JJOC-T1", marking.model_dump(mode="json")),
            origin_node="JJOC",
            agreement=agreement,
        )
        not_ours = Envelope.of(
            report("KOR-R1:1", "KOR", ["KOR", "USA"]), origin_node="ROK-JCS", agreement=agreement
        )
        started = time.monotonic()
        results = await jjoc.publish_many([refused[0], jpn_track, not_ours, *refused[1:]])
        elapsed = time.monotonic() - started
        assert [type(r) for r in results] == [
            PermissionRefusedError,
            Routing,
            PolicyError,
            PermissionRefusedError,
            PermissionRefusedError,
        ]
        assert "not stored for USA" in str(results[0])
        assert 0.3 <= elapsed < 0.8  # one wait for the batch, not 0.3 s per refused copy
        released = sorted((e.peer, e.envelope.id) for e in events if e.kind == "released")
        assert released == [("KOR", jpn_track.id), ("USA", jpn_track.id)]
        by_server = {e.envelope.id for e in events if e.kind == "refused" and e.peer == "USA"}
        assert by_server == {r.id for r in refused}
        assert await _collect(indo) == [jpn_track]
        await jjoc.close()
        await indo.close()
        await rok.close()


async def test_jetstream_deduplicates_by_message_id(trilateral: Agreement) -> None:
    with nats_server(trilateral) as server:
        jjoc = await NatsBus.connect(trilateral, "JJOC", server.url, **server.creds("JJOC"))
        indo = await NatsBus.connect(
            trilateral, "INDOPACOM", server.url, **server.creds("INDOPACOM")
        )
        [envelope] = _jjoc_reports(trilateral, [1])
        for _ in range(3):  # e.g. a node restarted and re-published its backlog
            await jjoc.publish(envelope)
        # Direct check of the header contract: a fourth copy is acknowledged as a duplicate.
        ack = await jjoc._js.publish(
            product_subject("JPN", "USA", "report", "JJOC"),
            envelope.to_bytes(),
            headers={"Nats-Msg-Id": msg_id("USA", envelope)},
        )
        assert ack.duplicate is True and ack.stream == STREAM
        received = await _collect(indo)
        assert received == [envelope]
        info = await indo._js.stream_info(STREAM)
        assert info.state.messages == 1  # the US stream stored the product once
        await jjoc.close()
        await indo.close()


def _jjoc_reports(agreement: Agreement, numbers: Iterable[int]) -> list[Envelope]:
    """JJOC's envelopes of the JPN-FPS5 reports numbered ``numbers`` (releasable to JPN, USA)."""
    return [
        Envelope.of(
            report(f"JPN-FPS5:{i}", "JPN", ["JPN", "USA"]), origin_node="JJOC", agreement=agreement
        )
        for i in numbers
    ]


async def test_durable_consumer_resumes_after_a_restart(trilateral: Agreement) -> None:
    with nats_server(trilateral) as server:
        jjoc = await NatsBus.connect(trilateral, "JJOC", server.url, **server.creds("JJOC"))
        usfj = await NatsBus.connect(
            trilateral, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ"), ack_wait_s=1.0
        )
        [first] = _jjoc_reports(trilateral, [10])
        await jjoc.publish(first)
        assert await _collect(usfj) == [first]
        await usfj.close()  # the node goes away...
        later = _jjoc_reports(trilateral, range(11, 16))
        for envelope in later:
            await jjoc.publish(envelope)
        usfj = await NatsBus.connect(
            trilateral, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ")
        )
        caught_up = await _collect(usfj)  # ...and catches up, each product once, in order
        assert caught_up == later
        # One pull request brings a burst; the node acknowledges the first delivery only and
        # dies before it commits the rest (pulled, perhaps handed over, not acknowledged): after
        # the ack wait its restart gets exactly the rest, nothing acknowledged comes again.
        burst = _jjoc_reports(trilateral, range(30, 36))
        assert all(not isinstance(r, BaseException) for r in await jjoc.publish_many(burst))
        deliveries = await usfj.receive(max_messages=100, timeout_s=1.0)
        assert deliveries and deliveries[0].envelope == burst[0]
        await deliveries[0].ack()
        await usfj.close()
        usfj = await NatsBus.connect(
            trilateral, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ")
        )
        # After the ack wait (1 s) of the deliveries never acknowledged: wait for them rather
        # than sleep past it (a loaded server may redeliver late), then for nothing more.
        assert await _collect(usfj, timeout_s=3.0) == burst[1:]
        info = await usfj._js.consumer_info(STREAM, "USFJ-JFHQ")
        assert info.config.filter_subject == consumer_filter("USA")
        # A node joining late with deliver_from gets only what was stored after that instant
        # (USFK has no durable consumer yet, so it is created at that start time).
        cutoff = time.time()
        await asyncio.sleep(0.05)
        [newest] = _jjoc_reports(trilateral, [20])
        await jjoc.publish(newest)
        usfk = await NatsBus.connect(
            trilateral, "USFK", server.url, **server.creds("USFK"), deliver_from=cutoff
        )
        assert await _collect(usfk) == [newest]
        await usfk.close()
        await jjoc.close()
        await usfj.close()


def test_nats_config_cli_writes_private_files_and_keeps_passwords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nats.conf"
    assert main(["nats-config", "trilateral", "--out", str(out), "--port", "14998"]) == 0
    creds_path = tmp_path / "nats.conf.credentials.json"
    for path in (out, creds_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = json.loads(creds_path.read_text())
    assert set(first["nodes"]) == {"INDOPACOM", "USFJ-JFHQ", "USFK", "JJOC", "ROK-JCS"}
    assert first["url"] == "nats://127.0.0.1:14998"
    assert main(["nats-config", "quadrilateral", "--out", str(out), "--port", "14998"]) == 0
    second = json.loads(creds_path.read_text())
    assert second["nodes"]["JJOC"] == first["nodes"]["JJOC"]  # kept
    assert "ADF-JOC" in second["nodes"]  # the new partner's node got a password
    assert 'listen: "127.0.0.1:14998"' in out.read_text()
    capsys.readouterr()
    assert main(["nats-config", "trilateral"]) == 0
    assert "accounts: {" in capsys.readouterr().out


async def _heartbeats(bus: NatsBus) -> dict[str, float | None]:
    """What ``bus`` has received of heartbeats (they are kept, never handed over)."""
    while await bus.receive(100, 0.3):
        raise AssertionError("a heartbeat was handed over as a delivery")
    return bus.take_heartbeats()


async def test_heartbeats_reach_exactly_the_nodes_that_wait_for_them(
    trilateral: Agreement,
) -> None:
    """A heartbeat (node id and data clock, nothing else) travels where the node's reports
    do: ROK-JCS's reach the US nodes, never JJOC, which does not receive Korean reports and so
    never waits for ROK-JCS. The server refuses a heartbeat on any other subject, a read of
    another nation's heartbeats, and the receiving node refuses one naming another node."""
    publish, _ = node_permissions(trilateral, "JJOC", T_2026)
    assert [s for s in publish if ".heartbeat." in s] == ["kz.JPN.USA.heartbeat.JJOC"]
    with nats_server(trilateral) as server:
        buses = {
            n: await NatsBus.connect(trilateral, n, server.url, **server.creds(n))
            for n in ("ROK-JCS", "USFK", "JJOC")
        }
        await buses["ROK-JCS"].publish_heartbeat(1795575630.5, time.time())
        await buses["USFK"].publish_heartbeat(1795575631.0, time.time())
        assert await _heartbeats(buses["USFK"]) == {"ROK-JCS": 1795575630.5}
        assert await _heartbeats(buses["JJOC"]) == {"USFK": 1795575631.0}
        assert await _heartbeats(buses["ROK-JCS"]) == {"USFK": 1795575631.0}

        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        rok = await nats.connect(server.url, **server.creds("ROK-JCS"), error_cb=on_error)
        await rok.publish("kz.KOR.JPN.heartbeat.ROK-JCS", b'{"node":"ROK-JCS","time":1.0}')
        await rok.flush()
        jjoc = await nats.connect(server.url, **server.creds("JJOC"), error_cb=on_error)
        await jjoc.subscribe("kz.KOR.USA.heartbeat.>")
        # On its own subject, a heartbeat that claims to be Korea's, and one that says more.
        await jjoc.publish("kz.JPN.USA.heartbeat.JJOC", b'{"node":"ROK-JCS","time":9e9}')
        await jjoc.publish("kz.JPN.USA.heartbeat.JJOC", b'{"node":"JJOC","time":1.0,"t":"T1"}')
        await jjoc.flush()
        await asyncio.sleep(0.3)
        log = server.log_text()
        assert 'Publish Violation - User "ROK-JCS", Subject "kz.KOR.JPN.heartbeat.ROK-JCS"' in log
        assert 'Subscription Violation - User "JJOC", Subject "kz.KOR.USA.heartbeat.>"' in log
        assert await _heartbeats(buses["JJOC"]) == {}
        assert await _heartbeats(buses["USFK"]) == {}
        assert any("refused (not from a source)" in e for e in buses["USFK"].errors)
        assert any("malformed heartbeat" in e for e in buses["USFK"].errors)
        for client in (rok, jjoc):
            await client.close()
        for bus in buses.values():
            await bus.close()


async def test_a_heartbeat_waits_for_the_reports_a_dead_process_left_unacknowledged(
    trilateral: Agreement,
) -> None:
    """USFJ-JFHQ pulls JJOC's report R and dies before it acknowledges it; JJOC's heartbeat
    H (R's time + 5 s) follows. The restarted node gets H at once but R only after the ack
    wait: H must not move its clock until R is back and acknowledged, or R comes late."""
    with nats_server(trilateral) as server:
        jjoc = await NatsBus.connect(trilateral, "JJOC", server.url, **server.creds("JJOC"))
        usfj = await NatsBus.connect(
            trilateral, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ"), ack_wait_s=3.0
        )
        [r] = _jjoc_reports(trilateral, [1])
        await jjoc.publish(r)
        [pulled] = await usfj.receive(100, 0.3)
        assert pulled.envelope == r
        await asyncio.sleep(0.35)  # its pull request has expired: nothing more goes to it
        await usfj.close()  # dies before acknowledging R
        beat = r.time + 5.0
        await jjoc.publish_heartbeat(beat, time.time())
        usfj = await NatsBus.connect(
            trilateral, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ")
        )
        assert await usfj.receive(100, 0.3) == []
        # JJOC is alive (its heartbeat came), but its clock is not applied yet.
        assert usfj.take_heartbeats() == {"JJOC": -math.inf}
        seen: list[str] = []
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            for delivery in await usfj.receive(100, 0.2):
                seen.append(delivery.envelope.id)
                await delivery.ack()
            if usfj.take_heartbeats().get("JJOC") == beat:
                break
        else:
            raise AssertionError("the heartbeat was never applied")
        assert seen == [r.id]  # R came back (after the ack wait) before H moved the clock
        await jjoc.close()
        await usfj.close()


async def test_a_partner_message_posing_as_a_status_notice_is_terminated_and_recorded(
    trilateral: Agreement,
) -> None:
    """An empty message with a ``Status`` header on a partner's own subject is stored and
    delivered like any other (with a $JS.ACK reply): it is no end-of-pull notice of the
    server, so the node terminates it and records it instead of leaving it unacknowledged
    (redelivered for ever)."""
    with nats_server(trilateral) as server:
        usfj = await NatsBus.connect(
            trilateral, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ"), ack_wait_s=1.0
        )
        jjoc = await NatsBus.connect(trilateral, "JJOC", server.url, **server.creds("JJOC"))
        subject = product_subject("JPN", "USA", "report", "JJOC")
        # A client of JJOC's (its credentials, its own subject) writes the plant directly.
        await jjoc._js.publish(subject, b"", headers={"Status": "408", "Description": "Timeout"})
        assert await usfj.receive(100, 0.5) == []
        assert any(subject in e and "malformed" in e for e in usfj.errors), usfj.errors
        await asyncio.sleep(1.3)  # past the ack wait: nothing is redelivered
        assert await usfj.receive(100, 0.3) == []
        info = await usfj._js.consumer_info(STREAM, "USFJ-JFHQ")
        assert info.num_ack_pending == 0 and info.num_redelivered == 0
        await jjoc.close()
        await usfj.close()


async def test_a_pull_request_that_expires_is_replaced_before_the_node_asks_again(
    trilateral: Agreement, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report stored after the bus's pull request expired is on its way to the node at once,
    not only once the node calls receive() again (which held it up to that call's timeout: the
    periodic stall of bench/sharing_latency at 1,000/s), and nothing is lost or doubled across
    expiries."""
    await _expiring_requests_are_replaced(trilateral, monkeypatch, range(40, 43))


async def test_a_pull_request_the_server_drops_without_a_notice_is_replaced_all_the_same(
    trilateral: Agreement, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-server 2.9 may drop a request that expires just as a message is stored without
    its 408 notice (under CPU load the previous test saw neither the message nor the notice,
    and the message waited for the node's next receive()). With no notice ever reaching the
    bus, each request is still replaced once its expiry and slack are past."""
    original = NatsBus._on_pulled

    async def without_notices(self: NatsBus, msg: Any) -> None:
        if msg.headers and not msg.reply and not msg.data and "Status" in msg.headers:
            return  # as if the server had sent none
        await original(self, msg)

    monkeypatch.setattr(NatsBus, "_on_pulled", without_notices)
    await _expiring_requests_are_replaced(trilateral, monkeypatch, range(50, 52))


async def _expiring_requests_are_replaced(
    agreement: Agreement, monkeypatch: pytest.MonkeyPatch, numbers: Iterable[int]
) -> None:
    """USFJ's bus, its requests living 0.2 s, is left alone for longer than one; a JJOC report
    published then must reach the bus without a receive() call, each report once."""
    monkeypatch.setattr(nats_bus, "PULL_EXPIRES_S", 0.2)
    monkeypatch.setattr(nats_bus, "PULL_SLACK_S", 0.3)
    with nats_server(agreement) as server:
        usfj = await NatsBus.connect(
            agreement, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ")
        )
        jjoc = await NatsBus.connect(agreement, "JJOC", server.url, **server.creds("JJOC"))
        sent = _jjoc_reports(agreement, numbers)
        got: list[Envelope] = []
        for envelope in sent:
            assert await usfj.receive(100, 0.0) == []  # a request is open, nothing came yet
            await asyncio.sleep(0.7)  # it expired (and was replaced) while the node was busy
            await jjoc.publish(envelope)
            # At most expiry and slack (0.5 s) for a request dropped without a notice, and a
            # loaded machine's delays; receive() would wait for no more than 0.05 s below.
            deadline = time.monotonic() + 3.0
            while not usfj._pulled and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # no receive() here: only the open request brings it
            assert len(usfj._pulled) == 1, f"{envelope.id} waited for the node to ask"
            got += await _collect(usfj, 0.05)
        assert got == sent
        await jjoc.close()
        await usfj.close()


async def test_a_close_cancelled_while_it_ends_a_pull_renewal_is_cancelled(
    trilateral: Agreement,
) -> None:
    """close() ends the timer's pull renewal still under way; a cancellation of close() itself
    meanwhile (a timeout around the node's shutdown) reaches its caller instead of being taken
    for the renewal's own and swallowed."""
    bus = NatsBus(trilateral, "USFJ-JFHQ", None)
    ended = asyncio.Event()

    async def slow_to_end() -> None:  # a renewal that takes a moment to unwind
        try:
            await asyncio.sleep(10.0)
        except asyncio.CancelledError:
            await ended.wait()
            raise

    bus._renewal = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    closing = asyncio.create_task(bus.close())
    await asyncio.sleep(0.01)  # close() waits for the renewal to end
    closing.cancel()
    ended.set()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await asyncio.sleep(0)
    assert bus._renewal.cancelled()


async def test_a_notice_arriving_while_close_flushes_asks_for_nothing_more(
    trilateral: Agreement,
) -> None:
    """A pull request's 408 notice that arrives while close() flushes the connection neither
    sends a new request nor re-arms the renewal timer close() has cancelled (before: a new
    request went out and a timer fired ~6 s after the bus was gone)."""
    bus = NatsBus(trilateral, "USFJ-JFHQ", None)
    requests: list[bytes] = []

    class Connection:  # a connection up until close() closes it; flush delivers the notice
        is_connected, is_closed = True, False

        async def publish(self, subject: str, data: bytes, reply: str = "") -> None:
            requests.append(data)

        async def flush(self, timeout: float) -> None:
            bus._credit = 0  # the notice: the last request expired owing everything
            await bus._top_up()

        async def close(self) -> None:
            self.is_connected, self.is_closed = False, True

    bus._nc = Connection()
    await bus.close()
    assert requests == []
    assert bus._pull_timer is None


async def test_what_the_timer_s_pull_renewal_raises_is_collected(
    trilateral: Agreement,
) -> None:
    """Nobody awaits the renewal the timer starts; an error it raises lands in ``errors``."""
    bus = NatsBus(trilateral, "USFJ-JFHQ", None)

    async def broken() -> None:
        raise ValueError("boom")

    bus._top_up = broken  # type: ignore[method-assign]
    bus._credit = 1
    bus._pull_deadline()
    assert bus._renewal is not None
    await asyncio.wait([bus._renewal])
    await asyncio.sleep(0)  # the done callback
    assert bus.errors == ["pull renewal: ValueError: boom"]


async def _heartbeat_of(bus: NatsBus, node: str) -> float | None:
    marks: dict[str, float | None] = {}
    for _ in range(10):
        for delivery in await bus.receive(100, 0.2):
            await delivery.ack()
        marks.update(bus.take_heartbeats())
        if node in marks:
            return marks[node]
    raise AssertionError(f"no heartbeat from {node}")


def _jjoc_node(
    agreement: Agreement, bus: NatsBus, tmp_path: Path, audit: list[tuple[str, ...]], **options: Any
) -> Node:
    """JJOC's node over ``bus``, owning the sensor JPN-IR, its audit entries into ``audit``."""
    return Node(
        "JJOC",
        agreement,
        bus,
        open_store(tmp_path, "JJOC"),
        pipeline=cheap_pipeline(),
        audit=audit.extend,
        owners={"JPN-IR": "JJOC"},
        **options,
    )


async def test_a_heartbeat_never_vouches_for_an_own_report_not_yet_published(
    trilateral: Agreement, tmp_path: Path
) -> None:
    """JJOC's report R fails to publish again and again (the server stalls: stopped, the
    connection still up, so every batch's ack wait runs out: a transient failure): the node
    keeps it in its outbox however often that happens, and its heartbeats stay below R's time
    until R is stored."""
    from kizuna.contract import parse_report

    with nats_server(trilateral) as server:
        usfj = await NatsBus.connect(
            trilateral, "USFJ-JFHQ", server.url, **server.creds("USFJ-JFHQ")
        )
        bus = await NatsBus.connect(
            trilateral, "JJOC", server.url, **server.creds("JJOC"), publish_timeout_s=0.2
        )
        audit: list[tuple[str, ...]] = []
        node = _jjoc_node(trilateral, bus, tmp_path, audit, clock="sources")
        r = parse_report(report("JPN-IR:1", "JPN", ["JPN", "USA"]))
        server.process.send_signal(signal.SIGSTOP)
        try:
            await node.accept([r])
            for _ in range(5):
                assert bus.connected
                assert await node.flush_outbox() == 1
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert await node.publish_heartbeat(r.t + 5.0)
        assert await _heartbeat_of(usfj, "JJOC") < r.t
        bus._publish_timeout_s = 2.0
        assert await node.flush_outbox() == 0
        assert await node.publish_heartbeat(r.t + 5.0)
        assert await _heartbeat_of(usfj, "JJOC") == r.t + 5.0
        assert node.stats.publish_failures >= 6 and node.stats.abandoned == 0
        assert "abandoned" not in {a[0] for a in audit}
        await node.close()
        await usfj.close()


async def test_an_own_report_the_server_refuses_for_good_is_given_up_logged_and_audited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from kizuna.contract import parse_report

    agreement = _reports_to_usa_from_2027()
    with nats_server(agreement, at_time=T_2026) as server:
        bus = await NatsBus.connect(
            agreement, "JJOC", server.url, **server.creds("JJOC"), publish_timeout_s=0.3
        )
        audit: list[tuple[str, ...]] = []
        node = _jjoc_node(agreement, bus, tmp_path, audit)
        r = parse_report(
            report("JPN-IR:2", "JPN", ["JPN", "USA"], time_text="2027-06-01T00:00:00.000Z")
        )
        await node.accept([r])
        assert not node.has_outbox and node.stats.abandoned == 1
        envelope = Envelope.of(r, origin_node="JJOC", agreement=agreement)
        assert ("abandoned", "report", envelope.id, None, "JJOC") in audit
        assert f"report {envelope.id} given up" in caplog.text
        assert "refused by the server's permissions" in caplog.text
        await node.close()


@pytest.mark.parametrize(
    ("nations", "canonical"),
    [(["usa", "JPN"], None), ([], None), (["USA", "JPN", "USA"], ["JPN", "USA"])],
)
async def test_a_marking_built_without_validation_is_checked_alike_on_both_transports(
    trilateral: Agreement, nations: list[str], canonical: list[str] | None
) -> None:
    """A product model whose marking was built without validation (``model_construct``, as
    the tracker and combine_markings build theirs): lowercase or empty nations are refused
    when the envelope is made, duplicates are made canonical, so an in-process receiver gets
    exactly what a NATS receiver decodes (which validates the marking on the wire)."""
    from kizuna.contract import Marking, TrackProduct
    from kizuna.errors import InputError
    from kizuna.sharing import InProcessHub

    good = remark(
        "track", Marking(classification="SECRET", releasable_to=["JPN", "USA"]), "USA",
        trilateral, T_2026,
    )  # fmt: skip
    model = TrackProduct.model_validate(track("USFK-T1", good.model_dump(mode="json")))
    built = Marking.model_construct(
        classification="SECRET", releasable_to=nations, released_by=good.released_by
    )
    model = model.model_copy(update={"marking": built})
    if canonical is None:
        with pytest.raises(InputError, match="marking"):
            Envelope.of(model, origin_node="USFK", agreement=trilateral)
        return
    envelope = Envelope.of(model, origin_node="USFK", agreement=trilateral)
    assert envelope.marking.releasable_to == canonical
    assert envelope.product["marking"]["releasable_to"] == canonical
    hub = InProcessHub(trilateral)
    await hub.connect("USFK").publish(envelope)
    [in_process] = [d.envelope for d in await hub.connect("JJOC").receive(timeout_s=0.01)]
    with nats_server(trilateral) as server:
        # Every nation's stream: each acknowledges the copy sent to its nation.
        await provision_streams(trilateral, server)
        usfk = await NatsBus.connect(trilateral, "USFK", server.url, **server.creds("USFK"))
        jjoc = await NatsBus.connect(trilateral, "JJOC", server.url, **server.creds("JJOC"))
        await usfk.publish(envelope)
        [over_nats] = await _collect(jjoc)
        await usfk.close()
        await jjoc.close()
    assert in_process == over_nats == envelope


async def test_an_earlier_refusal_does_not_make_a_later_timeout_a_refusal(
    trilateral: Agreement,
) -> None:
    """A subject the server refused once (its permissions since reloaded) that then times out
    (the server stalls) is a transient failure, kept for another try, not refused for good."""
    from kizuna.sharing.nats_bus import PermissionRefusedError, TransportError
    from kizuna.sharing.subjects import product_subject

    with nats_server(trilateral) as server:
        jjoc = await NatsBus.connect(
            trilateral, "JJOC", server.url, **server.creds("JJOC"), publish_timeout_s=0.3
        )
        [envelope] = _jjoc_reports(trilateral, [30])
        for dest in ("JPN", "USA"):  # what an earlier permissions violation left
            jjoc._refused_subjects.add(
                product_subject(envelope.originator, dest, envelope.kind, "JJOC").lower()
            )
        server.process.send_signal(signal.SIGSTOP)
        try:
            [outcome] = await jjoc.publish_many([envelope])
        finally:
            server.process.send_signal(signal.SIGCONT)
        assert isinstance(outcome, TransportError), outcome
        assert not isinstance(outcome, PermissionRefusedError)
        await jjoc.close()


async def test_a_copy_is_acknowledged_by_the_stream_its_receivers_read(
    trilateral: Agreement,
) -> None:
    """The copy for the US is acknowledged by the US stream, not by Korea's own: while the US
    stream cannot store it (here it does not exist yet; in the slow fault suite it had stopped
    with the server a moment before Korea's) the publish fails, so the node keeps the copy in
    its outbox, instead of counting it stored. Korea's stream acknowledged such copies, the US
    stream never held them, and Korea's next heartbeats vouched for three reports the US nodes
    never got."""
    from kizuna.sharing.nats_bus import TransportError

    with nats_server(trilateral) as server:
        rok = await NatsBus.connect(
            trilateral, "ROK-JCS", server.url, **server.creds("ROK-JCS"), publish_timeout_s=0.5
        )
        envelope = Envelope.of(
            report("KOR-R1:1", "KOR", ["KOR", "USA"]), origin_node="ROK-JCS", agreement=trilateral
        )
        with pytest.raises(TransportError, match="not stored for USA"):
            await rok.publish(envelope)
        # USFK's connection creates the US stream and its consumer; the copy sent again is
        # stored there, once.
        usfk = await NatsBus.connect(trilateral, "USFK", server.url, **server.creds("USFK"))
        assert "USFK" in (await rok.publish(envelope)).reached
        assert [e.id for e in await _collect(usfk)] == [envelope.id]
        await rok.close()
        await usfk.close()
