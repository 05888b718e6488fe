"""Accuracy metrics: RMSE, NEES with chi-square bands, GOSPA, the posterior Cramér-Rao lower
bound of a ballistic trajectory seen by radars, and impact-ellipse coverage.

All functions are pure numpy and broadcast over leading axes where that makes sense.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import linear_sum_assignment
from scipy.stats import binomtest, chi2

from kizuna.geo.frames import enu_rotation, lla_to_ecef
from kizuna.physics.dynamics import FULL, NO_DRAG, ForceModel, state_jacobian
from kizuna.prediction.impact import CHI2_2D_95, in_ellipse

Array = NDArray[np.float64]


# --- RMSE and NEES --------------------------------------------------------------------------


def rmse(error: ArrayLike, axis: int = 0) -> Array:
    """Root mean square of error vectors (..., d) over ``axis`` (runs): sqrt(mean |e|^2)."""
    e = np.asarray(error, float)
    return np.sqrt(np.mean(np.sum(e * e, axis=-1), axis=axis))


def nees(error: ArrayLike, P: ArrayLike) -> Array:
    """Normalised estimation error squared e^T P^-1 e of errors (..., n), covariances (..., n, n).

    Computed as |L^-1 e|^2 with the Cholesky factor L of P (no inverse is formed).
    """
    e = np.asarray(error, float)
    L = np.linalg.cholesky(np.asarray(P, float))
    w = np.linalg.solve(L, e[..., None])[..., 0]
    return np.sum(w * w, axis=-1)


def nees_band(dim: int, runs: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided ``confidence`` band of the NEES averaged over ``runs`` independent runs.

    For a consistent filter, runs * mean NEES ~ chi2(runs * dim) (Bar-Shalom, Li and
    Kirubarajan 2001, section 5.4.2), so the band is chi2.ppf([a/2, 1-a/2], runs*dim) / runs.
    """
    tail = 0.5 * (1.0 - confidence)
    dof = runs * dim
    return float(chi2.ppf(tail, dof) / runs), float(chi2.ppf(1.0 - tail, dof) / runs)


# --- GOSPA ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gospa:
    """GOSPA distance and its decomposition (Rahmathullah, Garcia-Fernandez and Svensson 2017).

    With alpha = 2, GOSPA^p = sum of assigned d^p + c^p / 2 (missed + false): the total is the
    p-th root; ``localisation`` is the assigned part (already p-th rooted on its own), and
    ``missed``, ``false`` count targets and estimates left unassigned.
    """

    total: float
    localisation: float
    missed: int
    false: int


def _points(a: ArrayLike) -> Array:
    arr = np.asarray(a, float)
    return arr[:, None] if arr.ndim == 1 else arr


def gospa(truth: ArrayLike, estimates: ArrayLike, c: float, p: float = 2.0) -> Gospa:
    """GOSPA (alpha = 2) between truth points (m, d) and estimates (n, d), cut-off ``c`` (m).

    Pairs farther apart than ``c`` are better left unassigned (each costs c^p / 2 as a miss
    plus a false track), which is exactly what capping the cost matrix at c^p achieves.
    """
    if c <= 0 or p < 1:
        raise ValueError("GOSPA needs c > 0 and p >= 1")
    X = _points(truth)
    Y = _points(estimates)
    m, n = X.shape[0], Y.shape[0]
    if m == 0 or n == 0:
        return Gospa(float((c**p / 2.0 * (m + n)) ** (1.0 / p)), 0.0, m, n)
    d = np.linalg.norm(X[:, None, :] - Y[None, :, :], axis=-1)
    cost = np.minimum(d, c) ** p
    rows, cols = linear_sum_assignment(cost)
    real = d[rows, cols] < c
    loc = float(np.sum(d[rows, cols][real] ** p))
    assigned = int(real.sum())
    missed, false = m - assigned, n - assigned
    total = (loc + c**p / 2.0 * (missed + false)) ** (1.0 / p)
    return Gospa(float(total), loc ** (1.0 / p), missed, false)


# --- posterior Cramér-Rao lower bound -------------------------------------------------------


@dataclass(frozen=True)
class RadarSite:
    """A radar for the bound: site (geodetic), 1-sigma noise, revisit interval, coverage."""

    lat_deg: float
    lon_deg: float
    alt_m: float
    sigma_range_m: float
    sigma_azimuth_deg: float
    sigma_elevation_deg: float
    interval_s: float = 1.0
    max_range_m: float = np.inf
    min_elevation_deg: float = 0.0


def radar_jacobian(r_ecef_m: ArrayLike, site: RadarSite) -> tuple[Array, Array, NDArray[np.bool_]]:
    """d(range, azimuth, elevation)/d(ECEF position) (..., 3, 3), elevation (deg), visibility.

    Range in m, angles in radians. With u = (e, n, up) the ENU offset, h = sqrt(e^2 + n^2)
    and rho = |u|: d rho/du = u / rho; az = atan2(e, n): d az/du = (n, -e, 0) / h^2;
    el = atan2(up, h): d el/du = (-e up, -n up, h^2) / (rho^2 h). Chain rule with the ENU
    rotation R gives the ECEF Jacobian (R is constant in r).
    """
    r = np.asarray(r_ecef_m, float)
    rot = enu_rotation(site.lat_deg, site.lon_deg)
    u = np.einsum("ij,...j->...i", rot, r - lla_to_ecef(site.lat_deg, site.lon_deg, site.alt_m))
    e, n, up = u[..., 0], u[..., 1], u[..., 2]
    h2 = e * e + n * n
    h = np.sqrt(h2)
    rho2 = h2 + up * up
    rho = np.sqrt(rho2)
    zero = np.zeros_like(e)
    d_range = u / rho[..., None]
    d_az = np.stack([n / h2, -e / h2, zero], axis=-1)
    d_el = np.stack([-e * up, -n * up, h2], axis=-1) / (rho2 * h)[..., None]
    jac_enu = np.stack([d_range, d_az, d_el], axis=-2)
    elevation = np.degrees(np.arctan2(up, h))
    visible = (elevation >= site.min_elevation_deg) & (rho <= site.max_range_m)
    return jac_enu @ rot, elevation, visible


def _transition_matrices(time_s: Array, state: Array, beta: float, forces: ForceModel) -> Array:
    """State transition matrices Phi_k from t_k to t_{k+1} along the true trajectory (T-1,6,6).

    RK4 on the variational equation Phi' = A(x(t)) Phi, with A at both ends and at the mean
    state of the step (the truth is smooth at 1 s sampling).
    """
    h = np.diff(time_s)[:, None, None]
    a0 = state_jacobian(state[:-1], beta, forces)
    a1 = state_jacobian(state[1:], beta, forces)
    am = state_jacobian(0.5 * (state[:-1] + state[1:]), beta, forces)
    eye = np.eye(6)
    k1 = a0
    k2 = am @ (eye + 0.5 * h * k1)
    k3 = am @ (eye + 0.5 * h * k2)
    k4 = a1 @ (eye + h * k3)
    return eye + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def white_noise_acceleration_q(dt_s: float, psd_m2_s3: float) -> Array:
    """Process noise of white acceleration noise of PSD q over dt (6, 6)."""
    q = psd_m2_s3
    eye = np.eye(3)
    return np.block(
        [
            [q * dt_s**3 / 3.0 * eye, q * dt_s**2 / 2.0 * eye],
            [q * dt_s**2 / 2.0 * eye, q * dt_s * eye],
        ]
    )


def pcrlb(
    time_s: ArrayLike,
    state: ArrayLike,
    radars: Sequence[RadarSite],
    *,
    ballistic_coefficient_kg_m2: float = NO_DRAG,
    P0: ArrayLike | None = None,
    process_noise_psd_m2_s3: float = 0.0,
    forces: ForceModel = FULL,
    measured: ArrayLike | None = None,
) -> Array:
    """Posterior Cramér-Rao lower bound (T, 6, 6) along a true ballistic trajectory.

    Recursive information filter (Tichavsky, Muravchik and Nehorai 1998, for additive
    Gaussian noise and linearised dynamics along the truth):

        J_{k+1} = (Q_k + Phi_k J_k^-1 Phi_k^T)^-1 + sum_radars H^T R^-1 H,

    with H the radar Jacobian at the true position, counted for a radar only when the target
    is above its minimum elevation and within range. A radar with revisit ``interval_s``
    contributes its information rate (H^T R^-1 H dt / interval) at each step of the time grid,
    the same information per unit time as its actual plots. ``P0`` is the prior at the first
    time (default: diffuse, 100 km and 1 km/s 1-sigma). ``measured`` (T, n_radars) bool, if
    given, is the actual plot schedule (one plot per True) and replaces the rate and the
    visibility test. Returns J^-1 at every time.
    """
    t = np.asarray(time_s, float)
    x = np.asarray(state, float)
    steps = t.size
    prior = np.diag([1e10] * 3 + [1e6] * 3) if P0 is None else np.asarray(P0, float)
    phi = _transition_matrices(t, x, ballistic_coefficient_kg_m2, forces)
    info = np.zeros((steps, 6, 6))
    dt_grid = np.diff(t, prepend=t[0] - (t[1] - t[0] if steps > 1 else 1.0))
    schedule = None if measured is None else np.asarray(measured, bool).reshape(steps, -1)
    for j, site in enumerate(radars):
        H, _, visible = radar_jacobian(x[:, :3], site)
        r_inv = np.diag(
            1.0
            / np.array(
                [
                    site.sigma_range_m,
                    np.radians(site.sigma_azimuth_deg),
                    np.radians(site.sigma_elevation_deg),
                ]
            )
            ** 2
        )
        rate = np.minimum(dt_grid / site.interval_s, 1.0)  # at most one plot per step
        if schedule is not None:
            rate, visible = schedule[:, j].astype(float), schedule[:, j]
        contrib = np.einsum("tji,jk,tkl->til", H, r_inv, H)  # (T, 3, 3): position only
        info[:, :3, :3] += np.where(visible, rate, 0.0)[:, None, None] * contrib[:, :3, :3]
    bound = np.empty((steps, 6, 6))
    eye = np.eye(6)
    P = prior
    for k in range(steps):
        if k > 0:
            q = white_noise_acceleration_q(float(t[k] - t[k - 1]), process_noise_psd_m2_s3)
            P = phi[k - 1] @ P @ phi[k - 1].T + q
        J = cho_solve(cho_factor(0.5 * (P + P.T)), eye) + info[k]
        P = cho_solve(cho_factor(0.5 * (J + J.T)), eye)
        bound[k] = P
    return bound


# --- impact ellipse coverage ----------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """How often 95 % ellipses held the truth, with an exact binomial 95 % interval."""

    inside: int
    total: int
    fraction: float
    low: float
    high: float


def ellipse_coverage(
    true_lat_deg: ArrayLike,
    true_lon_deg: ArrayLike,
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    semi_major_m: ArrayLike,
    semi_minor_m: ArrayLike,
    orientation_deg: ArrayLike,
    level: float = CHI2_2D_95,
) -> Coverage:
    """Fraction of predicted ellipses containing the true impact point (Clopper-Pearson CI)."""
    inside = in_ellipse(
        true_lat_deg,
        true_lon_deg,
        lat_deg,
        lon_deg,
        semi_major_m,
        semi_minor_m,
        orientation_deg,
        level,
    )
    k, n = int(np.sum(inside)), int(np.size(inside))
    if n == 0:
        return Coverage(0, 0, float("nan"), float("nan"), float("nan"))
    ci = binomtest(k, n).proportion_ci(0.95)
    return Coverage(k, n, k / n, float(ci.low), float(ci.high))


__all__ = [
    "Coverage",
    "Gospa",
    "RadarSite",
    "ellipse_coverage",
    "gospa",
    "nees",
    "nees_band",
    "pcrlb",
    "radar_jacobian",
    "rmse",
    "white_noise_acceleration_q",
]
