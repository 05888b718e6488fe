"""Session fixtures: truth flights shared by the prediction tests (see prediction_truth.py)."""

from __future__ import annotations

import pytest
from prediction_truth import TruthFlight, fly

from kizuna.physics.boost import LaunchGeometry, Vehicle


@pytest.fixture(scope="session")
def srbm() -> TruthFlight:
    """A ~420 km flight from near Pyongyang eastwards, apogee ~127 km."""
    return fly(LaunchGeometry(39.0, 125.7, 90.0), Vehicle(), 90.0, 40.0)


@pytest.fixture(scope="session")
def mrbm() -> TruthFlight:
    """A longer (~1,000 km class) flight towards the north-east, another vehicle."""
    vehicle = Vehicle(liftoff_accel_mps2=24.0, mass_ratio=4.3, vertical_s=7.0)
    return fly(LaunchGeometry(40.0, 127.0, 70.0), vehicle, 120.0, 45.0)
