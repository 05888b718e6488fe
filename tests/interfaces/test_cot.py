"""CoT: events for each product, stream framing, client reports, and the streaming endpoint
tested with pytak (a TAK client library this project did not write) over TCP and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import math
import xml.etree.ElementTree as ET
from configparser import ConfigParser
from pathlib import Path

import pytest

from kizuna.contract import Marking
from kizuna.errors import ConfigError, InputError
from kizuna.interfaces.api import MemoryNodeView
from kizuna.interfaces.api.samples import T0, alert, marking, prediction, track, wrap
from kizuna.interfaces.cot import Context, CotServer, Framer, events_for, to_bytes
from kizuna.interfaces.cot.events import CHI2_2DOF_95_SQRT, enu_velocity
from kizuna.interfaces.cot.inbound import parse_event, position_report
from kizuna.sharing import load_agreement
from kizuna.timefmt import format_time, parse_time

QUAD = load_agreement("quadrilateral")
TRI = load_agreement("trilateral")
pytak = pytest.importorskip("pytak", reason="pytak is not installed (test extra)")


def _ctx() -> Context:
    return Context(category={}, impact={})


# --- events ------------------------------------------------------------------------------------


def test_track_event_has_hostile_missile_type_times_errors_and_marking():
    ctx = _ctx()
    pred = wrap(prediction("T1"), "JJOC", TRI)
    impact, launch = events_for(pred, ctx)
    (event,) = events_for(wrap(track("T1", t=T0 + 5), "JJOC", TRI), ctx)
    assert event.get("type") == "a-h-A-W-M-S-S"  # category ballistic, from the prediction
    assert event.get("uid") == "kizuna.JJOC.T1"
    assert event.get("time") == event.get("start") == format_time(T0 + 5)
    assert parse_time(event.get("stale")) - (T0 + 5) == pytest.approx(30.0)
    point = event.find("point")
    assert float(point.get("ce")) == float(point.get("le")) == 120.0  # position_sigma_m
    assert float(point.get("hae")) == 300_000.0
    mark = event.find("detail/marking")
    assert mark.get("classification") == "SECRET"
    assert mark.get("releasableTo") == "JPN,KOR,USA"
    assert mark.get("releasedBy") == "JPN-PICTURE"
    assert event.get("access") == "SECRET//REL TO JPN, KOR, USA"
    assert event.get("opex") == "o-kizuna"
    # Unknown category before any prediction: a generic missile in flight.
    (generic,) = events_for(wrap(track("T2"), "JJOC", TRI), _ctx())
    assert generic.get("type") == "a-h-A-W-M"
    assert impact.get("type") == "u-d-c-e" and launch.get("type") == "a-h-G-E-W-M-S"


def test_impact_ellipse_shape_and_ce_from_the_95_percent_ellipse():
    (impact, launch) = events_for(wrap(prediction("T1"), "JJOC", TRI), _ctx())
    ellipse = impact.find("detail/shape/ellipse")
    assert float(ellipse.get("major")) == 60_000.0
    assert float(ellipse.get("minor")) == 25_000.0
    assert float(ellipse.get("angle")) == 70.0
    ce = float(impact.find("point").get("ce"))
    assert ce == pytest.approx(60_000.0 / CHI2_2DOF_95_SQRT, abs=0.1)
    assert pytest.approx(math.sqrt(-2 * math.log(0.05))) == CHI2_2DOF_95_SQRT
    assert impact.get("stale") == format_time(T0 + 300 + 120)  # impact time + 2 min
    assert float(launch.find("point").get("ce")) == 3000.0
    assert launch.find("point").get("lat") == "39.3000000"


def test_alert_event_pins_to_the_impact_and_carries_three_languages():
    ctx = _ctx()
    events_for(wrap(prediction("T1"), "JJOC", TRI), ctx)
    (event,) = events_for(wrap(alert("A1", "T1", exercise=True), "JJOC", TRI), ctx)
    assert event.get("type") == "b-m-p-s-m" and event.get("uid") == "kizuna.JJOC.alert.A1"
    assert float(event.find("point").get("lat")) == 40.8
    assert event.get("opex") == "e-kizuna"
    remarks = event.find("detail/remarks").text
    assert "Take shelter" in remarks and "避難" in remarks and "대피" in remarks
    assert event.find("detail/kizuna").get("regions") == "JP-02"
    # Without a released prediction the alert sits on its first region (Aomori).
    (alone,) = events_for(wrap(alert("A2"), "JJOC", TRI), _ctx())
    lat, lon = float(alone.find("point").get("lat")), float(alone.find("point").get("lon"))
    assert 40.2 < lat < 41.6 and 139.8 < lon < 141.7
    cancelled = events_for(wrap(alert("A2", t=T0 + 9, status="cancelled"), "JJOC", TRI), ctx)[0]
    assert parse_time(cancelled.get("stale")) == pytest.approx(T0 + 19)


def test_enu_velocity_matches_pymap3d():
    pymap3d = pytest.importorskip("pymap3d")
    v = (-1500.0, 2500.0, 500.0)
    east, north, up = enu_velocity(39.0, 128.0, v)
    ref = pymap3d.ecef2enuv(*v, 39.0, 128.0)
    assert (east, north, up) == pytest.approx(ref, abs=1e-9)


# --- framing and inbound reports -------------------------------------------------------------


def test_framer_cuts_events_across_chunks_and_refuses_dtds_and_floods():
    one = to_bytes(events_for(wrap(track("T1"), "JJOC", TRI), _ctx())[0])
    ping = b'<event version="2.0" uid="p" type="t-x-c-t" time="x" start="x" stale="x"/>'
    stream = one + b"\n" + ping + one
    framer = Framer()
    got = []
    for i in range(0, len(stream), 7):
        got += framer.feed(stream[i : i + 7])
    assert len(got) == 3 and got[1] == ping
    assert all(parse_event(g).tag == "event" for g in got)
    with pytest.raises(InputError, match="DTD"):
        Framer().feed(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><event/>')
    with pytest.raises(InputError, match="larger"):
        Framer(max_event_bytes=1000).feed(b"<event " + b"x" * 2000)


def _atom(**point: str) -> ET.Element:
    attrs = {"lat": "38.5", "lon": "133.25", "hae": "150000", "ce": "250", "le": "300"}
    attrs.update(point)
    event = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": "JSDF-TRK-7",
            "type": "a-h-A-W-M",
            "how": "m-r",
            "time": "2026-11-25T03:12:45.250Z",
            "start": "2026-11-25T03:12:45.250Z",
            "stale": "2026-11-25T03:13:45Z",
        },
    )
    ET.SubElement(event, "point", attrs)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "track", {"course": "90", "speed": "2000"})
    return event


def test_position_report_from_an_atom_and_field_errors():
    default = Marking(classification="UNCLASSIFIED", releasable_to=["JPN"])
    kw = dict(
        nation="JPN", sensor_lat=35.7, sensor_lon=139.7, client="JJOC:test", default_marking=default
    )
    report = position_report(_atom(), **kw)
    assert report.kind == "position" and report.sensor.nation == "JPN"
    assert (report.lat, report.lon, report.alt_m, report.sigma_m) == (38.5, 133.25, 150000.0, 250.0)
    assert report.velocity_enu_mps == pytest.approx((2000.0, 0.0, 0.0), abs=1e-9)
    assert report.track_ref == "JSDF-TRK-7" and report.marking == default
    assert report.id == "COT:JSDF-TRK-7:2026-11-25T03:12:45.250Z"
    with pytest.raises(InputError) as err:
        position_report(_atom(ce="9999999.0"), **kw)
    assert err.value.field == "point.ce"
    with pytest.raises(InputError) as err:
        position_report(_atom(lat="95"), **kw)
    assert err.value.field.endswith("lat")
    marked = _atom()
    ET.SubElement(
        marked.find("detail"), "marking", {"classification": "SECRET", "releasableTo": "JPN,USA"}
    )
    assert position_report(marked, **kw).marking.releasable_to == ["JPN", "USA"]
    ping = ET.Element("event", {"type": "t-x-c-t", "uid": "ping"})
    assert position_report(ping, **kw) is None


def test_plain_tcp_refuses_a_non_loopback_bind():
    view = MemoryNodeView("JJOC")
    with pytest.raises(ConfigError, match="loopback"):
        CotServer(view, TRI, host="0.0.0.0")
    with pytest.raises(ConfigError, match="cot-node"):
        CotServer({"JJOC": view, "USFK": MemoryNodeView("USFK")}, TRI)


# --- the endpoint with pytak --------------------------------------------------------------


def _section(url: str, **extra: str):
    config = ConfigParser(interpolation=None)
    config["kizuna-test"] = {"COT_URL": url, **extra}
    return config["kizuna-test"]


async def _collect(worker, queue: asyncio.Queue, count: int, timeout_s: float = 10.0):
    """Run pytak's RXWorker until ``count`` events arrived; returns them parsed."""
    out: list[ET.Element] = []

    async def loop():
        while len(out) < count:
            await worker.run_once()
            while not queue.empty():
                out.append(ET.fromstring(queue.get_nowait()))

    await asyncio.wait_for(loop(), timeout_s)
    return out


async def _quiet(worker, queue: asyncio.Queue, seconds: float) -> list[bytes]:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(worker.run_once(), seconds)
    return [queue.get_nowait() for _ in range(queue.qsize())]


def _adf_picture(view: MemoryNodeView) -> dict[str, Marking]:
    """Publish into ADF-JOC's view two releasable and two unreleasable US products."""
    ok = marking("AUS", "USA")
    leak = marking("JPN", "KOR", "USA", released_by="USA-PICTURE")
    view.publish(wrap(prediction("OK", mark=ok), "INDOPACOM", QUAD))
    view.publish(wrap(track("OK", mark=ok), "INDOPACOM", QUAD))
    view.publish(wrap(prediction("LEAK", mark=leak), "INDOPACOM", QUAD))
    view.publish(wrap(track("LEAK", mark=leak), "INDOPACOM", QUAD))
    view.publish(wrap(alert("A1", "OK"), "JJOC", QUAD))  # JPN-ALERT-ALL reaches Australia
    return {"ok": ok, "leak": leak}


async def test_pytak_client_gets_only_releasable_events_and_sends_a_position():
    view = MemoryNodeView("ADF-JOC")
    marks = _adf_picture(view)
    async with CotServer(view, QUAD, port=0) as server:
        section = _section(f"tcp://127.0.0.1:{server.port}")
        reader, writer = await pytak.protocol_factory(section)
        rx: asyncio.Queue = asyncio.Queue()
        worker = pytak.RXWorker(rx, section, reader)
        snapshot = await _collect(worker, rx, 4)  # impact + launch + track + alert
        uids = {e.get("uid") for e in snapshot}
        assert uids == {
            "kizuna.INDOPACOM.OK.impact",
            "kizuna.INDOPACOM.OK.launch",
            "kizuna.INDOPACOM.OK",
            "kizuna.JJOC.alert.A1",
        }
        by_uid = {e.get("uid"): e for e in snapshot}
        assert by_uid["kizuna.INDOPACOM.OK"].get("type") == "a-h-A-W-M-S-S"
        assert by_uid["kizuna.INDOPACOM.OK"].find("detail/marking").get("releasableTo") == (
            "AUS,USA"
        )
        # Nothing else is waiting: the LEAK products were withheld by the endpoint.
        assert await _quiet(worker, rx, 0.5) == []
        # Live: a leak then a releasable update; only the update arrives.
        view.publish(wrap(track("LEAK", t=T0 + 1, mark=marks["leak"]), "INDOPACOM", QUAD))
        view.publish(wrap(track("OK", t=T0 + 1, lat=39.5, mark=marks["ok"]), "INDOPACOM", QUAD))
        (live,) = await _collect(worker, rx, 1)
        assert live.get("uid") == "kizuna.INDOPACOM.OK"
        assert float(live.find("point").get("lat")) == 39.5
        assert server.metrics.value("products_withheld", channel="cot", kind="track") == 2

        # The client reports a position of its own (pytak builds the event).
        tx: asyncio.Queue = asyncio.Queue()
        sender = pytak.TXWorker(tx, section, writer)
        position = pytak.gen_cot(
            lat=-12.4, lon=130.9, ce=40, hae=25_000, le=60, uid="ADF-TRK-1", cot_type="a-h-A-M-F"
        )
        bad = pytak.gen_cot(lat=-12.4, lon=130.9, uid="ADF-TRK-2", cot_type="a-h-A")  # no hae
        await sender.handle_data(bad + position)
        for _ in range(100):
            if view.submitted:
                break
            await asyncio.sleep(0.02)
        ((report, source),) = view.submitted
        assert report.kind == "position" and report.sensor.nation == "AUS"
        assert (report.lat, report.lon, report.sigma_m) == (-12.4, 130.9, 40.0)
        assert report.marking.releasable_to == ["AUS"]  # the default: own nation only
        assert source.startswith("cot:ADF-JOC:127.0.0.1:")
        assert server.metrics.value("cot_reports", result="rejected") == 1
        assert "hae" in server.rejected[-1] and "unknown" in server.rejected[-1]
        # A TAK keep-alive ping gets its pong.
        ping = pytak.cot_event(uid="ping-1", cot_type="t-x-c-t", how="h-g-i-g-o")
        await sender.handle_data(pytak.serialize_cot(ping))
        (pong,) = await _collect(worker, rx, 1)
        assert pong.get("type") == "t-x-c-t-r"
        writer.close()


# --- TLS with client certificates ------------------------------------------------------------


def _certificates(tmp: Path, client_nodes: list[str]) -> dict[str, tuple[Path, Path]]:
    crypto = pytest.importorskip("cryptography", reason="cryptography is not installed")
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def write(name: str, cert, private) -> tuple[Path, Path]:
        cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    def build(subject_cn: str, private, issuer, issuer_key, *, ca: bool, server: bool = False):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(issuer)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False
            )
        if server:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kizuna test CA")])
    ca_cert = build("kizuna test CA", ca_key, ca_name, ca_key, ca=True)
    out = {"ca": write("ca", ca_cert, ca_key)}
    server_key = key()
    out["server"] = write(
        "server", build("localhost", server_key, ca_name, ca_key, ca=False, server=True), server_key
    )
    for node in client_nodes:
        client_key = key()
        out[node] = write(node, build(node, client_key, ca_name, ca_key, ca=False), client_key)
    return out


# pytak sets ssl.OP_NO_TLSv1 on its client context, which Python deprecates; not ours to fix.
@pytest.mark.filterwarnings("ignore:ssl.OP_NO_SSL:DeprecationWarning")
async def test_tls_client_certificate_names_the_node_whose_picture_it_gets(tmp_path):
    from kizuna.interfaces.cot import server_tls_context

    certs = _certificates(tmp_path, ["ADF-JOC", "USFK"])
    adf, jjoc = MemoryNodeView("ADF-JOC"), MemoryNodeView("JJOC")
    _adf_picture(adf)
    jjoc.publish(wrap(track("JP1", mark=marking("JPN")), "JJOC", QUAD))
    context = server_tls_context(*certs["server"], certs["ca"][0])
    views = {"ADF-JOC": adf, "JJOC": jjoc}
    async with CotServer(views, QUAD, host="127.0.0.1", port=0, ssl_context=context) as server:

        def section(node: str):
            return _section(
                f"tls://127.0.0.1:{server.port}",
                PYTAK_TLS_CLIENT_CERT=str(certs[node][0]),
                PYTAK_TLS_CLIENT_KEY=str(certs[node][1]),
                PYTAK_TLS_CLIENT_CAFILE=str(certs["ca"][0]),
                PYTAK_TLS_SERVER_EXPECTED_HOSTNAME="localhost",
            )

        sec = section("ADF-JOC")
        reader, writer = await pytak.protocol_factory(sec)
        rx: asyncio.Queue = asyncio.Queue()
        events = await _collect(pytak.RXWorker(rx, sec, reader), rx, 4)
        assert {e.get("uid") for e in events} == {
            "kizuna.INDOPACOM.OK.impact",
            "kizuna.INDOPACOM.OK.launch",
            "kizuna.INDOPACOM.OK",
            "kizuna.JJOC.alert.A1",
        }
        writer.close()
        # USFK has a valid certificate but no view here: the server hangs up, sending nothing.
        sec = section("USFK")
        reader, writer = await pytak.protocol_factory(sec)
        assert await asyncio.wait_for(reader.read(), 5.0) == b""
        writer.close()


def test_framer_is_independent_of_how_the_stream_is_chunked():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ctx = _ctx()
    documents = [to_bytes(e) for e in events_for(wrap(prediction("T1"), "JJOC", TRI), ctx)]
    documents += [to_bytes(e) for e in events_for(wrap(alert("A1"), "JJOC", TRI), ctx)]
    documents.append(b'<event version="2.0" uid="p" type="t-x-c-t"/>')
    stream = b"\n".join(documents)

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=20))
    def check(cuts):
        framer = Framer()
        got = []
        edges = [0, *sorted(cuts), len(stream)]
        for a, b in itertools.pairwise(edges):
            got += framer.feed(stream[a:b])
        # Events come out without the XML declarations and whitespace between them.
        assert got == [d[d.index(b"<event") :].strip() for d in documents]

    check()
