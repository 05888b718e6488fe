"""Propagation: Kepler's closed form, conservation, reference integrator, vectorisation."""

from __future__ import annotations

import numpy as np
import pytest

from kizuna.geo import enu_rotation, geodetic_altitude_m, lla_to_ecef
from kizuna.physics.constants import WGS84_GM_M3_S2
from kizuna.physics.dynamics import FULL, KEPLER, ForceModel, jacobi_energy
from kizuna.physics.propagate import propagate_fixed, propagate_reference, propagate_to_impact


def burnout_state(lat: float, lon: float, alt_m: float, v_enu: list[float]) -> np.ndarray:
    rot = enu_rotation(lat, lon)
    return np.concatenate([lla_to_ecef(lat, lon, alt_m), rot.T @ np.asarray(v_enu, float)])


def kepler_flight(r0: np.ndarray, v0: np.ndarray, r1: float) -> tuple[float, float]:
    """Closed-form two-body flight from state (r0, v0) down to radius r1 (descending branch).

    Returns (time of flight s, central angle rad). Elliptic orbit: a from vis-viva,
    e from the eccentricity vector, eccentric anomaly E from r = a (1 - e cos E), time from
    Kepler's equation M = E - e sin E (Bate, Mueller & White, ch. 4).
    """
    mu = WGS84_GM_M3_S2
    r0n = np.linalg.norm(r0)
    a = 1.0 / (2.0 / r0n - v0 @ v0 / mu)
    h = np.cross(r0, v0)
    e_vec = np.cross(v0, h) / mu - r0 / r0n
    e = np.linalg.norm(e_vec)
    n = np.sqrt(mu / a**3)
    ascending = r0 @ v0 > 0
    nu0 = np.arccos(np.clip(e_vec @ r0 / (e * r0n), -1, 1))
    nu0 = nu0 if ascending else 2 * np.pi - nu0
    nu1 = 2 * np.pi - np.arccos(np.clip((a * (1 - e**2) / r1 - 1) / e, -1, 1))

    def mean_anomaly(nu: float) -> float:
        big_e = 2 * np.arctan(np.sqrt((1 - e) / (1 + e)) * np.tan(nu / 2))
        return (big_e - e * np.sin(big_e)) % (2 * np.pi)

    return (mean_anomaly(nu1) - mean_anomaly(nu0)) / n, nu1 - nu0


@pytest.mark.parametrize("v_enu", [[3000.0, 1000.0, 3000.0], [0.0, 5000.0, 2000.0],
                                   [5500.0, 0.0, 1800.0]])
def test_two_body_flight_matches_kepler(v_enu: list[float]) -> None:
    # J2, rotation and drag off: a Keplerian arc. Issue 2 asks for 0.1 %; RK4 gives ~1e-7.
    state = burnout_state(39.0, 125.7, 150e3, v_enu)
    impact = propagate_to_impact(state, 0.0, forces=KEPLER)
    assert impact.hit[0]
    r_impact = impact.state[0, :3]
    time_s, angle_rad = kepler_flight(state[:3], state[3:], float(np.linalg.norm(r_impact)))
    flown_angle = np.arccos(state[:3] @ r_impact / np.linalg.norm(state[:3])
                            / np.linalg.norm(r_impact))
    assert impact.time_s[0] == pytest.approx(time_s, rel=1e-6)
    assert flown_angle == pytest.approx(angle_rad, rel=1e-6)
    assert abs(geodetic_altitude_m(r_impact)) < 1e-3  # impact on the ellipsoid, sub-mm


@pytest.mark.parametrize("forces", [KEPLER, ForceModel(drag=False)])
def test_energy_conserved_over_thirty_minutes(forces: ForceModel) -> None:
    # Specific energy (two-body) or the Jacobi integral (J2 in the rotating frame) is a
    # constant of drag-free motion; 5 s RK4 steps must keep it to 1e-9 relative for 30 min.
    state = burnout_state(39.0, 125.7, 400e3, [1000.0, 2000.0, 6000.0])
    _times, states = propagate_fixed(state, 1800.0, 5.0, forces=forces)
    energy = jacobi_energy(states[:, 0], forces)
    assert np.max(np.abs(energy / energy[0] - 1.0)) < 1e-9


def test_rk4_agrees_with_adaptive_reference_with_full_forces() -> None:
    state = burnout_state(40.6, 126.4, 120e3, [2500.0, 600.0, 2600.0])
    fast = propagate_to_impact(state, 100.0, 5000.0, FULL)
    reference = propagate_reference(state, 100.0, 5000.0, FULL)
    assert np.linalg.norm(fast.state[0, :3] - reference.state[0, :3]) < 1.0  # metres
    assert fast.time_s[0] == pytest.approx(reference.time_s[0], abs=1e-3)
    assert fast.apogee_m[0] == pytest.approx(reference.apogee_m[0], abs=5.0)


@pytest.mark.parametrize("beta", [500.0, 800.0])
def test_high_drag_slow_fall_agrees_with_adaptive_reference(beta: float) -> None:
    # A low-beta object from 60 km at 2 km/s: decelerates to ~100 m/s terminal speed and
    # falls for minutes, the case that took 600+ fixed 0.25 s steps. Same bound as above.
    state = burnout_state(40.0, 130.0, 60e3, [1700.0, 0.0, -1000.0])
    fast = propagate_to_impact(state, 0.0, beta, FULL)
    reference = propagate_reference(state, 0.0, beta, FULL)
    assert fast.time_s[0] > 100.0  # really slow: 160 s (beta 500) from 60 km
    assert np.linalg.norm(fast.state[0, :3] - reference.state[0, :3]) < 1.0  # metres
    assert fast.time_s[0] == pytest.approx(reference.time_s[0], abs=1e-3)
    assert np.linalg.norm(fast.state[0, 3:]) < 150.0  # near terminal speed at the ground


def test_recorded_grid_is_interpolated_from_the_steps_accurately() -> None:
    # The shared record grid (5 s in vacuum, finer below 120 / 30 km) is filled from the
    # adaptive steps by quintic Hermite interpolation; it must match fixed fine RK4 stepping.
    state = burnout_state(40.6, 126.4, 120e3, [2500.0, 600.0, 2600.0])
    record: list[tuple[float, np.ndarray]] = []
    result = propagate_to_impact(state, 0.0, 5000.0, FULL, record=record)
    elapsed = np.array([e for e, _ in record])
    assert np.all(np.diff(elapsed) > 0)
    assert elapsed[-1] == pytest.approx(result.time_s[0], abs=1e-9)
    assert np.allclose(record[-1][1][0], result.state[0])
    assert np.min(np.diff(elapsed)[:-1]) == pytest.approx(0.25)  # below 30 km
    assert np.max(np.diff(elapsed)) == pytest.approx(5.0)  # vacuum midcourse
    _times, fine = propagate_fixed(state, 200.0, 0.05, 5000.0, FULL)
    checked = 0
    for e, s in record:
        if e <= 200.0 and abs(e / 0.05 - round(e / 0.05)) < 1e-6:
            expected = fine[round(e / 0.05), 0]
            assert np.linalg.norm(s[0, :3] - expected[:3]) < 0.05  # metres
            assert np.linalg.norm(s[0, 3:] - expected[3:]) < 1e-3  # m/s
            checked += 1
    assert checked >= 10, checked  # the comparison ran on the grid, not on nothing


def test_vectorised_equals_one_by_one() -> None:
    rng = np.random.default_rng(7)
    base = burnout_state(39.2, 127.5, 80e3, [1500.0, 300.0, 1500.0])
    states = base + rng.normal(size=(6, 6)) * [200, 200, 200, 20, 20, 20]
    betas = rng.uniform(2000, 9000, 6)
    together = propagate_to_impact(states, 5.0, betas)
    for i in range(6):
        alone = propagate_to_impact(states[i], 5.0, betas[i])
        # Batches step at the pace of their lowest member, so the grids differ; both are
        # converged to well under a metre.
        assert np.linalg.norm(alone.state[0, :3] - together.state[i, :3]) < 0.5
        assert alone.time_s[0] == pytest.approx(together.time_s[i], abs=1e-3)


def test_orbit_never_impacts() -> None:
    altitude = 400e3
    radius = np.linalg.norm(lla_to_ecef(0.0, 0.0, altitude))
    speed = np.sqrt(WGS84_GM_M3_S2 / radius)
    state = burnout_state(0.0, 0.0, altitude, [speed, 0.0, 0.0])
    result = propagate_to_impact(state, 0.0, forces=KEPLER, max_duration_s=3600.0)
    assert not result.hit[0]
