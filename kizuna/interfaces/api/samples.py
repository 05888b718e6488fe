"""Synthetic contract products for the interfaces' tests and for trying the map by hand.

Every function returns a valid contract object (validated by its pydantic model); positions
follow a simple great-circle-free straight line in degrees, which is all a display test needs.
"""

from __future__ import annotations

from typing import Any

from kizuna.contract import AlertProduct, Marking, PredictionProduct, TrackProduct
from kizuna.sharing import Agreement, Envelope
from kizuna.timefmt import format_time

T0 = 1795576365.0  # 2026-11-25T03:12:45Z, the contract's example instant


def marking(
    *nations: str, classification: str = "SECRET", released_by: str | None = None
) -> Marking:
    return Marking(
        classification=classification,
        releasable_to=list(nations) or ["USA"],
        released_by=released_by,
    )


def track(
    track_id: str = "T1",
    *,
    t: float = T0,
    lat: float = 39.0,
    lon: float = 128.0,
    alt_m: float = 300_000.0,
    mark: Marking | None = None,
    exercise: bool = False,
    phase: str = "midcourse",
) -> TrackProduct:
    return TrackProduct(
        track_id=track_id,
        time=format_time(t),
        lat=lat,
        lon=lon,
        alt_m=alt_m,
        velocity_ecef_mps=(-1500.0, 2500.0, 500.0),
        position_sigma_m=120.0,
        sensors=["JPN-FPS5-1", "USA-TPY2-1"],
        nations=["JPN", "USA"],
        phase=phase,  # type: ignore[arg-type]
        marking=mark or marking("JPN", "KOR", "USA", released_by="JPN-PICTURE"),
        exercise=exercise,
    )


def prediction(
    track_id: str = "T1",
    *,
    t: float = T0,
    impact_lat: float = 40.8,
    impact_lon: float = 141.0,
    impact_in_s: float = 300.0,
    category: str = "ballistic",
    mark: Marking | None = None,
    exercise: bool = False,
) -> PredictionProduct:
    data: dict[str, Any] = {
        "track_id": track_id,
        "time": format_time(t),
        "category": category,
        "impact": {
            "time": format_time(t + impact_in_s),
            "lat": impact_lat,
            "lon": impact_lon,
            "ellipse_95": {
                "semi_major_m": 60_000.0,
                "semi_minor_m": 25_000.0,
                "orientation_deg": 70.0,
            },
        }
        if category == "ballistic"
        else None,
        "launch": {"time": format_time(t - 200.0), "lat": 39.3, "lon": 125.7, "sigma_m": 3000.0},
        "apogee_km": 950.0,
        "range_km": 1200.0,
        "marking": (mark or marking("JPN", "KOR", "USA", released_by="JPN-PICTURE")).model_dump(),
        "exercise": exercise,
    }
    return PredictionProduct.model_validate(data)


def alert(
    alert_id: str = "A1",
    track_id: str = "T1",
    *,
    t: float = T0,
    status: str = "issued",
    level: str = "warning",
    impact_in_s: float = 300.0,
    regions: list[dict[str, str]] | None = None,
    mark: Marking | None = None,
    exercise: bool = False,
) -> AlertProduct:
    return AlertProduct.model_validate(
        {
            "alert_id": alert_id,
            "track_id": track_id,
            "time": format_time(t),
            "kind": "impact",
            "level": level,
            "status": status,
            "regions": regions or [{"kind": "prefecture", "code": "JP-02", "name": "Aomori"}],
            "impact_time": format_time(t + impact_in_s),
            "message": {
                "en": "Missile launch. Impact expected in Aomori. Take shelter.",
                "ja": "ミサイル発射。青森県に落下のおそれ。避難してください。",
                "ko": "미사일 발사. 아오모리현 낙하 예상. 대피하십시오.",
            },
            "marking": (
                mark or marking("JPN", "KOR", "USA", released_by="JPN-ALERT-ALL")
            ).model_dump(),
            "exercise": exercise,
        }
    )


def wrap(product: Any, origin_node: str, agreement: Agreement) -> Envelope:
    """The envelope ``origin_node`` would publish ``product`` in."""
    return Envelope.of(product, origin_node=origin_node, agreement=agreement)


__all__ = ["T0", "alert", "marking", "prediction", "track", "wrap"]
