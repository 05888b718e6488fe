"""Launch point and time, with uncertainty, from a track state.

Back-propagating a coasting state to the ground ("the ghost pad") is biased: the real flight
rose vertically from its pad and pitched over under thrust, so the ghost lands uprange of the
pad and seconds to minutes after the real launch. kizuna corrects the ghost with a boost model
calibrated offline (:mod:`kizuna.prediction.calibration`): the powered flights of
:mod:`kizuna.physics.boost` for a spread of vehicles (lift-off acceleration, mass ratio,
vertical-rise time), burn times and burnout pitches were flown, and for each one the ghost of
its burnout state and the offsets from ghost to true pad (downrange, cross-range, time) are
tabulated against the ghost's speed and flight-path angle at the ground. A track's ghost is
corrected by the k nearest calibration flights; their spread is the model uncertainty (an
unknown vehicle is the dominant error), added to the state uncertainty pushed through the
ghost by sigma points. For a track still in boost, a second table maps (altitude, speed,
flight-path angle) of powered states to (distance back to the pad, time since launch).

The correction is only as good as the assumption that the launcher resembles the calibrated
family; ``sigma_m`` reports that spread honestly rather than the much smaller state-only
figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from kizuna.geo.frames import ecef_to_lla, enu_rotation, geodetic_altitude_m
from kizuna.physics.dynamics import (
    FULL,
    NO_DRAG,
    ForceModel,
    approx_altitude_m,
    state_derivative,
)
from kizuna.physics.propagate import VACUUM_STEP_S, regime_step_s, rk4_step
from kizuna.prediction.impact import beta_of_seventh, from_local_en_m, local_en_m
from kizuna.prediction.unscented import sigma_points, unscented_weights

Array = NDArray[np.float64]

CALIBRATION_PATH = Path(__file__).parent / "data" / "boost_calibration.npz"
NEIGHBOURS = 24
MAX_BACK_S = 4.0 * 3600.0


@dataclass(frozen=True)
class GhostPad:
    """Where N states back-propagated ballistically meet the ground (arrays (N,...))."""

    reached: NDArray[np.bool_]
    time_s: Array
    lat_deg: Array
    lon_deg: Array
    speed_mps: Array  # ECEF speed at the ground
    flight_path_deg: Array  # angle of the velocity above the local horizontal (positive: up)
    heading_deg: Array  # ground heading of the velocity, clockwise from north
    max_alt_m: Array  # highest altitude passed on the way back (the apogee once past it)


def _back_derivative(beta: Array, forces: ForceModel):  # type: ignore[no-untyped-def]
    def derivative(state: Array) -> Array:
        # Drag only on the descending leg: there it undoes the real deceleration the track
        # went through; on the way up (backwards: down to the ghost pad) a missile is above
        # most of the air and the ghost's leg through the lower atmosphere never happened.
        descending = np.einsum("...i,...i->...", state[..., :3], state[..., 3:]) < 0.0
        return state_derivative(state, np.where(descending, beta, NO_DRAG), forces)

    return derivative


def back_propagate_to_ground(
    x: ArrayLike,
    t_s: ArrayLike,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    forces: ForceModel = FULL,
    max_duration_s: float = MAX_BACK_S,
    max_step_s: float = VACUUM_STEP_S,
) -> GhostPad:
    """Integrate unpowered ECEF states (N, 6) backwards in time until altitude 0.

    Steps follow the regime as in :func:`kizuna.physics.propagate.propagate_to_impact`: 5 s
    while every point is above 120 km, 1 s lower down, and the propagator's finer steps where
    drag acts (descending legs in the air). The crossing is refined by bisection on the last
    step to < 0.1 ms (well under a metre).
    """
    state = np.atleast_2d(np.asarray(x, float))[:, :6].copy()
    n = state.shape[0]
    t = np.broadcast_to(np.asarray(t_s, float), (n,)).astype(float)
    beta = np.broadcast_to(np.asarray(ballistic_coefficient_kg_m2, float), (n,)).astype(float)
    alt = geodetic_altitude_m(state[:, :3])
    max_alt = alt.copy()
    reached = alt <= 0.0
    ground = state.copy()
    ground_t = t.copy()
    elapsed = 0.0
    active = ~reached
    while active.any() and elapsed < max_duration_s:
        idx = np.flatnonzero(active)
        before = state[idx]
        alt_now = approx_altitude_m(before[:, :3])
        descending = np.einsum("ni,ni->n", before[:, :3], before[:, 3:]) < 0.0
        step = max_step_s if alt_now.min() > 120_000.0 else min(max_step_s, 1.0)
        if descending.any():
            step = min(step, regime_step_s(float(alt_now[descending].min())))
        deriv = _back_derivative(beta[idx], forces)
        after = rk4_step(deriv, before, -step)
        after_alt = approx_altitude_m(after[:, :3])
        # The fast altitude is within 15 m of the geodetic one: confirm crossings exactly.
        crossed = np.zeros(idx.size, dtype=bool)
        near = after_alt < 50.0
        if near.any():
            crossed[near] = geodetic_altitude_m(after[near, :3]) <= 0.0
        if crossed.any():
            c_idx = idx[crossed]
            d_c = _back_derivative(beta[c_idx], forces)
            lo = np.zeros(c_idx.size)
            hi = np.full(c_idx.size, step)
            for _ in range(16):  # 5 s / 2^16 < 0.1 ms
                mid = 0.5 * (lo + hi)
                below = geodetic_altitude_m(rk4_step(d_c, before[crossed], -mid)[:, :3]) <= 0.0
                hi = np.where(below, mid, hi)
                lo = np.where(below, lo, mid)
            tau = 0.5 * (lo + hi)
            ground[c_idx] = rk4_step(d_c, before[crossed], -tau)
            ground_t[c_idx] = t[c_idx] - elapsed - tau
            reached[c_idx] = True
            active[c_idx] = False
        state[idx] = after
        max_alt[idx] = np.maximum(max_alt[idx], after_alt)
        elapsed += step
    lat, lon, _ = ecef_to_lla(ground[:, :3])
    rot = enu_rotation(lat, lon)
    v_enu = np.einsum("nij,nj->ni", rot, ground[:, 3:])
    speed = np.linalg.norm(v_enu, axis=-1)
    fpa = np.degrees(np.arcsin(np.clip(v_enu[:, 2] / np.maximum(speed, 1e-9), -1.0, 1.0)))
    heading = np.degrees(np.arctan2(v_enu[:, 0], v_enu[:, 1])) % 360.0
    nan = ~reached
    ground_t[nan] = lat[nan] = lon[nan] = np.nan
    return GhostPad(reached, ground_t, lat, lon, speed, fpa, heading, max_alt)


def flight_path_features(x: ArrayLike) -> tuple[Array, Array, Array, Array, Array, Array]:
    """(alt_m, speed_mps, flight_path_deg, heading_deg, lat_deg, lon_deg) of ECEF states."""
    s = np.atleast_2d(np.asarray(x, float))
    lat, lon, alt = ecef_to_lla(s[:, :3])
    v_enu = np.einsum("nij,nj->ni", enu_rotation(lat, lon), s[:, 3:6])
    speed = np.linalg.norm(v_enu, axis=-1)
    fpa = np.degrees(np.arcsin(np.clip(v_enu[:, 2] / np.maximum(speed, 1e-9), -1.0, 1.0)))
    heading = np.degrees(np.arctan2(v_enu[:, 0], v_enu[:, 1])) % 360.0
    return alt, speed, fpa, heading, lat, lon


@dataclass(frozen=True)
class BoostCalibration:
    """The offline table (see :mod:`kizuna.prediction.calibration`)."""

    # Coast table: ghost (speed m/s, fpa deg) -> (downrange m, cross-range m, dt s) ghost->pad.
    coast_features: Array
    coast_offsets: Array
    # Boost table: (alt m, speed m/s, fpa deg) -> (back-distance m, cross m, elapsed s).
    boost_features: Array
    boost_offsets: Array

    @property
    def coast_tree(self) -> cKDTree:
        return _tree(id(self), "coast", self.coast_features / _COAST_SCALE)

    @property
    def boost_tree(self) -> cKDTree:
        return _tree(id(self), "boost", self.boost_features / _BOOST_SCALE)


# Feature scales so that one unit is a comparable difference in flight regime.
_COAST_SCALE = np.array([100.0, 2.0])  # 100 m/s of speed ~ 2 degrees of flight path angle
_BOOST_SCALE = np.array([5_000.0, 100.0, 3.0])
_TREES: dict[tuple[int, str], cKDTree] = {}


def _tree(key: int, which: str, data: Array) -> cKDTree:
    if (key, which) not in _TREES:
        _TREES[(key, which)] = cKDTree(data)
    return _TREES[(key, which)]


@lru_cache(maxsize=1)
def load_calibration(path: Path = CALIBRATION_PATH) -> BoostCalibration:
    with np.load(path) as data:
        return BoostCalibration(
            data["coast_features"].astype(float),
            data["coast_offsets"].astype(float),
            data["boost_features"].astype(float),
            data["boost_offsets"].astype(float),
        )


def _neighbour_stats(tree: cKDTree, targets: Array, query: Array, k: int) -> tuple[Array, Array]:
    """Local linear regression of calibration offsets on features, and its residual spread.

    Among the k nearest calibration flights (in scaled feature space), offsets are fitted as
    a + B (f - f_query) by inverse-distance weighted least squares: ``a`` is the correction and
    the weighted residual standard deviation (corrected for the fitted parameters) is the
    model uncertainty. A plain neighbour average would count the offsets' smooth change across
    the neighbourhood as uncertainty; the regression leaves only the scatter between vehicles,
    which is what an unknown launcher really adds.
    """
    dist, idx = tree.query(query, k=k)
    w = 1.0 / (dist + 0.05)
    y = targets[idx]  # (..., k, 3)
    dx = tree.data[idx] - query[..., None, :]  # (..., k, d)
    design = np.concatenate([np.ones(dx.shape[:-1] + (1,)), dx], axis=-1)  # (..., k, d+1)
    p = design.shape[-1]
    weighted = design * w[..., None]
    normal = np.swapaxes(weighted, -1, -2) @ design
    # A small ridge keeps degenerate neighbourhoods (collinear features) solvable.
    normal = normal + 1e-6 * np.trace(normal, axis1=-2, axis2=-1)[..., None, None] * np.eye(p)
    coef = np.linalg.solve(normal, np.swapaxes(weighted, -1, -2) @ y)  # (..., d+1, 3)
    resid = y - design @ coef
    var = np.einsum("...k,...ki->...i", w, resid**2) / w.sum(axis=-1, keepdims=True)
    var = var * k / max(k - p, 1)
    mean = coef[..., 0, :]
    # A query far from every calibration flight (beyond one scaled unit) is an extrapolation:
    # its distance is added as relative uncertainty.
    far = np.clip(dist[..., :1] - 1.0, 0.0, None)
    var = var + (far * np.abs(mean)) ** 2
    return mean, np.sqrt(var)


@dataclass(frozen=True)
class LaunchEstimate:
    """Estimated launch of N tracks (arrays (N,)); NaN where none could be made."""

    time_s: Array
    time_sigma_s: Array
    lat_deg: Array
    lon_deg: Array
    sigma_m: Array  # 1-sigma per horizontal axis, sqrt(trace(C_en) / 2)
    covariance_en_m2: Array  # (N, 2, 2)
    max_alt_m: Array  # highest altitude on the way back (apogee, once the track is past it)


def _correct_coast(
    ghost: GhostPad, calib: BoostCalibration
) -> tuple[Array, Array, Array, Array, Array]:
    query = np.stack([ghost.speed_mps, ghost.flight_path_deg], axis=-1) / _COAST_SCALE
    query = np.where(np.isfinite(query), query, 0.0)
    mean, spread = _neighbour_stats(calib.coast_tree, calib.coast_offsets, query, NEIGHBOURS)
    lat, lon = _offset(ghost.lat_deg, ghost.lon_deg, ghost.heading_deg, mean[..., 0], mean[..., 1])
    return lat, lon, ghost.time_s + mean[..., 2], spread, ghost.heading_deg


def _offset(
    lat: Array, lon: Array, heading: Array, down: Array, cross: Array
) -> tuple[Array, Array]:
    """Point ``down`` m along ``heading`` then ``cross`` m to its right."""
    h = np.radians(heading)
    en = np.stack(
        [down * np.sin(h) + cross * np.cos(h), down * np.cos(h) - cross * np.sin(h)], axis=-1
    )
    safe_lat = np.where(np.isfinite(lat), lat, 0.0)
    safe_lon = np.where(np.isfinite(lon), lon, 0.0)
    out_lat, out_lon = from_local_en_m(safe_lat, safe_lon, en)
    bad = ~(np.isfinite(lat) & np.isfinite(lon))
    return np.where(bad, np.nan, out_lat), np.where(bad, np.nan, out_lon)


def _model_cov_en(spread: Array, heading_deg: Array) -> Array:
    """Calibration spread (down, cross) rotated into (east, north) covariance (..., 2, 2)."""
    h = np.radians(heading_deg)
    down = np.stack([np.sin(h), np.cos(h)], axis=-1)
    cross = np.stack([np.cos(h), -np.sin(h)], axis=-1)
    return (
        spread[..., 0, None, None] ** 2 * down[..., :, None] * down[..., None, :]
        + spread[..., 1, None, None] ** 2 * cross[..., :, None] * cross[..., None, :]
    )


def estimate_launch(
    x: ArrayLike,
    P: ArrayLike,
    t_s: ArrayLike,
    ballistic_coefficient_kg_m2: ArrayLike = NO_DRAG,
    *,
    boosting: ArrayLike = False,
    forces: ForceModel = FULL,
    calibration: BoostCalibration | None = None,
    log_beta: bool = False,
) -> LaunchEstimate:
    """Launch point, time and uncertainty of N tracks.

    ``x`` (N, 6|7) ECEF states (seventh: 1/beta, m^2/kg, or ln(beta) with ``log_beta``) at
    ``t_s`` (N,); ``P`` (N, n, n);
    ``boosting`` (N,) True for tracks still under thrust (then the boost table is used instead
    of back-propagation). The state uncertainty is carried by sigma points through the ghost
    and the correction; the calibration spread is added as independent model uncertainty.
    """
    calib = calibration or load_calibration()
    x = np.atleast_2d(np.asarray(x, float))
    n, dim = x.shape
    P = np.asarray(P, float).reshape(n, dim, dim)
    t = np.broadcast_to(np.asarray(t_s, float), (n,)).astype(float)
    beta = np.broadcast_to(np.asarray(ballistic_coefficient_kg_m2, float), (n,)).astype(float)
    boost = np.broadcast_to(np.asarray(boosting, bool), (n,))
    weights = unscented_weights(dim)
    k = 2 * dim + 1
    points = sigma_points(x, P, weights).reshape(-1, dim)
    t_rep = np.repeat(t, k)
    point_beta = beta_of_seventh(points[:, 6], log_beta) if dim == 7 else np.repeat(beta, k)
    boost_rep = np.repeat(boost, k)

    lat = np.full(n * k, np.nan)
    lon = np.full(n * k, np.nan)
    time = np.full(n * k, np.nan)
    spread = np.zeros((n * k, 3))
    heading = np.zeros(n * k)
    max_alt = np.full(n * k, np.nan)
    coast = ~boost_rep
    if coast.any():
        ghost = back_propagate_to_ground(points[coast, :6], t_rep[coast], point_beta[coast], forces)
        lat[coast], lon[coast], time[coast], spread[coast], heading[coast] = _correct_coast(
            ghost, calib
        )
        max_alt[coast] = ghost.max_alt_m
    if boost_rep.any():
        alt, speed, fpa, head, plat, plon = flight_path_features(points[boost_rep])
        query = np.stack([alt, speed, fpa], axis=-1) / _BOOST_SCALE
        mean, spr = _neighbour_stats(calib.boost_tree, calib.boost_offsets, query, NEIGHBOURS)
        lat[boost_rep], lon[boost_rep] = _offset(plat, plon, head, -mean[:, 0], -mean[:, 1])
        time[boost_rep] = t_rep[boost_rep] - mean[:, 2]
        spread[boost_rep], heading[boost_rep] = spr, head
        max_alt[boost_rep] = alt

    lat = lat.reshape(n, k)
    lon = lon.reshape(n, k)
    time = time.reshape(n, k)
    ok = np.isfinite(lat).all(axis=1)
    out_lat = np.full(n, np.nan)
    out_lon = np.full(n, np.nan)
    out_t = np.full(n, np.nan)
    out_tsig = np.full(n, np.nan)
    cov = np.full((n, 2, 2), np.nan)
    if ok.any():
        la, lo = lat[ok], lon[ok]
        en = local_en_m(la[:, :1], lo[:, :1], la, lo)  # about the centre point
        mean_en = np.einsum("k,nki->ni", weights.mean, en)
        c_lat, c_lon = from_local_en_m(la[:, 0], lo[:, 0], mean_en)
        en = local_en_m(c_lat[:, None], c_lon[:, None], la, lo)
        dev = en - np.einsum("k,nki->ni", weights.mean, en)[:, None, :]
        state_cov = np.einsum("k,nki,nkj->nij", weights.covariance, dev, dev)
        centre_spread = spread.reshape(n, k, 3)[ok, 0]
        centre_heading = heading.reshape(n, k)[ok, 0]
        cov[ok] = state_cov + _model_cov_en(centre_spread, centre_heading)
        tm = np.einsum("k,nk->n", weights.mean, time[ok])
        tvar = np.einsum("k,nk->n", weights.covariance, (time[ok] - tm[:, None]) ** 2)
        out_lat[ok], out_lon[ok], out_t[ok] = c_lat, c_lon, tm
        out_tsig[ok] = np.sqrt(np.clip(tvar, 0.0, None) + centre_spread[:, 2] ** 2)
    sigma = np.sqrt(np.clip(np.trace(cov, axis1=-2, axis2=-1), 0.0, None) / 2.0)
    return LaunchEstimate(
        out_t, out_tsig, out_lat, out_lon, sigma, cov, max_alt.reshape(n, k)[:, 0]
    )


__all__ = [
    "BoostCalibration",
    "GhostPad",
    "LaunchEstimate",
    "back_propagate_to_ground",
    "estimate_launch",
    "flight_path_features",
    "load_calibration",
]
