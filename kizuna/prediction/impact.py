"""Impact point and time with honest uncertainty, vectorised over tracks.

The filter's state distribution N(x, P) (ECEF position and velocity, optionally the inverse
ballistic coefficient 1/beta (m^2/kg) as a seventh state, as kizuna's tracker carries it) is
pushed through the full nonlinear flight model to the WGS84 ellipsoid, either as unscented
sigma points (13 or 15 per track, the default) or as Monte Carlo samples. All points of all
tracks go through :func:`kizuna.physics.propagate.propagate_to_impact` in one call.

Statistics are formed in the local tangent plane at the mean impact, written as azimuthal
equidistant coordinates (east, north) = d (sin az, cos az) from geodesics: exact distances and
directions on the ellipsoid, identical to a tangent plane to first order, and the same
coordinates :func:`in_ellipse` uses to check a true impact point.

Points that do not come down within the horizon (orbital energy, or a very long flight) are
never averaged in as if they had landed. If only some of a track's sigma points come down, the
sigma-point summary is meaningless (it needs every point), so that track is redone by Monte
Carlo and the impact is reported *conditionally on coming down*, with ``hit_probability`` the
fraction that did. The category logic (:mod:`kizuna.prediction.category`) then decides whether
an impact is reported at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.geo.frames import ecef_to_lla, geodetic_altitude_m
from kizuna.geo.geodesic import direct, inverse
from kizuna.physics.dynamics import FULL, NO_DRAG, ForceModel
from kizuna.physics.propagate import propagate_to_impact
from kizuna.prediction.unscented import robust_cholesky, sigma_points, unscented_weights

Array = NDArray[np.float64]

CHI2_2D_95 = 5.991464547107979  # scipy.stats.chi2.ppf(0.95, 2): 2-D 95 % contour, d^2 level
DEFAULT_HORIZON_S = 3.0 * 3600.0  # longest flight considered a flight (ICBM lofted ~ 70 min)

Method = Literal["unscented", "monte_carlo"]


@dataclass(frozen=True)
class ImpactEstimate:
    """Predicted impact of N tracks (arrays of leading shape (N,)).

    Where ``hit_probability`` is 0 the impact fields are NaN. ``covariance_en_m2`` is the 2x2
    covariance of the impact point in (east, north) metres at the mean impact (for Monte Carlo,
    inflated when needed so that its 95 % ellipse holds 95 % of the samples); the ellipse
    fields are its 95 % contour (semi-axes in m, orientation of the major axis in degrees
    clockwise from north, in [0, 180)).
    """

    hit_probability: Array
    time_s: Array
    time_sigma_s: Array
    lat_deg: Array
    lon_deg: Array
    covariance_en_m2: Array  # (N, 2, 2)
    semi_major_m: Array
    semi_minor_m: Array
    orientation_deg: Array
    method: NDArray[np.str_]  # per track: "unscented" or "monte_carlo"
    # With ``with_ground_tracks``: the mean state's path, recorded in the same propagation
    # (unscented tracks only; None for tracks that went to Monte Carlo).
    ground_tracks: list[GroundTrack | None] | None = None

    def __len__(self) -> int:
        return int(self.hit_probability.shape[0])


def local_en_m(
    lat0_deg: ArrayLike, lon0_deg: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike
) -> Array:
    """(east, north) metres of points seen from an origin on the ellipsoid, shape (..., 2).

    Azimuthal equidistant: geodesic distance along the geodesic's initial azimuth.
    """
    dist, az = inverse(lat0_deg, lon0_deg, lat_deg, lon_deg)
    az_rad = np.radians(az)
    return np.stack([dist * np.sin(az_rad), dist * np.cos(az_rad)], axis=-1)


def from_local_en_m(
    lat0_deg: ArrayLike, lon0_deg: ArrayLike, en_m: ArrayLike
) -> tuple[Array, Array]:
    """Inverse of :func:`local_en_m`: (lat_deg, lon_deg) of (east, north) offsets."""
    en = np.asarray(en_m, float)
    dist = np.hypot(en[..., 0], en[..., 1])
    az = np.degrees(np.arctan2(en[..., 0], en[..., 1]))
    return direct(lat0_deg, lon0_deg, az, dist)


def ellipse_from_covariance(
    cov_en_m2: ArrayLike, level: float = CHI2_2D_95
) -> tuple[Array, Array, Array]:
    """Semi-major, semi-minor (m) and orientation (deg clockwise from north, [0, 180)).

    The contour x^T C^-1 x = level has semi-axes sqrt(level * eigenvalue).
    """
    cov = np.asarray(cov_en_m2, float)
    vals, vecs = np.linalg.eigh(0.5 * (cov + np.swapaxes(cov, -1, -2)))
    vals = np.clip(vals, 0.0, None)
    major = vecs[..., :, 1]  # eigh sorts ascending: the last column is the major axis
    orientation = np.degrees(np.arctan2(major[..., 0], major[..., 1])) % 180.0
    orientation = np.where(orientation >= 180.0 - 1e-9, 0.0, orientation)
    return np.sqrt(level * vals[..., 1]), np.sqrt(level * vals[..., 0]), orientation


def covariance_from_ellipse(
    semi_major_m: ArrayLike,
    semi_minor_m: ArrayLike,
    orientation_deg: ArrayLike,
    level: float = CHI2_2D_95,
) -> Array:
    """The (east, north) covariance (..., 2, 2) whose ``level`` contour is the given ellipse."""
    a2 = np.asarray(semi_major_m, float) ** 2 / level
    b2 = np.asarray(semi_minor_m, float) ** 2 / level
    th = np.radians(np.asarray(orientation_deg, float))
    u = np.stack([np.sin(th), np.cos(th)], axis=-1)  # major axis (east, north)
    w = np.stack([np.cos(th), -np.sin(th)], axis=-1)  # minor axis
    return (
        a2[..., None, None] * u[..., :, None] * u[..., None, :]
        + b2[..., None, None] * w[..., :, None] * w[..., None, :]
    )


def in_ellipse(
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    center_lat_deg: ArrayLike,
    center_lon_deg: ArrayLike,
    semi_major_m: ArrayLike,
    semi_minor_m: ArrayLike,
    orientation_deg: ArrayLike,
    level: float = CHI2_2D_95,
) -> NDArray[np.bool_]:
    """Whether points lie inside 95 % ellipses (the coverage test of the contract's ellipse)."""
    en = local_en_m(center_lat_deg, center_lon_deg, lat_deg, lon_deg)
    cov = covariance_from_ellipse(semi_major_m, semi_minor_m, orientation_deg, level)
    # Degenerate (zero-size) ellipses hold nothing but their centre; a tiny floor avoids 0/0.
    cov = cov + 1e-6 * np.eye(2)
    d2 = np.einsum("...i,...i->...", en, np.linalg.solve(cov, en[..., None])[..., 0])
    return d2 <= level


def inverse_to_beta(inverse_beta_m2_kg: ArrayLike) -> Array:
    """Ballistic coefficient (kg/m^2) from its inverse; 0 or below (no drag seen) gives inf.

    A sampled inverse below zero would be a drag that pushes: physically it is "no drag".
    """
    k = np.asarray(inverse_beta_m2_kg, float)
    safe = np.where(k > 0.0, k, 1.0)
    return np.where(k > 0.0, 1.0 / safe, NO_DRAG)


# ln(beta) beyond this is "no drag" (exp would overflow; e^700 kg/m^2 is drag-free anyway).
_MAX_LOG_BETA = 700.0


def beta_of_seventh(seventh: ArrayLike, log_beta: bool = False) -> Array:
    """Ballistic coefficient (kg/m^2) of points' seventh state: ln(beta) if ``log_beta``
    (the tracker's own layout, every value physical), else 1/beta (m^2/kg)."""
    if log_beta:
        return np.exp(np.minimum(np.asarray(seventh, float), _MAX_LOG_BETA))
    return inverse_to_beta(seventh)


def _split_beta(x: Array, beta: Array, log_beta: bool = False) -> tuple[Array, Array]:
    """States (M, 6) and per-point ballistic coefficient (M,) from (M, 6|7) points."""
    if x.shape[-1] == 7:
        return x[:, :6], beta_of_seventh(x[:, 6], log_beta)
    return x, beta


def _land(
    points: Array,
    t0: Array,
    beta: Array,
    forces: ForceModel,
    max_duration_s: float,
    record_rows: Array | None = None,
    log_beta: bool = False,
) -> tuple[NDArray[np.bool_], Array, Array, Array, dict[int, GroundTrack]]:
    """Impact (hit, time_s, lat, lon) of (M, 6|7) points, handling points already underground.

    ``record_rows``: indices of points whose whole path is also returned as a ground track
    (recorded during the same propagation, so a track's mean path costs nothing extra).
    """
    states, betas = _split_beta(points, beta, log_beta)
    alt = geodetic_altitude_m(states[:, :3])
    hit = np.zeros(states.shape[0], dtype=bool)
    time_s = np.full(states.shape[0], np.nan)
    lat = np.full(states.shape[0], np.nan)
    lon = np.full(states.shape[0], np.nan)
    paths: dict[int, GroundTrack] = {}
    below = alt <= 0.0
    if below.any():
        # A sigma point below the ellipsoid has, in its own world, already come down: here.
        lat[below], lon[below], _ = ecef_to_lla(states[below, :3])
        time_s[below] = t0[below]
        hit[below] = True
    above = ~below
    if above.any():
        record: list[tuple[Array, Array]] | None = [] if record_rows is not None else None
        result = propagate_to_impact(
            states[above], t0[above], betas[above], forces, max_duration_s, record=record
        )
        hit[above] = result.hit
        time_s[above] = np.where(result.hit, result.time_s, np.nan)
        lat[above] = np.where(result.hit, result.lat_deg, np.nan)
        lon[above] = np.where(result.hit, result.lon_deg, np.nan)
        if record:
            column = np.cumsum(above) - 1
            rows = np.asarray([r for r in record_rows if above[r]], dtype=int)
            if rows.size:
                cols = column[rows]
                elapsed = np.array([e for e, _ in record])
                path = np.stack([st[cols] for _, st in record], axis=0)  # (steps, m, 6)
                tracks = _tracks_from_path(
                    elapsed, path, t0[rows], result.hit[cols], result.time_s[cols]
                )
                paths.update(zip(rows.tolist(), tracks, strict=True))
    return hit, time_s, lat, lon, paths


def _weighted_summary(
    lat: Array, lon: Array, time_s: Array, wm: Array, wc: Array
) -> tuple[Array, Array, Array, Array, Array]:
    """Mean (lat, lon, time) and covariances of K landed points per track, shapes (N, K).

    Weights are per point (N, K) and may include zeros for points left out.
    """
    ref = np.argmax(wm != 0.0, axis=1)  # any included point as the first origin
    rows = np.arange(lat.shape[0])
    lat0 = lat[rows, ref]
    lon0 = lon[rows, ref]
    safe_lat = np.where(np.isfinite(lat), lat, lat0[:, None])
    safe_lon = np.where(np.isfinite(lon), lon, lon0[:, None])
    # Two passes: mean in the plane at a sample point, then re-centre on the mean so the
    # covariance is expressed in the tangent plane *at the mean impact*, as the contract says.
    for _ in range(2):
        en = local_en_m(lat0[:, None], lon0[:, None], safe_lat, safe_lon)  # (N, K, 2)
        mean_en = np.einsum("nk,nki->ni", wm, en)
        lat0, lon0 = from_local_en_m(lat0, lon0, mean_en)
    en = local_en_m(lat0[:, None], lon0[:, None], safe_lat, safe_lon)
    mean_en = np.einsum("nk,nki->ni", wm, en)  # ~0 after re-centring; kept for exactness
    dev = en - mean_en[:, None, :]
    cov = np.einsum("nk,nki,nkj->nij", wc, dev, dev)
    safe_t = np.where(np.isfinite(time_s), time_s, 0.0)
    mean_t = np.einsum("nk,nk->n", wm, safe_t)
    var_t = np.einsum("nk,nk->n", wc, (safe_t - mean_t[:, None]) ** 2)
    return lat0, lon0, mean_t, np.sqrt(np.clip(var_t, 0.0, None)), cov


def _monte_carlo(
    x: Array,
    P: Array,
    t_s: Array,
    beta: Array,
    samples: int,
    rng: np.random.Generator,
    forces: ForceModel,
    max_duration_s: float,
    log_beta: bool = False,
) -> tuple[Array, Array, Array, Array, Array, Array]:
    n_tracks, dim = x.shape
    L = robust_cholesky(P)
    z = rng.standard_normal((n_tracks, samples, dim))
    points = x[:, None, :] + np.einsum("nij,nkj->nki", L, z)
    hit, time_s, lat, lon, _ = _land(
        points.reshape(-1, dim),
        np.repeat(t_s, samples),
        np.repeat(beta, samples),
        forces,
        max_duration_s,
        log_beta=log_beta,
    )
    hit = hit.reshape(n_tracks, samples)
    valid = np.ones((n_tracks, samples), dtype=bool)
    if dim == 7 and not log_beta:
        # Drag never pushes: samples with 1/beta < 0 lie outside the physical state space, so
        # the distribution is conditioned on 1/beta >= 0 (a truncated Gaussian) by dropping them.
        valid = points[..., 6] >= 0.0
        hit &= valid
    counts = hit.sum(axis=1)
    w = np.where(hit, 1.0 / np.maximum(counts, 1)[:, None], 0.0)
    # Unbiased covariance weights for the sample covariance of the landed samples.
    wc = np.where(hit, 1.0 / np.maximum(counts - 1, 1)[:, None], 0.0)
    lat = lat.reshape(n_tracks, samples)
    lon = lon.reshape(n_tracks, samples)
    lat0, lon0, mean_t, sig_t, cov = _weighted_summary(
        lat, lon, time_s.reshape(n_tracks, samples), w, wc
    )
    cov = _cover_samples(cov, lat0, lon0, lat, lon, hit)
    return counts / np.maximum(valid.sum(axis=1), 1), lat0, lon0, mean_t, sig_t, cov


def _cover_samples(
    cov: Array, lat0: Array, lon0: Array, lat: Array, lon: Array, hit: NDArray[np.bool_]
) -> Array:
    """Inflate sample covariances so that their 95 % ellipse holds 95 % of the samples.

    A distribution bent by the flight (a "banana" along the ground track, typical when the
    ballistic coefficient is poorly known) has a thin sample covariance across its curve, and
    the chi-square ellipse of that covariance then holds far fewer than 95 % of the samples.
    The empirical 95th percentile of the samples' Mahalanobis distances replaces the
    chi-square level when it is larger (never smaller: for a Gaussian the two agree and the
    percentile only adds sampling noise).
    """
    safe_lat = np.where(hit, lat, lat0[:, None])
    safe_lon = np.where(hit, lon, lon0[:, None])
    en = local_en_m(lat0[:, None], lon0[:, None], safe_lat, safe_lon)
    reg = cov + 1e-6 * np.eye(2)
    d2 = np.einsum("nki,nki->nk", en, np.linalg.solve(reg[:, None], en[..., None])[..., 0])
    d2 = np.where(hit, d2, np.nan)
    q95 = np.full(cov.shape[0], CHI2_2D_95)
    enough = hit.sum(axis=1) >= 20
    if enough.any():
        q95[enough] = np.nanquantile(d2[enough], 0.95, axis=1)
    scale = np.maximum(q95 / CHI2_2D_95, 1.0)
    return cov * scale[:, None, None]


def predict_impact(
    x: ArrayLike,
    P: ArrayLike,
    t_s: ArrayLike,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    *,
    method: Method = "unscented",
    samples: int = 500,
    rng: np.random.Generator | None = None,
    forces: ForceModel = FULL,
    max_duration_s: float = DEFAULT_HORIZON_S,
    with_ground_tracks: bool = False,
    log_beta: bool = False,
) -> ImpactEstimate:
    """Impact point, time and 95 % ellipse of N tracks.

    ``x`` (N, 6) ECEF [r (m), v (m/s)] or (N, 7) with the inverse ballistic coefficient
    1/beta (m^2/kg) as the seventh state, or with ``log_beta`` ln(beta) (beta in kg/m^2, the
    tracker's own Gaussian: ``x_log``/``P_log``); ``P`` (N, 6|7, 6|7); ``t_s`` (N,) or scalar,
    the state time (POSIX s);
    ``ballistic_coefficient_kg_m2`` (N,) or scalar, used for 6-state tracks (inf = no drag).
    ``method`` "unscented" (2n+1 points) or "monte_carlo" (``samples`` draws per track, seeded
    by ``rng``). Tracks whose sigma points only partly come down are redone by Monte Carlo.
    In the ln(beta) layout every sigma point has a physical drag, so a vague drag estimate
    (midcourse) needs no Monte Carlo; with 1/beta a point below zero forces it.
    """
    x = np.atleast_2d(np.asarray(x, float))
    P = np.asarray(P, float).reshape(x.shape[0], x.shape[1], x.shape[1])
    n_tracks, dim = x.shape
    if dim not in (6, 7):
        raise ValueError(f"state dimension must be 6 or 7, got {dim}")
    t = np.broadcast_to(np.asarray(t_s, float), (n_tracks,)).astype(float)
    beta = np.broadcast_to(np.asarray(ballistic_coefficient_kg_m2, float), (n_tracks,)).astype(
        float
    )
    rng = rng if rng is not None else np.random.default_rng(0)

    hit_p = np.zeros(n_tracks)
    lat = np.full(n_tracks, np.nan)
    lon = np.full(n_tracks, np.nan)
    time_s = np.full(n_tracks, np.nan)
    time_sigma = np.full(n_tracks, np.nan)
    cov = np.full((n_tracks, 2, 2), np.nan)
    used = np.full(n_tracks, method, dtype="<U11")
    tracks_out: list[GroundTrack | None] = [None] * n_tracks

    if method == "unscented":
        weights = unscented_weights(dim)
        k = 2 * dim + 1
        points = sigma_points(x, P, weights)  # (N, K, dim)
        centres = np.arange(n_tracks) * k if with_ground_tracks else None
        hit, t_imp, la, lo, paths = _land(
            points.reshape(-1, dim),
            np.repeat(t, k),
            np.repeat(beta, k),
            forces,
            max_duration_s,
            record_rows=centres,
            log_beta=log_beta,
        )
        if with_ground_tracks:
            tracks_out = [paths.get(i * k) for i in range(n_tracks)]
        hit = hit.reshape(n_tracks, k)
        all_hit = hit.all(axis=1)
        none_hit = ~hit.any(axis=1)
        mixed = ~all_hit & ~none_hit
        if dim == 7 and not log_beta:
            # A 1/beta sigma point below zero means the Gaussian has real mass on unphysical
            # (pushing) drag; clamping it would bias the mean, so such tracks are redone by
            # Monte Carlo on the Gaussian truncated to 1/beta >= 0.
            crosses = (points[..., 6] < 0.0).any(axis=1)
            mixed |= crosses & ~none_hit
            all_hit &= ~crosses
        if all_hit.any():
            wm = np.broadcast_to(weights.mean, (int(all_hit.sum()), k))
            wc = np.broadcast_to(weights.covariance, (int(all_hit.sum()), k))
            (lat[all_hit], lon[all_hit], time_s[all_hit], time_sigma[all_hit], cov[all_hit]) = (
                _weighted_summary(
                    la.reshape(n_tracks, k)[all_hit],
                    lo.reshape(n_tracks, k)[all_hit],
                    t_imp.reshape(n_tracks, k)[all_hit],
                    wm,
                    wc,
                )
            )
            hit_p[all_hit] = 1.0
    elif method == "monte_carlo":
        mixed = np.ones(n_tracks, dtype=bool)
    else:
        raise ValueError(f"unknown method {method!r}; use 'unscented' or 'monte_carlo'")

    if mixed.any():
        used[mixed] = "monte_carlo"
        (hit_p[mixed], lat[mixed], lon[mixed], time_s[mixed], time_sigma[mixed], cov[mixed]) = (
            _monte_carlo(
                x[mixed],
                P[mixed],
                t[mixed],
                beta[mixed],
                samples,
                rng,
                forces,
                max_duration_s,
                log_beta,
            )
        )
    none = hit_p == 0.0
    lat[none] = lon[none] = time_s[none] = time_sigma[none] = np.nan
    cov[none] = np.nan
    major, minor, orient = ellipse_from_covariance(np.where(none[:, None, None], 0.0, cov))
    major[none] = minor[none] = orient[none] = np.nan
    return ImpactEstimate(
        hit_probability=hit_p,
        time_s=time_s,
        time_sigma_s=time_sigma,
        lat_deg=lat,
        lon_deg=lon,
        covariance_en_m2=cov,
        semi_major_m=major,
        semi_minor_m=minor,
        orientation_deg=orient,
        method=used,
        ground_tracks=tracks_out if with_ground_tracks else None,
    )


@dataclass(frozen=True)
class GroundTrack:
    """Predicted path of one track's mean state: times (POSIX s), geodetic points."""

    time_s: Array
    lat_deg: Array
    lon_deg: Array
    alt_m: Array
    impacts: bool  # True when the path ends on the ellipsoid within the horizon

    def to_json(self) -> dict[str, list[float] | bool]:
        return {
            "time_s": [round(float(v), 3) for v in self.time_s],
            "lat": [round(float(v), 6) for v in self.lat_deg],
            "lon": [round(float(v), 6) for v in self.lon_deg],
            "alt_m": [round(float(v), 1) for v in self.alt_m],
            "impacts": self.impacts,
        }


def ground_tracks(
    x: ArrayLike,
    t_s: ArrayLike,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    *,
    forces: ForceModel = FULL,
    max_duration_s: float = DEFAULT_HORIZON_S,
    log_beta: bool = False,
) -> list[GroundTrack]:
    """Predicted ground tracks of N mean states ``x`` (N, 6|7) from ``t_s`` to impact
    (seventh state 1/beta, or ln(beta) with ``log_beta``).

    Sampled at the integrator's steps (5 s in vacuum, 1 s and 0.25 s lower down), ending at
    the exact impact point; one propagation for all tracks.
    """
    x = np.atleast_2d(np.asarray(x, float))
    n = x.shape[0]
    t = np.broadcast_to(np.asarray(t_s, float), (n,))
    beta = np.broadcast_to(np.asarray(ballistic_coefficient_kg_m2, float), (n,)).astype(float)
    states, beta = _split_beta(x, beta, log_beta)
    record: list[tuple[Array, Array]] = []
    result = propagate_to_impact(states, t, beta, forces, max_duration_s, record=record)
    elapsed = np.array([e for e, _ in record])
    path = np.stack([s for _, s in record], axis=0)  # (steps, N, 6)
    return _tracks_from_path(elapsed, path, t, result.hit, result.time_s)


def _tracks_from_path(
    elapsed: Array, path: Array, t0: Array, hit: NDArray[np.bool_], impact_s: Array
) -> list[GroundTrack]:
    """Ground tracks from a recorded propagation: ``path`` (steps, N, 6), ``t0`` (N,)."""
    lat, lon, alt = ecef_to_lla(path[..., :3])
    tracks = []
    for i in range(path.shape[1]):
        if hit[i]:
            keep = elapsed <= impact_s[i] - t0[i] + 1e-9
            keep[np.argmax(~keep) if not keep.all() else -1] = True  # the impact sample itself
            times = np.minimum(t0[i] + elapsed[keep], impact_s[i])
        else:
            keep = np.ones(elapsed.shape, dtype=bool)
            times = t0[i] + elapsed
        tracks.append(GroundTrack(times, lat[keep, i], lon[keep, i], alt[keep, i], bool(hit[i])))
    return tracks


__all__ = [
    "CHI2_2D_95",
    "GroundTrack",
    "ImpactEstimate",
    "beta_of_seventh",
    "covariance_from_ellipse",
    "ellipse_from_covariance",
    "from_local_en_m",
    "ground_tracks",
    "in_ellipse",
    "inverse_to_beta",
    "local_en_m",
    "predict_impact",
]
