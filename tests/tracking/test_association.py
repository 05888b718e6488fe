"""Gating and assignment: the fast paths give the brute-force answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from kizuna.tracking import association
from kizuna.tracking.association import assign, ball_candidates
from kizuna.tracking.kernels import ball_pairs


@pytest.mark.parametrize(
    ("n_tracks", "n_reports", "box", "path"),
    [
        (200, 300, 1e5, "tree"),  # slabs of ~8 % of the box: too many candidates to sweep
        (200, 300, 2e6, "sweep"),  # objects far apart: the sweep's few candidates per slab
        (12, 40, 2e4, "dense"),  # <= _DENSE_PAIRS pairs: every distance
        (1, 1, 2e4, "dense"),
    ],
)
@pytest.mark.parametrize("one_radius", [False, True])
def test_ball_candidates_equals_all_pairs(n_tracks, n_reports, box, path, one_radius):
    rng = np.random.default_rng(n_tracks)
    tracks = rng.uniform(0, box, (n_tracks, 3))
    reports = rng.uniform(0, box, (n_reports, 3))
    if box > 1e6:  # half the reports beside a track, so that there are pairs to find
        reports[:150] = tracks[:150] + rng.normal(0, 3e3, (150, 3))
    radius = 2e4 if one_radius else rng.uniform(1e3, 8e3, n_tracks)
    r = np.broadcast_to(radius, (n_tracks,)).copy()
    order = reports[:, 0].argsort()
    _, _, swept = ball_pairs(tracks, r, reports, order, association._SWEEP_BUDGET)
    assert swept == (path == "sweep") or path == "dense"
    rows, cols = ball_candidates(tracks, radius, reports)
    d = np.linalg.norm(tracks[:, None] - reports[None], axis=-1)
    want = set(zip(*np.nonzero(d <= np.reshape(radius, (-1, 1))), strict=True))
    assert want or n_tracks == 1  # the case has pairs to find
    assert set(zip(rows.tolist(), cols.tolist(), strict=True)) == want
    assert len(rows) == len(want)  # no pair twice
    assert np.all(np.diff(rows) >= 0)  # grouped by track


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
