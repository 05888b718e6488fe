"""Ballistic, orbital or unknown, decided for the whole state distribution."""

from __future__ import annotations

import numpy as np

from kizuna.geo.constants import WGS84_GM_M3_S2, WGS84_OMEGA_RAD_S
from kizuna.prediction.category import classify, perigee_altitude_m


def _circular(altitude_m: float, speed_factor: float = 1.0) -> np.ndarray:
    r = 6_378_137.0 + altitude_m
    v = np.sqrt(WGS84_GM_M3_S2 / r) * speed_factor
    # Over the equator moving east; ECEF velocity is inertial minus the ground's w r.
    return np.array([r, 0.0, 0.0, 0.0, v - WGS84_OMEGA_RAD_S * r, 0.0])


def test_circular_orbit_is_orbital_and_perigee_is_its_altitude():
    x = _circular(400e3)
    assert perigee_altitude_m(x) == np.float64(perigee_altitude_m(x))
    assert abs(perigee_altitude_m(x) - 400e3) < 1.0
    assert classify(x[None], np.diag([100.0] * 3 + [1.0] * 3)[None]).tolist() == ["orbital"]


def test_escape_is_orbital_and_suborbital_is_ballistic():
    assert classify(_circular(400e3, 1.5)[None]).tolist() == ["orbital"]
    assert classify(_circular(400e3, 0.9)[None]).tolist() == ["ballistic"]


def test_missile_is_ballistic_and_boost_is_unknown(srbm):
    P = np.diag([100.0] * 3 + [1.0] * 3)
    out = classify(
        np.stack([srbm.burnout, srbm.burnout]), np.stack([P, P]), np.array(["midcourse", "boost"])
    )
    assert out.tolist() == ["ballistic", "unknown"]


def test_distribution_straddling_orbit_is_unknown():
    # Circular speed at 200 km with a 150 m/s 1-sigma: some sigma points dive into the air.
    x = _circular(200e3)
    P = np.diag([100.0] * 3 + [150.0**2] * 3)
    assert classify(x[None], P[None]).tolist() == ["unknown"]
    assert classify(x[None], (P / 1e4)[None]).tolist() == ["orbital"]
