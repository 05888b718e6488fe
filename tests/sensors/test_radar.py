"""Radar model: geometry (horizon, coverage), the contract's AER, noise, detection, clutter."""

from __future__ import annotations

import numpy as np
import pymap3d
import pytest
from conftest import START_S, radar_spec

from kizuna.geo.frames import geodetic_altitude_m, lla_to_ecef
from kizuna.sensors.radar import Radar, azimuth_offset_deg, line_of_sight_clear
from kizuna.sensors.scenario import Window
from kizuna.sensors.simulate import radar_observations


def _segment_clear_reference(site: np.ndarray, target: np.ndarray, samples: int = 2001) -> bool:
    """Independent check: sample the segment densely, every point above the ellipsoid."""
    s = np.linspace(0.0, 1.0, samples)[1:]
    points = site + s[:, None] * (target - site)
    return bool(np.all(geodetic_altitude_m(points) > -1.0))


def test_line_of_sight_matches_dense_sampling():
    rng = np.random.default_rng(1)
    site = lla_to_ecef(37.4, 136.9, 1000.0)
    targets = lla_to_ecef(37.4 + rng.uniform(-12, 12, 300), 136.9 + rng.uniform(-15, 15, 300),
                          rng.uniform(0.0, 400e3, 300))
    fast = line_of_sight_clear(site, targets)
    reference = np.array([_segment_clear_reference(site, t) for t in targets])
    # The closed form and the sampled segment disagree only within metres of grazing.
    assert fast.any() and (~fast).any()
    assert np.mean(fast == reference) > 0.99
    # Vectorised equals per-target calls.
    assert all(bool(line_of_sight_clear(site, t)) == f for t, f in zip(targets, fast,
                                                                        strict=True))


def test_antipode_is_blocked_and_zenith_is_clear():
    site = lla_to_ecef(35.0, 135.0, 0.0)
    assert not line_of_sight_clear(site, lla_to_ecef(-35.0, -45.0, 500e3))
    assert line_of_sight_clear(site, lla_to_ecef(35.0, 135.0, 500e3))


def test_target_below_the_horizon_is_never_reported(eastbound):
    # A negative elevation mask and a site 1 km up (on Okinawa, ~1,300 km from the target's
    # path): only the Earth itself can hide the target, which rises above this radar's
    # horizon near its apogee only.
    radar = Radar.from_spec(radar_spec(lat=26.14, lon=127.71, alt_m=1000.0,
                                       min_elevation_deg=-5.0))
    rng = np.random.default_rng(3)
    observations = radar_observations(radar, [eastbound], eastbound.start_s,
                                      eastbound.end_s, rng)
    times = np.array([o.time_s for o in observations])
    scans = np.arange(np.ceil(eastbound.start_s), eastbound.end_s)
    blocked = [t for t in scans if not _segment_clear_reference(
        radar.site_ecef_m, eastbound.trajectory.state_at(t)[:3])]
    assert len(blocked) > 20, "the test object must spend time below this radar's horizon"
    assert times.size > 100, "and be seen when above it"
    for t in times:
        target = eastbound.trajectory.state_at(t)[:3]
        assert _segment_clear_reference(radar.site_ecef_m, target)


def test_reports_are_the_contract_aer(eastbound):
    # Noise-free AER of the radar model equals pymap3d.ecef2aer exactly (the contract).
    radar = Radar.from_spec(radar_spec())
    t = np.linspace(eastbound.start_s, eastbound.end_s, 50)
    r = eastbound.trajectory.state_at(t)[:, :3]
    az, el, rg = radar.aer(r)
    az_ref, el_ref, rg_ref = pymap3d.ecef2aer(r[:, 0], r[:, 1], r[:, 2], 37.4, 136.9, 100.0,
                                              deg=True)
    np.testing.assert_allclose(az, az_ref, atol=1e-9)
    np.testing.assert_allclose(el, el_ref, atol=1e-9)
    np.testing.assert_allclose(rg, rg_ref, rtol=1e-12)

    # And reports of a near-noiseless radar carry it, to the written precision.
    quiet = Radar.from_spec(radar_spec(
        sigma={"range_m": 1e-9, "azimuth_deg": 1e-12, "elevation_deg": 1e-12}))
    observations = radar_observations(quiet, [eastbound], eastbound.start_s, eastbound.end_s,
                                      np.random.default_rng(0))
    assert len(observations) > 100
    for obs in observations[::10]:
        x, y, z = eastbound.trajectory.state_at(obs.time_s)[:3]
        a, e, g = pymap3d.ecef2aer(x, y, z, 37.4, 136.9, 100.0, deg=True)
        assert obs.fields["azimuth_deg"] == pytest.approx(float(a), abs=1e-7)
        assert obs.fields["elevation_deg"] == pytest.approx(float(e), abs=1e-7)
        assert obs.fields["range_m"] == pytest.approx(float(g), abs=1e-3)


@pytest.mark.parametrize("azimuth", [10.0, 359.99, 0.01])
def test_noise_has_the_stated_sigmas(azimuth):
    radar = Radar.from_spec(radar_spec())
    n = 40_000
    rng = np.random.default_rng(11)
    az, el, rg = radar.measure(np.full(n, azimuth), np.full(n, 20.0), np.full(n, 5e5), rng)
    assert np.all((az >= 0.0) & (az < 360.0))
    d_az = azimuth_offset_deg(az, azimuth)  # wrapped difference
    sigma = radar.spec.sigma
    for values, expected in ((d_az, sigma.azimuth_deg), (el - 20.0, sigma.elevation_deg),
                             (rg - 5e5, sigma.range_m)):
        assert np.std(values) == pytest.approx(expected, rel=0.10)
        assert abs(np.mean(values)) < 4 * expected / np.sqrt(n)


def test_detection_probability_and_revisit(eastbound):
    radar = Radar.from_spec(radar_spec(p_detect=0.7, revisit_s=2.0))
    always = Radar.from_spec(radar_spec(p_detect=1.0, revisit_s=2.0))
    got = radar_observations(radar, [eastbound], START_S, eastbound.end_s,
                             np.random.default_rng(5))
    full = radar_observations(always, [eastbound], START_S, eastbound.end_s,
                              np.random.default_rng(5))
    n = len(full)
    assert n > 150
    rate = len(got) / n
    assert abs(rate - 0.7) < 4 * np.sqrt(0.7 * 0.3 / n)
    gaps = np.diff([o.time_s for o in full])
    np.testing.assert_allclose(gaps, 2.0, atol=1e-3)


def test_field_of_regard_range_and_outages(eastbound):
    # Boresight west, 60 degrees wide: the target, north-east of the site late in its
    # flight, must only be reported while inside +-30 degrees of 270.
    radar = Radar.from_spec(radar_spec(boresight_deg=270.0, field_of_regard_deg=60.0,
                                       max_range_km=700.0,
                                       outages=[Window(start_s=100.0, end_s=150.0)]))
    observations = radar_observations(radar, [eastbound], START_S, eastbound.end_s,
                                      np.random.default_rng(8))
    assert observations
    for obs in observations:
        x, y, z = eastbound.trajectory.state_at(obs.time_s)[:3]
        a, _, g = pymap3d.ecef2aer(x, y, z, 37.4, 136.9, 100.0, deg=True)
        assert abs(float(azimuth_offset_deg(a, 270.0))) <= 30.0
        assert g <= 700e3
        assert not 100.0 <= obs.time_s - START_S < 150.0


def test_clutter_is_uniform_in_the_surveillance_volume():
    spec = radar_spec(min_range_km=50.0, max_range_km=500.0, boresight_deg=300.0,
                      field_of_regard_deg=120.0, max_elevation_deg=60.0,
                      false_alarms_per_scan=3.0)
    radar = Radar.from_spec(spec)
    scans = np.arange(START_S, START_S + 4000.0)
    times, az, el, rg = radar.clutter(scans, np.random.default_rng(9))
    assert len(times) / len(scans) == pytest.approx(3.0, rel=0.03)
    assert np.all((rg >= 50e3) & (rg <= 500e3))
    assert np.all(np.abs(azimuth_offset_deg(az, 300.0)) <= 60.0)
    assert np.all((el >= 0.0) & (el <= 60.0))
    # Uniform in volume: (r^3 - r0^3) / (r1^3 - r0^3) and sin(el) / sin(60) are uniform.
    u_r = (rg**3 - 50e3**3) / (500e3**3 - 50e3**3)
    u_el = np.sin(np.radians(el)) / np.sin(np.radians(60.0))
    for u in (u_r, u_el):
        assert np.mean(u) == pytest.approx(0.5, abs=0.01)
        assert np.var(u) == pytest.approx(1.0 / 12.0, rel=0.05)
