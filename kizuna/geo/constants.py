"""WGS84 defining and derived constants (NGA.STND.0036 / TR8350.2, 2014)."""

WGS84_A_M = 6378137.0  # semi-major axis, metres (defining)
WGS84_INV_F = 298.257223563  # inverse flattening (defining)
WGS84_F = 1.0 / WGS84_INV_F
WGS84_B_M = WGS84_A_M * (1.0 - WGS84_F)  # semi-minor axis, metres
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
WGS84_EP2 = WGS84_E2 / (1.0 - WGS84_E2)  # second eccentricity squared
WGS84_GM_M3_S2 = 3.986004418e14  # Earth's gravitational parameter incl. atmosphere (defining)
WGS84_OMEGA_RAD_S = 7.292115e-5  # Earth's nominal mean angular velocity (defining)
WGS84_J2 = 1.08262982131e-3  # dynamic form factor, from C20 = -4.84166774985e-4 (EGM2008)
NAUTICAL_MILE_M = 1852.0  # international nautical mile (exact)
