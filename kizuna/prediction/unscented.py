"""Scaled unscented transform: sigma points and weights, vectorised over tracks.

For a state of dimension n with mean x and covariance P, the 2n+1 sigma points are

    X_0 = x,   X_i = x + sqrt(n + lambda) L_i,   X_{n+i} = x - sqrt(n + lambda) L_i

with L the lower Cholesky factor of P (columns L_i) and lambda = alpha^2 (n + kappa) - n
(Julier and Uhlmann 2004; Wan and van der Merwe 2000). The weights are

    Wm_0 = lambda / (n + lambda),   Wc_0 = Wm_0 + 1 - alpha^2 + beta,
    Wm_i = Wc_i = 1 / (2 (n + lambda)).

kizuna's default is alpha = 1, kappa = 0, beta = 2: lambda = 0, so the points sit at
sqrt(n) sigma (2.45 sigma for n = 6) and the mean weight of the centre is zero. The impact map
of a ballistic state is smooth but curved over a few sigma; spreading the points out to where
the 95 % contour lies captures that curvature where the ellipse is drawn, while Wc_0 = 2 keeps
the covariance weights positive (a negative centre weight, as with kappa = 3 - n, can make
the predicted covariance indefinite).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True)
class UnscentedWeights:
    """Mean and covariance weights, each of shape (2n+1,)."""

    mean: Array
    covariance: Array
    scale: float  # sqrt(n + lambda), the spread of the points in units of the Cholesky factor


def unscented_weights(
    n: int, alpha: float = 1.0, beta: float = 2.0, kappa: float = 0.0
) -> UnscentedWeights:
    """Weights of the scaled unscented transform for dimension ``n``."""
    lam = alpha * alpha * (n + kappa) - n
    if n + lam <= 0:
        raise ValueError(f"n + lambda must be positive (n={n}, alpha={alpha}, kappa={kappa})")
    mean = np.full(2 * n + 1, 0.5 / (n + lam))
    covariance = mean.copy()
    mean[0] = lam / (n + lam)
    covariance[0] = mean[0] + 1.0 - alpha * alpha + beta
    return UnscentedWeights(mean, covariance, float(np.sqrt(n + lam)))


def robust_cholesky(P: ArrayLike) -> Array:
    """Lower Cholesky factor of covariances (..., n, n), tolerating round-off.

    A filter's covariance can be symmetric positive semi-definite only up to round-off; we
    symmetrise it and, where the factorisation fails, add the smallest diagonal jitter (relative
    to the diagonal) that makes it succeed, rather than fail a whole batch of tracks.
    """
    P = np.asarray(P, float)
    P = 0.5 * (P + np.swapaxes(P, -1, -2))
    try:
        return np.linalg.cholesky(P)
    except np.linalg.LinAlgError:
        pass
    n = P.shape[-1]
    diag = np.abs(np.diagonal(P, axis1=-2, axis2=-1)).max(axis=-1, keepdims=True)
    for jitter in (1e-12, 1e-10, 1e-8, 1e-6):
        try:
            return np.linalg.cholesky(
                P + (jitter * np.maximum(diag, 1e-300))[..., None] * np.eye(n)
            )
        except np.linalg.LinAlgError:
            continue
    # Last resort: the positive part of the eigen-decomposition (a symmetric square root,
    # not triangular, but any square root L with L L^T = P gives valid sigma points).
    vals, vecs = np.linalg.eigh(P)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))[..., None, :]


def sigma_points(x: ArrayLike, P: ArrayLike, weights: UnscentedWeights) -> Array:
    """Sigma points of states ``x`` (..., n) with covariances ``P`` (..., n, n).

    Returns (..., 2n+1, n): the mean first, then the + and - points along each column of the
    Cholesky factor.
    """
    x = np.asarray(x, float)
    L = robust_cholesky(P) * weights.scale
    offsets = np.swapaxes(L, -1, -2)  # row i is column i of L
    return np.concatenate(
        [x[..., None, :], x[..., None, :] + offsets, x[..., None, :] - offsets], axis=-2
    )


__all__ = ["UnscentedWeights", "robust_cholesky", "sigma_points", "unscented_weights"]
