"""Designed flights against the flights Japan's Ministry of Defense reported.

Source: ../shared/data/launches.csv (one row per launch; range, apogee and flight time as
reported, with the rows' own citations). Each flight is designed from its reported range and
apogee toward its reported impact area; its flight time must agree within 10 % (issue 2).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kizuna.geo.geodesic import distance_m, inverse
from kizuna.physics.boost import LaunchGeometry
from kizuna.physics.trajectory import design_for_apogee

ROWS = ["2017-08-29", "2017-11-29", "2019-10-02", "2022-10-04", "2022-11-18"]


def launch_row(shared_data: Path, row_id: str) -> dict[str, str]:
    with (shared_data / "launches.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["id"] == row_id:
                return row
    raise LookupError(row_id)


@pytest.mark.parametrize("row_id", ROWS)
def test_flight_time_matches_reported(shared_data: Path, row_id: str) -> None:
    row = launch_row(shared_data, row_id)
    lat, lon = float(row["launch_lat"]), float(row["launch_lon"])
    _, azimuth = inverse(lat, lon, float(row["impact_lat"]), float(row["impact_lon"]))
    flight = design_for_apogee(
        LaunchGeometry(lat, lon, float(azimuth)),
        range_m=float(row["range_km"]) * 1e3,
        apogee_m=float(row["apogee_km"]) * 1e3,
    )
    reported_s = float(row["flight_time_min"]) * 60.0
    assert flight.flight_time_s == pytest.approx(reported_s, rel=0.10)
    assert flight.range_m == pytest.approx(float(row["range_km"]) * 1e3, rel=1e-3)
    assert flight.apogee_m == pytest.approx(float(row["apogee_km"]) * 1e3, rel=1e-3)
    # Earth's rotation bends the ground track, and the rows' impact points are themselves
    # derived from "N km from a landmark"; the designed impact must still fall in the reported
    # area, within a fifth of the range.
    miss = distance_m(flight.impact_lat_deg, flight.impact_lon_deg,
                      float(row["impact_lat"]), float(row["impact_lon"]))
    assert miss < 0.2 * flight.range_m
