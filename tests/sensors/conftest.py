"""Fixtures for the sensor tests: synthetic true objects that need no trajectory design."""

from __future__ import annotations

import numpy as np
import pytest

from kizuna.geo.frames import enu_rotation, lla_to_ecef
from kizuna.physics.orbital import ballistic_trajectory
from kizuna.sensors.scenario import RadarSpec
from kizuna.sensors.truth import TruthObject

START_S = 1_795_000_000.0  # 2026-11-17, a whole second


def ballistic_object(
    lat_deg: float, lon_deg: float, alt_m: float, velocity_enu_mps: tuple[float, float, float],
    t0_s: float = START_S, object_id: str = "X-M1",
) -> TruthObject:
    """A drag-light ballistic object from a given point and ENU velocity, to impact."""
    r = lla_to_ecef(lat_deg, lon_deg, alt_m)
    v = enu_rotation(lat_deg, lon_deg).T @ np.asarray(velocity_enu_mps, float)
    trajectory, _ = ballistic_trajectory(np.concatenate([r, v]), t0_s, 50_000.0)
    return TruthObject(object_id, object_id.split("-")[0], "missile", trajectory, impacts=True,
                       from_pad=True)


@pytest.fixture(scope="session")
def eastbound() -> TruthObject:
    """Rises from 1 km over the Sea of Japan, north-east at 3 km/s, climbs to ~300 km."""
    return ballistic_object(38.0, 131.0, 1000.0, (2000.0, 1000.0, 2200.0))


def radar_spec(**overrides) -> RadarSpec:
    """A radar on the Noto peninsula (near the csv's Wajima FPS-3 site), easy to override."""
    base = {
        "id": "TST-R1", "nation": "JPN", "lat": 37.4, "lon": 136.9, "alt_m": 100.0,
        "max_range_km": 3000.0, "min_elevation_deg": 0.0, "field_of_regard_deg": 360.0,
        "sigma": {"range_m": 20.0, "azimuth_deg": 0.05, "elevation_deg": 0.04},
        "revisit_s": 1.0, "p_detect": 1.0,
    }
    base.update(overrides)
    return RadarSpec.model_validate(base)
