"""Gravitational acceleration of the Earth: point mass plus the J2 zonal harmonic.

J2 is the only harmonic that matters for a ballistic missile's impact point at the kilometre
level (the next zonal, J3, is ~1000 times smaller); it moves a 1,000 km shot's impact by
several kilometres.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.physics.constants import WGS84_A_M, WGS84_GM_M3_S2, WGS84_J2


def gravity_ecef(r_ecef_m: ArrayLike, *, j2: bool = True) -> NDArray[np.float64]:
    """Gravitational acceleration (m/s^2) at ECEF positions (m), shape (..., 3).

    With U = -mu/r [1 - J2 (a/r)^2 P2(z/r)], the acceleration -grad U is

        a_xy = -mu r_xy / r^3 [1 + 3/2 J2 (a/r)^2 (1 - 5 z^2/r^2)]
        a_z  = -mu z    / r^3 [1 + 3/2 J2 (a/r)^2 (3 - 5 z^2/r^2)]

    (Vallado, Fundamentals of Astrodynamics, eq. 8-30). Gravity only: Earth-rotation terms
    are in :mod:`kizuna.physics.dynamics`.
    """
    r = np.asarray(r_ecef_m, float)
    r2 = np.einsum("...i,...i->...", r, r)
    point_mass = -WGS84_GM_M3_S2 / (r2 * np.sqrt(r2))
    if not j2:
        return point_mass[..., None] * r
    k = 1.5 * WGS84_J2 * WGS84_A_M**2 / r2
    common = 1.0 + k * (1.0 - 5.0 * r[..., 2] ** 2 / r2)  # the xy factor; z adds 2k
    out = (point_mass * common)[..., None] * r
    out[..., 2] += point_mass * 2.0 * k * r[..., 2]
    return out


def gravity_potential(r_ecef_m: ArrayLike, *, j2: bool = True) -> NDArray[np.float64]:
    """Gravitational potential energy per unit mass (J/kg, negative), shape (...)."""
    r = np.asarray(r_ecef_m, float)
    r2 = np.einsum("...i,...i->...", r, r)
    rn = np.sqrt(r2)
    potential = -WGS84_GM_M3_S2 / rn
    if j2:
        p2 = 0.5 * (3.0 * r[..., 2] ** 2 / r2 - 1.0)
        potential = potential * (1.0 - WGS84_J2 * WGS84_A_M**2 / r2 * p2)
    return potential


def gravity_gradient_ecef(r_ecef_m: ArrayLike, *, j2: bool = True) -> NDArray[np.float64]:
    """Jacobian d(gravity)/d(r), shape (..., 3, 3), for filters' linearisation.

    Point mass exactly; the J2 part is included to first order through a central difference,
    which is accurate to ~1e-9 relative and costs three gravity evaluations.
    """
    r = np.asarray(r_ecef_m, float)
    r2 = np.einsum("...i,...i->...", r, r)
    rn = np.sqrt(r2)
    unit = r / rn[..., None]
    mu_r3 = WGS84_GM_M3_S2 / (r2 * rn)
    eye = np.eye(3)
    gradient = mu_r3[..., None, None] * (3.0 * unit[..., :, None] * unit[..., None, :] - eye)
    if j2:
        step_m = 1.0
        j2_part = np.empty(r.shape + (3,))
        for axis in range(3):
            delta = np.zeros(3)
            delta[axis] = step_m
            j2_part[..., :, axis] = (
                gravity_ecef(r + delta) - gravity_ecef(r + delta, j2=False)
                - gravity_ecef(r - delta) + gravity_ecef(r - delta, j2=False)
            ) / (2.0 * step_m)
        gradient = gradient + j2_part
    return gradient
