"""Shipped scenarios end to end (simulator -> tracker -> predictor) against their truth.

The whole-scenario checks cost minutes (every prediction propagates sigma points to the
ground), so they are marked slow; each has a default-run variant on a shorter or coarser run.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scenario_runs import BALLISTIC, GATE_M, Run, Truth, associate, impacts, nees, reports_of, run
from scipy.stats import chi2

from kizuna.prediction.predictor import Predictor
from kizuna.timefmt import parse_time

LEAD_S = 60.0
MAX_IMPACT_ERROR_M = 5_000.0


def _check_impacts(result, name):
    scores = impacts(result)
    truth = result.truth
    with_impact = [o for o, t in truth.items() if t.impact is not None and t.kind == "missile"]
    assert with_impact, name
    for oid in with_impact:
        assert oid in scores, (name, oid, "no impact prediction")
        error = scores[oid].at_lead(LEAD_S)
        assert error < MAX_IMPACT_ERROR_M, (name, oid, error)


def test_updates_are_scored_against_the_object_the_track_is_on():
    """A track on A for its first 100 s at 10 Hz (a boost's rate), then on B, dropped by A at
    100 s and leaving it at 50 m/s, for 300 s at 1 Hz: 1,000 updates on A, 300 on B. By
    majority the track was A's throughout and its NEES on B in the thousands."""
    velocity = {"A": np.array([0.0, 2_000.0, 0.0]), "B": np.array([50.0, 2_000.0, 0.0])}

    def state_of(oid, t0):
        def state_at(t):
            t = np.asarray(t, float)
            r = (t[..., None] - t0) * velocity[oid] + (t0 * velocity["A"] if oid == "B" else 0.0)
            return np.concatenate([r, np.broadcast_to(velocity[oid], r.shape)], axis=-1)
        return state_at

    truth = {"A": Truth("A", "missile", 0.0, 400.0, state_of("A", 0.0), None, 0.0),
             "B": Truth("B", "stage", 100.0, 400.0, state_of("B", 100.0), None, 100.0)}
    rng = np.random.default_rng(3)
    updates = []
    for t in np.concatenate([np.arange(0.1, 100.0, 0.1), np.arange(100.0, 400.0, 1.0)]):
        on = "A" if t < 100.0 else "B"
        x = truth[on].state_at(t) + rng.normal(0.0, [30.0] * 3 + [3.0] * 3)
        P = np.diag([30.0**2] * 3 + [3.0**2] * 3)
        updates.append(SimpleNamespace(track_id="T1", time_s=float(t), x=x, P=P, phase="midcourse"))
    result = Run(truth, updates, [])
    result.owner = associate(result)
    _, values = nees(result)  # from 30 s into the track and 30 s after B is dropped
    assert values.size > 900
    assert values.max() < 40.0  # chi-square, 6 degrees of freedom: 99.9999 % below 40
    assert result.owner_of("T1", 50.0) == "A" and result.owner_of("T1", 300.0) == "B"


def test_salvo_impacts_within_5_km_a_minute_out():
    """Default-run variant: srbm-salvo with a prediction every 20 s of data per track."""
    reports, truth = reports_of("srbm-salvo")
    result = run(reports, truth, Predictor(min_interval_s=20.0, samples=200))
    assert len({u.track_id for u in result.updates}) == 3
    _check_impacts(result, "srbm-salvo")


@pytest.mark.slow
@pytest.mark.parametrize("name", BALLISTIC)
def test_impact_error_under_5_km_a_minute_before_impact(name):
    reports, truth = reports_of(name)
    _check_impacts(run(reports, truth), name)


@pytest.mark.slow
def test_satellite_launch_is_orbital_with_no_impact():
    """The track on the satellite at the end of the data is orbital and predicts no impact.

    (The track that followed the rocket through the boost may go on with a spent stage after
    separation; a track is judged by where it ends, not by the majority of its past. A track
    that ends nearer a stage than the satellite is the stage's, or the pair's: since split
    children live on beside their parents, the track on the coasting second stage and
    satellite ends 13 s after third-stage ignition, 0.6 km from the stage and 1.1 km from
    the satellite, its pieces taken over by a track on each.)"""
    reports, truth = reports_of("satellite-sohae")
    result = run(reports, truth)
    (sat,) = [t for t in truth.values() if t.kind == "satellite"]
    last_update = {}
    for u in result.updates:
        last_update[u.track_id] = u
    def nearest(u):
        here = {
            oid: np.linalg.norm(obj.state_at(u.time_s)[:3] - u.x[:3])
            for oid, obj in truth.items()
            if obj.t0 <= u.time_s <= obj.t1
        }
        return min(here, key=here.get), min(here.values())

    on_sat = []
    for tid, u in last_update.items():
        if sat.t0 <= u.time_s <= sat.t1:
            who, distance = nearest(u)
            if who == sat.object_id and distance < GATE_M:
                on_sat.append(tid)
    assert on_sat
    last = {}
    for p in result.predictions:
        last[p.product.track_id] = p
    for tid in on_sat:
        assert last[tid].product.category == "orbital", tid
        assert last[tid].product.impact is None, tid


CLEAR_M = 2_000.0  # the satellite is told from its stages when nearer the track by this much


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_no_ballistic_impact_of_the_satellite_clear_of_its_stages(seed):
    """satellite-sohae with other noise seeds: no prediction of a track on the satellite is
    ballistic with an impact once the satellite is told from its stages (the nearest object
    to the track, every other one at least CLEAR_M farther). Before: seed 1 at 557 and 565 s
    (the collapsed pair track, then a fresh one, on the burning third stage, 3.6 and 6.7 km
    from the second stage), seed 2 at 562 s (5.2 km). In the coast (229-535 s) the satellite
    and its second stage are one point, and a ballistic prediction of the pair is the second
    stage's; in the first ~18 s after third-stage ignition they are within 2 km."""
    reports, truth = reports_of("satellite-sohae", seed=seed)
    result = run(reports, truth)
    (sat,) = [t for t in truth.values() if t.kind == "satellite"]
    where = {(u.track_id, round(u.time_s, 3)): u.x[:3] for u in result.updates}
    judged, wrong = 0, []
    for p in result.predictions:
        t = parse_time(p.product.time)
        x = where[(p.product.track_id, round(t, 3))]
        d = {
            oid: float(np.linalg.norm(o.state_at(t)[:3] - x))
            for oid, o in truth.items()
            if o.t0 <= t <= o.t1
        }
        if sat.object_id not in d or d[sat.object_id] >= GATE_M:
            continue
        others = [v for oid, v in d.items() if oid != sat.object_id]
        if others and min(others) - d[sat.object_id] < CLEAR_M:
            continue
        judged += 1
        if p.product.category == "ballistic" or p.product.impact is not None:
            wrong.append((round(t - sat.t0, 1), p.product.track_id, p.product.category))
    assert judged > 50
    assert not wrong, wrong


def _shuffled(reports, seed):
    rng = np.random.default_rng(seed)
    arrival = np.array([r.t for r in reports]) + rng.uniform(0.0, 2.9, len(reports))
    return [reports[i] for i in np.argsort(arrival, kind="stable")]


def _max_change_m(a, b):
    from kizuna.geo.geodesic import distance_m

    key = lambda p: (p.product.track_id, p.product.time)  # noqa: E731
    pa = {key(p): p.product.impact for p in a.predictions if p.product.impact}
    pb = {key(p): p.product.impact for p in b.predictions if p.product.impact}
    assert pa.keys() == pb.keys() and pa
    return max(float(distance_m(pa[k].lat, pa[k].lon, pb[k].lat, pb[k].lon)) for k in pa)


def test_shuffled_within_3_s_moves_no_impact_by_100_m():
    """Default-run variant: the first 150 s of srbm-salvo's reports, coarse predictions.

    Arrival order = time plus a delay of up to 2.9 s; the reorder window then releases other
    batches, and neither the tracks nor the predicted updates may depend on that."""
    reports, truth = reports_of("srbm-salvo")
    t0 = reports[0].t
    reports = [r for r in reports if r.t - t0 < 150.0]
    base = run(reports, truth, Predictor(min_interval_s=10.0, samples=200))
    again = run(_shuffled(reports, 1), truth, Predictor(min_interval_s=10.0, samples=200))
    assert _max_change_m(base, again) <= 100.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["srbm-salvo", "irbm-overflight-2022"])
def test_shuffled_whole_scenario_moves_no_impact_by_100_m(name):
    reports, truth = reports_of(name)
    assert _max_change_m(run(reports, truth), run(_shuffled(reports, 2), truth)) <= 100.0


def _nees_runs(name, runs, first_seed=100):
    """Run-averaged 6-D NEES of the coasting updates of ``runs`` seeds, pooled per run."""
    per_run = []
    for k in range(runs):
        reports, truth = reports_of(name, seed=first_seed + k)
        result = run(reports, truth, Predictor(min_interval_s=1e9, with_ground_track=False))
        _, values = nees(result)
        assert values.size > 100
        per_run.append(values)
    return per_run


def _check_nees(per_run, two_sided: bool):
    """The grand mean of N runs x K updates is chi2(6 N K) / (N K) if honest; the steps of
    one run are strongly correlated, so the band used is that of N runs of K_eff = 10
    independent updates each (wider, i.e. conservative in what it rejects)."""
    means = np.array([v.mean() for v in per_run])
    n = means.size
    lo, hi = chi2.ppf([0.025, 0.975], 6 * 10 * n) / (10 * n)
    assert means.mean() <= hi, (means.round(2), lo, hi)  # never overconfident on average
    tail = np.mean(np.concatenate(per_run) > chi2.ppf(0.999, 6))
    assert tail < 0.01, tail  # 0.1 % if honest; a few % means overconfident spells
    if two_sided:
        assert lo <= means.mean(), (means.round(2), lo, hi)
    else:
        assert means.mean() >= 0.5 * 6.0, means.round(2)  # at most 2x too cautious


def test_nees_not_overconfident_few_runs():
    _check_nees(_nees_runs("srbm-salvo", 2), two_sided=False)


@pytest.mark.slow
def test_nees_in_band_50_runs():
    """Seeds 100-149: mean 5.79 in the band [5.70, 6.31], 0.14 % of updates above chi2(6)
    99.9 % (with the EKF's drag linearisation noise, kizuna.tracking.motion; 5.95 and 0.14 %
    without it, its descent 6.43 against 6.07 now, overconfident while ln(beta) left the air
    biased low, see test_ln_beta_leaves_the_air_consistent). Measured when written (6.14,
    0.17 %): per 10 s step the textbook 50-run band [5.08, 7.00] holds 95 %, 95 % and 90 % of
    the three missiles' steps (those above: 7.1-7.2, at the first missile's re-entry and
    the second's first step and the third's at 270 s). Before, 5.47, ~1.1x too cautious: a
    partner's point looser than the track was fused at omega 0.995 and divided the track's
    covariance by 0.995 each time (now it is kept, omega = 1)."""
    _check_nees(_nees_runs("srbm-salvo", 50), two_sided=True)


@pytest.mark.slow
def test_nees_not_overconfident_50_runs():
    _check_nees(_nees_runs("srbm-salvo", 50), two_sided=False)


@pytest.mark.slow
def test_ln_beta_leaves_the_air_consistent():
    """srbm-salvo, seeds 100-103 (12 missiles, true beta 5,000 kg/m^2): from 170 s to 300 s
    after launch (above ~60 km, where the ascent's drag has been read and the re-entry's not
    yet) the error of l = ln(beta) over its sigma should have an rms near 1. It is 1.19 (mean
    -0.72) with the EKF's drag linearisation noise (kizuna.tracking.motion: the variance of
    the part of exp(-l) its linear model at the mean leaves out, along the velocity); over
    seeds 100-149 (the updates the NEES tests count) 1.05, mean -0.52. Before it this test
    was a strict xfail: the tracker's EKF, which reads drag = exp(-l) at the mean l while l's
    sigma is still the prior's 1 after burnout in dense air, gave 1.45 (mean -0.97: l low)
    when it was written, 1.61 (mean -1.07) just before the noise (100-149: 1.32, mean
    -0.74). The cubature
    prediction of filters.DragAwareFilter gives 1.06 (mean +0.54: l high), but its impact
    ellipses held the truth less often over 48 seeds (see that class), so it is not the
    default (the exact prediction in l, filters.LogBetaQuadratureFilter, leans higher still).
    The cause is the width of l's prior where drag is first read, not the burnout itself: seed
    100's tracks collapse to ballistic 3-5 s after burnout with l at the prior (7,000 kg/m^2,
    sigma 1.0; the boost mode's l is never handed on), the truth after burnout is the filters'
    own model, and the bias follows how the filter reads exp(-l) under a wide sigma (drag at
    exp(-m): low; at its mean exp(-m + s^2/2): high; the cubature prediction with drag at
    exp(-m) goes low too, mean -0.87). Narrower hand-over sigmas at burnout shrink it (EKF rms,
    seeds 100-147: 1.33 at sigma 1, 0.97 at 0.5; 100-111: 1.57, 1.15 at 0.7, 0.98 at 0.5; the
    cubature prediction's mean, 100-103, +0.54 -> +0.30 at 0.5), but a spent stage's track is
    handed the same prior at its own burnout (satellite-sohae's first stage, beta 1,500:
    ellipse coverage 83/96 at sigma 1, 79/97 at 0.7, 64/98 at 0.5)."""
    z = []
    for seed in range(100, 104):
        reports, truth = reports_of("srbm-salvo", seed=seed)
        result = run(reports, truth, Predictor(min_interval_s=1e9, with_ground_track=False))
        for u in result.updates:
            obj = truth.get(result.owner_of(u.track_id, u.time_s))
            if obj is None or u.x_log is None or not 170.0 <= u.time_s - obj.t0 <= 300.0:
                continue
            z.append((u.x_log[6] - np.log(5000.0)) / np.sqrt(u.P_log[6, 6]))
    z = np.array(z)
    assert z.size > 500
    assert np.sqrt(np.mean(z**2)) < 1.25, (z.mean(), np.sqrt(np.mean(z**2)))
