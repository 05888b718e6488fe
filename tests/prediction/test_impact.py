"""Impact point, time and 95 % ellipse: accuracy, calibrated coverage, forms agree."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from kizuna.geo.geodesic import distance_m
from kizuna.physics.propagate import propagate_to_impact
from kizuna.prediction.impact import (
    CHI2_2D_95,
    covariance_from_ellipse,
    ellipse_from_covariance,
    ground_tracks,
    in_ellipse,
    local_en_m,
    predict_impact,
)

# A converged midcourse track: 150 m and 4 m/s 1-sigma per axis, with some correlation.
_SIGMAS = np.array([150.0, 150.0, 150.0, 4.0, 4.0, 4.0])
_CORR = np.eye(6)
_CORR[0, 3] = _CORR[3, 0] = 0.5
_CORR[1, 4] = _CORR[4, 1] = -0.3
P_MID = _CORR * np.outer(_SIGMAS, _SIGMAS)


def _draws(flight, runs: int, seed: int, coast_s: float = 60.0):
    """States drawn from N(truth, P_MID): what a consistent filter would report."""
    truth, t = flight.state_after_burnout(coast_s)
    rng = np.random.default_rng(seed)
    states = truth + rng.standard_normal((runs, 6)) @ np.linalg.cholesky(P_MID).T
    true_impact = propagate_to_impact(truth[None], t, flight.vehicle.ballistic_coefficient_kg_m2)
    return states, t, true_impact


def _coverage(flight, runs: int, seed: int) -> tuple[int, int]:
    states, t, true_impact = _draws(flight, runs, seed)
    est = predict_impact(
        states, np.broadcast_to(P_MID, (runs, 6, 6)), t, flight.vehicle.ballistic_coefficient_kg_m2
    )
    assert np.all(est.hit_probability == 1.0)
    inside = in_ellipse(
        true_impact.lat_deg,
        true_impact.lon_deg,
        est.lat_deg,
        est.lon_deg,
        est.semi_major_m,
        est.semi_minor_m,
        est.orientation_deg,
    )
    return int(inside.sum()), runs


def test_small_covariance_gives_the_true_impact(srbm):
    truth, t = srbm.state_after_burnout(30.0)
    P = np.diag([1.0] * 3 + [0.01**2] * 3)
    est = predict_impact(truth[None], P[None], t, srbm.vehicle.ballistic_coefficient_kg_m2)
    # Same physics, same integrator: only the sigma-point spread can move the mean.
    assert distance_m(est.lat_deg, est.lon_deg, srbm.impact.lat_deg, srbm.impact.lon_deg)[0] < 2.0
    assert abs(est.time_s[0] - srbm.impact.time_s[0]) < 0.01
    assert est.semi_major_m[0] < 100.0


def test_ellipse_coverage_is_95_percent(srbm):
    # 120 seeded draws: the count must be a plausible Binomial(120, 0.95) outcome (two-sided
    # p > 0.01; the slow test below pins the rate to 93-97 % with 1,000 draws).
    inside, runs = _coverage(srbm, 120, seed=11)
    assert binomtest(inside, runs, 0.95).pvalue > 0.01, inside


@pytest.mark.slow
@pytest.mark.parametrize("name", ["srbm", "mrbm"])
def test_ellipse_coverage_many_runs(name, request):
    inside, runs = _coverage(request.getfixturevalue(name), 1000, seed=5)
    assert 0.93 <= inside / runs <= 0.97, inside


def test_unscented_agrees_with_monte_carlo(srbm):
    states, t, _ = _draws(srbm, 1, seed=2)
    beta = srbm.vehicle.ballistic_coefficient_kg_m2
    ut = predict_impact(states, P_MID[None], t, beta)
    mc = predict_impact(
        states,
        P_MID[None],
        t,
        beta,
        method="monte_carlo",
        samples=3000,
        rng=np.random.default_rng(4),
    )
    assert mc.method[0] == "monte_carlo" and ut.method[0] == "unscented"
    # 3,000 samples estimate a standard deviation to ~1.3 %; the means to ~2 % of sigma.
    assert mc.semi_major_m[0] == pytest.approx(ut.semi_major_m[0], rel=0.06)
    assert mc.semi_minor_m[0] == pytest.approx(ut.semi_minor_m[0], rel=0.06)
    assert abs(mc.orientation_deg[0] - ut.orientation_deg[0]) < 3.0
    offset = distance_m(mc.lat_deg, mc.lon_deg, ut.lat_deg, ut.lon_deg)[0]
    assert offset < 0.1 * ut.semi_minor_m[0]
    assert mc.time_sigma_s[0] == pytest.approx(ut.time_sigma_s[0], rel=0.08)


def test_batch_equals_one_by_one(srbm, mrbm):
    a, ta = srbm.state_after_burnout(10.0)
    b, tb = mrbm.state_after_burnout(100.0)
    betas = [srbm.vehicle.ballistic_coefficient_kg_m2, mrbm.vehicle.ballistic_coefficient_kg_m2]
    both = predict_impact(np.stack([a, b]), np.stack([P_MID, 4 * P_MID]), [ta, tb], betas)
    alone = predict_impact(b[None], 4 * P_MID[None], tb, betas[1])
    assert both.lat_deg[1] == pytest.approx(alone.lat_deg[0], abs=1e-9)
    assert both.lon_deg[1] == pytest.approx(alone.lon_deg[0], abs=1e-9)
    assert both.semi_major_m[1] == pytest.approx(alone.semi_major_m[0], rel=1e-9)
    assert both.time_s[1] == pytest.approx(alone.time_s[0], abs=1e-6)


def test_seven_state_with_known_inverse_beta_matches_six_state(srbm):
    x, t = srbm.state_after_burnout(60.0)
    beta = srbm.vehicle.ballistic_coefficient_kg_m2
    P7 = np.zeros((7, 7))
    P7[:6, :6] = P_MID
    P7[6, 6] = (1e-3 / beta) ** 2  # 0.1 % of 1/beta: the drag barely matters at this speed
    six = predict_impact(x[None], P_MID[None], t, beta)
    seven = predict_impact(np.append(x, 1.0 / beta)[None], P7[None], t)
    assert distance_m(six.lat_deg, six.lon_deg, seven.lat_deg, seven.lon_deg)[0] < 1.0
    assert seven.semi_major_m[0] == pytest.approx(six.semi_major_m[0], rel=0.02)


def test_ellipse_geometry():
    # East-west variance 4x the north-south one: major axis due east (90 deg).
    major, minor, orient = ellipse_from_covariance(np.diag([4e6, 1e6]))
    assert major == pytest.approx(np.sqrt(CHI2_2D_95 * 4e6))
    assert minor == pytest.approx(np.sqrt(CHI2_2D_95 * 1e6))
    assert orient == pytest.approx(90.0)
    # North-east major axis: 45 deg; and the round trip through the ellipse is exact.
    rot = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2.0)
    cov = rot.T @ np.diag([9e4, 1e4]) @ rot
    major, minor, orient = ellipse_from_covariance(cov)
    assert orient == pytest.approx(45.0)
    np.testing.assert_allclose(covariance_from_ellipse(major, minor, orient), cov, atol=1e-6)


def test_in_ellipse_boundary():
    # 10 km x 2 km ellipse pointing north-east: inside along the major axis, outside across.
    lat0, lon0 = 35.0, 135.0
    from kizuna.prediction.impact import from_local_en_m

    along = from_local_en_m(lat0, lon0, np.array([[9.9e3, 9.9e3], [10.1e3, 10.1e3]]) / np.sqrt(2))
    across = from_local_en_m(lat0, lon0, np.array([[1.9e3, -1.9e3], [2.1e3, -2.1e3]]) / np.sqrt(2))
    assert in_ellipse(along[0], along[1], lat0, lon0, 10e3, 2e3, 45.0).tolist() == [True, False]
    assert in_ellipse(across[0], across[1], lat0, lon0, 10e3, 2e3, 45.0).tolist() == [True, False]
    en = local_en_m(lat0, lon0, along[0], along[1])
    np.testing.assert_allclose(np.hypot(en[:, 0], en[:, 1]), [9.9e3, 10.1e3], rtol=1e-9)


def test_points_that_never_come_down_are_not_averaged():
    # A circular 400 km orbit: nothing lands within the horizon.
    r = 6_778_137.0
    v_inertial = np.sqrt(3.986004418e14 / r)
    x = np.array([r, 0.0, 0.0, 0.0, v_inertial - 7.292115e-5 * r, 0.0])
    est = predict_impact(
        x[None], np.diag([100.0] * 3 + [1.0] * 3)[None], 0.0, np.inf, max_duration_s=1200.0
    )
    assert est.hit_probability[0] == 0.0
    assert np.isnan(est.lat_deg[0]) and np.isnan(est.semi_major_m[0])


def test_straddling_distribution_reports_hit_probability(srbm):
    # Velocity so uncertain that part of the distribution flies beyond the short horizon:
    # the sigma points disagree, so Monte Carlo decides, conditionally on landing.
    x, t = srbm.state_after_burnout(0.0)
    P = np.diag([100.0] * 3 + [400.0**2] * 3)
    horizon = float(srbm.impact.time_s[0] - t) + 20.0
    est = predict_impact(
        x[None],
        P[None],
        t,
        srbm.vehicle.ballistic_coefficient_kg_m2,
        samples=200,
        rng=np.random.default_rng(0),
        max_duration_s=horizon,
    )
    assert est.method[0] == "monte_carlo"
    assert 0.05 < est.hit_probability[0] < 0.95
    assert np.isfinite(est.lat_deg[0]) and est.time_s[0] < t + horizon


def test_ground_track_ends_at_the_impact(srbm):
    x, t = srbm.state_after_burnout(20.0)
    (track,) = ground_tracks(x[None], t, srbm.vehicle.ballistic_coefficient_kg_m2)
    assert track.impacts
    assert np.all(np.diff(track.time_s) > 0)
    # Adaptive steps from a mid-flight state differ from the truth's: both are within
    # 0.1 ms of the DOP853 reference (tests/physics/test_propagate.py), not bit-identical.
    assert track.time_s[-1] == pytest.approx(srbm.impact.time_s[0], abs=1e-3)
    assert abs(track.alt_m[-1]) < 0.01
    assert (
        distance_m(
            track.lat_deg[-1], track.lon_deg[-1], srbm.impact.lat_deg[0], srbm.impact.lon_deg[0]
        )
        < 1.0
    )
    assert track.alt_m.max() == pytest.approx(srbm.impact.apogee_m[0], rel=0.01)


def test_unphysical_inverse_beta_mass_is_truncated(srbm):
    # A tracker's 1/beta with a 100 % sigma puts sigma points at negative (pushing) drag: the
    # prediction must condition on 1/beta >= 0 by Monte Carlo, not clamp sigma points.
    x, t = srbm.state_after_burnout(60.0)
    beta = srbm.vehicle.ballistic_coefficient_kg_m2
    P7 = np.zeros((7, 7))
    P7[:6, :6] = P_MID
    P7[6, 6] = (1.0 / beta) ** 2
    wide = predict_impact(
        np.append(x, 1.0 / beta)[None], P7[None], t, samples=300, rng=np.random.default_rng(1)
    )
    assert wide.method[0] == "monte_carlo" and wide.hit_probability[0] == 1.0
    P7[6, 6] = (0.1 / beta) ** 2  # 10 %: sigma points stay positive, the UT is used
    narrow = predict_impact(np.append(x, 1.0 / beta)[None], P7[None], t)
    assert narrow.method[0] == "unscented"
    assert wide.semi_major_m[0] > narrow.semi_major_m[0]
    truth = srbm.impact
    assert in_ellipse(
        truth.lat_deg,
        truth.lon_deg,
        wide.lat_deg,
        wide.lon_deg,
        wide.semi_major_m,
        wide.semi_minor_m,
        wide.orientation_deg,
    )[0]


def test_monte_carlo_ellipse_holds_95_percent_of_a_bent_cloud():
    from kizuna.prediction.impact import _cover_samples, from_local_en_m

    rng = np.random.default_rng(9)
    s = rng.standard_normal(2000) * 5000.0
    lat0, lon0 = 40.0, 140.0
    for bend in (0.0, 4e-5):  # a straight Gaussian cloud, then a parabolic banana
        en = np.stack([s, bend * s**2 + rng.standard_normal(s.size) * 30.0], axis=-1)
        en -= en.mean(axis=0)
        lat, lon = from_local_en_m(lat0, lon0, en)
        cov = np.cov(en.T)[None]
        hit = np.ones((1, s.size), dtype=bool)
        out = _cover_samples(cov, np.array([lat0]), np.array([lon0]), lat[None], lon[None], hit)
        d2 = np.einsum("ki,ki->k", en, np.linalg.solve(out[0], en.T).T)
        inside = np.mean(d2 <= CHI2_2D_95)
        if bend == 0.0:
            assert out[0] == pytest.approx(cov[0], rel=0.05)  # Gaussian: (almost) untouched
        else:
            assert inside >= 0.949
            assert (
                np.mean(np.einsum("ki,ki->k", en, np.linalg.solve(cov[0], en.T).T) <= CHI2_2D_95)
                < 0.94
            )  # the raw covariance ellipse holds only ~93 %


def test_recorded_mean_path_equals_separate_ground_track(srbm, mrbm):
    a, ta = srbm.state_after_burnout(20.0)
    b, tb = mrbm.state_after_burnout(50.0)
    betas = [srbm.vehicle.ballistic_coefficient_kg_m2, mrbm.vehicle.ballistic_coefficient_kg_m2]
    est = predict_impact(
        np.stack([a, b]), np.stack([P_MID, P_MID]), [ta, tb], betas, with_ground_tracks=True
    )
    separate = ground_tracks(np.stack([a, b]), [ta, tb], betas)
    for recorded, alone in zip(est.ground_tracks, separate, strict=True):
        # The batch's step sizes follow its lowest member, so samples differ; the end agrees.
        assert recorded.impacts and alone.impacts
        assert recorded.time_s[-1] == pytest.approx(alone.time_s[-1], abs=1e-3)
        assert (
            distance_m(
                recorded.lat_deg[-1], recorded.lon_deg[-1], alone.lat_deg[-1], alone.lon_deg[-1]
            )
            < 1.0
        )
        assert recorded.alt_m.max() == pytest.approx(alone.alt_m.max(), rel=1e-3)


def test_log_beta_layout_needs_no_monte_carlo_and_agrees_with_it(mrbm):
    """The tracker's own Gaussian on ln(beta) with the midcourse prior (sigma 1: beta within a
    factor e): every sigma point has a physical drag, so the sigma points are used (the 1/beta
    moments of the same distribution have sigma > mean and would force Monte Carlo), and they
    agree with Monte Carlo on the same distribution."""
    from kizuna.tracking.motion import to_inverse_beta

    x, t = mrbm.state_after_burnout(60.0)
    xl = np.append(x, np.log(mrbm.vehicle.ballistic_coefficient_kg_m2))
    Pl = np.zeros((7, 7))
    Pl[:6, :6] = P_MID
    Pl[6, 6] = 1.0
    ut = predict_impact(xl[None], Pl[None], t, log_beta=True)
    assert ut.method[0] == "unscented" and ut.hit_probability[0] == 1.0
    x7, P7 = to_inverse_beta(xl[None], Pl[None])
    assert np.sqrt(P7[0, 6, 6]) > x7[0, 6]  # the 1/beta layout would cross zero
    assert predict_impact(x7, P7, t).method[0] == "monte_carlo"
    mc = predict_impact(
        xl[None],
        Pl[None],
        t,
        method="monte_carlo",
        samples=3000,
        rng=np.random.default_rng(4),
        log_beta=True,
    )
    assert mc.semi_major_m[0] == pytest.approx(ut.semi_major_m[0], rel=0.1)
    offset = distance_m(mc.lat_deg, mc.lon_deg, ut.lat_deg, ut.lon_deg)[0]
    assert offset < 0.15 * ut.semi_major_m[0]
