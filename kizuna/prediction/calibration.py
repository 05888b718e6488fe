"""Build the boost calibration table used by :mod:`kizuna.prediction.launch`.

Run ``python -m kizuna.prediction.calibration`` to regenerate
``kizuna/prediction/data/boost_calibration.npz`` (about a minute). The family of launchers
spans the effective single-stage parameters of :class:`kizuna.physics.boost.Vehicle`:
lift-off acceleration 15-30 m/s^2, mass ratio 3.5-7, vertical rise 5-10 s, burn times
20-250 s and burnout pitches 15-80 degrees, launched eastwards from 39 N 126 E (the table is
in ground-relative terms, so site and azimuth change it only through Earth rotation, which is
inside its spread). Test vehicles should be chosen *between* these grid values.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kizuna.physics.boost import LaunchGeometry, Vehicle, fly_boost
from kizuna.physics.dynamics import FULL
from kizuna.prediction.impact import local_en_m
from kizuna.prediction.launch import (
    CALIBRATION_PATH,
    back_propagate_to_ground,
    flight_path_features,
)

Array = NDArray[np.float64]

LIFTOFF_ACCEL_MPS2 = (15.0, 20.0, 30.0)
MASS_RATIO = (3.5, 5.0, 7.0)
VERTICAL_S = (5.0, 10.0)
BURN_S = tuple(np.geomspace(20.0, 250.0, 9))
PITCH_DEG = tuple(np.linspace(15.0, 80.0, 9))
BOOST_SAMPLE_S = 6.0


def _down_cross(en: Array, heading_deg: Array) -> tuple[Array, Array]:
    h = np.radians(heading_deg)
    down = en[..., 0] * np.sin(h) + en[..., 1] * np.cos(h)
    cross = en[..., 0] * np.cos(h) - en[..., 1] * np.sin(h)
    return down, cross


def build(geometry: LaunchGeometry | None = None) -> dict[str, Array]:
    geometry = geometry or LaunchGeometry(39.0, 126.0, 90.0)
    burn, pitch = (np.array(a).ravel() for a in np.meshgrid(BURN_S, PITCH_DEG, indexing="ij"))
    coast_f, coast_o, boost_f, boost_o = [], [], [], []
    for accel, ratio, vertical in itertools.product(LIFTOFF_ACCEL_MPS2, MASS_RATIO, VERTICAL_S):
        vehicle = Vehicle(liftoff_accel_mps2=accel, mass_ratio=ratio, vertical_s=vertical)
        burnout, trace = fly_boost(geometry, vehicle, burn, pitch, FULL, record=True)
        alt, speed, *_ = flight_path_features(burnout)
        ok = (alt > 5_000.0) & (speed < 7_800.0)
        ghost = back_propagate_to_ground(burnout[ok], burn[ok], np.inf, FULL)
        good = ghost.reached
        en = local_en_m(
            ghost.lat_deg[good], ghost.lon_deg[good], geometry.lat_deg, geometry.lon_deg
        )
        down, cross = _down_cross(en, ghost.heading_deg[good])
        coast_f.append(np.stack([ghost.speed_mps[good], ghost.flight_path_deg[good]], axis=-1))
        coast_o.append(np.stack([down, cross, 0.0 - ghost.time_s[good]], axis=-1))
        # Powered states along the way, every few seconds.
        stride = max(1, round(BOOST_SAMPLE_S / (burn.max() / (len(trace) - 1))))
        for elapsed, states in trace[1::stride]:
            a, s, f, h, la, lo = flight_path_features(states)
            moving = s > 30.0
            en = local_en_m(la[moving], lo[moving], geometry.lat_deg, geometry.lon_deg)
            d, c = _down_cross(en, h[moving])
            boost_f.append(np.stack([a[moving], s[moving], f[moving]], axis=-1))
            boost_o.append(np.stack([-d, -c, np.asarray(elapsed)[moving]], axis=-1))
    return {
        "coast_features": np.concatenate(coast_f),
        "coast_offsets": np.concatenate(coast_o),
        "boost_features": np.concatenate(boost_f),
        "boost_offsets": np.concatenate(boost_o),
    }


def main(path: Path = CALIBRATION_PATH) -> None:
    table = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    # float32 keeps ~7 digits: centimetres on a 100 km offset, far below the table's spread.
    np.savez_compressed(path, **{k: v.astype(np.float32) for k, v in table.items()})
    print(
        f"wrote {path}: {len(table['coast_features'])} coast, "
        f"{len(table['boost_features'])} boost rows"
    )


if __name__ == "__main__":
    main()
