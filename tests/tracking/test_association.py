"""Gating and assignment: the fast paths give the brute-force answers."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from kizuna.tracking.association import assign, ball_candidates


def test_ball_candidates_equals_all_pairs():
    rng = np.random.default_rng(0)
    tracks = rng.uniform(0, 1e5, (200, 3))
    reports = rng.uniform(0, 1e5, (300, 3))
    radius = rng.uniform(1e3, 8e3, 200)
    rows, cols = ball_candidates(tracks, radius, reports)
    d = np.linalg.norm(tracks[:, None] - reports[None], axis=-1)
    want = set(zip(*np.nonzero(d <= radius[:, None]), strict=True))
    assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == want


def test_assignment_matches_dense_linear_sum_assignment():
    rng = np.random.default_rng(1)
    for trial in range(30):
        n_r, n_c = rng.integers(1, 12, 2)
        mask = rng.random((n_r, n_c)) < 0.35
        cost = rng.uniform(0, 10, (n_r, n_c))
        rows, cols = np.nonzero(mask)
        ar, ac = assign(rows, cols, cost[rows, cols], n_r, n_c)
        # Reference: dense problem with forbidden pairs priced out; keep allowed pairs only.
        dense = np.where(mask, cost, 1e9)
        rr, cc = linear_sum_assignment(dense)
        ok = mask[rr, cc]
        assert len(ar) == ok.sum(), trial
        assert np.isclose(cost[ar, ac].sum(), cost[rr[ok], cc[ok]].sum()), trial
        assert len(set(ar.tolist())) == len(ar) and len(set(ac.tolist())) == len(ac)
        assert np.all(mask[ar, ac])
