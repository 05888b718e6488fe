"""Mode probabilities and declared phase of the tracks at a separation (tracker internals).

A separation's pieces: the confirmed track that followed the object (parent) and the track
born beside it (child). Either may be the piece that lights next, and what the parent
declared in the separation's first seconds was decided on both pieces' plots.
"""

from __future__ import annotations

import numpy as np

from kizuna.geo.frames import lla_to_ecef
from kizuna.tracking import Tracker, imm
from kizuna.tracking.tracker import COASTING, CONFIRMED, UNDECIDED


def _state(pos_sigma_m: float, dx_m: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros(imm.BOOST_DIM)
    x[:3] = lla_to_ecef(27.0, 127.0, 500e3)
    x[0] += dx_m
    x[3:6] = (-3500.0, 500.0, -1800.0)
    x[6] = np.log(1000.0)
    P = np.diag([pos_sigma_m**2] * 3 + [20.0**2] * 3 + [0.5**2] + [10.0**2] * 3)
    return np.stack([x, x]), np.stack([P, P])


def _track(
    tracker: Tracker,
    t_s: float,
    pos_sigma_m: float,
    boost_p: float,
    hits: int,
    dx_m: float = 0.0,
    separation: bool = False,
) -> int:
    xm, Pm = _state(pos_sigma_m, dx_m)
    mu = np.array([[boost_p, 1.0 - boost_p]])
    (slot,) = tracker._new_tracks(
        xm[None], Pm[None], mu, np.array([t_s]), np.array([False]), hits, separation=separation
    )
    tracker.table.hits[slot] = hits
    return int(slot)


def test_fold_keeps_the_mode_probabilities_of_the_track_with_more_plots():
    """A confirmed boost track (p 0.97, 1,800 plots, 400 m position sigma) and a fresh start
    beside it (p at its prior 0.02, 2 plots, 150 m): the survivor takes the tighter state but
    keeps p 0.97 (satellite-sohae seed 1: the third stage's track folded a start in 110 s into
    the burn, went to p 0.02, was declared coasting and lost the stage)."""
    tracker = Tracker()
    old = _track(tracker, 100.0, 400.0, 0.97, 1800)
    tracker.table.status[old] = CONFIRMED
    new = _track(tracker, 100.0, 150.0, 0.02, 2)
    assert tracker._fold(old, new) == old
    np.testing.assert_allclose(tracker.table.mu[old], (0.97, 0.03))
    assert tracker.table.imm[old]
    np.testing.assert_allclose(np.sqrt(tracker.table.Pm[old, 1, 0, 0]), 150.0)
    # A collapsed track with more plots stays collapsed; a fresh one with more plots (rare)
    # brings its own probabilities.
    coasting = _track(tracker, 100.0, 400.0, 0.0, 500)
    tracker.table.status[coasting] = CONFIRMED
    imm.collapse(
        tracker.table.xm,
        tracker.table.Pm,
        tracker.table.mu,
        tracker.table.imm,
        np.array([coasting]),
    )
    start = _track(tracker, 100.0, 150.0, 0.02, 2)
    assert tracker._fold(coasting, start) == coasting
    assert not tracker.table.imm[coasting]
    np.testing.assert_array_equal(tracker.table.mu[coasting], (0.0, 1.0))


def test_confirmed_separation_reopens_its_pieces_and_undoes_a_hasty_coast():
    """A child born at 101 s and confirmed at 106 s beside two collapsed confirmed tracks: both
    get the boost model back; the one declared coasting at 105 s (after the child's birth) is
    undecided again until the child has settled (111 s); the one that coasted since 90 s
    keeps its phase."""
    tracker = Tracker()
    tab = tracker.table
    hasty = _track(tracker, 106.0, 100.0, 0.0, 50)
    steady = _track(tracker, 106.0, 100.0, 0.0, 500, dx_m=3000.0)
    child = _track(tracker, 101.0, 300.0, 0.5, 2, dx_m=500.0, separation=True)
    tab.status[[hasty, steady, child]] = CONFIRMED
    tab.declared[[hasty, steady]] = COASTING
    tab.declared_t[[hasty, steady]] = (105.0, 90.0)
    slots = np.array([hasty, steady])
    imm.collapse(tab.xm, tab.Pm, tab.mu, tab.imm, slots)
    tab.t[child] = 106.0
    tracker._widen_parents(np.array([child]), 106.0)
    assert tab.imm[slots].all()
    np.testing.assert_allclose(tab.mu[slots, imm.BOOST_MODE], tracker.config.boost_prior_high)
    assert tab.declared[hasty] == UNDECIDED and tab.settle_until[hasty] == 111.0
    assert tab.declared[steady] == COASTING
