"""The powered phase: a rocket following a pitch program in its launch plane.

Model (a deliberately small one with two free parameters per flight, which trajectory design
solves for):

* Thrust acceleration grows as propellant burns at constant thrust and mass flow:
  ``a(t) = a0 / (1 - t/tau)`` with ``tau = t_b / (1 - 1/MR)``, so the acceleration at burnout
  is ``MR * a0`` and the ideal velocity gain ``a0 * tau * ln MR`` is proportional to the burn
  time ``t_b`` (the first free parameter).
* Direction: vertical for ``vertical_s`` seconds, then the pitch (angle of thrust above the
  local horizontal) falls linearly to ``burnout_pitch_deg`` (the second free parameter) at
  burnout, in the plane through the Earth's centre containing the launch azimuth.
* The forces of :mod:`kizuna.physics.dynamics` (J2, rotation, drag) act throughout.

Staging is represented through the vehicle's effective mass ratio; spent stages can be
released as separate ballistic objects by the scenario simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.geo.frames import enu_rotation, lla_to_ecef
from kizuna.physics.dynamics import FULL, ForceModel, acceleration_ecef

Array = NDArray[np.float64]

BOOST_STEP_S = 1.0  # thrust varies smoothly; RK4 at 1 s is exact to centimetres here


@dataclass(frozen=True)
class Vehicle:
    """Propulsion and aerodynamics of a missile, effective single-stage parameters.

    ``liftoff_accel_mps2`` is thrust/mass at ignition (must exceed gravity), ``mass_ratio``
    initial/burnout mass, ``ballistic_coefficient_kg_m2`` m/(C_D A) of what flies after burnout
    (the re-entry vehicle).
    """

    liftoff_accel_mps2: float = 20.0
    mass_ratio: float = 5.0
    vertical_s: float = 8.0
    ballistic_coefficient_kg_m2: float = 8000.0
    body_ballistic_coefficient_kg_m2: float = 2000.0  # during boost

    def thrust_accel_mps2(self, t_s: ArrayLike, burn_s: ArrayLike) -> Array:
        """Thrust acceleration magnitude (m/s^2) at time ``t_s`` after ignition."""
        tau = np.asarray(burn_s, float) / (1.0 - 1.0 / self.mass_ratio)
        return self.liftoff_accel_mps2 / (1.0 - np.asarray(t_s, float) / tau)


# Effective vehicles by class. Thrust-to-weight and mass ratios are round figures typical of
# single-stage-equivalent liquid/solid missiles of each class, tuned so that designed flights
# reproduce the flight times Japan's Ministry of Defense reported (tests/physics).
VEHICLES: dict[str, Vehicle] = {
    "srbm": Vehicle(liftoff_accel_mps2=40.0, mass_ratio=4.0, vertical_s=5.0,
                    ballistic_coefficient_kg_m2=5000.0),
    "irbm": Vehicle(liftoff_accel_mps2=28.0, mass_ratio=5.0, vertical_s=8.0,
                    ballistic_coefficient_kg_m2=8000.0),
    "icbm": Vehicle(liftoff_accel_mps2=20.0, mass_ratio=5.0, vertical_s=10.0,
                    ballistic_coefficient_kg_m2=10000.0),
}


def vehicle_for(range_m: float, apogee_m: float | None = None) -> Vehicle:
    """A plausible vehicle class for a flight: ICBM-class for lofted or intercontinental
    flights (apogee over 2,000 km or range over 5,500 km), IRBM-class from 1,000 km range or
    500 km apogee, short-range otherwise."""
    apogee = apogee_m or 0.0
    if apogee > 2_000e3 or range_m > 5_500e3:
        return VEHICLES["icbm"]
    if range_m > 1_000e3 or apogee > 500e3:
        return VEHICLES["irbm"]
    return VEHICLES["srbm"]


@dataclass(frozen=True)
class LaunchGeometry:
    """Launch site (geodetic) and azimuth (degrees clockwise from north)."""

    lat_deg: float
    lon_deg: float
    azimuth_deg: float
    alt_m: float = 0.0

    def site_ecef(self) -> Array:
        return lla_to_ecef(self.lat_deg, self.lon_deg, self.alt_m)

    def plane_normal_ecef(self) -> Array:
        """Unit normal of the launch plane (through Earth's centre and the launch heading)."""
        rot = enu_rotation(self.lat_deg, self.lon_deg)
        az = np.radians(self.azimuth_deg)
        heading = rot[0] * np.sin(az) + rot[1] * np.cos(az)
        normal = np.cross(self.site_ecef(), heading)
        return normal / np.linalg.norm(normal)


def _thrust_direction(
    r_ecef_m: Array, pitch_rad: Array, plane_normal: Array, up0: Array
) -> Array:
    """Unit thrust vector at ``pitch_rad`` above the local horizontal, downrange in the plane.

    "Up" is geocentric here except at lift-off, where the geodetic vertical ``up0`` is used so
    that the first seconds rise straight off the pad.
    """
    up = r_ecef_m / np.linalg.norm(r_ecef_m, axis=-1, keepdims=True)
    downrange = np.cross(plane_normal, up)
    downrange /= np.linalg.norm(downrange, axis=-1, keepdims=True)
    direction = np.cos(pitch_rad)[..., None] * downrange + np.sin(pitch_rad)[..., None] * up
    vertical = pitch_rad >= np.pi / 2 - 1e-12
    return np.where(vertical[..., None], up0, direction)


def pitch_program_rad(
    t_s: ArrayLike, burn_s: ArrayLike, burnout_pitch_deg: ArrayLike, vertical_s: float
) -> Array:
    """Thrust pitch (rad above local horizontal): 90 deg, then linear to burnout pitch."""
    t = np.asarray(t_s, float)
    burn = np.asarray(burn_s, float)
    final = np.radians(np.asarray(burnout_pitch_deg, float))
    fraction = np.clip((t - vertical_s) / np.maximum(burn - vertical_s, 1e-9), 0.0, 1.0)
    return np.pi / 2 + fraction * (final - np.pi / 2)


def fly_boost(
    geometry: LaunchGeometry,
    vehicle: Vehicle,
    burn_s: ArrayLike,
    burnout_pitch_deg: ArrayLike,
    forces: ForceModel = FULL,
    record: bool = False,
) -> tuple[Array, list[tuple[Array, Array]]]:
    """Integrate the powered flight of N candidate flights from the pad to burnout.

    ``burn_s`` and ``burnout_pitch_deg`` broadcast to shape (N,). Every candidate uses the same
    number of RK4 steps, each of its own size ``burn_s / steps``, so all reach burnout together.
    Returns the burnout states (N, 6) and, if ``record``, ``(elapsed_s (N,), states (N, 6))``
    per step.
    """
    burn, pitch_end = np.broadcast_arrays(
        np.atleast_1d(np.asarray(burn_s, float)),
        np.atleast_1d(np.asarray(burnout_pitch_deg, float)),
    )
    n = burn.shape[0]
    steps = max(2, int(np.ceil(burn.max() / BOOST_STEP_S)))
    dt = burn / steps
    site = geometry.site_ecef()
    normal = geometry.plane_normal_ecef()
    up0 = enu_rotation(geometry.lat_deg, geometry.lon_deg)[2]
    state = np.tile(np.concatenate([site, np.zeros(3)]), (n, 1))
    trace: list[tuple[Array, Array]] = [(np.zeros(n), state.copy())] if record else []

    for k in range(steps):
        t_start = k * dt

        state = _rk4_powered(state, t_start, dt, burn, pitch_end, vehicle, normal, up0, forces)
        if record:
            trace.append(((k + 1) * dt, state.copy()))
    return state, trace


def _rk4_powered(
    state: Array,
    t_s: Array,
    dt_s: Array,
    burn_s: Array,
    pitch_end_deg: Array,
    vehicle: Vehicle,
    normal: Array,
    up0: Array,
    forces: ForceModel,
) -> Array:
    """One RK4 step of the powered equations of motion (time-dependent thrust)."""

    def derivative(s: Array, t: Array) -> Array:
        r, v = s[:, :3], s[:, 3:]
        pitch = pitch_program_rad(t, burn_s, pitch_end_deg, vehicle.vertical_s)
        thrust = vehicle.thrust_accel_mps2(t, burn_s)[:, None] * _thrust_direction(
            r, pitch, normal, up0
        )
        a = acceleration_ecef(r, v, vehicle.body_ballistic_coefficient_kg_m2, forces) + thrust
        return np.concatenate([v, a], axis=-1)

    h = dt_s[:, None]
    k1 = derivative(state, t_s)
    k2 = derivative(state + 0.5 * h * k1, t_s + 0.5 * dt_s)
    k3 = derivative(state + 0.5 * h * k2, t_s + 0.5 * dt_s)
    k4 = derivative(state + h * k3, t_s + dt_s)
    return state + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


__all__ = ["VEHICLES", "LaunchGeometry", "Vehicle", "fly_boost", "pitch_program_rad", "vehicle_for"]
