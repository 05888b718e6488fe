"""Property: moving a prediction back and forth across a boundary never flaps.

One synthetic square region (its east edge is the meridian 140 E between 35 N and 36 N); a
circular 95 % "ellipse" of radius R slides along the parallel 35.5 N, its centre ``s`` metres
east of the edge. The reference is an ideal Schmitt trigger: the region enters the alert when
``s <= R`` (the ellipse touches it) and leaves when ``s > R + margin``. The engine must emit
exactly one issue/update-into-the-region per entry and one cancel per exit, nothing else.
Offsets within 1 km of either threshold are excluded so the 72-gon's discretisation cannot
decide a case.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from kizuna.geo.geodesic import direct
from kizuna.geo.regions import Region, RegionSet
from kizuna.warning import AlertEngine, AlertRules, GroundTrack

from .conftest import NOW, prediction

RADIUS_M = 10_000.0
MARGIN_M = 20_000.0
SQUARE = Region(
    code="TEST-SQUARE",
    kind="prefecture",
    country="JPN",
    name_en="Test square",
    name_local="試験県",
    approximate=False,
    geometry=box(139.0, 35.0, 140.0, 36.0),
)
REGIONS = RegionSet([SQUARE])


def _away_from_thresholds(s: float) -> bool:
    return abs(s - RADIUS_M) > 1000.0 and abs(s - RADIUS_M - MARGIN_M) > 1000.0


offsets = st.lists(
    st.floats(min_value=-30_000.0, max_value=80_000.0).filter(_away_from_thresholds),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(offsets=offsets, exercise=st.booleans())
def test_one_issue_and_one_cancel_per_crossing(offsets, exercise):
    engine = AlertEngine(regions=REGIONS, rules=AlertRules(exit_margin_m=MARGIN_M))
    inside, enters, exits = False, 0, 0
    lines = []
    for k, s in enumerate(offsets):
        if not inside and s <= RADIUS_M:
            inside, enters = True, enters + 1
        elif inside and s > RADIUS_M + MARGIN_M:
            inside, exits = False, exits + 1
        lat, lon = direct(35.5, 140.0, 90.0, s) if s >= 0 else direct(35.5, 140.0, 270.0, -s)
        pred = prediction(
            float(lat),
            float(lon),
            3600.0,
            now=NOW + k,
            a_m=RADIUS_M,
            b_m=RADIUS_M,
            exercise=exercise,
        )
        lines += engine.update(pred, None, NOW + k)

    into_region = [a for a in lines if a.status in ("issued", "updated") and a.regions]
    cancels = [a for a in lines if a.status == "cancelled"]
    first_out = offsets[0] > RADIUS_M
    assert len(into_region) == enters
    assert len(cancels) == exits
    # Nothing else: at most the initial "notice" when the first prediction is outside.
    assert len(lines) == enters + exits + (1 if first_out else 0)
    assert len({a.alert_id for a in lines}) <= 1
    assert all(a.exercise == exercise for a in lines)
    # Entry and exit alternate: never two issues without a cancel between them.
    kinds = ["in" if a in into_region else "out" for a in lines if a in into_region or a in cancels]
    assert all(x != y for x, y in itertools.pairwise(kinds))


@settings(max_examples=30, deadline=None)
@given(
    lat=st.floats(min_value=20.0, max_value=46.0),
    lon=st.floats(min_value=120.0, max_value=160.0),
    a_m=st.floats(min_value=1_000.0, max_value=200_000.0),
    orientation=st.floats(min_value=0.0, max_value=179.9),
)
def test_exercise_traffic_never_raises_a_real_world_alert(lat, lon, a_m, orientation):
    engine = AlertEngine()
    lines = []
    for k in range(3):
        pred = prediction(
            lat + 0.05 * k,
            lon,
            600.0,
            now=NOW + k,
            a_m=a_m,
            b_m=a_m / 3,
            orientation_deg=orientation,
            exercise=True,
        )
        lines += engine.update(pred, None, NOW + k)
    lines += engine.tick(NOW + 700.0)
    assert lines  # an impact is always at least a notice
    assert all(a.exercise and a.alert_id.endswith("-EXERCISE") for a in lines)
    assert all(a.message.en.startswith("EXERCISE") for a in lines)
    assert not any(key[1] is False for key in engine.threats)
    assert np.all([("訓練" in a.message.ja) and ("훈련" in a.message.ko) for a in lines])


track_offsets = st.lists(
    st.floats(min_value=-15_000.0, max_value=60_000.0).filter(
        lambda s: abs(s) > 1000.0 and abs(s - MARGIN_M) > 1000.0
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(offsets=track_offsets)
def test_overflight_track_wandering_across_an_edge_does_not_flap(offsets):
    # A west-east ground track s metres south of the square's south edge (35 N); the object
    # reaches it 10 min from now, so nothing is ever "passed" here.
    engine = AlertEngine(regions=REGIONS, rules=AlertRules(exit_margin_m=MARGIN_M))
    inside, enters, exits = False, 0, 0
    lines = []
    for k, s in enumerate(offsets):
        if not inside and s <= 0.0:
            inside, enters = True, enters + 1
        elif inside and s > MARGIN_M:
            inside, exits = False, exits + 1
        lat0, _ = direct(35.0, 139.2, 180.0, s) if s >= 0 else direct(35.0, 139.2, 0.0, -s)
        lat0 = float(lat0)
        track = GroundTrack.from_arrays(
            NOW + k + np.array([600.0, 700.0]), [lat0, lat0], [138.5, 140.5], [2e5, 2e5]
        )
        pred = prediction(10.0, 170.0, 3600.0, now=NOW + k)  # impact far away: a notice
        lines += [a for a in engine.update(pred, track, NOW + k) if a.kind == "overflight"]
    assert [a.status for a in lines] == ["issued", "cancelled"] * exits + ["issued"] * (
        enters - exits
    )
