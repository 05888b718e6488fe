"""The pair test of kizuna.tracking.ghosts on synthetic plot differences."""

from __future__ import annotations

import numpy as np

from kizuna.tracking.ghosts import PairEvidence

# Lines of sight (unit vectors) of three radars looking at one point from different sides,
# and each one's plot covariance in ECEF: 10 m in range, 300 m across (a TPY-2 at 850 km).
_LOS = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.5, 0.5, 0.707]])
_LOS /= np.linalg.norm(_LOS, axis=1, keepdims=True)


def _cov(u, along=10.0, across=300.0):
    return across**2 * np.eye(3) + (along**2 - across**2) * np.outer(u, u)


def _rows(labels, seed, d0=(120.0, -60.0, 40.0), w=(2.0, -1.5, 1.0), seconds=30):
    """Rows y = s_r d(t) + noise of the three radars, one scan each a second; ``labels`` the
    sign each radar's labels give the pair's difference."""
    rng = np.random.default_rng(seed)
    d0, w = np.array(d0), np.array(w)
    out = []
    for k in range(seconds):
        t = 100.0 + k
        for r, (u, s) in enumerate(zip(_LOS, labels, strict=True)):
            cov = _cov(u) * 2.0  # the difference of two plots
            noise = np.linalg.cholesky(cov) @ rng.normal(size=3)
            out.append((t + 0.1 * r, r, s * (d0 + w * (t + 0.1 * r - 100.0)) + noise, cov))
    return out


def _evidence(rows, memory_s=1e9):
    evidence = PairEvidence(rows[0][0])
    for t, r, y, cov in rows:
        evidence.add(t, r, y, cov, memory_s)
    return evidence


def test_labels_the_radars_agree_on_win_and_give_the_relative_state():
    """Radar 2's labels are the other way round from radars 0 and 1's (the tracks are
    ghosts): the labelling that turns radar 2 round fits, by far, and its relative state is
    the true one at the last row's time."""
    rows = _rows((1, 1, -1), seed=3)
    verdict = _evidence(rows).best(dv_mps=20.0)
    assert verdict.signs.tolist() == [1, 1, -1]
    assert verdict.gain > 50.0
    t = rows[-1][0] - 100.0
    truth = np.concatenate([np.array((120.0, -60.0, 40.0)) + np.array((2.0, -1.5, 1.0)) * t,
                            (2.0, -1.5, 1.0)])
    e = verdict.state - truth
    assert e @ np.linalg.solve(verdict.cov, e) < 22.5  # chi2(6) 99.9 %
    assert 0.7 < verdict.fit < 1.3


def test_tracks_whose_labels_agree_keep_them():
    """All radars label the pair alike: no other labelling fits better (gain 0) and the best
    other one is far behind."""
    for seed in range(5):
        verdict = _evidence(_rows((1, 1, 1), seed=seed)).best(dv_mps=20.0)
        assert verdict.gain == 0.0
        assert verdict.signs.tolist() == [1, 1, 1]
        assert verdict.other_gain < -10.0


def test_relabel_and_fading():
    """After the tracks are turned onto the winning labelling the evidence says they stand on
    it; old rows fade with the memory."""
    evidence = _evidence(_rows((1, -1, -1), seed=7))
    verdict = evidence.best(dv_mps=20.0)
    assert verdict.signs.tolist() == [1, -1, -1]
    evidence.relabel(verdict.keys, verdict.signs)
    assert evidence.best(dv_mps=20.0).gain == 0.0
    faded = _evidence(_rows((1, -1, -1), seed=7), memory_s=5.0)
    assert sum(faded.n.values()) < 0.2 * sum(evidence.n.values())
