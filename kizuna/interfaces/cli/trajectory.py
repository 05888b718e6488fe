"""``kizuna trajectory``: design a ballistic flight and print its figures."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kizuna.errors import InputError
from kizuna.interfaces.cli.main import app


@app.command("trajectory")
def trajectory(
    lat: Annotated[float, typer.Option(help="Launch latitude, degrees (WGS84).")],
    lon: Annotated[float, typer.Option(help="Launch longitude, degrees east (WGS84).")],
    azimuth_deg: Annotated[
        float, typer.Option("--azimuth-deg", help="Launch azimuth, degrees clockwise from north.")
    ],
    range_km: Annotated[
        float, typer.Option("--range-km", help="Ground range launch to impact, km (geodesic).")
    ],
    apogee_km: Annotated[
        float | None,
        typer.Option("--apogee-km", help="Apogee above the ellipsoid, km (lofted/depressed)."),
    ] = None,
    min_energy: Annotated[
        bool, typer.Option("--min-energy", help="Least-energy flight for the range instead.")
    ] = False,
    vehicle: Annotated[str, typer.Option(help="Vehicle class: auto, srbm, irbm or icbm.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Design a ballistic flight from a launch point, azimuth and range.

    Give either --apogee-km (the flight reaching that apogee, as Japan's Ministry of Defense
    reports North Korean tests) or --min-energy. The model is a rotating WGS84 Earth with J2
    gravity and the US 1976 atmosphere, and a powered phase following a pitch program.

    Example: the 2017-11-29 Hwasong-15 test (about 1,000 km range, 4,475 km apogee):

        kizuna trajectory --lat 39.25 --lon 125.87 --azimuth-deg 90 --range-km 950 --apogee-km 4475
    """
    from rich.console import Console
    from rich.table import Table

    from kizuna.physics.boost import VEHICLES, LaunchGeometry, vehicle_for
    from kizuna.physics.trajectory import design_for_apogee, design_min_energy

    if not -90.0 <= lat <= 90.0:
        raise InputError("must be between -90 and 90 degrees", field="--lat")
    if not -180.0 <= lon <= 360.0:
        raise InputError("must be between -180 and 360 degrees", field="--lon")
    if range_km <= 0:
        raise InputError("must be positive", field="--range-km")
    if (apogee_km is None) == (not min_energy):
        raise InputError("give exactly one of --apogee-km or --min-energy", field="--apogee-km")
    if apogee_km is not None and apogee_km <= 0:
        raise InputError("must be positive", field="--apogee-km")
    if vehicle != "auto" and vehicle not in VEHICLES:
        raise InputError(
            f"unknown vehicle class {vehicle!r}; choose auto, " + ", ".join(VEHICLES),
            field="--vehicle",
        )

    geometry = LaunchGeometry(lat, lon % 360.0 if lon > 180 else lon, azimuth_deg % 360.0)
    range_m = range_km * 1e3
    apogee_m = None if apogee_km is None else apogee_km * 1e3
    chosen = VEHICLES[vehicle] if vehicle != "auto" else vehicle_for(range_m, apogee_m)
    if apogee_m is None:
        flight = design_min_energy(geometry, range_m, chosen)
    else:
        flight = design_for_apogee(geometry, range_m, apogee_m, chosen)

    figures = {
        "flight_time_s": round(flight.flight_time_s, 2),
        "apogee_km": round(flight.apogee_m / 1e3, 3),
        "range_km": round(flight.range_m / 1e3, 3),
        "impact": {"lat": round(flight.impact_lat_deg, 6), "lon": round(flight.impact_lon_deg, 6)},
        "burnout": {
            "time_s": round(flight.burn_s, 2),
            "altitude_km": round(flight.burnout_altitude_m / 1e3, 3),
            "speed_mps": round(flight.burnout_speed_mps, 1),
        },
    }
    if as_json:
        typer.echo(json.dumps(figures))
        return
    table = Table(title="Designed ballistic flight", show_header=False)
    minutes = flight.flight_time_s / 60
    table.add_row("flight time", f"{flight.flight_time_s:,.1f} s ({minutes:.1f} min)")
    table.add_row("apogee", f"{flight.apogee_m / 1e3:,.1f} km")
    table.add_row("range", f"{flight.range_m / 1e3:,.1f} km")
    table.add_row("impact", f"{flight.impact_lat_deg:.4f}° N, {flight.impact_lon_deg:.4f}° E")
    table.add_row(
        "burnout",
        f"t+{flight.burn_s:.1f} s at {flight.burnout_altitude_m / 1e3:,.1f} km, "
        f"{flight.burnout_speed_mps:,.0f} m/s",
    )
    Console().print(table)
