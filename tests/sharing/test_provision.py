"""`kizuna streams create` against a real nats-server (2.9.x) started with the generated config:
every nation's stream and every node's durable consumer exist before any node runs, so a
product published before its receivers ever connected still reaches them. Without it, the copy
for a nation whose stream does not exist yet is not acknowledged (that nation's stream is the
one that acknowledges it), so the sender cannot publish until that nation's first node ran."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import nats.errors
import pytest
from sharing_helpers import T_2026, RunningServer, nats_server, needs_nats, report, track

from kizuna.interfaces.cli.main import main
from kizuna.sharing import Envelope, remark
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.nats_bus import NatsBus, TransportError
from kizuna.sharing.natsconfig import admin_user
from kizuna.sharing.subjects import STREAM

pytestmark = needs_nats


def _japanese_track(agreement: Agreement) -> Envelope:
    japanese = report("JPN-R1:1", "JPN", ["JPN", "USA", "KOR"])
    marking = remark(
        "track",
        Envelope.of(japanese, origin_node="JJOC", agreement=agreement).marking,
        "JPN",
        agreement,
        T_2026,
    )
    return Envelope.of(
        track("JJOC-T1", marking.model_dump(mode="json")), origin_node="JJOC", agreement=agreement
    )


async def _publish_then_late_receivers(agreement: Agreement, server: RunningServer) -> dict:
    """JJOC publishes a track releasable to all three nations; only then do USFK and ROK-JCS
    connect for the first time. Returns what each of them receives."""
    jjoc = await NatsBus.connect(agreement, "JJOC", server.url, **server.creds("JJOC"))
    routing = await jjoc.publish(_japanese_track(agreement))
    assert {"USFK", "ROK-JCS"} <= routing.reached
    await jjoc.close()
    got: dict[str, list[str]] = {}
    for node in ("USFK", "ROK-JCS"):
        bus = await NatsBus.connect(agreement, node, server.url, **server.creds(node))
        deliveries = await bus.receive(10, 0.5)
        for delivery in deliveries:
            await delivery.ack()
        got[node] = [d.envelope.product["track_id"] for d in deliveries]
        await bus.close()
    return got


def _create(server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    creds = tmp_path / "server.conf.credentials.json"
    creds.write_text(server.config.credentials_json("trilateral"))
    argv = ["streams", "create", "trilateral", "--credentials", str(creds), "--nats", server.url]
    assert main(argv) == 0
    return capsys.readouterr().out


def test_without_streams_create_a_copy_sent_before_the_partner_stream_exists_is_refused(
    trilateral: Agreement,
) -> None:
    # What the command spares the nodes: documented so that a change in the transport that
    # makes provisioning unnecessary (or loses such a copy again, as it once did while the
    # sender's own stream acknowledged it) is noticed.
    async def publish() -> None:
        jjoc = await NatsBus.connect(
            trilateral, "JJOC", server.url, **server.creds("JJOC"), publish_timeout_s=0.5
        )
        try:
            await jjoc.publish(_japanese_track(trilateral))
        finally:
            await jjoc.close()

    with (
        nats_server(trilateral) as server,
        pytest.raises(TransportError, match=r"not stored for (KOR, USA|USA, KOR)"),
    ):
        asyncio.run(publish())


def test_streams_create_makes_every_stream_and_consumer_so_nothing_is_lost(
    trilateral: Agreement, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with nats_server(trilateral) as server:
        out = _create(server, tmp_path, capsys)
        lines = out.splitlines()
        assert sorted(line for line in lines if "stream" in line) == [
            f"{n}: stream {STREAM} created" for n in ("JPN", "KOR", "USA")
        ]
        assert {line.split()[2] for line in lines if "consumer" in line} == set(trilateral.node_ids)
        assert all(line.endswith("created") for line in lines)
        got = asyncio.run(_publish_then_late_receivers(trilateral, server))
        assert got == {"USFK": ["JJOC-T1"], "ROK-JCS": ["JJOC-T1"]}
        # Repeating it changes nothing: the consumers (and their positions) are kept.
        again = _create(server, tmp_path, capsys).splitlines()
        assert sum(line.endswith("kept") for line in again) == len(trilateral.node_ids)
        assert sum(line.endswith("updated") for line in again) == 3
        assert asyncio.run(_publish_then_late_receivers(trilateral, server)) == {
            "USFK": [],  # JJOC's track was already delivered; its re-publish is de-duplicated
            "ROK-JCS": [],
        }


def test_a_nations_administrator_may_not_touch_products(trilateral: Agreement) -> None:
    async def probe(server: RunningServer) -> list[str]:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        admin = server.config.admins["JPN"]
        assert admin.user == admin_user("JPN")
        nc = await nats.connect(
            server.url, user=admin.user, password=admin.password, error_cb=on_error
        )
        await nc.subscribe("kz.>")
        await nc.publish("kz.JPN.USA.report.JJOC", b"{}")  # forging a node's release
        await nc.flush()
        await asyncio.sleep(0.2)
        await nc.close()
        return errors

    with nats_server(trilateral) as server:
        errors = asyncio.run(probe(server))
        log = server.log_text()
    assert any("permissions violation for subscription" in e for e in errors), errors
    assert 'Subscription Violation - User "JPN-admin", Subject "kz.>"' in log
    assert 'Publish Violation - User "JPN-admin", Subject "kz.JPN.USA.report.JJOC"' in log


def test_streams_create_names_a_missing_administrator(
    trilateral: Agreement, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = tmp_path / "old.credentials.json"
    creds.write_text(json.dumps({"agreement": "trilateral", "nodes": {}}))
    assert main(["streams", "create", "trilateral", "--credentials", str(creds)]) == 2
    assert "admins" in capsys.readouterr().err


def test_nats_config_writes_administrators_and_keeps_their_passwords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "server.conf"
    assert main(["nats-config", "trilateral", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "kizuna streams create trilateral --credentials" in printed
    creds = Path(f"{out}.credentials.json")
    first = json.loads(creds.read_text())
    assert {n: e["user"] for n, e in first["admins"].items()} == {
        n: admin_user(n) for n in ("JPN", "KOR", "USA")
    }
    assert 'user: "JPN-admin"' in out.read_text()
    assert main(["nats-config", "trilateral", "--out", str(out)]) == 0
    assert json.loads(creds.read_text())["admins"] == first["admins"]
