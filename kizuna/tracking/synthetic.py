"""Truth-driven radar plots for the tracker's tests and benchmarks.

A deliberately small stand-in for the scenario simulator (:mod:`kizuna.sensors`): truth from
the physics module, measurements exactly as the contract defines them
(:func:`kizuna.geo.ecef_to_aer` of the truth seen from the sensor) plus seeded Gaussian noise,
optional missed detections and uniform clutter in the sensor's coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kizuna.contract import Marking, RadarReport
from kizuna.geo.frames import ecef_to_aer
from kizuna.physics.boost import LaunchGeometry, Vehicle
from kizuna.physics.propagate import propagate_fixed
from kizuna.physics.trajectory import Flight, Trajectory, evaluate
from kizuna.timefmt import format_time

Array = NDArray[np.float64]


@dataclass(frozen=True)
class RadarSpec:
    """A radar for synthetic plots: site, 1-sigma noise, coverage."""

    sensor_id: str
    nation: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    sigma_range_m: float = 50.0
    sigma_angle_deg: float = 0.05
    max_range_m: float = 3_000_000.0
    min_elevation_deg: float = 1.0
    classification: str = "SECRET"
    releasable_to: tuple[str, ...] = ("JPN", "KOR", "USA")


def flight(
    lat_deg: float,
    lon_deg: float,
    azimuth_deg: float,
    burn_s: float,
    burnout_pitch_deg: float,
    vehicle: Vehicle | None = None,
) -> Flight:
    """A flight with a *given* burn time and burnout pitch (one batched evaluation, no design)."""
    geometry = LaunchGeometry(lat_deg, lon_deg, azimuth_deg)
    vehicle = vehicle or Vehicle()
    c = evaluate(geometry, vehicle, np.array([burn_s]), np.array([burnout_pitch_deg]))
    return Flight(
        geometry=geometry,
        vehicle=vehicle,
        burn_s=float(c.burn_s[0]),
        burnout_pitch_deg=float(c.pitch_deg[0]),
        burnout_state=c.burnout_state[0].copy(),
        flight_time_s=float(c.impact.time_s[0]),
        apogee_m=float(c.apogee_m[0]),
        range_m=float(c.range_m[0]),
        impact_lat_deg=float(c.impact.lat_deg[0]),
        impact_lon_deg=float(c.impact.lon_deg[0]),
    )


def truth_at(trajectory: Trajectory, times_s: Array) -> tuple[Array, Array]:
    """States (n, 6) at the times inside the trajectory; returns (times, states)."""
    t = np.asarray(times_s, float)
    t = t[(t >= trajectory.start_s) & (t <= trajectory.end_s)]
    return t, trajectory.state_at(t)


def coast(
    state0_ecef: Array, duration_s: float, dt_s: float = 1.0, beta_kg_m2: float = np.inf
) -> tuple[Array, Array]:
    """Drag-free (or given beta) coast of (N, 6) states: times (n,), states (n, N, 6)."""
    return propagate_fixed(state0_ecef, duration_s, dt_s, beta_kg_m2)


def measure(spec: RadarSpec, r_ecef_m: Array) -> tuple[Array, Array, Array]:
    """Noise-free (azimuth_deg, elevation_deg, range_m) of points seen from the radar."""
    return ecef_to_aer(r_ecef_m, spec.lat_deg, spec.lon_deg, spec.alt_m)


def radar_reports(
    spec: RadarSpec,
    times_s: Array,
    positions_ecef_m: Array,
    rng: np.random.Generator,
    *,
    detection_probability: float = 1.0,
    clutter_per_scan: float = 0.0,
    exercise: bool = False,
    start_number: int = 0,
) -> list[RadarReport]:
    """Plots of objects at ``positions_ecef_m`` (T, N, 3) at scan times (T,).

    NaN positions mean "object not present". Times are rounded to the contract's milliseconds
    before measuring, so the report time is exactly the measured instant.
    """
    pos = np.asarray(positions_ecef_m, float)
    if pos.ndim == 2:
        pos = pos[:, None, :]
    times = np.round(np.asarray(times_s, float) * 1000.0) / 1000.0
    marking = Marking(classification=spec.classification, releasable_to=list(spec.releasable_to))
    sigma = {
        "range_m": spec.sigma_range_m,
        "azimuth_deg": spec.sigma_angle_deg,
        "elevation_deg": spec.sigma_angle_deg,
    }
    sensor = {
        "id": spec.sensor_id,
        "nation": spec.nation,
        "lat": spec.lat_deg,
        "lon": spec.lon_deg,
        "alt_m": spec.alt_m,
    }
    out: list[RadarReport] = []
    number = start_number
    present = np.all(np.isfinite(pos), axis=-1)
    az, el, rng_m = measure(spec, np.where(present[..., None], pos, 0.0))
    visible = present & (el > spec.min_elevation_deg) & (rng_m < spec.max_range_m)
    for i, t in enumerate(times):
        rows: list[tuple[float, float, float]] = []
        for j in np.flatnonzero(visible[i]):
            if rng.random() >= detection_probability:
                continue
            rows.append(
                (
                    rng_m[i, j] + rng.normal(0.0, spec.sigma_range_m),
                    az[i, j] + rng.normal(0.0, spec.sigma_angle_deg),
                    el[i, j] + rng.normal(0.0, spec.sigma_angle_deg),
                )
            )
        for _ in range(rng.poisson(clutter_per_scan) if clutter_per_scan > 0 else 0):
            rows.append(
                (
                    rng.uniform(200e3, spec.max_range_m),
                    rng.uniform(0.0, 360.0),
                    rng.uniform(spec.min_elevation_deg, 60.0),
                )
            )
        order = rng.permutation(len(rows))
        stamp = format_time(t)
        for k in order:
            r, a, e = rows[k]
            out.append(
                RadarReport.model_construct(
                    id=f"{spec.sensor_id}:{number:07d}",
                    time=stamp,
                    kind="radar",
                    sensor=_sensor(sensor),
                    marking=marking,
                    exercise=exercise,
                    range_m=float(r),
                    azimuth_deg=float(a % 360.0),
                    elevation_deg=float(np.clip(e, -90.0, 90.0)),
                    sigma=_sigma(sigma),
                )
            )
            number += 1
    return out


def _sensor(data: dict[str, object]) -> object:
    from kizuna.contract import SensorRef

    return SensorRef(**data)  # type: ignore[arg-type]


def _sigma(data: dict[str, float]) -> object:
    from kizuna.contract import RadarSigma

    return RadarSigma(**data)


def merge_by_time(*streams: Sequence[RadarReport]) -> list[RadarReport]:
    """All reports of several sensors in time order (stable)."""
    merged = [r for s in streams for r in s]
    merged.sort(key=lambda r: r.time)
    return merged


__all__ = ["RadarSpec", "coast", "flight", "measure", "merge_by_time", "radar_reports", "truth_at"]
