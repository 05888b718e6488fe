"""Physical constants used by the flight model, each with unit and source."""

from kizuna.geo.constants import (  # re-exported: the Earth model is WGS84 throughout
    WGS84_A_M,
    WGS84_GM_M3_S2,
    WGS84_J2,
    WGS84_OMEGA_RAD_S,
)

STANDARD_GRAVITY_MPS2 = 9.80665  # g0, CGPM 1901 (exact)
EARTH_ROTATION_ECEF = (0.0, 0.0, WGS84_OMEGA_RAD_S)  # rad/s, about ECEF +z

__all__ = [
    "EARTH_ROTATION_ECEF",
    "STANDARD_GRAVITY_MPS2",
    "WGS84_A_M",
    "WGS84_GM_M3_S2",
    "WGS84_J2",
    "WGS84_OMEGA_RAD_S",
]
