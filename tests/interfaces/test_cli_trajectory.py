"""`kizuna trajectory` as a user runs it (contract, DESIGN.md section 4)."""

from __future__ import annotations

import json

import pytest

from kizuna.interfaces.cli.main import main


def test_json_output_has_contract_fields(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["trajectory", "--lat", "39.25", "--lon", "125.87", "--azimuth-deg", "85",
                   "--range-km", "950", "--apogee-km", "4475", "--json"])
    assert status == 0
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) == {"flight_time_s", "apogee_km", "range_km", "impact", "burnout"}
    assert set(figures["impact"]) == {"lat", "lon"}
    assert set(figures["burnout"]) == {"time_s", "altitude_km", "speed_mps"}
    assert figures["range_km"] == pytest.approx(950, rel=1e-3)
    assert figures["apogee_km"] == pytest.approx(4475, rel=1e-3)
    # 2017-11-29 Hwasong-15: 53 min reported (shared/data/launches.csv).
    assert figures["flight_time_s"] == pytest.approx(53 * 60, rel=0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--range-km", "900"], "exactly one of --apogee-km or --min-energy"),
        (["--range-km", "-5", "--min-energy"], "--range-km: must be positive"),
        (["--range-km", "900", "--min-energy", "--vehicle", "sling"], "unknown vehicle"),
    ],
)
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status = main(["trajectory", "--lat", "39", "--lon", "125", "--azimuth-deg", "90", *args])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert "Traceback" not in err


def test_python_dash_m_kizuna_is_the_same_command_line() -> None:
    import subprocess
    import sys

    ok = subprocess.run(
        [sys.executable, "-m", "kizuna", "trajectory", "--lat", "39.25", "--lon", "125.87",
         "--azimuth-deg", "85", "--range-km", "950", "--min-energy", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["range_km"] == pytest.approx(950, rel=1e-3)
    bad = subprocess.run(
        [sys.executable, "-m", "kizuna", "trajectory", "--lat", "39.25", "--lon", "125.87",
         "--azimuth-deg", "85", "--range-km", "-5", "--min-energy"],
        capture_output=True, text=True, check=False,
    )
    assert bad.returncode != 0 and "--range-km: must be positive" in bad.stderr
