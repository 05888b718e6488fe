"""WGS84 geodesy: frames (LLA, ECEF, ENU, AER), geodesics and (later) regions."""

from kizuna.geo.frames import (
    aer_to_ecef,
    aer_to_enu,
    ecef_to_aer,
    ecef_to_enu,
    ecef_to_lla,
    enu_rotation,
    enu_to_aer,
    enu_to_ecef,
    geodetic_altitude_m,
    lla_to_ecef,
)
from kizuna.geo.geodesic import direct, distance_m, inverse

__all__ = [
    "aer_to_ecef",
    "aer_to_enu",
    "direct",
    "distance_m",
    "ecef_to_aer",
    "ecef_to_enu",
    "ecef_to_lla",
    "enu_rotation",
    "enu_to_aer",
    "enu_to_ecef",
    "geodetic_altitude_m",
    "inverse",
    "lla_to_ecef",
]
