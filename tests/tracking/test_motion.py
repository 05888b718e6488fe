"""Motion models: the physics' dynamics, a consistent Jacobian, a well-formed process noise."""

from __future__ import annotations

import numpy as np
import pytest

from kizuna.geo import lla_to_ecef
from kizuna.physics.dynamics import state_derivative
from kizuna.tracking.motion import BALLISTIC, BOOST, KEPLER_BALLISTIC, to_inverse_beta


def _states(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, dim))
    x[:, :3] = lla_to_ecef(
        rng.uniform(-60, 60, n), rng.uniform(-180, 180, n), rng.uniform(5e3, 6e5, n)
    )
    x[:, 3:6] = rng.normal(0.0, 2500.0, (n, 3))
    x[:, 6] = np.log(rng.uniform(1_000.0, 30_000.0, n))  # l = ln(beta)
    if dim > 7:
        x[:, 7:10] = rng.normal(0.0, 30.0, (n, 3))
    return x


def test_fused_derivative_equals_physics():
    x = _states(300, 7)
    ours = BALLISTIC.derivative(x)
    ref = state_derivative(x[:, :6], np.exp(x[:, 6]))
    np.testing.assert_allclose(ours[:, :6], ref, rtol=1e-12, atol=1e-12)
    assert np.all(ours[:, 6] == 0.0)
    boost = BOOST.derivative(_states(10, 10))
    ref_b = state_derivative(_states(10, 10)[:, :6], np.exp(_states(10, 10)[:, 6]))
    np.testing.assert_allclose(boost[:, 3:6] - _states(10, 10)[:, 7:10], ref_b[:, 3:6], atol=1e-9)


@pytest.mark.parametrize("model", [BALLISTIC, BOOST, KEPLER_BALLISTIC], ids=lambda m: m.name)
def test_jacobian_matches_central_differences(model):
    x = _states(8, model.dim, seed=3)
    x[:, :3] = lla_to_ecef(np.zeros(8), np.linspace(0, 300, 8), np.linspace(20e3, 90e3, 8))
    jac = model.jacobian(x)
    steps = np.array([1.0] * 3 + [0.01] * 3 + [1e-3] + [0.01] * (model.dim - 7))
    for i in range(model.dim):
        d = np.zeros(model.dim)
        d[i] = steps[i]
        diff = (model.derivative(x + d) - model.derivative(x - d)) / (2 * steps[i])
        # The J2 part of the gravity gradient is omitted by design (1e-3 of the point mass).
        np.testing.assert_allclose(jac[:, :, i], diff, rtol=5e-3, atol=2e-8)


def test_noise_is_symmetric_psd_and_additive_in_rate():
    x = _states(20, 10, seed=4)
    q1 = BOOST.noise(x, np.full(20, 1.0))
    assert np.allclose(q1, np.swapaxes(q1, -1, -2))
    assert np.all(np.linalg.eigvalsh(q1) > -1e-12)
    # The velocity block is linear in dt (white acceleration + jerk terms of higher order).
    q0 = BALLISTIC.noise(x[:, :7], np.full(20, 0.0))
    assert np.all(q0 == 0.0)


def test_stacked_rows_equal_separate_models():
    x = _states(6, 10, seed=5)
    x[3:, 7:] = 0.0
    rows = BOOST.rows(
        np.r_[[BOOST.q_accel_m2_s3] * 3, [BALLISTIC.q_accel_m2_s3] * 3],
        np.r_[[BOOST.q_log_beta] * 3, [BALLISTIC.q_log_beta] * 3],
        np.r_[[BOOST.q_jerk_m2_s5] * 3, [0.0] * 3],
        np.r_[[BOOST.drag_error_fraction] * 3, [BALLISTIC.drag_error_fraction] * 3],
        np.r_[[BOOST.drag_linearisation] * 3, [BALLISTIC.drag_linearisation] * 3],
    )
    dt = np.full(6, 2.0)
    q = rows.noise(x, dt)
    np.testing.assert_allclose(q[:3], BOOST.noise(x[:3], dt[:3]))
    np.testing.assert_allclose(q[3:, :7, :7], BALLISTIC.noise(x[3:, :7], dt[3:]))
    assert np.all(q[3:, 7:, :] == 0.0)
    np.testing.assert_allclose(rows.derivative(x)[3:, :7], BALLISTIC.derivative(x[3:, :7]))


def test_inverse_beta_moments_match_samples():
    """The closed-form (r, v, 1/beta) moments equal those of samples of the log-layout Gaussian."""
    rng = np.random.default_rng(8)
    x = _states(1, 7, seed=8)[0]
    x[6] = np.log(7000.0)
    a = np.array([100.0] * 3 + [3.0] * 3 + [0.8])[:, None] * rng.normal(size=(7, 7))
    P = a @ a.T / 7
    samples = rng.multivariate_normal(x, P, 400_000)
    samples[:, 6] = np.exp(-samples[:, 6])
    xk, Pk = to_inverse_beta(x, P)
    k_sigma = np.sqrt(Pk[6, 6])
    assert abs(samples[:, 6].mean() - xk[6]) < 0.01 * k_sigma
    np.testing.assert_allclose(np.cov(samples.T)[6], Pk[6], rtol=0.03, atol=1e-3 * k_sigma)
    np.testing.assert_array_equal(xk[:6], x[:6])
    np.testing.assert_array_equal(Pk[:6, :6], P[:6, :6])


def test_log_beta_noise_vanishes_in_vacuum():
    """Random walk of ln(beta) only where there is air to change it."""
    x = _states(2, 7, seed=9)
    x[:, :3] = lla_to_ecef(np.zeros(2), np.zeros(2), np.array([30e3, 400e3]))
    q = BALLISTIC.noise(x, np.full(2, 10.0))[:, 6, 6]
    assert q[0] > 0.5 * BALLISTIC.q_log_beta * 10.0
    assert q[1] < 1e-6 * q[0]


def test_a_light_body_low_in_the_air_is_stepped_within_rk4s_stability():
    """80 kg/m^2 at 3 km/s and 6.5 km: drag takes speed away at ~20 /s, and one 0.46 s RK4
    step (what a scan interval asks for) is 10x past the method's stability: the state blew
    up to 1.5e8 m/s (srbm-salvo seed 122, a tentative track in the terminal phase). Sub-steps
    within 1/rate keep it physical: the body slows down and never speeds up."""
    from kizuna.geo.frames import enu_rotation
    from kizuna.tracking.filters import ExtendedKalmanFilter

    lat, lon = 41.9, 133.2
    x = np.zeros((1, 7))
    x[0, :3] = lla_to_ecef(lat, lon, 6_500.0)
    x[0, 3:6] = enu_rotation(lat, lon).T @ np.array([1500.0, 1000.0, -2300.0])
    x[0, 6] = np.log(80.0)
    P = np.diag([100.0**2] * 3 + [10.0**2] * 3 + [0.07**2])[None]
    xp, Pp = ExtendedKalmanFilter().predict(BALLISTIC, x, P, np.array([0.46]))
    assert np.isfinite(xp).all() and np.isfinite(Pp).all()
    speed = np.linalg.norm(xp[0, 3:6])
    assert 10.0 < speed < np.linalg.norm(x[0, 3:6])
    assert np.linalg.eigvalsh(Pp[0, :6, :6]).min() > 0.0


def _reference_predict(model, x, P, dt):
    """The extended filter's prediction in numpy: sub-steps of MotionModel.step_s over the
    rows with time left, MotionModel.rk4, Phi from MotionModel.jacobian at the midpoint,
    Phi P Phi^T + MotionModel.noise; symmetrised."""
    x, P, remaining = x.copy(), P.copy(), dt.copy()
    while (active := np.abs(remaining) > 1e-9).any():
        idx = np.flatnonzero(active)
        sub = model.take(idx)
        h = sub.step_s(x[idx], remaining[idx])
        x_new = sub.rk4(x[idx], h)
        A_h = sub.jacobian(0.5 * (x[idx] + x_new)) * h[:, None, None]
        phi = np.eye(model.dim) + A_h + 0.5 * (A_h @ A_h)
        P[idx] = phi @ P[idx] @ phi.mT + sub.noise(x[idx], h, P[idx, 6, 6])
        x[idx] = x_new
        remaining[idx] -= h
    return x, 0.5 * (P + P.mT)


@pytest.mark.parametrize("model", [BALLISTIC, BOOST, KEPLER_BALLISTIC, "stacked"], ids=str)
def test_compiled_prediction_equals_the_models_formulas(model):
    """The EKF's compiled prediction (kizuna.tracking.kernels.ekf_predict) gives the states of
    MotionModel.rk4 in MotionModel.step_s sub-steps to the bit (to round-off where drag
    limits the step), and Phi P Phi^T + Q to round-off; at every altitude (drag and the
    density table from sea level to 600 km), forwards and backwards, over several sub-steps
    (up to 12 s; a light body low in dense air takes its drag-stability steps), not at all
    for dt = 0, and for stacked IMM rows whose ballistic modes carry no thrust (the kernel's
    7-state shortcut)."""
    from kizuna.geo.frames import enu_rotation
    from kizuna.tracking.filters import EKF
    from kizuna.tracking.imm import _stacked_model

    if model == "stacked":
        model = _stacked_model(4, 16)
    k = 20
    x = _states(k, model.dim, seed=11)
    x[:4, :3] = lla_to_ecef(np.zeros(4), np.zeros(4), np.array([3e3, 6.5e3, 45e3, 85e3]))
    # A light body at 6.5 km (as in the test below): drag-limited sub-steps.
    x[1, 3:6] = enu_rotation(0.0, 0.0).T @ np.array([1500.0, 1000.0, -2300.0])
    x[1, 6] = np.log(80.0)
    rng = np.random.default_rng(12)
    spread = np.r_[[300.0] * 3, [10.0] * 3, [0.3] * (model.dim - 6)]
    a = rng.normal(size=(k, model.dim, model.dim)) * spread[:, None]
    P = a @ a.mT
    if np.ndim(model.q_jerk_m2_s5):  # stacked: the ballistic rows' thrust is idle
        x[4:, 7:] = 0.0
        P[4:, 7:, :] = 0.0
        P[4:, :, 7:] = 0.0
    dt = rng.uniform(-12.0, 12.0, k)
    dt[:2] = 3.0, 0.46
    dt[5] = 0.0
    x_new, P_new = EKF.predict(model, x, P, dt)
    x_ref, P_ref = _reference_predict(model, x, P, dt)
    # Bit for bit, but for the drag-limited steps of row 1 (1 / rate, where the model's |v|,
    # an einsum, and the kernel's may be an ulp apart) and Kepler gravity (the physics'
    # general routine in the model, another order of the same products).
    np.testing.assert_allclose(x_new, x_ref, rtol=1e-13, atol=1e-9)
    if model is not KEPLER_BALLISTIC:
        np.testing.assert_array_equal(np.delete(x_new, 1, 0), np.delete(x_ref, 1, 0))
    scale = np.sqrt(np.einsum("kii,kjj->kij", P_ref, P_ref))  # sqrt(P_ii P_jj) per element
    np.testing.assert_array_less(np.abs(P_new - P_ref), 1e-12 * scale + 1e-300)
    np.testing.assert_array_equal(P_new, P_new.mT)
    np.testing.assert_array_equal(P_new[5], P_ref[5])


def test_drag_linearisation_variance_is_the_residual_of_the_best_line():
    """exp(-d), d ~ N(0, s^2), less its least-squares line in d: the residual's variance is
    drag_linearisation_variance(s^2) (~ s^4 / 2 for a small s), and the extended filter's
    noise grows by |a_drag|^2 times it per second of step along the velocity (none without
    the variance, none in powered flight)."""
    from kizuna.tracking.motion import drag_linearisation_variance, drag_mps2

    rng = np.random.default_rng(13)
    for s in (0.1, 0.5, 1.0):
        d = rng.normal(0.0, s, 2_000_000)
        y = np.exp(-d)
        slope, offset = np.polyfit(d, y, 1)
        residual = y - (slope * d + offset)
        assert abs(residual.var() / drag_linearisation_variance(s * s) - 1.0) < 0.03, s
    assert abs(drag_linearisation_variance(1e-4) / (0.5 * 1e-8) - 1.0) < 1e-3
    x = _states(2, 7, seed=14)
    x[:, :3] = lla_to_ecef(np.zeros(2), np.zeros(2), np.array([30e3, 400e3]))
    dt = np.full(2, 2.0)
    extra = BALLISTIC.noise(x, dt, np.full(2, 0.5)) - BALLISTIC.noise(x, dt)
    # Along the velocity only (the drag's direction): a^2 g dt^2 u u^T on v.
    u = x[:, 3:6] / np.linalg.norm(x[:, 3:6], axis=-1)[:, None]
    expected = (drag_mps2(x) ** 2 * drag_linearisation_variance(0.5) * 2.0 * 2.0)[
        :, None, None
    ] * (u[:, :, None] * u[:, None, :])
    np.testing.assert_allclose(extra[:, 3:6, 3:6], expected, rtol=1e-9, atol=1e-15)
    assert extra[0, 3, 3] > 0.0 and np.all(extra[:, 6, 6] == 0.0)
    assert np.all(BOOST.noise(np.c_[x, np.zeros((2, 3))], dt, np.full(2, 0.5))
                  == BOOST.noise(np.c_[x, np.zeros((2, 3))], dt))
