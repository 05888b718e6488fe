"""Trajectory design: find the powered flight that meets a range and an apogee.

A flight is fixed by the launch geometry, the vehicle and two numbers, the burn time and the
thrust pitch at burnout (see :mod:`kizuna.physics.boost`). Design solves for those two:

* :func:`design_for_apogee`: range *and* apogee given (lofted or depressed flights, as
  reported by Japan's Ministry of Defense for North Korean tests);
* :func:`design_min_energy`: range given, least burnout energy (shortest burn).

Both evaluate candidate flights in vectorised batches (a coarse grid, then Newton steps whose
finite-difference Jacobian is computed in the same batch as the point itself), so a design
costs a few dozen batched propagations rather than hundreds of scalar ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicHermiteSpline

from kizuna.errors import PhysicsError
from kizuna.geo.frames import ecef_to_lla
from kizuna.geo.geodesic import distance_m
from kizuna.physics.boost import LaunchGeometry, Vehicle, fly_boost
from kizuna.physics.dynamics import FULL, ForceModel, approx_altitude_m, state_derivative
from kizuna.physics.propagate import ImpactResult, propagate_to_impact

Array = NDArray[np.float64]

MIN_BURN_S = 12.0
MAX_BURN_S = 420.0
MIN_PITCH_DEG = 3.0
MAX_PITCH_DEG = 89.9
MAX_FLIGHT_S = 3.0 * 3600.0


@dataclass(frozen=True)
class Candidates:
    """Outcomes of N candidate flights (arrays of shape (N,))."""

    burn_s: Array
    pitch_deg: Array
    burnout_state: Array  # (N, 6) ECEF
    impact: ImpactResult
    range_m: Array  # geodesic launch -> impact; inf if the flight never comes down
    apogee_m: Array


def evaluate(
    geometry: LaunchGeometry,
    vehicle: Vehicle,
    burn_s: Array,
    pitch_deg: Array,
    forces: ForceModel = FULL,
    max_flight_s: float = MAX_FLIGHT_S,
) -> Candidates:
    """Fly N candidates (burn time, burnout pitch) from the pad to impact, all at once."""
    burn, pitch = np.broadcast_arrays(
        np.atleast_1d(np.asarray(burn_s, float)), np.atleast_1d(np.asarray(pitch_deg, float))
    )
    burnout, _ = fly_boost(geometry, vehicle, burn, pitch, forces)
    impact = propagate_to_impact(
        burnout, burn, vehicle.ballistic_coefficient_kg_m2, forces, max_flight_s - burn.max()
    )
    rng = distance_m(geometry.lat_deg, geometry.lon_deg, impact.lat_deg, impact.lon_deg)
    rng = np.where(impact.hit, rng, np.inf)
    apogee = np.maximum(impact.apogee_m, approx_altitude_m(burnout[:, :3]))
    return Candidates(burn.copy(), pitch.copy(), burnout, impact, rng, apogee)


@dataclass(frozen=True)
class Trajectory:
    """A flown trajectory sampled in time, with exact Hermite interpolation between samples.

    ``time_s`` absolute (POSIX seconds when the flight has a launch time), ``state`` (n, 6)
    ECEF, ``powered`` (n,) True during the boost. Interpolation uses position and velocity
    (cubic Hermite per segment), accurate to well under a millimetre at 1 s sampling.
    """

    time_s: Array
    state: Array
    powered: NDArray[np.bool_]
    _spline: CubicHermiteSpline = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        derivative = np.concatenate(
            [self.state[:, 3:], _acceleration_samples(self.time_s, self.state)], axis=-1
        )
        object.__setattr__(
            self, "_spline", CubicHermiteSpline(self.time_s, self.state, derivative, axis=0)
        )

    @property
    def start_s(self) -> float:
        return float(self.time_s[0])

    @property
    def end_s(self) -> float:
        return float(self.time_s[-1])

    def state_at(self, time_s: Array | float) -> Array:
        """ECEF state(s) (..., 6) at absolute time(s) inside [start_s, end_s]."""
        return np.asarray(self._spline(np.asarray(time_s, float)))


def _acceleration_samples(time_s: Array, state: Array) -> Array:
    # Velocity's derivative from finite differences of the velocity samples themselves: the
    # powered phase has thrust we do not store, and central differences on fine sampling are
    # accurate enough for interpolation (second order in the step).
    return np.gradient(state[:, 3:], time_s, axis=0, edge_order=2)


@dataclass(frozen=True)
class Flight:
    """A designed ballistic flight and its figures (SI units; times relative to launch)."""

    geometry: LaunchGeometry
    vehicle: Vehicle
    burn_s: float
    burnout_pitch_deg: float
    burnout_state: Array
    flight_time_s: float
    apogee_m: float
    range_m: float
    impact_lat_deg: float
    impact_lon_deg: float
    forces: ForceModel = FULL

    @property
    def burnout_altitude_m(self) -> float:
        return float(ecef_to_lla(self.burnout_state[:3])[2])

    @property
    def burnout_speed_mps(self) -> float:
        """Speed relative to the rotating Earth at burnout (m/s)."""
        return float(np.linalg.norm(self.burnout_state[3:]))

    def trajectory(self, launch_time_s: float = 0.0, dt_s: float = 1.0) -> Trajectory:
        """Sample the whole flight, pad to impact, every ``dt_s`` seconds of elapsed time."""
        _, boost_trace = fly_boost(
            self.geometry, self.vehicle, self.burn_s, self.burnout_pitch_deg, self.forces,
            record=True,
        )
        boost_t = np.array([float(np.atleast_1d(t)[0]) for t, _ in boost_trace])
        boost_x = np.array([s[0] for _, s in boost_trace])
        coast_trace: list[tuple[Array, Array]] = []
        propagate_to_impact(
            self.burnout_state[None], self.burn_s, self.vehicle.ballistic_coefficient_kg_m2,
            self.forces, self.flight_time_s - self.burn_s + 1.0, record=coast_trace,
        )
        coast_t = self.burn_s + np.array([t for t, _ in coast_trace])
        coast_x = np.array([s[0] for _, s in coast_trace])
        # The recorded coast ends at the exact impact; drop repeated impact samples.
        keep = np.concatenate([[True], np.diff(coast_t) > 1e-9]) & (coast_t <= self.flight_time_s)
        coast_t, coast_x = coast_t[keep], coast_x[keep]
        if coast_t[-1] < self.flight_time_s - 1e-6:
            coast_t = np.append(coast_t, self.flight_time_s)
            impact_state = propagate_to_impact(
                self.burnout_state[None], 0.0, self.vehicle.ballistic_coefficient_kg_m2,
                self.forces, self.flight_time_s,
            ).state[0]
            coast_x = np.vstack([coast_x, impact_state])
        times = np.concatenate([boost_t, coast_t[1:]])
        states = np.vstack([boost_x, coast_x[1:]])
        powered = times < self.burn_s - 1e-9
        grid = np.unique(np.concatenate([np.arange(0.0, times[-1], dt_s), [self.burn_s],
                                         [times[-1]]]))
        coarse = Trajectory(times, states, powered)
        sampled = coarse.state_at(grid)
        return Trajectory(launch_time_s + grid, sampled, grid < self.burn_s - 1e-9)


def _flight_from(
    geometry: LaunchGeometry, vehicle: Vehicle, c: Candidates, i: int, forces: ForceModel
) -> Flight:
    if not c.impact.hit[i]:
        raise PhysicsError("the designed flight does not come back to Earth")
    return Flight(
        geometry=geometry,
        vehicle=vehicle,
        burn_s=float(c.burn_s[i]),
        burnout_pitch_deg=float(c.pitch_deg[i]),
        burnout_state=c.burnout_state[i].copy(),
        flight_time_s=float(c.impact.time_s[i]),
        apogee_m=float(c.apogee_m[i]),
        range_m=float(c.range_m[i]),
        impact_lat_deg=float(c.impact.lat_deg[i]),
        impact_lon_deg=float(c.impact.lon_deg[i]),
        forces=forces,
    )


def design_for_apogee(
    geometry: LaunchGeometry,
    range_m: float,
    apogee_m: float,
    vehicle: Vehicle | None = None,
    forces: ForceModel = FULL,
    tolerance: float = 1e-4,
) -> Flight:
    """The flight from ``geometry`` reaching ``apogee_m`` and landing ``range_m`` away.

    Raises :class:`PhysicsError` when no flight of this vehicle does both (e.g. an apogee too
    low for the range).
    """
    vehicle = vehicle or Vehicle()
    if range_m <= 0 or apogee_m <= 0:
        raise PhysicsError("range and apogee must be positive")
    target = np.array([range_m, apogee_m])

    def residual(c: Candidates) -> Array:
        got = np.stack([np.minimum(c.range_m, 1e9), c.apogee_m], axis=-1)
        return np.log(got / target)

    burns = np.geomspace(MIN_BURN_S, MAX_BURN_S, 14)
    pitches = np.linspace(10.0, 88.0, 14)
    bb, pp = np.meshgrid(burns, pitches, indexing="ij")
    grid = evaluate(geometry, vehicle, bb.ravel(), pp.ravel(), forces)
    cost = np.sum(residual(grid) ** 2, axis=-1)
    cost[~grid.impact.hit] = np.inf
    best = int(np.argmin(cost))
    x = np.array([np.log(grid.burn_s[best]), grid.pitch_deg[best]])
    step = np.array([1e-4, 1e-3])

    for _ in range(30):
        trial = x + np.vstack([np.zeros(2), np.diag(step)])
        c = evaluate(geometry, vehicle, np.exp(trial[:, 0]), trial[:, 1], forces)
        f = residual(c)
        if np.max(np.abs(f[0])) < tolerance and c.impact.hit[0]:
            return _flight_from(geometry, vehicle, c, 0, forces)
        jac = ((f[1:] - f[0]) / step[:, None]).T
        try:
            delta = np.linalg.solve(jac, -f[0])
        except np.linalg.LinAlgError:
            break
        # Damp: never more than ~30 % in burn or 8 degrees of pitch in one step.
        scale = min(1.0, 0.3 / max(abs(delta[0]), 1e-12), 8.0 / max(abs(delta[1]), 1e-12))
        x = x + scale * delta
        x[0] = np.clip(x[0], np.log(MIN_BURN_S), np.log(MAX_BURN_S))
        x[1] = np.clip(x[1], MIN_PITCH_DEG, MAX_PITCH_DEG)
    raise PhysicsError(
        f"no flight reaches apogee {apogee_m / 1e3:.0f} km at range {range_m / 1e3:.0f} km "
        "with this vehicle"
    )


def _burn_for_range(
    geometry: LaunchGeometry,
    vehicle: Vehicle,
    pitch_deg: Array,
    range_m: float,
    forces: ForceModel,
    iterations: int = 40,
    tolerance: float = 1e-5,
) -> tuple[Array, Candidates]:
    """For each pitch, the burn time that gives ``range_m`` (vectorised bisection-secant)."""
    n = pitch_deg.size
    lo = np.full(n, np.log(MIN_BURN_S))
    hi = np.full(n, np.log(MAX_BURN_S))
    f_lo = np.full(n, -np.inf)
    f_hi = np.full(n, np.inf)
    x = 0.5 * (lo + hi)
    c = evaluate(geometry, vehicle, np.exp(x), pitch_deg, forces)
    for _ in range(iterations):
        f = np.log(np.minimum(c.range_m, 1e9) / range_m)
        if np.all(np.abs(f) < tolerance):
            break
        low = f < 0
        lo, f_lo = np.where(low, x, lo), np.where(low, f, f_lo)
        hi, f_hi = np.where(low, hi, x), np.where(low, f_hi, f)
        finite = np.isfinite(f_lo) & np.isfinite(f_hi) & (f_hi > f_lo)
        secant = lo - f_lo * (hi - lo) / np.where(finite, f_hi - f_lo, 1.0)
        mid = 0.5 * (lo + hi)
        # Secant inside the middle 90 % of the bracket, bisection otherwise: always converges.
        inside = finite & (secant > lo + 0.05 * (hi - lo)) & (secant < hi - 0.05 * (hi - lo))
        x = np.where(inside, secant, mid)
        c = evaluate(geometry, vehicle, np.exp(x), pitch_deg, forces)
    return np.exp(x), c


def design_min_energy(
    geometry: LaunchGeometry,
    range_m: float,
    vehicle: Vehicle | None = None,
    forces: ForceModel = FULL,
) -> Flight:
    """The least-energy (shortest-burn) flight from ``geometry`` landing ``range_m`` away."""
    vehicle = vehicle or Vehicle()
    if range_m <= 0:
        raise PhysicsError("range must be positive")
    pitches = np.linspace(15.0, 75.0, 25)
    for width in (None, 2.5, 0.5):
        if width is not None:
            pitches = np.linspace(best_pitch - width, best_pitch + width, 11)
        burn, c = _burn_for_range(geometry, vehicle, pitches, range_m, forces)
        ok = c.impact.hit & (np.abs(np.log(np.minimum(c.range_m, 1e9) / range_m)) < 1e-4)
        if not ok.any():
            raise PhysicsError(f"no flight of this vehicle reaches {range_m / 1e3:.0f} km")
        burn = np.where(ok, burn, np.inf)
        best_pitch = float(pitches[int(np.argmin(burn))])
    best = int(np.argmin(burn))
    return _flight_from(geometry, vehicle, c, best, forces)


def energy_rate_check(state: Array, forces: ForceModel = FULL) -> Array:
    """d/dt of the state, exposed for tests of the trajectory samples (m/s, m/s^2)."""
    return state_derivative(state, np.inf, forces)
