"""The Predictor: products that satisfy the contract, rate limiting, categories."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prediction_truth import LAUNCH_TIME_S

from kizuna.contract import Marking, PredictionProduct, dumps
from kizuna.geo.geodesic import distance_m
from kizuna.prediction.predictor import Predictor, TrackUpdate
from kizuna.timefmt import parse_time

MARK = Marking(classification="SECRET", releasable_to=["USA", "JPN", "KOR"])
P = np.diag([100.0**2] * 3 + [3.0**2] * 3)


def _update(flight, coast_s: float, track_id: str = "T1", phase: str = "midcourse"):
    x, t = flight.state_after_burnout(coast_s)
    return TrackUpdate(
        track_id, t, x, P, MARK, flight.vehicle.ballistic_coefficient_kg_m2, phase, exercise=True
    )


def test_midcourse_prediction_product(mrbm):
    (pred,) = Predictor().update([_update(mrbm, 120.0)])
    product = pred.product
    assert PredictionProduct.model_validate(json.loads(dumps(product))) == product
    assert product.category == "ballistic" and product.exercise and product.marking == MARK
    impact = product.impact
    miss = distance_m(impact.lat, impact.lon, mrbm.impact.lat_deg[0], mrbm.impact.lon_deg[0])
    assert miss < impact.ellipse_95.semi_major_m
    assert abs(parse_time(impact.time) - mrbm.impact.time_s[0]) < 3 * pred.impact_time_sigma_s
    launch = product.launch
    pad = distance_m(launch.lat, launch.lon, mrbm.geometry.lat_deg, mrbm.geometry.lon_deg)
    assert pad < 3 * launch.sigma_m
    assert abs(parse_time(launch.time) - LAUNCH_TIME_S) < 3 * pred.launch_time_sigma_s
    true_range_km = (
        distance_m(
            mrbm.geometry.lat_deg,
            mrbm.geometry.lon_deg,
            mrbm.impact.lat_deg[0],
            mrbm.impact.lon_deg[0],
        )
        / 1e3
    )
    assert product.range_km == pytest.approx(true_range_km, abs=3 * launch.sigma_m / 1e3 + 5.0)
    assert product.apogee_km == pytest.approx(mrbm.impact.apogee_m[0] / 1e3, rel=0.01)
    assert pred.ground_track is not None and pred.ground_track.impacts
    assert pred.hit_probability == 1.0


def test_rate_limit_and_phase_change(srbm):
    predictor = Predictor(min_interval_s=2.0, relative_interval=0.0)
    first = _update(srbm, 20.0)
    assert len(predictor.update([first])) == 1
    soon = _update(srbm, 21.0)
    assert predictor.update([soon]) == []
    assert len(predictor.update([soon], force=True)) == 1
    assert len(predictor.update([_update(srbm, 21.5, phase="terminal")])) == 1
    assert len(predictor.update([_update(srbm, 24.0, phase="terminal")])) == 1
    predictor.forget("T1")
    assert predictor.due(_update(srbm, 24.1, phase="terminal"))


def test_rate_limit_scales_with_remaining_flight_time(mrbm):
    """Far from impact a track is re-predicted every relative_interval of its remaining
    flight; close to it the absolute minimum interval rules."""
    predictor = Predictor(min_interval_s=2.0, relative_interval=0.05)
    (first,) = predictor.update([_update(mrbm, 20.0)])
    remaining = parse_time(first.product.impact.time) - parse_time(first.product.time)
    assert remaining > 200.0  # so the relative interval (> 10 s) exceeds the minimum
    assert not predictor.due(_update(mrbm, 20.0 + 0.9 * 0.05 * remaining))
    assert predictor.due(_update(mrbm, 20.0 + 1.01 * 0.05 * remaining))
    late = remaining + 20.0 - 30.0  # 30 s before impact: 5 % of it is below 2 s
    (near,) = predictor.update([_update(mrbm, late)])
    assert near.product.impact is not None
    assert not predictor.due(_update(mrbm, late + 1.9))
    assert predictor.due(_update(mrbm, late + 2.0))


def test_boost_orbital_and_ballistic_in_one_batch(srbm):
    r = 6_778_137.0
    orbit = np.array([r, 0.0, 0.0, 0.0, np.sqrt(3.986004418e14 / r) - 7.292115e-5 * r, 0.0])
    elapsed, boosting = srbm.boost_trace[50]
    updates = [
        TrackUpdate("SAT", LAUNCH_TIME_S, orbit, P, MARK, phase="midcourse"),
        TrackUpdate(
            "BOOST", LAUNCH_TIME_S + float(elapsed[0]), boosting[0], P, MARK, phase="boost"
        ),
        _update(srbm, 30.0, track_id="RV"),
    ]
    out = {p.product.track_id: p for p in Predictor().update(updates)}
    assert out["SAT"].product.category == "orbital" and out["SAT"].product.impact is None
    assert out["SAT"].product.apogee_km == pytest.approx(400.0, abs=1.0)
    assert out["BOOST"].product.category == "unknown" and out["BOOST"].product.impact is None
    assert out["BOOST"].product.launch is not None
    assert out["RV"].product.category == "ballistic" and out["RV"].product.impact is not None
    # The boost-phase launch estimate is replaced once the track coasts.
    predictor = Predictor(min_interval_s=0.0)
    predictor.update([updates[1]])
    (coasting,) = predictor.update([_update(srbm, 30.0, track_id="BOOST")])
    assert coasting.product.launch.sigma_m != out["BOOST"].product.launch.sigma_m


def test_ir_launch_report_is_fused(srbm):
    report = (LAUNCH_TIME_S, srbm.geometry.lat_deg, srbm.geometry.lon_deg, 2000.0)
    plain = Predictor().update([_update(srbm, 30.0)])[0].product.launch
    u = _update(srbm, 30.0)
    fused_update = TrackUpdate(
        u.track_id,
        u.time_s,
        u.x,
        u.P,
        u.marking,
        u.ballistic_coefficient_kg_m2,
        u.phase,
        launch_report=report,
    )
    fused = Predictor().update([fused_update])[0].product.launch
    assert fused.sigma_m < min(plain.sigma_m, 2000.0)
    assert parse_time(fused.time) == pytest.approx(LAUNCH_TIME_S, abs=1e-3)
    pad = distance_m(fused.lat, fused.lon, srbm.geometry.lat_deg, srbm.geometry.lon_deg)
    assert pad < 3 * fused.sigma_m


def test_from_tracker_track_update(srbm):
    # The tracker's TrackUpdate carries 1/beta as x[6].
    tracker = pytest.importorskip("kizuna.tracking.tracker")
    x, t = srbm.state_after_burnout(30.0)
    P7 = np.zeros((7, 7))
    P7[:6, :6] = P
    P7[6, 6] = (1e-6) ** 2
    track = tracker.TrackUpdate(
        track_id="S1",
        time_s=t,
        x=np.append(x, 1.0 / 8000.0),
        P=P7,
        beta_kg_m2=8000.0,
        thrust_ecef_mps2=np.zeros(3),
        boost_probability=0.0,
        phase="midcourse",
        sensors=("JPN-FPS5-1",),
        nations=("JPN",),
        marking=MARK,
        exercise=False,
    )
    (pred,) = Predictor().update([TrackUpdate.from_track(track)])
    miss = distance_m(
        pred.product.impact.lat,
        pred.product.impact.lon,
        srbm.impact.lat_deg[0],
        srbm.impact.lon_deg[0],
    )
    assert miss < pred.product.impact.ellipse_95.semi_major_m
    assert pred.product.category == "ballistic"


def test_apogee_without_ground_track(mrbm):
    (pred,) = Predictor(with_ground_track=False).update([_update(mrbm, 20.0)])
    assert pred.ground_track is None
    # Two-body apogee: within 1 % of the flown (J2, drag) apogee of ~570 km.
    assert pred.product.apogee_km == pytest.approx(mrbm.impact.apogee_m[0] / 1e3, rel=0.01)


def test_orbital_and_powered_tracks_get_a_bounded_ground_track(srbm):
    # A 400 km circular orbit: no impact, but a 15-minute path for overflight warnings.
    r = 6_778_137.0
    orbit = np.array([r, 0.0, 0.0, 0.0, np.sqrt(3.986004418e14 / r) - 7.292115e-5 * r, 0.0])
    elapsed, boosting = srbm.boost_trace[50]
    t_boost = LAUNCH_TIME_S + float(elapsed[0])
    updates = [
        TrackUpdate("SAT", LAUNCH_TIME_S, orbit, P, MARK, phase="midcourse"),
        TrackUpdate("BOOST", t_boost, boosting[0], P, MARK, phase="boost"),
    ]
    out = {p.product.track_id: p for p in Predictor(path_horizon_s=600.0).update(updates)}
    sat = out["SAT"]
    assert sat.product.impact is None and sat.ground_track is not None
    gt = sat.ground_track
    assert not gt.impacts
    assert gt.time_s[0] == LAUNCH_TIME_S and gt.time_s[-1] == pytest.approx(LAUNCH_TIME_S + 600.0)
    # 600 s of a 7.67 km/s equatorial orbit over the ground: 7.67 km/s scaled to the surface
    # (7.22 km/s) less the equator's 465 m/s eastward turning under it, ~4,050 km.
    along = distance_m(gt.lat_deg[0], gt.lon_deg[0], gt.lat_deg[-1], gt.lon_deg[-1])
    assert along == pytest.approx(600.0 * (7.669e3 * 6_378_137.0 / r - 465.1), rel=0.01)
    assert np.all(np.abs(gt.alt_m - 400e3) < 25e3)
    # Powered: the path if thrust stopped now (the instantaneous impact point's path), which
    # comes down within the horizon near the pad (a few seconds into an SRBM's boost).
    boost = out["BOOST"]
    assert boost.product.impact is None and boost.ground_track is not None
    assert boost.ground_track.impacts and boost.ground_track.time_s[0] == t_boost
    assert boost.ground_track.alt_m[-1] == pytest.approx(0.0, abs=1.0)
    # Off: no paths at all.
    plain = Predictor(with_ground_track=False).update(updates)
    assert all(p.ground_track is None for p in plain)


def test_a_flickering_phase_bypasses_the_rate_limit_at_most_once_per_interval(srbm):
    """Updates every 0.5 s whose phase alternates on every update: the predictor may let a
    phase change through early, but two predictions of the track closer than min_interval_s
    happen at most once per interval (each such pair at a phase change)."""
    predictor = Predictor(min_interval_s=5.0, relative_interval=0.0)
    phases = ("midcourse", "terminal")
    done = []
    for i in range(40):  # 20 s of updates
        u = _update(srbm, 20.0 + 0.5 * i, phase=phases[i % 2])
        for p in predictor.update([u]):
            done.append((parse_time(p.product.time), u.phase))
    times = np.array([t for t, _ in done])
    gaps = np.diff(times)
    early = np.flatnonzero(gaps < 5.0 - 1e-9)
    # Each early prediction is a phase change, and no two early ones within 5 s.
    assert all(done[i + 1][1] != done[i][1] for i in early)
    assert np.all(np.diff(times[early + 1]) >= 5.0 - 1e-9)
    # Without the bound every one of the 40 updates (each a phase change) would be predicted.
    assert len(done) <= 2 * 20.0 / 5.0 + 1, len(done)
    # ... and the rate limit still lets one through per interval (an empty run proves nothing).
    assert len(done) >= 20.0 / 5.0, len(done)


def test_an_undecided_phase_gets_no_impact_and_no_ground_track(srbm):
    """A track the tracker cannot yet call powered or coasting ("unknown") is predicted as in
    boost: no impact point, no apogee, category unknown, and no ground track at all (neither a
    coast nor a declared boost's instantaneous-impact path). The same state as midcourse has
    all of them."""
    predictor = Predictor(min_interval_s=0.0)
    (undecided,) = predictor.update([_update(srbm, 20.0, track_id="U", phase="unknown")])
    assert undecided.product.impact is None and undecided.product.apogee_km is None
    assert undecided.product.category == "unknown"
    assert undecided.ground_track is None
    (coasting,) = predictor.update([_update(srbm, 20.0, track_id="C", phase="midcourse")])
    assert coasting.product.impact is not None and coasting.product.category == "ballistic"
    assert coasting.ground_track is not None and coasting.ground_track.impacts
