"""Metrics: GOSPA by hand, NEES bands against the textbook, PCRLB behaviour, Jacobians."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from kizuna.geo.frames import ecef_to_aer
from kizuna.physics.propagate import propagate_fixed
from kizuna.prediction.metrics import (
    RadarSite,
    ellipse_coverage,
    gospa,
    nees,
    nees_band,
    pcrlb,
    radar_jacobian,
    rmse,
)

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"


def test_gospa_hand_computed_cases():
    assert gospa([[0.0, 0.0], [5.0, 5.0]], [[5.0, 5.0], [0.0, 0.0]], c=10.0).total == 0.0
    # One pair 3-4-5 apart: GOSPA is the distance.
    g = gospa([[0.0, 0.0]], [[3.0, 4.0]], c=10.0)
    assert (g.total, g.missed, g.false) == (pytest.approx(5.0), 0, 0)
    # Farther than c: a miss and a false track, each c^p / 2: sqrt(100/2 + 100/2) = 10.
    g = gospa([[0.0, 0.0]], [[30.0, 0.0]], c=10.0)
    assert (g.total, g.missed, g.false, g.localisation) == (pytest.approx(10.0), 1, 1, 0.0)
    # Two truths, one estimate 1 m off the first: sqrt(1 + 25/2).
    g = gospa([[0.0, 0.0], [10.0, 0.0]], [[1.0, 0.0]], c=5.0)
    assert g.total == pytest.approx(np.sqrt(13.5)) and (g.missed, g.false) == (1, 0)
    # The optimal assignment, not the greedy one: pairs (0,3) and (4,5) -> sqrt(9 + 1).
    g = gospa([[0.0], [4.0]], [[3.0], [5.0]], c=100.0)
    assert g.total == pytest.approx(np.sqrt(10.0))
    # p = 1 and an empty estimate set: c / 2 per missed target.
    assert gospa([[0.0, 0.0], [1.0, 1.0]], np.empty((0, 2)), c=4.0, p=1.0).total == 4.0
    with pytest.raises(ValueError):
        gospa([[0.0]], [[0.0]], c=0.0)


def test_nees_band_matches_bar_shalom():
    # Bar-Shalom, Li & Kirubarajan (2001), sec. 5.4.2 example: 50 runs, 2 states ->
    # the 95 % band of the average NEES is [1.5, 2.6].
    lo, hi = nees_band(2, 50)
    assert (round(lo, 1), round(hi, 1)) == (1.5, 2.6)


def test_nees_of_consistent_errors_is_in_band():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((6, 6))
    P = A @ A.T + 6 * np.eye(6)
    errors = rng.standard_normal((50, 6)) @ np.linalg.cholesky(P).T
    value = nees(errors, np.broadcast_to(P, (50, 6, 6))).mean()
    lo, hi = nees_band(6, 50)
    assert lo < value < hi
    # Overconfident by a factor 2 in sigma: NEES x4, far outside the band.
    assert nees(errors, np.broadcast_to(P / 4, (50, 6, 6))).mean() > hi


def test_rmse():
    err = np.array([[[3.0, 4.0, 0.0]], [[0.0, 0.0, 5.0]]])  # 2 runs, 1 time
    assert rmse(err).tolist() == [5.0]


def test_radar_jacobian_matches_finite_differences():
    site = RadarSite(38.08, 138.43, 100.0, 50.0, 0.05, 0.05)
    r = np.array([-3.3e6, 3.9e6, 4.3e6])
    H, elevation, _visible = radar_jacobian(r, site)
    _az, el, _rng = ecef_to_aer(r, site.lat_deg, site.lon_deg, site.alt_m)
    assert elevation == pytest.approx(el)
    numeric = np.empty((3, 3))
    for j in range(3):
        dr = np.zeros(3)
        dr[j] = 1.0
        a1, e1, r1 = ecef_to_aer(r + dr, site.lat_deg, site.lon_deg, site.alt_m)
        a0, e0, r0 = ecef_to_aer(r - dr, site.lat_deg, site.lon_deg, site.alt_m)
        numeric[:, j] = [(r1 - r0) / 2, np.radians(a1 - a0) / 2, np.radians(e1 - e0) / 2]
    np.testing.assert_allclose(H, numeric, rtol=1e-5, atol=1e-12)


def _radars() -> list[RadarSite]:
    # Sites of /work/shared/data/sensors.csv rows "J/FPS-5 Shimokoshiki" (31.68, 129.72) and
    # "J/FPS-5 Sado" (38.08, 138.43); the third is a notional ROK site near the east coast.
    # Noise and coverage are illustrative.
    return [
        RadarSite(38.08, 138.43, 100.0, 50.0, 0.05, 0.05, interval_s=1.0, max_range_m=3e6),
        RadarSite(31.68, 129.72, 100.0, 50.0, 0.05, 0.05, interval_s=2.0, max_range_m=3e6),
        RadarSite(37.5, 129.1, 50.0, 30.0, 0.1, 0.1, interval_s=1.0, max_range_m=1e6),
    ]


def test_pcrlb_shrinks_as_radars_are_added(srbm):
    times, states = propagate_fixed(
        srbm.burnout[None], 300.0, 1.0, srbm.vehicle.ballistic_coefficient_kg_m2
    )
    states = states[:, 0]
    radars = _radars()
    bounds = [
        pcrlb(times, states, radars[:k], ballistic_coefficient_kg_m2=8000.0) for k in (1, 2, 3)
    ]
    pos = [np.sqrt(np.trace(b[:, :3, :3], axis1=1, axis2=2)) for b in bounds]
    # Tens of metres after a few minutes with 50 m range noise: a sane magnitude.
    assert 1.0 < pos[2][-1] < pos[1][-1] < pos[0][-1] < 500.0
    # Adding information can never increase the bound (Loewner order), at every time.
    for fewer, more in itertools.pairwise(bounds):
        gap = np.linalg.eigvalsh(fewer - more)
        assert gap.min() > -1e-6 * np.abs(gap).max()
    # With noise on the dynamics the bound is larger again.
    noisy = pcrlb(
        times, states, radars, ballistic_coefficient_kg_m2=8000.0, process_noise_psd_m2_s3=1.0
    )
    assert np.trace(noisy[-1, :3, :3]) > np.trace(bounds[2][-1, :3, :3])


def test_ellipse_coverage_counts():
    lat0, lon0 = 35.0, 135.0
    cov = ellipse_coverage(
        [lat0, lat0 + 1.0],
        [lon0, lon0],
        [lat0, lat0],
        [lon0, lon0],
        [1e3, 1e3],
        [1e3, 1e3],
        [0.0, 0.0],
    )
    assert (cov.inside, cov.total, cov.fraction) == (1, 2, 0.5)
    assert cov.low < 0.5 < cov.high


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared data directory not present")
def test_sensor_rows_cited_exist():
    text = (SHARED_DATA / "sensors.csv").read_text()
    assert "31.68,129.72" in text and "38.08,138.43" in text
