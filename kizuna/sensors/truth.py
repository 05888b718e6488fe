"""The true objects of a scenario: designed flights, spent stages, satellites.

Each resolved :class:`~kizuna.sensors.scenario.Launch` becomes one or more
:class:`TruthObject` (a missile, or a launcher that becomes a satellite, plus any spent stages),
each with a :class:`~kizuna.physics.trajectory.Trajectory` on the scenario's absolute clock.

Flights are designed in the force model the filters use (J2) and flown in
:data:`~kizuna.physics.dynamics.TRUTH` (the EGM2008 field to degree 5 besides), so the truth
has the residual accelerations a tracker's process noise is there for.

Designing a flight costs seconds (a missile) to tens of seconds; a scenario designs each
distinct launch once (salvo members share a design) and keeps the result on disk, keyed by the
launch parameters *and a fingerprint of the physics source code*, so a cached flight is never
stale: any change to :mod:`kizuna.physics` designs afresh. The cache lives in
``$KIZUNA_CACHE_DIR`` or ``~/.cache/kizuna/flights``; it is an optimisation only (unwritable
or corrupt entries are ignored), and cached and fresh designs give bit-identical trajectories.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from kizuna.physics.boost import LaunchGeometry, Vehicle
from kizuna.physics.dynamics import TRUTH
from kizuna.physics.orbital import ballistic_trajectory, design_orbital
from kizuna.physics.trajectory import Trajectory, design_for_apogee, design_min_energy
from kizuna.sensors.scenario import Launch

Array = NDArray[np.float64]
ObjectKind = Literal["missile", "stage", "satellite"]

CACHE_VERSION = "3"  # 2: flown in the TRUTH force model; 3: the main object's cuts
SEPARATION_DV_MPS = 3.0  # a spent body is pushed back this much at separation (assumed)
TRUTH_STEP_S = 1.0


@dataclass(frozen=True)
class TruthObject:
    """One true object. ``trajectory`` times are absolute POSIX seconds."""

    object_id: str
    launch_id: str
    kind: ObjectKind
    trajectory: Trajectory
    impacts: bool  # the last sample is an impact on the ellipsoid
    from_pad: bool  # launched from the ground (infrared sees this launch)

    @property
    def start_s(self) -> float:
        return self.trajectory.start_s

    @property
    def end_s(self) -> float:
        return self.trajectory.end_s


@dataclass(frozen=True)
class Designed:
    """A designed launch, times relative to lift-off: the main object and any stages.

    ``main`` is (times, states, powered, cuts) as in :class:`Trajectory`.
    """

    main: tuple[Array, Array, NDArray[np.bool_], Array]
    stages: list[tuple[Array, Array]]
    info: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def physics_fingerprint() -> str:
    """SHA-256 of the physics package's source: part of every cache key."""
    digest = hashlib.sha256()
    folder = resources.files("kizuna.physics")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    configured = os.environ.get("KIZUNA_CACHE_DIR")
    if configured:
        return Path(configured) / "flights"
    return Path.home() / ".cache" / "kizuna" / "flights"


def design_key(launch: Launch) -> str:
    """Cache key of a launch's design: every parameter that shapes the flight."""
    params = {
        "version": CACHE_VERSION,
        "physics": physics_fingerprint(),
        "kind": launch.kind,
        "lat": launch.lat_deg, "lon": launch.lon_deg, "alt": launch.alt_m,
        "azimuth": launch.azimuth_deg, "range": launch.range_m, "apogee": launch.apogee_m,
        "min_energy": launch.min_energy, "vehicle": sorted(launch.vehicle.items()),
        "stage_separation": launch.stage_separation,
        "insertion": launch.insertion_m, "perigee": launch.perigee_m,
        "follow": launch.follow_s if launch.kind == "satellite" else None,
    }
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]


def _design_fresh(launch: Launch) -> Designed:
    geometry = LaunchGeometry(launch.lat_deg, launch.lon_deg, launch.azimuth_deg, launch.alt_m)
    if launch.kind == "satellite":
        orbital = design_orbital(geometry, launch.insertion_m, launch.perigee_m)
        # The ascent as designed; the orbit and the falling stages in the true field.
        orbital = dataclasses.replace(orbital, forces=TRUTH)
        main = orbital.trajectory(0.0, duration_s=launch.follow_s, dt_s=TRUTH_STEP_S)
        stages = [stage.trajectory(0.0, dt_s=TRUTH_STEP_S, forces=TRUTH)
                  for stage in orbital.stages]
        altitudes = _altitude_m(main.state)
        info = {
            "apogee_m": float(altitudes[main.time_s <= orbital.insertion_s].max()),
            "insertion_s": orbital.insertion_s,
            "perigee_alt_m": orbital.perigee_alt_m,
            "orbit_apogee_alt_m": orbital.apogee_alt_m,
            "inclination_deg": orbital.inclination_deg,
        }
        return Designed((main.time_s, main.state, main.powered, main.cuts_s),
                        [(s.time_s, s.state) for s in stages], info)

    vehicle = Vehicle(**launch.vehicle)
    if launch.min_energy:
        flight = design_min_energy(geometry, float(launch.range_m), vehicle)  # type: ignore[arg-type]
    else:
        flight = design_for_apogee(geometry, float(launch.range_m), float(launch.apogee_m),  # type: ignore[arg-type]
                                   vehicle)
    flight = flight.flown_in(TRUTH)
    main = flight.trajectory(0.0, dt_s=TRUTH_STEP_S)
    stages = []
    if launch.stage_separation:
        body = flight.burnout_state.copy()
        speed = np.linalg.norm(body[3:])
        body[3:] *= (speed - SEPARATION_DV_MPS) / speed
        stage, _ = ballistic_trajectory(body, flight.burn_s,
                                        vehicle.body_ballistic_coefficient_kg_m2, TRUTH,
                                        dt_s=TRUTH_STEP_S)
        stages.append((stage.time_s, stage.state))
    info = {
        "apogee_m": flight.apogee_m,
        "range_m": flight.range_m,
        "flight_time_s": flight.flight_time_s,
        "burn_s": flight.burn_s,
        "impact_lat": flight.impact_lat_deg,
        "impact_lon": flight.impact_lon_deg,
    }
    return Designed((main.time_s, main.state, main.powered, main.cuts_s),
                    [(s[0], s[1]) for s in stages], info)


def _altitude_m(state: Array) -> Array:
    from kizuna.geo.frames import geodetic_altitude_m

    return geodetic_altitude_m(state[:, :3])


def _save(path: Path, designed: Designed) -> None:
    arrays: dict[str, Any] = {
        "main_t": designed.main[0], "main_x": designed.main[1], "main_p": designed.main[2],
        "main_c": designed.main[3],
        "info": np.array(json.dumps(designed.info, sort_keys=True)),
    }
    for i, (t, x) in enumerate(designed.stages):
        arrays[f"stage{i}_t"] = t
        arrays[f"stage{i}_x"] = x
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(temporary, **arrays)
    temporary.replace(path)  # atomic: concurrent runs never read half a file


def _load(path: Path) -> Designed:
    with np.load(path, allow_pickle=False) as data:
        stages = []
        i = 0
        while f"stage{i}_t" in data:
            stages.append((data[f"stage{i}_t"], data[f"stage{i}_x"]))
            i += 1
        return Designed((data["main_t"], data["main_x"], data["main_p"].astype(bool),
                         data["main_c"]), stages, json.loads(str(data["info"])))


def design_launch(launch: Launch, use_cache: bool = True) -> Designed:
    """Design one launch (relative times), through the on-disk cache when allowed."""
    path = cache_dir() / f"{design_key(launch)}.npz"
    if use_cache and path.exists():
        try:
            return _load(path)
        except (OSError, ValueError, KeyError):
            pass  # a corrupt or foreign file: design afresh and overwrite it
    designed = _design_fresh(launch)
    if use_cache:
        # A read-only home is no reason to fail a simulation.
        with contextlib.suppress(OSError):
            _save(path, designed)
    return designed


def objects_of(launch: Launch, designed: Designed) -> list[TruthObject]:
    """The truth objects of one launch, on the absolute clock."""
    t, x, powered, cuts = designed.main
    kind: ObjectKind = "satellite" if launch.kind == "satellite" else "missile"
    objects = [TruthObject(launch.object_id, launch.launch_id, kind,
                           Trajectory(launch.time_s + t, x, powered, launch.time_s + cuts),
                           impacts=kind == "missile", from_pad=True)]
    for i, (st, sx) in enumerate(designed.stages):
        objects.append(TruthObject(
            f"{launch.object_id}-S{i + 1}", launch.launch_id, "stage",
            Trajectory(launch.time_s + st, sx, np.zeros(st.size, bool)),
            impacts=True, from_pad=False,
        ))
    return objects


__all__ = [
    "Designed",
    "TruthObject",
    "cache_dir",
    "design_key",
    "design_launch",
    "objects_of",
    "physics_fingerprint",
]
