"""National track feeds: a partner's own tracker output (``kind: position`` reports).

Each partner runs its own command-and-control picture from its own radars and shares its
track points, numbered by its own track numbers (``track_ref``). The model: the feed covers an
object while any of its source radars (default: every radar of its nation) has the object in
geometric coverage and is not in an outage; a track is initiated ``delay_s`` after the object
first enters that coverage and then reports every ``interval_s`` while covered. Each point is
the true position plus independent Gaussian errors of ``sigma_m`` on each ECEF axis, and the
true velocity in the local east-north-up frame plus ``velocity_sigma_mps`` per axis (when set).
Track numbers are ``<track_prefix>-<n>`` from 1001, in order of track initiation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kizuna.geo.frames import ecef_to_lla, enu_rotation
from kizuna.sensors.observation import Observation
from kizuna.sensors.radar import Radar, in_windows
from kizuna.sensors.scenario import NationalFeedSpec
from kizuna.sensors.truth import TruthObject

FIRST_TRACK_NUMBER = 1001


def feed_reports(
    spec: NationalFeedSpec,
    sources: Sequence[Radar],
    objects: Sequence[TruthObject],
    scenario_start_s: float,
    end_s: float,
    rng: np.random.Generator,
) -> list[Observation]:
    """Position reports of one national feed over ``[scenario_start_s, end_s]``."""
    phase = round(float(rng.uniform(0.0, spec.interval_s)) * 1000.0) / 1000.0
    first = np.ceil((0.0 - phase) / spec.interval_s)
    k = np.arange(first, np.floor((end_s - scenario_start_s - phase) / spec.interval_s) + 1)
    grid = np.round((scenario_start_s + phase + k * spec.interval_s) * 1000.0) / 1000.0

    tracks = []
    for obj in objects:
        times = grid[(grid >= obj.start_s) & (grid <= obj.end_s)]
        noise_r = rng.standard_normal((times.size, 3)) * spec.sigma_m
        noise_v = rng.standard_normal((times.size, 3)) * (spec.velocity_sigma_mps or 0.0)
        if times.size == 0 or not sources:
            continue
        states = obj.trajectory.state_at(times)
        covered = np.zeros(times.size, bool)
        for radar in sources:
            az, el, rg = radar.aer(states[:, :3])
            mask = radar.coverage_mask(states[:, :3], az, el, rg)
            covered |= mask & ~in_windows(times, radar.spec.outages, scenario_start_s)
        if not covered.any():
            continue
        initiated = times >= times[np.argmax(covered)] + spec.delay_s
        emit = covered & initiated & ~in_windows(times, spec.outages, scenario_start_s)
        if emit.any():
            tracks.append((float(times[emit][0]), obj.object_id, times[emit], states[emit],
                           noise_r[emit], noise_v[emit]))

    out = []
    for number, (_, object_id, times, states, noise_r, noise_v) in enumerate(sorted(tracks)):
        track_ref = f"{spec.track_prefix}-{FIRST_TRACK_NUMBER + number}"
        lat_true, lon_true, _ = ecef_to_lla(states[:, :3])
        v_enu = np.einsum("nij,nj->ni", enu_rotation(lat_true, lon_true), states[:, 3:])
        v_enu = v_enu + noise_v
        lat, lon, alt = ecef_to_lla(states[:, :3] + noise_r)
        for i, t in enumerate(times):
            fields = {
                "lat": round(float(lat[i]), 7) + 0.0,
                "lon": round(float(lon[i]), 7) + 0.0,
                "alt_m": round(float(alt[i]), 3) + 0.0,
                "sigma_m": spec.sigma_m,
            }
            if spec.velocity_sigma_mps is not None:
                fields["velocity_enu_mps"] = [round(float(c), 3) + 0.0 for c in v_enu[i]]
                fields["velocity_sigma_mps"] = spec.velocity_sigma_mps
            fields["track_ref"] = track_ref
            out.append(Observation(float(t), float(t), spec.id, "position", fields, object_id))
    return out


__all__ = ["FIRST_TRACK_NUMBER", "feed_reports"]
