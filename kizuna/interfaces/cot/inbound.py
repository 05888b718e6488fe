"""CoT events from clients: framing a TCP stream, and position reports out of events.

A TAK client sends XML events back to back on one stream (no length prefix). :class:`Framer`
cuts the stream into events (``<event ...>...</event>`` or a self-closing ``<event .../>``),
skipping XML declarations and whitespace, and refuses oversized events and any DTD (no entity
expansion, however well-behaved the parser). :func:`position_report` turns an atom event
(``a-*``, a tracked object) into the contract's ``position`` report and validates it with
:func:`kizuna.contract.parse_report`; everything else (pings ``t-x-c-t``, drawings, chat) is
not a report and is ignored.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

from pydantic import ValidationError

from kizuna.contract import Marking, PositionReport, parse_report
from kizuna.errors import InputError
from kizuna.timefmt import format_time, parse_time

MAX_EVENT_BYTES = 64 * 1024
UNKNOWN_THRESHOLD = 9_999_999.0


class Framer:
    """Accumulates stream bytes and yields complete event documents."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_event_bytes

    def feed(self, data: bytes) -> list[bytes]:
        """Complete events found so far; :class:`InputError` if the stream is not CoT."""
        self._buffer.extend(data)
        events: list[bytes] = []
        while True:
            start = self._buffer.find(b"<event")
            if start < 0:
                # Keep a possible partial "<event" at the end; drop what cannot start one.
                keep = self._buffer[-6:] if b"<" in self._buffer[-6:] else b""
                self._check_prefix(self._buffer[: len(self._buffer) - len(keep)])
                self._buffer = bytearray(keep)
                break
            self._check_prefix(self._buffer[:start])
            del self._buffer[:start]
            head_end = self._buffer.find(b">")
            if head_end < 0:
                break
            if self._buffer[head_end - 1 : head_end] == b"/":
                end = head_end + 1
            else:
                close = self._buffer.find(b"</event>")
                if close < 0:
                    break
                end = close + len(b"</event>")
            events.append(bytes(self._buffer[:end]))
            del self._buffer[:end]
        if len(self._buffer) > self._max:
            raise InputError(f"CoT event larger than {self._max} bytes", source="cot")
        return events

    @staticmethod
    def _check_prefix(prefix: bytes | bytearray) -> None:
        if b"<!" in prefix:
            raise InputError("DTDs and entities are not accepted in CoT streams", source="cot")


def _float(element: ET.Element, name: str) -> float:
    try:
        value = float(element.attrib[name])
    except (KeyError, ValueError):
        raise InputError(
            f"point needs a numeric {name}", field=f"point.{name}", source="cot"
        ) from None
    if not math.isfinite(value):
        raise InputError(f"{name} is not finite", field=f"point.{name}", source="cot")
    return value


def parse_event(document: bytes) -> ET.Element:
    if b"<!" in document:
        raise InputError("DTDs and entities are not accepted in CoT events", source="cot")
    try:
        event = ET.fromstring(document)
    except ET.ParseError as exc:
        raise InputError(f"not well-formed XML: {exc}", source="cot") from None
    if event.tag != "event":
        raise InputError(f"root element is <{event.tag}>, not <event>", source="cot")
    return event


def position_report(
    event: ET.Element,
    *,
    nation: str,
    sensor_lat: float,
    sensor_lon: float,
    client: str,
    default_marking: Marking,
) -> PositionReport | None:
    """The position report an atom event makes, None for events that are not reports.

    ``nation`` is the client's nation (the node it speaks for); the report's sensor is the
    client's system (``COT:<client>``), placed at that node's location. The marking is the
    event's ``<detail><marking classification releasableTo/>`` when present, else
    ``default_marking``. ``ce`` (1-sigma, m) becomes ``sigma_m``; an unknown ``ce`` or ``hae``
    (9999999) makes the event unusable as a report. Raises :class:`InputError` naming the
    field for an atom that is not a valid report.
    """
    cot_type = event.attrib.get("type", "")
    uid = event.attrib.get("uid", "")
    if not cot_type.startswith("a-"):
        return None
    if not uid:
        raise InputError("event has no uid", field="uid", source="cot")
    point = event.find("point")
    if point is None:
        raise InputError("event has no <point>", field="point", source="cot")
    lat, lon = _float(point, "lat"), _float(point, "lon")
    hae, ce = _float(point, "hae"), _float(point, "ce")
    if hae >= UNKNOWN_THRESHOLD:
        raise InputError(
            "height (hae) is unknown; a position report needs it", field="point.hae", source="cot"
        )
    if ce >= UNKNOWN_THRESHOLD or ce <= 0.0:
        raise InputError(
            "circular error (ce) is unknown or not positive", field="point.ce", source="cot"
        )
    when = event.attrib.get("time") or event.attrib.get("start") or ""
    try:
        time_s = parse_time(when)
    except InputError:
        raise InputError(f"time {when!r} is not RFC 3339", field="time", source="cot") from None
    detail = event.find("detail")
    marking = default_marking
    exercise = event.attrib.get("opex", "").startswith(("e-", "s-"))
    velocity: tuple[float, float, float] | None = None
    if detail is not None:
        tagged = detail.find("marking")
        if tagged is not None:
            nations = [
                n for n in tagged.attrib.get("releasableTo", "").replace(" ", ",").split(",") if n
            ]
            try:
                marking = Marking.model_validate(
                    {
                        "classification": tagged.attrib.get("classification", ""),
                        "releasable_to": nations,
                    }
                )
            except ValidationError:
                raise InputError(
                    "marking needs a classification and releasableTo nations",
                    field="detail.marking",
                    source="cot",
                ) from None
            exercise = exercise or tagged.attrib.get("exercise") == "true"
        track = detail.find("track")
        if track is not None and "course" in track.attrib and "speed" in track.attrib:
            course = math.radians(_float(track, "course"))
            speed = _float(track, "speed")
            velocity = (speed * math.sin(course), speed * math.cos(course), 0.0)
    data: dict[str, Any] = {
        "id": f"COT:{uid}:{format_time(time_s)}"[:256],
        "time": format_time(time_s),
        "sensor": {
            "id": f"COT:{client}",
            "nation": nation,
            "lat": sensor_lat,
            "lon": sensor_lon,
            "alt_m": 0.0,
        },
        "kind": "position",
        "lat": lat,
        "lon": lon,
        "alt_m": hae,
        "sigma_m": ce,
        "velocity_enu_mps": velocity,
        "track_ref": uid[:256],
        "marking": marking.model_dump(mode="json"),
        "exercise": exercise,
    }
    report = parse_report(data, source=f"cot:{client}")
    if not isinstance(report, PositionReport):  # parse_report picks the kind from the data
        raise InputError("not a position report", source="cot")
    return report


__all__ = ["MAX_EVENT_BYTES", "Framer", "parse_event", "position_report"]
