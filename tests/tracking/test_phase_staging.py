"""Powered flight through a staging and a burnout, on the shipped scenarios (tracker only).

The declared phase of a track (``TrackUpdate.phase``) must follow the powered flight
honestly: ``boost`` from soon after the track is confirmed to the object's burnout, through a
staging's thrust drop, then one change to coasting. Each run simulates its scenario (~2 s)
and tracks only its first minutes (~5-10 s).
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np

from kizuna.contract import parse_report
from kizuna.sensors.scenario import load_scenario
from kizuna.sensors.simulate import Simulation, simulate
from kizuna.tracking import Tracker
from kizuna.tracking.tracker import TrackUpdate

SETTLE_S = 5.0  # a new track's first seconds: two-point start, boost prior undecided
CLEAR_M = 2_000.0  # an update is an object's when nearer it than any other by this much


@cache
def _sim(name: str) -> Simulation:
    return simulate(load_scenario(name))


@cache
def _track(name: str, horizon_s: float) -> tuple[Simulation, list[TrackUpdate]]:
    sim = _sim(name)
    launch = min(o.start_s for o in sim.objects)
    reports = [parse_report(r) for r in sim.reports]
    return sim, Tracker().process(r for r in reports if r.t <= launch + horizon_s)


def _owned(sim: Simulation, updates: list[TrackUpdate]) -> list[tuple[TrackUpdate, str, bool]]:
    """(update, object id, object powered then) for the updates clearly on one object."""
    out = []
    for u in updates:
        d = {}
        for obj in sim.objects:
            if obj.start_s <= u.time_s <= obj.end_s:
                d[obj.object_id] = float(
                    np.linalg.norm(obj.trajectory.state_at(np.array([u.time_s]))[0, :3] - u.x[:3])
                )
        if not d:
            continue
        ranked = sorted(d, key=d.get)
        if d[ranked[0]] > 20_000.0 or (len(ranked) > 1 and d[ranked[1]] - d[ranked[0]] < CLEAR_M):
            continue
        obj = next(o for o in sim.objects if o.object_id == ranked[0])
        traj = obj.trajectory
        i = min(np.searchsorted(traj.time_s, u.time_s), traj.time_s.size - 1)
        powered = bool(traj.powered[i]) if traj.powered is not None else False
        out.append((u, ranked[0], powered))
    return out


def _boost_exits(updates: list[TrackUpdate]) -> dict[str, int]:
    """Per track, how often its phase changed from boost to something else."""
    phases: dict[str, list[str]] = {}
    for u in updates:
        phases.setdefault(u.track_id, []).append(u.phase)
    return {
        tid: sum(a == "boost" and b != "boost" for a, b in itertools.pairwise(seq))
        for tid, seq in phases.items()
    }


def test_lofted_icbm_leaves_boost_once_per_track():
    """icbm-lofted (burnout 236 s after launch): the missile's track is boost from soon
    after confirmation to burnout (two radars at long range low in the boost once drained
    it into the ballistic mode at ~60 s: boost, midcourse, boost), then coasts for good."""
    sim, updates = _track("icbm-lofted", 300.0)
    exits = _boost_exits(updates)
    assert exits and max(exits.values()) <= 1, exits
    first = {}
    for u in updates:
        first.setdefault(u.track_id, u.time_s)
    owned = _owned(sim, updates)
    powered = [u for u, who, p in owned if p and u.time_s > first[u.track_id] + SETTLE_S]
    assert len(powered) > 100
    assert all(u.phase == "boost" for u in powered), {u.phase for u in powered}
    # Burnout is declared within 10 s of the truth's.
    burnout = max(
        float(o.trajectory.time_s[o.trajectory.powered].max())
        for o in sim.objects
        if o.trajectory.powered is not None and o.trajectory.powered.any()
    )
    # (The missile and its spent stage are one point then: no update is clearly either's.)
    late = [u for u in updates if first[u.track_id] < burnout and u.time_s > burnout + 10.0]
    assert late and all(u.phase == "midcourse" for u in late)


def test_satellite_track_stays_in_boost_through_the_first_staging():
    """satellite-sohae: the first stage separates 100 s after lift-off and the thrust drops
    from 60 to 13 m/s^2; the second stage burns on until 230 s. The satellite's track is boost
    throughout (it went boost, unknown, midcourse, boost, unknown, boost at 103-108 s), and
    leaves boost once, at the second stage's burnout."""
    sim, updates = _track("satellite-sohae", 250.0)
    first = {}
    for u in updates:
        first.setdefault(u.track_id, u.time_s)
    owned = _owned(sim, updates)
    on_satellite = [
        u for u, who, p in owned if who == "L1-V1" and p and u.time_s > first[u.track_id] + SETTLE_S
    ]
    assert len(on_satellite) > 100
    assert all(u.phase == "boost" for u in on_satellite), sorted(
        {
            (round(u.time_s - sim.objects[0].start_s), u.phase)
            for u in on_satellite
            if u.phase != "boost"
        }
    )
    exits = _boost_exits(updates)
    assert max(exits.values()) <= 1, exits
