"""The in-process bus (laptop mode): every delivery through the policy, duplicates, audit events."""

from __future__ import annotations

import pytest
from sharing_helpers import T_2026, prediction, report, track

from kizuna.contract import Marking, PredictionProduct, TrackProduct, combine_markings
from kizuna.errors import PolicyError
from kizuna.sharing import Bus, BusEvent, Envelope, InProcessHub, remark
from kizuna.sharing.agreement import Agreement


async def _drain(hub: InProcessHub, agreement: Agreement) -> dict[str, list[Envelope]]:
    out: dict[str, list[Envelope]] = {}
    for node_id in agreement.node_ids:
        bus = hub.connect(node_id)
        deliveries = await bus.receive(max_messages=1000, timeout_s=0.01)
        for delivery in deliveries:
            await delivery.ack()
        out[node_id] = [d.envelope for d in deliveries]
    return out


async def test_korean_only_launch_reaches_jjoc_as_tracks_and_predictions_never_as_reports(
    trilateral: Agreement,
) -> None:
    """Issue 5: JJOC's picture of a launch seen only by Korean radar arrives through
    INDOPACOM as tracks and predictions, never as Korean raw reports."""
    events: list[BusEvent] = []
    hub = InProcessHub(trilateral, observer=events.append)
    rok, usfk, jjoc = hub.connect("ROK-JCS"), hub.connect("USFK"), hub.connect("JJOC")
    assert isinstance(rok, Bus)
    for i in range(3):
        raw = report(f"KOR-R1:{i}", "KOR", ["KOR", "USA"])
        await rok.publish(Envelope.of(raw, origin_node="ROK-JCS", agreement=trilateral))

    # USFK fuses what it received into a US track and prediction, marked per the agreement.
    received = await usfk.receive(timeout_s=0.01)
    assert [d.envelope.kind for d in received] == ["report"] * 3
    combined = combine_markings(d.envelope.marking for d in received)
    assert combined.releasable_to == ["KOR", "USA"]
    marking = remark("track", combined, "USA", trilateral, T_2026)
    assert marking.released_by == "USA-PICTURE"
    mark = marking.model_dump(mode="json")
    for product in (
        TrackProduct.model_validate(track("USFK-T1", mark)),
        PredictionProduct.model_validate(prediction("USFK-T1", mark)),
    ):
        await usfk.publish(Envelope.of(product, origin_node="USFK", agreement=trilateral))

    deliveries = await jjoc.receive(timeout_s=0.01)
    assert sorted(d.envelope.kind for d in deliveries) == ["prediction", "track"]
    for delivery in deliveries:
        assert delivery.path == ("USFK", "INDOPACOM", "USFJ-JFHQ", "JJOC")
        assert delivery.decision.rule == "USA-PICTURE"
        assert delivery.envelope.marking.released_by == "USA-PICTURE"
    refused_at_jjoc = [e for e in events if e.kind == "refused" and e.peer == "JJOC"]
    assert len(refused_at_jjoc) == 3
    assert all(e.envelope.kind == "report" for e in refused_at_jjoc)
    assert not hub.dropped


async def test_duplicates_are_ignored_and_counted(trilateral: Agreement) -> None:
    events: list[BusEvent] = []
    hub = InProcessHub(trilateral, observer=events.append)
    jjoc = hub.connect("JJOC")
    envelope = Envelope.of(
        report("JPN-FPS5:1", "JPN", ["JPN", "USA"]), origin_node="JJOC", agreement=trilateral
    )
    first = await jjoc.publish(envelope)
    second = await jjoc.publish(envelope)
    assert first.reached == {"USFJ-JFHQ", "INDOPACOM", "USFK"}
    assert second.reached == frozenset()
    received = await _drain(hub, trilateral)
    assert {n: len(v) for n, v in received.items()} == {
        "INDOPACOM": 1,
        "USFJ-JFHQ": 1,
        "USFK": 1,
        "JJOC": 0,
        "ROK-JCS": 0,
    }
    assert [e.kind for e in events].count("duplicate") == 1


async def test_a_node_releases_only_its_own_nations_products(trilateral: Agreement) -> None:
    hub = InProcessHub(trilateral)
    usfk = hub.connect("USFK")
    korean = Envelope.of(
        report("KOR-R1:9", "KOR", ["KOR", "USA"]), origin_node="USFK", agreement=trilateral
    )
    with pytest.raises(PolicyError, match="only a node of that nation"):
        await usfk.publish(korean)
    other = Envelope.of(
        report("USA-TPY2:1", "USA", ["USA"]), origin_node="INDOPACOM", agreement=trilateral
    )
    with pytest.raises(PolicyError, match="whose origin is INDOPACOM"):
        await usfk.publish(other)


async def test_receive_waits_then_times_out(trilateral: Agreement) -> None:
    hub = InProcessHub(trilateral)
    assert await hub.connect("JJOC").receive(timeout_s=0.01) == []


@pytest.mark.parametrize("kind", ["report", "track", "prediction", "alert"])
def test_wire_and_record_text_are_the_plain_json_dumps(trilateral: Agreement, kind: str) -> None:
    # The wire form and the record line reuse one encoding of the product; they must be the
    # bytes of dumping the whole object (the alert carries Japanese and Korean text).
    import json

    from sharing_helpers import body

    from kizuna.contract import parse_report
    from kizuna.sharing.node import record_line, record_text

    marking = {"classification": "SECRET", "releasable_to": ["USA", "JPN"]}
    product = body(kind, f"K-{kind}", "JPN", marking, T_2026)
    for source in (product, parse_report(product) if kind == "report" else None):
        if source is None:
            continue
        envelope = Envelope.of(source, origin_node="JJOC", agreement=trilateral)
        assert envelope.marking.releasable_to == ["JPN", "USA"]
        assert envelope.product["marking"] == envelope.marking.model_dump(mode="json")
        whole = {
            "id": envelope.id,
            "kind": envelope.kind,
            "originator": envelope.originator,
            "origin_node": envelope.origin_node,
            "time": envelope.time,
            "marking": envelope.marking.model_dump(mode="json"),
            "product": envelope.product,
        }
        dump = json.dumps(whole, separators=(",", ":"), ensure_ascii=False).encode()
        assert envelope.to_bytes() == dump
        assert Envelope.from_bytes(dump) == envelope
        line = json.dumps(record_line(envelope), separators=(",", ":"), ensure_ascii=False)
        assert record_text(envelope) == line
        # An envelope made from a model carries it (for in-process receivers), and so does a
        # report envelope decoded from the wire (its report validated with it, once); a
        # derived product that crossed a wire, or anything re-marked, is validated by its
        # receiver.
        assert envelope.model is (source if source is not product else None)
        decoded = Envelope.from_bytes(dump).model
        if kind == "report":
            assert decoded == parse_report(product)
        else:
            assert decoded is None
        assert envelope.with_marking(envelope.marking).model is None
        assert json.loads(line)["product"] == kind and json.loads(line)["origin_node"] == "JJOC"


def test_report_time_is_parsed_once_and_follows_a_copy() -> None:
    from kizuna.contract import parse_report
    from kizuna.timefmt import parse_time

    original = parse_report(report("JPN-FPS5:9", "JPN", ["JPN", "USA"]))
    assert original.t == parse_time(T_2026)
    assert original.__dict__["_t"] == (original.time, original.t)
    later = original.model_copy(update={"time": "2026-11-25T03:00:01.500Z"})
    assert later.t == parse_time("2026-11-25T03:00:01.500Z") != original.t
    assert original == parse_report(original.model_dump())
    assert "_t" not in original.model_dump()


def test_envelope_round_trip_and_tamper_detection(trilateral: Agreement) -> None:
    envelope = Envelope.of(
        report("JPN-FPS5:2", "JPN", ["JPN", "USA"]), origin_node="JJOC", agreement=trilateral
    )
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope
    widened = envelope.to_bytes().replace(
        b'"releasable_to":["JPN","USA"]', b'"releasable_to":["JPN","KOR","USA"]', 1
    )
    from kizuna.errors import InputError

    with pytest.raises(InputError, match="differs from envelope marking"):
        Envelope.from_bytes(widened)
    assert envelope.with_marking(Marking(classification="SECRET", releasable_to=["JPN"])).product[
        "marking"
    ]["releasable_to"] == ["JPN"]


def _wire(envelope: Envelope, **changes: object) -> bytes:
    """``envelope``'s wire JSON with top-level fields or product fields (``product__x``)
    replaced, as a hostile or broken publisher could send it."""
    import json

    whole = json.loads(envelope.to_bytes())
    for key, value in changes.items():
        if key.startswith("product__"):
            whole["product"][key.removeprefix("product__")] = value
        else:
            whole[key] = value
    return json.dumps(whole).encode()


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        # The envelope claims more than the report's own marking releases (and the reverse).
        (
            {"marking": {"classification": "SECRET", "releasable_to": ["JPN", "KOR", "USA"]}},
            None,
            "differs from envelope marking",
        ),
        (
            {"product__marking": {"classification": "SECRET", "releasable_to": ["JPN", "KOR"]}},
            None,
            "differs from envelope marking",
        ),
        (
            {"marking": {"classification": "UNCLASSIFIED", "releasable_to": ["JPN", "USA"]}},
            None,
            "differs from envelope marking",
        ),
        # A report published under another nation's rules than its sensor's.
        ({"originator": "USA"}, "originator", "not the sensor's nation JPN"),
        # An envelope id that is not the report's: de-duplication would be fooled.
        ({"id": "report:someone-else"}, "id", "not report:K-9"),
        # A broken report: named inside the product, with pydantic's reason.
        ({"product__sigma_m": -5.0}, "product.launch.sigma_m", "greater than 0"),
        (
            {"product__marking": {"classification": "TOP", "releasable_to": ["JPN"]}},
            "product.launch.marking.classification",
            "Input should be",
        ),
        ({"product__kind": "sonar"}, "product", "does not match any of the expected tags"),
        ({"product__time": "yesterday"}, "product.launch.time", "time"),
        # The envelope itself: unchanged messages.
        ({"kind": "gossip"}, "kind", "Input should be"),
        ({"time": "soon"}, "time", "valid number"),
        ({"extra": 1}, "extra", "Extra inputs"),
    ],
)
def test_hostile_report_envelopes_are_rejected_naming_the_field(
    trilateral: Agreement, changes: dict, field: str | None, reason: str
) -> None:
    from kizuna.errors import InputError

    envelope = Envelope.of(
        report("K-9", "JPN", ["JPN", "USA"]), origin_node="JJOC", agreement=trilateral
    )
    assert Envelope.from_bytes(_wire(envelope)) == envelope  # the unchanged one passes
    with pytest.raises(InputError, match=reason) as caught:
        Envelope.from_bytes(_wire(envelope, **changes), source="kz.JPN.USA.report.JJOC")
    assert caught.value.field == field
    assert caught.value.source == "kz.JPN.USA.report.JJOC"


def test_a_decoded_report_envelope_is_validated_once(
    trilateral: Agreement, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver takes the report validated with its envelope (no second validation), and
    a non-report envelope is not taken for a report."""
    import kizuna.sharing.node as node_module
    from kizuna.contract import LaunchReport

    envelope = Envelope.of(
        report("K-10", "JPN", ["JPN", "USA"]), origin_node="JJOC", agreement=trilateral
    )
    decoded = Envelope.from_bytes(envelope.to_bytes())
    assert isinstance(decoded.model, LaunchReport) and decoded.model.t == envelope.time
    assert decoded.product == decoded.model.model_dump(mode="json")

    def no_second_validation(*_: object, **__: object) -> None:
        raise AssertionError("validated twice")

    monkeypatch.setattr(node_module, "parse_report", no_second_validation)
    marking = {"classification": "SECRET", "releasable_to": ["JPN", "USA"]}
    product = Envelope.from_bytes(
        Envelope.of(track("T1", marking), origin_node="JJOC", agreement=trilateral).to_bytes()
    )
    assert product.kind == "track" and product.model is None
