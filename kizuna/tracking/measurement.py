"""Measurement models: a radar's (range, azimuth, elevation) and a partner's ECEF position.

Radar measurements inside the tracker are ``z = (range_m, azimuth_rad, elevation_rad)``, the
contract's ``range_m, azimuth_deg, elevation_deg`` with angles in radians, i.e. exactly
:func:`kizuna.geo.ecef_to_aer` of the target seen from the sensor (tested equal). The sensor's
ECEF origin and ENU rotation are computed once per sensor (:class:`SensorFrames`) instead of per
call, because the tracker evaluates ``h(x)`` for every track and sigma point of every scan.

Azimuth wraps at 2 pi: innovations and sigma-point means are taken on the circle
(:meth:`RadarModel.residual`, :meth:`RadarModel.mean`). Elevation never wraps in [-pi/2, pi/2].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kizuna.geo.frames import enu_rotation, lla_to_ecef
from kizuna.tracking.kernels import kernel_array, point_covariance, radar_innovation

Array = NDArray[np.float64]
TWO_PI = 2.0 * np.pi


def wrap_pi(angle_rad: Array) -> Array:
    """Angle(s) wrapped into [-pi, pi)."""
    return (np.asarray(angle_rad) + np.pi) % TWO_PI - np.pi


@dataclass(frozen=True)
class SensorSite:
    """Where a sensor is: ECEF origin (m) and ECEF->ENU rotation (rows east, north, up)."""

    origin_ecef_m: Array  # (3,)
    rotation: Array  # (3, 3)

    @classmethod
    def from_lla(cls, lat_deg: float, lon_deg: float, alt_m: float) -> SensorSite:
        return cls(lla_to_ecef(lat_deg, lon_deg, alt_m), enu_rotation(lat_deg, lon_deg))


class SensorFrames:
    """Registry of sensor sites by id, with stacked arrays for vectorised lookup."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self._origins: list[Array] = []
        self._rotations: list[Array] = []
        self.origins = np.zeros((0, 3))
        self.rotations = np.zeros((0, 3, 3))

    def register(self, sensor_id: str, lat_deg: float, lon_deg: float, alt_m: float) -> int:
        """Index of ``sensor_id``, adding it on first sight (its first reported site is kept)."""
        found = self.index.get(sensor_id)
        if found is not None:
            return found
        site = SensorSite.from_lla(lat_deg, lon_deg, alt_m)
        self.index[sensor_id] = len(self._origins)
        self._origins.append(site.origin_ecef_m)
        self._rotations.append(site.rotation)
        self.origins = np.asarray(self._origins)
        self.rotations = np.asarray(self._rotations)
        return self.index[sensor_id]

    @property
    def ids(self) -> list[str]:
        return list(self.index)


def radar_measure(r_ecef_m: Array, origin_ecef_m: Array, rotation: Array) -> Array:
    """(range_m, azimuth_rad in [0, 2pi), elevation_rad) of ECEF points, shape (..., 3)."""
    enu = np.einsum("...ij,...j->...i", rotation, r_ecef_m - origin_ecef_m)
    e, n, u = enu[..., 0], enu[..., 1], enu[..., 2]
    horizontal = np.hypot(e, n)
    out = np.empty(enu.shape)
    out[..., 0] = np.hypot(horizontal, u)
    out[..., 1] = np.arctan2(e, n) % TWO_PI
    out[..., 2] = np.arctan2(u, horizontal)
    return out


def radar_jacobian(r_ecef_m: Array, origin_ecef_m: Array, rotation: Array) -> Array:
    """d(range, az, el)/d(r_ecef), shape (..., 3, 3).

    In ENU with h = sqrt(e^2 + n^2) and rho = |(e, n, u)|:
    d rho = (e, n, u)/rho, d az = (n, -e, 0)/h^2, d el = (-e u, -n u, h^2)/(rho^2 h);
    then chained through the constant rotation ENU = R (r - origin).
    """
    enu = np.einsum("...ij,...j->...i", rotation, r_ecef_m - origin_ecef_m)
    e, n, u = enu[..., 0], enu[..., 1], enu[..., 2]
    h2 = np.maximum(e * e + n * n, 1e-6)
    h = np.sqrt(h2)
    rho2 = h2 + u * u
    rho = np.sqrt(rho2)
    d_enu = np.zeros(enu.shape + (3,))
    d_enu[..., 0, :] = enu / rho[..., None]
    d_enu[..., 1, 0] = n / h2
    d_enu[..., 1, 1] = -e / h2
    d_enu[..., 2, 0] = -e * u / (rho2 * h)
    d_enu[..., 2, 1] = -n * u / (rho2 * h)
    d_enu[..., 2, 2] = h / rho2
    return d_enu @ rotation


def aer_to_point(z: Array, origin_ecef_m: Array, rotation: Array) -> Array:
    """Inverse of :func:`radar_measure`: (range, az_rad, el_rad) -> ECEF (m), shape (..., 3)."""
    rng, az, el = z[..., 0], z[..., 1], z[..., 2]
    horizontal = rng * np.cos(el)
    enu = np.empty(np.shape(z))  # (filled in place: np.stack's Python layers cost ~10 us)
    enu[..., 0] = horizontal * np.sin(az)
    enu[..., 1] = horizontal * np.cos(az)
    enu[..., 2] = rng * np.sin(el)
    return origin_ecef_m + np.einsum("...ji,...j->...i", rotation, enu)


def aer_point_covariance(z: Array, sigma: Array, rotation: Array) -> Array:
    """ECEF covariance (m^2), (..., 3, 3), of the point a radar measurement z locates.

    First order: J diag(sigma^2) J^T with J = d(ECEF)/d(range, az, el) = R^T d(ENU)/d(aer).
    ``sigma`` is (range_m, azimuth_rad, elevation_rad) 1-sigma, shape (..., 3); ``rotation``
    the radar's ECEF->ENU matrix (3, 3).
    """
    z = np.asarray(z, float)
    rows = z.reshape(-1, 3)
    sig = np.broadcast_to(sigma, z.shape).reshape(-1, 3)
    cov = point_covariance(kernel_array(rows), kernel_array(sig), kernel_array(rotation))
    return cov.reshape(z.shape + (3,))  # (one compiled loop: kernels.point_covariance)


@dataclass(frozen=True)
class RadarModel:
    """Radar measurement model: one site for all rows, or a site per row.

    ``origin_ecef_m`` (3,) or (K, 3) and ``rotation`` (3, 3) or (K, 3, 3) broadcast against the
    K states given to :meth:`predict` / :meth:`jacobian`; :meth:`predict_points` takes sigma
    points (K, L, n); :meth:`take` selects rows of a per-row model.
    """

    origin_ecef_m: Array
    rotation: Array
    dim: int = 3

    def predict(self, x: Array) -> Array:
        return radar_measure(x[..., :3], self.origin_ecef_m, self.rotation)

    def predict_points(self, points: Array) -> Array:
        """h for sigma points of shape (K, L, n)."""
        if self.origin_ecef_m.ndim == 1:
            return radar_measure(points[..., :3], self.origin_ecef_m, self.rotation)
        return radar_measure(
            points[..., :3], self.origin_ecef_m[:, None, :], self.rotation[:, None, :, :]
        )

    def take(self, rows: NDArray[np.intp]) -> RadarModel:
        if self.origin_ecef_m.ndim == 1:
            return self
        return RadarModel(self.origin_ecef_m[rows], self.rotation[rows])

    def jacobian(self, x: Array) -> Array:
        out = np.zeros(x.shape[:-1] + (3, x.shape[-1]))
        out[..., :, :3] = radar_jacobian(x[..., :3], self.origin_ecef_m, self.rotation)
        return out

    def linearise(self, x: Array, z: Array) -> tuple[Array, Array]:
        """(jacobian(x), residual(z, predict(x))) of states (K, n) and plots (K, 3); for one
        site in one compiled loop (kernels.radar_innovation)."""
        if self.origin_ecef_m.ndim == 1 and x.ndim == 2:
            return radar_innovation(
                kernel_array(x), self.origin_ecef_m, self.rotation, kernel_array(z)
            )
        return self.jacobian(x), self.residual(z, self.predict(x))

    @staticmethod
    def residual(z: Array, zhat: Array) -> Array:
        out = z - zhat
        out[..., 1] = wrap_pi(out[..., 1])
        return out

    @staticmethod
    def mean(points: Array, weights: Array) -> Array:
        """Weighted mean of measurement sigma points (K, L, 3) with azimuth on the circle."""
        ref = points[:, :1, :]
        offsets = RadarModel.residual(points, np.broadcast_to(ref, points.shape).copy())
        mean = ref[:, 0, :] + np.einsum("l,kli->ki", weights, offsets)
        mean[..., 1] %= TWO_PI
        return mean


@dataclass(frozen=True)
class PositionModel:
    """A partner's ECEF position (and optionally velocity) estimate: z = x[:3] or x[:6]."""

    dim: int = 3

    def predict(self, x: Array) -> Array:
        return x[..., : self.dim].copy()

    def predict_points(self, points: Array) -> Array:
        return points[..., : self.dim].copy()

    def take(self, rows: NDArray[np.intp]) -> PositionModel:
        return self

    def jacobian(self, x: Array) -> Array:
        out = np.zeros(x.shape[:-1] + (self.dim, x.shape[-1]))
        idx = np.arange(self.dim)
        out[..., idx, idx] = 1.0
        return out

    def linearise(self, x: Array, z: Array) -> tuple[Array, Array]:
        """(jacobian(x), residual(z, predict(x)))."""
        return self.jacobian(x), self.residual(z, self.predict(x))

    @staticmethod
    def residual(z: Array, zhat: Array) -> Array:
        return z - zhat

    @staticmethod
    def mean(points: Array, weights: Array) -> Array:
        return np.einsum("l,kli->ki", weights, points)


__all__ = [
    "PositionModel",
    "RadarModel",
    "SensorFrames",
    "SensorSite",
    "aer_point_covariance",
    "aer_to_point",
    "radar_jacobian",
    "radar_measure",
    "wrap_pi",
]
