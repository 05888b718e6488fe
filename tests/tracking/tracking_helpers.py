"""Radars and seeded plots shared by the tracking tests (imported by name: tests/ has no
packages, and pytest puts this directory on sys.path)."""

from __future__ import annotations

import numpy as np

from kizuna.contract import Marking, PositionReport, SensorRef
from kizuna.geo import ecef_to_lla, enu_rotation
from kizuna.physics.trajectory import Trajectory
from kizuna.timefmt import format_time
from kizuna.tracking.synthetic import RadarSpec, merge_by_time, radar_reports, truth_at

LAUNCH_TIME_S = 1_795_000_000.0  # 2026-11-18T09:46:40Z

# Three radars of three nations around the Sea of Japan (sites are illustrative).
RADARS = (
    RadarSpec(
        "JPN-FPS5-1",
        "JPN",
        34.5,
        132.0,
        100.0,
        sigma_range_m=50.0,
        sigma_angle_deg=0.05,
        releasable_to=("JPN", "KOR", "USA"),
    ),
    RadarSpec(
        "KOR-GP-1",
        "KOR",
        36.0,
        127.5,
        100.0,
        sigma_range_m=30.0,
        sigma_angle_deg=0.03,
        classification="CONFIDENTIAL",
        releasable_to=("KOR", "USA"),
    ),
    RadarSpec(
        "USA-TPY2-1",
        "USA",
        40.9,
        140.3,
        50.0,
        sigma_range_m=20.0,
        sigma_angle_deg=0.02,
        releasable_to=("JPN", "KOR", "USA"),
    ),
)
SCAN_PERIODS_S = (2.0, 2.5, 3.0)
SCAN_OFFSETS_S = (0.0, 0.3, 0.6)


def plots(truth: Trajectory, seed: int, radars=RADARS, **kwargs):
    """Seeded plots of ``truth`` by every radar on its own scan schedule, in time order."""
    rng = np.random.default_rng(seed)
    streams = []
    for spec, period, offset in zip(radars, SCAN_PERIODS_S, SCAN_OFFSETS_S, strict=False):
        times = np.arange(truth.start_s + offset, truth.end_s, period)
        t, states = truth_at(truth, times)
        streams.append(radar_reports(spec, t, states[:, :3], rng, **kwargs))
    return merge_by_time(*streams)


KAMD = SensorRef(id="KOR-KAMD", nation="KOR", lat=37.5, lon=127.0, alt_m=0.0)


def partner_points(
    truth: Trajectory,
    seed: int,
    times,
    track_ref: str = "K-17",
    sigma_m: float = 150.0,
    exercise: bool = False,
    *,
    sensor: SensorRef = KAMD,
    releasable_to: tuple[str, ...] = ("KOR", "USA"),
    offset_east_m: float = 0.0,
    velocity_sigma_mps: float | None = None,
) -> list[PositionReport]:
    """A partner nation's track of ``truth``: one position report per time, noise ``sigma_m``
    per axis, displaced ``offset_east_m`` towards local east (a partner's bias)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, t in enumerate(times):
        state = truth.state_at(t)
        shift = 0.0
        if offset_east_m:
            lat0, lon0, _ = ecef_to_lla(state[:3])
            shift = offset_east_m * enu_rotation(float(lat0), float(lon0))[0]
        lat, lon, alt = ecef_to_lla(state[:3] + shift + rng.normal(0.0, sigma_m, 3))
        vel_enu = enu_rotation(float(lat), float(lon)) @ state[3:6]
        out.append(
            PositionReport(
                id=f"{sensor.id}:{i:05d}",
                time=format_time(t),
                kind="position",
                sensor=sensor,
                lat=float(lat),
                lon=float(lon),
                alt_m=float(alt),
                sigma_m=sigma_m,
                velocity_enu_mps=tuple(float(v) for v in vel_enu),
                velocity_sigma_mps=velocity_sigma_mps,
                track_ref=track_ref,
                marking=Marking(classification="SECRET", releasable_to=list(releasable_to)),
                exercise=exercise,
            )
        )
    return out
