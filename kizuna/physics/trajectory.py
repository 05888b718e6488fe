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
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicHermiteSpline, PPoly

from kizuna.errors import PhysicsError
from kizuna.geo.frames import ecef_to_lla
from kizuna.geo.geodesic import distance_m
from kizuna.physics.boost import LaunchGeometry, Vehicle, fly_boost, vehicle_for
from kizuna.physics.dynamics import FULL, ForceModel, approx_altitude_m
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
    max_altitude_m: float = np.inf,
) -> Candidates:
    """Fly N candidates (burn time, burnout pitch) from the pad to impact, all at once.

    Candidates rising above ``max_altitude_m`` are abandoned (range inf, not hit).
    """
    burn, pitch = np.broadcast_arrays(
        np.atleast_1d(np.asarray(burn_s, float)), np.atleast_1d(np.asarray(pitch_deg, float))
    )
    burnout, _ = fly_boost(geometry, vehicle, burn, pitch, forces)
    impact = propagate_to_impact(
        burnout, burn, vehicle.ballistic_coefficient_kg_m2, forces, max_flight_s - burn.max(),
        max_altitude_m=max_altitude_m,
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

    The acceleration jumps where an engine lights or cuts off: at every sample where
    ``powered`` changes and at the sample times ``cuts_s`` (s, same clock; e.g. one stage
    burning out as the next lights, where ``powered`` stays True). The spline is built
    separately between cuts, so no interval mixes the accelerations of two sides of a cut.
    """

    time_s: Array
    state: Array
    powered: NDArray[np.bool_]
    cuts_s: Array = field(default_factory=lambda: np.zeros(0))
    _spline: PPoly = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bounds = _segment_bounds(self.time_s, self.powered, self.cuts_s)
        pieces = []
        for a, b in pairwise(bounds):
            t, x = self.time_s[a : b + 1], self.state[a : b + 1]
            derivative = np.concatenate([x[:, 3:], _acceleration_samples(t, x)], axis=-1)
            pieces.append(CubicHermiteSpline(t, x, derivative, axis=0).c)
        spline = PPoly(np.concatenate(pieces, axis=1), self.time_s)
        object.__setattr__(self, "_spline", spline)

    @property
    def start_s(self) -> float:
        return float(self.time_s[0])

    @property
    def end_s(self) -> float:
        return float(self.time_s[-1])

    def state_at(self, time_s: Array | float) -> Array:
        """ECEF state(s) (..., 6) at absolute time(s) inside [start_s, end_s]."""
        return np.asarray(self._spline(np.asarray(time_s, float)))


def _segment_bounds(time_s: Array, powered: NDArray[np.bool_], cuts_s: Array) -> Array:
    """Sample indices that start and end the smooth segments: 0, every cut, n - 1.

    A cut is the first sample of a new ``powered`` value, or the sample at a time of
    ``cuts_s``; that sample closes one segment and opens the next (the state is continuous
    across a cut, its derivative is not).
    """
    flips = np.flatnonzero(powered[1:] != powered[:-1]) + 1
    cuts = np.atleast_1d(np.asarray(cuts_s, float))
    at = np.argmin(np.abs(time_s[:, None] - cuts), axis=0)
    if np.any(np.abs(time_s[at] - cuts) > 1e-6):
        raise PhysicsError("a trajectory's cuts must be sample times")
    return np.unique(np.concatenate([[0, time_s.size - 1], flips, at]))


def _acceleration_samples(time_s: Array, state: Array) -> Array:
    # Velocity's derivative from finite differences of the velocity samples themselves: the
    # powered phase has thrust we do not store, and central differences on fine sampling are
    # accurate enough for interpolation (second order in the step). Called per segment between
    # cuts, so the ends are one-sided (second order too) and never difference across a cut.
    return np.gradient(state[:, 3:], time_s, axis=0, edge_order=2 if time_s.size > 2 else 1)


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

    def flown_in(self, forces: ForceModel) -> Flight:
        """The same burn time and burnout pitch flown under ``forces``, to its own impact.

        The simulator designs a flight in the model the filters use (J2) and flies it in the
        truth's (:data:`kizuna.physics.dynamics.TRUTH`), as a real programme aims with its own
        model of the Earth: the impact moves by what the model lacks (hundreds of metres).
        """
        c = evaluate(self.geometry, self.vehicle, np.array([self.burn_s]),
                     np.array([self.burnout_pitch_deg]), forces)
        return _flight_from(self.geometry, self.vehicle, c, 0, forces)

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

    ``vehicle`` defaults to the class :func:`~kizuna.physics.boost.vehicle_for` the flight.

    Raises :class:`PhysicsError` when no flight of this vehicle does both (e.g. an apogee too
    low for the range).
    """
    if range_m <= 0 or apogee_m <= 0:
        raise PhysicsError("range and apogee must be positive")
    vehicle = vehicle or vehicle_for(range_m, apogee_m)
    target = np.array([range_m, apogee_m])

    def residual(c: Candidates) -> Array:
        got = np.stack([np.minimum(c.range_m, 1e9), c.apogee_m], axis=-1)
        return np.log(got / target)

    burns = np.geomspace(MIN_BURN_S, MAX_BURN_S, 10)
    # Dense near the vertical, where lofted flights' apogee is most sensitive to pitch.
    pitches = 90.0 - np.geomspace(1.5, 80.0, 12)
    bb, pp = np.meshgrid(burns, pitches, indexing="ij")
    ceiling_m = 3.0 * apogee_m + 500e3
    grid = evaluate(geometry, vehicle, bb.ravel(), pp.ravel(), forces, max_altitude_m=ceiling_m)
    cost = np.sum(residual(grid) ** 2, axis=-1)
    cost[~grid.impact.hit] = np.inf
    # Several starts, Newton on all of them in one batch: near the vertical the range is not
    # monotonic in pitch (the Earth turns under a long lofted flight), so the best grid cell
    # can sit on the wrong branch.
    starts = np.argsort(cost)[:4]
    starts = starts[np.isfinite(cost[starts])]
    if starts.size == 0:
        raise PhysicsError("no candidate flight of this vehicle comes back to Earth")
    x = np.column_stack([np.log(grid.burn_s[starts]), grid.pitch_deg[starts]])
    step = np.array([1e-3, 1e-2])
    offsets = np.vstack([np.zeros(2), np.diag(step)])  # (3, 2): point, +burn, +pitch

    for _ in range(30):
        trial = (x[:, None, :] + offsets[None, :, :]).reshape(-1, 2)
        c = evaluate(geometry, vehicle, np.exp(trial[:, 0]), trial[:, 1], forces,
                     max_altitude_m=ceiling_m)
        f = residual(c).reshape(len(x), 3, 2)
        hit = c.impact.hit.reshape(len(x), 3)
        done = np.flatnonzero((np.max(np.abs(f[:, 0]), axis=-1) < tolerance) & hit[:, 0])
        if done.size:
            return _flight_from(geometry, vehicle, c, 3 * int(done[0]), forces)
        jac = np.swapaxes((f[:, 1:] - f[:, :1]) / step[None, :, None], 1, 2)  # (K, 2, 2)
        ok = np.abs(np.linalg.det(jac)) > 1e-12
        delta = np.zeros_like(x)
        delta[ok] = np.linalg.solve(jac[ok], -f[ok, 0][..., None])[..., 0]
        # Damp: never more than ~30 % in burn or 8 degrees of pitch in one step.
        scale = np.minimum(1.0, np.minimum(0.3 / np.maximum(np.abs(delta[:, 0]), 1e-12),
                                           8.0 / np.maximum(np.abs(delta[:, 1]), 1e-12)))
        x = x + scale[:, None] * delta
        x[:, 0] = np.clip(x[:, 0], np.log(MIN_BURN_S), np.log(MAX_BURN_S))
        x[:, 1] = np.clip(x[:, 1], MIN_PITCH_DEG, MAX_PITCH_DEG)
    raise PhysicsError(
        f"no flight reaches apogee {apogee_m / 1e3:.0f} km at range {range_m / 1e3:.0f} km "
        "with this vehicle"
    )


def design_min_energy(
    geometry: LaunchGeometry,
    range_m: float,
    vehicle: Vehicle | None = None,
    forces: ForceModel = FULL,
    tolerance: float = 1e-4,
) -> Flight:
    """The least-energy (shortest-burn) flight from ``geometry`` landing ``range_m`` away.

    At the shortest burn that reaches a range, that range is the *largest* any pitch gives for
    that burn, so the optimum solves F = (ln(range/R), d ln(range)/d pitch) = 0. Newton on F
    with the derivatives from a 2x3 stencil of candidates flown in one batch.
    """
    if range_m <= 0:
        raise PhysicsError("range must be positive")
    vehicle = vehicle or vehicle_for(range_m)
    burns = np.geomspace(MIN_BURN_S, MAX_BURN_S, 12)
    pitches = np.linspace(12.0, 72.0, 11)
    bb, pp = np.meshgrid(burns, pitches, indexing="ij")
    grid = evaluate(geometry, vehicle, bb.ravel(), pp.ravel(), forces,
                    max_altitude_m=4.0 * range_m + 1000e3)
    reach = np.where(grid.impact.hit, grid.range_m, 0.0).reshape(bb.shape)
    best_per_burn = reach.max(axis=1)
    enough = np.flatnonzero(best_per_burn >= range_m)
    if enough.size == 0:
        raise PhysicsError(f"no flight of this vehicle reaches {range_m / 1e3:.0f} km")
    row = int(enough[0])
    # Start between the last burn short of the range and the first that reaches it.
    if row > 0:
        lo, hi = np.log(best_per_burn[row - 1]), np.log(best_per_burn[row])
        frac = (np.log(range_m) - lo) / max(hi - lo, 1e-12)
        x = np.array([np.log(burns[row - 1]) + frac * np.log(burns[row] / burns[row - 1]),
                      pitches[int(np.argmax(reach[row]))]])
    else:
        x = np.array([np.log(burns[0]), pitches[int(np.argmax(reach[0]))]])

    h_deg, k_log = 0.5, 2e-3
    stencil = np.array([[0, -h_deg], [0, 0], [0, h_deg], [k_log, -h_deg], [k_log, 0],
                        [k_log, h_deg]])
    for _ in range(40):
        trial = x + stencil
        c = evaluate(geometry, vehicle, np.exp(trial[:, 0]), trial[:, 1], forces,
                     max_altitude_m=4.0 * range_m + 1000e3)
        log_range = np.log(np.where(c.impact.hit, c.range_m, 1e-3) / range_m)
        f1_0, f1_k = log_range[1], log_range[4]
        slope_0 = (log_range[2] - log_range[0]) / (2 * h_deg)
        slope_k = (log_range[5] - log_range[3]) / (2 * h_deg)
        curvature = (log_range[2] - 2 * log_range[1] + log_range[0]) / h_deg**2
        if abs(f1_0) < tolerance and abs(slope_0) < 1e-4 and c.impact.hit[1]:
            return _flight_from(geometry, vehicle, c, 1, forces)
        jac = np.array([[(f1_k - f1_0) / k_log, slope_0], [(slope_k - slope_0) / k_log,
                                                         curvature]])
        try:
            delta = np.linalg.solve(jac, -np.array([f1_0, slope_0]))
        except np.linalg.LinAlgError:
            break
        scale = min(1.0, 0.2 / max(abs(delta[0]), 1e-12), 5.0 / max(abs(delta[1]), 1e-12))
        x = x + scale * delta
        x[0] = np.clip(x[0], np.log(MIN_BURN_S), np.log(MAX_BURN_S))
        x[1] = np.clip(x[1], MIN_PITCH_DEG + h_deg, MAX_PITCH_DEG - h_deg)
    raise PhysicsError(f"minimum-energy design for {range_m / 1e3:.0f} km did not converge")
