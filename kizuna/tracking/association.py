"""Gating and global nearest-neighbour assignment, linear in the number of objects.

Gating is two-stage: a k-d tree over the batch's measured points (scipy ``cKDTree``) returns,
for each predicted track, only the reports inside a Euclidean ball of radius
``gamma * sqrt(trace P_pos) + gamma * sigma_report + |v| * max|dt|`` (a sphere that contains
the track's gamma-sigma validation ellipsoid), so the exact Mahalanobis test runs on a number of
pairs that grows with the objects, not their square. The second stage is the chi-square gate on
the innovation nu^T S^-1 nu of each surviving pair.

Assignment is global nearest neighbour with the likelihood cost d^2 + ln|S| (Blackman &
Popoli 1999, sec. 6.2), which prefers the sharper of two equally distant hypotheses. Clusters
in which one track and one report only see each other are assigned directly; the rest go to
``scipy.optimize.linear_sum_assignment`` on the (small) dense block of ambiguous rows and
columns.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from kizuna.tracking.kernels import ball_pairs, kernel_array

Array = NDArray[np.float64]
IntArray = NDArray[np.intp]

_FORBIDDEN = 1e12
# Up to this many (track, report) pairs the distances are all computed (a handful of numpy
# calls, ~10-40 us) instead of building and querying a k-d tree (~60-90 us of fixed cost:
# the tree's own checks and one Python list per query). Past it the tree keeps the cost
# linear in the objects; below it the dense work is bounded by this constant.
_DENSE_PAIRS = 4096
# Past that, the sweep along one axis (see ball_candidates) while its slabs hold at most this many
# candidates per point, else the k-d tree.
_SWEEP_BUDGET = 4
_NO_ORDER = np.zeros(0, np.intp)  # ball_pairs: every pair, no sweep


def ball_candidates(
    track_points: Array, radius_m: Array | float, report_points: Array
) -> tuple[IntArray, IntArray]:
    """All (track, report) index pairs whose points lie within the track's radius (m).

    ``radius_m``: one radius per track (K,) or one for all. Pairs come grouped by track
    (ascending); the order of a track's reports is unspecified."""
    n, m = track_points.shape[0], report_points.shape[0]
    if n == 0 or m == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    r = np.empty(n)
    r[:] = radius_m
    points, reports = kernel_array(track_points), kernel_array(report_points)
    if n * m <= _DENSE_PAIRS:
        rows, cols, _ = ball_pairs(points, r, reports, _NO_ORDER, _SWEEP_BUDGET)
        return rows, cols
    # The sweep along the first axis: the reports sorted by it, each track's slab
    # |x_report - x_track| <= radius located by binary search, then the exact distance test
    # on the slab's reports, in one compiled loop (kernels.ball_pairs). It gives up when the
    # slabs hold more than _SWEEP_BUDGET candidates per point (objects lined up along that
    # axis, or dense): the k-d tree's cost does not depend on the geometry. In the usual scan
    # (objects kilometres apart, gates of a few kilometres) each slab holds a report or two.
    order = report_points[:, 0].argsort()
    rows, cols, swept = ball_pairs(points, r, reports, order, _SWEEP_BUDGET)
    if swept:
        return rows, cols
    tree = cKDTree(report_points)
    hits = tree.query_ball_point(track_points, radius_m, return_sorted=False)
    # One pass of C-level iteration over the lists (no per-list array): ~40 % of this
    # function's time at 100-1,000 tracks.
    counts = np.fromiter(map(len, hits), dtype=np.intp, count=len(hits))
    rows = np.arange(len(hits), dtype=np.intp).repeat(counts)
    cols = np.fromiter(itertools.chain.from_iterable(hits), dtype=np.intp, count=rows.size)
    return rows, cols


def assign(
    rows: IntArray, cols: IntArray, cost: Array, n_rows: int, n_cols: int
) -> tuple[IntArray, IntArray]:
    """Minimum-cost one-to-one assignment over the gated pairs (rows[i], cols[i], cost[i]).

    Pairs not listed are forbidden. Returns the assigned (row, col) index arrays.
    """
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    row_count = np.bincount(rows, minlength=n_rows)
    col_count = np.bincount(cols, minlength=n_cols)
    simple = (row_count[rows] == 1) & (col_count[cols] == 1)
    out_r = [rows[simple]]
    out_c = [cols[simple]]
    hard = ~simple
    if hard.any():
        hr, hc, hcost = rows[hard], cols[hard], cost[hard]
        ur, r_idx = np.unique(hr, return_inverse=True)
        uc, c_idx = np.unique(hc, return_inverse=True)
        dense = np.full((ur.size, uc.size), _FORBIDDEN)
        np.minimum.at(dense, (r_idx, c_idx), hcost)
        ar, ac = linear_sum_assignment(dense)
        ok = dense[ar, ac] < _FORBIDDEN
        out_r.append(ur[ar[ok]])
        out_c.append(uc[ac[ok]])
    return np.concatenate(out_r), np.concatenate(out_c)


__all__ = ["assign", "ball_candidates"]
