"""Shared truth for the tracking tests: one ballistic flight (session-scoped).

The flight is fixed by a burn time and burnout pitch (one batched physics evaluation, no
trajectory design), so building it costs well under a second.
"""

from __future__ import annotations

import pytest
from tracking_helpers import LAUNCH_TIME_S

from kizuna.physics.trajectory import Flight, Trajectory
from kizuna.tracking.synthetic import flight


@pytest.fixture(scope="session")
def mrbm() -> Flight:
    """~580 km range, 130 km apogee, 100 s burn, from near Pyongyang towards the east."""
    return flight(39.0, 125.7, 95.0, 100.0, 30.0)


@pytest.fixture(scope="session")
def mrbm_truth(mrbm: Flight) -> Trajectory:
    return mrbm.trajectory(LAUNCH_TIME_S, 1.0)
