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
