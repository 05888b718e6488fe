"""Category of a track: ``ballistic``, ``orbital`` or ``unknown``.

A coasting object is orbital when its osculating two-body orbit (inertial velocity
v_i = v_ecef + w x r) has its perigee above the sensible atmosphere, or when it is on an escape
trajectory (specific energy >= 0). Otherwise it will come down: ballistic. The perigee is

    eps = v_i^2 / 2 - mu / r,   a = -mu / (2 eps),   h = |r x v_i|,
    e = sqrt(1 + 2 eps h^2 / mu^2),   r_p = a (1 - e).

J2 and drag move the perigee by kilometres, not by the ~100 km that separates a sub-orbital
arc from an orbit, so the two-body figure is a sound classifier.

The decision is made for the whole state distribution, not the mean alone: every sigma point
must agree, otherwise the answer is ``unknown`` (the data cannot yet tell). A track in boost is
``unknown`` too: thrust is still adding energy, so where it ends is not yet in the state.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.geo.constants import WGS84_A_M, WGS84_GM_M3_S2, WGS84_OMEGA_RAD_S
from kizuna.prediction.unscented import sigma_points, unscented_weights

Array = NDArray[np.float64]

ORBIT_PERIGEE_ALTITUDE_M = 120_000.0  # above this, one revolution loses little to drag


def inertial_velocity_mps(state: ArrayLike) -> Array:
    """Velocity in the instantaneously aligned inertial frame, v + w x r (m/s), (..., 3)."""
    s = np.asarray(state, float)
    r, v = s[..., :3], s[..., 3:6]
    w_cross_r = np.stack(
        [-WGS84_OMEGA_RAD_S * r[..., 1], WGS84_OMEGA_RAD_S * r[..., 0], np.zeros_like(r[..., 0])],
        axis=-1,
    )
    return v + w_cross_r


def perigee_altitude_m(state: ArrayLike) -> Array:
    """Two-body perigee height above the equatorial radius (m), ``inf`` when unbound, (...)."""
    s = np.asarray(state, float)
    r = s[..., :3]
    v = inertial_velocity_mps(s)
    rn = np.linalg.norm(r, axis=-1)
    energy = 0.5 * np.einsum("...i,...i->...", v, v) - WGS84_GM_M3_S2 / rn
    h2 = np.sum(np.cross(r, v) ** 2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = -WGS84_GM_M3_S2 / (2.0 * energy)
        ecc = np.sqrt(np.clip(1.0 + 2.0 * energy * h2 / WGS84_GM_M3_S2**2, 0.0, None))
        perigee = a * (1.0 - ecc) - WGS84_A_M
    return np.where(energy >= 0.0, np.inf, perigee)


def classify(
    x: ArrayLike, P: ArrayLike | None = None, phase: ArrayLike = "midcourse"
) -> NDArray[np.str_]:
    """Category per track: states ``x`` (N, 6|7), covariances ``P`` (N, n, n) or None, phases.

    Returns an array of "ballistic", "orbital" or "unknown" (N,).
    """
    x = np.atleast_2d(np.asarray(x, float))
    n = x.shape[0]
    phases = np.broadcast_to(np.asarray(phase, dtype=str), (n,))
    if P is None:
        points = x[:, None, :6]
    else:
        P = np.asarray(P, float).reshape(n, x.shape[1], x.shape[1])
        points = sigma_points(x, P, unscented_weights(x.shape[1]))[..., :6]
    orbital = perigee_altitude_m(points) > ORBIT_PERIGEE_ALTITUDE_M  # (N, K)
    out = np.where(
        orbital.all(axis=1), "orbital", np.where(~orbital.any(axis=1), "ballistic", "unknown")
    )
    return np.where(phases == "boost", "unknown", out).astype("<U9")


__all__ = ["ORBIT_PERIGEE_ALTITUDE_M", "classify", "inertial_velocity_mps", "perigee_altitude_m"]
