"""Covariance intersection stays consistent whatever the cross-correlation."""

from __future__ import annotations

import numpy as np

from kizuna.tracking.fusion import ci_fuse


def test_ci_is_consistent_for_correlated_estimates():
    rng = np.random.default_rng(0)
    n = 20000
    P = np.diag([400.0, 100.0, 900.0, 4.0, 4.0, 4.0, 1e-10])
    R = np.diag([100.0, 900.0, 400.0])
    # Errors of the two estimates share a common component (correlation ~0.8 in position).
    common = rng.normal(size=(n, 3)) * np.sqrt([80.0, 80.0, 300.0])
    e_track = np.concatenate(
        [
            common + rng.normal(size=(n, 3)) * np.sqrt(np.diag(P)[:3] - [80.0, 80.0, 300.0]),
            rng.normal(size=(n, 4)) * np.sqrt(np.diag(P)[3:]),
        ],
        axis=1,
    )
    e_partner = common + rng.normal(size=(n, 3)) * np.sqrt(np.diag(R) - [80.0, 80.0, 300.0])
    H = np.zeros((3, 7))
    H[:, :3] = np.eye(3)
    x = e_track  # truth is 0
    z = e_partner
    xf, Pf, omega = ci_fuse(
        x,
        np.broadcast_to(P, (n, 7, 7)).copy(),
        z,
        np.broadcast_to(R, (n, 3, 3)).copy(),
        np.broadcast_to(H, (n, 3, 7)),
    )
    assert np.all((omega > 0) & (omega < 1))
    err = xf[:, :3]
    actual = err.T @ err / n
    # Consistent: the claimed covariance is at least the actual one in every direction.
    gap = np.linalg.eigvalsh(Pf[0, :3, :3] - actual)
    assert gap.min() > -0.02 * np.trace(actual)
    # ...and it is still a real fusion: tighter than either input.
    assert np.trace(Pf[0, :3, :3]) < min(np.trace(P[:3, :3]), np.trace(R))


def test_a_point_looser_than_the_track_is_not_fused():
    """A partner's 300 m point beside a 20 m radar track buys nothing; fused at the grid's
    largest omega (0.995) it divided the track's covariance by 0.995 each time it came, the
    steady inflation that left srbm-salvo's tracks too cautious (old code: omega < 1 always).
    Kept (omega = 1), the track is exactly as it was; a point tighter than the track is still
    fused."""
    from kizuna.tracking.fusion import ci_omega

    P = np.diag([400.0, 400.0, 400.0, 4.0, 4.0, 4.0, 0.5])
    H = np.zeros((1, 3, 7))
    H[0, :, :3] = np.eye(3)
    x = np.arange(7.0)[None]
    loose = np.eye(3)[None] * 300.0**2
    xf, Pf, omega = ci_fuse(x, P[None].copy(), x[:, :3] + 250.0, loose, H)
    assert omega.tolist() == [1.0]
    assert np.array_equal(xf, x) and np.array_equal(Pf[0], P)
    tight = np.eye(3)[None] * 5.0**2
    assert 0.0 < ci_omega(P[None], H, tight)[0] < 1.0
