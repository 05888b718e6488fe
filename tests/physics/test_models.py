"""Gravity and atmosphere against published figures."""

from __future__ import annotations

import numpy as np
import pytest

from kizuna.geo import lla_to_ecef
from kizuna.physics.atmosphere import density_kg_m3, density_model_kg_m3
from kizuna.physics.dynamics import (
    FULL,
    KEPLER,
    ForceModel,
    acceleration_ecef,
    state_jacobian,
)
from kizuna.physics.gravity import gravity_ecef, gravity_gradient_ecef


@pytest.mark.parametrize(
    ("altitude_m", "density"),
    [  # U.S. Standard Atmosphere 1976 (NOAA-S/T 76-1562), Table I, geometric altitude
        (0.0, 1.2250),
        (10_000.0, 4.1351e-1),
        (20_000.0, 8.8910e-2),
        (30_000.0, 1.8410e-2),
        (50_000.0, 1.0269e-3),
        (80_000.0, 1.8458e-5),
    ],
)
def test_density_matches_us_standard_atmosphere_1976(altitude_m: float, density: float) -> None:
    # The table prints five significant figures: 0.01 % is its own rounding.
    assert density_model_kg_m3(altitude_m) == pytest.approx(density, rel=1e-4)
    # The interpolated table used by the propagators stays within 0.05 % of the model.
    assert density_kg_m3(altitude_m) == pytest.approx(density, rel=5e-4)


def test_density_above_86_km_follows_vallado_table() -> None:
    # Vallado, Fundamentals of Astrodynamics, Table 8-4 base densities.
    for altitude_km, rho in [(100, 5.297e-7), (200, 2.789e-10), (500, 6.967e-13)]:
        assert density_model_kg_m3(altitude_km * 1e3) == pytest.approx(rho, rel=1e-9)
    z = np.linspace(0.0, 1.4e6, 20001)
    assert np.all(np.diff(density_model_kg_m3(z)) < 0)  # monotone, no seams


def test_effective_gravity_matches_wgs84_normal_gravity() -> None:
    # WGS84 normal gravity on the ellipsoid (NGA TR8350.2 Table 3.4): 9.7803253359 m/s^2 at the
    # equator, 9.8321849378 at the poles. J2 plus centrifugal reproduces them to ~2e-5 (the
    # remaining difference is J4 and higher zonals, which we neglect on purpose).
    equator = lla_to_ecef(0.0, 0.0, 0.0)
    pole = lla_to_ecef(90.0, 0.0, 0.0)
    zero = np.zeros(3)
    g_eq = np.linalg.norm(acceleration_ecef(equator, zero, forces=FULL))
    g_pole = np.linalg.norm(acceleration_ecef(pole, zero, forces=FULL))
    assert g_eq == pytest.approx(9.7803253359, rel=5e-5)
    assert g_pole == pytest.approx(9.8321849378, rel=5e-5)


def test_jacobian_matches_finite_differences() -> None:
    state = np.concatenate([lla_to_ecef(38.0, 133.0, 60e3), [1500.0, -800.0, -2500.0]])
    for forces in (FULL, KEPLER):
        analytic = state_jacobian(state, 3000.0, forces)
        numeric = np.empty((6, 6))
        for j in range(6):
            step = 1.0 if j < 3 else 1e-2
            dx = np.zeros(6)
            dx[j] = step

            def f(x: np.ndarray, forces: ForceModel = forces) -> np.ndarray:
                return np.concatenate([x[3:], acceleration_ecef(x[:3], x[3:], 3000.0, forces)])

            numeric[:, j] = (f(state + dx) - f(state - dx)) / (2 * step)
        np.testing.assert_allclose(analytic[:, 3:], numeric[:, 3:], rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(analytic[:3, :3], numeric[:3, :3], atol=1e-12)
        # Position partials: the altitude gradient is taken along the radius rather than the
        # ellipsoid normal, worth ~0.3 % of the drag term (~3e-5 s^-2 here).
        np.testing.assert_allclose(analytic[3:, :3], numeric[3:, :3], rtol=1e-2, atol=2e-7)


def test_gravity_broadcasts() -> None:
    r = lla_to_ecef(np.zeros((3, 4)), 0.0, 1e5)
    assert gravity_ecef(r).shape == (3, 4, 3)
    assert gravity_gradient_ecef(r).shape == (3, 4, 3, 3)
    assert state_jacobian(np.zeros((5, 6)) + [7e6, 0, 0, 0, 7e3, 0]).shape == (5, 6, 6)


def _potential_beyond_j2(r: np.ndarray) -> np.ndarray:
    """EGM2008 potential minus point mass and J2 (J/kg), summed term by term from scipy's
    associated Legendre functions: independent of the recursions under test."""
    from math import factorial

    from scipy.special import lpmv

    from kizuna.physics.constants import WGS84_A_M, WGS84_GM_M3_S2
    from kizuna.physics.gravity import EGM2008_NORMALIZED

    rn = np.linalg.norm(r, axis=-1)
    sin_lat = r[..., 2] / rn
    lon = np.arctan2(r[..., 1], r[..., 0])
    total = np.zeros_like(rn)
    for (n, m), (c, s) in EGM2008_NORMALIZED.items():
        norm = np.sqrt((2.0 - (m == 0)) * (2 * n + 1) * factorial(n - m) / factorial(n + m))
        legendre = (-1.0) ** m * lpmv(m, n, sin_lat)  # without the Condon-Shortley phase
        harmonic = c * np.cos(m * lon) + s * np.sin(m * lon)
        total += (WGS84_A_M / rn) ** n * norm * legendre * harmonic
    return WGS84_GM_M3_S2 / rn * total


def test_geopotential_beyond_j2_is_the_gradient_of_the_egm2008_potential() -> None:
    from kizuna.physics.gravity import geopotential_beyond_j2_ecef

    rng = np.random.default_rng(3)
    lat = rng.uniform(-89.0, 89.0, 40)
    r = lla_to_ecef(lat, rng.uniform(-180.0, 180.0, 40), rng.uniform(0.0, 2.0e6, 40))
    step = 10.0
    numeric = np.stack(
        [(_potential_beyond_j2(r + step * e) - _potential_beyond_j2(r - step * e)) / (2 * step)
         for e in np.eye(3)], axis=-1)
    a = geopotential_beyond_j2_ecef(r)
    # Sign: the acceleration is +grad of this potential (U = GM/r (1 + sum ...)).
    assert np.abs(a - numeric).max() < 1e-6 * np.abs(numeric).max()
    # Size: 1e-4 m/s^2 near the ground (the J3 term alone is ~4 J3 g; Kaula's rule for the
    # rest), a few 1e-5 at 2,000 km: what a J2-only filter's process noise stands for.
    assert 2e-5 < np.median(np.linalg.norm(a, axis=-1)) < 5e-4
