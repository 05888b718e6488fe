"""One object gives one system track; an object that splits in two gives two honest tracks.

* Merge: one missile seen by three nations' radars, one of them with a range bias of three of
  its sigmas (registration error), and a partner's track reported beside ours: one track,
  carrying every sensor, nation and partner track number.
* Split: irbm-overflight (the spent body separates from the warhead at burnout, 3 m/s apart):
  two tracks, one on each object, with 6-D NEES of the coasting updates near the chi-square
  mean (both used to settle between the objects at 10 m sigmas, NEES in the thousands).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from functools import cache

import numpy as np
import pytest
from scipy.stats import chi2
from tracking_helpers import partner_points, plots

from kizuna.contract import SensorRef, parse_report
from kizuna.sensors.scenario import load_scenario
from kizuna.sensors.simulate import simulate
from kizuna.tracking import Tracker
from kizuna.tracking.tracker import TrackerConfig

NEES_999 = float(chi2.ppf(0.999, 6))  # 22.46


def _biased(reports, nation: str, range_bias_m: float):
    return [
        r.model_copy(update={"range_m": r.range_m + range_bias_m})
        if r.sensor.nation == nation
        else r
        for r in reports
    ]


@pytest.mark.parametrize("seed", range(5))
def test_radars_of_three_nations_one_biased_give_one_track(mrbm_truth, seed):
    """JPN's radar reads every range 150 m long (3 sigma): its plots fall outside the common
    track's gate now and then and start a track of their own, which must fold back."""
    updates = Tracker().process(_biased(plots(mrbm_truth, seed=seed), "JPN", 150.0))
    ids = Counter(u.track_id for u in updates)
    assert len(ids) == 1, ids
    last = updates[-1]
    assert last.nations == ("JPN", "KOR", "USA")
    assert set(last.sensors) == {"JPN-FPS5-1", "KOR-GP-1", "USA-TPY2-1"}
    # The marking of everything that fed it: the highest classification, releasable only
    # where every input is (KOR's radar: KOR and USA).
    assert last.marking.classification == "SECRET"
    assert last.marking.releasable_to == ["KOR", "USA"]


def test_partner_track_beside_ours_is_folded_and_keeps_its_number(mrbm_truth):
    """A partner reports our missile 250 m off with a 40 m sigma: its first report starts a
    second track. Published, the pair passes the duplicate test scan after scan and is
    folded into the older track, which carries the partner's number and marking on."""
    t0 = mrbm_truth.start_s
    radar = [r for r in plots(mrbm_truth, seed=21) if 130.0 <= r.t - t0 < 300.0]
    jadge = SensorRef(id="JPN-JADGE", nation="JPN", lat=35.7, lon=139.7, alt_m=0.0)
    partner = partner_points(
        mrbm_truth,
        5,
        np.arange(t0 + 150.5, t0 + 290.0, 5.0),
        "JADGE-1001",
        40.0,
        sensor=jadge,
        releasable_to=("JPN", "USA"),
        offset_east_m=250.0,
        velocity_sigma_mps=20.0,
    )
    reports = sorted([*radar, *partner], key=lambda r: r.t)
    updates = Tracker().process(reports)
    first = updates[0].track_id
    by_id = defaultdict(list)
    for u in updates:
        by_id[u.track_id].append(u)
    # A second track may be published for a few scans before the test has held three times;
    # from then on there is one, the older, and it has taken the partner's track over.
    tail = [u for u in updates if u.time_s > t0 + 200.0]
    assert {u.track_id for u in tail} == {first}, sorted(by_id)
    last = tail[-1]
    assert last.track_refs == {"JPN": "JADGE-1001"}
    assert "JPN-JADGE" in last.sensors
    assert last.marking.releasable_to == ["USA"]  # radars: KOR, USA; partner: JPN, USA
    # Still an honest estimate of the missile (the partner's 250 m are fused in by
    # covariance intersection, not taken at face value).
    e = last.x[:3] - mrbm_truth.state_at(last.time_s)[:3]
    assert e @ np.linalg.solve(last.P[:3, :3], e) < float(chi2.ppf(0.999, 3))


@pytest.mark.parametrize(
    ("offset_m", "first_phase"), [(3_000.0, "unknown"), (50_000.0, "midcourse")]
)
def test_partner_track_beside_ours_starts_unknown(mrbm_truth, offset_m, first_phase):
    """A partner's track that starts a track of its own 3 km beside one of ours (not a
    duplicate: 75 of its sigmas off) may be a piece that left our object, which may be
    lighting a next stage: the new track is ``unknown`` until its data show a coast, not
    ``midcourse`` from its prior. One 50 km away is a new object first seen in midcourse."""
    t0 = mrbm_truth.start_s
    radar = [r for r in plots(mrbm_truth, seed=21) if 130.0 <= r.t - t0 < 200.0]
    partner = partner_points(
        mrbm_truth,
        5,
        np.arange(t0 + 150.5, t0 + 200.0, 1.0),
        "JADGE-2002",
        40.0,
        sensor=SensorRef(id="JPN-JADGE", nation="JPN", lat=35.7, lon=139.7, alt_m=0.0),
        releasable_to=("JPN", "USA"),
        offset_east_m=offset_m,
        velocity_sigma_mps=20.0,
    )
    updates = Tracker().process(sorted([*radar, *partner], key=lambda r: r.t))
    theirs = [u for u in updates if u.track_refs == {"JPN": "JADGE-2002"}]
    assert theirs and theirs[0].track_id != updates[0].track_id
    born = theirs[0].time_s
    assert {u.phase for u in theirs if u.time_s - born < 5.0} == {first_phase}
    assert theirs[-1].phase == "midcourse"


@cache
def _irbm(seed: int):
    """irbm-overflight with noise ``seed``: reports and the true objects' states (callables)."""
    scenario = dataclasses.replace(load_scenario("irbm-overflight"), seed=seed)
    sim = simulate(scenario)
    reports = [parse_report(r) for r in sim.reports]
    truth = {o.object_id: o.trajectory for o in sim.objects}
    return reports, truth


def _owners_and_nees(updates, truth, settle_s=30.0):
    """Each track's majority object (nearest within 20 km) and the 6-D NEES of its coasting
    updates (``settle_s`` after its start and after the object's burnout)."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for u in updates:
        d = {
            oid: np.linalg.norm(traj.state_at(u.time_s)[:3] - u.x[:3])
            for oid, traj in truth.items()
            if traj.start_s <= u.time_s <= traj.end_s
        }
        if d and min(d.values()) < 20_000.0:
            votes[u.track_id][min(d, key=d.get)] += 1
    owner = {tid: v.most_common(1)[0][0] for tid, v in votes.items()}
    burnout = {}
    for oid, traj in truth.items():
        powered = getattr(traj, "powered", None)
        burnout[oid] = (
            float(traj.time_s[np.flatnonzero(powered)[-1]])
            if powered is not None and np.any(powered)
            else traj.start_s
        )
    first: dict[str, float] = {}
    nees: dict[str, list[float]] = defaultdict(list)
    for u in updates:
        first.setdefault(u.track_id, u.time_s)
        oid = owner.get(u.track_id)
        if oid is None or u.phase == "boost":
            continue
        traj = truth[oid]
        if not max(first[u.track_id], burnout[oid]) + settle_s <= u.time_s <= traj.end_s:
            continue
        e = u.x[:6] - traj.state_at(u.time_s)
        nees[u.track_id].append(float(e @ np.linalg.solve(u.P[:6, :6], e)))
    return owner, {tid: np.array(v) for tid, v in nees.items()}


@cache
def _tracked(seed: int):
    """irbm-overflight with noise ``seed`` through the tracker: (updates, truth)."""
    reports, truth = _irbm(seed)
    return Tracker().process(reports), truth


def _check_split(seed):
    updates, truth = _tracked(seed)
    owner, nees = _owners_and_nees(updates, truth)
    assert len(owner) == 2, owner
    assert sorted(owner.values()) == sorted(truth), owner  # one track on each object
    return nees


def test_stage_separation_gives_two_honest_tracks():
    """Seed 100 (before split children lived on: two tracks, the warhead's ~1.2x
    overconfident over the flight, mean 7.2, with 3.5 % of its updates above chi2(6) 99.9 %
    from the ~90 s after separation while the objects were under 300 m apart; before that,
    four tracks, NEES ~3,600 and ~5,600): two tracks, warhead and spent body, each with a
    coasting NEES near 6 and no more of its updates in the chi2(6) 0.1 % tail than chance
    gives (measured: means 4.4 and 3.6, none in the tail)."""
    nees = _check_split(100)
    for tid, values in nees.items():
        assert values.size > 500, tid
        assert 2.0 < values.mean() < 8.0, (tid, values.mean())
        assert np.mean(values > NEES_999) < 0.01, (tid, np.mean(values > NEES_999))


@pytest.mark.slow
def test_stage_separation_over_seeds():
    """Seeds 100-107: always two tracks, one per object, and a run-mean NEES near 6 on every
    seed (measured 2.9-4.1, on the cautious side: the tracks fade while their plots are in
    doubt. Before split children lived on, seed 102 failed: a warhead track on a ghost,
    per-track mean 62.5, and seed 104's warhead track was at 12.7; before the merge-split
    work: 1,498, 4.8, 1,659, 2,903 on 100-103). Which seeds hold a ghost pair depends on the
    machine's floating point (the lead measured seed 110 at ~47; on an AMD EPYC it was seed
    105 at 38.7, the pair test of Tracker._ghost_pairs takes it to 9.0; the others of
    100-107 measured there 3.0-4.2)."""
    means = {}
    for seed in range(100, 108):
        nees = _check_split(seed)
        means[seed] = float(np.concatenate(list(nees.values())).mean())
    assert all(2.0 < m < 12.0 for m in means.values()), means


def test_a_plot_its_track_missed_by_a_hair_starts_no_third_track():
    """Seed 134, 112 s after the separation (objects 338 m apart): the warhead's track missed
    its own plot of one scan (d2 18.4 against the gate's 17.7) and the stage's track gated it.
    Before, that plot started a split child of the stage's track, confirmed on the warhead's
    next plots: a third track on the warhead until folded, both tracks widened as at a
    separation. Now the plot is the missed track's (Tracker._claimed_by_missed): two tracks,
    one per object."""
    nees = _check_split(134)
    assert len(nees) == 2


def test_piece_born_at_separation_is_not_coasting_until_it_settles():
    """The track that takes up the piece leaving the parent (seed 100: a split child of the
    parent's track, born in the separation's first second) is not ``midcourse`` from its
    prior at birth and through its first ``phase_settle_s``: whether the piece that goes on is
    thrusting (a payload's next stage) is for its data to show. It is ``unknown``, or
    ``boost`` when it took its parent's boost probability in the burn's last second (an
    undecided track is declared powered at once: no impact point, the cautious side). Later
    it coasts."""
    updates, truth = _tracked(100)
    separation = truth["L1-M1-S1"].start_s
    settle = TrackerConfig().phase_settle_s
    first: dict[str, float] = {}
    phases: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for u in updates:
        first.setdefault(u.track_id, u.time_s)
        phases[u.track_id].append((u.time_s - first[u.track_id], u.phase))
    pieces = [tid for tid, t in first.items() if t > separation]
    assert pieces, first
    for tid in pieces:
        # Ages count from the first published update, at confirmation, a scan or two after
        # the birth that phase_settle_s counts from: half of it is inside for sure.
        early = {phase for age, phase in phases[tid] if age < settle / 2}
        assert early and early <= {"unknown", "boost"}, (tid, early)
        assert "midcourse" in {phase for _, phase in phases[tid]}, tid


def test_clear_of_tracks_takes_each_point_at_its_own_time(mrbm_truth):
    """Partners' reports in one batch carry their own times: each is checked against our
    tracks extrapolated to its time (srbm-salvo seed 117 crashed when 2 points met 3 tracks,
    and one time per batch would call a point beside a track that has since flown on)."""
    t0 = mrbm_truth.start_s
    tracker = Tracker()
    updates = tracker.process([r for r in plots(mrbm_truth, seed=21) if 130.0 <= r.t - t0 < 200.0])
    last = updates[-1]
    here = mrbm_truth.state_at(last.time_s)[:3]
    points = np.array([here, here, here + 1e6])
    times = np.array([last.time_s, last.time_s + 30.0, last.time_s])  # 30 s on: > 50 km away
    clear = tracker._clear_of_tracks(points, times, np.zeros(3, bool))
    assert clear.tolist() == [False, True, True]
    assert tracker._clear_of_tracks(points[:1], last.time_s, np.zeros(1, bool)).tolist() == [False]
    # An exercise start beside a real-world track is clear of it.
    assert tracker._clear_of_tracks(points[:1], last.time_s, np.ones(1, bool)).tolist() == [True]


def test_piece_left_behind_is_not_overconfident_after_the_separation():
    """satellite-sohae: the payload lights its third stage at ~536 s beside its coasting spent
    second stage, and for the next ~10 s the two are closer than the radars' 1-3 km of
    cross-range noise, so the stage's track takes the payload's plots too and is pulled
    ~40 m/s. Its covariance must say so (the separation's velocity doubt, given to the parent
    when the child is confirmed): over the stage's track from 10 s after ignition to its last
    update the mean 6-D NEES was 20.8 (30 % of updates above chi2(6) 99.9 %); now 12.0. Still
    ~2x overconfident in the first minute (see Tracker._widen_parents), hence the bound."""
    sim = simulate(load_scenario("satellite-sohae"))
    truth = {o.object_id: o.trajectory for o in sim.objects}
    satellite = truth["L1-V1"]
    lit = np.flatnonzero(satellite.powered[1:] & ~satellite.powered[:-1])
    ignition = float(satellite.time_s[lit[-1] + 1])  # the third stage lights after the coast
    updates = Tracker().process(parse_report(r) for r in sim.reports)
    values: dict[str, list[float]] = defaultdict(list)
    for u in updates:
        if u.time_s < ignition + 10.0:
            continue
        e = u.x[:6] - truth["L1-V1-S2"].state_at(u.time_s)
        if np.linalg.norm(e[:3]) < np.linalg.norm(u.x[:3] - satellite.state_at(u.time_s)[:3]):
            values[u.track_id].append(float(e @ np.linalg.solve(u.P[:6, :6], e)))
    # One track stays on the stage (the payload's may pass nearer it for an update or two).
    values = max(values.values(), key=len)
    assert len(values) > 300
    assert np.mean(values) < 16.0, np.mean(values)
    assert np.mean(np.array(values) > NEES_999) < 0.2


def test_compiled_moved_mode_average_equals_the_numpy_forms():
    """kernels.moved_mode_average (the duplicate test's estimates, one compiled loop) is the
    mode-weighted (r, v) and covariance of the table's rows moved by tracker._shift, to the
    bit; dt = 0 leaves them where they are."""
    from kizuna.tracking.kernels import moved_mode_average
    from kizuna.tracking.tracker import _shift

    rng = np.random.default_rng(51)
    xm = rng.normal(size=(12, 2, 10)) * 1e3
    A = rng.normal(size=(12, 2, 10, 10))
    Pm = A @ A.mT
    mu = rng.uniform(0.0, 1.0, (12, 2))
    mu[3] = (0.0, 1.0)
    slots = np.array([7, 3, 0, 11, 5], np.intp)
    dt = np.array([0.5, -2.0, 0.0, 3.0, 0.25])
    x, P = moved_mode_average(xm, Pm, mu, slots, dt)
    x_ref = np.einsum("kj,kji->ki", mu[slots], xm[slots][:, :, :6])
    P_ref = np.einsum("kj,kjab->kab", mu[slots], Pm[slots][:, :, :6, :6])
    xs, Ps = _shift(x_ref[:, None], P_ref[:, None], dt)
    np.testing.assert_array_equal(x, xs[:, 0])
    np.testing.assert_array_equal(P, Ps[:, 0])


def _ghost(first, second, t, near, far):
    """The state at ``t`` of the point at ``first``'s range from the radars at ``near`` and
    at ``second``'s from those at ``far`` (three sites in all: the point is determined), its
    velocity by a difference over 0.5 s: a ghost of the pair (first, second)."""

    def point(t):
        a, b = first.state_at(t)[:3], second.state_at(t)[:3]
        sites = [*near, *far]
        rho = np.array([np.linalg.norm(a - o) for o in near] + [np.linalg.norm(b - o) for o in far])
        x = 0.5 * (a + b)
        for _ in range(8):
            H = np.array([(x - o) / np.linalg.norm(x - o) for o in sites])
            x = x + np.linalg.solve(H, rho - np.linalg.norm(x - np.array(sites), axis=1))
        return x

    p0, p1 = point(t), point(t + 0.5)
    return np.concatenate([p0, (p1 - p0) / 0.5])


def test_ghost_pair_is_moved_onto_the_objects():
    """Two tracks on ghosts (see kizuna.tracking.ghosts): seed 100's tracks, each on its
    object 40 s after the separation, are set on the two points that take one object's range
    from Shariki's and Kyogamisaki's TPY-2s and the other's from Seongju's (~120-180 m from
    both objects, as irbm-overflight seed 105's pair settled by itself). Each radar's plots
    fit them in range, so nothing per scan tells them wrong: before, they stayed ghosts for
    ~50 s (from 20 s to 45 s after the injection, 6-D NEES 34-500 against the nearer object).
    The pair test finds the labelling the radars agree on and moves them once it wins:
    from 20 s on, each track is on an object of its own with an
    honest covariance (measured: NEES 1-5 at 20, 30 and 45 s; fails before with means of
    60-190)."""
    reports, truth = _irbm(100)
    warhead, stage = truth["L1-M1"], truth["L1-M1-S1"]
    cut = stage.start_s + 40.0
    tracker = Tracker()
    tracker.process([r for r in reports if r.t < cut])
    tab = tracker.table
    live = np.flatnonzero(tab.alive[: tab.n])
    assert live.size == 2
    site = {sid: tracker.frames.origins[tracker.frames.index[sid]] for sid in tracker._sensor_ids}
    near = [site["USA-TPY2-SHARIKI"], site["USA-TPY2-KYOGAMISAKI"]]
    far = [site["USA-TPY2-SEONGJU"]]
    for slot in live:
        x = np.einsum("j,ji->i", tab.mu[slot], tab.xm[slot, :, :6])
        t = float(tab.t[slot])
        d = [np.linalg.norm(x[:3] - o.state_at(t)[:3]) for o in (warhead, stage)]
        on, other = (warhead, stage) if d[0] < d[1] else (stage, warhead)
        tab.xm[slot, :, :6] = _ghost(on, other, t, near, far)
    updates = tracker.process([r for r in reports if r.t >= cut])
    nees: dict[str, list[float]] = defaultdict(list)
    nearest: dict[str, Counter] = defaultdict(Counter)
    for u in updates:
        if not cut + 20.0 <= u.time_s <= cut + 45.0:
            continue
        values = {}
        for oid, traj in (("warhead", warhead), ("stage", stage)):
            e = u.x[:6] - traj.state_at(u.time_s)
            values[oid] = float(e @ np.linalg.solve(u.P[:6, :6], e))
        oid = min(values, key=values.get)
        nees[u.track_id].append(values[oid])
        nearest[u.track_id][oid] += 1
    assert len(nees) == 2, sorted(nees)
    owners = {tid: c.most_common(1)[0][0] for tid, c in nearest.items()}
    assert sorted(owners.values()) == ["stage", "warhead"], owners
    for tid, values in nees.items():
        assert np.mean(values) < 12.0, (tid, np.mean(values))
