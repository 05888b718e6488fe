"""Radar model: coverage, detection, noise, clutter and outages, vectorised over samples.

A radar at a geodetic site revisits every tracked object once per ``revisit_s`` (a phased
array's track rate), at scan times on its own phase. At each scan an object is *detectable*
when all of these hold (:func:`coverage_mask`):

* range between ``min_range_km`` and ``max_range_km``;
* elevation between ``min_elevation_deg`` and ``max_elevation_deg``;
* azimuth inside the field of regard, ``boresight_deg +- field_of_regard_deg / 2``;
* the line of sight clears the Earth (:func:`line_of_sight_clear`: the straight segment from
  the site to the target does not enter the WGS84 ellipsoid; no refraction, as the contract's
  AER has none), which matters for sites above the ellipsoid with a negative mask;
* the radar is not in an outage window.

A detectable object is reported with probability ``p_detect``. The report's measurement is the
contract's AER (``pymap3d.ecef2aer`` of the true position, through
:func:`kizuna.geo.ecef_to_aer`) plus independent Gaussian noise of the stated 1-sigmas, the
azimuth wrapped to [0, 360). False alarms (clutter) are a Poisson number per scan placed
uniformly in the surveillance volume (density proportional to r^2 in range, uniform in
azimuth over the field of regard and in sin(elevation)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.geo.constants import WGS84_A_M, WGS84_B_M
from kizuna.geo.frames import ecef_to_aer, lla_to_ecef
from kizuna.sensors.scenario import RadarSpec, Window

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]


def line_of_sight_clear(site_ecef_m: ArrayLike, target_ecef_m: ArrayLike) -> Mask:
    """True where the segment site -> target stays outside the WGS84 ellipsoid, shape (...).

    Scaling z by a/b turns the ellipsoid into a sphere of radius a (an affine map keeps
    segments straight), where the closest point of the segment to the centre is found in
    closed form: ``s* = clip(-p.d / d.d, 0, 1)``, clear if ``|p + s* d| >= a``.
    """
    scale = np.array([1.0, 1.0, WGS84_A_M / WGS84_B_M])
    p = np.asarray(site_ecef_m, float) * scale
    q = np.asarray(target_ecef_m, float) * scale
    d = q - p
    dd = np.einsum("...i,...i->...", d, d)
    s = np.clip(-np.einsum("...i,...i->...", p, d) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    closest = p + s[..., None] * d
    # A metre of tolerance: a site exactly on the ellipsoid touches it at s = 0.
    return np.linalg.norm(closest, axis=-1) >= WGS84_A_M - 1.0


def azimuth_offset_deg(azimuth_deg: ArrayLike, boresight_deg: float) -> Array:
    """Signed azimuth difference from the boresight, in (-180, 180] degrees."""
    return (np.asarray(azimuth_deg, float) - boresight_deg + 180.0) % 360.0 - 180.0


def in_windows(time_s: ArrayLike, windows: list[Window], start_s: float) -> Mask:
    """True where a time (POSIX s) falls inside any window (seconds from ``start_s``)."""
    t = np.asarray(time_s, float) - start_s
    out = np.zeros(t.shape, bool)
    for window in windows:
        out |= (t >= window.start_s) & (t < window.end_s)
    return out


@dataclass(frozen=True)
class Radar:
    """A radar of a scenario with its site in ECEF (m)."""

    spec: RadarSpec
    site_ecef_m: Array

    @classmethod
    def from_spec(cls, spec: RadarSpec) -> Radar:
        return cls(spec, lla_to_ecef(spec.lat, spec.lon, spec.alt_m))

    def aer(self, target_ecef_m: ArrayLike) -> tuple[Array, Array, Array]:
        """Noise-free (azimuth_deg, elevation_deg, range_m): exactly the contract's AER."""
        return ecef_to_aer(target_ecef_m, self.spec.lat, self.spec.lon, self.spec.alt_m)

    def coverage_mask(
        self, target_ecef_m: ArrayLike, azimuth_deg: Array, elevation_deg: Array,
        range_m: Array,
    ) -> Mask:
        """Where targets are inside this radar's coverage (geometry only), shape (...)."""
        s = self.spec
        inside = (range_m <= s.max_range_km * 1e3) & (range_m >= s.min_range_km * 1e3)
        inside &= (elevation_deg >= s.min_elevation_deg) & (elevation_deg <= s.max_elevation_deg)
        if s.field_of_regard_deg < 360.0:
            offset = azimuth_offset_deg(azimuth_deg, s.boresight_deg)
            inside &= np.abs(offset) <= 0.5 * s.field_of_regard_deg
        if inside.any():
            inside &= line_of_sight_clear(self.site_ecef_m, target_ecef_m)
        return inside

    def scan_times(self, begin_s: float, end_s: float, phase_s: float) -> Array:
        """Scan times in [begin_s, end_s], on this radar's phase, rounded to milliseconds."""
        revisit = self.spec.revisit_s
        first = np.ceil((begin_s - phase_s) / revisit - 1e-9)
        last = np.floor((end_s - phase_s) / revisit + 1e-9)
        k = np.arange(first, last + 1)
        return np.round((phase_s + k * revisit) * 1000.0) / 1000.0

    def measure(
        self, azimuth_deg: Array, elevation_deg: Array, range_m: Array, rng: np.random.Generator
    ) -> tuple[Array, Array, Array]:
        """Add Gaussian noise (the spec's 1-sigmas) to noise-free AER; wrap and clip."""
        sigma = self.spec.sigma
        noise = rng.standard_normal((3, *np.shape(range_m)))
        az = (azimuth_deg + sigma.azimuth_deg * noise[0]) % 360.0
        az = np.where(az >= 360.0, 0.0, az)  # -tiny % 360 rounds up to 360.0
        el = np.clip(elevation_deg + sigma.elevation_deg * noise[1], -90.0, 90.0)
        rg = np.maximum(range_m + sigma.range_m * noise[2], 1.0)
        return az, el, rg

    def clutter(
        self, scan_times_s: Array, rng: np.random.Generator
    ) -> tuple[Array, Array, Array, Array]:
        """False alarms: (time_s, azimuth_deg, elevation_deg, range_m), uniform in volume."""
        s = self.spec
        rate = s.false_alarms_per_scan
        empty = np.zeros(0)
        if rate <= 0.0 or scan_times_s.size == 0:
            return empty, empty, empty, empty
        counts = rng.poisson(rate, scan_times_s.size)
        n = int(counts.sum())
        times = np.repeat(scan_times_s, counts)
        r0, r1 = s.min_range_km * 1e3, s.max_range_km * 1e3
        # Inverse CDF of a density proportional to r^2 on [r0, r1].
        u = rng.random(n)
        rng_m = np.cbrt(r0**3 + u * (r1**3 - r0**3))
        half = 0.5 * min(s.field_of_regard_deg, 360.0)
        az = (s.boresight_deg + rng.uniform(-half, half, n)) % 360.0
        sin_lo = np.sin(np.radians(max(s.min_elevation_deg, 0.0)))
        sin_hi = np.sin(np.radians(s.max_elevation_deg))
        el = np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, n)))
        return times, az, el, rng_m


__all__ = ["Radar", "azimuth_offset_deg", "in_windows", "line_of_sight_clear"]
