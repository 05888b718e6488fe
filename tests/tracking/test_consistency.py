"""Monte Carlo consistency (NEES) of the tracker on a ballistic flight seen by three radars.

For N runs with independent noise, the run-average of the normalised estimation error squared
e^T P^-1 e of the 6-D position-velocity state at each update time is chi-square with 6N
degrees of freedom divided by N when the filter's covariance is honest. The tests check that
this average stays inside its two-sided 95 % band at (nearly) every update time of the
midcourse, and that the grand average does too.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from scipy.stats import chi2
from tracking_helpers import plots

from kizuna.tracking import Tracker, TrackerConfig
from kizuna.tracking.filters import CKF, EKF

DIM = 6


def _nees_by_time(truth, runs: int, start_s: float, end_s: float, filt=EKF):
    by_time: dict[float, list[float]] = defaultdict(list)
    for run in range(runs):
        reports = [
            r for r in plots(truth, seed=1000 + run) if start_s <= r.t - truth.start_s < end_s
        ]
        tracker = Tracker(TrackerConfig(filter=filt))
        updates = tracker.process(reports)
        assert len({u.track_id for u in updates}) == 1, "one object must give one track"
        for u in updates:
            e = u.x[:DIM] - truth.state_at(u.time_s)
            by_time[round(u.time_s, 3)].append(float(e @ np.linalg.solve(u.P[:DIM, :DIM], e)))
    # Only times every run updated at (a track confirms at the same scan in every run).
    return {t: np.mean(v) for t, v in sorted(by_time.items()) if len(v) == runs}


def _check(nees: dict[float, float], runs: int, window_s: float, start_s: float, t0: float):
    lo, hi = chi2.ppf([0.025, 0.975], DIM * runs) / runs
    # Skip the first ``window_s`` seconds after initiation (a two-point start is not Gaussian).
    values = np.array([v for t, v in nees.items() if t - t0 >= start_s + window_s])
    inside = np.mean((values >= lo) & (values <= hi))
    grand_lo, grand_hi = chi2.ppf([0.025, 0.975], DIM * runs * len(values)) / (runs * len(values))
    return values, inside, (lo, hi), (grand_lo, grand_hi)


@pytest.mark.parametrize("filt", [EKF, CKF], ids=lambda f: f.name)
def test_midcourse_nees_in_band(mrbm_truth, filt):
    runs = 30 if filt is EKF else 10
    start, end = 130.0, 270.0
    nees = _nees_by_time(mrbm_truth, runs, start, end, filt)
    values, inside, band, _ = _check(nees, runs, 30.0, start, mrbm_truth.start_s)
    assert values.size > 40
    # 95 % of honest averages fall in the band, but the steps of one run are strongly
    # correlated (an unlucky set of runs shifts them all together), and the first tens of
    # seconds after a two-point start run ~10 % conservative (measured: 4.7-5.7 with these
    # seeds, 5.5-6.1 with others). So: the grand mean inside the band, most steps inside, and
    # never overconfident (no step above the band).
    assert band[0] <= values.mean() <= band[1], (values.mean(), band)
    assert inside >= 0.6, (inside, band, values.round(2))
    assert values.max() <= band[1], (values.max(), band)


@pytest.mark.slow
def test_whole_flight_nees_50_runs(mrbm_truth):
    runs = 50
    nees = _nees_by_time(mrbm_truth, runs, 0.0, 1e9)
    values, inside, band, _ = _check(nees, runs, 30.0, 0.0, mrbm_truth.start_s)
    assert band[0] <= values.mean() <= band[1], (values.mean(), band)
    assert inside >= 0.6, (inside, band)
