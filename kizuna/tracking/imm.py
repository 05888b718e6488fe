"""Interacting multiple model (IMM) estimator for powered and ballistic flight, over arrays.

Two models share the state layout of :mod:`kizuna.tracking.motion`: model 0 is
:data:`~kizuna.tracking.motion.BOOST` (10 states, thrust acceleration estimated under white
jerk), model 1 is :data:`~kizuna.tracking.motion.BALLISTIC` (the first 7 states; its thrust
block is identically zero, mean and covariance). Mixing between models of different dimension
follows the usual augmentation: the ballistic estimate enters the boost model with zero thrust
and zero thrust variance, and the boost estimate enters the ballistic model by its marginal.

Mode transitions per step of length dt (Markov, time-continuous):

    P(boost -> ballistic) = 1 - exp(-dt / tau_burn)   (burnout; tau_burn a prior burn time)
    P(ballistic -> boost) = min(1e-4 dt, 0.01)         (a later stage lighting; rare)

Once a track's ballistic probability exceeds a threshold for good it is *collapsed* to the
ballistic model alone (``imm`` False): a missile does not relight after burnout (spent stages
are separate objects), and the tracker then runs one filter instead of two for it.

Arrays: ``xm`` (K, 2, 10), ``Pm`` (K, 2, 10, 10), ``mu`` (K, 2), ``imm`` (K,) bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kizuna.tracking.filters import Filter, MeasurementModel, symmetrize
from kizuna.tracking.motion import BALLISTIC, BALLISTIC_DIM, BOOST, BOOST_DIM, MotionModel

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

BOOST_MODE = 0
BALLISTIC_MODE = 1
MODELS: tuple[MotionModel, MotionModel] = (BOOST, BALLISTIC)


def transition_matrix(dt_s: Array, tau_burn_s: float) -> Array:
    """Mode transition probabilities Pi[i, j] = P(mode j at t + dt | mode i at t), (K, 2, 2)."""
    dt = np.abs(np.asarray(dt_s, float))
    stay_boost = np.exp(-dt / tau_burn_s)
    relight = np.minimum(1e-4 * dt, 0.01)
    out = np.empty(dt.shape + (2, 2))
    out[..., 0, 0], out[..., 0, 1] = stay_boost, 1.0 - stay_boost
    out[..., 1, 0], out[..., 1, 1] = relight, 1.0 - relight
    return out


def combine(xm: Array, Pm: Array, mu: Array) -> tuple[Array, Array]:
    """Moment-matched mixture: x = sum mu_j x_j, P = sum mu_j (P_j + d_j d_j^T)."""
    x = np.einsum("kj,kji->ki", mu, xm)
    d = xm - x[:, None, :]
    P = np.einsum("kj,kjab->kab", mu, Pm + d[..., :, None] * d[..., None, :])
    return x, symmetrize(P)


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


def predict(
    filt: Filter,
    xm: Array,
    Pm: Array,
    mu: Array,
    imm: BoolArray,
    dt_s: Array,
    tau_burn_s: float,
) -> Prediction:
    """Mix (IMM tracks only) and predict each model by ``dt_s`` (K,)."""
    k = xm.shape[0]
    dt = np.broadcast_to(np.asarray(dt_s, float), (k,))
    xm_out = np.array(xm, float)
    Pm_out = np.array(Pm, float)
    c = np.array(mu, float)
    sel = np.flatnonzero(imm)
    if sel.size:
        pi = transition_matrix(dt[sel], tau_burn_s)
        c_sel = np.einsum("kij,ki->kj", pi, mu[sel])
        weights = pi * mu[sel][:, :, None] / np.maximum(c_sel[:, None, :], 1e-300)  # w[i|j]
        x0 = np.einsum("kij,kia->kja", weights, xm[sel])
        d = xm[sel][:, :, None, :] - x0[:, None, :, :]  # (K, i, j, n)
        P0 = np.einsum("kij,kiab->kjab", weights, Pm[sel]) + np.einsum(
            "kij,kija,kijb->kjab", weights, d, d
        )
        _zero_thrust(x0[:, BALLISTIC_MODE], P0[:, BALLISTIC_MODE])
        xb, Pb = filt.predict(BOOST, x0[:, BOOST_MODE], P0[:, BOOST_MODE], dt[sel])
        xm_out[sel, BOOST_MODE], Pm_out[sel, BOOST_MODE] = xb, Pb
        xm_out[sel, BALLISTIC_MODE] = x0[:, BALLISTIC_MODE]
        Pm_out[sel, BALLISTIC_MODE] = P0[:, BALLISTIC_MODE]
        c[sel] = c_sel
    n = BALLISTIC_DIM
    xs, Ps = filt.predict(
        BALLISTIC, xm_out[:, BALLISTIC_MODE, :n], Pm_out[:, BALLISTIC_MODE, :n, :n], dt
    )
    xm_out[:, BALLISTIC_MODE, :n], Pm_out[:, BALLISTIC_MODE, :n, :n] = xs, Ps
    return Prediction(xm_out, Pm_out, c)


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
    """Condition every model on z (K, m) and update the mode probabilities.

    ``inflate`` (K,), if given, is a covariance-intersection weight omega in (0, 1): the
    prior covariance is divided by omega and R by (1 - omega) (see :mod:`kizuna.tracking.fusion`).
    """
    xm = pred.xm.copy()
    Pm = pred.Pm.copy()
    Rm = R
    if inflate is not None:
        Pm = Pm / inflate[:, None, None, None]
        Rm = R / (1.0 - inflate)[:, None, None]
    k = xm.shape[0]
    loglik = np.full((k, 2), -np.inf)
    nis = np.zeros(k)
    n = BALLISTIC_DIM
    ub = filt.update(xm[:, BALLISTIC_MODE, :n], Pm[:, BALLISTIC_MODE, :n, :n], z, Rm, measurement)
    xm[:, BALLISTIC_MODE, :n], Pm[:, BALLISTIC_MODE, :n, :n] = ub.x, ub.P
    loglik[:, BALLISTIC_MODE] = ub.log_likelihood
    nis[:] = ub.nis
    sel = np.flatnonzero(imm)
    if sel.size:
        uo = filt.update(xm[sel, BOOST_MODE], Pm[sel, BOOST_MODE], z[sel], Rm[sel], measurement)
        xm[sel, BOOST_MODE], Pm[sel, BOOST_MODE] = uo.x, uo.P
        loglik[sel, BOOST_MODE] = uo.log_likelihood
        c = pred.c[sel]
        nis[sel] = c[:, 0] * uo.nis + c[:, 1] * ub.nis[sel]
    # mu_j ∝ c_j L_j, in logs for range (likelihoods of a 3-D radar plot span 1e-300 easily).
    with np.errstate(divide="ignore"):
        log_post = np.log(np.maximum(pred.c, 0.0)) + loglik
    log_post -= log_post.max(axis=1, keepdims=True)
    mu = np.exp(log_post)
    mu /= mu.sum(axis=1, keepdims=True)
    mu[~imm] = (0.0, 1.0)
    return Posterior(xm, Pm, mu, nis)


def collapse(xm: Array, Pm: Array, mu: Array, imm: BoolArray, which: BoolArray) -> None:
    """In place: tracks ``which`` keep only the ballistic model from now on."""
    imm[which] = False
    mu[which] = (0.0, 1.0)
    xm[which, BOOST_MODE] = xm[which, BALLISTIC_MODE]
    Pm[which, BOOST_MODE] = Pm[which, BALLISTIC_MODE]


__all__ = [
    "BALLISTIC_MODE",
    "BOOST_DIM",
    "BOOST_MODE",
    "MODELS",
    "Posterior",
    "Prediction",
    "collapse",
    "combine",
    "predict",
    "transition_matrix",
    "update",
]
