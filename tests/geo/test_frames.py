"""WGS84 frames agree with pymap3d (the contract's definition) and broadcast as documented."""

from __future__ import annotations

import numpy as np
import pymap3d
import pytest

from kizuna.geo import (
    aer_to_ecef,
    ecef_to_aer,
    ecef_to_enu,
    ecef_to_lla,
    enu_rotation,
    enu_to_ecef,
    lla_to_ecef,
)
from kizuna.geo.geodesic import direct, inverse

rng = np.random.default_rng(20261125)


def test_ecef_to_aer_matches_pymap3d_exactly() -> None:
    # The contract defines radar AER as pymap3d.ecef2aer; ours must be the same numbers.
    targets = lla_to_ecef(rng.uniform(25, 45, 200), rng.uniform(120, 150, 200),
                          rng.uniform(0, 1.5e6, 200))
    lat0, lon0, h0 = 31.68, 129.72, 100.0  # FPS-5 Shimokoshiki (shared/data/sensors.csv)
    az, el, rng_m = ecef_to_aer(targets, lat0, lon0, h0)
    ref_az, ref_el, ref_rng = pymap3d.ecef2aer(*targets.T, lat0, lon0, h0, deg=True)
    np.testing.assert_allclose(az, ref_az, atol=1e-9)
    np.testing.assert_allclose(el, ref_el, atol=1e-9)
    np.testing.assert_allclose(rng_m, ref_rng, rtol=1e-12)


def test_round_trips() -> None:
    lat, lon, alt = rng.uniform(-80, 80, 50), rng.uniform(-180, 180, 50), rng.uniform(0, 2e6, 50)
    back = ecef_to_lla(lla_to_ecef(lat, lon, alt))
    np.testing.assert_allclose(back[0], lat, atol=1e-9)
    np.testing.assert_allclose(back[2], alt, atol=1e-4)
    r = lla_to_ecef(lat, lon, alt)
    az, el, rr = ecef_to_aer(r, 35.0, 139.0, 10.0)
    np.testing.assert_allclose(aer_to_ecef(az, el, rr, 35.0, 139.0, 10.0), r, atol=1e-6)
    np.testing.assert_allclose(enu_to_ecef(ecef_to_enu(r, 35, 139, 0), 35, 139, 0), r, atol=1e-6)


def test_enu_rotation_is_orthonormal_and_broadcasts() -> None:
    rot = enu_rotation(np.zeros((4, 5)), np.ones((4, 5)))
    assert rot.shape == (4, 5, 3, 3)
    identity = np.broadcast_to(np.eye(3), rot.shape)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), identity, atol=1e-15)
    assert lla_to_ecef(np.zeros((2, 3)), 0.0, 0.0).shape == (2, 3, 3)


def test_geodesic_against_published_quarter_meridian() -> None:
    # WGS84 quarter meridian, equator to pole: 10,001,965.729 m (NGA TR8350.2 derived
    # constants; also GeographicLib's documentation). A geodesic library gets this to 1 mm.
    dist, azimuth = inverse(0.0, 0.0, 90.0, 0.0)
    assert dist == pytest.approx(10_001_965.729, abs=1e-3)
    assert azimuth == pytest.approx(0.0, abs=1e-9)


def test_direct_inverts_inverse() -> None:
    # Tokyo Station to Seoul City Hall and back along the geodesic.
    dist, azimuth = inverse(35.6812, 139.7671, 37.5663, 126.9779)
    assert 1_100e3 < dist < 1_200e3
    lat2, lon2 = direct(35.6812, 139.7671, azimuth, dist)
    assert lat2 == pytest.approx(37.5663, abs=1e-9)
    assert lon2 == pytest.approx(126.9779, abs=1e-9)
