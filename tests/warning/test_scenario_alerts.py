"""End to end on the shipped scenarios: simulate -> Pipeline -> alerts (issue 4 "done when").

Each scenario is simulated once per module and run through :class:`Pipeline` once per
(horizon, cadence); the tests read the same products. Cost is the predictor's (every
prediction propagates the flight to impact), so the default run stops each scenario shortly
after the alerts under test are out and predicts each track every 5 s (the live default is
2 s). The whole-flight lifecycles (``impacted`` / ``passed`` at the end, 15-70 min of
scenario time) are ``slow``.

Threat reference time: an alert can only follow from the unpowered path, so the 10 s budget
(DESIGN.md section 5, "first alert within 10 s of the third radar report on a threatening
track") is counted from the later of the object's third radar report and its burnout; an
alert before burnout (an overflight seen on the instantaneous-impact-point path) counts as
early.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest

from kizuna.contract import AlertProduct, TrackProduct, parse_report
from kizuna.geo.frames import lla_to_ecef
from kizuna.prediction.predictor import Predictor
from kizuna.sensors.scenario import load_scenario
from kizuna.sensors.simulate import Simulation, simulate
from kizuna.timefmt import parse_time
from kizuna.warning.engine import AlertRules
from kizuna.warning.pipeline import Pipeline

INTERVAL_S = 5.0
BUDGET_S = 10.0


@cache
def _sim(name: str) -> Simulation:
    return simulate(load_scenario(name))


@cache
def _run(name: str, horizon_s: float | None) -> tuple[float, list]:
    """(launch time, products) of the pipeline over the first ``horizon_s`` after launch."""
    sim = _sim(name)
    launch = min(o.start_s for o in sim.objects)
    end = np.inf if horizon_s is None else launch + horizon_s
    reports = [parse_report(r) for r in sim.reports]
    pipeline = Pipeline(predictor=Predictor(min_interval_s=INTERVAL_S, samples=200))
    return launch, pipeline.process(r for r in reports if r.t <= end)


def _alerts(products: list) -> list[AlertProduct]:
    return [p for p in products if p.product == "alert"]


def _owner_at(sim: Simulation, products: list, margin_m: float = 0.0) -> dict[tuple[str, str], str]:
    """(track id, update time) -> the true object nearest that track update (within 50 km).

    ``margin_m``: only updates nearer their object than any other by this much (objects
    flying together, such as a satellite and the spent stage it has not yet left, are
    nobody's alone).
    """
    out: dict[tuple[str, str], str] = {}
    for p in products:
        if not isinstance(p, TrackProduct):
            continue
        t = parse_time(p.time)
        r = lla_to_ecef(p.lat, p.lon, p.alt_m)
        dist = {
            obj.object_id: float(np.linalg.norm(obj.trajectory.state_at(np.array([t]))[0, :3] - r))
            for obj in sim.objects
            if obj.start_s <= t <= obj.end_s
        }
        if not dist:
            continue
        ranked = sorted(dist, key=dist.get)
        who, best = ranked[0], dist[ranked[0]]
        if best >= 50_000.0:
            continue
        if len(ranked) > 1 and dist[ranked[1]] - best < margin_m:
            continue
        out[(p.track_id, p.time)] = who
    return out


def _owner(sim: Simulation, products: list) -> dict[str, str]:
    """Track id -> true object id, by majority over the track's updates."""
    votes: dict[str, dict[str, int]] = {}
    for (track_id, _), who in _owner_at(sim, products).items():
        counts = votes.setdefault(track_id, {})
        counts[who] = counts.get(who, 0) + 1
    return {tid: max(c, key=c.get) for tid, c in votes.items()}


def _reference_s(sim: Simulation, object_id: str) -> float:
    """Later of the object's third radar report and its burnout (POSIX s)."""
    times = sorted(
        o.time_s for o in sim.observations if o.kind == "radar" and o.object_id == object_id
    )
    obj = next(o for o in sim.objects if o.object_id == object_id)
    powered = obj.trajectory.time_s[obj.trajectory.powered]
    burnout = float(powered.max()) if powered.size else obj.start_s
    return max(times[2], burnout)


def _latency(name: str, horizon_s: float, object_id: str) -> tuple[float, AlertProduct]:
    _launch, products = _run(name, horizon_s)
    sim = _sim(name)
    owner = _owner(sim, products)
    mine = [a for a in _alerts(products) if owner.get(a.track_id) == object_id]
    assert mine, f"{name}: no alert for {object_id}"
    return parse_time(mine[0].time) - _reference_s(sim, object_id), mine[0]


def _lifecycles_are_well_formed(alerts: list[AlertProduct]) -> None:
    """One alert_id per threat and kind; issued first; nothing after a final status."""
    by_id: dict[str, list[AlertProduct]] = {}
    for a in alerts:
        by_id.setdefault(a.alert_id, []).append(a)
    for alert_id, lines in by_id.items():
        assert len({(a.track_id, a.kind) for a in lines}) == 1, alert_id
        assert lines[0].status == "issued", alert_id
        for prev, nxt in itertools.pairwise(lines):
            assert prev.status not in ("impacted", "passed"), alert_id
            if prev.status == "cancelled":
                assert nxt.status == "issued", alert_id
        assert all(a.exercise and a.message.en.startswith("EXERCISE") for a in lines)


def _codes(alerts: list[AlertProduct], kind: str) -> set[str]:
    return {r.code for a in alerts if a.kind == kind for r in a.regions}


# --- Tohoku / Hokkaido overflights -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "horizon_s", "under_track"),
    [
        # launches.csv 2017-08-29: over the Oshima Peninsula / Cape Erimo (Hokkaido).
        ("irbm-overflight", 175.0, {"JP-01"}),
        # launches.csv 2022-10-04: over Aomori 07:28-07:29 JST.
        ("irbm-overflight-2022", 175.0, {"JP-02"}),
    ],
)
def test_overflight_warns_the_prefectures_under_the_track(name, horizon_s, under_track):
    _, products = _run(name, horizon_s)
    alerts = _alerts(products)
    over = [a for a in alerts if a.kind == "overflight"]
    assert over and all(a.level == "warning" for a in over)
    assert under_track <= _codes(over, "overflight")
    # Only Japanese prefectures under a Sunan/Mupyong-ni -> Pacific track; no Korean province.
    assert all(code.startswith("JP-") for code in _codes(over, "overflight"))
    # The impact far out in the Pacific is a notice, never a warning naming a prefecture.
    assert {a.level for a in alerts if a.kind == "impact"} <= {"notice"}
    _lifecycles_are_well_formed(alerts)
    latency, first = _latency(name, horizon_s, "L1-M1")
    assert latency <= BUDGET_S, (name, latency, first.kind, first.level)


# --- lofted flight into Japan's EEZ ------------------------------------------------------


@pytest.mark.slow  # ~25-40 s
def test_lofted_flight_into_japans_eez_gives_an_eez_alert_and_no_prefecture_alert():
    # launches.csv 2017-11-29: impact ~250 km W of Aomori inside the EEZ, no J-Alert.
    _, products = _run("icbm-lofted", 420.0)
    alerts = _alerts(products)
    assert alerts
    assert "JPN-EEZ" in _codes(alerts, "impact")
    assert any(a.kind == "impact" and a.level == "advisory" for a in alerts)
    named = _codes(alerts, "impact") | _codes(alerts, "overflight")
    assert not {c for c in named if c.startswith(("JP-", "KR-"))}
    assert not [a for a in alerts if a.level == "warning"]
    _lifecycles_are_well_formed(alerts)
    latency, first = _latency("icbm-lofted", 420.0, "L1-M1")
    assert latency <= BUDGET_S, (latency, first.kind, first.level)


# --- salvo at sea outside every EEZ ------------------------------------------------------


@pytest.mark.slow  # ~70 s: the whole 7 min salvo, to see every notice closed "impacted"
def test_salvo_at_sea_outside_every_eez_gives_notices_only():
    _launch, products = _run("srbm-salvo", None)
    alerts = _alerts(products)
    assert alerts and {a.level for a in alerts} == {"notice"}
    assert all(a.kind == "impact" and not a.regions for a in alerts)
    _lifecycles_are_well_formed(alerts)
    sim = _sim("srbm-salvo")
    owner = _owner(sim, products)
    for missile in ("L1-M1", "L1-M2", "L1-M3"):
        tracks = {t for t, o in owner.items() if o == missile}
        mine = [a for a in alerts if a.track_id in tracks]
        # Each missile: one notice issued, closed "impacted" near its true impact time.
        assert next(a.status for a in mine) == "issued", missile
        assert mine[-1].status == "impacted", missile
        obj = next(o for o in sim.objects if o.object_id == missile)
        assert parse_time(mine[-1].time) == pytest.approx(obj.end_s, abs=30.0), missile


# --- satellite launch past Okinawa -------------------------------------------------------

ORBITAL_CAP_S = 900.0  # insertion is ~12 min after lift-off; fail rather than run 25 min


@cache
def _run_until_orbital(name: str) -> tuple[float, float, list]:
    """(launch time, first orbital prediction time, products) of the pipeline driven report
    by report and stopped once a track has been classed orbital for longer than the engine's
    grace period (so the withdrawal of its impact alerts is out), then finished.

    The whole 25 min scenario (mostly the spent stages' tracks being predicted) is too slow
    for a test; what happens after the classification is not what is under test.
    """
    sim = _sim(name)
    launch = min(o.start_s for o in sim.objects)
    pipeline = Pipeline(predictor=Predictor(min_interval_s=INTERVAL_S, samples=200))
    stop = launch + ORBITAL_CAP_S
    orbital_s = None
    products: list = []
    for report in map(parse_report, sim.reports):
        if report.t > stop:
            break
        pipeline.ingest(report)
        new = pipeline.advance(report.t)
        products.extend(new)
        if orbital_s is None:
            orbital = [p for p in new if p.product == "prediction" and p.category == "orbital"]
            if orbital:
                orbital_s = parse_time(orbital[0].time)
                stop = orbital_s + pipeline.alerts.rules.no_impact_grace_s + 5.0
    products.extend(pipeline.finish())
    assert orbital_s is not None, f"{name}: no track classed orbital by launch + {ORBITAL_CAP_S}"
    return launch, orbital_s, products


def _of_satellite(products: list, lines: list) -> list:
    """The products among ``lines`` made while their track followed the satellite (L1-V1).

    Per update, not per track: at a staging the satellite's track may go on with the spent
    stage (on this scenario the track that warned Okinawa follows the second stage after
    separation), so a majority vote over the whole track would misattribute its alerts.
    """
    at = _owner_at(_sim("satellite-sohae"), products)
    return [p for p in lines if at.get((p.track_id, p.time)) == "L1-V1"]


@pytest.mark.slow  # ~50 s CPU: 12 min of a satellite launch, predicted every 5 s (shared run)
def test_satellite_launch_warns_okinawa_for_the_overflight():
    _, _, products = _run_until_orbital("satellite-sohae")
    alerts = _alerts(products)
    raised = [a for a in alerts if a.status in ("issued", "updated")]
    over = [a for a in _of_satellite(products, raised) if a.kind == "overflight"]
    assert "JP-47" in _codes(over, "overflight")
    assert all(a.level == "warning" for a in over)
    _lifecycles_are_well_formed(alerts)


@pytest.mark.slow  # shares the run above
def test_satellite_launch_predicts_no_impact_once_orbital():
    _, orbital_s, products = _run_until_orbital("satellite-sohae")
    orbital = [p for p in products if p.product == "prediction" and p.category == "orbital"]
    orbital_tracks = {p.track_id for p in _of_satellite(products, orbital)}
    assert orbital_tracks, "the satellite's track is never classed orbital"
    for track_id in orbital_tracks:
        first_orbital = min(
            parse_time(p.time)
            for p in products
            if p.product == "prediction" and p.track_id == track_id and p.category == "orbital"
        )
        impact = [a for a in _alerts(products) if a.track_id == track_id and a.kind == "impact"]
        # Never an impact warning or advisory naming a region for the satellite; a boost-phase
        # notice (information only) is allowed, and withdrawn ("cancelled") once it is orbital.
        assert all(a.level == "notice" and not a.regions for a in impact), track_id
        after = [a for a in impact if parse_time(a.time) >= first_orbital]
        assert all(a.status == "cancelled" for a in after), track_id
        if impact:
            assert impact[-1].status == "cancelled", track_id
            assert parse_time(impact[-1].time) <= (first_orbital + AlertRules().no_impact_grace_s)
    # The run went on past the classification (the stop rule worked).
    assert max(parse_time(p.time) for p in products if p.product == "track") > orbital_s


@pytest.mark.slow  # shares the run above
def test_satellite_alone_is_never_predicted_to_fall():
    """Issue 3: the satellite, once apart from its spent stages, gets no ballistic prediction,
    no impact point and no impact alert of any level, not even a notice.

    While it coasts with its spent second stage (the sim flies them together from 230 s to
    third-stage ignition at 536 s) the pair is one sub-orbital object, and the second stage
    really falls (03:17:59 UTC, east of the Philippines): an impact notice then is the
    stage's, and is allowed. "Apart" is 500 m nearer the satellite than any other object.
    The track that picks the satellite up as it leaves the coasting stage was declared
    coasting from its high-altitude prior and predicted an impact for ~9 s (543-553 s); a
    start beside a confirmed track now keeps an even thrust prior, and no new track is
    declared coasting before the data show it.
    """
    _, _, products = _run_until_orbital("satellite-sohae")
    alone = _owner_at(_sim("satellite-sohae"), products, margin_m=500.0)
    preds = [
        p
        for p in products
        if p.product == "prediction" and alone.get((p.track_id, p.time)) == "L1-V1"
    ]
    assert preds, "no prediction of the satellite alone"
    fallen = [(p.track_id, p.time) for p in preds if p.category == "ballistic" or p.impact]
    assert not fallen, fallen
    raised = [
        a
        for a in _alerts(products)
        if a.kind == "impact"
        and a.status in ("issued", "updated")
        and alone.get((a.track_id, a.time)) == "L1-V1"
    ]
    assert not raised, [(a.track_id, a.time, a.level) for a in raised]
