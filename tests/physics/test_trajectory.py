"""Trajectory design and sampling."""

from __future__ import annotations

import numpy as np
import pytest

from kizuna.errors import PhysicsError
from kizuna.geo import enu_rotation, geodetic_altitude_m
from kizuna.physics.boost import LaunchGeometry, _rk4_powered, fly_boost
from kizuna.physics.propagate import propagate_fixed
from kizuna.physics.trajectory import Trajectory, design_for_apogee, design_min_energy

WONSAN = LaunchGeometry(39.17, 127.48, 80.0)  # Wonsan/Kalma, shared/data/sensors.csv


@pytest.fixture(scope="module")
def srbm():
    return design_min_energy(WONSAN, 600e3)


def test_min_energy_uses_less_energy_than_lofted_or_depressed(srbm) -> None:
    lofted = design_for_apogee(WONSAN, 600e3, 1.5 * srbm.apogee_m)
    depressed = design_for_apogee(WONSAN, 600e3, 0.6 * srbm.apogee_m)
    assert srbm.range_m == pytest.approx(600e3, rel=1e-3)
    assert srbm.burn_s < lofted.burn_s
    assert srbm.burn_s < depressed.burn_s
    # Minimum-energy ballistic flights peak near a quarter of their range for short ranges.
    assert 0.15 < srbm.apogee_m / srbm.range_m < 0.35


def test_sampled_trajectory_starts_on_pad_and_ends_at_impact(srbm) -> None:
    trajectory = srbm.trajectory(launch_time_s=1_000.0, dt_s=1.0)
    assert trajectory.start_s == 1_000.0
    assert trajectory.end_s == pytest.approx(1_000.0 + srbm.flight_time_s, abs=1e-6)
    assert abs(geodetic_altitude_m(trajectory.state[0, :3]) - 0.0) < 1.0
    assert abs(geodetic_altitude_m(trajectory.state[-1, :3])) < 1.0
    assert trajectory.powered[0] and not trajectory.powered[-1]
    # Interpolation between samples is consistent with the samples' own velocities.
    mid = 1_000.0 + 0.5 * srbm.flight_time_s
    a, b = trajectory.state_at(mid - 0.05), trajectory.state_at(mid + 0.05)
    np.testing.assert_allclose((b[:3] - a[:3]) / 0.1, trajectory.state_at(mid)[3:], rtol=1e-5)


def test_interpolation_across_burnout_matches_a_fine_propagation(srbm) -> None:
    """Within 2 s of burnout the 1 s truth, between its samples, is the flight flown again in
    0.005 s steps: from the boost's own RK4 state 2-3 s before burnout, and from the burnout
    state on. Differencing velocities across the cut was off by 1.3 m and 14 m/s here."""
    launch_s, burn = 1_000.0, srbm.burn_s
    trajectory = srbm.trajectory(launch_time_s=launch_s, dt_s=1.0)
    _, trace = fly_boost(srbm.geometry, srbm.vehicle, burn, srbm.burnout_pitch_deg, srbm.forces,
                         record=True)
    k = max(i for i, (t, _) in enumerate(trace) if t[0] <= burn - 2.0)
    t0, state = float(trace[k][0][0]), trace[k][1]
    steps = 600
    h = (burn - t0) / steps
    normal = srbm.geometry.plane_normal_ecef()
    up0 = enu_rotation(srbm.geometry.lat_deg, srbm.geometry.lon_deg)[2]
    powered_t, powered_x = [], []
    for i in range(steps):
        state = _rk4_powered(state, np.array([t0 + i * h]), np.array([h]), np.array([burn]),
                             np.array([srbm.burnout_pitch_deg]), srbm.vehicle, normal, up0,
                             srbm.forces)
        powered_t.append(t0 + (i + 1) * h)
        powered_x.append(state[0])
    coast_t, coast_x = propagate_fixed(srbm.burnout_state[None], 2.0, h,
                                       srbm.vehicle.ballistic_coefficient_kg_m2, srbm.forces)
    times = np.concatenate([powered_t, burn + coast_t])
    reference = np.vstack([powered_x, coast_x[:, 0]])
    between = np.abs(times - np.round(times)) > 0.01  # not at (or next to) a sample
    assert np.sum(between & (times < burn)) > 100 and np.sum(between & (times > burn)) > 100
    got = trajectory.state_at(launch_s + times[between])
    error_r = np.linalg.norm(got[:, :3] - reference[between, :3], axis=-1)
    error_v = np.linalg.norm(got[:, 3:] - reference[between, 3:], axis=-1)
    assert error_r.max() < 0.02  # m
    assert error_v.max() < 0.1  # m/s


def test_cuts_split_the_spline_where_the_acceleration_jumps() -> None:
    """A body under 30, then 5 (a stage lighting, powered throughout), then 0 m/s^2 (burnout)
    along x, sampled every second: with the cuts given, the interpolation is exact."""
    cut1, cut2 = 4.0, 7.0

    def exact(t: np.ndarray) -> np.ndarray:
        a = np.select([t < cut1, t < cut2], [30.0, 5.0], 0.0)
        start = np.select([t < cut1, t < cut2], [0.0, cut1], cut2)
        v0 = np.select([t < cut1, t < cut2], [0.0, 30.0 * cut1], 30.0 * cut1 + 5.0 * (cut2 - cut1))
        x0 = np.select([t < cut1, t < cut2], [0.0, 15.0 * cut1**2],
                       15.0 * cut1**2 + 30.0 * cut1 * (cut2 - cut1) + 2.5 * (cut2 - cut1) ** 2)
        dt = t - start
        out = np.zeros(t.shape + (6,))
        out[..., 0] = x0 + v0 * dt + 0.5 * a * dt**2
        out[..., 3] = v0 + a * dt
        return out

    knots = np.arange(0.0, 11.0)
    trajectory = Trajectory(knots, exact(knots), knots < cut2, np.array([cut1]))
    fine = np.linspace(0.0, 10.0, 1001)
    np.testing.assert_allclose(trajectory.state_at(fine), exact(fine), rtol=0, atol=1e-9)
    with pytest.raises(PhysicsError, match="sample times"):
        Trajectory(knots, exact(knots), knots < cut2, np.array([4.5]))


def test_impossible_design_is_a_clear_error() -> None:
    with pytest.raises(PhysicsError, match="apogee"):
        design_for_apogee(WONSAN, 8_000e3, 20e3)  # 20 km apogee cannot carry 8,000 km
