"""Synthetic predictions and ground tracks for the warning tests."""

from __future__ import annotations

import itertools

import numpy as np

from kizuna.contract import Marking, PredictionProduct
from kizuna.geo.geodesic import direct, inverse
from kizuna.timefmt import format_time
from kizuna.warning import GroundTrack

NOW = 1_795_000_000.0  # 2026-11-18T...Z, any fixed instant
MARKING = Marking(classification="SECRET", releasable_to=["JPN", "KOR", "USA"])


def prediction(
    lat: float,
    lon: float,
    impact_in_s: float = 600.0,
    *,
    now: float = NOW,
    a_m: float = 20_000.0,
    b_m: float = 8_000.0,
    orientation_deg: float = 90.0,
    category: str = "ballistic",
    exercise: bool = False,
    track_id: str = "T1",
    impact: bool = True,
    marking: Marking = MARKING,
) -> PredictionProduct:
    return PredictionProduct(
        track_id=track_id,
        time=format_time(now),
        category=category,
        impact=(
            {
                "time": format_time(now + impact_in_s),
                "lat": lat,
                "lon": lon,
                "ellipse_95": {
                    "semi_major_m": a_m,
                    "semi_minor_m": b_m,
                    "orientation_deg": orientation_deg,
                },
            }
            if impact
            else None
        ),
        launch=None,
        apogee_km=None,
        range_km=None,
        marking=marking,
        exercise=exercise,
    )


def great_circle_track(
    lat0: float,
    lon0: float,
    lat1: float,
    lon1: float,
    t0: float,
    t1: float,
    apogee_m: float,
    n: int = 200,
) -> GroundTrack:
    """A ground track along the geodesic from 0 to 1 with a sine-shaped altitude profile."""
    dist, az = inverse(lat0, lon0, lat1, lon1)
    s = np.linspace(0.0, float(dist), n)
    lat, lon = direct(np.full(n, lat0), np.full(n, lon0), np.full(n, float(az)), s)
    t = np.linspace(t0, t1, n)
    alt = apogee_m * np.sin(np.linspace(0.0, np.pi, n))
    return GroundTrack.from_arrays(t, lat, lon, alt)


def waypoint_track(
    points: list[tuple[float, float]], t0: float, t1: float, apogee_m: float, n: int = 300
) -> GroundTrack:
    """Geodesic legs through ``points``, time proportional to distance, one altitude arch."""
    legs = [inverse(*p, *q) for p, q in itertools.pairwise(points)]
    total = sum(float(d) for d, _ in legs)
    lats, lons = [], []
    for (p, _), (dist, az) in zip(itertools.pairwise(points), legs, strict=True):
        k = max(2, round(n * float(dist) / total))
        s = np.linspace(0.0, float(dist), k, endpoint=False)
        lat, lon = direct(np.full(k, p[0]), np.full(k, p[1]), np.full(k, float(az)), s)
        lats.append(lat)
        lons.append(lon)
    lats.append(np.array([points[-1][0]]))
    lons.append(np.array([points[-1][1]]))
    lat, lon = np.concatenate(lats), np.concatenate(lons)
    m = lat.size
    alt = apogee_m * np.sin(np.linspace(0.0, np.pi, m))
    return GroundTrack.from_arrays(np.linspace(t0, t1, m), lat, lon, alt)
