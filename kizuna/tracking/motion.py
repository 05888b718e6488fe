"""Motion models of a tracked missile in ECEF: ballistic flight and powered (boost) flight.

State layout (shared by every model so that an IMM can mix them; a model uses a prefix)::

    index 0:3   r      ECEF position, m
    index 3:6   v      ECEF velocity relative to the rotating Earth, m/s
    index 6     k      inverse ballistic coefficient 1/beta = C_D A / m, m^2/kg (>= 0)
    index 7:10  a_t    thrust (non-gravitational, non-drag) acceleration, ECEF, m/s^2

:data:`BALLISTIC` uses the first 7 components, :data:`BOOST` all 10. The dynamics are the
physics module's (J2 gravity, Coriolis and centrifugal terms, US-1976 drag), with drag written
in ``k`` so that "no drag" is ``k = 0`` rather than an infinite beta:

    r' = v,   v' = g_J2(r) - 2 w x v - w x (w x r) - rho(h) |v| v k / 2 + a_t,
    k' = 0 + noise,   a_t' = 0 + noise (boost only).

Process noise (continuous white noise, spectral densities; each figure documented where set):

* every model: white acceleration noise on v for forces the model lacks. Above the
  atmosphere these are the geopotential beyond J2 and lunisolar terms (< 1e-4 m/s^2), so the
  density is small; in the air the dominant unmodelled force is the drag error from density
  and ballistic-coefficient variation, modelled as 25 % of the current drag acceleration with a
  5 s correlation time (a scale height crossed at 1-2 km/s), giving q = (0.25 |a_drag|)^2 * 5 s.
* ``k``: random walk, the ballistic coefficient drifting with Mach number and attitude.
* ``a_t`` (boost only): white jerk. Thrust acceleration of the physics boost model grows from
  ~20 to ~100 m/s^2 over a burn of ~100 s while the pitch turns by up to 80 degrees, so it
  changes by 1-2 m/s^2 every second, and the body's drag (unmodelled here: k is a re-entry
  figure) adds a few m/s^2 low down. q_jerk = 10 m^2/s^5 (a 3 m/s^2 random walk per second)
  covers that; with 2 the boost-phase NEES was 11 against 6 expected (tests/tracking).
"""

from __future__ import annotations

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
INV_BETA = 6
THRUST = slice(7, 10)
BALLISTIC_DIM = 7
BOOST_DIM = 10

# Drag-free part of the physics forces: drag is added here in terms of k (see module doc).
_NO_DRAG = ForceModel(j2=True, rotation=True, drag=False)
_DRAG_ERROR_FRACTION = 0.25
_DRAG_CORRELATION_S = 5.0
_DENSITY_STEP_M = 50.0  # finite-difference step for d(rho)/dh in the Jacobian


@dataclass(frozen=True)
class MotionModel:
    """One motion model: its dimension and its process-noise spectral densities.

    ``q_accel_m2_s3``: white acceleration noise density on each velocity axis, m^2/s^3.
    ``q_inv_beta``: random-walk density of k, (m^2/kg)^2/s.
    ``q_jerk_m2_s5``: white jerk density on each thrust axis (boost models only), m^2/s^5.
    ``forces``: which physics forces act (the default is the full model: J2, rotation, drag).
    """

    name: str
    dim: int
    q_accel_m2_s3: float | Array
    q_inv_beta: float | Array
    q_jerk_m2_s5: float | Array = 0.0
    forces: ForceModel = _NO_DRAG
    drag: bool = True

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
        r, v = x[..., POS], x[..., VEL]
        if self.forces == _NO_DRAG:
            a = _fast_acceleration(r, v, x[..., INV_BETA] if self.drag else None)
        else:
            a = acceleration_ecef(r, v, np.inf, self.forces)
            if self.drag:
                a = a + _drag_ecef(r, v, x[..., INV_BETA])
        if self.thrust:
            a = a + x[..., THRUST]
        out = np.empty_like(x)
        out[..., POS] = v
        out[..., VEL] = a
        if x.shape[-1] > 6:
            out[..., 6:] = 0.0
        return out

    def jacobian(self, x: Array) -> Array:
        """d(derivative)/d(state), shape ``(..., dim, dim)``.

        Point-mass gravity gradient (the J2 part of the gradient is 1e-3 of it and changes a
        5 s covariance step by far less than the process noise), rotation terms exactly, and
        drag's dependence on velocity, altitude (through density) and k.
        """
        n = self.dim
        r, v = x[..., POS], x[..., VEL]
        jac = np.broadcast_to(self._template(), x.shape[:-1] + (n, n)).copy()
        # Point-mass gradient mu/r^3 (3 u u^T - I), written out (cheaper than the general
        # physics routine for a few hundred rows).
        r2 = np.einsum("...i,...i->...", r, r)
        mu_r3 = WGS84_GM_M3_S2 / (r2 * np.sqrt(r2))
        jac[..., 3:6, 0:3] += (3.0 * mu_r3 / r2)[..., None, None] * (
            r[..., :, None] * r[..., None, :]
        ) - mu_r3[..., None, None] * np.eye(3)
        if self.drag:
            k = np.maximum(x[..., INV_BETA], 0.0)
            rn = np.sqrt(r2)
            alt = _altitude_m(r, r2, rn)
            rho = density_kg_m3(alt)
            drho_dh = (density_kg_m3(alt + _DENSITY_STEP_M) - rho) / _DENSITY_STEP_M
            speed = np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v)), 1e-9)
            # a = -rho |v| v k / 2: d/dv, d/dr (through rho(h), h ~ |r| along r/|r|), d/dk.
            c = -0.5 * rho * k
            jac[..., 3:6, 3:6] += (c * speed)[..., None, None] * np.eye(3) + (c / speed)[
                ..., None, None
            ] * (v[..., :, None] * v[..., None, :])
            jac[..., 3:6, 0:3] += ((-0.5 * k * speed * drho_dh / rn)[..., None] * v)[
                ..., :, None
            ] * r[..., None, :]
            jac[..., 3:6, INV_BETA] = (-0.5 * rho * speed)[..., None] * v
        return jac

    def _template(self) -> Array:
        """The state-independent part of the Jacobian (kinematics, rotation, thrust)."""
        n = self.dim
        jac = np.zeros((n, n))
        jac[0, 3] = jac[1, 4] = jac[2, 5] = 1.0
        if self.forces.rotation:
            w = WGS84_OMEGA_RAD_S
            jac[3, 0] = jac[4, 1] = w * w
            jac[3, 4], jac[4, 3] = 2.0 * w, -2.0 * w
        if self.thrust:
            jac[3, 7] = jac[4, 8] = jac[5, 9] = 1.0
        return jac

    def noise(self, x: Array, dt_s: Array) -> Array:
        """Discrete process noise Q over steps ``dt_s`` (shape (...)) from the state ``x``.

        White acceleration (density q) gives per axis [[q dt^3/3, q dt^2/2], [q dt^2/2, q dt]];
        white jerk (density j) on the thrust states adds the nearly-constant-acceleration block
        j [[dt^5/20, dt^4/8, dt^3/6], [dt^4/8, dt^3/3, dt^2/2], [dt^3/6, dt^2/2, dt]] over
        (r, v, a_t). Built as one contraction of per-row coefficients with fixed basis matrices.
        """
        dt = np.abs(np.asarray(dt_s, float))
        q = np.broadcast_to(np.asarray(self.q_accel_m2_s3, float), dt.shape)
        if self.drag:
            r, v = x[..., POS], x[..., VEL]
            r2 = np.einsum("...i,...i->...", r, r)
            v2 = np.einsum("...i,...i->...", v, v)
            rho = density_kg_m3(_altitude_m(r, r2, np.sqrt(r2)))
            drag = 0.5 * rho * v2 * np.maximum(x[..., INV_BETA], 0.0)  # |a_drag|
            q = q + (_DRAG_ERROR_FRACTION * drag) ** 2 * _DRAG_CORRELATION_S
        d2 = dt * dt
        d3 = d2 * dt
        coeffs = [q * d3 / 3.0, q * d2 / 2.0, q * dt, self.q_inv_beta * dt]
        if self.thrust:
            j = np.broadcast_to(np.asarray(self.q_jerk_m2_s5, float), dt.shape)
            coeffs[0] = coeffs[0] + j * d2 * d3 / 20.0
            coeffs[1] = coeffs[1] + j * d2 * d2 / 8.0
            coeffs[2] = coeffs[2] + j * d3 / 3.0
            coeffs += [j * d3 / 6.0, j * d2 / 2.0, j * dt]
        c = np.stack(np.broadcast_arrays(*coeffs), axis=-1)
        n = self.dim
        return np.einsum("...b,bij->...ij", c, _NOISE_BASIS[: c.shape[-1], :n, :n])

    def step_limit_s(self, x: Array) -> Array:
        """Largest RK4 step (s) that keeps truncation error far below the measurement noise.

        5 s above 80 km (drag there is below 0.02 m/s^2 for any missile), 2 s down to 40 km,
        1 s below, and 2 s in powered flight (the thrust states are constant over a step, so
        the step bounds only the gravity/drag integration). The physics propagator uses finer
        steps low down to hold impact points to a metre over a whole descent; between two plots
        RK4's local error, ~h^5 times the fifth derivative of a drag that changes on a ~2 s
        scale, stays at centimetres at these steps, far below radar noise.
        """
        r = x[..., POS]
        r2 = np.einsum("...i,...i->...", r, r)
        alt = _altitude_m(r, r2, np.sqrt(r2))
        limit = np.where(alt > 80_000.0, 5.0, np.where(alt > 40_000.0, 2.0, 1.0))
        if self.thrust:
            limit = np.where(np.asarray(self.q_jerk_m2_s5) > 0.0, np.minimum(limit, 2.0), limit)
        return limit

    def take(self, rows: NDArray[np.intp]) -> MotionModel:
        """The model for a subset of rows (per-row noise densities follow the rows)."""

        def pick(value: float | Array) -> float | Array:
            return value[rows] if np.ndim(value) else value

        return MotionModel(
            self.name,
            self.dim,
            pick(self.q_accel_m2_s3),
            pick(self.q_inv_beta),
            pick(self.q_jerk_m2_s5),
            self.forces,
            self.drag,
        )

    def rows(self, q_accel_m2_s3: Array, q_inv_beta: Array, q_jerk_m2_s5: Array) -> MotionModel:
        """This model with per-row noise densities (arrays of shape (K,)), for stacking the
        rows of several models (an IMM's modes) into one propagation call."""
        return MotionModel(
            self.name,
            self.dim,
            q_accel_m2_s3,
            q_inv_beta,
            q_jerk_m2_s5,  # type: ignore[arg-type]
            self.forces,
            self.drag,
        )


def _altitude_m(r: Array, r2: Array, rn: Array) -> Array:
    """Height above the ellipsoid along the geocentric direction (m), as
    :func:`kizuna.physics.dynamics.approx_altitude_m` (same formula, norms passed in)."""
    sin2 = r[..., 2] ** 2 / r2
    ellipsoid = WGS84_A_M * WGS84_B_M / np.sqrt(WGS84_B_M**2 * (1.0 - sin2) + WGS84_A_M**2 * sin2)
    return rn - ellipsoid


def _noise_basis() -> Array:
    basis = np.zeros((7, BOOST_DIM, BOOST_DIM))
    eye = np.eye(3)

    def sym(b: int, i: int, j: int) -> None:
        basis[b, i : i + 3, j : j + 3] = eye
        basis[b, j : j + 3, i : i + 3] = eye

    sym(0, 0, 0)  # r r
    sym(1, 0, 3)  # r v
    sym(2, 3, 3)  # v v
    basis[3, INV_BETA, INV_BETA] = 1.0
    sym(4, 0, 7)  # r a
    sym(5, 3, 7)  # v a
    sym(6, 7, 7)  # a a
    return basis


_NOISE_BASIS = _noise_basis()


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
    out[..., 0] = (f_xy + w * w) * x + 2.0 * w * vy
    out[..., 1] = (f_xy + w * w) * y - 2.0 * w * vx
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


# Above the air the residual accelerations the filter lacks (geopotential beyond J2, Sun and
# Moon) are below 1e-4 m/s^2; with a 100 s correlation time q = (1e-4)^2 * 100 = 1e-6. The
# figure used is 10 times larger to cover the finite-difference truth sampling and leave the
# filter a margin for real-world forces; NEES tests (tests/tracking) check it is not too large.
Q_ACCEL_BALLISTIC_M2_S3 = 1e-5
# 1/beta for re-entry vehicles drifts by ~10 % of a typical 1.25e-4 m^2/kg per 100 s.
Q_INV_BETA = (1.25e-5) ** 2 / 100.0
Q_JERK_BOOST_M2_S5 = 10.0

BALLISTIC = MotionModel("ballistic", BALLISTIC_DIM, Q_ACCEL_BALLISTIC_M2_S3, Q_INV_BETA)
BOOST = MotionModel(
    "boost", BOOST_DIM, Q_ACCEL_BALLISTIC_M2_S3 * 100.0, Q_INV_BETA * 10.0, Q_JERK_BOOST_M2_S5
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
    "INV_BETA",
    "KEPLER_BALLISTIC",
    "POS",
    "THRUST",
    "VEL",
    "MotionModel",
]
