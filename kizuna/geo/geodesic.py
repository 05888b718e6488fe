"""Geodesics on the WGS84 ellipsoid (Karney's algorithm, through pyproj.Geod)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")


def inverse(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distance (m) and initial azimuth (degrees clockwise from north, [0, 360)) from 1 to 2."""
    lat1, lon1, lat2, lon2 = np.broadcast_arrays(
        *(np.asarray(a, float) for a in (lat1_deg, lon1_deg, lat2_deg, lon2_deg))
    )
    az12, _az21, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist, float), np.asarray(az12, float) % 360.0


def distance_m(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> NDArray[np.float64]:
    """Geodesic distance (m) between two points on the ellipsoid."""
    return inverse(lat1_deg, lon1_deg, lat2_deg, lon2_deg)[0]


def direct(
    lat_deg: ArrayLike, lon_deg: ArrayLike, azimuth_deg: ArrayLike, distance_m: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The point reached going ``distance_m`` along the geodesic leaving at ``azimuth_deg``."""
    lat, lon, az, dist = np.broadcast_arrays(
        *(np.asarray(a, float) for a in (lat_deg, lon_deg, azimuth_deg, distance_m))
    )
    lon2, lat2, _ = _GEOD.fwd(lon, lat, az, dist)
    return np.asarray(lat2, float), np.asarray(lon2, float)
