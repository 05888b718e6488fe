"""Numerical propagation of many objects at once, and impact detection on the ellipsoid.

Two integrators with one purpose each:

* :func:`propagate_to_impact`: the Dormand-Prince 5(4) embedded pair, vectorised over objects
  with a step size and error control of its own per object, so a drag-dominated object low in
  the atmosphere takes the short steps it needs while its neighbours in vacuum take long ones
  (and a slow-falling one settles at the step its smooth terminal descent allows, not at a
  fixed 0.25 s). The local error per step is held to :data:`POSITION_TOLERANCE_M` and
  :data:`VELOCITY_TOLERANCE_MPS`, which keeps the impact within centimetres of the reference.
* :func:`rk4_step` / :func:`propagate_fixed`: fixed-step classical Runge-Kutta for uniform
  grids (truth sampling, filters).
* :func:`propagate_reference`: scipy's adaptive 8th-order Dormand-Prince (DOP853) at tight
  tolerances for one object, the yardstick the fast path is tested against.

An impact is the first crossing of geodetic altitude 0 from above; its time is refined by the
Illinois variant of regula falsi on the Dormand-Prince sub-step from the last state above
ground, so the impact point is on the ellipsoid to a millimetre.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp

from kizuna.geo.frames import ecef_to_lla, geodetic_altitude_m
from kizuna.physics.dynamics import (
    FULL,
    NO_DRAG,
    ForceModel,
    approx_altitude_m,
    state_derivative,
)

Array = NDArray[np.float64]
Derivative = Callable[[Array], Array]  # autonomous: state (..., 6) -> d state / dt

VACUUM_STEP_S = 5.0  # all objects above 120 km: no drag, smooth gravity
UPPER_AIR_STEP_S = 1.0  # some object between 30 and 120 km
LOWER_AIR_STEP_S = 0.25  # some object below 30 km, where drag changes fast
IMPACT_TOLERANCE_M = 1e-3

# Local error allowed per adaptive step. A velocity error dv grows into a position error of
# dv * t over the remaining flight (up to a few thousand s), so the velocity bound is the
# tighter one.
POSITION_TOLERANCE_M = 1e-2
VELOCITY_TOLERANCE_MPS = 1e-4
MAX_STEP_S = 60.0  # bounds the step in vacuum, where the error bound alone would allow more
_SAFETY = 0.9
_MIN_FACTOR, _MAX_FACTOR = 0.2, 5.0

# Dormand & Prince (1980) 5(4) tableau: nodes, stage coefficients, 5th-order weights (the
# last stage is the derivative at the new state, reused as the next step's first: FSAL) and
# the difference between the 5th- and embedded 4th-order weights (the error estimate).
_DP_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
_DP_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def rk4_step(derivative: Derivative, state: Array, dt: ArrayLike) -> Array:
    """One classical Runge-Kutta step of size ``dt`` (s; scalar or per object, shape (...))."""
    h = np.asarray(dt, float)[..., None] if np.ndim(dt) else float(dt)  # type: ignore[arg-type]
    k1 = derivative(state)
    k2 = derivative(state + 0.5 * h * k1)
    k3 = derivative(state + 0.5 * h * k2)
    k4 = derivative(state + h * k3)
    return state + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def dopri_step(
    derivative: Derivative, state: Array, dt: Array, k1: Array
) -> tuple[Array, Array, Array]:
    """One Dormand-Prince 5(4) step of per-object size ``dt`` (s, shape (N,)) from ``state``
    (N, 6) whose derivative ``k1`` is known.

    Returns (5th-order new state, its derivative (the next step's ``k1``), error estimate),
    each (N, 6). Six derivative evaluations per step.
    """
    h = dt[:, None]
    k = [k1]
    for row in _DP_A[1:]:
        increment = sum(a * kj for a, kj in zip(row, k, strict=False) if a != 0.0)
        k.append(derivative(state + h * increment))
    new = state + h * sum(b * kj for b, kj in zip(_DP_B, k, strict=False) if b != 0.0)
    k.append(derivative(new))
    error = h * sum(e * kj for e, kj in zip(_DP_E, k, strict=True) if e != 0.0)
    return new, k[-1], error


def _error_ratio(error: Array) -> Array:
    """Per-object local error over its tolerance (accept the step when <= 1), shape (N,)."""
    position = np.sqrt(np.einsum("ni,ni->n", error[:, :3], error[:, :3]))
    velocity = np.sqrt(np.einsum("ni,ni->n", error[:, 3:], error[:, 3:]))
    return np.maximum(position / POSITION_TOLERANCE_M, velocity / VELOCITY_TOLERANCE_MPS)


def hermite_state(s0: Array, d0: Array, s1: Array, d1: Array, h: Array, u: Array) -> Array:
    """State at fraction ``u`` of a step of ``h`` s from (``s0``, derivative ``d0``) to
    (``s1``, ``d1``): quintic Hermite in position (position, velocity and acceleration at both
    ends, error O(h^6)), its time derivative for the velocity. Shapes broadcast over (..., 6).
    """
    u = u[..., None]
    u2 = u * u
    u3 = u2 * u
    u4 = u3 * u
    u5 = u4 * u
    hh = h[..., None]
    r0, v0, a0 = s0[..., :3], s0[..., 3:], d0[..., 3:]
    r1, v1, a1 = s1[..., :3], s1[..., 3:], d1[..., 3:]
    dr = r1 - r0
    position = (
        r0
        + dr * (10 * u3 - 15 * u4 + 6 * u5)
        + hh * v0 * (u - 6 * u3 + 8 * u4 - 3 * u5)
        + hh * v1 * (-4 * u3 + 7 * u4 - 3 * u5)
        + hh * hh * a0 * 0.5 * (u2 - 3 * u3 + 3 * u4 - u5)
        + hh * hh * a1 * 0.5 * (u3 - 2 * u4 + u5)
    )
    velocity = (
        dr / np.where(hh > 0.0, hh, 1.0) * (30 * u2 - 60 * u3 + 30 * u4)
        + v0 * (1 - 18 * u2 + 32 * u3 - 15 * u4)
        + v1 * (-12 * u2 + 28 * u3 - 15 * u4)
        + hh * a0 * 0.5 * (2 * u - 9 * u2 + 12 * u3 - 5 * u4)
        + hh * a1 * 0.5 * (3 * u2 - 8 * u3 + 5 * u4)
    )
    return np.concatenate([position, velocity], axis=-1)


def ballistic(
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG, forces: ForceModel = FULL
) -> Derivative:
    """The unpowered equations of motion as an autonomous derivative function."""
    beta = np.asarray(ballistic_coefficient_kg_m2, float)

    def derivative(state: Array) -> Array:
        return state_derivative(state, beta if beta.ndim == 0 else beta[: state.shape[0]], forces)

    return derivative


def regime_step_s(altitude_m: ArrayLike) -> Array:
    """RK4 step (s) that keeps an object at ``altitude_m`` accurate to well under a metre."""
    alt = np.asarray(altitude_m, float)
    return np.select([alt > 120_000.0, alt > 30_000.0], [VACUUM_STEP_S, UPPER_AIR_STEP_S],
                     LOWER_AIR_STEP_S)


def propagate_fixed(
    state0: ArrayLike,
    duration_s: float,
    dt_s: float,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    forces: ForceModel = FULL,
) -> tuple[Array, Array]:
    """Propagate ``(N, 6)`` states for ``duration_s`` with fixed RK4 steps (no ground).

    Returns ``(times_s (n+1,), states (n+1, N, 6))`` with times relative to the start; the last
    step is shortened to land exactly on ``duration_s``.
    """
    state = np.atleast_2d(np.asarray(state0, float))
    derivative = ballistic(ballistic_coefficient_kg_m2, forces)
    n = max(1, int(np.ceil(duration_s / dt_s - 1e-9)))
    times = np.minimum(np.arange(n + 1) * dt_s, duration_s)
    states = np.empty((n + 1,) + state.shape)
    states[0] = state
    for i in range(n):
        state = rk4_step(derivative, state, times[i + 1] - times[i])
        states[i + 1] = state
    return times, states


@dataclass(frozen=True)
class ImpactResult:
    """Where and when each object meets the ellipsoid (altitude 0).

    ``hit`` is False for objects still aloft at the end of the allowed duration (orbital or
    simply too long); their other fields hold the last state reached.
    """

    hit: NDArray[np.bool_]  # (N,)
    time_s: Array  # (N,) absolute, same clock as the start time
    state: Array  # (N, 6) ECEF at impact
    lat_deg: Array  # (N,)
    lon_deg: Array  # (N,)
    apogee_m: Array  # (N,) highest altitude reached after the start (parabolic peak fit)


def _refine_crossing(
    derivative: Derivative, state_before: Array, k1: Array, dt_s: Array
) -> tuple[Array, Array]:
    """Sub-step tau in (0, dt] where geodetic altitude of DOPRI(state_before, tau) is 0.

    Illinois regula falsi on tau: superlinear and, unlike Newton, cannot leave the bracket.
    Each trial is a true integration step from the last state above ground (shorter than the
    accepted one, so at least as accurate), so the impact state is the integrator's own.
    Returns (tau (M,), state at tau (M, 6)).
    """
    m = state_before.shape[0]
    lo = np.zeros(m)
    hi = np.broadcast_to(np.asarray(dt_s, float), (m,)).copy()
    f_lo = geodetic_altitude_m(state_before[:, :3])
    f_hi = geodetic_altitude_m(dopri_step(derivative, state_before, hi, k1)[0][:, :3])
    side = np.zeros(m, dtype=int)
    tau = hi.copy()
    for _ in range(60):
        tau = np.where(f_hi != f_lo, hi - f_hi * (hi - lo) / (f_hi - f_lo), 0.5 * (lo + hi))
        state = dopri_step(derivative, state_before, tau, k1)[0]
        f_tau = geodetic_altitude_m(state[:, :3])
        if np.all(np.abs(f_tau) < IMPACT_TOLERANCE_M):
            return tau, state
        below = f_tau < 0.0
        # Illinois: halve the retained end's value when the same end is kept twice in a row.
        hi = np.where(below, tau, hi)
        f_hi = np.where(below, f_tau, np.where(side == -1, 0.5 * f_hi, f_hi))
        lo = np.where(below, lo, tau)
        f_lo = np.where(below, np.where(side == 1, 0.5 * f_lo, f_lo), f_tau)
        side = np.where(below, 1, -1)
    return tau, dopri_step(derivative, state_before, tau, k1)[0]


def _parabola_peak(t: Array, a: Array) -> Array:
    """Vertex height of the parabola through three (time, altitude) samples, rows of (M, 3).

    Altitude near apogee is a smooth quadratic in time to within the jerk term, so the vertex
    of three RK4 samples pins the apogee to centimetres where the samples alone miss it by up
    to g dt^2 / 8 (30 m at 5 s steps), enough to spoil finite differences in design.
    """
    t1, t2, t3 = t[:, 0] - t[:, 1], np.zeros(len(t)), t[:, 2] - t[:, 1]
    a1, a2, a3 = a[:, 0], a[:, 1], a[:, 2]
    denom = (t1 - t2) * (t1 - t3) * (t2 - t3)
    c2 = (t3 * (a2 - a1) + t2 * (a1 - a3) + t1 * (a3 - a2)) / denom
    c1 = (t3**2 * (a1 - a2) + t2**2 * (a3 - a1) + t1**2 * (a2 - a3)) / denom
    c0 = a2
    peak = np.where(c2 < 0, c0 - c1**2 / (4.0 * np.where(c2 < 0, c2, -1.0)), a2)
    return np.maximum(peak, a2)


def _hermite_apogee(t: Array, states: Array, derivs: Array, samples: int = 16) -> Array:
    """Highest altitude (m) over two consecutive steps around a peak, per row.

    ``t`` (M, 3) step-end times, ``states``/``derivs`` (M, 3, 6) there. The steps are long in
    vacuum, so the three end points alone would fit a poor parabola; instead each step is
    sampled ``samples`` times on its quintic Hermite interpolant and the parabola goes through
    the highest sample and its neighbours, a few seconds apart: centimetres.
    """
    u = (np.arange(samples) / samples)[None, :]
    pieces_t, pieces_r = [], []
    for j in (0, 1):
        h = (t[:, j + 1] - t[:, j])[:, None]
        seg = hermite_state(states[:, j, None], derivs[:, j, None], states[:, j + 1, None],
                            derivs[:, j + 1, None], h, u)
        pieces_t.append(t[:, j, None] + u * h)
        pieces_r.append(seg[..., :3])
    times = np.concatenate(pieces_t + [t[:, 2:]], axis=1)
    alt = approx_altitude_m(np.concatenate(pieces_r + [states[:, 2:, :3]], axis=1))
    k = np.clip(np.argmax(alt, axis=1), 1, alt.shape[1] - 2)[:, None] + np.arange(-1, 2)
    rows = np.arange(len(t))[:, None]
    return _parabola_peak(times[rows, k], alt[rows, k])


def _resample(times: Array, states: Array, derivs: Array) -> list[tuple[float, Array]]:
    """Objects' adaptive-step histories on one shared grid, for ``record``.

    ``times`` (J, N) elapsed at every iteration (repeated while an object waits, rejects a
    step or is down), ``states``/``derivs`` (J, N, 6). The grid spacing is what the lowest
    object still aloft calls for (:func:`regime_step_s`: 5 s, 1 s, 0.25 s, on multiples of
    itself), and it ends at the last object's end; states between step ends come from the
    quintic Hermite interpolant, objects past their end keep their last (impact) state.
    """
    n_rows, n = times.shape
    end = times[-1]
    total = float(end.max())
    base = np.arange(0.0, total, LOWER_AIR_STEP_S)
    altitude = approx_altitude_m(states[..., :3])
    lowest = np.full(base.size, np.inf)
    index = np.empty((base.size, n), dtype=int)
    for i in range(n):
        index[:, i] = np.searchsorted(times[:, i], base, side="right")
        live = base < end[i]
        lowest[live] = np.minimum(lowest[live],
                                  np.interp(base[live], times[:, i], altitude[:, i]))
    cadence = np.where(np.isfinite(lowest), regime_step_s(lowest), VACUUM_STEP_S)
    keep = np.remainder(base, cadence) == 0.0
    grid = np.append(base[keep], total)
    after = np.vstack([index[keep], np.full((1, n), n_rows)])
    lo = after - 1
    hi = np.minimum(after, n_rows - 1)
    cols = np.arange(n)[None, :]
    h = times[hi, cols] - times[lo, cols]
    u = np.where(h > 0.0, (grid[:, None] - times[lo, cols]) / np.where(h > 0.0, h, 1.0), 0.0)
    path = hermite_state(states[lo, cols], derivs[lo, cols], states[hi, cols],
                         derivs[hi, cols], h, np.clip(u, 0.0, 1.0))
    return [(float(g), path[j]) for j, g in enumerate(grid)]


def propagate_to_impact(
    state0: ArrayLike,
    t0_s: ArrayLike = 0.0,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    forces: ForceModel = FULL,
    max_duration_s: float = 7200.0,
    record: list[tuple[Array, Array]] | None = None,
    max_altitude_m: float = np.inf,
) -> ImpactResult:
    """Propagate ``(N, 6)`` unpowered ECEF states until each meets the ellipsoid.

    ``t0_s`` may differ per object. Each object steps with its own adaptive Dormand-Prince
    step (:func:`dopri_step`, local error within :data:`POSITION_TOLERANCE_M` and
    :data:`VELOCITY_TOLERANCE_MPS`), so one object deep in the atmosphere does not slow a
    thousand in vacuum. If ``record`` is a list, ``(elapsed_s, states (N, 6))`` pairs on one
    shared grid are appended (5 s apart, 1 s once some object is below 120 km, 0.25 s below
    30 km; objects already down keep their impact state; the last pair is at the last end),
    interpolated from the steps, for trajectories and plots. Objects that
    climb above ``max_altitude_m`` are abandoned there (``hit`` False): design searches use it
    to stop flights that are clearly off target.
    """
    state = np.atleast_2d(np.asarray(state0, float)).copy()
    n = state.shape[0]
    t0 = np.broadcast_to(np.asarray(t0_s, float), (n,)).copy()
    beta = np.broadcast_to(np.asarray(ballistic_coefficient_kg_m2, float), (n,)).copy()

    aloft = np.ones(n, dtype=bool)
    hit = np.zeros(n, dtype=bool)
    impact_elapsed = np.full(n, np.nan)
    impact_state = state.copy()
    altitude = approx_altitude_m(state[:, :3])
    apogee = altitude.copy()
    slope = ballistic(beta, forces)(state)  # each object's derivative at its current state
    step = regime_step_s(altitude)  # first guess; the error control takes over from there
    # The last three accepted step ends per object, for the apogee fit.
    history_t = np.full((n, 3), np.nan)
    history_a = np.full((n, 3), -np.inf)
    history_s = np.repeat(state[:, None], 3, axis=1)
    history_d = np.repeat(slope[:, None], 3, axis=1)
    history_t[:, 2], history_a[:, 2] = 0.0, altitude
    elapsed = np.zeros(n)
    trail: list[tuple[Array, Array, Array]] = [(elapsed.copy(), state.copy(), slope.copy())]

    while aloft.any():
        idx = np.flatnonzero(aloft)
        dt = np.minimum(step[idx], max_duration_s - elapsed[idx])
        derivative = ballistic(beta[idx], forces)
        after, slope_after, error = dopri_step(derivative, state[idx], dt, slope[idx])
        ratio = _error_ratio(error)
        factor = np.clip(_SAFETY * np.maximum(ratio, 1e-12) ** -0.2, _MIN_FACTOR, _MAX_FACTOR)
        step[idx] = np.minimum(dt * factor, MAX_STEP_S)
        ok = ratio <= 1.0
        if ok.any():
            acc = idx[ok]
            before, after, slope_after, dt = state[acc], after[ok], slope_after[ok], dt[ok]
            after_alt = approx_altitude_m(after[:, :3])
            # approx altitude is within 15 m of geodetic; confirm crossings with the exact value.
            candidates = after_alt < 50.0
            crossed = np.zeros(acc.size, dtype=bool)
            if candidates.any():
                crossed[candidates] = geodetic_altitude_m(after[candidates, :3]) <= 0.0
            if crossed.any():
                cross_idx = acc[crossed]
                cross_derivative = ballistic(beta[cross_idx], forces)
                tau, at_ground = _refine_crossing(
                    cross_derivative, before[crossed], slope[cross_idx], dt[crossed]
                )
                impact_elapsed[cross_idx] = elapsed[cross_idx] + tau
                impact_state[cross_idx] = at_ground
                hit[cross_idx] = True
                aloft[cross_idx] = False
                after[crossed] = at_ground
                dt[crossed] = tau
                if record is not None:
                    slope_after[crossed] = cross_derivative(at_ground)
            state[acc] = after
            slope[acc] = slope_after
            altitude[acc] = after_alt
            elapsed[acc] += dt
            history_t[acc] = np.column_stack([history_t[acc, 1:], elapsed[acc]])
            history_a[acc] = np.column_stack([history_a[acc, 1:], after_alt])
            history_s[acc] = np.concatenate([history_s[acc, 1:], after[:, None]], axis=1)
            history_d[acc] = np.concatenate([history_d[acc, 1:], slope_after[:, None]], axis=1)
            peaked = (history_a[acc, 1] >= history_a[acc, 0]) & (history_a[acc, 1] >= after_alt)
            peaked &= np.isfinite(history_a[acc, 0])
            if peaked.any():
                at = acc[peaked]
                apogee[at] = np.maximum(
                    apogee[at], _hermite_apogee(history_t[at], history_s[at], history_d[at])
                )
            aloft[acc[after_alt > max_altitude_m]] = False
        aloft &= elapsed < max_duration_s
        if record is not None:
            trail.append((elapsed.copy(), state.copy(), slope.copy()))

    if record is not None:
        record.extend(_resample(*(np.stack(column) for column in zip(*trail, strict=True))))
    impact_state[~hit] = state[~hit]
    impact_elapsed[~hit] = elapsed[~hit]
    lat, lon, _ = ecef_to_lla(impact_state[:, :3])
    return ImpactResult(
        hit=hit,
        time_s=t0 + impact_elapsed,
        state=impact_state,
        lat_deg=lat,
        lon_deg=lon,
        apogee_m=apogee,
    )


def propagate_reference(
    state0: ArrayLike,
    t0_s: float = 0.0,
    ballistic_coefficient_kg_m2: float = NO_DRAG,
    forces: ForceModel = FULL,
    max_duration_s: float = 7200.0,
    rtol: float = 1e-12,
    atol: float = 1e-6,
) -> ImpactResult:
    """One object to impact with adaptive DOP853: slow, used as the accuracy reference."""
    start = np.asarray(state0, float).reshape(6)

    def rhs(_t: float, y: Array) -> Array:
        return state_derivative(y, ballistic_coefficient_kg_m2, forces)

    def ground(_t: float, y: Array) -> float:
        return float(geodetic_altitude_m(y[:3]))

    ground.terminal = True  # type: ignore[attr-defined]
    ground.direction = -1.0  # type: ignore[attr-defined]
    solution = solve_ivp(
        rhs, (0.0, max_duration_s), start, method="DOP853", rtol=rtol, atol=atol,
        events=ground, dense_output=True,
    )
    if solution.t_events[0].size:
        elapsed = float(solution.t_events[0][0])
        final = solution.y_events[0][0]
        did_hit = True
    else:
        elapsed = float(solution.t[-1])
        final = solution.y[:, -1]
        did_hit = False
    fine_t = np.linspace(0.0, elapsed, max(2, int(elapsed) + 1))
    altitudes = approx_altitude_m(solution.sol(fine_t)[:3].T)
    lat, lon, _ = ecef_to_lla(final[:3])
    return ImpactResult(
        hit=np.array([did_hit]),
        time_s=np.array([t0_s + elapsed]),
        state=final[None, :],
        lat_deg=np.atleast_1d(lat),
        lon_deg=np.atleast_1d(lon),
        apogee_m=np.array([altitudes.max()]),
    )
