"""Cursor on Target (CoT 2.0 XML) events for kizuna's products.

One product becomes one or more events, each with a stable ``uid`` so a TAK client updates the
same item in place:

============  ==========================  ===================================================
product       CoT type                    uid
============  ==========================  ===================================================
track         ``a-h-A-W-M-S-S``           ``kizuna.<origin>.<track_id>``
              (hostile air track, weapon, missile in flight, surface-to-surface: MIL-STD-2525B
              as in MITRE's CoTtypes.xml); ``a-h-A-W-M`` (missile in flight) while the
              category is unknown; ``a-h-P`` (space track) for an orbital launch
prediction   ``u-d-c-e`` impact ellipse  ``kizuna.<origin>.<track_id>.impact``
              (TAK drawn ellipse: ``<shape><ellipse major minor angle/>``, semi-axes in m,
              angle clockwise from true north), and ``a-h-G-E-W-M-S`` (surface-to-surface
              missile launcher) at the launch point, ``kizuna.<origin>.<track_id>.launch``
alert         ``b-m-p-s-m`` (spot map marker) ``kizuna.<origin>.alert.<alert_id>``
============  ==========================  ===================================================

Times: ``time`` and ``start`` are the product's time (so a replay stays consistent), ``stale``
is when the item should disappear: a track after ``TRACK_STALE_S`` without update, an impact
ellipse shortly after the predicted impact, an alert after its impact time (at once when
cancelled or over). ``ce``/``le`` are 1-sigma circular and vertical errors in metres (CoT
2.0); ``9999999`` means unknown.

The marking travels in ``<detail><marking classification releasableTo releasedBy/>`` and in
the event's ``access`` attribute, and exercise traffic carries ``opex="e-kizuna"``. TAK
protocol v1 (protobuf) drops CoT's access attributes, which is why the *server* enforces
releasability (:mod:`kizuna.interfaces.cot.server`) and the marking is only informative here.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from kizuna.contract import Marking
from kizuna.sharing import Envelope
from kizuna.timefmt import format_time, parse_time

UNKNOWN = 9_999_999.0
TRACK_STALE_S = 30.0
LAUNCH_STALE_S = 1800.0
AFTER_IMPACT_S = 120.0
ENDED_ALERT_STALE_S = 10.0
CHI2_2DOF_95_SQRT = 2.447746830680816  # sqrt of the 95 % quantile of chi-square, 2 dof

TYPE_BALLISTIC = "a-h-A-W-M-S-S"
TYPE_MISSILE = "a-h-A-W-M"
TYPE_SPACE = "a-h-P"
TYPE_IMPACT = "u-d-c-e"
TYPE_LAUNCH = "a-h-G-E-W-M-S"
TYPE_ALERT = "b-m-p-s-m"
LEVEL_ARGB = {"warning": -1754827, "advisory": -291840, "notice": -141259}  # red, orange, yellow


@dataclass(frozen=True)
class Context:
    """What one client may already know that shapes an event (only from released products).

    ``category`` of a track and the ``impact`` point of an alert's track come from predictions
    that the same client was allowed to see, so an event never reveals more than the products
    released to it.
    """

    category: dict[tuple[str, str], str]
    impact: dict[tuple[str, str], tuple[float, float]]


def access_text(marking: Marking) -> str:
    """``SECRET//REL TO JPN, KOR, USA``: the banner line of a marking."""
    return f"{marking.classification}//REL TO {', '.join(marking.releasable_to)}"


def _event(
    uid: str,
    cot_type: str,
    *,
    time_s: float,
    stale_s: float,
    lat: float,
    lon: float,
    hae: float,
    ce: float,
    le: float,
    marking: Marking,
    exercise: bool,
) -> ET.Element:
    event = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": uid,
            "type": cot_type,
            "how": "m-f",
            "time": format_time(time_s),
            "start": format_time(time_s),
            "stale": format_time(max(stale_s, time_s + 1.0)),
            "access": access_text(marking),
            "opex": "e-kizuna" if exercise else "o-kizuna",
        },
    )
    ET.SubElement(
        event,
        "point",
        {
            "lat": f"{lat:.7f}",
            "lon": f"{_wrap(lon):.7f}",
            "hae": f"{hae:.1f}",
            "ce": f"{ce:.1f}",
            "le": f"{le:.1f}",
        },
    )
    detail = ET.SubElement(event, "detail")
    attrs = {
        "classification": marking.classification,
        "releasableTo": ",".join(marking.releasable_to),
        "exercise": "true" if exercise else "false",
    }
    if marking.released_by:
        attrs["releasedBy"] = marking.released_by
    ET.SubElement(detail, "marking", attrs)
    return event


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def _detail(event: ET.Element) -> ET.Element:
    found = event.find("detail")
    if found is None:  # never: _event always adds one
        raise ValueError("event without detail")
    return found


def _remarks(event: ET.Element, marking: Marking, *lines: str) -> None:
    text = "\n".join([access_text(marking), *[line for line in lines if line]])
    ET.SubElement(_detail(event), "remarks").text = text


def enu_velocity(lat_deg: float, lon_deg: float, v_ecef: Any) -> tuple[float, float, float]:
    """ECEF velocity (m/s) rotated into local east, north, up at a geodetic point."""
    phi, lam = math.radians(lat_deg), math.radians(lon_deg)
    vx, vy, vz = (float(c) for c in v_ecef)
    east = -math.sin(lam) * vx + math.cos(lam) * vy
    north = (
        -math.sin(phi) * math.cos(lam) * vx
        - math.sin(phi) * math.sin(lam) * vy
        + math.cos(phi) * vz
    )
    up = (
        math.cos(phi) * math.cos(lam) * vx + math.cos(phi) * math.sin(lam) * vy + math.sin(phi) * vz
    )
    return east, north, up


def track_event(envelope: Envelope, context: Context) -> ET.Element:
    p = envelope.product
    key = (envelope.origin_node, str(p["track_id"]))
    category = context.category.get(key, "unknown")
    cot_type = {"ballistic": TYPE_BALLISTIC, "orbital": TYPE_SPACE}.get(category, TYPE_MISSILE)
    t = parse_time(p["time"])
    marking = envelope.marking
    sigma = float(p["position_sigma_m"]) or UNKNOWN
    event = _event(
        f"kizuna.{key[0]}.{key[1]}",
        cot_type,
        time_s=t,
        stale_s=t + TRACK_STALE_S,
        lat=p["lat"],
        lon=p["lon"],
        hae=p["alt_m"],
        ce=sigma,
        le=sigma,
        marking=marking,
        exercise=bool(p["exercise"]),
    )
    east, north, up = enu_velocity(p["lat"], p["lon"], p["velocity_ecef_mps"])
    detail = _detail(event)
    ET.SubElement(detail, "contact", {"callsign": f"{key[1]} ({key[0]})"})
    ET.SubElement(
        detail,
        "track",
        {
            "course": f"{math.degrees(math.atan2(east, north)) % 360.0:.2f}",
            "speed": f"{math.hypot(east, north):.1f}",
        },
    )
    ET.SubElement(
        detail,
        "kizuna",
        {
            "kind": "track",
            "origin_node": key[0],
            "track_id": key[1],
            "phase": p["phase"],
            "category": category,
            "vertical_speed_mps": f"{up:.1f}",
            "sensors": ",".join(p["sensors"]),
            "nations": ",".join(p["nations"]),
        },
    )
    _remarks(
        event,
        marking,
        f"{category} missile track {key[1]}, phase {p['phase']}",
        f"altitude {p['alt_m'] / 1000:.1f} km",
        "EXERCISE" if p["exercise"] else "",
    )
    return event


def impact_event(envelope: Envelope) -> ET.Element | None:
    p = envelope.product
    impact = p.get("impact")
    if not impact:
        return None
    key = (envelope.origin_node, str(p["track_id"]))
    ellipse = impact["ellipse_95"]
    t = parse_time(p["time"])
    impact_t = parse_time(impact["time"])
    # CoT's ce is a 1-sigma circular error: the 95 % ellipse's semi-major axis over the 95 %
    # scale of a 2-D Gaussian is the 1-sigma error along the worst direction.
    ce = float(ellipse["semi_major_m"]) / CHI2_2DOF_95_SQRT
    event = _event(
        f"kizuna.{key[0]}.{key[1]}.impact",
        TYPE_IMPACT,
        time_s=t,
        stale_s=impact_t + AFTER_IMPACT_S,
        lat=impact["lat"],
        lon=impact["lon"],
        hae=0.0,
        ce=ce,
        le=UNKNOWN,
        marking=envelope.marking,
        exercise=bool(p["exercise"]),
    )
    detail = _detail(event)
    shape = ET.SubElement(detail, "shape")
    ET.SubElement(
        shape,
        "ellipse",
        {
            "major": f"{float(ellipse['semi_major_m']):.1f}",
            "minor": f"{float(ellipse['semi_minor_m']):.1f}",
            "angle": f"{float(ellipse['orientation_deg']):.2f}",
        },
    )
    ET.SubElement(detail, "strokeColor", {"value": str(LEVEL_ARGB["warning"])})
    ET.SubElement(detail, "fillColor", {"value": str(0x40FF0000)})  # ARGB, 25 % red
    ET.SubElement(detail, "contact", {"callsign": f"{key[1]} impact 95%"})
    ET.SubElement(
        detail,
        "kizuna",
        {
            "kind": "impact",
            "origin_node": key[0],
            "track_id": key[1],
            "impact_time": impact["time"],
            "category": p["category"],
        },
    )
    _remarks(
        event,
        envelope.marking,
        f"predicted impact of {key[1]} at {impact['time']}",
        "95 % ellipse",
        "EXERCISE" if p["exercise"] else "",
    )
    return event


def launch_event(envelope: Envelope) -> ET.Element | None:
    p = envelope.product
    launch = p.get("launch")
    if not launch:
        return None
    key = (envelope.origin_node, str(p["track_id"]))
    t = parse_time(p["time"])
    event = _event(
        f"kizuna.{key[0]}.{key[1]}.launch",
        TYPE_LAUNCH,
        time_s=t,
        stale_s=t + LAUNCH_STALE_S,
        lat=launch["lat"],
        lon=launch["lon"],
        hae=0.0,
        ce=float(launch["sigma_m"]) or UNKNOWN,
        le=UNKNOWN,
        marking=envelope.marking,
        exercise=bool(p["exercise"]),
    )
    detail = _detail(event)
    ET.SubElement(detail, "contact", {"callsign": f"{key[1]} launch"})
    ET.SubElement(
        detail,
        "kizuna",
        {
            "kind": "launch",
            "origin_node": key[0],
            "track_id": key[1],
            "launch_time": launch["time"],
        },
    )
    _remarks(
        event,
        envelope.marking,
        f"launch point of {key[1]} at {launch['time']}",
        "EXERCISE" if p["exercise"] else "",
    )
    return event


def alert_event(envelope: Envelope, context: Context) -> ET.Element:
    p = envelope.product
    origin = envelope.origin_node
    t = parse_time(p["time"])
    ended = p["status"] not in ("issued", "updated")
    if ended:
        stale = t + ENDED_ALERT_STALE_S
    elif p.get("impact_time"):
        stale = parse_time(p["impact_time"]) + AFTER_IMPACT_S
    else:
        stale = t + LAUNCH_STALE_S
    lat, lon = _alert_point(p, context.impact.get((origin, str(p["track_id"]))))
    event = _event(
        f"kizuna.{origin}.alert.{p['alert_id']}",
        TYPE_ALERT,
        time_s=t,
        stale_s=stale,
        lat=lat,
        lon=lon,
        hae=0.0,
        ce=UNKNOWN,
        le=UNKNOWN,
        marking=envelope.marking,
        exercise=bool(p["exercise"]),
    )
    detail = _detail(event)
    codes = ",".join(r["code"] for r in p["regions"])
    ET.SubElement(detail, "contact", {"callsign": f"{p['level'].upper()} {codes}"[:64]})
    ET.SubElement(detail, "color", {"argb": str(LEVEL_ARGB[p["level"]])})
    ET.SubElement(
        detail,
        "kizuna",
        {
            "kind": "alert",
            "origin_node": origin,
            "alert_id": str(p["alert_id"]),
            "track_id": str(p["track_id"]),
            "level": p["level"],
            "status": p["status"],
            "alert_kind": p["kind"],
            "regions": codes,
            "impact_time": p.get("impact_time") or "",
        },
    )
    message = p["message"]
    _remarks(
        event,
        envelope.marking,
        f"{p['level'].upper()} ({p['status']})",
        message["en"],
        message["ja"],
        message["ko"],
        "EXERCISE" if p["exercise"] else "",
    )
    return event


def _alert_point(p: dict[str, Any], impact: tuple[float, float] | None) -> tuple[float, float]:
    """Where to pin an alert: its track's predicted impact, else its first region."""
    if impact is not None:
        return impact
    from kizuna.geo.regions import load

    regions = load()
    for region in p["regions"]:
        if region["code"] in regions.by_code:
            point = regions[region["code"]].geometry.representative_point()
            return float(point.y), float(point.x)
    return 0.0, 0.0


PING_TYPE = "t-x-c-t"
PONG_TYPE = "t-x-c-t-r"


def pong_event(now_s: float | None = None) -> ET.Element:
    """The reply to a TAK client's ``t-x-c-t`` ping (times: now, stale in 20 s).

    It has a point and a detail, so it ends in ``</event>``: stream readers (pytak's among
    them) cut events at that tag and would wait forever for a self-closed one.
    """
    import time

    t = time.time() if now_s is None else now_s
    event = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": "takPong",
            "type": PONG_TYPE,
            "how": "h-g-i-g-o",
            "time": format_time(t),
            "start": format_time(t),
            "stale": format_time(t + 20.0),
        },
    )
    ET.SubElement(
        event,
        "point",
        {"lat": "0.0", "lon": "0.0", "hae": "9999999.0", "ce": "9999999.0", "le": "9999999.0"},
    )
    ET.SubElement(event, "detail")
    return event


def to_bytes(event: ET.Element) -> bytes:
    """One event as UTF-8 XML with declaration, as TAK streams carry them."""
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        event, encoding="utf-8", xml_declaration=False
    )


def events_for(envelope: Envelope, context: Context) -> list[ET.Element]:
    """Every CoT event one product becomes (updating ``context`` from predictions)."""
    if envelope.kind == "track":
        return [track_event(envelope, context)]
    if envelope.kind == "prediction":
        key = (envelope.origin_node, str(envelope.product["track_id"]))
        context.category[key] = envelope.product["category"]
        impact = envelope.product.get("impact")
        if impact:
            context.impact[key] = (float(impact["lat"]), float(impact["lon"]))
        return [e for e in (impact_event(envelope), launch_event(envelope)) if e is not None]
    if envelope.kind == "alert":
        return [alert_event(envelope, context)]
    return []


__all__ = [
    "PING_TYPE",
    "PONG_TYPE",
    "TYPE_ALERT",
    "TYPE_BALLISTIC",
    "TYPE_IMPACT",
    "TYPE_LAUNCH",
    "TYPE_MISSILE",
    "TYPE_SPACE",
    "Context",
    "access_text",
    "alert_event",
    "enu_velocity",
    "events_for",
    "impact_event",
    "launch_event",
    "pong_event",
    "to_bytes",
    "track_event",
]
