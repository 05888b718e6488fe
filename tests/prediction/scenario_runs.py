"""Shipped scenarios through the tracker and predictor, scored against their truth (imported
by name from the prediction tests; also usable as a script for the measured figures).

:func:`run` does what ``kizuna track`` does (reports in file order through the tracker's
reorder window, every batch of confirmed-track updates to a predictor configured as the
warning pipeline's) but keeps the full covariances, so the 6-D NEES of position and velocity
can be computed, which the contract's ``tracks.jsonl`` (one sigma) cannot give.

Run as a script: ``python tests/prediction/scenario_runs.py irbm-overflight [seed]`` prints
the scores of one scenario.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from kizuna.contract import parse_report
from kizuna.geo.frames import ecef_to_lla
from kizuna.geo.geodesic import distance_m
from kizuna.prediction.evaluation import owners_of_updates
from kizuna.prediction.impact import in_ellipse
from kizuna.prediction.predictor import Prediction, Predictor
from kizuna.prediction.predictor import TrackUpdate as PredictorInput
from kizuna.sensors.scenario import load_scenario
from kizuna.sensors.simulate import simulate
from kizuna.timefmt import parse_time
from kizuna.tracking import Tracker
from kizuna.tracking.tracker import TrackUpdate

BALLISTIC = ("irbm-overflight", "irbm-overflight-2022", "icbm-lofted", "srbm-salvo")
GATE_M = 20_000.0  # a track update belongs to a true object within this distance


@dataclass
class Truth:
    object_id: str
    kind: str
    t0: float
    t1: float
    state_at: object  # callable: times (n,) -> (n, 6)
    impact: tuple[float, float, float] | None  # time_s, lat, lon
    powered_until_s: float


@dataclass
class Run:
    truth: dict[str, Truth]
    updates: list[TrackUpdate]
    predictions: list[Prediction]
    # (track id, update time to the millisecond) -> object id, "" for none (see associate)
    owner: dict[tuple[str, float], str] = field(default_factory=dict)

    def owner_of(self, track_id: str, time_s: float) -> str:
        """The true object of the track's update at ``time_s`` (a prediction's time too)."""
        return self.owner.get((track_id, round(time_s, 3)), "")


def reports_of(name: str, seed: int | None = None):
    scenario = load_scenario(name)
    if seed is not None:
        scenario = dataclasses.replace(scenario, seed=seed)
    sim = simulate(scenario)
    truth = {}
    for obj in sim.objects:
        traj = obj.trajectory
        impact = None
        if obj.impacts:
            lat, lon, _ = ecef_to_lla(traj.state_at(traj.end_s)[:3])
            impact = (traj.end_s, float(lat), float(lon))
        powered = getattr(traj, "powered", None)
        burn_end = traj.start_s
        if powered is not None and np.any(powered):
            burn_end = float(traj.time_s[np.flatnonzero(powered)[-1]])
        truth[obj.object_id] = Truth(
            obj.object_id, str(obj.kind), traj.start_s, traj.end_s, traj.state_at, impact, burn_end
        )
    return [parse_report(r) for r in sim.reports], truth


def run(reports, truth: dict[str, Truth], predictor: Predictor | None = None) -> Run:
    """Track and predict ``reports`` in the given order (as ``kizuna track`` does)."""
    tracker = Tracker()
    predictor = predictor or Predictor(min_interval_s=2.0, samples=200)  # the pipeline's
    updates: list[TrackUpdate] = []
    predictions: list[Prediction] = []
    latest = -np.inf

    def take(batch: list[TrackUpdate]) -> None:
        updates.extend(batch)
        if batch:
            predictions.extend(predictor.update([PredictorInput.from_track(u) for u in batch]))

    for report in reports:
        tracker.ingest(report)
        latest = max(latest, report.t)
        take(tracker.advance(latest))
    take(tracker.flush())
    out = Run(truth, updates, predictions)
    out.owner = associate(out)
    return out


def associate(result: Run) -> dict[tuple[str, float], str]:
    """The true object of every track update, as ``kizuna evaluate`` matches them
    (:func:`kizuna.prediction.evaluation.owners_of_updates`, within GATE_M).

    Per update, not one object per track: a track goes on with whatever it is on, e.g. from
    the launcher to the spent stage it drops. By majority, satellite-sohae seed 2's first track
    (the launcher from 63 s, the coasting pair from 230 s, the second stage alone from 536 to
    894 s) was the satellite's throughout, and its updates on the falling stage were scored
    against the satellite in orbit.
    """
    by_track: dict[str, list[TrackUpdate]] = defaultdict(list)
    for u in result.updates:
        by_track[u.track_id].append(u)
    ids = list(result.truth)
    owner = {}
    for tid, updates in by_track.items():
        t = np.array([u.time_s for u in updates])
        r = np.array([u.x[:3] for u in updates])
        d = np.full((len(ids), t.size), np.inf)
        for i, obj in enumerate(result.truth.values()):
            alive = (t >= obj.t0) & (t <= obj.t1)
            if alive.any():
                d[i, alive] = np.linalg.norm(obj.state_at(t[alive])[:, :3] - r[alive], axis=-1)
        for u, who in zip(updates, owners_of_updates(ids, d, GATE_M), strict=True):
            owner[(tid, round(u.time_s, 3))] = str(who)
    return owner


def nees(result: Run, settle_s: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """6-D NEES of every coasting update against its track's object (after ``settle_s`` of
    coasting, so the boost and the two-point start are left out). Returns (times, nees)."""
    first: dict[str, float] = {}
    t_out, v_out = [], []
    for u in result.updates:
        oid = result.owner_of(u.track_id, u.time_s)
        if not oid:
            continue
        obj = result.truth[oid]
        first.setdefault(u.track_id, u.time_s)
        start = max(first[u.track_id], obj.powered_until_s) + settle_s
        if not (start <= u.time_s <= obj.t1) or u.phase == "boost":
            continue
        e = u.x[:6] - obj.state_at(u.time_s)
        t_out.append(u.time_s)
        v_out.append(float(e @ np.linalg.solve(u.P[:6, :6], e)))
    return np.array(t_out), np.array(v_out)


@dataclass
class ImpactScore:
    object_id: str
    lead_s: np.ndarray  # impact time minus prediction time
    error_m: np.ndarray
    inside: np.ndarray

    def at_lead(self, lead_s: float) -> float:
        """Error of the last prediction made at least ``lead_s`` before impact (m)."""
        ok = self.lead_s >= lead_s
        return float(self.error_m[ok][np.argmin(self.lead_s[ok])]) if ok.any() else np.nan


def impacts(result: Run) -> dict[str, ImpactScore]:
    """Impact predictions of every object's tracks against its true impact."""
    rows: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for p in result.predictions:
        t_pred = parse_time(p.product.time)
        oid = result.owner_of(p.product.track_id, t_pred)
        imp = p.product.impact
        if not oid or imp is None or result.truth[oid].impact is None:
            continue
        t_imp, lat, lon = result.truth[oid].impact
        lead = t_imp - t_pred
        if lead <= 0.0:
            continue
        e = imp.ellipse_95
        err = float(distance_m(lat, lon, imp.lat, imp.lon))
        axes = (e.semi_major_m, e.semi_minor_m, e.orientation_deg)
        inside = bool(in_ellipse(lat, lon, imp.lat, imp.lon, *axes))
        rows[oid].append((lead, err, inside))
    return {
        oid: ImpactScore(oid, *(np.array(c) for c in zip(*v, strict=True)))
        for oid, v in rows.items()
    }


def summary(name: str, seed: int | None = None) -> str:
    reports, truth = reports_of(name, seed)
    result = run(reports, truth)
    _, values = nees(result)
    lines = [f"{name}: {len(reports)} reports, {len({u.track_id for u in result.updates})} tracks"]
    if values.size:
        lines.append(
            f"  NEES (6-D, coasting): mean {values.mean():.2f}, median {np.median(values):.2f}, "
            f"> chi2 99.9 % ({22.46:.1f}): {np.mean(values > 22.46):.1%} of {values.size}"
        )
    for oid, score in sorted(impacts(result).items()):
        lines.append(
            f"  {oid}: {score.inside.size} impact predictions, in 95 % ellipse "
            f"{score.inside.mean():.1%}, error at >= 60 s before impact "
            f"{score.at_lead(60.0) / 1e3:.2f} km, last {score.error_m[-1] / 1e3:.2f} km"
        )
    cats = defaultdict(int)
    for p in result.predictions:
        oid = result.owner_of(p.product.track_id, parse_time(p.product.time)) or None
        cats[(oid, p.product.category)] += 1
    lines.append(f"  categories: {dict(cats)}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None))
