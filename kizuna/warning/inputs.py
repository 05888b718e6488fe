"""Inputs of the warning layer besides the contract's :class:`~kizuna.contract.PredictionProduct`.

The prediction layer produces, with each prediction, the object's predicted *remaining* ground
track: where it will be over the ground, when, and how high. The warning layer needs it for
overflight warnings (a prediction only carries the impact point).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.errors import InputError


class GroundTrackLike(Protocol):
    """Anything carrying a ground track's four 1-D arrays (same names and units)."""

    time_s: ArrayLike
    lat_deg: ArrayLike
    lon_deg: ArrayLike
    alt_m: ArrayLike


@dataclass(frozen=True, eq=False)
class GroundTrack:
    """Predicted remaining ground track of one object, from now until impact (or loss).

    Attributes (all 1-D float arrays of the same length ``n >= 1``):
        time_s: POSIX seconds (UTC), strictly increasing.
        lat_deg, lon_deg: WGS84 geodetic sub-object point, degrees (lon in [-180, 360)).
        alt_m: height of the object above the WGS84 ellipsoid at that time, metres.

    Points before the current time are ignored by the engine, so a producer may pass the whole
    predicted flight. Build one with :meth:`from_arrays` (which copies, validates and makes the
    arrays read-only); an invalid input raises :class:`~kizuna.errors.InputError`.
    """

    time_s: NDArray[np.float64]
    lat_deg: NDArray[np.float64]
    lon_deg: NDArray[np.float64]
    alt_m: NDArray[np.float64]

    def __post_init__(self) -> None:
        arrays = {}
        for name in ("time_s", "lat_deg", "lon_deg", "alt_m"):
            value = np.array(getattr(self, name), dtype=float)  # a private copy
            if value.ndim != 1:
                raise InputError("must be a 1-D array", field=f"ground_track.{name}")
            if not np.all(np.isfinite(value)):
                raise InputError("must be finite", field=f"ground_track.{name}")
            value.setflags(write=False)
            arrays[name] = value
        n = arrays["time_s"].size
        if n == 0 or any(a.size != n for a in arrays.values()):
            raise InputError("arrays must be non-empty and of equal length", field="ground_track")
        if np.any(np.diff(arrays["time_s"]) <= 0.0):
            raise InputError("must be strictly increasing", field="ground_track.time_s")
        if np.any(np.abs(arrays["lat_deg"]) > 90.0):
            raise InputError("latitude beyond +-90 degrees", field="ground_track.lat_deg")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_arrays(
        cls, time_s: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike
    ) -> GroundTrack:
        return cls(
            np.asarray(time_s, float),
            np.asarray(lat_deg, float),
            np.asarray(lon_deg, float),
            np.asarray(alt_m, float),
        )

    @classmethod
    def coerce(cls, track: GroundTrackLike) -> GroundTrack:
        """A :class:`GroundTrack` from anything with the four array attributes.

        Accepts e.g. :class:`kizuna.prediction.impact.GroundTrack`. Samples whose time does not
        increase (an integrator's last step clipped to the impact time can repeat a time) are
        dropped rather than rejected, keeping the first of equal times.
        """
        if isinstance(track, GroundTrack):
            return track
        t = np.asarray(track.time_s, float).ravel()
        keep = np.ones(t.shape, dtype=bool)
        if t.size > 1:
            keep[1:] = t[1:] > np.maximum.accumulate(t)[:-1]
        return cls(
            t[keep],
            np.asarray(track.lat_deg, float).ravel()[keep],
            np.asarray(track.lon_deg, float).ravel()[keep],
            np.asarray(track.alt_m, float).ravel()[keep],
        )

    def __len__(self) -> int:
        return int(self.time_s.size)

    def after(self, now_s: float) -> GroundTrack | None:
        """The part of the track from ``now_s`` on (the point at ``now_s`` interpolated)."""
        t = self.time_s
        if t[-1] < now_s:
            return None
        if t[0] >= now_s:
            return self
        keep = t > now_s
        first = [np.interp(now_s, t, a) for a in (t, self.lat_deg, self.lon_deg, self.alt_m)]
        # Longitude interpolation must not run across the antimeridian the long way round.
        lon = np.unwrap(self.lon_deg, period=360.0)
        first[2] = np.interp(now_s, t, lon)
        return GroundTrack(
            np.concatenate([[first[0]], t[keep]]),
            np.concatenate([[first[1]], self.lat_deg[keep]]),
            np.concatenate([[first[2]], lon[keep]]),
            np.concatenate([[first[3]], self.alt_m[keep]]),
        )

    def densified(self, max_step_m: float = 2000.0) -> GroundTrack:
        """The track resampled (linearly in time) so ground points are at most ~max_step_m apart.

        Needed so a region crossed between two coarse prediction samples is still seen.
        The spacing is estimated with a spherical chord (accurate enough for a sampling step).
        """
        if len(self) < 2:
            return self
        lat = np.radians(self.lat_deg)
        lon = np.radians(np.unwrap(self.lon_deg, period=360.0))
        xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)
        step_m = 6_371_000.0 * np.linalg.norm(np.diff(xyz, axis=0), axis=-1)
        pieces = np.maximum(1, np.ceil(step_m / max_step_m).astype(int))
        fractions = [np.arange(k) / k for k in pieces]
        idx = np.concatenate([np.full(k, i) for i, k in enumerate(pieces)])
        frac = np.concatenate(fractions)
        t = self.time_s
        t_new = np.append(t[idx] + frac * (t[idx + 1] - t[idx]), t[-1])
        lon_deg = np.degrees(lon)
        return GroundTrack(
            t_new,
            np.interp(t_new, t, self.lat_deg),
            np.interp(t_new, t, lon_deg),
            np.interp(t_new, t, self.alt_m),
        )
