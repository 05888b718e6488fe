"""Motion models of a tracked missile in ECEF: ballistic flight and powered (boost) flight.

State layout (shared by every model so that an IMM can mix them; a model uses a prefix)::

    index 0:3   r      ECEF position, m
    index 3:6   v      ECEF velocity relative to the rotating Earth, m/s
    index 6     l      log ballistic coefficient, l = ln(beta / (1 kg/m^2)), beta = m / (C_D A)
    index 7:10  a_t    thrust (non-gravitational, non-drag) acceleration, ECEF, m/s^2

:data:`BALLISTIC` uses the first 7 components, :data:`BOOST` all 10. The dynamics are the
physics module's (J2 gravity, Coriolis and centrifugal terms, US-1976 drag), with drag written
in ``k = 1/beta = exp(-l)``:

    r' = v,   v' = g_J2(r) - 2 w x v - w x (w x r) - rho(h) |v| v k / 2 + a_t,
    l' = 0 + noise,   a_t' = 0 + noise (boost only).

Why the logarithm: beta is a positive scale parameter known a priori only to within a factor
of a few (1,000-30,000 kg/m^2 covers boosters, spent bodies and re-entry vehicles), and in
midcourse there is no air to measure it, so its estimate stays at the prior for most of the
flight. A Gaussian on 1/beta that wide has real mass below zero (drag that pushes); a Gaussian
on ``l`` is positive by construction and its sigma points always describe physical vehicles.
Users who want the 1/beta layout get it from :func:`to_inverse_beta` (exact moments).

Process noise (continuous white noise, spectral densities; each figure documented where set):

* every model: white acceleration noise on v for forces the model lacks: the geopotential
  beyond J2 and lunisolar terms (< 1e-4 m/s^2), so the density is small.
* no white drag-error term in ballistic flight: drag is rho(h) |v| v k / 2, so an error of
  beta and a density error of the standard atmosphere that varies slowly along the path are
  one multiplicative error of the drag, which is what the state ``l`` and its covariance
  carry (a density a factor (1 + e) off is l shifted by -ln(1 + e)); its random walk below
  lets it drift. A white term of 25 % of the drag on top counted that error twice: on
  srbm-salvo (50 runs) it made the tracks ~1.5x too cautious, most below 60 km (6-D NEES
  2.0-2.4 there), and it had hidden an l carried out of the boost wrongly (see
  :mod:`kizuna.tracking.imm`). Powered flight keeps it (``drag_error_fraction``, 25 % of the
  drag with a 5 s correlation time, q = (0.25 |a_drag|)^2 * 5 s): the boosting body's drag is
  not the re-entry figure k describes, and its error is not a scale factor l could carry.
* the extended filter's own drag linearisation error (``drag_linearisation``; ballistic
  flight): its prediction takes the drag, through k = exp(-l), as linear in l at the mean m.
  For l ~ N(m, s^2) the part of exp(-(l - m)) that no line in l carries (the residual after
  the best linear fit) has variance g(s^2) = exp(s^2) (exp(s^2) - 1 - s^2)
  (:func:`drag_linearisation_variance`; s^4 / 2 for a small s, 1.95 at the prior's s = 1).
  Over a step h the velocity then takes a drag error of variance |a_drag|^2 g h^2 that the
  linear model does not describe: white acceleration along the velocity (the drag's
  direction) of density |a_drag(m)|^2 g(s^2) h, with s^2 = P[l, l] at the step's start.
  Unlike the white drag-error term above this is no error of the physics for l to carry: it
  is the filter's, and it vanishes as s shrinks. Without it a missile that first meets
  dense air after burnout, l's sigma still the prior's 1, read the ascent's drag through
  the tangent of exp(-l) (convex: a drag above the model's is read as too low an l) with
  full confidence and left the air with l biased low. srbm-salvo, seeds 100-149: l's error
  over its sigma 170-300 s after launch mean -0.74 -> -0.52, rms 1.32 -> 1.05; 6-D NEES
  5.95 -> 5.79 (band [5.70, 6.31]; after 260 s, in the descent, 6.43 -> 6.07); seeds
  100-111 through ``kizuna track`` and ``kizuna evaluate``: impact ellipses (95 %) holding
  the truth 88.8 -> 96.1 % of 2,640 predictions, missiles under 80 % 6 -> 2 of 36. On all
  three velocity axes (the drag error has one direction) the same noise lowered the NEES
  twice as much for about the same l (seeds 100-107: 5.56 -> 5.04, l rms 1.55 -> 1.01,
  against 5.28 and 1.09 along the velocity); on all axes with a fixed correlation time
  tau in place of the step (density |a_drag|^2 g tau), 4.75 at 5 s (l rms 0.67), 4.95 at
  1 s (0.86), and 5.67 over seeds 100-149 at 0.25 s (1.08), below the band; g = s^4 / 2
  in place of the exact residual is the same trade with less noise. The cubature filter
  does not linearise and takes none (:meth:`MotionModel.noise` without ``var_log_beta``);
  powered flight has its own drag error term.
* ``l``: random walk, the ballistic coefficient drifting with Mach number and attitude. That
  is a property of the flow, not of the body, so the density is scaled by rho / (rho + rho_60)
  (rho_60 the density at 60 km): full in the lower atmosphere, ~2e-3 of it at 100 km and
  nothing in vacuum, where beta cannot change (no flow, no ablation) and so should not be
  allowed to wander while the data carry no information on it.
* ``a_t`` (boost only): white jerk. Thrust acceleration of the physics boost model grows from
  ~20 to ~100 m/s^2 over a burn of ~100 s while the pitch turns by up to 80 degrees, so it
  changes by 1-2 m/s^2 every second, and the body's drag (unmodelled here: k is a re-entry
  figure) adds a few m/s^2 low down. q_jerk = 10 m^2/s^5 (a 3 m/s^2 random walk per second)
  covers that; with 2 the boost-phase NEES was 11 against 6 expected (tests/tracking).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kizuna.geo.constants import WGS84_B_M
from kizuna.physics.atmosphere import density_kg_m3
from kizuna.physics.constants import WGS84_A_M, WGS84_GM_M3_S2, WGS84_J2, WGS84_OMEGA_RAD_S
from kizuna.physics.dynamics import KEPLER, ForceModel, acceleration_ecef, approx_altitude_m

Array = NDArray[np.float64]

POS = slice(0, 3)
VEL = slice(3, 6)
LOG_BETA = 6
THRUST = slice(7, 10)
BALLISTIC_DIM = 7
BOOST_DIM = 10

# Drag-free part of the physics forces: drag is added here in terms of k (see module doc).
_NO_DRAG = ForceModel(j2=True, rotation=True, drag=False)
_DRAG_ERROR_FRACTION = 0.25
_DRAG_CORRELATION_S = 5.0
_DENSITY_STEP_M = 50.0  # finite-difference step for d(rho)/dh in the Jacobian
_RHO_60KM_KG_M3 = float(density_kg_m3(60_000.0))
_MIN_STEP_S = 1.0  # the smallest RK4 step limit (below 40 km)
# Drag decays speed at rate rho |v| / beta; RK4 is stable for h * rate < 2.78 (its stability
# bound on the real axis) and accurate well inside it.
_RK4_DRAG_STABLE = 1.0
_RHO_MAX_KG_M3 = 1.3  # sea-level air (1.225) and a margin: no air a track flies is denser
_EYE3 = np.eye(3)


@dataclass(frozen=True)
class MotionModel:
    """One motion model: its dimension and its process-noise spectral densities.

    ``q_accel_m2_s3``: white acceleration noise density on each velocity axis, m^2/s^3.
    ``q_log_beta``: random-walk density of l = ln(beta) in dense air, 1/s (scaled by the
    density factor rho / (rho + rho_60), see the module docstring).
    ``q_jerk_m2_s5``: white jerk density on each thrust axis (boost models only), m^2/s^5.
    ``forces``: which physics forces act (the default is the full model: J2, rotation, drag).
    ``drag_error_fraction``: white acceleration noise for a drag the model gets wrong, as a
    fraction of the modelled drag (5 s correlation); powered flight only (module docstring).
    ``drag_linearisation``: 1 to add the extended filter's drag linearisation noise
    (:func:`drag_linearisation_variance`, module docstring), 0 for none.
    """

    name: str
    dim: int
    q_accel_m2_s3: float | Array
    q_log_beta: float | Array
    q_jerk_m2_s5: float | Array = 0.0
    forces: ForceModel = _NO_DRAG
    drag: bool = True
    drag_error_fraction: float | Array = 0.0
    drag_linearisation: float | Array = 0.0

    @property
    def thrust(self) -> bool:
        return self.dim == BOOST_DIM

    def derivative(self, x: Array) -> Array:
        """d/dt of states ``(..., dim)``.

        For the full force model this is :func:`_fast_acceleration`, a fused evaluation of the
        physics module's J2 gravity, frame and drag terms (tested equal to
        :func:`kizuna.physics.dynamics.state_derivative` to round-off): the filter evaluates it
        four times per RK4 sub-step for every track and sigma point, where the separate
        physics functions' per-call overhead dominates for arrays of a few hundred rows.
        """
        inv_beta = _inverse_beta(x[..., LOG_BETA]) if self.drag else None
        thrust = x[..., THRUST] if self.thrust else None
        out = np.empty_like(x)
        out[..., POS] = x[..., VEL]
        out[..., VEL] = self._acceleration(x[..., POS], x[..., VEL], inv_beta, thrust)
        if x.shape[-1] > 6:
            out[..., 6:] = 0.0
        return out

    def _acceleration(
        self, r: Array, v: Array, inv_beta: Array | None, thrust: Array | None
    ) -> Array:
        """dv/dt (m/s^2) at positions ``r`` and velocities ``v`` (..., 3), with k = 1/beta
        (None: no drag) and the thrust acceleration (None: none)."""
        if self.forces is _NO_DRAG or self.forces == _NO_DRAG:  # (identity: no field compare)
            a = _fast_acceleration(r, v, inv_beta)
        else:
            a = acceleration_ecef(r, v, np.inf, self.forces)
            if inv_beta is not None:
                a = a + _drag_ecef(r, v, inv_beta)
        if thrust is not None:
            a = a + thrust
        return a

    def rk4(self, x: Array, h_s: Array) -> Array:
        """One classical RK4 step of states ``(K, dim)`` by ``h_s`` (K,) seconds.

        Equal, to the bit, to :func:`kizuna.physics.propagate.rk4_step` with
        :meth:`derivative`, at a third of its numpy calls: l and the thrust have zero
        derivative, so they are constant through the step; k = exp(-l) is computed once and
        the stages carry (r, v) only.
        """
        h = np.asarray(h_s, float)[..., None]
        half = 0.5 * h
        r, v = x[..., POS], x[..., VEL]
        inv_beta = _inverse_beta(x[..., LOG_BETA]) if self.drag else None
        thrust = x[..., THRUST] if self.thrust else None
        acc = self._acceleration
        a1 = acc(r, v, inv_beta, thrust)
        r2, v2 = r + half * v, v + half * a1
        a2 = acc(r2, v2, inv_beta, thrust)
        r3, v3 = r + half * v2, v + half * a2
        a3 = acc(r3, v3, inv_beta, thrust)
        r4, v4 = r + h * v3, v + h * a3
        a4 = acc(r4, v4, inv_beta, thrust)
        sixth = h / 6.0
        out = x.copy()
        out[..., POS] = r + sixth * (v + 2.0 * v2 + 2.0 * v3 + v4)
        out[..., VEL] = v + sixth * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
        return out

    def jacobian(self, x: Array) -> Array:
        """d(derivative)/d(state), shape ``(..., dim, dim)``.

        Point-mass gravity gradient (the J2 part of the gradient is 1e-3 of it and changes a
        5 s covariance step by far less than the process noise), rotation terms exactly, and
        drag's dependence on velocity, altitude (through density) and l (d a_drag / dl =
        -a_drag, since k = exp(-l)).
        """
        n = self.dim
        r, v = x[..., POS], x[..., VEL]
        template = _jacobian_template(n, self.forces.rotation, self.thrust)
        jac = np.empty(x.shape[:-1] + (n, n))
        jac[...] = template  # (np.broadcast_to(...).copy() costs 5x more on small stacks)
        # Point-mass gradient mu/r^3 (3 u u^T - I), written out (cheaper than the general
        # physics routine for a few hundred rows).
        r2 = np.einsum("...i,...i->...", r, r)
        mu_r3 = WGS84_GM_M3_S2 / (r2 * np.sqrt(r2))
        jac[..., 3:6, 0:3] += (3.0 * mu_r3 / r2)[..., None, None] * (
            r[..., :, None] * r[..., None, :]
        ) - mu_r3[..., None, None] * _EYE3
        if self.drag:
            k = _inverse_beta(x[..., LOG_BETA])
            rn = np.sqrt(r2)
            alt = _altitude_m(r, r2, rn)
            rho = density_kg_m3(alt)
            drho_dh = (density_kg_m3(alt + _DENSITY_STEP_M) - rho) / _DENSITY_STEP_M
            speed = np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v)), 1e-9)
            # a = -rho |v| v k / 2: d/dv, d/dr (through rho(h), h ~ |r| along r/|r|), d/dl.
            c = -0.5 * rho * k
            jac[..., 3:6, 3:6] += (c * speed)[..., None, None] * _EYE3 + (c / speed)[
                ..., None, None
            ] * (v[..., :, None] * v[..., None, :])
            jac[..., 3:6, 0:3] += ((-0.5 * k * speed * drho_dh / rn)[..., None] * v)[
                ..., :, None
            ] * r[..., None, :]
            jac[..., 3:6, LOG_BETA] = (0.5 * rho * speed * k)[..., None] * v
        return jac

    def noise(self, x: Array, dt_s: Array, var_log_beta: Array | None = None) -> Array:
        """Discrete process noise Q over steps ``dt_s`` (shape (...)) from the state ``x``.

        ``var_log_beta``: the variance of l at the step's start, for the extended filter's
        drag linearisation noise (:func:`drag_linearisation_variance`, module docstring);
        None (a filter that does not linearise exp(-l), the cubature filter): none.

        White acceleration (density q) gives per axis [[q dt^3/3, q dt^2/2], [q dt^2/2, q dt]];
        white jerk (density j) on the thrust states adds the nearly-constant-acceleration block
        j [[dt^5/20, dt^4/8, dt^3/6], [dt^4/8, dt^3/3, dt^2/2], [dt^3/6, dt^2/2, dt]] over
        (r, v, a_t). Built as one contraction of per-row coefficients with fixed basis matrices.
        The drag linearisation noise (density q_d along the unit velocity u) adds the white
        acceleration block with u u^T in place of the identity.
        """
        dt = np.abs(np.asarray(dt_s, float))
        q = np.asarray(self.q_accel_m2_s3, float)  # scalars or per-row (broadcast below)
        q_l = np.asarray(self.q_log_beta, float)
        if self.drag:
            r, v = x[..., POS], x[..., VEL]
            r2 = np.einsum("...i,...i->...", r, r)
            v2 = np.einsum("...i,...i->...", v, v)
            rho = density_kg_m3(_altitude_m(r, r2, np.sqrt(r2)))
            drag = 0.5 * rho * v2 * _inverse_beta(x[..., LOG_BETA])  # |a_drag|
            q = q + (self.drag_error_fraction * drag) ** 2 * _DRAG_CORRELATION_S
            if var_log_beta is not None:  # (density a^2 g h: the step h is its time scale)
                lin = np.asarray(self.drag_linearisation, float)
                q_drag = drag**2 * drag_linearisation_variance(var_log_beta) * dt * lin
            q_l = q_l * (rho / (rho + _RHO_60KM_KG_M3))
        d2 = dt * dt
        d3 = d2 * dt
        coeffs = [q * d3 / 3.0, q * d2 / 2.0, q * dt, q_l * dt]
        if self.thrust:
            j = np.asarray(self.q_jerk_m2_s5, float)
            coeffs[0] = coeffs[0] + j * d2 * d3 / 20.0
            coeffs[1] = coeffs[1] + j * d2 * d2 / 8.0
            coeffs[2] = coeffs[2] + j * d3 / 3.0
            coeffs += [j * d3 / 6.0, j * d2 / 2.0, j * dt]
        c = np.empty(np.broadcast(*coeffs).shape + (len(coeffs),))
        for i, coeff in enumerate(coeffs):
            c[..., i] = coeff
        n = self.dim
        basis = _NOISE_BASIS[: c.shape[-1], :n, :n].reshape(c.shape[-1], n * n)
        # The contraction as one matrix product (BLAS; einsum's loop was 4x slower here).
        out = (c @ basis).reshape(c.shape[:-1] + (n, n))
        if self.drag and var_log_beta is not None:
            u = x[..., VEL] / np.maximum(np.sqrt(v2), 1e-9)[..., None]
            uu = u[..., :, None] * u[..., None, :]
            qd = np.broadcast_to(q_drag, dt.shape)[..., None, None]
            out[..., 0:3, 0:3] += (qd * (d3 / 3.0)[..., None, None]) * uu
            out[..., 0:3, 3:6] += (qd * (d2 / 2.0)[..., None, None]) * uu
            out[..., 3:6, 0:3] += (qd * (d2 / 2.0)[..., None, None]) * uu
            out[..., 3:6, 3:6] += (qd * dt[..., None, None]) * uu
        return out

    def step_limit_s(self, x: Array) -> Array:
        """Largest RK4 step (s) that keeps truncation error far below the measurement noise.

        5 s above 80 km (drag there is below 0.02 m/s^2 for any missile), 2 s down to 40 km,
        1 s below. Powered flight takes the same steps: the thrust states are constant over a
        step, which RK4 integrates exactly, so the step bounds only the gravity/drag
        integration; the STM's r-v-thrust chain is exact at second order (its third-order term,
        the Coriolis coupling 2 w h^3 / 6, maps a 30 m/s^2 thrust sigma to 0.1 m at 5 s), and
        the white-jerk noise of two steps composes to that of one (a 2 s cap above 80 km cost
        a second propagation pass for every boost-mode row with more than 2 s to go). The
        physics propagator uses finer steps low down to hold impact points to a metre over a
        whole descent; between two plots RK4's local error, ~h^5 times the fifth derivative of
        a drag that changes on a ~2 s scale, stays at centimetres at these steps, far below
        radar noise.
        """
        return _step_limit_at(row_altitude_m(x))

    def step_s(self, x: Array, remaining_s: Array) -> Array:
        """The next RK4 step (s) towards ``remaining_s`` (K,) seconds: at most
        :meth:`step_limit_s` in magnitude, and within RK4's stability for the drag's decay
        rate rho |v| / beta (a track that believes it follows a light body at 3 km/s and 6 km:
        ~20 /s, where a 0.5 s step blew the state up by 10^5: srbm-salvo seed 122, a tentative
        track re-entering). Within the smallest limit (1 s: every row one scan of a 1 s radar
        ahead) and where even sea-level air could not make the drag stiff, the step is
        ``remaining_s`` itself, with no altitude to compute."""
        ahead = np.abs(remaining_s)
        longest = float(ahead.max(initial=0.0))  # (method: no np.max dispatch)
        stiff = self.drag and _may_be_stiff(x, longest)
        if not stiff and longest <= _MIN_STEP_S:
            return remaining_s
        alt = row_altitude_m(x)
        limit = _step_limit_at(alt)
        if stiff:
            v = x[..., VEL]
            rate = (density_kg_m3(alt) * np.sqrt(np.einsum("...i,...i->...", v, v))
                    * _inverse_beta(x[..., LOG_BETA]))
            limit = np.minimum(limit, _RK4_DRAG_STABLE / np.maximum(rate, 1e-12))
        return np.sign(remaining_s) * np.minimum(ahead, limit)

    def kernel_args(
        self, k: int
    ) -> tuple[Array, Array, Array, Array, Array, tuple[bool, ...], float]:
        """The model as :func:`kizuna.tracking.kernels.ekf_predict` takes it for ``k`` rows:
        its noise densities per row, (j2, rotation, drag, thrust) and the density that scales
        the ln(beta) walk (kg/m^3)."""

        def per_row(value: float | Array) -> Array:
            # Writeable C arrays always: one compiled specialisation (a read-only array is
            # another type to numba, and the IMM's cached stacked models' arrays are read-only).
            if not np.ndim(value):
                return np.full(k, float(value))
            return value if value.flags.writeable else value.copy()  # type: ignore[union-attr]

        if self.forces.drag or self.forces.geopotential_degree > 2:
            raise ValueError("the filters' motion models add drag themselves, gravity to J2")
        return (
            per_row(self.q_accel_m2_s3),
            per_row(self.q_log_beta),
            per_row(self.q_jerk_m2_s5),
            per_row(self.drag_error_fraction),
            per_row(self.drag_linearisation),
            (self.forces.j2, self.forces.rotation, self.drag, self.thrust),
            _RHO_60KM_KG_M3,
        )

    def take(self, rows: NDArray[np.intp]) -> MotionModel:
        """The model for a subset of rows (per-row noise densities follow the rows)."""

        def pick(value: float | Array) -> float | Array:
            return value[rows] if np.ndim(value) else value

        return MotionModel(
            self.name,
            self.dim,
            pick(self.q_accel_m2_s3),
            pick(self.q_log_beta),
            pick(self.q_jerk_m2_s5),
            self.forces,
            self.drag,
            pick(self.drag_error_fraction),
            pick(self.drag_linearisation),
        )

    def rows(
        self,
        q_accel_m2_s3: Array,
        q_log_beta: Array,
        q_jerk_m2_s5: Array,
        drag_error_fraction: Array,
        drag_linearisation: Array,
    ) -> MotionModel:
        """This model with per-row noise figures (arrays of shape (K,)), for stacking the
        rows of several models (an IMM's modes) into one propagation call."""
        return MotionModel(
            self.name,
            self.dim,
            q_accel_m2_s3,
            q_log_beta,
            q_jerk_m2_s5,  # type: ignore[arg-type]
            self.forces,
            self.drag,
            drag_error_fraction,  # type: ignore[arg-type]
            drag_linearisation,  # type: ignore[arg-type]
        )


def drag_linearisation_variance(var_log_beta: Array) -> Array:
    """Variance of the part of exp(-d), d ~ N(0, s^2) (s^2 = ``var_log_beta``), that the
    extended filter's model of the drag, linear in l at its mean, does not carry.

    The residual of exp(-d) after its best linear fit in d (slope -E[exp(-d)] =
    -exp(s^2 / 2), Stein's lemma): Var[exp(-d)] - exp(s^2) s^2 = exp(s^2) (exp(s^2) - 1 - s^2),
    ~ s^4 / 2 (the dropped second-order term) for a small s. Written with numpy functions
    that numba compiles too: kizuna.tracking.kernels calls the same formula."""
    s2 = np.maximum(var_log_beta, 0.0)
    return np.exp(s2) * (np.expm1(s2) - s2)


def _altitude_m(r: Array, r2: Array, rn: Array) -> Array:
    """Height above the ellipsoid along the geocentric direction (m), as
    :func:`kizuna.physics.dynamics.approx_altitude_m` (same formula, norms passed in)."""
    sin2 = r[..., 2] ** 2 / r2
    ellipsoid = WGS84_A_M * WGS84_B_M / np.sqrt(WGS84_B_M**2 * (1.0 - sin2) + WGS84_A_M**2 * sin2)
    return rn - ellipsoid


@functools.cache
def _jacobian_template(n: int, rotation: bool, thrust: bool) -> Array:
    """The state-independent part of the Jacobian (kinematics, rotation, thrust), (n, n);
    built once per layout (read-only)."""
    jac = np.zeros((n, n))
    jac[0, 3] = jac[1, 4] = jac[2, 5] = 1.0
    if rotation:
        w = WGS84_OMEGA_RAD_S
        jac[3, 0] = jac[4, 1] = w * w
        jac[3, 4], jac[4, 3] = 2.0 * w, -2.0 * w
    if thrust:
        jac[3, 7] = jac[4, 8] = jac[5, 9] = 1.0
    jac.flags.writeable = False
    return jac


def _noise_basis() -> Array:
    basis = np.zeros((7, BOOST_DIM, BOOST_DIM))
    eye = np.eye(3)

    def sym(b: int, i: int, j: int) -> None:
        basis[b, i : i + 3, j : j + 3] = eye
        basis[b, j : j + 3, i : i + 3] = eye

    sym(0, 0, 0)  # r r
    sym(1, 0, 3)  # r v
    sym(2, 3, 3)  # v v
    basis[3, LOG_BETA, LOG_BETA] = 1.0
    sym(4, 0, 7)  # r a
    sym(5, 3, 7)  # v a
    sym(6, 7, 7)  # a a
    return basis


_NOISE_BASIS = _noise_basis()


def _inverse_beta(log_beta: Array) -> Array:
    """k = 1/beta = exp(-l) (m^2/kg); l clipped to [-50, 50] so that no input overflows."""
    # minimum/maximum rather than np.clip: the same values, without clip's Python layers
    # (three calls per RK4 step).
    return np.exp(-np.minimum(np.maximum(log_beta, -50.0), 50.0))


def row_altitude_m(x: Array) -> Array:
    """Approximate height (m) of each row's position."""
    r = x[..., POS]
    r2 = np.einsum("...i,...i->...", r, r)
    return _altitude_m(r, r2, np.sqrt(r2))


def drag_mps2(x: Array) -> Array:
    """|a_drag| = rho(h) |v|^2 / (2 beta) (m/s^2) of each row at its state (r, v, l)."""
    v = x[..., VEL]
    rho = density_kg_m3(row_altitude_m(x))
    return 0.5 * rho * np.einsum("...i,...i->...", v, v) * _inverse_beta(x[..., LOG_BETA])


def _step_limit_at(alt_m: Array) -> Array:
    """:meth:`MotionModel.step_limit_s` at heights ``alt_m`` (m)."""
    return np.where(alt_m > 80_000.0, 5.0, np.where(alt_m > 40_000.0, 2.0, _MIN_STEP_S))


def _may_be_stiff(x: Array, step_s: float) -> bool:
    """Whether a step of ``step_s`` could be too long for some row's drag decay rate in the
    densest air a track flies (one scalar bound: the fastest row with the lowest l)."""
    v = x[..., VEL]
    fastest = math.sqrt(float(np.einsum("...i,...i->...", v, v).max(initial=0.0)))
    lightest = math.exp(-max(min(float(x[..., LOG_BETA].min(initial=50.0)), 50.0), -50.0))
    return _RHO_MAX_KG_M3 * fastest * lightest * step_s > _RK4_DRAG_STABLE


def to_inverse_beta(x: Array, P: Array) -> tuple[Array, Array]:
    """States (..., n >= 7) and covariances in the l = ln(beta) layout -> the 1/beta layout.

    Exact moment matching for a Gaussian (x, l): with k = exp(-l), l ~ N(m, s^2),

        E[k] = exp(-m + s^2 / 2),   Var[k] = E[k]^2 (exp(s^2) - 1),
        Cov(x_i, k) = -E[k] Cov(x_i, l)   (Stein's lemma: Cov(x, g(l)) = Cov(x, l) E[g'(l)]).

    The other moments are unchanged. The result is the Gaussian with the same mean and
    covariance as the (non-Gaussian, positive) distribution of 1/beta; with the midcourse
    prior (s = 1) its sigma exceeds its mean, so consumers that sample it should sample the
    log layout instead.
    """
    x = np.array(x, float)
    P = np.array(P, float)
    m = x[..., LOG_BETA]
    s2 = np.maximum(P[..., LOG_BETA, LOG_BETA], 0.0)
    mean_k = np.exp(-np.minimum(np.maximum(m, -50.0), 50.0) + 0.5 * s2)  # (np.clip's values)
    cross = -mean_k[..., None] * P[..., :, LOG_BETA]
    P[..., :, LOG_BETA] = cross
    P[..., LOG_BETA, :] = cross
    P[..., LOG_BETA, LOG_BETA] = mean_k**2 * np.expm1(s2)
    x[..., LOG_BETA] = mean_k
    return x, P


def _fast_acceleration(r: Array, v: Array, inv_beta: Array | None) -> Array:
    """J2 gravity + Coriolis + centrifugal (+ drag with k = 1/beta) in one pass, (..., 3)."""
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    r2 = x * x + y * y + z * z
    rn = np.sqrt(r2)
    point_mass = -WGS84_GM_M3_S2 / (r2 * rn)
    k = 1.5 * WGS84_J2 * WGS84_A_M**2 / r2
    zz = 5.0 * z * z / r2
    f_xy = point_mass * (1.0 + k * (1.0 - zz))
    f_z = point_mass * (1.0 + k * (3.0 - zz))
    w = WGS84_OMEGA_RAD_S
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    out = np.empty(r.shape)
    f_frame = f_xy + w * w
    out[..., 0] = f_frame * x + 2.0 * w * vy
    out[..., 1] = f_frame * y - 2.0 * w * vx
    out[..., 2] = f_z * z
    if inv_beta is not None:
        sin2 = z * z / r2
        ellipsoid = (
            WGS84_A_M * WGS84_B_M / np.sqrt(WGS84_B_M**2 * (1.0 - sin2) + WGS84_A_M**2 * sin2)
        )
        rho = density_kg_m3(rn - ellipsoid)
        speed = np.sqrt(vx * vx + vy * vy + vz * vz)
        out += (-0.5 * rho * speed * np.maximum(inv_beta, 0.0))[..., None] * v
    return out


def _drag_ecef(r: Array, v: Array, inv_beta: Array) -> Array:
    """Drag acceleration -rho |v| v k / 2 (m/s^2) with k = 1/beta clipped at 0."""
    rho = density_kg_m3(approx_altitude_m(r))
    speed = np.linalg.norm(v, axis=-1)
    return (-0.5 * rho * speed * np.maximum(inv_beta, 0.0))[..., None] * v


# Prior on l = ln(beta / (1 kg/m^2)) of a ballistic object whose drag has not been measured:
# centred on a typical re-entry vehicle (beta 7,000 kg/m^2; fielded ones are 5,000-10,000),
# with sigma 1 (a factor e): 1,000 kg/m^2 (a tumbling spent body) is at -1.9 sigma and 30,000
# at +1.5 sigma, so everything from a booster in powered flight to a heavy RV is inside the
# 95 % interval. Used at initiation and at burnout (see kizuna.tracking.imm).
LOG_BETA_PRIOR = float(np.log(7000.0))
LOG_BETA_SIGMA = 1.0

# Above the air the residual accelerations the filter lacks are the geopotential beyond J2
# (J3, J4, the tesseral and sectorial terms: (n + 1) C_nm g ~ 1e-4 m/s^2 at the surface, less
# aloft) and the Sun and Moon (~1e-6 m/s^2). They vary over thousands of kilometres, so over a
# track they act as a nearly constant bias a ~ 1e-4 m/s^2, which white noise covers over the
# filter's memory T (a few hundred seconds with radars every 1-2 s) when q T^3 / 3 >=
# (a T^2 / 2)^2, i.e. q = 3 a^2 T / 4 ~ 2e-6 at T = 300 s.
# Measured against a truth that has that bias (the simulator flies the EGM2008 field to degree
# 5, kizuna.physics.gravity: 1.5-2.0e-4 m/s^2 along srbm-salvo, 0.6-2.1e-4 along
# irbm-overflight, down to 1.5e-5 near icbm-lofted's apogee): bench/accuracy.py
# mrbm (1,470 km) keeps 95 % impact-ellipse coverage at 93.7 % with 2e-6 (100 runs; 93.4 %
# over 200), and falls to 91.0 % at 5e-7 and 89.3 % at 0 (100 runs: the bias builds up over
# its long midcourse faster than the data correct it); srbm-salvo's tracks (seeds 100-103)
# read a 6-D NEES of 4.9 at 2e-6, 5.5 at 5e-7 and 6.0 at 0. One white-noise density cannot
# be exact for a bias on flights of every length; this one is right for the long ones and
# cautious on the short.
Q_ACCEL_BALLISTIC_M2_S3 = 2e-6
# In dense air beta drifts with Mach number and attitude by ~10 % per 100 s: a random walk
# of l = ln(beta) with density (0.1)^2 / 100 s (scaled down with density above ~60 km).
Q_LOG_BETA = 0.1**2 / 100.0
# A rocket body in powered flight loses half its mass in about a minute: l drifts by
# ln 2 per 60 s, covered by a random walk of density (ln 2)^2 / 60 s ~ 1e-2 / s.
Q_LOG_BETA_BOOST = 1e-2
Q_JERK_BOOST_M2_S5 = 10.0

BALLISTIC = MotionModel(
    "ballistic", BALLISTIC_DIM, Q_ACCEL_BALLISTIC_M2_S3, Q_LOG_BETA, drag_linearisation=1.0
)
# Powered flight keeps its 1e-3 m^2/s^3 (negligible beside the white jerk on the thrust states:
# j dt^3 / 3 = 3.3 m^2/s^2 of velocity variance over 1 s against q dt = 1e-3).
Q_ACCEL_BOOST_M2_S3 = 1e-3
BOOST = MotionModel(
    "boost",
    BOOST_DIM,
    Q_ACCEL_BOOST_M2_S3,
    Q_LOG_BETA_BOOST,
    Q_JERK_BOOST_M2_S5,
    drag_error_fraction=_DRAG_ERROR_FRACTION,
)
# Drag-free Kepler ballistic model, for filter equivalence tests against closed forms.
KEPLER_BALLISTIC = MotionModel(
    "kepler", BALLISTIC_DIM, Q_ACCEL_BALLISTIC_M2_S3, 0.0, forces=KEPLER, drag=False
)

__all__ = [
    "BALLISTIC",
    "BALLISTIC_DIM",
    "BOOST",
    "BOOST_DIM",
    "KEPLER_BALLISTIC",
    "LOG_BETA",
    "LOG_BETA_PRIOR",
    "LOG_BETA_SIGMA",
    "POS",
    "THRUST",
    "VEL",
    "MotionModel",
    "drag_linearisation_variance",
    "drag_mps2",
    "row_altitude_m",
    "to_inverse_beta",
]
