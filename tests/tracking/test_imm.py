"""IMM mixture arithmetic (kizuna.tracking.imm)."""

from __future__ import annotations

import numpy as np

from kizuna.tracking.imm import combine


def test_combine_is_the_moment_match_with_collapsed_rows():
    """Rows with mode probabilities exactly (0, 1) and mixed rows together give the written-out
    mixture x = sum mu_j x_j, P = sum mu_j (P_j + d_j d_j^T), the collapsed ones exactly their
    ballistic mode."""
    rng = np.random.default_rng(4)
    k, n = 6, 10
    xm = rng.normal(size=(k, 2, n))
    A = rng.normal(size=(k, 2, n, n))
    Pm = A @ np.swapaxes(A, -1, -2)
    mu = rng.uniform(0.05, 1.0, size=(k, 2))
    mu /= mu.sum(axis=1, keepdims=True)
    mu[[1, 4]] = (0.0, 1.0)
    for rows in (np.arange(k), np.array([1, 4]), np.array([0, 2])):
        x, P = combine(xm[rows], Pm[rows], mu[rows])
        for i, r in enumerate(rows):
            mean = mu[r] @ xm[r]
            d = xm[r] - mean
            cov = sum(mu[r, j] * (Pm[r, j] + np.outer(d[j], d[j])) for j in range(2))
            np.testing.assert_allclose(x[i], mean, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(P[i], cov, rtol=1e-12, atol=1e-12)
    x, P = combine(xm[[1, 4]], Pm[[1, 4]], mu[[1, 4]])
    np.testing.assert_array_equal(x, xm[[1, 4], 1])
    np.testing.assert_array_equal(P, 0.5 * (Pm[[1, 4], 1] + Pm[[1, 4], 1].mT))
    # Over the leading states only (the tracker's (r, v, l) block of 10-state modes).
    x7, P7 = combine(xm, Pm, mu, 7)
    x_ref, P_ref = combine(xm[:, :, :7], Pm[:, :, :7, :7], mu)
    np.testing.assert_array_equal(x7, x_ref)
    np.testing.assert_array_equal(P7, P_ref)
    # ... of some rows of a table, read in place.
    rows = np.array([4, 0, 3], np.intp)
    x7, P7 = combine(xm, Pm, mu, 7, rows)
    np.testing.assert_array_equal(x7, x_ref[rows])
    np.testing.assert_array_equal(P7, P_ref[rows])


def test_burnout_hands_ballistic_mode_the_beta_prior():
    """Mixing boost -> ballistic (the burnout) hands l = ln(beta) over at its prior, not the
    boost model's l: a track that is all boost so far gives its ballistic mode l at the prior
    mean and sigma, uncorrelated with (r, v); the boost mode keeps its own l, and a track that
    is all ballistic keeps the l it has measured."""
    from kizuna.geo.frames import lla_to_ecef
    from kizuna.tracking.filters import EKF
    from kizuna.tracking.imm import BALLISTIC_MODE, BOOST_MODE, predict
    from kizuna.tracking.motion import LOG_BETA, LOG_BETA_PRIOR, LOG_BETA_SIGMA

    xm = np.zeros((2, 2, 10))
    xm[:, :, :3] = lla_to_ecef(39.0, 128.0, 200_000.0)  # above the air: l is not propagated
    xm[:, :, 3:6] = (1500.0, 1500.0, 1000.0)
    xm[:, :, LOG_BETA] = np.log(2000.0)  # the powered body's
    xm[:, BOOST_MODE, 7:10] = (20.0, 20.0, 13.0)  # thrust: a burnout hazard of ~0.006/s
    Pm = np.broadcast_to(np.eye(10), (2, 2, 10, 10)).copy()
    Pm[:, BALLISTIC_MODE, 7:, :] = Pm[:, BALLISTIC_MODE, :, 7:] = 0.0
    xm[:, BALLISTIC_MODE, 7:] = 0.0
    Pm[:, :, LOG_BETA, LOG_BETA] = 0.05**2
    Pm[:, :, LOG_BETA, 3] = Pm[:, :, 3, LOG_BETA] = 0.04
    mu = np.array([[1.0 - 1e-9, 1e-9], [1e-9, 1.0 - 1e-9]])
    pred = predict(EKF, xm, Pm, mu, np.array([True, True]), np.full(2, 1.0), 90.0)
    boosting, coasting = 0, 1
    assert abs(pred.xm[boosting, BALLISTIC_MODE, LOG_BETA] - LOG_BETA_PRIOR) < 1e-6
    sigma = np.sqrt(pred.Pm[boosting, BALLISTIC_MODE, LOG_BETA, LOG_BETA])
    assert abs(sigma - LOG_BETA_SIGMA) < 1e-6
    assert abs(pred.Pm[boosting, BALLISTIC_MODE, LOG_BETA, 3]) < 1e-6
    assert abs(pred.xm[boosting, BOOST_MODE, LOG_BETA] - np.log(2000.0)) < 1e-6
    assert abs(pred.xm[coasting, BALLISTIC_MODE, LOG_BETA] - np.log(2000.0)) < 1e-6


def _coasting_track(boost_p: float):
    """One track 500 km up at 4 km/s (ECEF), no thrust, ln(beta) measured, as (xm, Pm, mu)."""
    from kizuna.geo.frames import lla_to_ecef
    from kizuna.tracking.imm import BALLISTIC_MODE, BOOST_MODE
    from kizuna.tracking.motion import LOG_BETA, THRUST

    x = np.zeros(10)
    x[:3] = lla_to_ecef(27.0, 127.0, 500e3)
    x[3:6] = (-3500.0, 500.0, -1800.0)
    x[LOG_BETA] = np.log(1000.0)
    P = np.diag([100.0**2] * 3 + [5.0**2] * 3 + [0.1**2] + [0.0] * 3)
    xm = np.stack([x, x])[None].copy()
    Pm = np.stack([P, P])[None].copy()
    Pm[0, BOOST_MODE, THRUST, THRUST] = 0.5**2 * np.eye(3)  # a boost mode that has seen none
    mu = np.array([[boost_p, 1.0 - boost_p]])
    return xm, Pm, mu, BOOST_MODE, BALLISTIC_MODE, THRUST


def test_relight_hands_boost_mode_the_thrust_prior():
    """Mixing ballistic -> boost (a stage lighting after a coast) hands the thrust over at zero
    with THRUST_SIGMA_MPS2 per axis: a coasting track whose boost mode is nearly all relight
    predicts a boost mode open to a new stage's 10-20 m/s^2 (before: the ballistic mode's zero
    thrust with zero variance, and only the jerk noise of one step)."""
    from kizuna.tracking.filters import EKF
    from kizuna.tracking.imm import THRUST_SIGMA_MPS2, predict

    xm, Pm, mu, boost, ballistic, thrust = _coasting_track(1e-9)
    pred = predict(EKF, xm, Pm, mu, np.array([True]), 1.0, 90.0)
    sd = np.sqrt(np.diag(pred.Pm[0, boost][thrust, thrust]))
    assert np.all(sd > 0.9 * THRUST_SIGMA_MPS2), sd
    np.testing.assert_allclose(pred.xm[0, boost][thrust], 0.0, atol=1e-9)
    # The ballistic mode stays thrust-free, and a track all boost keeps its own thrust doubt.
    np.testing.assert_array_equal(pred.Pm[0, ballistic][thrust, thrust], 0.0)
    xm, Pm, mu, *_ = _coasting_track(1.0 - 1e-9)
    pred = predict(EKF, xm, Pm, mu, np.array([True]), 1.0, 90.0)
    assert np.all(np.sqrt(np.diag(pred.Pm[0, boost][thrust, thrust])) < 5.0)


def test_reopen_gives_a_collapsed_track_its_boost_model_back():
    """reopen: a collapsed track runs both models again from its ballistic estimate, thrust
    at zero with THRUST_SIGMA_MPS2, at the given boost probability; an IMM track is left alone."""
    from kizuna.tracking.imm import THRUST_SIGMA_MPS2, collapse, reopen

    xm, Pm, mu, boost, ballistic, thrust = _coasting_track(0.3)
    xm, Pm, mu = np.repeat(xm, 2, 0), np.repeat(Pm, 2, 0), np.repeat(mu, 2, 0)
    xm[0, boost, :3] += 1e4  # a stale boost mode, as collapse leaves it
    is_imm = np.array([True, True])
    collapse(xm, Pm, mu, is_imm, np.array([True, False]))
    xm[0, ballistic, :3] += 50.0  # the ballistic mode moves on alone
    before = xm[1].copy(), Pm[1].copy(), mu[1].copy()
    reopen(xm, Pm, mu, is_imm, np.array([0, 1]), 0.02)
    assert is_imm.all()
    np.testing.assert_array_equal(mu[0], (0.02, 0.98))
    np.testing.assert_array_equal(xm[0, boost], xm[0, ballistic])
    np.testing.assert_array_equal(Pm[0, boost][thrust, thrust], THRUST_SIGMA_MPS2**2 * np.eye(3))
    np.testing.assert_array_equal(Pm[0, boost][:7, :7], Pm[0, ballistic][:7, :7])
    for got, want in zip((xm[1], Pm[1], mu[1]), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_update_at_omega_one_keeps_the_prediction():
    """Covariance intersection at omega = 1 (the partner's point adds nothing, see
    kizuna.tracking.fusion) leaves those rows' modes and mode probabilities as predicted,
    boost rows and collapsed rows alike; the other rows are fused."""
    from kizuna.tracking import imm
    from kizuna.tracking.measurement import PositionModel
    from kizuna.tracking.tracker import TrackerConfig

    rng = np.random.default_rng(7)
    k, n = 4, imm.BOOST_DIM
    xm = rng.normal(size=(k, 2, n)) * 100.0
    A = rng.normal(size=(k, 2, n, n))
    Pm = A @ np.swapaxes(A, -1, -2) + 50.0 * np.eye(n)
    c = np.array([[0.3, 0.7], [0.0, 1.0], [0.6, 0.4], [0.0, 1.0]])
    boost = np.array([True, False, True, False])
    pred = imm.Prediction(xm, Pm, c)
    z = rng.normal(size=(k, 3)) * 100.0
    R = np.tile(np.eye(3) * 400.0, (k, 1, 1))
    omega = np.array([1.0, 1.0, 0.5, 0.5])
    post = imm.update(TrackerConfig().filter, pred, boost, z, R, PositionModel(3), inflate=omega)
    for row in (0, 1):
        np.testing.assert_array_equal(post.xm[row], xm[row])
        np.testing.assert_array_equal(post.Pm[row], Pm[row])
        np.testing.assert_array_equal(post.mu[row], c[row])
    for row in (2, 3):
        assert not np.allclose(post.xm[row, 1], xm[row, 1])


def test_compiled_mixing_equals_the_imm_formulas():
    """kernels.imm_mix (imm.predict's mixing, one compiled loop) against the formulas in numpy:
    imm.burnout_rate_per_s, imm.transition_matrix, c = Pi^T mu, w_i|j = pi_ij mu_i / c_j and
    the moments of imm._mixing_sources' hand-overs; to the bit for the states and mode
    probabilities, to round-off for the covariances; collapsed tracks' ballistic rows passed
    through with their thrust zeroed; speeds below, inside and above the burnout band."""
    from kizuna.tracking import imm
    from kizuna.tracking.kernels import imm_mix

    rng = np.random.default_rng(41)
    k, n = 9, 10
    xm = rng.normal(size=(k, 2, n)) * np.r_[[1e6] * 3, [1e3] * 3, [1.0], [20.0] * 3]
    xm[:, :, 3:6] *= np.array([0.5, 2.0, 4.0, 8.0, 1.0, 3.0, 5.0, 0.2, 6.0])[:, None, None]
    A = rng.normal(size=(k, 2, n, n))
    Pm = A @ np.swapaxes(A, -1, -2)
    mu = rng.uniform(0.05, 1.0, size=(k, 2))
    mu /= mu.sum(axis=1, keepdims=True)
    is_imm = np.ones(k, bool)
    is_imm[[2, 6]] = False
    sel = np.flatnonzero(is_imm)
    dt = rng.uniform(-3.0, 8.0, k)
    tau = 90.0
    rows_x, rows_P, rows_dt, c = imm_mix(xm, Pm, mu, sel, dt, imm._mix_figures(tau))

    rate = imm.burnout_rate_per_s(xm[sel, imm.BOOST_MODE], tau)
    pi = imm.transition_matrix(dt[sel], tau, rate)
    c_sel = np.einsum("kij,ki->kj", pi, mu[sel])
    w = pi * mu[sel][:, :, None] / np.maximum(c_sel[:, None, :], 1e-300)
    xi, Pi = imm._mixing_sources(xm[sel], Pm[sel])
    xs = np.einsum("kij,kija->kja", w, xi)
    d = xi - xs[:, None]
    Ps = sum(w[:, i, :, None, None] * (Pi[:, i] + d[:, i, :, :, None] * d[:, i, :, None, :])
             for i in range(2))
    ref_x = np.concatenate([xs[:, 0], xm[:, 1]])
    ref_P = np.concatenate([Ps[:, 0], Pm[:, 1]])
    ref_x[sel.size + sel], ref_P[sel.size + sel] = xs[:, 1], Ps[:, 1]
    ref_x[sel.size :, 7:] = 0.0
    ref_P[sel.size :, 7:, :] = 0.0
    ref_P[sel.size :, :, 7:] = 0.0
    ref_c = mu.copy()
    ref_c[sel] = c_sel
    np.testing.assert_array_equal(c, ref_c)
    np.testing.assert_array_equal(rows_dt, np.concatenate([dt[sel], dt]))
    np.testing.assert_array_equal(rows_x, ref_x)
    np.testing.assert_allclose(rows_P, ref_P, rtol=1e-12, atol=1e-12 * np.abs(ref_P).max())
