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
    np.testing.assert_array_equal(P, Pm[[1, 4], 1])
