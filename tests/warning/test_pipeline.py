"""Pipeline (tracker -> predictor -> alert engine) on the first 246 s of icbm-lofted.

The window holds the launch detection, the first Korean and US radar plots, the powered
flight, the burnout (236 s after launch) and the first impact predictions with their advisory
(Japan's EEZ), so every stage produces something. (It was the first 62 s, whose notice came
from the boost taken for a burnout at 60 s.) The scenario is simulated once for the module;
each test runs the real tracker and predictor (a prediction every 5 s) over those reports, a
second or two a run.
"""

from __future__ import annotations

from functools import cache

import pytest

from kizuna.contract import AlertProduct, Marking, PredictionProduct, TrackProduct, parse_report
from kizuna.prediction.predictor import Predictor
from kizuna.sensors.scenario import load_scenario
from kizuna.sensors.simulate import simulate
from kizuna.timefmt import parse_time
from kizuna.warning.pipeline import Pipeline

WINDOW_S = 246.0
REORDER_S = 3.0  # TrackerConfig.reorder_window_s default


@cache
def _reports() -> tuple:
    sim = simulate(load_scenario("icbm-lofted"))
    launch = min(o.start_s for o in sim.objects)
    reports = [parse_report(r) for r in sim.reports]
    return tuple(r for r in reports if r.t <= launch + WINDOW_S)


def _pipeline() -> Pipeline:
    return Pipeline(predictor=Predictor(min_interval_s=5.0, samples=200))


def _as_real(reports) -> list:
    return [r.model_copy(update={"exercise": False, "id": r.id + "-real"}) for r in reports]


def _key(p) -> tuple:
    """A product without its track id (ids depend on how many tracks came before)."""
    d = p.model_dump()
    d.pop("track_id", None)
    d.pop("alert_id", None)
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


@pytest.fixture(scope="module")
def products() -> list:
    return _pipeline().process(_reports())


def test_the_window_exercises_every_stage(products):
    reports = _reports()
    assert reports and all(r.exercise for r in reports)  # the scenario is an exercise
    kinds = {p.product for p in products}
    assert kinds == {"track", "prediction", "alert"}
    alerts = [p for p in products if isinstance(p, AlertProduct)]
    assert (alerts[0].kind, alerts[0].level, alerts[0].status) == ("impact", "advisory", "issued")
    assert [r.code for r in alerts[0].regions] == ["JPN-EEZ"]


def test_products_come_in_causal_order(products):
    """Each prediction follows the track update it was made from; each alert its prediction."""
    seen: dict[str, set[str]] = {}
    last_prediction: dict[str, PredictionProduct] = {}
    for p in products:
        if isinstance(p, TrackProduct):
            times = seen.setdefault(p.track_id, set())
            # A track's updates go forward in time.
            assert all(parse_time(p.time) > parse_time(t) for t in times)
            times.add(p.time)
        elif isinstance(p, PredictionProduct):
            assert p.time in seen.get(p.track_id, ())  # made from an update already out
            last_prediction[p.track_id] = p
        elif p.status in ("issued", "updated"):
            # Stamped with the prediction that raised it, which came just before.
            assert p.time == last_prediction[p.track_id].time


def test_incremental_driving_gives_the_batch_products_and_holds_the_reorder_window(products):
    reports = list(_reports())
    pipe = _pipeline()
    out = []
    half = len(reports) // 2
    # Advanced report by report, as process() does. (Advancing once after the first half was
    # tried too: the tracker's batches then split scans elsewhere and the products differ in
    # detail; over the 62 s this window used to be, there was no scan to split.)
    for r in reports[:half]:
        assert pipe.ingest(r)
        released = pipe.advance(r.t)
        # Nothing newer than now - reorder window is processed yet; flush would release it.
        assert all(parse_time(p.time) < r.t - REORDER_S + 1e-6 for p in released)
        out += released
    for r in reports[half:]:
        pipe.ingest(r)
        out += pipe.advance(r.t)
    tail = pipe.flush()
    assert any(isinstance(p, TrackProduct) for p in tail)  # the held-back last 3 s
    out += tail
    assert pipe.flush() == []  # nothing twice
    closing = pipe.finish()
    assert closing and all(isinstance(p, AlertProduct) for p in closing)
    # finish() closes the open advisory at its own predicted impact time, not at the end of
    # data.
    (notice,) = [a for a in closing if a.kind == "impact"]
    assert notice.status == "impacted" and notice.time == notice.impact_time
    assert parse_time(notice.time) > max(r.t for r in reports)
    assert [_key(p) for p in out + closing] == [_key(p) for p in products]
    assert pipe.counts.reports == len(reports) and pipe.counts.duplicates == 0
    assert pipe.counts.alerts == sum(isinstance(p, AlertProduct) for p in products)


def test_duplicate_report_ids_are_ignored(products):
    reports = list(_reports())
    pipe = _pipeline()
    assert pipe.ingest(reports[0]) is True
    assert pipe.ingest(reports[0]) is False
    # Every report delivered twice (a redelivery after a reconnect): same picture.
    doubled = [r for r in reports for _ in (0, 1)]
    again = _pipeline()
    out = again.process(doubled)
    assert [_key(p) for p in out] == [_key(p) for p in products]
    assert (again.counts.reports, again.counts.duplicates) == (len(reports), len(reports))


def test_derived_products_carry_the_markings_of_their_inputs(products):
    # As simulated: Korean plots are releasable to KOR/USA, Japanese ones to JPN/USA, the US
    # ones to JPN/KOR/USA, so every product resting on a Korean plot is KOR/USA at most, never
    # JPN, and one resting on Korean and Japanese plots is USA only.
    by_time: dict[tuple[str, str], Marking] = {}
    for p in products:
        if isinstance(p, TrackProduct):
            by_time[(p.track_id, p.time)] = p.marking
        elif isinstance(p, PredictionProduct):
            assert p.marking == by_time[(p.track_id, p.time)]  # the track's marking
            by_time[(p.track_id, "prediction")] = p.marking
        else:
            assert p.marking == by_time[(p.track_id, "prediction")]  # the prediction's
    markings = {tuple(p.marking.releasable_to) for p in products}
    assert markings <= {("KOR", "USA"), ("JPN", "USA"), ("JPN", "KOR", "USA"), ("USA",)}
    assert ("USA",) in markings  # the track fused Korean and Japanese plots
    # One stricter marking on every input: every derived product carries exactly it.
    strict = Marking(classification="CONFIDENTIAL", releasable_to=["KOR"])
    marked = [r.model_copy(update={"marking": strict}) for r in _reports()]
    out = _pipeline().process(marked)
    assert out and all(p.marking == strict for p in out)


def test_exercise_traffic_never_raises_a_real_world_alert(products):
    alerts = [p for p in products if isinstance(p, AlertProduct)]
    assert alerts and all(a.exercise and a.alert_id.endswith("-EXERCISE") for a in alerts)
    assert all(a.message.en.startswith("EXERCISE") for a in alerts)
    assert all(p.exercise for p in products)
    # The same flight as real-world reports, with the exercise copy interleaved: the
    # real-world alerts are exactly those of the real-world reports alone.
    real = _as_real(_reports())
    alone = [p for p in _pipeline().process(real) if isinstance(p, AlertProduct)]
    mixed_in = sorted([*real, *_reports()], key=lambda r: r.t)
    mixed = [p for p in _pipeline().process(mixed_in) if isinstance(p, AlertProduct)]
    assert alone and not any(a.exercise for a in alone)
    assert [_key(a) for a in mixed if not a.exercise] == [_key(a) for a in alone]
    assert [_key(a) for a in mixed if a.exercise] == [_key(a) for a in alerts]
