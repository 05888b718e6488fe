"""Gravitational acceleration of the Earth: point mass plus the J2 zonal harmonic, and the
geopotential beyond J2 for the simulator's truth.

J2 is the only harmonic that matters for a ballistic missile's impact point at the kilometre
level (the next terms are ~1000 times smaller); it moves a 1,000 km shot's impact by several
kilometres. Filters and predictions use point mass + J2. The simulated truth also flies the
rest of the field to degree and order 5 (:func:`geopotential_beyond_j2_ecef`), so that what a
filter's process noise stands for is really there to be measured against.
"""

from __future__ import annotations

from math import factorial

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.physics.constants import WGS84_A_M, WGS84_GM_M3_S2, WGS84_J2

# EGM2008 fully normalised coefficients (C, S) of degree n, order m, 2 <= n <= 5, as NGA
# publishes them (EGM2008_to2190_TideFree), except C(2,0): that is J2, which the WGS84 model
# above already has (WGS84's J2 and EGM2008's C(2,0) differ by 1e-8 relative). Used with
# WGS84's GM and a (EGM2008's differ by 1e-9 and 1e-7 relative: nothing at this level).
EGM2008_NORMALIZED: dict[tuple[int, int], tuple[float, float]] = {
    (2, 1): (-2.06615509074176e-10, 1.38441389137979e-09),
    (2, 2): (2.43938357328313e-06, -1.40027370385934e-06),
    (3, 0): (9.57161207093473e-07, 0.0),
    (3, 1): (2.03046201047864e-06, 2.48200415856872e-07),
    (3, 2): (9.04787894809528e-07, -6.19005475177618e-07),
    (3, 3): (7.21321757121568e-07, 1.41434926192941e-06),
    (4, 0): (5.39965866638991e-07, 0.0),
    (4, 1): (-5.36157389388867e-07, -4.73567346518086e-07),
    (4, 2): (3.50501623962649e-07, 6.62480026275829e-07),
    (4, 3): (9.90856766672321e-07, -2.00956723567452e-07),
    (4, 4): (-1.88519633023033e-07, 3.08803882149194e-07),
    (5, 0): (6.86702913736681e-08, 0.0),
    (5, 1): (-6.29211923042529e-08, -9.43698073395769e-08),
    (5, 2): (6.52078043176164e-07, -3.23353192540522e-07),
    (5, 3): (-4.51847152328843e-07, -2.14955408306046e-07),
    (5, 4): (-2.95328761175629e-07, 4.98070550102351e-08),
    (5, 5): (1.74811795496002e-07, -6.69379935180165e-07),
}
GEOPOTENTIAL_MAX_DEGREE = 5


def _unnormalized_terms() -> tuple[tuple[int, int, float, float], ...]:
    """(n, m, C, S) of :data:`EGM2008_NORMALIZED` without the full normalisation (Heiskanen &
    Moritz), which the recursions below want; computed once."""
    terms = []
    for (n, m), (c, s) in sorted(EGM2008_NORMALIZED.items()):
        factor = np.sqrt((2.0 - (m == 0)) * (2 * n + 1) * factorial(n - m) / factorial(n + m))
        terms.append((n, m, c * factor, s * factor))
    return tuple(terms)


_TERMS = _unnormalized_terms()


def geopotential_beyond_j2_ecef(
    r_ecef_m: ArrayLike, degree: int = GEOPOTENTIAL_MAX_DEGREE
) -> NDArray[np.float64]:
    """Acceleration (m/s^2) of the EGM2008 field to ``degree`` minus point mass and J2, at
    ECEF positions (m), shape (..., 3): ~1e-4 m/s^2 near the ground, the size of what a
    filter that models J2 alone is missing.

    By the recursions for the solid spherical harmonics V_nm, W_nm of Cunningham (1970) as
    given by Montenbruck & Gill, *Satellite Orbits* (2000), section 3.2.4 (eqs. 3.29-3.33):
    a handful of terms on every point at once, so a loop over (n, m) costs less than any
    library's general field here.
    """
    r = np.asarray(r_ecef_m, float)
    if not 2 <= degree <= GEOPOTENTIAL_MAX_DEGREE:
        raise ValueError(f"degree must be 2..{GEOPOTENTIAL_MAX_DEGREE}, got {degree}")
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    r2 = x * x + y * y + z * z
    a = WGS84_A_M
    x0, y0, z0, rho = a * x / r2, a * y / r2, a * z / r2, a * a / r2
    top = degree + 1  # the accelerations of degree n need V, W of degree n + 1
    V = [[np.zeros_like(x) for _ in range(top + 1)] for _ in range(top + 1)]
    W = [[np.zeros_like(x) for _ in range(top + 1)] for _ in range(top + 1)]
    V[0][0] = a / np.sqrt(r2)
    for m in range(top + 1):
        if m > 0:  # the sectorial term from the previous one
            V[m][m] = (2 * m - 1) * (x0 * V[m - 1][m - 1] - y0 * W[m - 1][m - 1])
            W[m][m] = (2 * m - 1) * (x0 * W[m - 1][m - 1] + y0 * V[m - 1][m - 1])
        for n in range(m + 1, top + 1):
            V[n][m] = (2 * n - 1) / (n - m) * z0 * V[n - 1][m]
            W[n][m] = (2 * n - 1) / (n - m) * z0 * W[n - 1][m]
            if n >= m + 2:
                V[n][m] = V[n][m] - (n + m - 1) / (n - m) * rho * V[n - 2][m]
                W[n][m] = W[n][m] - (n + m - 1) / (n - m) * rho * W[n - 2][m]
    ax = np.zeros_like(x)
    ay = np.zeros_like(x)
    az = np.zeros_like(x)
    for n, m, c, s in _TERMS:
        if n > degree:
            break  # _TERMS is sorted by degree
        if m == 0:
            ax = ax - c * V[n + 1][1]
            ay = ay - c * W[n + 1][1]
        else:
            f = factorial(n - m + 2) / factorial(n - m)
            ax = ax + 0.5 * ((-c * V[n + 1][m + 1] - s * W[n + 1][m + 1])
                             + f * (c * V[n + 1][m - 1] + s * W[n + 1][m - 1]))
            ay = ay + 0.5 * ((-c * W[n + 1][m + 1] + s * V[n + 1][m + 1])
                             + f * (-c * W[n + 1][m - 1] + s * V[n + 1][m - 1]))
        az = az + (n - m + 1) * (-c * V[n + 1][m] - s * W[n + 1][m])
    return (WGS84_GM_M3_S2 / (a * a)) * np.stack([ax, ay, az], axis=-1)


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
