"""The times an alert states: its fields and its en/ja/ko text agree; stale estimates close.

Overflight lines: ``impact_time`` is when the overflying object is predicted to come down,
from the same prediction as the ground track (None when that prediction has no impact); the
message's "in about N min (hh:mm:ss UTC)" is the first time over the named regions, and the
message states the ``impact_time`` too whenever the field has one.
"""

from __future__ import annotations

import re

from kizuna.contract import AlertProduct
from kizuna.timefmt import format_time, parse_time
from kizuna.warning import AlertEngine
from kizuna.warning.messages import render

from .conftest import NOW, great_circle_track, prediction

# 2022-10-04 (launches.csv): Mupyong-ni -> over Aomori -> 3,200 km E of Kamaishi, 22 min.
LAUNCH = (40.61, 126.43)
FAR_PACIFIC = (33.7, 177.25)
FALL_TEXT = {
    "en": "come down at {t} UTC",
    "ja": "落下予測時刻 {t} UTC",
    "ko": "낙하 예상 시각 {t} UTC",
}


def stated_overflight_time(alert: AlertProduct) -> float:
    """The "(hh:mm:ss UTC)" of an issued/updated overflight message, as POSIX seconds."""
    hms = re.search(r"\((\d\d:\d\d:\d\d) UTC\)", alert.message.en).group(1)
    return parse_time(alert.time[:11] + hms + ".000Z")


def assert_field_and_text_agree(alert: AlertProduct) -> None:
    for lang in ("en", "ja", "ko"):
        text = getattr(alert.message, lang)
        if alert.impact_time is None:
            assert FALL_TEXT[lang].split("{t}")[0] not in text, (lang, text)
        else:
            assert FALL_TEXT[lang].format(t=alert.impact_time[11:19]) in text, (lang, text)


def test_overflight_line_carries_its_own_predictions_impact_time_and_says_it():
    track = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW, NOW + 1320.0, 1000e3)
    engine = AlertEngine()
    alerts = engine.update(prediction(*FAR_PACIFIC, 1320.0), track, NOW)
    (over,) = [a for a in alerts if a.kind == "overflight"]
    assert over.impact_time == format_time(NOW + 1320.0)
    t_over = stated_overflight_time(over)
    # Aomori is ~40 % of the way along: well after now, well before the impact.
    assert NOW + 200.0 < t_over < NOW + 1000.0
    minutes = int(re.search(r"in about (\d+) min", over.message.en).group(1))
    assert abs(minutes * 60.0 - (t_over - NOW)) <= 30.0
    assert f"{minutes}分後" in over.message.ja and f"{minutes}분 후" in over.message.ko
    assert_field_and_text_agree(over)
    (passed,) = [a for a in engine.tick(NOW + 1100.0) if a.kind == "overflight"]
    assert passed.status == "passed" and passed.impact_time == format_time(NOW + 1320.0)
    assert_field_and_text_agree(passed)


def test_a_stale_boost_phase_impact_time_never_reaches_an_overflight_line():
    # Demo finding: an early (boost-phase) impact estimate 60 s out, then a prediction with no
    # impact yet but a ground track over Aomori. The overflight line used to carry the stale
    # impact time, earlier than the overflight its own message announced.
    track = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW, NOW + 1320.0, 1000e3)
    engine = AlertEngine()
    (notice,) = engine.update(prediction(38.0, 131.0, 60.0), None, NOW)
    assert notice.kind == "impact"
    no_impact = prediction(0, 0, impact=False, category="unknown", now=NOW + 10.0)
    (over,) = engine.update(no_impact, track, NOW + 10.0)
    assert (over.kind, over.status) == ("overflight", "issued")
    assert over.impact_time is None
    assert_field_and_text_agree(over)
    # When a prediction with an impact changes the regions, the line carries that impact.
    shifted = great_circle_track(41.5, 126.43, 42.5, 177.25, NOW, NOW + 1320.0, 1000e3)
    later = engine.update(prediction(42.5, 177.25, 1310.0, now=NOW + 20.0), shifted, NOW + 20.0)
    (upd,) = [a for a in later if a.kind == "overflight"]
    assert upd.status == "updated" and upd.impact_time == format_time(NOW + 1330.0)
    assert stated_overflight_time(upd) < parse_time(upd.impact_time)
    assert_field_and_text_agree(upd)


def test_an_estimate_nothing_confirmed_is_cancelled_once_its_time_is_past():
    engine = AlertEngine()  # stale_impact_grace_s = 30, no_impact_grace_s = 10
    (notice,) = engine.update(prediction(30.0, 170.0, 60.0), None, NOW)
    for k in range(2, 22, 2):  # the track loses the impact, then goes silent at NOW + 20
        engine.update(prediction(0, 0, impact=False, category="unknown"), None, NOW + k)
    assert engine.tick(NOW + 61.0) == []  # past, but not yet by the grace period
    assert engine.tick(NOW + 89.0) == []
    (end,) = engine.tick(NOW + 91.0)
    assert (end.status, end.alert_id) == ("cancelled", notice.alert_id)
    assert engine.tick(NOW + 500.0) == [] and engine.finish() == []


def test_an_impact_lost_in_the_terminal_phase_ends_impacted_after_the_grace_period():
    engine = AlertEngine()
    (adv,) = engine.update(prediction(40.57, 136.97, 120.0), None, NOW)
    assert adv.level == "advisory"
    engine.update(prediction(0, 0, impact=False, category="unknown"), None, NOW + 115.0)
    assert engine.tick(NOW + 121.0) == []  # the latest prediction did not confirm it
    (end,) = engine.tick(NOW + 150.0)
    assert (end.status, end.level, end.impact_time) == (
        "impacted",
        "advisory",
        format_time(NOW + 120.0),
    )


def test_a_track_still_updating_keeps_its_alert_open():
    # The stale rule needs the track to be silent: while it still reports (e.g. a long boost
    # with no impact predicted) the next impact prediction updates the alert instead.
    engine = AlertEngine()
    engine.update(prediction(30.0, 170.0, 60.0), None, NOW)
    for k in range(2, 200, 2):
        engine.update(prediction(0, 0, impact=False, category="unknown"), None, NOW + k)
        assert engine.tick(NOW + k + 1.0) == []


def test_minutes_to_the_event_round_half_up():
    # Python's round() is half-to-even: 150 s said "2 min" and 270 s "4 min".
    for dt, expected in ((150.0, "3"), (270.0, "5"), (89.0, "1"), (29.0, "0")):
        msg = render("impact", "warning", [], NOW + dt, NOW, False)
        assert f"about {expected} min" in msg["en"], (dt, msg["en"])
        assert f"約{expected}分後" in msg["ja"] and f"약 {expected}분 후" in msg["ko"]


def test_an_overflight_warning_is_updated_when_its_stated_times_move():
    # Same regions, but the prediction sharpens: the overflight comes 90 s earlier than the
    # issued line said. Its "in about N min (hh:mm:ss UTC)" would be wrong by 1.5 min.
    engine = AlertEngine()
    track = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW, NOW + 1320.0, 1000e3)
    (over,) = [
        a
        for a in engine.update(prediction(*FAR_PACIFIC, 1320.0), track, NOW)
        if a.kind == "overflight"
    ]
    t0 = stated_overflight_time(over)
    # A few seconds' drift is not material: no line.
    nudged = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW - 5.0, NOW + 1315.0, 1000e3)
    assert engine.update(prediction(*FAR_PACIFIC, 1315.0, now=NOW + 2), nudged, NOW + 2) == []
    earlier = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW - 90.0, NOW + 1230.0, 1000e3)
    lines = engine.update(prediction(*FAR_PACIFIC, 1230.0, now=NOW + 4), earlier, NOW + 4)
    (upd,) = [a for a in lines if a.kind == "overflight"]
    assert (upd.status, [r.code for r in upd.regions]) == (
        "updated",
        [r.code for r in over.regions],
    )
    assert abs(stated_overflight_time(upd) - (t0 - 90.0)) <= 2.0
    assert upd.impact_time == format_time(NOW + 4.0 + 1230.0)
    assert_field_and_text_agree(upd)


def test_an_overflight_warning_states_the_impact_once_one_is_predicted():
    track = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW, NOW + 1320.0, 1000e3)
    engine = AlertEngine()
    no_impact = prediction(0, 0, impact=False, category="unknown")
    (over,) = engine.update(no_impact, track, NOW)
    assert over.impact_time is None
    later = engine.update(prediction(*FAR_PACIFIC, 1318.0, now=NOW + 2), track, NOW + 2)
    (upd,) = [a for a in later if a.kind == "overflight"]
    assert upd.status == "updated" and upd.impact_time == format_time(NOW + 1320.0)
    assert_field_and_text_agree(upd)
    # An impact-less prediction afterwards is not news; the stated time stands.
    assert [a for a in engine.update(no_impact, track, NOW + 4) if a.kind == "overflight"] == []


def test_a_live_clock_and_the_end_of_input_close_a_lost_impact_alike():
    # Impact lost 5 s (terminal) or 50 s (long) before it was due, then silence.
    for lost_before_s, status in ((5.0, "impacted"), (50.0, "cancelled")):
        outcomes = []
        for live in (True, False):
            engine = AlertEngine()
            engine.update(prediction(40.57, 136.97, 120.0), None, NOW)
            t_lost = NOW + 120.0 - lost_before_s
            engine.update(prediction(0, 0, impact=False, now=t_lost), None, t_lost)
            (end,) = engine.tick(NOW + 160.0) if live else engine.finish()
            outcomes.append((end.status, end.alert_id, end.impact_time))
        assert outcomes[0] == outcomes[1], lost_before_s
        assert outcomes[0][0] == status


def test_powered_predictions_restate_an_overflight_only_when_its_regions_change():
    """In the last seconds of a burn the instantaneous-impact path's time over the same
    prefecture moves by ~40 s per prediction (irbm-overflight: "updated" 4 times in 17 s).
    Powered predictions (no impact, no apogee, category unknown) do not restate the times;
    the first prediction of the coast does, once."""
    engine = AlertEngine()
    powered = prediction(0, 0, impact=False, category="unknown")
    assert powered.apogee_km is None
    track = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW, NOW + 1320.0, 1000e3)
    (over,) = engine.update(powered, track, NOW)
    t0 = stated_overflight_time(over)
    for k in range(1, 5):  # 4 s apart, each 40 s later over the same regions
        later = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW + 40.0 * k, NOW + 1320.0, 1000e3)
        step = prediction(0, 0, impact=False, category="unknown", now=NOW + 4.0 * k)
        assert engine.update(step, later, NOW + 4.0 * k) == [], k
    # The coast's first prediction: the times moved 160 s since the issued line said them.
    coast = great_circle_track(*LAUNCH, *FAR_PACIFIC, NOW + 160.0, NOW + 1320.0, 1000e3)
    first = prediction(*FAR_PACIFIC, 1300.0, now=NOW + 20.0)
    (upd,) = [a for a in engine.update(first, coast, NOW + 20.0) if a.kind == "overflight"]
    assert upd.status == "updated"
    # It states what the coast's path says (as an alert raised from it alone would).
    (fresh,) = [a for a in AlertEngine().update(first, coast, NOW + 20.0) if a.kind == "overflight"]
    assert stated_overflight_time(upd) == stated_overflight_time(fresh) > t0 + 30.0
