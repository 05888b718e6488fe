"""Joint probabilistic data association (JPDA) over clusters of tracks that share plots.

Why: objects closer together than a radar's cross-range noise (a warhead and its spent body
0.2-2 km apart at 1,000 km range, where 0.05 deg is 900 m) cannot be told apart plot by plot.
Global nearest neighbour then commits each plot to one track; when the choice is wrong the
track takes the other object's plot with its full gain and a covariance that says nothing of
the doubt, so errors of kilometres sit under sigmas of hundreds of metres. JPDA instead weighs
every feasible association by its probability and moment-matches the result, so the covariance
grows by the spread of the hypotheses exactly when the data cannot decide (Bar-Shalom, Daum &
Huang, "The probabilistic data association filter", IEEE CSM 2009; Blackman & Popoli 1999,
sec. 6.6).

Model (per radar scan): each track is detected with probability ``pd`` and its plot falls in
its gate with probability ``pg``; false plots are Poisson with spatial density ``lambda`` per
unit of measurement space (m rad^2 for range, azimuth, elevation). A joint event assigns each
track at most one of its gated plots and each plot at most one track; its probability is

    P(e) ∝ prod_{t -> j} pd g_tj / lambda  *  prod_{t undetected} (1 - pd pg),

with g_tj the Gaussian density of the innovation of plot j under track t. The marginal
association probabilities beta_tj = sum_{e: t -> j} P(e) and beta_t0 (no plot for t) follow.

Clusters: the connected components of the track-plot gating graph; they are independent. A
cluster of one track is the PDA's closed form (vectorised over all such clusters at once).
Multi-track clusters are enumerated exactly; they are rare (closely spaced objects, salvos)
and small, and the loop runs over them only. A cluster whose event count would exceed
``max_events`` is given its global-nearest-neighbour assignment instead (hard, beta = 1).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

Array = NDArray[np.float64]
IntArray = NDArray[np.intp]


def clusters(rows: IntArray, cols: IntArray, n_rows: int, n_cols: int) -> IntArray:
    """Cluster label of every track (row) from the gated pairs; plots share their tracks'."""
    n = n_rows + n_cols
    graph = coo_matrix((np.ones(rows.size), (rows, n_rows + cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[:n_rows]


def marginals(
    rows: IntArray,
    cols: IntArray,
    log_g: Array,
    n_rows: int,
    pd: float,
    pg: float,
    clutter_density: float,
    fallback: tuple[IntArray, IntArray] | None = None,
    max_events: int = 50_000,
) -> tuple[Array, Array]:
    """Association probabilities of the gated pairs (rows[i], cols[i]) and of no detection.

    ``log_g`` (P,) the log Gaussian densities of the pairs' innovations. Returns ``beta`` (P,)
    and ``beta0`` (n_rows,); tracks with no gated plot get beta0 = 1. ``fallback`` is a hard
    assignment (rows, cols) used for a cluster too large to enumerate.
    """
    beta = np.zeros(rows.size)
    beta0 = np.ones(n_rows)
    if rows.size == 0:
        return beta, beta0
    n_cols = int(cols.max()) + 1
    # Log weight of "t -> j" relative to "t undetected" (clutter explains j instead).
    a0 = float(np.log1p(-pd * pg))
    a = np.log(pd) + log_g - np.log(clutter_density) - a0
    if np.bincount(cols).max() == 1:
        # No plot is shared: every track is its own cluster (the usual case for objects
        # kilometres apart), and the graph search is not needed.
        label = np.arange(n_rows)
    else:
        label = clusters(rows, cols, n_rows, n_cols)
    tracks_in = np.bincount(label, minlength=label.max() + 1)[label]  # tracks per cluster
    single = tracks_in[rows] == 1
    if single.any():
        # PDA: beta_j = e_j / (1 + sum e), beta_0 = 1 / (1 + sum e), e_j = exp(a_j); in logs.
        r, av = rows[single], a[single]
        top = np.full(n_rows, -np.inf)
        np.maximum.at(top, r, av)
        top = np.maximum(top, 0.0)  # the "undetected" term is exp(0) = 1
        e = np.exp(av - top[r])
        total = np.exp(-top) + np.bincount(r, weights=e, minlength=n_rows)
        beta[single] = e / total[r]
        has = np.zeros(n_rows, bool)
        has[r] = True
        beta0[has] = (np.exp(-top) / total)[has]
    multi = (~single).nonzero()[0]
    if multi.size:
        order = multi[np.argsort(label[rows[multi]], kind="stable")]
        cuts = np.flatnonzero(np.diff(label[rows[order]])) + 1
        for group in np.split(order, cuts):
            _cluster(group, rows, cols, a, beta, beta0, fallback, max_events)
    return beta, beta0


def _cluster(
    group: IntArray,
    rows: IntArray,
    cols: IntArray,
    a: Array,
    beta: Array,
    beta0: Array,
    fallback: tuple[IntArray, IntArray] | None,
    max_events: int,
) -> None:
    """Exact enumeration of one cluster's joint events (in place into beta, beta0)."""
    tracks = np.unique(rows[group])
    # events: (E, t) plot index per track so far, -1 = undetected; logw: (E,)
    events = np.zeros((1, 0), np.intp)
    logw = np.zeros(1)
    for t in tracks:
        mine = group[rows[group] == t]
        options = np.concatenate([[-1], cols[mine]])
        gains = np.concatenate([[0.0], a[mine]])
        taken = (events[:, :, None] == options[None, None, :]).any(axis=1)  # (E, O)
        taken[:, 0] = False
        e_idx, o_idx = np.nonzero(~taken)
        if e_idx.size > max_events:
            _hard(group, rows, cols, tracks, beta, beta0, fallback)
            return
        events = np.concatenate([events[e_idx], options[o_idx, None]], axis=1)
        logw = logw[e_idx] + gains[o_idx]
    w = np.exp(logw - logw.max())
    w /= w.sum()
    for i, t in enumerate(tracks):
        beta0[t] = w[events[:, i] == -1].sum()
        for p in group[rows[group] == t]:
            beta[p] = w[events[:, i] == cols[p]].sum()


def _hard(
    group: IntArray,
    rows: IntArray,
    cols: IntArray,
    tracks: IntArray,
    beta: Array,
    beta0: Array,
    fallback: tuple[IntArray, IntArray] | None,
) -> None:
    beta[group] = 0.0
    beta0[tracks] = 1.0
    if fallback is None:
        return
    fr, fc = fallback
    for p in group:
        hit = (fr == rows[p]) & (fc == cols[p])
        if hit.any():
            beta[p] = 1.0
            beta0[rows[p]] = 0.0


def floor_weights(
    owner: IntArray,
    weight: Array,
    n_tracks: int,
    floor: float,
    always: IntArray | None = None,
) -> tuple[NDArray[np.bool_], IntArray, Array]:
    """Drop the hypotheses of weight <= ``floor`` (except those at indices ``always``) and
    renormalise each track's remaining weights to sum to 1 (see :func:`reduce_mixture`).

    Returns the kept mask (H,) and the kept hypotheses' owners and weights; when nothing is
    dropped, the inputs themselves."""
    keep = weight > floor
    if always is not None:
        keep[always] = True
    if keep.all():
        return keep, owner, weight
    owner, weight = owner[keep], weight[keep]
    return keep, owner, weight / np.bincount(owner, weights=weight, minlength=n_tracks)[owner]


def reduce_mixture(
    owner: IntArray,
    weight: Array,
    xm: Array,
    Pm: Array,
    mu: Array,
    n_tracks: int,
    centre: IntArray | None = None,
    floor: float = 0.0,
) -> tuple[Array, Array, Array]:
    """Moment-match each track's association hypotheses, mode by mode (IMM-JPDA).

    Hypothesis h of track ``owner[h]`` has probability ``weight[h]`` (summing to 1 per track)
    and mode-conditioned estimates ``xm`` (H, M, n), ``Pm`` (H, M, n, n) with mode
    probabilities ``mu`` (H, M). The joint probability of (h, mode j) is weight_h mu_hj, so

        mu_j = sum_h w_h mu_hj,  x_j = sum_h w_h mu_hj x_hj / mu_j,
        P_j = sum_h (w_h mu_hj / mu_j) (P_hj + (x_hj - x_j)(x_hj - x_j)^T).

    The spread term is what keeps the covariance honest when the hypotheses disagree. A mode
    with zero total weight keeps the track's first hypothesis' estimate (it is unused).

    ``centre`` (K,), optional: per track the index of one hypothesis whose estimate becomes
    the mean (the most probable joint event's, "JPDA about the MAP association"); the
    covariance is then the mean square error about that point, sum_h w_h (P_h + d_h d_h^T)
    with d_h = x_h - x_centre, which exceeds the moment-matched one by the squared offset of
    the mixture mean. Unlike the mixture mean it does not pull two tracks of unresolved
    objects towards their centroid (JPDA's coalescence), which kept the bias but not the
    spread in the covariance.
    ``floor``: hypotheses of weight <= floor are dropped and the rest renormalised (a
    track's ``centre`` is always kept). Dropping weight w moves the mean by at most w times the
    hypotheses' spread and the covariance by ~w (P_h + d_h d_h^T): at w = 1e-6 that is far
    below round-off of the filter's own figures. Its use: a mature track whose plot sits inside
    its gate has a no-plot weight of ~1e-10 (pd g / lambda ~ 1e11 for a 50 m by 0.02 deg
    plot), and a track left with one hypothesis is that hypothesis' estimate, exactly, with no
    (H, M, n, n) sums to form; most tracks of a scan are in that case.
    Returns (xm (K, M, n), Pm (K, M, n, n), mu (K, M)); when every track has exactly one
    hypothesis, in track order, and none is dropped, ``xm`` and ``Pm`` are the inputs
    themselves (not copies).
    """
    src = np.arange(owner.size)  # hypotheses in play, as indices into the inputs
    if floor > 0.0:
        keep, owner, weight = floor_weights(owner, weight, n_tracks, floor, centre)
        if owner.size < src.size:
            index = np.cumsum(keep) - 1
            src = src[keep]
            centre = index[centre] if centre is not None else None
    counts = np.bincount(owner, minlength=n_tracks)
    lone = counts[owner] == 1  # hypotheses that are their track's only one
    if not lone.any():
        return _moment_match(owner, weight, xm[src], Pm[src], mu[src], n_tracks, centre)
    # The inputs are gathered once (the (H, M, n, n) covariances are the bulk of the work).
    t, h = owner[lone], src[lone]
    mu_h = mu.take(h, axis=0)
    total = mu_h.sum(axis=1, keepdims=True)
    if lone.all() and t.size == n_tracks and (t == np.arange(n_tracks)).all():
        # Every track has one hypothesis, in track order (the usual scan): plain gathers, or
        # with every input kept, the inputs themselves (no copy of the covariances).
        if h.size == xm.shape[0]:
            return xm, Pm, mu_h / np.where(total > 0, total, 1.0)
        return xm.take(h, axis=0), Pm.take(h, axis=0), mu_h / np.where(total > 0, total, 1.0)
    x = np.empty((n_tracks,) + xm.shape[1:])
    P = np.empty((n_tracks,) + Pm.shape[1:])
    mode = np.empty((n_tracks,) + mu.shape[1:])
    x[t], P[t] = xm.take(h, axis=0), Pm.take(h, axis=0)
    mode[t] = mu_h / np.where(total > 0, total, 1.0)
    if lone.all():
        return x, P, mode
    many = counts > 1
    rest = ~lone
    h = src[rest]
    track_index = np.cumsum(many) - 1
    hyp_index = np.cumsum(rest) - 1
    sub_centre = hyp_index[centre[many]] if centre is not None else None
    x[many], P[many], mode[many] = _moment_match(
        track_index[owner[rest]],
        weight[rest],
        xm[h],
        Pm[h],
        mu[h],
        int(many.sum()),
        sub_centre,
    )
    return x, P, mode


def _moment_match(
    owner: IntArray,
    weight: Array,
    xm: Array,
    Pm: Array,
    mu: Array,
    n_tracks: int,
    centre: IntArray | None,
) -> tuple[Array, Array, Array]:
    """The moments of :func:`reduce_mixture` (every track has >= 1 hypothesis)."""
    centre_x = xm[centre] if centre is not None else None
    order = np.argsort(owner, kind="stable")
    owner, weight, xm, Pm, mu = owner[order], weight[order], xm[order], Pm[order], mu[order]
    starts = np.searchsorted(owner, np.arange(n_tracks))  # every track has >= 1 hypothesis
    joint = weight[:, None] * mu  # (H, M)
    mode_w = np.add.reduceat(joint, starts, axis=0)
    safe = np.where(mode_w > 0.0, mode_w, 1.0)
    frac = joint / safe[owner]  # (H, M), sums to 1 over each track's hypotheses per used mode
    if centre_x is None:
        x = np.add.reduceat(frac[..., None] * xm, starts, axis=0)
    else:
        x = centre_x.copy()
    d = xm - x[owner]
    P = np.add.reduceat(
        frac[..., None, None] * (Pm + d[..., :, None] * d[..., None, :]), starts, axis=0
    )
    unused = mode_w <= 0.0
    if unused.any():
        k, j = np.nonzero(unused)
        x[k, j] = xm[starts[k], j]
        P[k, j] = Pm[starts[k], j]
    total = mode_w.sum(axis=1, keepdims=True)
    return x, 0.5 * (P + np.swapaxes(P, -1, -2)), mode_w / np.where(total > 0, total, 1.0)


__all__ = ["clusters", "floor_weights", "marginals", "reduce_mixture"]
