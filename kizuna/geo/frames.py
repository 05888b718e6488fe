"""WGS84 frames: geodetic (LLA), ECEF, local ENU and azimuth/elevation/range (AER).

Vectors are ``(..., 3)`` arrays (last axis = components); every function broadcasts over the
leading axes. Geodetic conversions delegate to pymap3d, the library the contract names; the
ECEF<->ENU rotation is written out here as a matrix because the tracker needs it (and its
Jacobian) for thousands of objects at once, and :func:`ecef_to_aer` is tested to agree with
``pymap3d.ecef2aer`` to floating-point precision.
"""

from __future__ import annotations

import numpy as np
import pymap3d
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


def lla_to_ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike) -> Array:
    """Geodetic latitude/longitude (degrees) and height above the ellipsoid (m) -> ECEF (m)."""
    x, y, z = pymap3d.geodetic2ecef(
        np.asarray(lat_deg, float), np.asarray(lon_deg, float), np.asarray(alt_m, float)
    )
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_lla(r_ecef_m: ArrayLike) -> tuple[Array, Array, Array]:
    """ECEF (m), shape (..., 3) -> (lat_deg, lon_deg, alt_m), each of shape (...)."""
    r = np.asarray(r_ecef_m, float)
    lat, lon, alt = pymap3d.ecef2geodetic(r[..., 0], r[..., 1], r[..., 2])
    return np.asarray(lat, float), np.asarray(lon, float), np.asarray(alt, float)


def enu_rotation(lat_deg: ArrayLike, lon_deg: ArrayLike) -> Array:
    """Rotation matrix ECEF -> local ENU at a geodetic point, shape (..., 3, 3).

    Rows are the east, north and up unit vectors in ECEF, so ``v_enu = R @ v_ecef`` and
    ``v_ecef = R.T @ v_enu``. "Up" is the ellipsoid normal (geodetic), as in pymap3d.
    """
    lat = np.radians(np.asarray(lat_deg, float))
    lon = np.radians(np.asarray(lon_deg, float))
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    zero = np.zeros_like(sl * so)
    east = np.stack(np.broadcast_arrays(-so, co, zero), axis=-1)
    north = np.stack(np.broadcast_arrays(-sl * co, -sl * so, cl), axis=-1)
    up = np.stack(np.broadcast_arrays(cl * co, cl * so, sl), axis=-1)
    return np.stack([east, north, up], axis=-2)


def ecef_to_enu(
    r_ecef_m: ArrayLike, lat0_deg: ArrayLike, lon0_deg: ArrayLike, alt0_m: ArrayLike
) -> Array:
    """Position relative to an observer, in the observer's ENU frame (m), shape (..., 3)."""
    origin = lla_to_ecef(lat0_deg, lon0_deg, alt0_m)
    rot = enu_rotation(lat0_deg, lon0_deg)
    return np.einsum("...ij,...j->...i", rot, np.asarray(r_ecef_m, float) - origin)


def enu_to_ecef(
    r_enu_m: ArrayLike, lat0_deg: ArrayLike, lon0_deg: ArrayLike, alt0_m: ArrayLike
) -> Array:
    """Inverse of :func:`ecef_to_enu`."""
    origin = lla_to_ecef(lat0_deg, lon0_deg, alt0_m)
    rot = enu_rotation(lat0_deg, lon0_deg)
    return origin + np.einsum("...ji,...j->...i", rot, np.asarray(r_enu_m, float))


def enu_to_aer(r_enu_m: ArrayLike) -> tuple[Array, Array, Array]:
    """ENU (m) -> (azimuth_deg in [0, 360) clockwise from north, elevation_deg, range_m)."""
    r = np.asarray(r_enu_m, float)
    e, n, u = r[..., 0], r[..., 1], r[..., 2]
    horizontal = np.hypot(e, n)
    azimuth = np.degrees(np.arctan2(e, n)) % 360.0
    elevation = np.degrees(np.arctan2(u, horizontal))
    return azimuth, elevation, np.hypot(horizontal, u)


def aer_to_enu(azimuth_deg: ArrayLike, elevation_deg: ArrayLike, range_m: ArrayLike) -> Array:
    """(azimuth_deg, elevation_deg, range_m) -> ENU (m), shape (..., 3)."""
    az = np.radians(np.asarray(azimuth_deg, float))
    el = np.radians(np.asarray(elevation_deg, float))
    rng = np.asarray(range_m, float)
    horizontal = rng * np.cos(el)
    return np.stack(
        np.broadcast_arrays(horizontal * np.sin(az), horizontal * np.cos(az), rng * np.sin(el)),
        axis=-1,
    )


def ecef_to_aer(
    r_ecef_m: ArrayLike, lat0_deg: ArrayLike, lon0_deg: ArrayLike, alt0_m: ArrayLike
) -> tuple[Array, Array, Array]:
    """Target ECEF (m) seen from a geodetic observer -> (azimuth_deg, elevation_deg, range_m).

    Identical in definition to ``pymap3d.ecef2aer(x, y, z, lat0, lon0, h0, deg=True)``: no
    refraction, elevation above the ellipsoid tangent plane.
    """
    return enu_to_aer(ecef_to_enu(r_ecef_m, lat0_deg, lon0_deg, alt0_m))


def aer_to_ecef(
    azimuth_deg: ArrayLike,
    elevation_deg: ArrayLike,
    range_m: ArrayLike,
    lat0_deg: ArrayLike,
    lon0_deg: ArrayLike,
    alt0_m: ArrayLike,
) -> Array:
    """Inverse of :func:`ecef_to_aer`: a measured (az, el, range) to an ECEF point (m)."""
    return enu_to_ecef(aer_to_enu(azimuth_deg, elevation_deg, range_m), lat0_deg, lon0_deg, alt0_m)


def geodetic_altitude_m(r_ecef_m: ArrayLike) -> Array:
    """Height above the WGS84 ellipsoid (m) of ECEF points, shape (...)."""
    return ecef_to_lla(r_ecef_m)[2]
