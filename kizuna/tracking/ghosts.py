"""Ghost pairs: two tracks of two close objects that each radar labels its own way.

Why: two objects closer than a radar's cross-range noise (a warhead and its spent body a
hundred metres apart, under 300-900 m of cross-range noise at 800 km) are told apart by each
radar through range alone (10-30 m). Each radar's plots go to the track whose predicted range
they fit, so the pair's labels are decided radar by radar, and a point exists that takes one
object's range from some radars and the other object's from the rest: a *ghost*, between the
objects, off both in the directions only angles measure. Two tracks that settle on such a pair
of ghosts fit every range to metres and every angle to a fraction of its sigma, scan after
scan; per scan, per track, nothing is wrong (irbm-overflight: two ghosts 100-300 m from both
objects for a minute, 25-35 m sigmas, normalised innovations ~3). What is wrong shows only
jointly, across radars and over time: the angles of the two plots of a scan measure the
cross-range part of the vector between the objects, and with the wrong labels that part
disagrees with what the ranges make it.

Test (a likelihood-ratio test over the radars' labellings, on the pair's relative state):
with d(t) = d + w (t - t_ref) the vector from track a's object to track b's (linear: over a
minute the gravity gradient and Coriolis terms move two objects 300 m apart by ~1 m relative to
each other), every radar scan in which both tracks took a plot of their own gives
y = p_a - p_b = s_r d(t) + noise, covariance R_a + R_b (the plots' ECEF covariances; a radar's
range or angle bias is common to both plots and cancels). s_r = +1 if radar r's labels are the
tracks' (the hypothesis the tracks stand on), -1 if that radar's plots belong the other way
round. For a labelling s the least-squares fit of (d, w) leaves

    chi2(s) = c - (sum_r s_r b_r)^T A^-1 (sum_r s_r b_r),

with A = sum H^T W H (the same for every s) plus a prior on w (two pieces of one object part
at metres per second), b_r = sum over radar r's rows of H^T W y and c = sum y^T W y: per radar
one 6-vector, so every labelling of n radars (2^(n-1), the global sign being the pair's naming)
is scored at once. The evidence decays with time constant ``memory_s`` (the rows are the
tracks' recent labels). The labelling's chi-square gain over the tracks' own is twice the log
likelihood ratio; see :meth:`kizuna.tracking.tracker.Tracker._ghost_pairs` for what the tracker
does with it (moves the tracks when another labelling wins clearly, and widens them while one
is ahead). The pair's centroid does not depend on the labelling (a labelling changes which
object a plot is on, not where the two together are), so a labelling's tracks are
centroid +- d/2.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

# Prior sigma of the relative position (m per axis): keeps A invertible before the rows span
# time, far wider than the few hundred metres of a pair in doubt. The relative velocity's
# is the caller's (a separation's velocity, see PairEvidence.best).
_PRIOR_POSITION_M = 10_000.0
# At most this many radars enter the labelling search (2^(n-1) labellings): the ones whose
# rows carry the most information (fusion of more than a dozen radars on one pair is rare).
MAX_SENSORS = 12


@dataclass(frozen=True)
class Verdict:
    """The labellings of a pair's evidence: the best one (``signs`` over radars ``keys``, its
    chi-square ``gain`` over the tracks' own labelling, >= 0, its relative state (d, w) and
    covariance), the gain of the best labelling other than the tracks' own (``other_gain``,
    negative when the tracks' own fits best; -inf with a single radar), and ``fit``, the best
    labelling's chi-square per degree of freedom."""

    keys: list[int]
    signs: NDArray[np.int64]
    gain: float
    state: Array
    cov: Array
    other_gain: float
    fit: float


@dataclass
class PairEvidence:
    """The rows of one pair of tracks (a, b): sufficient statistics per radar, decayed.

    ``t`` the reference time of (d, w) (the last row's), ``A`` (6, 6) information of all rows,
    ``b`` per radar (6,), ``c`` the weighted sum of squares, ``n`` rows per radar (decayed)."""

    t: float
    A: Array = field(default_factory=lambda: np.zeros((6, 6)))
    b: dict[int, Array] = field(default_factory=dict)
    c: float = 0.0
    n: dict[int, float] = field(default_factory=dict)
    last_doubt_t: float = -np.inf
    streak: int = 0  # consecutive evaluations in which a labelling beat the tracks' own

    def add(self, t: float, sensor: int, y: Array, cov: Array, memory_s: float) -> None:
        """One row: y = p_a - p_b (m, ECEF) at ``t``, covariance ``cov`` (3, 3)."""
        dt = t - self.t
        if dt != 0.0:
            # Move the reference from self.t to t: (d_old, w) = M (d_new, w).
            M = np.eye(6)
            M[0:3, 3:6] = -dt * np.eye(3)
            self.A = M.T @ self.A @ M
            for key in self.b:
                self.b[key] = M.T @ self.b[key]
            self.t = t
        if dt > 0.0:
            fade = float(np.exp(-dt / memory_s))
            self.A *= fade
            self.c *= fade
            for key in self.b:
                self.b[key] *= fade
                self.n[key] *= fade
        W = np.linalg.inv(cov)
        self.A[0:3, 0:3] += W
        self.b[sensor] = self.b.get(sensor, np.zeros(6))
        self.b[sensor][0:3] += W @ y
        self.n[sensor] = self.n.get(sensor, 0.0) + 1.0
        self.c += float(y @ W @ y)

    def best(self, dv_mps: float) -> Verdict:
        """Every labelling of the radars scored against the tracks' own, with a prior of
        ``dv_mps`` per axis on the relative velocity (zero mean: two pieces of one object).
        Radars beyond MAX_SENSORS (the least informative) keep the tracks' labels."""
        keys = list(self.b)
        B = np.array([self.b[k] for k in keys])
        A = self.A + np.diag([_PRIOR_POSITION_M**-2] * 3 + [dv_mps**-2] * 3)
        Ainv = np.linalg.inv(A)
        fixed = np.zeros(6)
        if len(keys) > MAX_SENSORS:
            info = np.einsum("ri,ij,rj->r", B, Ainv, B)
            keep = np.zeros(len(keys), bool)
            keep[np.argsort(-info)[:MAX_SENSORS]] = True
            fixed = B[~keep].sum(axis=0)
            keys = [k for k, kept in zip(keys, keep, strict=True) if kept]
            B = B[keep]
        n = len(keys)
        signs = np.array([(1, *rest) for rest in itertools.product((1, -1), repeat=n - 1)])
        sums = signs @ B + fixed  # (patterns, 6); pattern 0 is the tracks' own (all +1)
        q = np.einsum("pi,ij,pj->p", sums, Ainv, sums)
        top = int(np.argmax(q))
        alt = 1 + int(np.argmax(q[1:])) if q.size > 1 else 0
        # The fit's covariance, scaled up by its chi-square per degree of freedom where that
        # exceeds 1 (rows the model misses: a plot labelled wrong in a scan, a radar whose
        # labels follow the tracks rather than the objects).
        dof = 3.0 * sum(self.n.values()) - 6.0
        fit = (self.c - float(q[top])) / dof if dof > 0.0 else 1.0
        return Verdict(
            keys=keys,
            signs=signs[top],
            gain=float(q[top] - q[0]),
            state=Ainv @ sums[top],
            cov=Ainv * max(1.0, fit),
            fit=fit,
            other_gain=float(q[alt] - q[0]) if alt else -np.inf,
        )

    def relabel(self, keys: list[int], signs: Array) -> None:
        """The tracks now stand on labelling ``signs`` of radars ``keys``: flip the evidence
        of the radars it turns round, so the tracks' labelling is all +1 again."""
        for key, s in zip(keys, signs.tolist(), strict=True):
            if s < 0:
                self.b[key] = -self.b[key]


__all__ = ["MAX_SENSORS", "PairEvidence", "Verdict"]
