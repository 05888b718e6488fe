"""The filter slot: EKF and cubature filter against the Kalman equations and each other."""

from __future__ import annotations

import numpy as np
import pytest

from kizuna.geo import lla_to_ecef
from kizuna.tracking.filters import CKF, EKF, cholesky
from kizuna.tracking.measurement import PositionModel, RadarModel, SensorSite
from kizuna.tracking.motion import BALLISTIC, KEPLER_BALLISTIC

FILTERS = [EKF, CKF]


def _prior(k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((k, 7))
    x[:, :3] = lla_to_ecef(
        rng.uniform(35, 40, k), rng.uniform(128, 135, k), rng.uniform(2e5, 4e5, k)
    )
    x[:, 3:6] = rng.normal(0, 2000.0, (k, 3))
    x[:, 6] = np.log(8000.0)  # l = ln(beta)
    a = np.array([100.0] * 3 + [5.0] * 3 + [0.1])[:, None] * rng.normal(size=(k, 7, 7))
    P = a @ np.swapaxes(a, -1, -2) / 7 + np.diag([100.0] * 3 + [1.0] * 3 + [1e-2])
    return x, P


@pytest.mark.parametrize("filt", FILTERS, ids=lambda f: f.name)
def test_linear_update_is_the_kalman_update(filt):
    x, P = _prior(5)
    model = PositionModel(3)
    rng = np.random.default_rng(1)
    z = x[:, :3] + rng.normal(0, 30.0, (5, 3))
    R = np.tile(np.diag([900.0, 400.0, 2500.0]), (5, 1, 1))
    up = filt.update(x, P, z, R, model)
    H = np.zeros((3, 7))
    H[:, :3] = np.eye(3)
    for i in range(5):
        S = H @ P[i] @ H.T + R[i]
        K = P[i] @ H.T @ np.linalg.solve(S, np.eye(3))
        np.testing.assert_allclose(up.x[i], x[i] + K @ (z[i] - x[i, :3]), rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(up.P[i], P[i] - K @ S @ K.T, rtol=1e-7, atol=1e-9)
        nis = (z[i] - x[i, :3]) @ np.linalg.solve(S, z[i] - x[i, :3])
        assert up.nis[i] == pytest.approx(nis, rel=1e-9)


@pytest.mark.parametrize("filt", FILTERS, ids=lambda f: f.name)
def test_vectorised_equals_one_track_at_a_time(filt):
    x, P = _prior(6, seed=2)
    dt = np.linspace(0.5, 6.0, 6)
    xs, Ps = filt.predict(BALLISTIC, x, P, dt)
    site = SensorSite.from_lla(34.5, 132.0, 100.0)
    model = RadarModel(site.origin_ecef_m, site.rotation)
    z = model.predict(xs) + np.array([30.0, 1e-4, -1e-4])
    R = np.tile(np.diag([2500.0, 1e-6, 1e-6]), (6, 1, 1))
    up = filt.update(xs, Ps, z, R, model)
    for i in range(6):
        xi, Pi = filt.predict(BALLISTIC, x[i : i + 1], P[i : i + 1], dt[i : i + 1])
        np.testing.assert_allclose(xi[0], xs[i], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(Pi[0], Ps[i], rtol=1e-10, atol=1e-12)
        ui = filt.update(xi, Pi, z[i : i + 1], R[i : i + 1], model)
        np.testing.assert_allclose(ui.x[0], up.x[i], rtol=1e-12, atol=1e-8)


def test_ekf_and_ckf_agree_when_nearly_linear():
    """Short steps and small covariances: the two filters must give the same estimates."""
    x, P = _prior(4, seed=3)
    P = P * 0.01
    rng = np.random.default_rng(4)
    site = SensorSite.from_lla(36.0, 127.5, 100.0)
    model = RadarModel(site.origin_ecef_m, site.rotation)
    R = np.tile(np.diag([400.0, 1e-8, 1e-8]), (4, 1, 1))
    truth = x.copy()
    xe, Pe, xc, Pc = x.copy(), P.copy(), x.copy(), P.copy()
    for _ in range(15):
        dt = np.full(4, 2.0)
        truth = EKF.predict(KEPLER_BALLISTIC, truth, P, dt)[0]
        z = model.predict(truth) + rng.normal(0, 1, (4, 3)) * np.sqrt(np.diagonal(R, 0, 1, 2))
        xe, Pe = EKF.predict(KEPLER_BALLISTIC, xe, Pe, dt)
        xc, Pc = CKF.predict(KEPLER_BALLISTIC, xc, Pc, dt)
        ue, uc = EKF.update(xe, Pe, z, R, model), CKF.update(xc, Pc, z, R, model)
        xe, Pe, xc, Pc = ue.x, ue.P, uc.x, uc.P
    sigma = np.sqrt(np.diagonal(Pe, 0, 1, 2))[:, :6]
    assert np.all(np.abs(xe[:, :6] - xc[:, :6]) < 0.05 * sigma)
    np.testing.assert_allclose(
        np.diagonal(Pc, 0, 1, 2)[:, :6], np.diagonal(Pe, 0, 1, 2)[:, :6], rtol=0.05
    )


def test_joseph_update_keeps_covariance_positive_definite():
    x, P = _prior(3, seed=5)
    # A nearly singular prior and an almost noise-free measurement: the naive form loses
    # positive definiteness under round-off; the Joseph form must not.
    P = P * 1e-6 + np.diag([1e6, 1e6, 1e6, 1.0, 1.0, 1.0, 1e-12]) * 1e-6
    R = np.tile(np.eye(3) * 1e-6, (3, 1, 1))
    up = EKF.update(x, P, x[:, :3] + 1e-3, R, PositionModel(3))
    cholesky(up.P)  # raises LinAlgError if not positive definite
    assert np.all(np.isfinite(up.P))


def test_ekf_update_is_the_joseph_form_written_out():
    """The compiled EKF update (kizuna.tracking.kernels.ekf_update) against the Joseph form,
    gain, NIS and log likelihood written out with numpy, for radar plots on 10-state boost
    rows (H non-zero in 3 of 10 columns) and a 6-D partner position-velocity report (6 of 7),
    to round-off."""
    rng = np.random.default_rng(21)
    site = SensorSite.from_lla(34.5, 132.0, 100.0)
    x7, P7 = _prior(8, seed=22)
    x = np.concatenate([x7, rng.normal(0.0, 20.0, (8, 3))], axis=1)
    a = rng.normal(size=(8, 10, 10)) * np.r_[[100.0] * 3, [5.0] * 3, [0.1], [10.0] * 3][:, None]
    P = a @ a.mT / 10 + np.eye(10)
    cases = [
        (RadarModel(site.origin_ecef_m, site.rotation), x, P, np.diag([2500.0, 1e-6, 1e-6])),
        (PositionModel(6), x7, P7, np.diag([900.0] * 3 + [25.0] * 3)),
    ]
    for model, xs, Ps, r in cases:
        z = model.predict(xs) + rng.normal(0.0, np.sqrt(np.diag(r)), (8, model.dim))
        R = np.tile(r, (8, 1, 1))
        up = EKF.update(xs, Ps, z, R, model)
        H = model.jacobian(xs)
        nu = model.residual(z, model.predict(xs))
        for i in range(8):
            S = H[i] @ Ps[i] @ H[i].T + R[i]
            K = Ps[i] @ H[i].T @ np.linalg.inv(S)
            IKH = np.eye(xs.shape[1]) - K @ H[i]
            joseph = IKH @ Ps[i] @ IKH.T + K @ R[i] @ K.T
            nis = nu[i] @ np.linalg.solve(S, nu[i])
            np.testing.assert_allclose(up.x[i], xs[i] + K @ nu[i], rtol=1e-12, atol=1e-8)
            np.testing.assert_allclose(up.P[i], joseph, rtol=1e-9, atol=1e-9 * np.abs(joseph).max())
            np.testing.assert_allclose(up.S[i], S, rtol=1e-12)
            assert up.nis[i] == pytest.approx(nis, rel=1e-9)
            log_l = -0.5 * (nis + np.linalg.slogdet(S)[1] + model.dim * np.log(2 * np.pi))
            assert up.log_likelihood[i] == pytest.approx(log_l, rel=1e-10)
        np.testing.assert_array_equal(up.P, up.P.mT)


def test_ekf_update_refuses_an_innovation_covariance_that_is_not_positive_definite():
    x, P = _prior(2, seed=23)
    R = np.tile(-1e12 * np.eye(3), (2, 1, 1))  # (no real S: the factorisation must fail)
    with pytest.raises(np.linalg.LinAlgError):
        EKF.update(x, P, x[:, :3], R, PositionModel(3))


def test_drag_aware_filter_predicts_uncertain_drag_by_cubature():
    """A row in air (50 km, 2.5 km/s) whose ln(beta) sigma is still the prior's is predicted as
    the cubature filter predicts it; the same row with ln(beta) known, and a row above the
    air, as the EKF does. (The EKF reads drag = exp(-l) at the mean l: at sigma 1 its
    velocity after 10 s differs from the cubature mean by 3.9 m/s here.)"""
    from kizuna.tracking.filters import EKF_CKF
    from kizuna.tracking.motion import LOG_BETA, LOG_BETA_PRIOR

    low = lla_to_ecef(38.0, 133.0, 50e3)
    high = lla_to_ecef(38.0, 133.0, 300e3)
    east = np.array([-np.sin(np.radians(133.0)), np.cos(np.radians(133.0)), 0.0])
    x = np.zeros((3, 7))
    x[:2, :3], x[2, :3] = low, high
    x[:, 3:6] = 2500.0 * east
    x[:, LOG_BETA] = LOG_BETA_PRIOR
    P = np.tile(np.diag([100.0] * 3 + [4.0] * 3 + [1.0]), (3, 1, 1))
    P[1, LOG_BETA, LOG_BETA] = 0.05**2
    dt = np.full(3, 10.0)
    got_x, got_P = EKF_CKF.predict(BALLISTIC, x, P, dt)
    ckf_x, ckf_P = CKF.predict(BALLISTIC, x[:1], P[:1], dt[:1])
    ekf_x, ekf_P = EKF.predict(BALLISTIC, x[1:], P[1:], dt[1:])
    np.testing.assert_allclose(got_x[:1], ckf_x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_P[:1], ckf_P, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got_x[1:], ekf_x, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_P[1:], ekf_P, rtol=1e-12, atol=1e-9)
    ekf_first, _ = EKF.predict(BALLISTIC, x[:1], P[:1], dt[:1])
    assert np.linalg.norm(ekf_first[0, 3:6] - ckf_x[0, 3:6]) > 1.0  # the two differ there


def test_log_beta_quadrature_predicts_the_moments_of_an_uncertain_drag():
    """A row in air (50 km, 2.5 km/s climbing) with ln(beta) at the prior's sigma 1, moved
    10 s: the Gauss-Hermite prediction over l (5 nodes) has the Monte Carlo moments of the
    moved states (velocity mean to 0.1 m/s, velocity sigmas and cov(v, l) to 5 %); the
    cubature filter's 2n points at +-2.65 sigma overstate the velocity sigma along the drag
    by 1.47x and cov(v, l) by 1.6x, the EKF understates them (0.60x)."""
    from kizuna.tracking.filters import LogBetaQuadratureFilter, propagate_states
    from kizuna.tracking.motion import LOG_BETA, LOG_BETA_PRIOR

    low = lla_to_ecef(38.0, 133.0, 50e3)
    east = np.array([-np.sin(np.radians(133.0)), np.cos(np.radians(133.0)), 0.0])
    x = np.zeros((1, 7))
    x[0, :3] = low
    x[0, 3:6] = 2500.0 * (0.8 * east + 0.6 * low / np.linalg.norm(low))
    x[0, LOG_BETA] = LOG_BETA_PRIOR
    P = np.diag([100.0] * 3 + [4.0] * 3 + [1.0])[None]
    dt = np.array([10.0])
    samples = np.random.default_rng(5).multivariate_normal(x[0], P[0], 20_000)
    moved = propagate_states(BALLISTIC, samples, np.full(len(samples), 10.0))
    mc_mean = moved.mean(axis=0)
    mc_cov = np.cov(moved.T) + BALLISTIC.noise(x, dt)[0]
    got_x, got_P = LogBetaQuadratureFilter(nodes=5).predict(BALLISTIC, x, P, dt)
    assert np.linalg.norm(got_x[0, 3:6] - mc_mean[3:6]) < 0.1
    vel = slice(3, 6)
    np.testing.assert_allclose(np.diag(got_P[0])[vel], np.diag(mc_cov)[vel], rtol=0.1)
    np.testing.assert_allclose(got_P[0, vel, LOG_BETA], mc_cov[vel, LOG_BETA], rtol=0.05)
    assert got_P[0, LOG_BETA, LOG_BETA] == pytest.approx(mc_cov[LOG_BETA, LOG_BETA], rel=0.03)
    _, ckf_P = CKF.predict(BALLISTIC, x, P, dt)
    assert np.abs(ckf_P[0, vel, LOG_BETA] / mc_cov[vel, LOG_BETA] - 1.0).max() > 0.3
