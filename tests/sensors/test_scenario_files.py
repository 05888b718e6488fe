"""Scenario files: validation errors name file, field and reason; shipped files cite real rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from kizuna.errors import ConfigError
from kizuna.interfaces.cli.main import main
from kizuna.sensors.scenario import (
    default_laydown,
    describe_shipped,
    load_scenario,
    resolve_path,
    shipped_scenarios,
)

GOOD = {
    "name": "tiny",
    "description": "One short-range missile.",
    "start": "2026-11-25T03:00:00Z",
    "exercise": True,
    "seed": 1,
    "launches": [{"site": "wonsan", "time_s": 10, "azimuth_deg": 60, "range_km": 300,
                  "apogee_km": 60}],
    "sensors": {"laydown": "default"},
}


def _write(tmp_path: Path, data, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _with(**changes):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in changes.items():
        target = data
        keys = dotted.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is ...:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return data


def test_good_scenario_resolves(tmp_path):
    scenario = load_scenario(_write(tmp_path, GOOD, "good.yaml"))
    assert scenario.exercise is True
    assert len(scenario.launches) == 1
    assert scenario.launches[0].lat_deg == 39.17  # sensors.csv "Wonsan / Kalma"
    assert {r.id for r in scenario.radars} >= {"JPN-FPS5-SADO", "USA-TPY2-SHARIKI", "KOR-GPB-1"}
    assert scenario.markings["JPN"].releasable_to == ["JPN", "USA"]
    assert scenario.markings["KOR"].releasable_to == ["KOR", "USA"]
    assert scenario.markings["USA"].releasable_to == ["JPN", "KOR", "USA"]


def test_marking_overrides(tmp_path):
    data = _with(markings={"JPN": {"classification": "CONFIDENTIAL", "releasable_to": ["JPN"]}})
    scenario = load_scenario(_write(tmp_path, data, "marked.yaml"))
    assert scenario.markings["JPN"].classification == "CONFIDENTIAL"
    assert scenario.markings["JPN"].releasable_to == ["JPN"]
    assert scenario.markings["KOR"].releasable_to == ["KOR", "USA"]  # untouched default


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"exercise": ...}, "exercise", "Field required"),
        ({"launches__0__apogee_km": -5}, "launches.0.apogee_km", "greater than 0"),
        ({"launches__0__min_energy": True}, "launches.0", "exactly one of apogee_km"),
        ({"launches__0__site": "atlantis"}, "launches.0.site", "unknown launch site"),
        ({"launches__0__apogeee_km": 5}, "launches.0.apogeee_km", "Extra inputs"),
        ({"launches__0__azimuth_deg": ...}, "launches.0", "azimuth_deg and range_km"),
        ({"start": "yesterday"}, "start", "RFC 3339"),
        ({"launches": []}, "launches", "at least 1"),
        ({"sensors": {"outages": [{"sensor": "NOPE", "start_s": 0, "end_s": 5}]}},
         "sensors.outages.0.sensor", "no sensor 'NOPE'"),
        ({"sensors": {"exclude": ["NOPE"]}}, "sensors.exclude.0", "no sensor 'NOPE'"),
        ({"launches__0__salvo": {"count": 0}}, "launches.0.salvo.count", "greater than or equal"),
        ({"sensors": {"outages": [{"sensor": "KOR-GPB-1", "start_s": 9, "end_s": 5}]}},
         "sensors.outages.0", "end_s must be after start_s"),
    ],
)
def test_errors_name_file_field_and_reason(tmp_path, changes, field, reason):
    path = _write(tmp_path, _with(**changes))
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    error = caught.value
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"{path}: {field}: ")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = _write(tmp_path, "name: x\nlaunches: [\n  - {site: sunan\n")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(str(path))
    assert "line" in caught.value.reason


def test_cli_reports_one_line_and_exit_2(tmp_path, capsys):
    path = _write(tmp_path, _with(launches__0__range_km="far"))
    status = main(["simulate", str(path), "--out", str(tmp_path / "r.jsonl")])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0
    assert str(path) in err and "launches.0.range_km" in err
    assert not (tmp_path / "r.jsonl").exists()


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such scenario"):
        load_scenario(tmp_path / "absent.yaml")


def test_shipped_scenarios_listed_and_default_alias(capsys):
    shipped = shipped_scenarios()
    assert {"irbm-overflight", "icbm-lofted", "srbm-salvo", "satellite-sohae"} <= set(shipped)
    assert resolve_path("default") == shipped["irbm-overflight"]
    rows = dict(describe_shipped())
    assert all(rows[name] and "\n" not in rows[name] for name in shipped)
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in ["default", *shipped]:
        assert name in out


def _csv(shared_data: Path, name: str) -> list[dict[str, str]]:
    with (shared_data / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_shipped_launches_use_the_published_rows(shared_data):
    """Each scenario built on a launches.csv row keeps its site, range and apogee."""
    rows = {row["id"]: row for row in _csv(shared_data, "launches.csv")}
    checked = 0
    for name, path in shipped_scenarios().items():
        raw = yaml.safe_load(path.read_text("utf-8"))
        scenario = load_scenario(path)
        for spec, launch in zip(raw["launches"], scenario.launches, strict=False):
            source = spec.get("source", "")
            if not source.startswith("launches.csv "):
                continue
            row = rows[source.split()[-1]]
            assert launch.lat_deg == pytest.approx(float(row["launch_lat"]), abs=0.01), name
            assert launch.lon_deg == pytest.approx(float(row["launch_lon"]), abs=0.01), name
            apogee_km = launch.apogee_m / 1e3
            if row["apogee_is_lower_bound"] == "true":
                assert apogee_km >= float(row["apogee_km"]), name
            else:
                assert apogee_km == pytest.approx(float(row["apogee_km"]), rel=0.01), name
            # Range as reported within 5 % (the csv's impact point is itself derived).
            assert launch.range_m / 1e3 == pytest.approx(float(row["range_km"]), rel=0.05), name
            checked += 1
    assert checked >= 3


def test_default_laydown_sites_are_the_csv_sites(shared_data):
    """Every default radar sits on a sensors.csv row's coordinates (the file it cites)."""
    sites = [(float(r["lat"]), float(r["lon"])) for r in _csv(shared_data, "sensors.csv")]
    radars = default_laydown()["radars"]
    assert len(radars) >= 10
    for radar in radars:
        assert any(abs(radar["lat"] - lat) < 1e-6 and abs(radar["lon"] - lon) < 1e-6
                   for lat, lon in sites), radar["id"]
    for key, site in default_laydown()["sites"].items():
        assert any(abs(site["lat"] - lat) < 1e-6 and abs(site["lon"] - lon) < 1e-6
                   for lat, lon in sites), key
