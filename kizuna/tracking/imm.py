"""Interacting multiple model (IMM) estimator for powered and ballistic flight, over arrays.

Two models share the state layout of :mod:`kizuna.tracking.motion`: model 0 is
:data:`~kizuna.tracking.motion.BOOST` (10 states, thrust acceleration estimated under white
jerk), model 1 is :data:`~kizuna.tracking.motion.BALLISTIC` (the first 7 states; its thrust
block is identically zero, mean and covariance). Mixing between models of different dimension
follows the usual augmentation: the ballistic estimate enters the boost model with zero thrust
and zero thrust variance, and the boost estimate enters the ballistic model by its marginal.

At the boost -> ballistic transition (burnout) l = ln(beta) does not carry over: the mixing
hands it to the ballistic mode at its prior; at the ballistic -> boost one (a stage lighting)
the thrust starts at zero with the prior thrust uncertainty (see :func:`_mixing_sources`).

Mode transitions per step of length dt (Markov, time-continuous):

    P(boost -> ballistic) = 1 - exp(-h dt)     (burnout, hazard h from :func:`burnout_rate_per_s`)
    P(ballistic -> boost) = min(1e-4 dt, 0.01)  (a later stage lighting; rare)

The burnout hazard is not a constant: a rocket does not burn out at any moment with equal
probability. It is conditioned on the speed the powered object has reached, through a prior on
burnout speeds (see :func:`burnout_rate_per_s`): below the slowest burnout speed of the
missiles of concern it is nearly zero, so that seconds of uninformative plots (a lone radar at
long range low in the boost, a staging's thrust drop) no longer drain the boost probability
into the ballistic mode by the Markov prior alone.

Once a track's ballistic probability exceeds a threshold for good it is *collapsed* to the
ballistic model alone (``imm`` False): a missile does not relight after burnout (spent stages
are separate objects), and the tracker then runs one filter instead of two for it. A space
launcher's upper stage does relight after a coast (satellite-sohae's third stage, 300 s after
the second stage's burnout), and it is seen doing so as it leaves the spent stage it coasted
with: the tracker *reopens* (:func:`reopen`) a collapsed track beside which a separation is
seen.

Arrays: ``xm`` (K, 2, 10), ``Pm`` (K, 2, 10, 10), ``mu`` (K, 2), ``imm`` (K,) bool.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kizuna.tracking.filters import Filter, MeasurementModel
from kizuna.tracking.kernels import imm_mix, kernel_array, mode_mixture
from kizuna.tracking.motion import (
    BALLISTIC,
    BALLISTIC_DIM,
    BOOST,
    BOOST_DIM,
    LOG_BETA,
    LOG_BETA_PRIOR,
    LOG_BETA_SIGMA,
    THRUST,
    MotionModel,
)

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

BOOST_MODE = 0
BALLISTIC_MODE = 1
MODELS: tuple[MotionModel, MotionModel] = (BOOST, BALLISTIC)


# Prior on burnout speed (Earth-relative, m/s), from published flights: the slowest burnout
# of a ballistic missile of concern is a Scud-B's at 300 km (~1.5 km/s; KN-23 and Nodong-class
# burn out at 2-3.5 km/s, IRBMs at 4-5, ICBMs lofted or not at 6-7); the fastest powered
# objects are space launchers' upper stages at orbital speed (7.5 km/s relative to the Earth
# on a southward launch).
BURNOUT_SPEED_MIN_MPS = 1500.0
BURNOUT_SPEED_MAX_MPS = 7500.0
# Thrust acceleration per axis (m/s^2) of a track that may be under thrust but whose thrust
# the data have not yet shown: a track first seen possibly powered, or a stage lighting.
# Missiles mid-burn accelerate at 20-100 m/s^2, upper stages at 10-20, in an unknown direction.
THRUST_SIGMA_MPS2 = 30.0
# Below the slowest burnout speed the hazard keeps this floor (1/h): a track started on a
# slow unpowered object with a boost prior still leaves the boost mode by its likelihood.
BURNOUT_RATE_FLOOR_PER_S = 1.0 / 3600.0


def burnout_rate_per_s(x_boost: Array, tau_burn_s: float) -> Array:
    """Hazard (1/s) of burnout for boost-mode states ``x_boost`` (K, 10).

    With burnout speeds uniform on [BURNOUT_SPEED_MIN_MPS, BURNOUT_SPEED_MAX_MPS] and a powered
    object gaining speed at its thrust acceleration a (m/s^2, the state's thrust estimate), the
    hazard in time is the hazard in speed times dv/dt:

        h = a f(v) / S(v) = a / (v_max - v)      for v_min <= v < v_max,

    bounded above by 1 / ``tau_burn_s`` (the shortest mean remaining burn the tracker assumes),
    equal to that bound at or beyond v_max, and BURNOUT_RATE_FLOOR_PER_S below v_min. v is the
    ECEF speed (m/s); the thrust estimate's own sign noise does not matter (its norm is used).
    """
    x = np.asarray(x_boost, float)
    v, a = x[..., 3:6], x[..., 7:10]
    # np.linalg.norm's own sum, without its Python dispatch
    speed = np.sqrt(np.add.reduce(v * v, axis=-1))
    accel = np.sqrt(np.add.reduce(a * a, axis=-1))
    cap = 1.0 / tau_burn_s
    rate = np.where(
        speed < BURNOUT_SPEED_MAX_MPS,
        accel / np.maximum(BURNOUT_SPEED_MAX_MPS - speed, 1e-9),
        cap,
    )
    rate = np.minimum(rate, cap)
    return np.where(speed < BURNOUT_SPEED_MIN_MPS, BURNOUT_RATE_FLOOR_PER_S, rate)


def transition_matrix(dt_s: Array, tau_burn_s: float, burnout_rate_s: Array | None = None) -> Array:
    """Mode transition probabilities Pi[i, j] = P(mode j at t + dt | mode i at t), (K, 2, 2).

    ``burnout_rate_s`` (K,), 1/s: the boost -> ballistic hazard per track (default the constant
    1 / ``tau_burn_s``).
    """
    dt = np.abs(np.asarray(dt_s, float))
    rate = 1.0 / tau_burn_s if burnout_rate_s is None else np.asarray(burnout_rate_s, float)
    stay_boost = np.exp(-dt * rate)
    relight = np.minimum(1e-4 * dt, 0.01)
    out = np.empty(dt.shape + (2, 2))
    out[..., 0, 0], out[..., 0, 1] = stay_boost, 1.0 - stay_boost
    out[..., 1, 0], out[..., 1, 1] = relight, 1.0 - relight
    return out


def combine(
    xm: Array,
    Pm: Array,
    mu: Array,
    dim: int | None = None,
    rows: NDArray[np.intp] | None = None,
) -> tuple[Array, Array]:
    """Moment-matched mixture: x = sum mu_j x_j, P = sum mu_j (P_j + d_j d_j^T), over the
    first ``dim`` states (default all), of the tracks ``rows`` (default all; e.g. slots of a
    table, without gathering their covariances first), in one compiled loop
    (kernels.mode_mixture).

    A track whose mode probabilities are exactly (0, 1) (collapsed to ballistic, most tracks
    in midcourse) is its ballistic mode.
    """
    return mode_mixture(
        kernel_array(xm),
        kernel_array(Pm),
        kernel_array(mu),
        np.arange(xm.shape[0]) if rows is None else rows,
        xm.shape[-1] if dim is None else dim,
    )


def _zero_thrust(x: Array, P: Array) -> None:
    x[..., BALLISTIC_DIM:] = 0.0
    P[..., BALLISTIC_DIM:, :] = 0.0
    P[..., :, BALLISTIC_DIM:] = 0.0


@dataclass(frozen=True)
class Prediction:
    """Model-conditioned predictions and the predicted mode probabilities c_j."""

    xm: Array
    Pm: Array
    c: Array

    def combined(self) -> tuple[Array, Array]:
        return combine(self.xm, self.Pm, self.c)


@functools.lru_cache(maxsize=32)
def _stacked_model(n_boost: int, n_ballistic: int) -> MotionModel:
    """One 10-state model whose first rows are boost-mode rows and the rest ballistic rows.

    The ballistic model *is* the boost model with zero thrust, zero thrust covariance and no
    jerk noise, so both modes of every track propagate in a single vectorised call. Cached:
    the row counts change little from scan to scan (the per-row arrays are read-only).
    """

    def per_row(boost: float, ballistic: float) -> Array:
        out = np.concatenate([np.full(n_boost, boost), np.full(n_ballistic, ballistic)])
        out.flags.writeable = False
        return out

    return BOOST.rows(
        per_row(BOOST.q_accel_m2_s3, BALLISTIC.q_accel_m2_s3),  # type: ignore[arg-type]
        per_row(BOOST.q_log_beta, BALLISTIC.q_log_beta),  # type: ignore[arg-type]
        per_row(BOOST.q_jerk_m2_s5, 0.0),  # type: ignore[arg-type]
        per_row(BOOST.drag_error_fraction, BALLISTIC.drag_error_fraction),  # type: ignore[arg-type]
        per_row(BOOST.drag_linearisation, BALLISTIC.drag_linearisation),  # type: ignore[arg-type]
    )


def _mixing_sources(xm: Array, Pm: Array) -> tuple[Array, Array]:
    """The estimate each mode i hands to each mode j in mixing: (K, i, j, 10) and covariances.

    Every pair hands over mode i's estimate unchanged except boost -> ballistic, the burnout
    itself, which hands over l = ln(beta) at its prior (LOG_BETA_PRIOR, LOG_BETA_SIGMA,
    uncorrelated with the rest): beta jumps at burnout (the body's mass and shape change: the
    propellant is gone, a stage or shroud leaves; the physics boost flies the powered body at
    2,000 kg/m^2 and what follows at 5,000-10,000), so what the boost model learnt of the
    powered body's drag, mixed with its thrust along the same velocity axis, says nothing
    about the vehicle after burnout. Carried over, it was: srbm-salvo's ballistic tracks left
    the boost with l 1 off the truth and sigma 0.05 (20 sigma), and an l that wrong is a drag
    error the ballistic model then met as unmodelled acceleration all the way down.

    Likewise ballistic -> boost, a stage lighting, hands over the thrust at zero with
    THRUST_SIGMA_MPS2 per axis: the ballistic mode's thrust is zero with zero variance, and a
    boost mode fed that could only grow a thrust through its jerk noise, seconds after the
    data showed it (the lit stage's plots went to a track that called it ballistic).
    """
    xi = np.repeat(xm[:, :, None, :], 2, axis=2)
    Pi = np.repeat(Pm[:, :, None, :, :], 2, axis=2)
    burnout = (slice(None), BOOST_MODE, BALLISTIC_MODE)
    xi[burnout + (LOG_BETA,)] = LOG_BETA_PRIOR
    Pi[burnout + (LOG_BETA, slice(None))] = 0.0
    Pi[burnout + (slice(None), LOG_BETA)] = 0.0
    Pi[burnout + (LOG_BETA, LOG_BETA)] = LOG_BETA_SIGMA**2
    relight = (slice(None), BALLISTIC_MODE, BOOST_MODE)
    Pi[relight + (THRUST, THRUST)] = THRUST_SIGMA_MPS2**2 * np.eye(3)
    return xi, Pi


@functools.lru_cache(maxsize=8)
def _mix_figures(tau_burn_s: float) -> tuple[float, ...]:
    """The figures of mixing that kernels.imm_mix takes (see its docstring)."""
    return (
        BURNOUT_SPEED_MIN_MPS,
        BURNOUT_SPEED_MAX_MPS,
        BURNOUT_RATE_FLOOR_PER_S,
        float(tau_burn_s),
        LOG_BETA_PRIOR,
        LOG_BETA_SIGMA,
        THRUST_SIGMA_MPS2,
    )


def predict(
    filt: Filter,
    xm: Array,
    Pm: Array,
    mu: Array,
    imm: BoolArray,
    dt_s: Array,
    tau_burn_s: float,
) -> Prediction:
    """Mix (IMM tracks only) and predict each mode by ``dt_s`` (K,), in one filter call.

    The filter's rows are the boost mode of the IMM tracks, then the ballistic mode of every
    track. A collapsed track's boost mode is not predicted (its probability is 0 and nothing
    reads it): it is returned as given.
    """
    k = xm.shape[0]
    dt = np.empty(k)
    dt[:] = dt_s  # (scalar or (K,))
    sel = imm.nonzero()[0]
    ns = sel.size
    # Mixing (burnout hazard, transition matrix, weights, _mixing_sources' hand-overs) and
    # the filter's rows, in one compiled loop: kernels.imm_mix.
    rows_x, rows_P, rows_dt, c = imm_mix(
        kernel_array(xm), kernel_array(Pm), kernel_array(mu), sel, dt, _mix_figures(tau_burn_s)
    )
    xr, Pr = filt.predict(_stacked_model(ns, k), rows_x, rows_P, rows_dt)
    _zero_thrust(xr[ns:], Pr[ns:])
    x0 = np.empty(xm.shape)
    P0 = np.empty(Pm.shape)
    x0[:, BOOST_MODE], P0[:, BOOST_MODE] = xm[:, BOOST_MODE], Pm[:, BOOST_MODE]
    x0[sel, BOOST_MODE], P0[sel, BOOST_MODE] = xr[:ns], Pr[:ns]
    x0[:, BALLISTIC_MODE], P0[:, BALLISTIC_MODE] = xr[ns:], Pr[ns:]
    return Prediction(x0, P0, c)


@dataclass(frozen=True)
class Posterior:
    xm: Array
    Pm: Array
    mu: Array
    nis: Array  # (K,) of the combined innovation under the mode-probability mixture


def update(
    filt: Filter,
    pred: Prediction,
    imm: BoolArray,
    z: Array,
    R: Array,
    measurement: MeasurementModel,
    inflate: Array | None = None,
) -> Posterior:
    """Condition every mode on z (K, m) and update the mode probabilities, in one filter call.

    ``inflate`` (K,), if given, is a covariance-intersection weight omega in (0, 1]: the
    prior covariance is divided by omega and R by (1 - omega) (see :mod:`kizuna.tracking.fusion`);
    a row with omega = 1 takes nothing from z and keeps its prediction and mode probabilities.
    """
    xm = pred.xm
    Pm = pred.Pm
    Rm = R
    keep = None
    if inflate is not None:
        keep = inflate >= 1.0
        w = np.where(keep, 0.5, inflate)  # any weight: the kept rows are restored at the end
        Pm = Pm / w[:, None, None, None]
        Rm = R / (1.0 - w)[:, None, None]
    k = xm.shape[0]
    sel = imm.nonzero()[0]
    if sel.size:
        rows = np.concatenate([sel, np.arange(k)])
        up = filt.update(
            np.concatenate([xm[sel, BOOST_MODE], xm[:, BALLISTIC_MODE]]),
            np.concatenate([Pm[sel, BOOST_MODE], Pm[:, BALLISTIC_MODE]]),
            z[rows],
            Rm[rows],
            measurement.take(rows),
        )
    else:
        # Every track collapsed (most midcourse scans): the ballistic rows on their own 7
        # states (the thrust block is zero, mean and covariance, and stays so: the update
        # is the same, in 7x7 products instead of 10x10).
        b = BALLISTIC_DIM
        up = filt.update(
            xm[:, BALLISTIC_MODE, :b], Pm[:, BALLISTIC_MODE, :b, :b], z, Rm, measurement
        )
    xm_out = pred.xm.copy()
    Pm_out = pred.Pm.copy()
    if sel.size:
        xm_out[sel, BOOST_MODE], Pm_out[sel, BOOST_MODE] = up.x[: sel.size], up.P[: sel.size]
        xm_out[:, BALLISTIC_MODE], Pm_out[:, BALLISTIC_MODE] = up.x[sel.size :], up.P[sel.size :]
    else:
        xm_out[:, BALLISTIC_MODE, :b], Pm_out[:, BALLISTIC_MODE, :b, :b] = up.x, up.P
    _zero_thrust(xm_out[:, BALLISTIC_MODE], Pm_out[:, BALLISTIC_MODE])
    nis = up.nis[sel.size :].copy()
    if not sel.size:  # no boost rows: every mode probability is (0, 1), as below
        mu = np.zeros((k, 2))  # (np.tile's Python layers cost ~10 us a call)
        mu[:, BALLISTIC_MODE] = 1.0
        return _keep(Posterior(xm_out, Pm_out, mu, nis), pred, keep)
    loglik = np.full((k, 2), -np.inf)
    loglik[:, BALLISTIC_MODE] = up.log_likelihood[sel.size :]
    loglik[sel, BOOST_MODE] = up.log_likelihood[: sel.size]
    c = pred.c[sel]
    nis[sel] = c[:, 0] * up.nis[: sel.size] + c[:, 1] * nis[sel]
    # mu_j ∝ c_j L_j, in logs for range (likelihoods of a 3-D radar plot span 1e-300 easily).
    with np.errstate(divide="ignore"):
        log_post = np.log(np.maximum(pred.c, 0.0)) + loglik
    log_post -= log_post.max(axis=1, keepdims=True)
    mu = np.exp(log_post)
    mu /= mu.sum(axis=1, keepdims=True)
    mu[~imm] = (0.0, 1.0)
    return _keep(Posterior(xm_out, Pm_out, mu, nis), pred, keep)


def _keep(post: Posterior, pred: Prediction, keep: BoolArray | None) -> Posterior:
    """``post`` with rows ``keep`` (covariance intersection at omega = 1) set back to ``pred``."""
    if keep is not None and keep.any():
        post.xm[keep], post.Pm[keep] = pred.xm[keep], pred.Pm[keep]
        post.mu[keep] = pred.c[keep]
        post.nis[keep] = 0.0
    return post


def collapse(xm: Array, Pm: Array, mu: Array, imm: BoolArray, which: BoolArray) -> None:
    """In place: tracks ``which`` keep only the ballistic model from now on."""
    imm[which] = False
    mu[which] = (0.0, 1.0)
    xm[which, BOOST_MODE] = xm[which, BALLISTIC_MODE]
    Pm[which, BOOST_MODE] = Pm[which, BALLISTIC_MODE]


def reopen(
    xm: Array, Pm: Array, mu: Array, imm: BoolArray, which: NDArray[np.intp], boost_p: float
) -> None:
    """In place: collapsed tracks among ``which`` run both models again (undoes :func:`collapse`).

    The boost mode starts from the ballistic estimate with zero thrust and THRUST_SIGMA_MPS2
    per axis (a stage lighting, as in mixing), at boost probability ``boost_p``; tracks still
    in the IMM are left as they are.
    """
    closed = which[~imm[which]]
    if closed.size == 0:
        return
    imm[closed] = True
    mu[closed] = (boost_p, 1.0 - boost_p)
    xm[closed, BOOST_MODE] = xm[closed, BALLISTIC_MODE]
    Pm[closed, BOOST_MODE] = Pm[closed, BALLISTIC_MODE]
    Pm[closed, BOOST_MODE, THRUST, THRUST] = THRUST_SIGMA_MPS2**2 * np.eye(3)


__all__ = [
    "BALLISTIC_MODE",
    "BOOST_DIM",
    "BOOST_MODE",
    "BURNOUT_SPEED_MAX_MPS",
    "BURNOUT_SPEED_MIN_MPS",
    "MODELS",
    "THRUST_SIGMA_MPS2",
    "Posterior",
    "Prediction",
    "burnout_rate_per_s",
    "collapse",
    "combine",
    "predict",
    "reopen",
    "transition_matrix",
    "update",
]
