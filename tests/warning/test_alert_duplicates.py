"""One threat, one alert id: a duplicate track of an object already alerted raises nothing.

irbm-overflight (demo run): the spent missile body flies 1-2 km from the warhead to the same
impact area and the tracker keeps a track on each (KZ-000021 beside KZ-000001 for 12 min at
the time); each raised its own notice and overflight warning, so the operator saw two alerts
for one missile. Other co-located objects (a salvo's next missile, a stage falling short, a
satellite and its spent stage) must keep alerts of their own.
"""

from __future__ import annotations

from kizuna.warning import AlertEngine, AlertRules

from .conftest import NOW, great_circle_track, prediction

# 2022-10-04 (launches.csv): Mupyong-ni -> over Aomori -> 3,200 km E of Kamaishi, 22 min.
LAUNCH = (40.61, 126.43)
FAR = (33.7, 177.25)
FLIGHT_S = 1320.0


def flight(t0: float, shift_deg: float = 0.0):
    """The 2022-10-04-like flight launched at ``t0``; ``shift_deg`` moves it north."""
    return great_circle_track(
        LAUNCH[0] + shift_deg, LAUNCH[1], FAR[0] + shift_deg, FAR[1], t0, t0 + FLIGHT_S, 1000e3
    )


def feed(engine, track_id, track, t_s, impact=FAR, a_m=20_000.0, category="ballistic"):
    left = track.time_s[-1] - t_s
    pred = prediction(*impact, left, now=t_s, track_id=track_id, a_m=a_m, category=category)
    return engine.update(pred, track, t_s)


def test_a_duplicate_track_raises_nothing_and_carries_on_when_the_original_falls_silent():
    engine = AlertEngine()
    first = feed(engine, "T1", flight(NOW), NOW + 100.0)
    assert {(a.kind, a.status) for a in first} == {("impact", "issued"), ("overflight", "issued")}
    # T2: the same missile, 0.02 deg (~2 km) off, a wild first ellipse that still agrees.
    dup = flight(NOW, 0.02)
    assert feed(engine, "T2", dup, NOW + 102.0, a_m=700_000.0) == []
    for k in range(104, 140, 2):
        assert feed(engine, "T1", flight(NOW), NOW + k) == []
        assert feed(engine, "T2", dup, NOW + k + 0.5) == []
    assert ("T2", False) in engine.aliases
    # T1 is lost; 10 s later T2 carries T1's alerts on: a changed overflight time updates
    # the warning under T1's alert id, not a new one.
    later = flight(NOW - 60.0, 0.02)
    assert feed(engine, "T2", later, NOW + 145.0) == []  # T1 silent for 5 s only
    lines = feed(engine, "T2", later, NOW + 151.0)
    assert lines and {a.alert_id for a in lines} <= {"ALERT-T1-IMPACT", "ALERT-T1-OVERFLIGHT"}
    assert {a.track_id for a in lines} == {"T1"}
    ids = {a.alert_id for a in engine.finish()}
    assert ids == {"ALERT-T1-IMPACT", "ALERT-T1-OVERFLIGHT"}


def test_a_duplicate_carries_on_at_once_when_the_tracker_drops_the_original():
    engine = AlertEngine()
    feed(engine, "T1", flight(NOW), NOW + 100.0)
    dup = flight(NOW, 0.02)
    for k in range(102, 130, 2):
        feed(engine, "T1", flight(NOW), NOW + k)
        assert feed(engine, "T2", dup, NOW + k + 0.5) == []
    assert engine.tracks_ended(["T1"], NOW + 130.0) == []  # T2 is its alias: nothing to fold
    lines = feed(engine, "T2", flight(NOW - 60.0, 0.02), NOW + 131.0)  # 1 s after T1's last
    assert lines and {a.track_id for a in lines} == {"T1"}


def test_a_salvos_next_missile_has_its_own_alerts():
    # 12 s behind on the same path: ~40 km back at this flight's mean ground speed.
    engine = AlertEngine()
    feed(engine, "T1", flight(NOW), NOW + 100.0)
    second = feed(engine, "T2", flight(NOW + 12.0), NOW + 101.0)
    assert {a.alert_id for a in second} == {"ALERT-T2-IMPACT", "ALERT-T2-OVERFLIGHT"}


def test_a_co_located_object_with_another_impact_has_its_own_alert():
    # A spent stage just separated: the same place now, but a compact prediction 600 km short.
    engine = AlertEngine()
    feed(engine, "T1", flight(NOW), NOW + 100.0)
    stage = feed(engine, "T2", flight(NOW), NOW + 101.0, impact=(39.0, 140.0))
    assert "ALERT-T2-IMPACT" in {a.alert_id for a in stage}
    # An orbital object (no impact) next to a ballistic one is not its duplicate either.
    sat = feed(engine, "T3", flight(NOW), NOW + 102.0, category="orbital")
    assert "ALERT-T3-OVERFLIGHT" in {a.alert_id for a in sat}


def test_exercise_tracks_never_absorb_real_ones_and_the_rule_can_be_switched_off():
    engine = AlertEngine()
    feed(engine, "T1", flight(NOW), NOW + 100.0)
    drill = prediction(*FAR, 1220.0, now=NOW + 101.0, track_id="T2", exercise=True)
    assert engine.update(drill, flight(NOW), NOW + 101.0)  # its own (exercise) alerts
    off = AlertEngine(rules=AlertRules(duplicate_distance_m=0.0))
    feed(off, "T1", flight(NOW), NOW + 100.0)
    assert feed(off, "T2", flight(NOW, 0.02), NOW + 101.0)


def test_a_track_that_raised_nothing_yet_can_still_be_a_duplicate():
    engine = AlertEngine()
    feed(engine, "T1", flight(NOW), NOW + 100.0)
    # T2's first prediction has no impact and no ground track: nothing to compare, nothing said.
    quiet = prediction(0, 0, impact=False, category="unknown", now=NOW + 101.0, track_id="T2")
    assert engine.update(quiet, None, NOW + 101.0) == []
    for k in range(102, 126, 2):
        assert feed(engine, "T2", flight(NOW, 0.02), NOW + k) == []
        feed(engine, "T1", flight(NOW), NOW + k + 0.5)
    assert ("T2", False) in engine.aliases and ("T2", False) not in engine.threats


def _pair_with_alerts_of_their_own(engine):
    """T1 and T2 on one object 2 km apart, each with its own alerts: T2 began beside T1
    while the two disagreed (T1 then predicted no impact, as a payload's track does while it
    coasts with its spent stage), then T1's predictions came to agree with T2's."""
    coasting = prediction(0, 0, impact=False, category="unknown", now=NOW + 100.0)
    assert engine.update(coasting, flight(NOW), NOW + 100.0)  # an overflight warning
    assert {a.alert_id for a in feed(engine, "T2", flight(NOW, 0.02), NOW + 101.0)} == {
        "ALERT-T2-IMPACT",
        "ALERT-T2-OVERFLIGHT",
    }
    for k in range(102, 130, 2):
        feed(engine, "T1", flight(NOW), NOW + k)
        feed(engine, "T2", flight(NOW, 0.02), NOW + k + 0.5)
    assert engine.threats[("T1", False)].impact.state == "active"


def test_an_ended_track_with_alerts_of_its_own_is_folded_into_its_live_duplicate():
    """satellite-sohae: the satellite's track, on the payload and second stage coasting
    together, raised a notice beside the stage's own; dropped when the third stage lit, its
    notice closed "impacted" minutes later at its last predicted impact time (the payload
    went to orbit). Ended beside a live duplicate, its alerts are withdrawn in the live
    one's favour, and the live one's carry on to their own end."""
    engine = AlertEngine()
    _pair_with_alerts_of_their_own(engine)
    lines = engine.tracks_ended(["T1"], NOW + 131.0)
    assert {(a.alert_id, a.status) for a in lines} == {
        ("ALERT-T1-IMPACT", "cancelled"),
        ("ALERT-T1-OVERFLIGHT", "cancelled"),
    }
    impact = next(a for a in lines if a.kind == "impact")
    assert "ALERT-T2-IMPACT" in impact.message.en and "no longer predicted" not in impact.message.en
    assert all("ALERT-T2-" in a.message.ja and "ALERT-T2-" in a.message.ko for a in lines)
    # A later track of T1's own (a restart) raises nothing while T2 is live.
    assert feed(engine, "T1", flight(NOW), NOW + 133.0) == []
    closing = engine.finish()
    assert {a.alert_id for a in closing} == {"ALERT-T2-IMPACT", "ALERT-T2-OVERFLIGHT"}
    assert {a.status for a in closing if a.kind == "impact"} == {"impacted"}


def test_an_ended_track_without_a_live_duplicate_keeps_its_alerts_to_their_end():
    """An object out of every radar's cover still falls: nothing beside it, nothing folded.
    Nor is it folded into a track that has ended too, or into another exercise flag's."""
    engine = AlertEngine()
    _pair_with_alerts_of_their_own(engine)
    assert engine.tracks_ended(["T1", "T2"], NOW + 131.0) == []
    drill = AlertEngine()
    feed(drill, "T1", flight(NOW), NOW + 100.0)
    exercise = prediction(*FAR, 1220.0, now=NOW + 101.0, track_id="T2", exercise=True)
    assert drill.update(exercise, flight(NOW), NOW + 101.0)
    assert drill.tracks_ended(["T1"], NOW + 102.0) == []
    for eng, ended in ((engine, {"T1", "T2"}), (drill, {"T1"})):
        impacts = {a.track_id for a in eng.finish() if a.status == "impacted"}
        assert ended <= impacts
