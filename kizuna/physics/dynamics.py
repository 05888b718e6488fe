"""Equations of motion of an unpowered body in the rotating ECEF frame.

State vectors are ``(..., 6)``: ECEF position (m) then ECEF velocity (m/s), i.e. velocity
*relative to the rotating Earth*. In that frame

    r'' = g(r) - 2 w x r' - w x (w x r) + a_drag

with ``g`` the J2 gravity, ``-2 w x v`` the Coriolis and ``-w x (w x r)`` the centrifugal
acceleration, and drag opposing the velocity relative to the air, which co-rotates with the
Earth, so the ECEF velocity *is* the air-relative velocity (winds ignored):

    a_drag = -rho(h) |v| v / (2 beta),  beta = m / (C_D A)  (ballistic coefficient, kg/m^2).

Switches (:class:`ForceModel`) turn each effect off for validation against Kepler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.geo.constants import WGS84_A_M, WGS84_B_M
from kizuna.physics.atmosphere import density_kg_m3
from kizuna.physics.constants import WGS84_OMEGA_RAD_S
from kizuna.physics.gravity import (
    GEOPOTENTIAL_MAX_DEGREE,
    geopotential_beyond_j2_ecef,
    gravity_ecef,
    gravity_gradient_ecef,
    gravity_potential,
)

Array = NDArray[np.float64]

NO_DRAG = np.inf  # a ballistic coefficient of infinity means drag-free


@dataclass(frozen=True)
class ForceModel:
    """Which forces act. The default is the full model of filters and predictions: J2,
    rotating Earth and drag. ``geopotential_degree`` above 2 adds the rest of the EGM2008
    field to that degree (:func:`kizuna.physics.gravity.geopotential_beyond_j2_ecef`), and
    only to the acceleration: the simulated truth flies it, nothing estimates with it."""

    j2: bool = True
    rotation: bool = True
    drag: bool = True
    geopotential_degree: int = 2


FULL = ForceModel()
KEPLER = ForceModel(j2=False, rotation=False, drag=False)
# What the simulated world obeys: the full model plus the geopotential beyond J2.
TRUTH = ForceModel(geopotential_degree=GEOPOTENTIAL_MAX_DEGREE)


def approx_altitude_m(r_ecef_m: ArrayLike) -> Array:
    """Fast height above the WGS84 ellipsoid (m) for the drag term, shape (...).

    Uses the ellipsoid radius along the geocentric direction instead of the ellipsoid normal.
    The error is below 15 m up to 1,000 km altitude and so changes air density by < 0.3 %;
    exact heights (impact detection) use :func:`kizuna.geo.geodetic_altitude_m`.
    """
    r = np.asarray(r_ecef_m, float)
    rn = np.sqrt(np.add.reduce(r * r, axis=-1))  # np.linalg.norm's own sum, less its dispatch
    sin2 = (r[..., 2] / rn) ** 2
    ellipsoid_radius = WGS84_A_M * WGS84_B_M / np.sqrt(
        WGS84_B_M**2 * (1.0 - sin2) + WGS84_A_M**2 * sin2
    )
    return rn - ellipsoid_radius


def frame_acceleration_ecef(r_ecef_m: Array, v_ecef_mps: Array) -> Array:
    """Coriolis plus centrifugal acceleration (m/s^2) for rotation w about ECEF +z."""
    w = WGS84_OMEGA_RAD_S
    out = np.zeros(np.broadcast_shapes(r_ecef_m.shape, v_ecef_mps.shape))
    # -2 w x v = (2 w v_y, -2 w v_x, 0);  -w x (w x r) = (w^2 x, w^2 y, 0)
    out[..., 0] = 2.0 * w * v_ecef_mps[..., 1] + w * w * r_ecef_m[..., 0]
    out[..., 1] = -2.0 * w * v_ecef_mps[..., 0] + w * w * r_ecef_m[..., 1]
    return out


def drag_acceleration_ecef(
    r_ecef_m: Array, v_ecef_mps: Array, ballistic_coefficient_kg_m2: ArrayLike
) -> Array:
    """Drag (m/s^2) for a ballistic coefficient beta = m/(C_D A), kg/m^2 (inf = no drag)."""
    beta = np.asarray(ballistic_coefficient_kg_m2, float)
    rho = density_kg_m3(approx_altitude_m(r_ecef_m))
    speed = np.linalg.norm(v_ecef_mps, axis=-1)
    scale = -0.5 * rho * speed / beta
    return scale[..., None] * v_ecef_mps


def acceleration_ecef(
    r_ecef_m: Array,
    v_ecef_mps: Array,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    forces: ForceModel = FULL,
) -> Array:
    """Total acceleration (m/s^2) of an unpowered body in the ECEF frame, shape (..., 3)."""
    a = gravity_ecef(r_ecef_m, j2=forces.j2)
    if forces.geopotential_degree > 2:
        a = a + geopotential_beyond_j2_ecef(r_ecef_m, forces.geopotential_degree)
    if forces.rotation:
        a = a + frame_acceleration_ecef(r_ecef_m, v_ecef_mps)
    if forces.drag:
        a = a + drag_acceleration_ecef(r_ecef_m, v_ecef_mps, ballistic_coefficient_kg_m2)
    return a


def state_derivative(
    state: Array,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    forces: ForceModel = FULL,
) -> Array:
    """d/dt of ``(..., 6)`` ECEF states [r, v] -> [v, a]."""
    r, v = state[..., :3], state[..., 3:]
    return np.concatenate(
        [v, acceleration_ecef(r, v, ballistic_coefficient_kg_m2, forces)], axis=-1
    )


def state_jacobian(
    state: Array,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    forces: ForceModel = FULL,
) -> Array:
    """Jacobian A = d(state_derivative)/d(state), shape (..., 6, 6), for EKF linearisation.

    Gravity gradient (with J2), the rotation terms exactly, and drag through both velocity and
    altitude: below ~80 km the density's change with height (scale height ~7 km) makes the
    altitude term larger than the gravity gradient, so it cannot be dropped. The height
    gradient is taken along the geocentric radius, which is within 0.2 degrees of the normal.
    """
    state = np.asarray(state, float)
    r, v = state[..., :3], state[..., 3:]
    jac = np.zeros(state.shape[:-1] + (6, 6))
    jac[..., 0:3, 3:6] = np.eye(3)
    jac[..., 3:6, 0:3] = gravity_gradient_ecef(r, j2=forces.j2)
    if forces.rotation:
        w = WGS84_OMEGA_RAD_S
        jac[..., 3, 0] += w * w
        jac[..., 4, 1] += w * w
        jac[..., 3, 4] += 2.0 * w
        jac[..., 4, 3] += -2.0 * w
    if forces.drag:
        beta = np.asarray(ballistic_coefficient_kg_m2, float)
        rho = density_kg_m3(approx_altitude_m(r))
        speed = np.maximum(np.linalg.norm(v, axis=-1), 1e-9)
        k = -0.5 * rho / beta  # a = k |v| v  ->  da/dv = k (|v| I + v v^T / |v|)
        outer = v[..., :, None] * v[..., None, :] / speed[..., None, None]
        jac[..., 3:6, 3:6] += k[..., None, None] * (speed[..., None, None] * np.eye(3) + outer)
        altitude = approx_altitude_m(r)
        step_m = 25.0
        dlnrho_dh = (np.log(density_kg_m3(altitude + step_m))
                     - np.log(density_kg_m3(altitude - step_m))) / (2.0 * step_m)
        drag = (k * speed)[..., None] * v
        up = r / np.linalg.norm(r, axis=-1, keepdims=True)
        jac[..., 3:6, 0:3] += drag[..., :, None] * (dlnrho_dh[..., None] * up)[..., None, :]
    return jac


def jacobi_energy(state: Array, forces: ForceModel = FULL) -> Array:
    """Energy per unit mass conserved by drag-free motion in the frame of ``forces`` (J/kg).

    In the rotating frame this is the Jacobi integral v^2/2 - |w x r|^2/2 + U(r); without
    rotation it is the ordinary specific energy v^2/2 + U(r).
    """
    r, v = state[..., :3], state[..., 3:]
    energy = 0.5 * np.einsum("...i,...i->...", v, v) + gravity_potential(r, j2=forces.j2)
    if forces.rotation:
        energy = energy - 0.5 * WGS84_OMEGA_RAD_S**2 * (r[..., 0] ** 2 + r[..., 1] ** 2)
    return energy
