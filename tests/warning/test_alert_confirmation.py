"""Confirmation before a warning: an imprecise prediction names a shelter region only if likely.

The rule (kizuna.warning.engine module docstring): a 95 % ellipse with a semi-major axis above
``confirm_semi_major_m`` names a prefecture, province, base or territorial sea only when the
impact falls in it with probability >= ``confirm_probability`` in this prediction and the
track's previous one; a compact ellipse names every region it touches, as before.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from shapely.geometry import box

from kizuna.geo.geodesic import direct
from kizuna.geo.regions import Region, RegionSet
from kizuna.warning import AlertEngine, AlertRules
from kizuna.warning.engine import WARNING_KINDS, region_hit_probability

from .conftest import NOW, great_circle_track, prediction


def _region(code: str, kind: str, geometry) -> Region:
    return Region(
        code=code,
        kind=kind,
        country="JPN",
        name_en=code,
        name_local=code,
        approximate=kind in ("eez", "territory"),
        geometry=geometry,
    )


# 40 narrow "prefectures" 0.05 deg (~4.5 km) wide side by side between 139 E and 141 E: a
# 60 km ellipse over them touches a dozen, none with more than ~7 % of the impacts.
STRIPS = [
    _region(f"TEST-S{k:02d}", "prefecture", box(139.0 + 0.05 * k, 34.0, 139.05 + 0.05 * k, 37.0))
    for k in range(40)
]
SEA = _region("TEST-EEZ", "eez", box(150.0, 30.0, 151.0, 31.0))
STRIPED = RegionSet([*STRIPS, SEA])


def codes(alert) -> list[str]:
    return [r.code for r in alert.regions]


@pytest.mark.parametrize("offset_m", [0.0, 20_000.0, -35_000.0])
def test_hit_probability_is_the_gaussian_mass_beyond_a_straight_edge(offset_m):
    # A half-plane-like region (east edge on the meridian 140 E, a geodesic) and a circular
    # ellipse centred ``offset_m`` east of the edge: P(inside) = Phi(-offset / sigma) with
    # sigma = R / sqrt(chi2_2(0.95)).
    west = RegionSet([_region("TEST-WEST", "prefecture", box(135.0, 30.0, 140.0, 40.0))])
    radius = 100_000.0
    lat, lon = (
        direct(35.0, 140.0, 90.0, offset_m)
        if offset_m >= 0
        else direct(35.0, 140.0, 270.0, -offset_m)
    )
    p = region_hit_probability(west, float(lat), float(lon), radius, radius, 0.0)
    sigma = radius / np.sqrt(-2.0 * np.log(0.05))
    assert p.get("TEST-WEST", 0.0) == pytest.approx(norm.cdf(-offset_m / sigma), abs=0.025)


def test_probability_respects_the_ellipse_orientation():
    # A long thin ellipse lying along the edge (orientation 0) keeps half its mass on each
    # side; turned across it (90), a centre 20 km east leaves far more than half outside.
    west = RegionSet([_region("TEST-WEST", "prefecture", box(135.0, 30.0, 140.0, 40.0))])
    lat, lon = direct(35.0, 140.0, 90.0, 20_000.0)
    along = region_hit_probability(west, float(lat), float(lon), 200e3, 10e3, 0.0)
    across = region_hit_probability(west, float(lat), float(lon), 200e3, 10e3, 90.0)
    assert along.get("TEST-WEST", 0.0) == 0.0  # 20 km is ~5 sigma across a 10 km axis
    sigma = 200e3 / np.sqrt(-2.0 * np.log(0.05))
    assert across["TEST-WEST"] == pytest.approx(norm.cdf(-20e3 / sigma), abs=0.025)


def test_the_lofted_post_separation_prediction_is_an_advisory_not_a_warning():
    # The first prediction of icbm-lofted's post-separation track (KZ-000044, 254 s after
    # launch): a 686 x 226 km ellipse off Honshu touching 17 prefectures, Yokota and the
    # territorial sea, with at most 1.6 % of the impacts in any prefecture. The impact came
    # down in the EEZ (launches.csv 2017-11-29). It used to raise a prefecture warning.
    engine = AlertEngine()
    first = prediction(41.15, 136.46, 2900.0, a_m=686e3, b_m=226e3, orientation_deg=159.0)
    (alert,) = engine.update(first, None, NOW)
    assert (alert.kind, alert.level, alert.status, codes(alert)) == (
        "impact",
        "advisory",
        "issued",
        ["JPN-EEZ"],
    )
    # The same ellipse is a warning under the plain "touches" rule (the rule is what stops it).
    plain = AlertEngine(rules=AlertRules(confirm_semi_major_m=1e9))
    (touching,) = plain.update(first, None, NOW)
    assert touching.level == "warning"
    assert len([c for c in codes(touching) if c.startswith("JP-")]) == 17  # as the README says


def test_an_imprecise_ellipse_well_inside_a_prefecture_warns_on_the_next_prediction():
    # 150 km ellipse in the middle of Hokkaido: most impacts fall in JP-01. The first such
    # prediction is not enough (it names only the EEZ its edge touches, as an advisory); the
    # track's next one, agreeing, makes it a warning naming Hokkaido.
    engine = AlertEngine()
    inland = prediction(43.4, 142.8, 300.0, a_m=150e3, b_m=80e3)
    assert all(a.level != "warning" for a in engine.update(inland, None, NOW))
    again = prediction(43.4, 142.8, 298.0, now=NOW + 2, a_m=150e3, b_m=80e3)
    (alert,) = engine.update(again, None, NOW + 2)
    assert alert.level == "warning" and codes(alert)[0] == "JP-01"


def test_one_wild_prediction_at_a_staging_names_nothing():
    # satellite-sohae: at first-stage separation the satellite's track gave one "ballistic"
    # 62 x 21 km ellipse with 10.2 % in KOR-TS, then 1.6 % two seconds later, then "unknown".
    engine = AlertEngine()
    wild = prediction(35.8436, 125.6779, 339.0, a_m=61.6e3, b_m=21.3e3, orientation_deg=173.0)
    later = prediction(
        35.8065, 125.6441, 339.0, now=NOW + 2, a_m=54.0e3, b_m=14.5e3, orientation_deg=178.6
    )
    # Alone it is "likely" enough (>= 10 % in KOR-TS): only the second prediction stops it.
    ell = wild.impact.ellipse_95
    p = region_hit_probability(
        AlertEngine().regions, 35.8436, 125.6779, ell.semi_major_m, ell.semi_minor_m, 173.0
    )
    assert p["KOR-TS"] >= AlertRules().confirm_probability
    lines = engine.update(wild, None, NOW) + engine.update(later, None, NOW + 2)
    assert all(a.level != "warning" for a in lines)
    assert not {c for a in lines for c in codes(a)} & {"KOR-TS"}


def test_a_compact_previous_prediction_counts_as_support():
    # Compact on a strip, then a diffuse but likely prediction over it: named at once.
    engine = AlertEngine(regions=STRIPED, rules=AlertRules(confirm_probability=0.05))
    (first,) = engine.update(prediction(35.5, 140.0, 600.0, a_m=10e3, b_m=10e3), None, NOW)
    assert first.level == "warning" and "TEST-S20" in codes(first)
    diffuse = prediction(35.5, 140.0, 598.0, now=NOW + 2, a_m=60e3, b_m=60e3)
    assert engine.update(diffuse, None, NOW + 2) == []  # held (hysteresis), nothing new


def test_an_unconfirmed_prediction_waits_and_the_compact_one_warns():
    engine = AlertEngine(regions=STRIPED)
    diffuse = prediction(35.5, 140.0, 600.0, a_m=60e3, b_m=60e3)
    assert engine.update(diffuse, None, NOW) == []  # not "at sea outside every EEZ"
    assert engine.update(diffuse, None, NOW + 2) == []  # still waiting, not a notice
    compact = prediction(35.5, 140.0, 598.0, now=NOW + 4, a_m=10e3, b_m=10e3)
    (alert,) = engine.update(compact, None, NOW + 4)
    assert (alert.level, alert.status) == ("warning", "issued")
    assert {"TEST-S19", "TEST-S20"} <= set(codes(alert))
    # A diffuse prediction afterwards neither cancels nor widens the warning.
    assert engine.update(diffuse, None, NOW + 6) == []


def test_an_unconfirmed_prediction_does_not_cancel_an_advisory():
    engine = AlertEngine(regions=STRIPED)
    (adv,) = engine.update(prediction(30.5, 150.5, 600.0, a_m=10e3, b_m=10e3), None, NOW)
    assert (adv.level, codes(adv)) == ("advisory", ["TEST-EEZ"])
    # The prediction jumps onto the strips, imprecise: no cancel, no warning yet.
    jump = prediction(35.5, 140.0, 600.0, now=NOW + 2, a_m=60e3, b_m=60e3)
    assert engine.update(jump, None, NOW + 2) == []
    # Confirmed there: one update, now a warning, the EEZ dropped.
    sharp = prediction(35.5, 140.0, 600.0, now=NOW + 4, a_m=10e3, b_m=10e3)
    (upd,) = engine.update(sharp, None, NOW + 4)
    assert (upd.status, upd.level) == ("updated", "warning")
    assert "TEST-EEZ" not in codes(upd) and all(c.startswith("TEST-S") for c in codes(upd))


def test_the_rule_can_name_likely_regions_of_a_diffuse_ellipse():
    # With a 5 % bar the central strips (~7 % each) are named, on the second prediction, and
    # the outer ones (touched, but < 5 % each) are not.
    engine = AlertEngine(regions=STRIPED, rules=AlertRules(confirm_probability=0.05))
    diffuse = prediction(35.5, 140.0, 600.0, a_m=60e3, b_m=60e3)
    assert engine.update(diffuse, None, NOW) == []
    (alert,) = engine.update(diffuse, None, NOW + 2)
    named = set(codes(alert))
    assert alert.level == "warning" and {"TEST-S19", "TEST-S20"} <= named
    assert "TEST-S08" not in named and "TEST-S31" not in named
    # A prediction without an impact in between breaks the sequence.
    fresh = AlertEngine(regions=STRIPED, rules=AlertRules(confirm_probability=0.05))
    assert fresh.update(diffuse, None, NOW) == []
    assert fresh.update(prediction(0.0, 0.0, impact=False), None, NOW + 1) == []
    assert fresh.update(diffuse, None, NOW + 2) == []


def test_advisories_are_held_back_only_if_configured():
    # An EEZ edge 54 km east of a diffuse 60 km ellipse: touched, ~1.4 % of the impacts.
    edge = RegionSet([_region("TEST-EEZ2", "eez", box(140.6, 34.0, 141.0, 37.0))])
    diffuse = prediction(35.5, 140.0, 600.0, a_m=60e3, b_m=60e3)
    (adv,) = AlertEngine(regions=edge).update(diffuse, None, NOW)
    assert (adv.level, codes(adv)) == ("advisory", ["TEST-EEZ2"])  # default: EEZs not held
    rules = AlertRules(confirm_kinds=WARNING_KINDS | {"eez"})
    assert AlertEngine(regions=edge, rules=rules).update(diffuse, None, NOW) == []


def test_an_imprecise_prediction_needs_two_ground_tracks_to_warn_an_overflight():
    # The 2022-10-04 path over Aomori (launches.csv), predicted with a 300 km impact ellipse
    # (a fresh track): the first ground track alone warns no one, the next one agreeing does.
    track = great_circle_track(40.61, 126.43, 33.7, 177.25, NOW, NOW + 1320.0, 1000e3)
    vague = prediction(33.7, 177.25, 1320.0, a_m=300e3, b_m=100e3)
    engine = AlertEngine()
    assert [a.kind for a in engine.update(vague, track, NOW)] == ["impact"]  # the notice
    again = prediction(33.7, 177.25, 1318.0, now=NOW + 2, a_m=300e3, b_m=100e3)
    over = [a for a in engine.update(again, track, NOW + 2) if a.kind == "overflight"]
    assert over and over[0].status == "issued" and "JP-02" in codes(over[0])
    # A compact prediction warns at once (as in test_alert_engine).
    sharp = AlertEngine().update(prediction(33.7, 177.25, 1320.0), track, NOW)
    assert [a.kind for a in sharp] == ["impact", "overflight"]
