"""The scenario simulator: true flights in, contract reports (and the truth) out.

:func:`simulate` designs every launch (cached, see :mod:`kizuna.sensors.truth`), then runs each
sensor over the scenario: radars (:mod:`kizuna.sensors.radar`), space-based infrared
(:mod:`kizuna.sensors.infrared`) and national track feeds (:mod:`kizuna.sensors.national`).
Randomness comes from one generator per sensor, seeded from the scenario seed and the sensor
id, so a run is reproducible byte for byte and adding a sensor leaves the others unchanged.

Reports file (``kizuna simulate --out``)
----------------------------------------
One contract report per line (DESIGN.md section 4; JSON schema in
``kizuna/sensors/report.schema.json``), sorted by ``time`` then sensor id then sequence; ids
are ``<sensor-id>:<seq>`` with a per-sensor, 6-digit sequence in time order; markings are the
scenario's per-nation defaults (or the sensor's own); ``exercise`` is the scenario's flag. A
``launch`` report's ``time`` is the launch time, although the sensor delivers it ``delay_s``
later (:attr:`Observation.available_s` in the Python API, for real-time replays).

Truth file (``kizuna simulate --truth``)
----------------------------------------
One JSON object per line, sorted by ``time`` then ``object_id``: every true object sampled at
every whole second (UTC) of its life, plus its exact first and last instants::

    {"object_id": "L1-M1", "launch_id": "L1", "kind": "missile", "time": "...Z",
     "lat": 40.1, "lon": 131.2, "alt_m": 412345.678,
     "r_ecef_m": [x, y, z], "v_ecef_mps": [vx, vy, vz], "powered": false}

* ``object_id``: ``<launch-id>-M<n>`` for the n-th missile of a launch (salvo), ``-V<n>`` for
  a space launcher (which becomes the satellite), and ``<object-id>-S<k>`` for its k-th spent
  stage; ``launch_id`` the scenario's launch id; ``kind`` ``missile``, ``stage`` or
  ``satellite``.
* Positions: WGS84 geodetic ``lat``/``lon`` (degrees), ``alt_m`` above the ellipsoid, and the
  same point as ECEF ``r_ecef_m`` (m); ``v_ecef_mps`` is the ECEF velocity (m/s, relative to
  the rotating Earth). ``powered`` is true while an engine burns.
* ``time`` is RFC 3339 UTC to the millisecond; samples at whole seconds, plus the events and
  the instants an engine lights or cuts off (between samples the flight is smooth, so cubic
  Hermite interpolation on position and velocity is exact to well under a millimetre).
* Optional ``event``: ``"launch"`` on a launched object's first line (lift-off),
  ``"separation"`` on a stage's first line, and ``"impact"`` on the last line of every object
  that meets the ellipsoid (the exact impact point and time, altitude 0). Satellites have no
  impact; their lines stop at the end of the followed interval.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kizuna.errors import KizunaError
from kizuna.geo.frames import ecef_to_lla
from kizuna.sensors.infrared import detect_launches
from kizuna.sensors.national import feed_reports
from kizuna.sensors.observation import Observation, sensor_ref
from kizuna.sensors.radar import Radar, in_windows
from kizuna.sensors.scenario import Launch, Scenario
from kizuna.sensors.truth import Designed, TruthObject, design_key, design_launch, objects_of
from kizuna.timefmt import format_time

Progress = Callable[[str, int, int], None]
END_MARGIN_S = 10.0  # reports continue this long after the last object ends


@dataclass(frozen=True)
class LaunchOutcome:
    """What one launched object did, for summaries (the demo table)."""

    launch: Launch
    info: dict[str, Any]
    objects: list[TruthObject]


@dataclass
class Simulation:
    """The result of a run: truth objects and the sorted reports."""

    scenario: Scenario
    start_s: float
    end_s: float
    outcomes: list[LaunchOutcome]
    objects: list[TruthObject]
    observations: list[Observation] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)


def sensor_rng(seed: int, sensor_id: str) -> np.random.Generator:
    """The generator of one sensor: depends only on the scenario seed and the sensor id."""
    return np.random.default_rng([seed, zlib.crc32(sensor_id.encode("utf-8"))])


def radar_observations(
    radar: Radar, objects: list[TruthObject], start_s: float, end_s: float,
    rng: np.random.Generator,
) -> list[Observation]:
    """One radar's observations of ``objects`` (and its clutter) over [start_s, end_s]."""
    spec = radar.spec
    phase = round(float(rng.uniform(0.0, spec.revisit_s)) * 1000.0) / 1000.0
    scans = radar.scan_times(start_s, end_s, start_s + phase)
    scans = scans[~in_windows(scans, spec.outages, start_s)]
    out: list[Observation] = []
    for obj in objects:
        times = scans[(scans >= obj.start_s) & (scans <= obj.end_s)]
        # Draw for every scan of the object's life, seen or not, so that coverage changes
        # elsewhere never shift this object's random numbers.
        detect_draw = rng.random(times.size)
        if times.size == 0:
            continue
        positions = obj.trajectory.state_at(times)[:, :3]
        az, el, rg = radar.aer(positions)
        noisy_az, noisy_el, noisy_rg = radar.measure(az, el, rg, rng)
        seen = radar.coverage_mask(positions, az, el, rg) & (detect_draw < spec.p_detect)
        for i in np.flatnonzero(seen):
            out.append(_radar_observation(spec.id, float(times[i]), noisy_rg[i], noisy_az[i],
                                          noisy_el[i], radar, obj.object_id))
    times, az, el, rg = radar.clutter(scans, rng)
    for i in range(times.size):
        out.append(_radar_observation(spec.id, float(times[i]), rg[i], az[i], el[i], radar, None))
    return out


def _radar_observation(
    sensor_id: str, t: float, rg: float, az: float, el: float, radar: Radar,
    object_id: str | None,
) -> Observation:
    sigma = radar.spec.sigma
    azimuth = _r(az, 7)
    fields = {
        "range_m": _r(rg, 3),
        "azimuth_deg": azimuth if azimuth < 360.0 else 0.0,
        "elevation_deg": _r(el, 7),
        "sigma": {"range_m": sigma.range_m, "azimuth_deg": sigma.azimuth_deg,
                  "elevation_deg": sigma.elevation_deg},
    }
    return Observation(t, t, sensor_id, "radar", fields, object_id)


def _marking_json(scenario: Scenario, nation: str, override: Any) -> dict[str, Any]:
    marking = scenario.marking_for(nation, override)
    return {"classification": marking.classification,
            "releasable_to": sorted(marking.releasable_to)}


def design_all(
    scenario: Scenario, progress: Progress | None = None, use_cache: bool = True
) -> tuple[list[LaunchOutcome], list[TruthObject]]:
    """Design every launch once (salvo members share a design) and build the truth objects."""
    designs: dict[str, Designed] = {}
    keys = []
    for launch in scenario.launches:
        key = design_key(launch)
        keys.append(key)
        if key not in designs:
            designs[key] = None  # type: ignore[assignment]
    total = len(designs)
    done = 0
    outcomes = []
    objects: list[TruthObject] = []
    for launch, key in zip(scenario.launches, keys, strict=True):
        if designs[key] is None:
            if progress:
                progress(f"designing {launch.launch_id}", done, total)
            try:
                designs[key] = design_launch(launch, use_cache=use_cache)
            except KizunaError as exc:
                raise type(exc)(f"{scenario.path}: launch {launch.launch_id}: {exc}") from None
            done += 1
        launched = objects_of(launch, designs[key])
        outcomes.append(LaunchOutcome(launch, dict(designs[key].info), launched))
        objects.extend(launched)
    if progress:
        progress("designed", total, total)
    return outcomes, objects


def simulate(
    scenario: Scenario, progress: Progress | None = None, use_cache: bool = True
) -> Simulation:
    """Run a scenario: design its flights and produce every sensor's reports, sorted."""
    outcomes, objects = design_all(scenario, progress, use_cache)
    start_s = scenario.start_s
    if scenario.duration_s is not None:
        end_s = start_s + scenario.duration_s
    else:
        end_s = max(obj.end_s for obj in objects) + END_MARGIN_S

    radars = [Radar.from_spec(spec) for spec in scenario.radars]
    sensors_total = len(radars) + len(scenario.infrared) + len(scenario.national)
    observations: list[Observation] = []
    done = 0
    for radar in radars:
        if progress:
            progress(f"radar {radar.spec.id}", done, sensors_total)
        observations += radar_observations(radar, objects, start_s, end_s,
                                            sensor_rng(scenario.seed, radar.spec.id))
        done += 1
    for spec in scenario.infrared:
        observations += detect_launches(spec, objects, start_s,
                                        sensor_rng(scenario.seed, spec.id))
        done += 1
    by_id = {radar.spec.id: radar for radar in radars}
    for spec in scenario.national:
        if progress:
            progress(f"feed {spec.id}", done, sensors_total)
        if spec.sources is None:
            sources = [r for r in radars if r.spec.nation == spec.nation]
        else:
            sources = [by_id[sid] for sid in spec.sources]
        observations += feed_reports(spec, sources, objects, start_s, end_s,
                                     sensor_rng(scenario.seed, spec.id))
        done += 1
    if progress:
        progress("sensors", sensors_total, sensors_total)

    observations = [o for o in observations if start_s <= o.time_s <= end_s]
    sim = Simulation(scenario, start_s, end_s, outcomes, objects)
    sim.observations, sim.reports = _to_reports(scenario, observations)
    return sim


def _to_reports(
    scenario: Scenario, observations: list[Observation]
) -> tuple[list[Observation], list[dict[str, Any]]]:
    """Number each sensor's observations in time order and build the contract objects."""
    specs: dict[str, Any] = {s.id: s for s in [*scenario.radars, *scenario.infrared,
                                               *scenario.national]}
    per_sensor: dict[str, list[Observation]] = {}
    for obs in observations:
        per_sensor.setdefault(obs.sensor_id, []).append(obs)
    keyed = []
    for sensor_id, items in per_sensor.items():
        items.sort(key=lambda o: o.time_s)  # stable: ties keep the model's order
        spec = specs[sensor_id]
        ref = sensor_ref(spec.id, spec.nation, spec.lat, spec.lon, spec.alt_m)
        marking = _marking_json(scenario, spec.nation, spec.marking)
        for seq, obs in enumerate(items, start=1):
            report = {
                "id": f"{sensor_id}:{seq:06d}",
                "time": format_time(obs.time_s),
                "sensor": ref,
                "kind": obs.kind,
                **obs.fields,
                "marking": marking,
                "exercise": scenario.exercise,
            }
            keyed.append(((obs.time_s, sensor_id, seq), obs, report))
    keyed.sort(key=lambda item: item[0])
    return [k[1] for k in keyed], [k[2] for k in keyed]


def report_lines(sim: Simulation) -> Iterator[str]:
    """The reports as compact JSON lines (no trailing newline)."""
    for report in sim.reports:
        yield json.dumps(report, separators=(",", ":"), ensure_ascii=False)


def _r(value: float, digits: int) -> float:
    """Round for output; ``+ 0.0`` turns a negative zero into zero."""
    return round(float(value), digits) + 0.0


def _powered_at(obj: TruthObject, times: np.ndarray) -> np.ndarray:
    knots = obj.trajectory.time_s
    index = np.clip(np.searchsorted(knots, times, side="right") - 1, 0, knots.size - 1)
    return obj.trajectory.powered[index]


def _thrust_cuts_s(obj: TruthObject) -> np.ndarray:
    """Times (s) where the object's acceleration jumps: an engine lights or cuts off.

    The truth file carries a line at each (to the millisecond), so that a reader's cubic
    Hermite interpolation on position and velocity never spans one: across srbm-salvo's
    burnout it was up to 1.0 m off within that second, on either side of the cut it is exact to
    well under a millimetre.
    """
    trajectory = obj.trajectory
    flips = np.flatnonzero(trajectory.powered[1:] != trajectory.powered[:-1]) + 1
    # To the millisecond the file's times are written to: a state at the exact instant under
    # a time 0.4 ms off would put the line ~0.6 m from where a reader places it.
    return np.round(np.union1d(trajectory.time_s[flips], trajectory.cuts_s), 3)


def truth_lines(sim: Simulation) -> Iterator[str]:
    """The truth file's lines (see the module docstring), sorted by time then object id."""
    rows: list[tuple[float, str, dict[str, Any]]] = []
    for obj in sim.objects:
        begin = max(obj.start_s, sim.start_s)
        end = min(obj.end_s, sim.end_s)
        if end < begin:
            continue
        whole = np.arange(math.ceil(begin), math.floor(end) + 1, dtype=float)
        inner = np.union1d(whole, _thrust_cuts_s(obj))
        inner = inner[(inner > begin) & (inner < end)]
        times = np.concatenate([[begin], inner, [end]]) if end > begin else np.array([begin])
        events: dict[int, str] = {}
        if begin == obj.start_s:
            events[0] = "launch" if obj.from_pad else "separation"
        if obj.impacts and end == obj.end_s:
            events[times.size - 1] = "impact"
        states = obj.trajectory.state_at(times)
        if obj.impacts and end == obj.end_s:
            states[-1] = obj.trajectory.state[-1]  # the exact impact, not an interpolation
        powered = _powered_at(obj, times)
        lat, lon, alt = ecef_to_lla(states[:, :3])
        for i, t in enumerate(times):
            row: dict[str, Any] = {
                "object_id": obj.object_id,
                "launch_id": obj.launch_id,
                "kind": obj.kind,
                "time": format_time(t),
                "lat": _r(lat[i], 7),
                "lon": _r(lon[i], 7),
                "alt_m": _r(alt[i], 3),
                "r_ecef_m": [_r(c, 3) for c in states[i, :3]],
                "v_ecef_mps": [_r(c, 4) for c in states[i, 3:]],
                "powered": bool(powered[i]),
            }
            if i in events:
                row["event"] = events[i]
            rows.append((float(t), obj.object_id, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    for _, _, row in rows:
        yield json.dumps(row, separators=(",", ":"))


def _write(lines: Iterator[str], path: Path) -> int:
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")
            count += 1
    return count


def write_reports(sim: Simulation, path: Path) -> int:
    """Write the reports file; returns the number of lines."""
    return _write(report_lines(sim), path)


def write_truth(sim: Simulation, path: Path) -> int:
    """Write the truth file; returns the number of lines."""
    return _write(truth_lines(sim), path)


__all__ = [
    "LaunchOutcome",
    "Simulation",
    "design_all",
    "radar_observations",
    "report_lines",
    "sensor_rng",
    "simulate",
    "truth_lines",
    "write_reports",
    "write_truth",
]
