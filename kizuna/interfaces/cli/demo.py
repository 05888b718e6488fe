"""``kizuna demo``: run the default scenario through the simulator and tell what happened.

Until the operators' interfaces land, the demo prints two tables: the launches (and their
stages or satellite), and which sensors saw what, when, and how often.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kizuna.interfaces.cli.main import app


def _clock(seconds: float, origin: float) -> str:
    """Time relative to the first launch, ``T+mm:ss``."""
    delta = seconds - origin
    sign = "-" if delta < 0 else "+"
    m, s = divmod(round(abs(delta)), 60)
    return f"T{sign}{m:02d}:{s:02d}"


def _short_site(name: str) -> str:
    return name.split(" /")[0].split(" (")[0]


def launch_rows(sim: Any) -> list[list[str]]:
    """One row per true object: what it is, where it went, when it ended."""
    from kizuna.geo.frames import ecef_to_lla

    rows = []
    first_launch = min(o.launch.time_s for o in sim.outcomes)
    for outcome in sim.outcomes:
        launch, info = outcome.launch, outcome.info
        for obj in outcome.objects:
            altitude = ecef_to_lla(obj.trajectory.state[:, :3])[2]
            if obj.kind == "satellite":
                end = (f"orbit {info['perigee_alt_m'] / 1e3:.0f} x "
                       f"{info['orbit_apogee_alt_m'] / 1e3:.0f} km, "
                       f"i {info['inclination_deg']:.0f} deg, "
                       f"{_clock(launch.time_s + info['insertion_s'], first_launch)}")
            else:
                lat, lon, _ = ecef_to_lla(obj.trajectory.state[-1, :3])
                end = (f"impact {float(lat):.2f}N {float(lon):.2f}E "
                       f"{_clock(obj.end_s, first_launch)}")
            rows.append([
                obj.object_id,
                obj.kind,
                _short_site(launch.site_name) if obj.from_pad else "(separated)",
                _clock(obj.start_s, first_launch),
                f"{float(altitude.max()) / 1e3:,.0f}",
                end,
            ])
    return rows


def sensor_rows(sim: Any) -> list[list[str]]:
    """One row per reporting sensor, in order of first report."""
    seen: dict[str, dict[str, Any]] = {}
    first_launch = min(o.launch.time_s for o in sim.outcomes)
    for obs, report in zip(sim.observations, sim.reports, strict=True):
        row = seen.setdefault(obs.sensor_id, {
            "nation": report["sensor"]["nation"], "kind": report["kind"], "first": None,
            "last": None, "count": 0, "false": 0, "objects": set(),
        })
        if obs.object_id is None:
            row["false"] += 1
            continue
        row["count"] += 1
        row["objects"].add(obs.object_id)
        row["first"] = obs.time_s if row["first"] is None else row["first"]
        row["last"] = obs.time_s
    ordered = sorted(seen.items(), key=lambda kv: (kv[1]["first"] is None, kv[1]["first"] or 0))
    return [[
        sensor_id, r["nation"], r["kind"],
        _clock(r["first"], first_launch) if r["first"] is not None else "-",
        _clock(r["last"], first_launch) if r["last"] is not None else "-",
        str(r["count"]), str(len(r["objects"])), str(r["false"]),
    ] for sensor_id, r in ordered]


@app.command("demo")
def demo_command(
    scenario: Annotated[
        str, typer.Option("--scenario", help="A scenario file or shipped name.")
    ] = "default",
) -> None:
    """Run the default scenario through the simulator and print what happened."""
    from rich.console import Console
    from rich.table import Table

    from kizuna.sensors.scenario import load_scenario
    from kizuna.sensors.simulate import simulate
    from kizuna.timefmt import format_time

    console = Console()
    loaded = load_scenario(scenario)
    with console.status(f"simulating {loaded.name} ..."):
        sim = simulate(loaded)
    flag = "EXERCISE" if loaded.exercise else "REAL WORLD"
    console.print(f"[bold]{loaded.name}[/bold] ({flag}): {loaded.description}")
    first = min(o.launch.time_s for o in sim.outcomes)
    console.print(f"T+00:00 = first launch, {format_time(first)}")

    launches = Table(title="What flew")
    for column in ("object", "kind", "from", "start", "apogee km", "end"):
        launches.add_column(column)
    for row in launch_rows(sim):
        launches.add_row(*row)
    console.print(launches)

    sensors = Table(title="Who saw it")
    for column in ("sensor", "nation", "kind", "first", "last", "reports", "objects",
                   "clutter"):
        sensors.add_column(column, justify="right" if column in {"reports", "objects",
                                                                 "clutter"} else "left")
    for row in sensor_rows(sim):
        sensors.add_row(*row)
    console.print(sensors)
    console.print(f"{len(sim.reports)} reports in all; write them with "
                  f"`kizuna simulate {loaded.name} --out reports.jsonl --truth truth.jsonl`.")
