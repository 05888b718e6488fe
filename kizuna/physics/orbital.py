"""Satellite launches: a multi-stage rocket that reaches orbit, and the stages it drops.

A space launch differs from a missile in where it ends, not in its physics: the same rotating
ECEF equations of motion (:mod:`kizuna.physics.dynamics`) act, and thrust is added during the
burns. The model here is the classic *direct ascent with a coast to apogee*:

1. **Lower stages** (all but the last) burn back to back. The thrust is vertical for
   ``vertical_s`` seconds, then its pitch above the local horizontal falls linearly to a final
   pitch at the end of the last lower stage, in the launch plane (as in
   :mod:`kizuna.physics.boost`). The final pitch is solved so that the coast that follows peaks
   at the target altitude (the insertion altitude). Each spent lower stage separates at its
   burnout and falls as a ballistic object.
2. **Coast** to that apogee, unpowered.
3. **Upper stage** burns along the local horizontal of the *inertial* velocity, pitched up just
   enough to hold its altitude while it is slower than orbital speed, and is cut off when the
   osculating two-body perigee reaches the target perigee altitude; the upper stage and
   payload together are "the satellite".

Each stage's thrust acceleration follows constant thrust and mass flow,
``a(t) = a0 / (1 - t/tau)`` with ``tau = burn_s / (1 - 1/mass_ratio)``, so a stage is described
by its ignition acceleration, mass ratio and burn time; its ideal velocity gain is
``a0 * tau * ln(mass_ratio)``.

Orbit figures use the osculating two-body elements of the inertial state
(``v_inertial = v_ecef + w x r``); altitudes of perigee and apogee are radii minus the WGS84
equatorial radius, the conservative choice (a perigee "above 200 km" here is above 200 km
everywhere on the ellipsoid).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.errors import PhysicsError
from kizuna.geo.constants import WGS84_A_M, WGS84_GM_M3_S2, WGS84_OMEGA_RAD_S
from kizuna.geo.frames import ecef_to_lla, enu_rotation
from kizuna.physics.boost import LaunchGeometry
from kizuna.physics.dynamics import FULL, ForceModel, acceleration_ecef
from kizuna.physics.gravity import gravity_ecef
from kizuna.physics.propagate import ImpactResult, propagate_fixed, propagate_to_impact
from kizuna.physics.trajectory import Trajectory

Array = NDArray[np.float64]

ASCENT_STEP_S = 1.0  # thrust varies smoothly; RK4 at 1 s matches the missile boost model
ORBIT_STEP_S = 5.0  # vacuum, smooth gravity: RK4 at 5 s is accurate to centimetres per orbit
PITCH_EXPONENT = 0.5  # pitch falls as sqrt of time: turns early, cutting gravity losses
LEVEL_DAMPING_S = 20.0  # upper stage: time constant that damps radial velocity


@dataclass(frozen=True)
class Stage:
    """One rocket stage: constant thrust and mass flow for ``burn_s`` seconds.

    ``ignition_accel_mps2`` is thrust over the whole stack's mass at ignition, ``mass_ratio``
    the stack's mass at ignition over its mass at burnout, ``ballistic_coefficient_kg_m2``
    (m / (C_D A)) that of the spent stage as it tumbles back through the atmosphere.
    """

    burn_s: float
    ignition_accel_mps2: float
    mass_ratio: float
    ballistic_coefficient_kg_m2: float = 1500.0

    def thrust_accel_mps2(self, t_s: ArrayLike) -> Array:
        """Thrust acceleration (m/s^2) at ``t_s`` seconds after this stage's ignition."""
        tau = self.burn_s / (1.0 - 1.0 / self.mass_ratio)
        return self.ignition_accel_mps2 / (1.0 - np.asarray(t_s, float) / tau)

    @property
    def ideal_delta_v_mps(self) -> float:
        """Velocity gain without gravity or drag (m/s): the rocket equation."""
        tau = self.burn_s / (1.0 - 1.0 / self.mass_ratio)
        return float(self.ignition_accel_mps2 * tau * np.log(self.mass_ratio))


@dataclass(frozen=True)
class Launcher:
    """A space launcher: lower stages, then the upper stage that carries the payload to orbit.

    The default is an approximate three-stage small launcher of the Chollima-1 class; its
    figures are assumptions, not published data, tuned so that a launch south from Sohae
    drops its first stage in the Yellow Sea, its second east of the Philippines and reaches a
    ~460 x 520 km orbit about 11 minutes after lift-off (as reported for 2023-11-21).
    """

    stages: tuple[Stage, ...] = (
        Stage(burn_s=100.0, ignition_accel_mps2=15.0, mass_ratio=4.0,
              ballistic_coefficient_kg_m2=1500.0),
        Stage(burn_s=130.0, ignition_accel_mps2=13.0, mass_ratio=4.5,
              ballistic_coefficient_kg_m2=800.0),
        Stage(burn_s=180.0, ignition_accel_mps2=14.0, mass_ratio=8.0,
              ballistic_coefficient_kg_m2=300.0),
    )
    vertical_s: float = 10.0
    # A fuelled stack is dense: tens of tonnes behind a couple of square metres.
    body_ballistic_coefficient_kg_m2: float = 20000.0
    satellite_ballistic_coefficient_kg_m2: float = 200.0  # upper stage + payload in orbit

    def __post_init__(self) -> None:
        if len(self.stages) < 2:
            raise PhysicsError("a launcher needs at least one lower stage and an upper stage")


@dataclass(frozen=True)
class OrbitElements:
    """Osculating two-body figures of inertial states (arrays of shape (...))."""

    semi_major_axis_m: Array
    eccentricity: Array
    perigee_alt_m: Array
    apogee_alt_m: Array
    inclination_deg: Array


def inertial_velocity_mps(state_ecef: ArrayLike) -> Array:
    """Velocity in the instantaneously coincident inertial frame: ``v + w x r`` (m/s)."""
    s = np.asarray(state_ecef, float)
    w = WGS84_OMEGA_RAD_S
    out = s[..., 3:].copy()
    out[..., 0] -= w * s[..., 1]
    out[..., 1] += w * s[..., 0]
    return out


def orbit_elements(state_ecef: ArrayLike) -> OrbitElements:
    """Two-body elements of ECEF states (..., 6), from energy and angular momentum.

    ``a = -mu / (2 eps)`` with ``eps = v^2/2 - mu/r``; ``e = sqrt(1 - h^2 / (mu a))``;
    perigee/apogee radii ``a (1 -+ e)``. Unbound states get an infinite apogee.
    """
    s = np.asarray(state_ecef, float)
    r = s[..., :3]
    v = inertial_velocity_mps(s)
    mu = WGS84_GM_M3_S2
    rn = np.linalg.norm(r, axis=-1)
    energy = 0.5 * np.einsum("...i,...i->...", v, v) - mu / rn
    h = np.cross(r, v)
    hn = np.linalg.norm(h, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(energy < 0, -mu / (2.0 * energy), np.inf)
        e = np.sqrt(np.maximum(0.0, 1.0 + 2.0 * energy * hn**2 / mu**2))
        rp = hn**2 / (mu * (1.0 + e))
        ra = np.where(e < 1.0, hn**2 / (mu * np.maximum(1.0 - e, 1e-300)), np.inf)
    inclination = np.degrees(np.arccos(np.clip(h[..., 2] / hn, -1.0, 1.0)))
    return OrbitElements(a, e, rp - WGS84_A_M, ra - WGS84_A_M, inclination)


def _powered_derivative(
    state: Array,
    accel_mps2: Array,
    direction: Array,
    beta: float,
    forces: ForceModel,
) -> Array:
    a = acceleration_ecef(state[:, :3], state[:, 3:], beta, forces)
    return np.concatenate([state[:, 3:], a + accel_mps2[:, None] * direction], axis=-1)


def _ascent_direction(
    r_ecef_m: Array, pitch_rad: Array, plane_normal: Array, up0: Array
) -> Array:
    """Unit thrust at ``pitch_rad`` above the geocentric horizontal, downrange in the plane.

    While the pitch is still 90 degrees the geodetic vertical of the pad (``up0``) is used, so
    the rocket rises straight off the pad.
    """
    up = r_ecef_m / np.linalg.norm(r_ecef_m, axis=-1, keepdims=True)
    downrange = np.cross(plane_normal, up)
    downrange /= np.linalg.norm(downrange, axis=-1, keepdims=True)
    direction = np.cos(pitch_rad)[:, None] * downrange + np.sin(pitch_rad)[:, None] * up
    vertical = pitch_rad >= np.pi / 2 - 1e-12
    return np.where(vertical[:, None], up0, direction)


def _level_flight_direction(state: Array, accel_mps2: Array) -> Array:
    """Upper-stage steering: along the inertial horizontal, pitched to hold the altitude.

    The vertical part of the thrust cancels what gravity leaves after the centripetal
    acceleration of the horizontal speed, ``g - v_h^2 / r``, and damps any radial velocity with
    a time constant of ``LEVEL_DAMPING_S``; the rest of the thrust speeds the vehicle along the
    horizontal. Burning without it, the stage sinks while it is still slower than orbital speed
    and ends on an eccentric orbit with a low perigee.
    """
    r = state[:, :3]
    rn = np.linalg.norm(r, axis=-1)
    up = r / rn[:, None]
    v = inertial_velocity_mps(state)
    v_radial = np.einsum("ni,ni->n", state[:, 3:], up)
    horizontal = v - np.einsum("ni,ni->n", v, up)[:, None] * up
    v_h = np.linalg.norm(horizontal, axis=-1)
    g_down = -np.einsum("ni,ni->n", gravity_ecef(r), up)
    needed = g_down - v_h**2 / rn - v_radial / LEVEL_DAMPING_S
    sin_pitch = np.clip(needed / accel_mps2, -0.5, 0.9)
    cos_pitch = np.sqrt(1.0 - sin_pitch**2)
    return cos_pitch[:, None] * horizontal / v_h[:, None] + sin_pitch[:, None] * up


def fly_ascent(
    geometry: LaunchGeometry,
    launcher: Launcher,
    final_pitch_deg: ArrayLike,
    forces: ForceModel = FULL,
) -> tuple[Array, Array, list[Array]]:
    """Fly the lower stages of N candidates (one per final pitch) from the pad.

    Returns ``(times_s (n,), states (n, N, 6), separations)`` where ``separations[k]`` is the
    (N, 6) state at the burnout of lower stage k. Steps are ``ASCENT_STEP_S`` or shorter, and
    every stage boundary falls on a step.
    """
    pitch_end = np.radians(np.atleast_1d(np.asarray(final_pitch_deg, float)))
    n = pitch_end.size
    lower = launcher.stages[:-1]
    total_s = float(sum(stage.burn_s for stage in lower))
    site = geometry.site_ecef()
    normal = geometry.plane_normal_ecef()
    up0 = enu_rotation(geometry.lat_deg, geometry.lon_deg)[2]
    beta = launcher.body_ballistic_coefficient_kg_m2

    def pitch_at(t: float) -> Array:
        fraction = np.clip((t - launcher.vertical_s) / (total_s - launcher.vertical_s), 0.0, 1.0)
        return np.pi / 2 + fraction**PITCH_EXPONENT * (pitch_end - np.pi / 2)

    state = np.tile(np.concatenate([site, np.zeros(3)]), (n, 1))
    times = [0.0]
    states = [state.copy()]
    separations: list[Array] = []
    stage_start = 0.0
    for stage in lower:
        steps = max(2, int(np.ceil(stage.burn_s / ASCENT_STEP_S)))
        h = stage.burn_s / steps
        for k in range(steps):
            t_local = k * h
            t = stage_start + t_local

            def derivative(
                s: Array, dt: float, t0: float = t, tl: float = t_local, st: Stage = stage
            ) -> Array:
                accel = np.full(n, float(st.thrust_accel_mps2(tl + dt)))
                direction = _ascent_direction(s[:, :3], pitch_at(t0 + dt), normal, up0)
                return _powered_derivative(s, accel, direction, beta, forces)

            k1 = derivative(state, 0.0)
            k2 = derivative(state + 0.5 * h * k1, 0.5 * h)
            k3 = derivative(state + 0.5 * h * k2, 0.5 * h)
            k4 = derivative(state + h * k3, h)
            state = state + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            times.append(t + h)
            states.append(state.copy())
        stage_start += stage.burn_s
        separations.append(state.copy())
    return np.array(times), np.array(states), separations


def _upper_stage_burn(
    state0: Array, stage: Stage, beta: float, target_perigee_m: float, forces: ForceModel
) -> tuple[Array, Array, float]:
    """Burn the upper stage from ``state0`` (6,) until the perigee reaches the target.

    Returns ``(elapsed_s (n,), states (n, 6), cutoff_s)``. The cutoff inside the last step is
    found by the secant method on the perigee altitude (a smooth, increasing function of the
    burn time while the perigee is below the burn altitude).
    """

    def step(state: Array, t_local: float, h: float) -> Array:
        def derivative(s: Array, dt: float) -> Array:
            accel = np.atleast_1d(stage.thrust_accel_mps2(t_local + dt))
            return _powered_derivative(s, accel, _level_flight_direction(s, accel), beta, forces)

        k1 = derivative(state, 0.0)
        k2 = derivative(state + 0.5 * h * k1, 0.5 * h)
        k3 = derivative(state + 0.5 * h * k2, 0.5 * h)
        k4 = derivative(state + h * k3, h)
        return state + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    state = state0[None, :].copy()
    elapsed = [0.0]
    states = [state[0].copy()]
    t = 0.0
    perigee = float(orbit_elements(state[0]).perigee_alt_m)
    while perigee < target_perigee_m:
        if t >= stage.burn_s - 1e-9:
            raise PhysicsError(
                f"the upper stage burns out with perigee {perigee / 1e3:.0f} km, below the "
                f"target {target_perigee_m / 1e3:.0f} km"
            )
        h = min(ASCENT_STEP_S, stage.burn_s - t)
        trial = step(state, t, h)
        trial_perigee = float(orbit_elements(trial[0]).perigee_alt_m)
        if trial_perigee >= target_perigee_m:
            # Secant on the sub-step length, bracketed in [0, h].
            lo, f_lo = 0.0, perigee - target_perigee_m
            hi, f_hi = h, trial_perigee - target_perigee_m
            for _ in range(30):
                tau = lo - f_lo * (hi - lo) / (f_hi - f_lo)
                trial = step(state, t, tau)
                f_tau = float(orbit_elements(trial[0]).perigee_alt_m) - target_perigee_m
                if abs(f_tau) < 1.0:
                    break
                if f_tau < 0:
                    lo, f_lo = tau, f_tau
                else:
                    hi, f_hi = tau, f_tau
            h = tau
        state = trial
        t += h
        elapsed.append(t)
        states.append(state[0].copy())
        perigee = float(orbit_elements(state[0]).perigee_alt_m)
    return np.array(elapsed), np.array(states), t


@dataclass(frozen=True)
class SpentStage:
    """A spent lower stage: separated at ``separation_s`` (after launch), falls to impact."""

    index: int
    separation_s: float
    separation_state: Array
    ballistic_coefficient_kg_m2: float
    impact_s: float
    impact_lat_deg: float
    impact_lon_deg: float

    def trajectory(
        self, launch_time_s: float = 0.0, dt_s: float = 1.0, forces: ForceModel = FULL
    ) -> Trajectory:
        """Separation to impact, sampled every ``dt_s`` seconds (absolute times)."""
        trajectory, _ = ballistic_trajectory(
            self.separation_state, launch_time_s + self.separation_s,
            self.ballistic_coefficient_kg_m2, forces, dt_s=dt_s,
        )
        return trajectory


@dataclass(frozen=True)
class OrbitalFlight:
    """A designed satellite launch (times relative to launch, SI units).

    ``insertion_state`` is the ECEF state at upper-stage cutoff, ``insertion_s`` its time;
    ``elements`` the osculating orbit there.
    """

    geometry: LaunchGeometry
    launcher: Launcher
    final_pitch_deg: float
    coast_start_s: float
    upper_ignition_s: float
    insertion_s: float
    insertion_state: Array
    elements: OrbitElements
    stages: tuple[SpentStage, ...]
    forces: ForceModel = FULL
    _ascent: tuple[Array, Array] = field(repr=False, compare=False, default=(np.zeros(0),
                                                                             np.zeros((0, 6))))

    @property
    def perigee_alt_m(self) -> float:
        return float(self.elements.perigee_alt_m)

    @property
    def apogee_alt_m(self) -> float:
        return float(self.elements.apogee_alt_m)

    @property
    def inclination_deg(self) -> float:
        return float(self.elements.inclination_deg)

    def trajectory(
        self, launch_time_s: float = 0.0, duration_s: float = 1800.0, dt_s: float = 1.0
    ) -> Trajectory:
        """The launcher then the satellite, pad to ``duration_s`` after launch.

        ``powered`` is True during the burns (not during the coast or in orbit).
        """
        times, states = self._ascent
        powered_until = self.coast_start_s
        in_orbit = max(duration_s - self.insertion_s, ORBIT_STEP_S)
        orbit_t, orbit_x = propagate_fixed(
            self.insertion_state[None], in_orbit, ORBIT_STEP_S,
            self.launcher.satellite_ballistic_coefficient_kg_m2, self.forces,
        )
        all_t = np.concatenate([times, self.insertion_s + orbit_t[1:]])
        all_x = np.vstack([states, orbit_x[1:, 0]])
        # Every ignition and cutoff: the lower stages' separations (the last one starts the
        # coast; taken on the ascent's own step times, which sum the burns in another order),
        # the upper stage's ignition and its cutoff at insertion.
        separations = np.array([stage.separation_s for stage in self.stages])
        separations = times[np.argmin(np.abs(times[:, None] - separations), axis=0)]
        cuts = np.concatenate([separations, [self.upper_ignition_s, self.insertion_s]])
        coarse = Trajectory(all_t, all_x, np.zeros(all_t.size, bool), cuts)
        grid = np.unique(np.concatenate([np.arange(0.0, all_t[-1], dt_s), cuts, [all_t[-1]]]))
        # The stage boundaries are knots of the spline, so the states there are exact.
        sampled = coarse.state_at(grid)
        powered = (grid < powered_until - 1e-9) | (
            (grid >= self.upper_ignition_s) & (grid < self.insertion_s - 1e-9)
        )
        return Trajectory(launch_time_s + grid, sampled, powered, launch_time_s + cuts)


def ballistic_trajectory(
    state0: ArrayLike,
    t0_s: float,
    ballistic_coefficient_kg_m2: float,
    forces: ForceModel = FULL,
    dt_s: float = 1.0,
    max_duration_s: float = 7200.0,
) -> tuple[Trajectory, ImpactResult]:
    """An unpowered object from ``state0`` (6,) at ``t0_s`` to impact, sampled every ``dt_s``.

    The last sample is the exact impact. Raises :class:`PhysicsError` if the object is still
    aloft after ``max_duration_s``.
    """
    record: list[tuple[Array, Array]] = []
    impact = propagate_to_impact(
        np.asarray(state0, float)[None], t0_s, ballistic_coefficient_kg_m2, forces,
        max_duration_s, record=record,
    )
    if not impact.hit[0]:
        raise PhysicsError("the object does not come back to Earth within the time allowed")
    elapsed = np.array([t for t, _ in record])
    states = np.array([s[0] for _, s in record])
    flight_s = float(impact.time_s[0] - t0_s)
    keep = np.concatenate([[True], np.diff(elapsed) > 1e-9]) & (elapsed <= flight_s + 1e-9)
    elapsed, states = elapsed[keep], states[keep]
    if elapsed[-1] < flight_s - 1e-9:
        elapsed = np.append(elapsed, flight_s)
        states = np.vstack([states, impact.state])
    coarse = Trajectory(elapsed, states, np.zeros(elapsed.size, bool))
    grid = np.unique(np.concatenate([np.arange(0.0, flight_s, dt_s), [flight_s]]))
    sampled = coarse.state_at(grid)
    sampled[-1] = impact.state[0]
    return Trajectory(t0_s + grid, sampled, np.zeros(grid.size, bool)), impact


def _coast_apogee_alt_m(states: Array) -> Array:
    """Two-body apogee altitude (m) of the coast that follows each state (N, 6)."""
    return orbit_elements(states).apogee_alt_m


def design_orbital(
    geometry: LaunchGeometry,
    insertion_alt_m: float = 520e3,
    perigee_alt_m: float = 460e3,
    launcher: Launcher | None = None,
    forces: ForceModel = FULL,
) -> OrbitalFlight:
    """Design a launch from ``geometry`` into an orbit of perigee ``perigee_alt_m``.

    Solves the final pitch of the lower stages so that the coast peaks at ``insertion_alt_m``
    (vectorised grid then bracket refinement), coasts to that apogee, and burns the upper stage
    until the perigee reaches ``perigee_alt_m`` (which must not exceed the insertion altitude).
    Spent lower stages are propagated to their impacts. Raises :class:`PhysicsError` when this
    launcher cannot do it.
    """
    launcher = launcher or Launcher()
    if not 150e3 <= perigee_alt_m <= insertion_alt_m:
        raise PhysicsError("the perigee must be between 150 km and the insertion altitude")

    def apogee_error(pitch_deg: Array) -> tuple[Array, Array, Array, list[Array]]:
        t, x, seps = fly_ascent(geometry, launcher, pitch_deg, forces)
        return _coast_apogee_alt_m(x[-1]) - insertion_alt_m, t, x, seps

    pitches = np.linspace(-10.0, 60.0, 36)
    for _ in range(3):
        err, _, _, _ = apogee_error(pitches)
        err = np.where(np.isfinite(err), err, 1e12)
        # The apogee rises with the final pitch over the useful range; find the first sign
        # change from below to above the target.
        change = np.flatnonzero((err[:-1] < 0) & (err[1:] >= 0))
        if change.size == 0:
            raise PhysicsError(
                f"this launcher's lower stages cannot loft the coast to "
                f"{insertion_alt_m / 1e3:.0f} km"
            )
        i = int(change[0])
        pitches = np.linspace(pitches[i], pitches[i + 1], 12)
    err, _, _, _ = apogee_error(pitches)
    j = int(np.flatnonzero(err >= 0)[0])
    lo, hi = pitches[max(j - 1, 0)], pitches[j]
    f_lo, f_hi = err[max(j - 1, 0)], err[j]
    final_pitch = float(lo - f_lo * (hi - lo) / (f_hi - f_lo)) if f_hi != f_lo else float(hi)
    times, states, seps = fly_ascent(geometry, launcher, final_pitch, forces)
    ascent_t, ascent_x = times, states[:, 0]
    coast_start = float(times[-1])

    # Coast to apogee: step, then locate the sign change of the radial velocity r.v (the
    # frame rotation adds nothing radial) and finish on it with a secant sub-step.
    coast_t, coast_x = propagate_fixed(
        ascent_x[-1][None], 3600.0, ASCENT_STEP_S, launcher.body_ballistic_coefficient_kg_m2,
        forces,
    )
    radial = np.einsum("ni,ni->n", coast_x[:, 0, :3], coast_x[:, 0, 3:])
    down = np.flatnonzero(radial <= 0)
    if down.size == 0 or down[0] == 0:
        raise PhysicsError("the coast after the lower stages never reaches an apogee")
    k = int(down[0])
    coarse = Trajectory(coast_t[: k + 1], coast_x[: k + 1, 0], np.zeros(k + 1, bool))
    lo_t, hi_t = float(coast_t[k - 1]), float(coast_t[k])
    for _ in range(40):
        mid = 0.5 * (lo_t + hi_t)
        s = coarse.state_at(mid)
        if float(np.dot(s[:3], s[3:])) > 0:
            lo_t = mid
        else:
            hi_t = mid
    apogee_elapsed = 0.5 * (lo_t + hi_t)
    coast_keep = coast_t < apogee_elapsed - 1e-9
    apogee_state = coarse.state_at(apogee_elapsed)
    ignition = coast_start + apogee_elapsed

    upper = launcher.stages[-1]
    burn_t, burn_x, cutoff = _upper_stage_burn(
        apogee_state, upper, launcher.satellite_ballistic_coefficient_kg_m2, perigee_alt_m,
        forces,
    )
    insertion_state = burn_x[-1]
    all_t = np.concatenate([ascent_t, coast_start + coast_t[coast_keep][1:], [ignition],
                            ignition + burn_t[1:]])
    all_x = np.vstack([ascent_x, coast_x[coast_keep, 0][1:], apogee_state[None], burn_x[1:]])

    spent: list[SpentStage] = []
    separation_s = 0.0
    for index, (stage, state) in enumerate(zip(launcher.stages[:-1], seps, strict=True)):
        separation_s += stage.burn_s
        _, impact = ballistic_trajectory(state[0], separation_s, stage.ballistic_coefficient_kg_m2,
                                         forces)
        spent.append(SpentStage(
            index=index + 1, separation_s=separation_s, separation_state=state[0].copy(),
            ballistic_coefficient_kg_m2=stage.ballistic_coefficient_kg_m2,
            impact_s=float(impact.time_s[0]), impact_lat_deg=float(impact.lat_deg[0]),
            impact_lon_deg=float(impact.lon_deg[0]),
        ))
    return OrbitalFlight(
        geometry=geometry, launcher=launcher, final_pitch_deg=final_pitch,
        coast_start_s=coast_start, upper_ignition_s=ignition, insertion_s=ignition + cutoff,
        insertion_state=insertion_state, elements=orbit_elements(insertion_state),
        stages=tuple(spent), forces=forces, _ascent=(all_t, all_x),
    )


def ground_track(trajectory: Trajectory) -> tuple[Array, Array, Array]:
    """(lat_deg, lon_deg, alt_m) of every sample of a trajectory, for plots and tests."""
    return ecef_to_lla(trajectory.state[:, :3])


__all__ = [
    "Launcher",
    "OrbitElements",
    "OrbitalFlight",
    "SpentStage",
    "Stage",
    "ballistic_trajectory",
    "design_orbital",
    "fly_ascent",
    "ground_track",
    "inertial_velocity_mps",
    "orbit_elements",
]
