"""Space-based infrared launch detection (``kind: launch`` reports).

A geostationary infrared sensor sees the hot plume of a launch; it reports the launch point
with a horizontal error (independent Gaussian east and north components of ``sigma_m``) and
the launch *time*, delivered ``delay_s`` after lift-off. It reports launches from the ground
(missiles and space launchers), not spent stages; one report per launch object it detects
(probability ``p_detect``), none while in an outage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kizuna.geo.frames import ecef_to_lla, enu_to_ecef
from kizuna.sensors.observation import Observation
from kizuna.sensors.radar import in_windows
from kizuna.sensors.scenario import InfraredSpec
from kizuna.sensors.truth import TruthObject


def detect_launches(
    spec: InfraredSpec,
    objects: Sequence[TruthObject],
    scenario_start_s: float,
    rng: np.random.Generator,
) -> list[Observation]:
    """Launch reports of one infrared sensor for every launch it detects."""
    out = []
    for obj in objects:
        if not obj.from_pad:
            continue
        # Draw for every launch, detected or not, so one launch's outcome never shifts the
        # random numbers of the next.
        u = rng.random()
        offset_en = rng.standard_normal(2) * spec.sigma_m
        t = obj.start_s
        if u >= spec.p_detect or in_windows(t, spec.outages, scenario_start_s):
            continue
        lat0, lon0, _ = ecef_to_lla(obj.trajectory.state[0, :3])
        point = enu_to_ecef([offset_en[0], offset_en[1], 0.0], lat0, lon0, 0.0)
        lat, lon, _ = ecef_to_lla(point)
        out.append(Observation(
            time_s=t, available_s=t + spec.delay_s, sensor_id=spec.id, kind="launch",
            fields={"lat": round(float(lat), 7), "lon": round(float(lon), 7),
                    "sigma_m": spec.sigma_m},
            object_id=obj.object_id,
        ))
    return out


__all__ = ["detect_launches"]
