"""Alert rules and lifecycle on synthetic predictions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kizuna.contract import AlertProduct, Marking, dumps
from kizuna.timefmt import format_time
from kizuna.warning import AlertEngine, AlertRules, GroundTrack, alert_id_for, impact_level

from .conftest import NOW, great_circle_track, prediction, waypoint_track

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"
SUNAN = (39.22, 125.67)  # launches.csv, launch_lat/lon of 2017-08-29 and 2022-11-18


def codes(alert: AlertProduct) -> list[str]:
    return [r.code for r in alert.regions]


@pytest.fixture(scope="module")
def launches() -> dict[str, dict[str, str]]:
    path = SHARED_DATA / "launches.csv"
    if not path.exists():
        pytest.skip(f"{path} not present (shared data absent)")
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def test_impact_on_land_is_a_warning_naming_the_prefecture():
    engine = AlertEngine()
    (alert,) = engine.update(prediction(35.68, 139.77, 420.0), None, NOW)
    assert (alert.kind, alert.level, alert.status) == ("impact", "warning", "issued")
    assert "JP-13" in codes(alert) and "JPN-EEZ" not in codes(alert)
    assert alert.alert_id == alert_id_for("T1", "impact", False) and not alert.exercise
    assert "Tokyo" in alert.message.en and "東京都" in alert.message.ja
    assert "7 min" in alert.message.en and "7分" in alert.message.ja and "7분" in alert.message.ko
    assert "shelter" in alert.message.en
    assert alert.impact_time == format_time(NOW + 420.0)
    # The product is a valid contract line.
    assert AlertProduct.model_validate_json(dumps(alert)) == alert


def test_lofted_into_japans_eez_is_an_advisory_without_prefectures(launches):
    # launches.csv row 2017-11-29: lofted, "Sea of Japan inside EEZ ~250 km W of Aomori".
    row = launches["2017-11-29"]
    engine = AlertEngine()
    (alert,) = engine.update(
        prediction(float(row["impact_lat"]), float(row["impact_lon"]), 900.0), None, NOW
    )
    assert (alert.level, codes(alert)) == ("advisory", ["JPN-EEZ"])
    assert "approximate" in alert.message.en and "概略" in alert.message.ja


def test_outside_every_eez_is_a_notice(launches):
    # launches.csv row 2022-10-04: "Pacific outside EEZ ~3,200 km E of Tohoku".
    row = launches["2022-10-04"]
    engine = AlertEngine()
    (alert,) = engine.update(
        prediction(float(row["impact_lat"]), float(row["impact_lon"]), 900.0), None, NOW
    )
    assert (alert.level, alert.status, codes(alert)) == ("notice", "issued", [])
    assert "outside every exclusive economic zone" in alert.message.en


def test_overflight_like_2017_08_29_warns_the_prefectures_under_the_track(launches):
    # launches.csv row 2017-08-29: Sunan -> over Hokkaido (Oshima Peninsula / Cape Erimo)
    # -> 1,180 km E of Cape Erimo, apogee 550 km, 14 min; J-Alert warned 12 prefectures.
    row = launches["2017-08-29"]
    lat1, lon1 = float(row["impact_lat"]), float(row["impact_lon"])
    erimo = (41.92, 143.25)  # Cape Erimo, the row's reference point of the overflight
    track = waypoint_track([SUNAN, erimo, (lat1, lon1)], NOW, NOW + 14 * 60, 550e3)
    engine = AlertEngine()
    alerts = engine.update(prediction(lat1, lon1, 14 * 60), track, NOW)
    by_kind = {a.kind: a for a in alerts}
    assert by_kind["impact"].level == "notice"
    over = by_kind["overflight"]
    assert (over.level, over.status) == ("warning", "issued")
    assert "JP-01" in codes(over)  # Hokkaido, as in the J-Alert message
    assert all(c.startswith("JP-") for c in codes(over))
    assert "pass over" in over.message.en and "通過" in over.message.ja
    # The object flies on; once beyond Hokkaido the overflight warning ends "passed",
    # and at the impact time the impact notice ends "impacted".
    statuses = []
    for t in np.arange(NOW + 30.0, NOW + 15 * 60, 30.0):
        statuses += [
            (a.kind, a.status)
            for a in engine.update(prediction(lat1, lon1, NOW + 14 * 60 - t, now=t), track, t)
        ]
    assert ("overflight", "passed") in statuses
    assert ("impact", "impacted") in statuses
    assert ("overflight", "cancelled") not in statuses and ("impact", "cancelled") not in statuses
    assert statuses.count(("overflight", "passed")) == 1


def test_orbital_launch_warns_overflight_below_ceiling_and_never_impact():
    # A satellite launch from Sohae southwards past Okinawa, a few hundred km up.
    track = great_circle_track(39.66, 124.70, 20.0, 125.6, NOW, NOW + 600.0, 400e3)
    engine = AlertEngine()
    alerts = engine.update(prediction(20.0, 125.6, 600.0, category="orbital"), track, NOW)
    assert [a.kind for a in alerts] == ["overflight"]
    assert "JP-47" in codes(alerts[0])
    # Same flight with the ceiling below its height there: nothing at all.
    low = AlertEngine(rules=AlertRules(overflight_ceiling_m=100e3))
    assert low.update(prediction(20.0, 125.6, 600.0, category="orbital"), track, NOW) == []


def test_ballistic_overflight_warns_at_any_height(launches):
    # launches.csv row 2022-10-04: Mupyong-ni -> over Aomori -> 3,200 km E of Kamaishi,
    # apogee ~1,000 km, 22 min; J-Alert warned Aomori.
    row = launches["2022-10-04"]
    launch = (float(row["launch_lat"]), float(row["launch_lon"]))
    track = great_circle_track(*launch, 33.7, 177.25, NOW, NOW + 1320.0, 1000e3)
    engine = AlertEngine(rules=AlertRules(overflight_ceiling_m=100e3))
    alerts = engine.update(prediction(33.7, 177.25, 1320.0), track, NOW)
    assert [a.kind for a in alerts] == ["impact", "overflight"]
    assert {"JP-02"} <= set(codes(alerts[1]))  # Aomori, as on 2022-10-04


def test_lifecycle_update_cancel_reissue_with_one_alert_id():
    engine = AlertEngine()
    out = engine.update(prediction(40.57, 136.97), None, NOW)  # in JPN-EEZ: advisory
    assert [(a.status, a.level) for a in out] == [("issued", "advisory")]
    # A small impact-time change is not material; a large one is.
    assert engine.update(prediction(40.57, 136.97, 610.0), None, NOW) == []
    (upd,) = engine.update(prediction(40.57, 136.97, 660.0), None, NOW)
    assert (upd.status, upd.level) == ("updated", "advisory")
    # The ellipse moves onto Aomori: regions change -> updated, level warning.
    (upd,) = engine.update(prediction(40.82, 140.74, 660.0), None, NOW)
    assert (upd.status, upd.level) == ("updated", "warning") and "JP-02" in codes(upd)
    # Far out in the Pacific: the alert is cancelled, naming what it cancels.
    (can,) = engine.update(prediction(30.0, 170.0, 660.0), None, NOW)
    assert can.status == "cancelled" and "JP-02" in codes(can)
    # Staying out: silence (no fresh notice for a receding threat).
    assert engine.update(prediction(30.0, 171.0, 660.0), None, NOW) == []
    # Back in: re-issued under the same id.
    (again,) = engine.update(prediction(40.57, 136.97, 660.0), None, NOW)
    assert again.status == "issued"
    assert {a.alert_id for a in (out[0], upd, can, again)} == {"ALERT-T1-IMPACT"}


def test_no_impact_or_orbital_cancels_only_after_the_grace_period():
    engine = AlertEngine()  # no_impact_grace_s = 10
    engine.update(prediction(40.57, 136.97), None, NOW)
    # One orbital-classed update inside the grace period changes nothing...
    assert engine.update(prediction(40.57, 136.97, category="orbital"), None, NOW + 1) == []
    # ...and an impact prediction coming back resets the grace clock.
    assert engine.update(prediction(40.57, 136.97), None, NOW + 5) == []
    assert engine.update(prediction(0, 0, impact=False), None, NOW + 6) == []
    assert engine.update(prediction(0, 0, impact=False), None, NOW + 15) == []
    (can,) = engine.update(prediction(0, 0, impact=False), None, NOW + 16)
    assert (can.status, codes(can)) == ("cancelled", ["JPN-EEZ"])
    engine2 = AlertEngine(rules=AlertRules(no_impact_grace_s=0.0))
    engine2.update(prediction(40.57, 136.97), None, NOW)
    (can2,) = engine2.update(prediction(40.57, 136.97, category="orbital"), None, NOW + 1)
    assert can2.status == "cancelled"


def test_a_missing_ground_track_does_not_cancel_an_overflight_warning():
    track = great_circle_track(40.61, 126.43, 33.7, 177.25, NOW, NOW + 1320.0, 1000e3)
    engine = AlertEngine()
    first = engine.update(prediction(33.7, 177.25, 1320.0), track, NOW)
    assert [a.kind for a in first] == ["impact", "overflight"]
    assert engine.update(prediction(33.7, 177.25, 1320.0, now=NOW + 1), None, NOW + 1) == []
    later = engine.tick(NOW + 1320.0)
    assert ("overflight", "passed") in [(a.kind, a.status) for a in later]


def test_tick_closes_impact_without_new_predictions():
    engine = AlertEngine()
    engine.update(prediction(40.57, 136.97, 120.0), None, NOW)
    assert engine.tick(NOW + 60.0) == []
    (done,) = engine.tick(NOW + 121.0)
    assert (done.status, done.level, codes(done)) == ("impacted", "advisory", ["JPN-EEZ"])
    assert engine.tick(NOW + 200.0) == []  # closed for good


def test_hysteresis_near_a_boundary_does_not_flap():
    # The ellipse edge grazes the EEZ outer limit: 1 km in, then 5 km out (within the 20 km
    # exit margin), back and forth: one issue, nothing else.
    engine = AlertEngine()
    lines = []
    for k in range(20):
        lon = 157.55 if k % 2 else 157.70
        lines += engine.update(
            prediction(41.0, lon, 600.0, a_m=10_000.0, b_m=10_000.0), None, NOW + k
        )
    statuses = [(a.status, a.level) for a in lines]
    assert statuses.count(("cancelled", "advisory")) == 0
    assert len([s for s in statuses if s[0] in ("issued", "updated")]) <= 2


def test_exercise_never_gives_a_real_world_alert():
    engine = AlertEngine()
    ex = engine.update(prediction(35.68, 139.77, exercise=True), None, NOW)
    (alert,) = ex
    assert alert.exercise and alert.alert_id.endswith("-EXERCISE")
    assert all("EXERCISE" in m for m in (alert.message.en, alert.message.ja, alert.message.ko))
    assert "訓練" in alert.message.ja and "훈련" in alert.message.ko
    # A real-world prediction for the same track id is a separate threat with its own id:
    real = engine.update(prediction(40.57, 136.97), None, NOW + 1)
    assert [a.exercise for a in real] == [False] and real[0].alert_id == "ALERT-T1-IMPACT"
    # and exercise traffic moving away cancels only the exercise alert.
    (can,) = engine.update(prediction(30.0, 170.0, exercise=True), None, NOW + 2)
    assert can.exercise and can.status == "cancelled"
    quiet = AlertEngine(rules=AlertRules(emit_exercise=False))
    assert quiet.update(prediction(35.68, 139.77, exercise=True), None, NOW) == []


def test_marking_is_derived_from_the_prediction():
    marking = Marking(classification="CONFIDENTIAL", releasable_to=["USA", "JPN"])
    (alert,) = AlertEngine().update(prediction(40.57, 136.97, marking=marking), None, NOW)
    assert alert.marking.classification == "CONFIDENTIAL"
    assert alert.marking.releasable_to == ["JPN", "USA"] and alert.marking.released_by is None


def test_impact_level_rule():
    from kizuna.geo import regions

    rs = regions.load()
    assert impact_level([rs["JPN-EEZ"]]) == "advisory"
    assert impact_level([rs["JPN-TS"], rs["JPN-EEZ"]]) == "warning"
    assert impact_level([rs["BASE-ANDERSEN"]]) == "warning"
    assert impact_level([]) == "notice"


def test_ground_track_validation_and_resampling():
    from kizuna.errors import InputError

    with pytest.raises(InputError):
        GroundTrack.from_arrays([0.0, 0.0], [1.0, 2.0], [1.0, 2.0], [0.0, 0.0])
    with pytest.raises(InputError):
        GroundTrack.from_arrays([0.0, 1.0], [1.0], [1.0, 2.0], [0.0, 0.0])
    with pytest.raises(InputError):
        GroundTrack.from_arrays([0.0, 1.0], [1.0, np.nan], [1.0, 2.0], [0.0, 0.0])
    track = GroundTrack.from_arrays([0.0, 100.0], [40.0, 40.0], [179.9, -179.9], [1e5, 1e5])
    part = track.after(50.0)
    assert part.time_s[0] == 50.0 and part.lon_deg[0] == pytest.approx(180.0)
    dense = track.densified(1000.0)
    assert dense.time_s[0] == 0.0 and dense.time_s[-1] == 100.0
    assert np.all(np.abs(np.diff(np.unwrap(dense.lon_deg, period=360.0))) < 0.02)
    assert track.after(101.0) is None
    with pytest.raises(ValueError):
        track.time_s[0] = 5.0  # read-only


def test_foreign_ground_track_objects_are_accepted_and_cleaned():
    # The prediction layer's ground track has the same four arrays (plus other fields) and its
    # last sample may repeat the impact time; the engine takes it as it is.
    from types import SimpleNamespace

    base = great_circle_track(40.61, 126.43, 33.7, 177.25, NOW, NOW + 1320.0, 1000e3)
    t = np.append(base.time_s, base.time_s[-1])  # a repeated final time
    foreign = SimpleNamespace(
        time_s=t,
        lat_deg=np.append(base.lat_deg, base.lat_deg[-1]),
        lon_deg=np.append(base.lon_deg, base.lon_deg[-1]),
        alt_m=np.append(base.alt_m, 0.0),
        impacts=True,
    )
    gt = GroundTrack.coerce(foreign)
    assert len(gt) == len(base) and np.all(np.diff(gt.time_s) > 0)
    engine = AlertEngine()
    item = SimpleNamespace(product=prediction(33.7, 177.25, 1320.0), ground_track=foreign)
    alerts = engine.consume(item, NOW)
    assert [a.kind for a in alerts] == ["impact", "overflight"]
    assert "JP-02" in codes(alerts[1])


def test_notices_can_be_switched_off():
    engine = AlertEngine(rules=AlertRules(emit_notices=False))
    assert engine.update(prediction(30.0, 170.0), None, NOW) == []  # outside every EEZ
    assert engine.tick(NOW + 700.0) == []  # nothing was issued, nothing to close
    engine2 = AlertEngine(rules=AlertRules(emit_notices=False))
    assert engine2.update(prediction(30.0, 170.0), None, NOW) == []
    (first,) = engine2.update(prediction(40.57, 136.97), None, NOW + 1)
    assert (first.status, first.level) == ("issued", "advisory")  # first line is an issue


def test_finish_closes_everything_at_its_own_time(launches):
    row = launches["2017-08-29"]
    lat1, lon1 = float(row["impact_lat"]), float(row["impact_lon"])
    track = waypoint_track([SUNAN, (41.92, 143.25), (lat1, lon1)], NOW, NOW + 840.0, 550e3)
    engine = AlertEngine()
    engine.update(prediction(lat1, lon1, 840.0), track, NOW)
    engine.update(prediction(40.57, 136.97, 900.0, track_id="T2"), None, NOW)
    closing = {(a.track_id, a.kind): a for a in engine.finish()}
    assert closing[("T1", "impact")].status == "impacted"
    assert closing[("T1", "impact")].time == format_time(NOW + 840.0)
    assert closing[("T1", "overflight")].status == "passed"
    assert closing[("T2", "impact")].time == format_time(NOW + 900.0)
    assert engine.finish() == []  # nothing left open


def test_a_notice_survives_gaps_without_an_impact_and_is_not_closed_by_a_stale_time():
    # srbm-salvo: during boost the tracker's phase flips, so an impact (a notice, at sea) comes
    # and goes for a minute. The notice must neither be cancelled nor be closed as "impacted"
    # at the blip's impact time; the next impact prediction updates it.
    engine = AlertEngine()
    (first,) = engine.update(prediction(30.0, 170.0, 60.0), None, NOW)
    assert (first.status, first.level) == ("issued", "notice")
    for k in range(1, 120, 2):  # two minutes of "unknown, no impact"
        now = NOW + k
        assert engine.update(prediction(0, 0, impact=False, category="unknown"), None, now) == []
    assert engine.tick(NOW + 121.0) == []  # the stale impact time (NOW + 60) has passed
    (upd,) = engine.update(prediction(30.5, 171.0, 300.0, now=NOW + 122), None, NOW + 122)
    assert (upd.status, upd.level) == ("updated", "notice")
    (done,) = engine.tick(NOW + 422.0)
    assert done.status == "impacted" and done.alert_id == first.alert_id


def test_orbital_still_withdraws_a_notice_and_finish_closes_a_stale_one():
    engine = AlertEngine()
    engine.update(prediction(30.0, 170.0, 600.0), None, NOW)
    assert engine.update(prediction(0, 0, impact=False, category="orbital"), None, NOW + 1) == []
    (can,) = engine.update(prediction(0, 0, impact=False, category="orbital"), None, NOW + 11)
    assert (can.status, can.level) == ("cancelled", "notice")
    # End of input with an open notice whose last prediction had no impact: closed at its
    # time, "cancelled" as a live node would (the impact was lost 10 min before it was due and
    # never predicted again; test_alert_times), "impacted" if lost only in the terminal phase.
    engine2 = AlertEngine()
    engine2.update(prediction(30.0, 170.0, 600.0), None, NOW)
    engine2.update(prediction(0, 0, impact=False), None, NOW + 1)
    (done,) = engine2.finish()
    assert done.status == "cancelled" and done.time == format_time(NOW + 600.0)
    engine3 = AlertEngine()
    engine3.update(prediction(30.0, 170.0, 600.0), None, NOW)
    engine3.update(prediction(0, 0, impact=False), None, NOW + 595)
    (done,) = engine3.finish()
    assert done.status == "impacted" and done.time == format_time(NOW + 600.0)
