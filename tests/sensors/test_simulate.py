"""The simulator end to end: determinism, the contract, the schema, the truth file, the CLI."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

import jsonschema
import numpy as np
import pytest
from conftest import START_S, ballistic_object, radar_spec

from kizuna.contract import Report, json_schema, parse_report, parse_time
from kizuna.geo.frames import ecef_to_lla, enu_rotation
from kizuna.interfaces.cli.main import main
from kizuna.sensors.infrared import detect_launches
from kizuna.sensors.national import feed_reports
from kizuna.sensors.radar import Radar
from kizuna.sensors.scenario import InfraredSpec, NationalFeedSpec, load_scenario, shipped_scenarios
from kizuna.sensors.schema import SCHEMA_PATH, schema_text
from kizuna.sensors.simulate import report_lines, simulate, truth_lines

ID_PATTERN = re.compile(r"^(?P<sensor>[A-Za-z0-9_.\-]+):(?P<seq>\d{6})$")


@cache
def _run(name: str, seed: int | None = None):
    scenario = load_scenario(name)
    if seed is not None:
        from dataclasses import replace

        scenario = replace(scenario, seed=seed)
    sim = simulate(scenario)
    return sim, list(report_lines(sim)), list(truth_lines(sim))


@cache
def _schema_validator():
    text = resources.files("kizuna.sensors").joinpath("report.schema.json").read_text("utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema, jsonschema.Draft202012Validator(schema)


def test_schema_file_is_generated_from_the_contract():
    """If this fails the contract changed: run `python -m kizuna.sensors.schema`."""
    schema, _ = _schema_validator()
    assert schema == json.loads(json.dumps(json_schema(Report)))
    assert SCHEMA_PATH.read_text("utf-8") == schema_text()


def test_same_seed_gives_byte_identical_output():
    _, reports, truth = _run("srbm-salvo")
    again = simulate(load_scenario("srbm-salvo"), use_cache=False)  # fresh == cached, too
    assert list(report_lines(again)) == reports
    assert list(truth_lines(again)) == truth
    _, other, _ = _run("srbm-salvo", seed=12345)
    assert other != reports


def _schema_sample(lines: list[str], every: int) -> list[str]:
    """Every ``every``-th line plus each sensor's first and last report (all kinds)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        sensor = json.loads(line)["sensor"]["id"]
        first.setdefault(sensor, i)
        last[sensor] = i
    chosen = set(range(0, len(lines), every)) | set(first.values()) | set(last.values())
    return [lines[i] for i in sorted(chosen)]


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_every_shipped_scenario_follows_the_contract(name):
    """Every report parses as the contract; a stratified sample also passes jsonschema
    (jsonschema costs ~1 ms a report; the slow test below validates every line)."""
    sim, lines, truth = _run(name)
    scenario = sim.scenario
    _, validator = _schema_validator()
    assert len(lines) > 500
    for line in _schema_sample(lines, every=40):
        validator.validate(json.loads(line))
    times, ids, kinds = [], set(), set()
    last_seq: dict[str, int] = {}
    for line in lines:
        report = parse_report(line)
        assert report.exercise is scenario.exercise
        assert report.marking == scenario.markings[report.sensor.nation]
        match = ID_PATTERN.match(report.id)
        assert match and match["sensor"] == report.sensor.id
        seq = int(match["seq"])
        assert seq == last_seq.get(report.sensor.id, 0) + 1  # per-sensor, in time order
        last_seq[report.sensor.id] = seq
        ids.add(report.id)
        kinds.add(report.kind)
        times.append(parse_time(report.time))
    assert len(ids) == len(lines)
    assert np.all(np.diff(times) >= 0)
    assert {"radar", "launch", "position"} <= kinds
    # Every object of the truth ends with an impact, except the satellite.
    events = [json.loads(line) for line in truth if '"event":"impact"' in line]
    impacting = {o.object_id for o in sim.objects if o.impacts}
    assert {e["object_id"] for e in events} == impacting
    assert all(abs(e["alt_m"]) < 1.0 for e in events)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_every_report_of_every_shipped_scenario_passes_jsonschema(name):
    _, lines, _ = _run(name)
    _, validator = _schema_validator()
    for line in lines:
        validator.validate(json.loads(line))


def test_truth_lines_are_per_object_per_second():
    sim, _, truth = _run("srbm-salvo")
    rows = [json.loads(line) for line in truth]
    keys = ["object_id", "launch_id", "kind", "time", "lat", "lon", "alt_m", "r_ecef_m",
            "v_ecef_mps", "powered"]
    assert all(list(row)[: len(keys)] == keys for row in rows)
    assert [parse_time(r["time"]) for r in rows] == sorted(parse_time(r["time"]) for r in rows)
    for obj in sim.objects:
        mine = [r for r in rows if r["object_id"] == obj.object_id]
        assert mine[0]["event"] == "launch" and mine[-1]["event"] == "impact"
        t = np.array([parse_time(r["time"]) for r in mine])
        assert np.all(np.diff(t) <= 1.0 + 1e-6)
        # A line a second, the two ends, and one at burnout.
        assert len(mine) == pytest.approx(obj.end_s - obj.start_s + 1, abs=2)
        # lat/lon/alt and r_ecef describe the same point; powered only early on.
        lat, lon, alt = ecef_to_lla(np.array([r["r_ecef_m"] for r in mine]))
        np.testing.assert_allclose(lat, [r["lat"] for r in mine], atol=1e-6)
        np.testing.assert_allclose(lon, [r["lon"] for r in mine], atol=1e-6)
        np.testing.assert_allclose(alt, [r["alt_m"] for r in mine], atol=0.01)
        powered = np.array([r["powered"] for r in mine])
        assert powered[0] and not powered[-1]
        assert np.all(np.diff(powered.astype(int)) <= 0)  # one burn, then coasting



@pytest.mark.parametrize("name", ["srbm-salvo", "satellite-sohae"])
def test_truth_file_interpolates_exactly_across_burnout_and_staging(name, tmp_path):
    """A reader interpolating the truth file (cubic Hermite on position and velocity, as
    ``kizuna evaluate`` does) gets the simulator's own trajectory within 1 cm at every tenth
    of a second, through burnout and, on the space launcher, each staging (without a line at
    those instants it was up to 1.0 m off within the second of srbm-salvo's burnout, 0.7 m
    within that of the satellite's third-stage cut-off)."""
    from kizuna.prediction.evaluation import load_truth

    sim, _, truth = _run(name)
    path = tmp_path / "truth.jsonl"
    path.write_text("\n".join(truth) + "\n")
    read = load_truth(path)
    for obj in sim.objects:
        trajectory = obj.trajectory
        # From the first whole second to the last: the end lines (launch, separation,
        # impact) hold the exact state under a time rounded to the millisecond.
        t = np.arange(np.ceil(trajectory.start_s), np.floor(min(trajectory.end_s, sim.end_s)), 0.1)
        read_m = read[obj.object_id].position_at(t)
        error = np.linalg.norm(read_m - trajectory.state_at(t)[:, :3], axis=-1)
        worst = error.argmax()
        assert error[worst] < 0.01, (obj.object_id, t[worst] - trajectory.start_s, error[worst])


def _regions_along(truth: list[str], object_id: str) -> tuple[set[str], set[str]]:
    """Region codes under an object's ground track, and under its last point."""
    from kizuna.geo.regions import load

    rows = [json.loads(line) for line in truth if f'"object_id":"{object_id}"' in line]
    under = load().regions_under([r["lat"] for r in rows], [r["lon"] for r in rows])
    return {r.code for hits in under for r in hits}, {r.code for r in under[-1]}


@pytest.mark.parametrize(
    ("name", "overflown", "impact_in"),
    [
        # launches.csv 2017-08-29: over Hokkaido, impact outside the EEZ.
        ("irbm-overflight", {"JP-01"}, set()),
        # launches.csv 2022-10-04: over Aomori, impact outside the EEZ.
        ("irbm-overflight-2022", {"JP-02"}, set()),
        # launches.csv 2017-11-29: no overflight, impact inside Japan's EEZ.
        ("icbm-lofted", set(), {"JPN-EEZ"}),
        # The salvo falls at sea outside every EEZ.
        ("srbm-salvo", set(), set()),
    ],
)
def test_scenarios_reproduce_the_reported_geography(name, overflown, impact_in):
    _, _, truth = _run(name)
    over, last = _regions_along(truth, "L1-M1")
    assert overflown <= over
    if not overflown:
        assert not {code for code in over if code.startswith(("JP-", "KR-"))}
    assert last == impact_in


def test_salvo_is_three_missiles_seconds_apart():
    sim, _, _ = _run("srbm-salvo")
    missiles = [o for o in sim.objects if o.kind == "missile"]
    assert len(missiles) == 3
    np.testing.assert_allclose(np.diff([m.start_s for m in missiles]), 12.0)


def test_satellite_scenario_reaches_orbit_and_drops_two_stages():
    sim, _, truth = _run("satellite-sohae")
    satellite = [o for o in sim.objects if o.kind == "satellite"]
    stages = [o for o in sim.objects if o.kind == "stage"]
    assert len(satellite) == 1 and len(stages) == 2
    assert sim.outcomes[0].info["perigee_alt_m"] > 200e3
    last = [json.loads(line) for line in truth if '"object_id":"L1-V1"' in line][-1]
    assert "event" not in last and last["alt_m"] > 200e3


def test_infrared_reports_the_launch_time_and_point():
    obj = ballistic_object(39.0, 126.0, 0.0, (500.0, 200.0, 800.0))
    spec = InfraredSpec(id="TST-IR", nation="USA", lat=0.0, lon=130.0, delay_s=25.0,
                        sigma_m=1500.0)
    errors = []
    for seed in range(400):
        (obs,) = detect_launches(spec, [obj], START_S, np.random.default_rng(seed))
        assert obs.time_s == obj.start_s and obs.available_s == obj.start_s + 25.0
        offset = enu_rotation(39.0, 126.0) @ (
            np.array(_ecef(obs.fields["lat"], obs.fields["lon"])) - _ecef(39.0, 126.0))
        errors.append(offset[:2])
    # Horizontal error: each axis has the stated sigma (within 10 %).
    np.testing.assert_allclose(np.std(errors, axis=0), 1500.0, rtol=0.1)


def _ecef(lat, lon):
    from kizuna.geo.frames import lla_to_ecef

    return lla_to_ecef(lat, lon, 0.0)


def test_national_feed_numbers_tracks_and_errors_are_honest():
    a = ballistic_object(38.0, 131.0, 1000.0, (2000.0, 1000.0, 2200.0), object_id="A-M1")
    b = ballistic_object(38.2, 131.2, 1000.0, (2000.0, 900.0, 2100.0), START_S + 30, "B-M1")
    radar = Radar.from_spec(radar_spec())
    spec = NationalFeedSpec(id="TST-FEED", nation="JPN", lat=35.7, lon=139.3, interval_s=2.0,
                            delay_s=8.0, sigma_m=250.0, velocity_sigma_mps=20.0,
                            track_prefix="JADGE")
    out = feed_reports(spec, [radar], [a, b], START_S, b.end_s, np.random.default_rng(4))
    refs: dict[str, set[str]] = {}
    for obs in out:
        refs.setdefault(obs.object_id, set()).add(obs.fields["track_ref"])
    assert refs == {"A-M1": {"JADGE-1001"}, "B-M1": {"JADGE-1002"}}
    squared = []
    for obs in out:
        obj = a if obs.object_id == "A-M1" else b
        truth = obj.trajectory.state_at(obs.time_s)
        point = _lla_to_ecef(obs.fields["lat"], obs.fields["lon"], obs.fields["alt_m"])
        squared.append(np.sum((point - truth[:3]) ** 2) / 250.0**2)
    # Mean of |error|^2 / sigma^2 over 3 axes is 3 (chi-square, 3 dof) when sigma is honest.
    assert np.mean(squared) == pytest.approx(3.0, rel=0.15)
    first = min(o.time_s for o in out if o.object_id == "A-M1")
    assert first >= a.start_s + 8.0


def _lla_to_ecef(lat, lon, alt):
    from kizuna.geo.frames import lla_to_ecef

    return lla_to_ecef(lat, lon, alt)


def test_cli_simulate_writes_both_files(tmp_path, capsys):
    out, truth = tmp_path / "reports.jsonl", tmp_path / "truth.jsonl"
    assert main(["simulate", "srbm-salvo", "--out", str(out), "--truth", str(truth)]) == 0
    _, reports, truth_expected = _run("srbm-salvo")
    assert out.read_text("utf-8").splitlines() == reports
    assert truth.read_text("utf-8").splitlines() == truth_expected
    assert "reports" in capsys.readouterr().err


def test_cli_demo_prints_the_table(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")  # rich's width when not on a terminal
    assert main(["demo", "--dry-run", "--scenario", "srbm-salvo"]) == 0
    out = capsys.readouterr().out
    assert "What flew" in out and "Who saw it" in out
    assert "L1-M3" in out and "impact" in out and "USA-SBIRS-GEO" in out


def test_scenario_outages_silence_a_sensor(tmp_path):
    import yaml

    raw = yaml.safe_load(shipped_scenarios()["srbm-salvo"].read_text("utf-8"))
    raw["sensors"]["outages"] = [{"sensor": "USA-TPY2-SEONGJU", "start_s": 60, "end_s": 200}]
    raw["sensors"]["exclude"] = ["KOR-GPB-2"]
    path = tmp_path / "outage.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    sim = simulate(load_scenario(path))
    start = sim.start_s
    seongju = [o.time_s - start for o in sim.observations if o.sensor_id == "USA-TPY2-SEONGJU"]
    assert seongju and any(t < 60 for t in seongju) and any(t >= 200 for t in seongju)
    assert not any(60 <= t < 200 for t in seongju)
    assert not any(o.sensor_id == "KOR-GPB-2" for o in sim.observations)
