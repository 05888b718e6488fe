"""Contract objects for the store tests (valid per DESIGN.md section 4, example values)."""

from __future__ import annotations

from typing import Any

from kizuna.contract import AlertProduct, PredictionProduct, TrackProduct, parse_report
from kizuna.store.base import AnyReport
from kizuna.timefmt import format_time, parse_time

T0_S = parse_time("2026-11-25T03:00:00.000Z")

_SENSOR = {"id": "JPN-FPS5-1", "nation": "JPN", "lat": 31.95, "lon": 130.55, "alt_m": 100.0}
_MARKING = {"classification": "SECRET", "releasable_to": ["USA", "JPN"]}


def report(
    report_id: str, t_s: float, *, kind: str = "radar", range_m: float = 812_345.0
) -> AnyReport:
    """A valid report of ``kind`` at POSIX time ``t_s`` (DESIGN.md section 4 example values)."""
    base: dict[str, Any] = {
        "id": report_id,
        "time": format_time(t_s),
        "sensor": {
            "id": "JPN-FPS5-1",
            "nation": "JPN",
            "lat": 31.95,
            "lon": 130.55,
            "alt_m": 100.0,
        },
        "marking": _MARKING,
        "exercise": False,
        "kind": kind,
    }
    if kind == "radar":
        base |= {
            "range_m": range_m,
            "azimuth_deg": 301.2,
            "elevation_deg": 12.3,
            "sigma": {"range_m": 50.0, "azimuth_deg": 0.05, "elevation_deg": 0.05},
        }
    elif kind == "launch":
        base |= {"lat": 39.0, "lon": 125.7, "sigma_m": 2000.0}
    else:
        base |= {"lat": 38.0, "lon": 131.0, "alt_m": 250_000.0, "sigma_m": 300.0}
    return parse_report(base)


def track(track_id: str, time: str, *, alt_m: float = 250_000.0) -> TrackProduct:
    return TrackProduct.model_validate(
        {
            "track_id": track_id,
            "time": time,
            "lat": 38.5,
            "lon": 131.5,
            "alt_m": alt_m,
            "velocity_ecef_mps": [1000.0, -2000.0, 500.0],
            "position_sigma_m": 150.0,
            "sensors": ["JPN-FPS5-1"],
            "nations": ["JPN"],
            "phase": "midcourse",
            "marking": _MARKING,
            "exercise": False,
        }
    )


def prediction(track_id: str, time: str) -> PredictionProduct:
    return PredictionProduct.model_validate(
        {
            "track_id": track_id,
            "time": time,
            "category": "ballistic",
            "impact": {
                "time": "2026-11-25T03:10:00.000Z",
                "lat": 40.0,
                "lon": 138.0,
                "ellipse_95": {
                    "semi_major_m": 20_000.0,
                    "semi_minor_m": 8_000.0,
                    "orientation_deg": 80.0,
                },
            },
            "launch": {
                "time": "2026-11-25T03:00:00.000Z",
                "lat": 39.0,
                "lon": 125.7,
                "sigma_m": 3000.0,
            },
            "apogee_km": 600.0,
            "range_km": 1000.0,
            "marking": _MARKING,
            "exercise": False,
        }
    )


def alert(alert_id: str, time: str, status: str = "issued") -> AlertProduct:
    return AlertProduct.model_validate(
        {
            "alert_id": alert_id,
            "track_id": "T1",
            "time": time,
            "kind": "impact",
            "level": "advisory",
            "status": status,
            "regions": [{"kind": "eez", "code": "JPN-EEZ", "name": "Japan EEZ"}],
            "impact_time": "2026-11-25T03:10:00.000Z",
            "message": {"en": "Missile", "ja": "ミサイル", "ko": "미사일"},
            "marking": {"classification": "UNCLASSIFIED", "releasable_to": ["USA", "JPN", "KOR"]},
            "exercise": False,
        }
    )
