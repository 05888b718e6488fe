"""Trajectory design and sampling."""

from __future__ import annotations

import numpy as np
import pytest

from kizuna.errors import PhysicsError
from kizuna.geo import geodetic_altitude_m
from kizuna.physics.boost import LaunchGeometry
from kizuna.physics.trajectory import design_for_apogee, design_min_energy

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


def test_impossible_design_is_a_clear_error() -> None:
    with pytest.raises(PhysicsError, match="apogee"):
        design_for_apogee(WONSAN, 8_000e3, 20e3)  # 20 km apogee cannot carry 8,000 km
