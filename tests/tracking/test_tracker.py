"""Track management and multi-sensor behaviour of :class:`kizuna.tracking.Tracker`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tracking_helpers import RADARS, SCAN_OFFSETS_S, SCAN_PERIODS_S, partner_points, plots

from kizuna.contract import LaunchReport, Marking, SensorRef
from kizuna.geo import ecef_to_lla
from kizuna.timefmt import format_time
from kizuna.tracking import Tracker
from kizuna.tracking.synthetic import RadarSpec, merge_by_time, radar_reports

MIDCOURSE = (130.0, 260.0)  # seconds after launch: a short, cheap window


def _window(reports, truth, start_s, end_s):
    return [r for r in reports if start_s <= r.t - truth.start_s < end_s]


def _final(updates):
    last = {}
    for u in updates:
        last[u.track_id] = u
    return last


def test_salvo_of_three_gives_three_tracks(mrbm_truth):
    """Three missiles launched 4 s apart on the same path: three tracks, each on one missile."""
    offsets = (0.0, 4.0, 8.0)
    rng = np.random.default_rng(7)
    streams = []
    for spec, period, phase in zip(RADARS, SCAN_PERIODS_S, SCAN_OFFSETS_S, strict=True):
        times = np.arange(mrbm_truth.start_s + 60.0 + phase, mrbm_truth.start_s + 330.0, period)
        pos = np.full((times.size, 3, 3), np.nan)
        for j, off in enumerate(offsets):
            ok = (times - off >= mrbm_truth.start_s) & (times - off <= mrbm_truth.end_s)
            pos[ok, j] = mrbm_truth.state_at(times[ok] - off)[:, :3]
        streams.append(radar_reports(spec, times, pos, rng))
    updates = Tracker().process(merge_by_time(*streams))
    ids = {u.track_id for u in updates}
    assert len(ids) == 3, ids
    owner: dict[str, set[int]] = {i: set() for i in ids}
    for u in updates:
        d = [np.linalg.norm(u.x[:3] - mrbm_truth.state_at(u.time_s - off)[:3]) for off in offsets]
        owner[u.track_id].add(int(np.argmin(d)))
        assert min(d) < 3_000.0
    assert sorted(len(v) for v in owner.values()) == [1, 1, 1]
    assert set().union(*owner.values()) == {0, 1, 2}


def test_shuffled_within_reorder_window_changes_nothing(mrbm_truth):
    reports = _window(plots(mrbm_truth, seed=11), mrbm_truth, *MIDCOURSE)
    base = _final(Tracker().process(reports))
    rng = np.random.default_rng(3)
    # Arrival order = time plus a delay of up to 2.9 s (inside the 3 s window).
    arrival = np.array([r.t for r in reports]) + rng.uniform(0.0, 2.9, len(reports))
    shuffled = [reports[i] for i in np.argsort(arrival)]
    assert shuffled != reports
    tracker = Tracker()
    again = _final(tracker.process(shuffled))
    assert tracker.late == 0
    assert base.keys() == again.keys() and len(base) == 1
    for key in base:
        assert again[key].time_s == base[key].time_s
        np.testing.assert_allclose(again[key].x[:6], base[key].x[:6], atol=1e-3)


def test_duplicates_change_nothing(mrbm_truth):
    reports = _window(plots(mrbm_truth, seed=12), mrbm_truth, *MIDCOURSE)
    base = Tracker().process(reports)
    doubled = []
    for i, r in enumerate(reports):
        doubled.append(r)
        doubled.append(r.model_copy(update={"range_m": r.range_m + 5_000.0}))  # same id
        if i % 7 == 0 and i > 0:
            doubled.append(reports[i - 1])
    tracker = Tracker()
    again = tracker.process(doubled)
    assert tracker.duplicates == len(doubled) - len(reports)
    assert [u.track_id for u in again] == [u.track_id for u in base]
    for a, b in zip(again, base, strict=True):
        np.testing.assert_array_equal(a.x, b.x)


def test_products_carry_sensors_nations_and_combined_marking(mrbm_truth):
    reports = _window(plots(mrbm_truth, seed=13), mrbm_truth, *MIDCOURSE)
    updates = Tracker().process(reports)
    last = updates[-1]
    assert set(last.sensors) == {spec.sensor_id for spec in RADARS}
    assert last.nations == ("JPN", "KOR", "USA")
    # KOR's radar is CONFIDENTIAL, releasable to KOR and USA only: the intersection wins.
    assert last.marking.classification == "SECRET"
    assert last.marking.releasable_to == ["KOR", "USA"]
    product = last.to_product()
    _, _, alt = ecef_to_lla(mrbm_truth.state_at(last.time_s)[:3])
    assert product.phase in ("midcourse", "terminal")
    assert abs(product.alt_m - alt) < 500.0
    assert product.position_sigma_m > 0


def test_boost_phase_is_reported_and_ends(mrbm, mrbm_truth):
    reports = _window(plots(mrbm_truth, seed=14), mrbm_truth, 20.0, 200.0)
    updates = Tracker().process(reports)
    assert len({u.track_id for u in updates}) == 1
    early = [u.phase for u in updates if u.time_s - mrbm_truth.start_s < mrbm.burn_s - 10.0]
    late = [u.phase for u in updates if u.time_s - mrbm_truth.start_s > mrbm.burn_s + 40.0]
    # Within two updates of confirmation the IMM settles on powered flight, and stays there.
    assert len(early) >= 4 and early[2:] == ["boost"] * (len(early) - 2), early
    assert late and all(p == "midcourse" for p in late), late
    # Thrust was estimated: the boost model's acceleration is tens of m/s^2 before burnout.
    thrust = [
        np.linalg.norm(u.thrust_ecef_mps2)
        for u in updates
        if 40.0 < u.time_s - mrbm_truth.start_s < mrbm.burn_s - 10.0
    ]
    assert np.median(thrust) > 15.0


def test_launch_report_seeds_the_track(mrbm_truth):
    site_lat, site_lon, _ = ecef_to_lla(mrbm_truth.state[0, :3])
    launch = LaunchReport(
        id="SBIRS:000001",
        time=format_time(mrbm_truth.start_s),
        kind="launch",
        sensor=SensorRef(id="USA-SBIRS", nation="USA", lat=0.0, lon=140.0, alt_m=35_786_000.0),
        lat=float(site_lat) + 0.01,
        lon=float(site_lon) - 0.01,
        sigma_m=2_000.0,
        marking=Marking(classification="SECRET", releasable_to=["JPN", "KOR", "USA"]),
    )
    reports = [launch, *_window(plots(mrbm_truth, seed=15), mrbm_truth, 30.0, 200.0)]
    updates = Tracker().process(reports)
    ids = {u.track_id for u in updates}
    assert len(ids) == 1
    assert updates[0].launch is not None and updates[0].launch[0] == pytest.approx(launch.t)
    # The seed is an input, not a radar: the track lists only the radars that saw it.
    assert "USA-SBIRS" not in updates[-1].sensors
    assert "USA" in updates[-1].nations


def test_partner_track_is_fused_and_keeps_its_number(mrbm_truth):
    t0 = mrbm_truth.start_s
    radar = _window(plots(mrbm_truth, seed=16, radars=RADARS[:1]), mrbm_truth, *MIDCOURSE)
    partner = partner_points(mrbm_truth, 5, np.arange(t0 + 140.5, t0 + 255.0, 4.0), sigma_m=40.0)
    alone = _final(Tracker().process(radar))
    fused_updates = Tracker().process(merge_by_time(radar, partner))
    fused = _final(fused_updates)
    assert len(fused) == 1 and len(alone) == 1
    (f,), (a,) = fused.values(), alone.values()
    assert f.track_refs == {"KOR": "K-17"}
    assert f.nations == ("JPN", "KOR")
    assert f.marking.releasable_to == ["KOR", "USA"]
    # Fusion helps (trace of the position covariance shrinks) but stays consistent.
    assert np.trace(f.P[:3, :3]) < np.trace(a.P[:3, :3])
    e = f.x[:3] - mrbm_truth.state_at(f.time_s)[:3]
    assert e @ np.linalg.solve(f.P[:3, :3], e) < 16.3  # chi-square(3) 99.9 %


def test_exercise_reports_never_join_real_tracks(mrbm_truth):
    real = _window(plots(mrbm_truth, seed=17), mrbm_truth, *MIDCOURSE)
    drill = _window(plots(mrbm_truth, seed=18, exercise=True), mrbm_truth, *MIDCOURSE)
    drill = [r.model_copy(update={"id": "X-" + r.id}) for r in drill]
    updates = Tracker().process(merge_by_time(real, drill))
    by_id: dict[str, set[bool]] = {}
    for u in updates:
        by_id.setdefault(u.track_id, set()).add(u.exercise)
    assert sorted(map(sorted, by_id.values())) == [[False], [True]]


def test_late_report_beyond_window_is_dropped(mrbm_truth):
    reports = _window(plots(mrbm_truth, seed=19), mrbm_truth, *MIDCOURSE)
    tracker = Tracker()
    tracker.process(reports[:-1])
    assert tracker.ingest(reports[0]) is False  # duplicate
    old = reports[10].model_copy(update={"id": "late-1"})
    assert tracker.ingest(old) is False and tracker.late == 1
    assert math.isfinite(tracker.tracks()[0].time_s)


def test_more_sensors_than_the_initial_table_width(mrbm_truth):
    """Sensors registered mid-run grow the per-track sensor table (a shipped scenario has 11)."""
    specs = [RadarSpec(f"R{i:02d}", "JPN", 34.0 + 0.3 * i, 131.0 + 0.4 * i, 0.0) for i in range(11)]
    rng = np.random.default_rng(23)
    streams = []
    for i, spec in enumerate(specs):
        times = np.arange(mrbm_truth.start_s + 130.0 + 0.1 * i, mrbm_truth.start_s + 200.0, 4.0)
        streams.append(radar_reports(spec, times, mrbm_truth.state_at(times)[:, :3], rng))
    updates = Tracker().process(merge_by_time(*streams))
    assert len({u.track_id for u in updates}) == 1
    assert len(updates[-1].sensors) == 11


def test_log_beta_sigma_stays_within_the_prior(mrbm_truth):
    """The ln(beta) random walk in air does not let a track's sigma grow past the cap (here
    the prior's; the boost grows it past that without the cap; the IMM's two modes may add a
    little spread between them)."""
    from kizuna.tracking import TrackerConfig
    from kizuna.tracking.initiation import LOG_BETA_SIGMA

    reports = plots(mrbm_truth, seed=5)
    capped = Tracker(TrackerConfig(log_beta_sigma_max=LOG_BETA_SIGMA)).process(reports)
    free = Tracker(TrackerConfig(log_beta_sigma_max=math.inf)).process(reports)
    sigma = [math.sqrt(u.P_log[6, 6]) for u in capped]
    assert max(sigma) <= 1.01 * LOG_BETA_SIGMA
    assert max(math.sqrt(u.P_log[6, 6]) for u in free) > 1.05 * LOG_BETA_SIGMA


@pytest.mark.parametrize(("period_s", "confirmed_at"), [(1.0, 1), (2.0, 1), (5.0, 2)])
def test_consecutive_plots_of_one_radar_confirm_at_once(mrbm_truth, period_s, confirmed_at):
    """A lone object seen by one radar: a start from plots at most confirm_short_dt_s (2.5 s)
    apart is published on its second plot; from plots 5 s apart, on its third."""
    spec = RADARS[0]
    times = mrbm_truth.start_s + MIDCOURSE[0] + period_s * np.arange(4)
    reports = radar_reports(
        spec, times, mrbm_truth.state_at(times)[:, None, :3], np.random.default_rng(5)
    )
    tracker = Tracker()
    first = None
    for i, report in enumerate(reports):
        tracker.ingest(report)
        if tracker.advance(report.t + tracker.config.reorder_window_s + 1e-3):
            first = i
            break
    assert first == confirmed_at
    (update,) = tracker.tracks()
    assert np.linalg.norm(update.x[:3] - mrbm_truth.state_at(update.time_s)[:3]) < 2_000.0


def test_pair_hypotheses_flags_competing_partners():
    """Two-point start candidates: each new plot keeps partners within twice its nearest's
    distance (at most per_plot), and a start is ambiguous when its new plot keeps another
    partner of the same pool scan or its pool plot is kept by another new plot. Pool times
    are POSIX seconds (scan keys far beyond any array length)."""
    from kizuna.tracking.tracker import _pair_hypotheses

    t0 = 1_795_000_000.0
    pool_t = np.array([t0, t0 + 0.05, t0 + 1.0, t0 + 1.0, t0 + 2.0])
    # new plot 0: partners 0 and 1 (one pool scan), 2 (another scan), 3 too far;
    # new plot 1: partner 4 alone; new plot 2: partner 2, shared with new plot 0.
    rows = np.array([0, 0, 0, 0, 1, 2])
    cols = np.array([0, 1, 2, 3, 4, 2])
    dist = np.array([1000.0, 1500.0, 1900.0, 5000.0, 800.0, 700.0])
    r, c, ambiguous = _pair_hypotheses(rows, cols, dist, pool_t, 3, 0.25)
    got = {(int(a), int(b)): bool(f) for a, b, f in zip(r, c, ambiguous, strict=True)}
    assert got == {(0, 0): True, (0, 1): True, (0, 2): True, (1, 4): False, (2, 2): True}


def test_log_beta_floor_and_cap_scale_the_row_and_column():
    """_floor_log_beta raises ln(beta) sigmas below the floor to it and _cap_log_beta lowers
    those above the cap, each by scaling the row and column, so correlations are kept;
    rows already inside are untouched."""
    from kizuna.tracking.motion import LOG_BETA
    from kizuna.tracking.tracker import _cap_log_beta, _floor_log_beta

    rng = np.random.default_rng(3)
    A = rng.normal(size=(3, 2, 10, 10))
    Pm = A @ np.swapaxes(A, -1, -2) + np.eye(10)
    Pm[:, :, LOG_BETA, :] *= 0.1
    Pm[:, :, :, LOG_BETA] *= 0.1  # ln(beta) sigmas ~0.3-0.5
    before = Pm.copy()
    _floor_log_beta(Pm, np.array([0, 2]), 1.2)
    sigma = np.sqrt(Pm[:, :, LOG_BETA, LOG_BETA])
    np.testing.assert_allclose(sigma[[0, 2]], 1.2)
    np.testing.assert_array_equal(Pm[1], before[1])

    def corr(P):
        d = np.sqrt(np.einsum("...ii->...i", P))
        return P / (d[..., :, None] * d[..., None, :])

    np.testing.assert_allclose(corr(Pm), corr(before), atol=1e-12)
    _cap_log_beta(Pm, np.array([0, 1, 2]), 1.0)
    np.testing.assert_allclose(np.sqrt(Pm[[0, 2], :, LOG_BETA, LOG_BETA]), 1.0)
    np.testing.assert_array_equal(Pm[1], before[1])
