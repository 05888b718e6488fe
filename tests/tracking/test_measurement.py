"""Radar measurement model: equal to the contract's definition, with a correct Jacobian."""

from __future__ import annotations

import numpy as np
import pymap3d

from kizuna.geo import ecef_to_aer, lla_to_ecef
from kizuna.tracking.measurement import (
    RadarModel,
    SensorSite,
    aer_point_covariance,
    aer_to_point,
    radar_jacobian,
    radar_measure,
    wrap_pi,
)

SITE = (34.5, 132.0, 100.0)


def _targets(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return lla_to_ecef(rng.uniform(30, 45, n), rng.uniform(124, 142, n), rng.uniform(1e3, 8e5, n))


def test_measure_matches_geo_and_pymap3d():
    site = SensorSite.from_lla(*SITE)
    r = _targets(200)
    z = radar_measure(r, site.origin_ecef_m, site.rotation)
    az, el, rng_m = ecef_to_aer(r, *SITE)
    np.testing.assert_allclose(z[:, 0], rng_m, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.degrees(wrap_pi(z[:, 1] - np.radians(az))), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.degrees(z[:, 2]), el, atol=1e-10)
    az2, _el2, rng2 = pymap3d.ecef2aer(r[:, 0], r[:, 1], r[:, 2], *SITE, deg=True)
    np.testing.assert_allclose(np.degrees(z[:, 1]), az2, atol=1e-9)
    np.testing.assert_allclose(z[:, 0], rng2, atol=1e-6)


def test_jacobian_matches_central_differences():
    site = SensorSite.from_lla(*SITE)
    r = _targets(20, seed=1)
    jac = radar_jacobian(r, site.origin_ecef_m, site.rotation)
    step = 1.0  # m; range ~1e6 m so truncation error ~1e-12 relative
    for axis in range(3):
        d = np.zeros(3)
        d[axis] = step
        hi = radar_measure(r + d, site.origin_ecef_m, site.rotation)
        lo = radar_measure(r - d, site.origin_ecef_m, site.rotation)
        diff = (hi - lo) / (2 * step)
        diff[:, 1] = wrap_pi(hi[:, 1] - lo[:, 1]) / (2 * step)
        np.testing.assert_allclose(jac[:, :, axis], diff, rtol=1e-6, atol=1e-13)


def test_point_inverse_and_covariance():
    site = SensorSite.from_lla(*SITE)
    r = _targets(50, seed=2)
    z = radar_measure(r, site.origin_ecef_m, site.rotation)
    np.testing.assert_allclose(aer_to_point(z, site.origin_ecef_m, site.rotation), r, atol=1e-6)
    # The located point's covariance C = J R J^T with J = H^-1 (H the measurement Jacobian),
    # so mapping it back through H must give R again (off-diagonals relative to sqrt(Rii Rjj)).
    sigma = np.array([50.0, np.radians(0.05), np.radians(0.05)])
    cov = aer_point_covariance(z, np.broadcast_to(sigma, z.shape), site.rotation)
    H = radar_jacobian(r, site.origin_ecef_m, site.rotation)
    back = H @ cov @ np.swapaxes(H, -1, -2)
    scale = np.outer(sigma, sigma)
    np.testing.assert_allclose(back / scale, np.broadcast_to(np.eye(3), back.shape), atol=1e-8)


def test_azimuth_residual_and_mean_wrap():
    model = RadarModel(*(lambda s: (s.origin_ecef_m, s.rotation))(SensorSite.from_lla(*SITE)))
    z = np.array([[1e5, np.radians(0.5), 0.1]])
    zhat = np.array([[1e5, np.radians(359.5), 0.1]])
    assert np.isclose(np.degrees(model.residual(z, zhat)[0, 1]), 1.0)
    points = np.array([[[1e5, np.radians(359.0), 0.1], [1e5, np.radians(1.0), 0.1]]])
    mean = model.mean(points, np.array([0.5, 0.5]))
    assert np.isclose(np.degrees(wrap_pi(mean[0, 1])), 0.0, atol=1e-9)


def test_compiled_radar_gate_equals_the_model():
    """kernels.radar_gate (the tracker's gate, one compiled loop over track-plot pairs)
    against the radar model in numpy: tracks moved by dt in a straight line, h(x), the
    Jacobian, S = H P H^T + R, the wrapped innovation, its NIS and Gaussian log density; with
    plots on both sides of north (the azimuth wrap) and pairs that repeat a track or a plot."""
    from kizuna.tracking.kernels import radar_gate

    site = SensorSite.from_lla(*SITE)
    model = RadarModel(site.origin_ecef_m, site.rotation)
    rng = np.random.default_rng(31)
    x = np.zeros((12, 7))
    x[:, :3] = _targets(12, seed=32)
    x[:, 3:6] = rng.normal(0.0, 2000.0, (12, 3))
    a = rng.normal(size=(12, 7, 7)) * np.r_[[300.0] * 3, [10.0] * 3, [0.3]][:, None]
    P = a @ a.mT
    z = model.predict(x) + rng.normal(0.0, [200.0, 3e-3, 3e-3], (12, 3))
    z[0, 1], z[1, 1] = 1e-4, 2 * np.pi - 1e-4  # plots just east and just west of north
    R = np.tile(np.diag([50.0**2, 3e-4**2, 3e-4**2]), (12, 1, 1))
    rows = rng.integers(0, 12, 40)
    cols = rng.integers(0, 12, 40)
    dt = rng.uniform(-0.25, 0.25, 40)
    d2, log_g = radar_gate(x, P, rows, cols, dt, site.origin_ecef_m, site.rotation, z, R)
    xs = x[rows]
    xs[:, :3] += xs[:, 3:6] * dt[:, None]
    H = radar_jacobian(xs[:, :3], site.origin_ecef_m, site.rotation)
    S = H @ P[rows, :3, :3] @ H.mT + R[cols]
    nu = model.residual(z[cols], model.predict(xs))
    nis = np.einsum("ki,ki->k", nu, np.linalg.solve(S, nu[..., None])[..., 0])
    log_l = -0.5 * (nis + np.linalg.slogdet(S)[1] + 3 * np.log(2 * np.pi))
    np.testing.assert_allclose(d2, nis, rtol=1e-9)
    np.testing.assert_allclose(log_g, log_l, rtol=1e-12, atol=1e-9)


def test_compiled_linearisation_equals_the_model():
    """RadarModel.linearise (one site: kernels.radar_innovation) is the model's jacobian and
    residual(z, predict(x)), on 10-state rows, with azimuths either side of north."""
    site = SensorSite.from_lla(*SITE)
    model = RadarModel(site.origin_ecef_m, site.rotation)
    rng = np.random.default_rng(33)
    x = rng.normal(0.0, 30.0, (10, 10))
    x[:, :3] = _targets(10, seed=34)
    z = model.predict(x) + rng.normal(0.0, [200.0, 3e-3, 3e-3], (10, 3))
    z[0, 1], z[1, 1] = 1e-4, 2 * np.pi - 1e-4
    H, nu = model.linearise(x, z)
    np.testing.assert_allclose(H, model.jacobian(x), rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(nu, model.residual(z, model.predict(x)), rtol=1e-9, atol=1e-12)
