"""``kizuna simulate SCENARIO --out REPORTS.jsonl [--truth TRUTH.jsonl]`` and ``kizuna scenarios``.

The report and truth file formats are documented in :mod:`kizuna.sensors.simulate`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from kizuna.interfaces.cli.main import app


@app.command("simulate")
def simulate_command(
    scenario: Annotated[
        str, typer.Argument(help="A scenario file, or the short name of a shipped scenario.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Write the sensor reports here (JSONL).")],
    truth: Annotated[
        Path | None,
        typer.Option("--truth", help="Also write the true trajectories here (JSONL)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
) -> None:
    """Simulate a scenario's launches and sensors; write contract reports sorted by time."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from kizuna.sensors.scenario import load_scenario
    from kizuna.sensors.simulate import simulate, write_reports, write_truth

    console = Console(stderr=True)
    started = time.perf_counter()
    loaded = load_scenario(scenario)
    with Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            group = "design" if label.startswith("design") else "sensors"
            if group not in tasks:
                tasks[group] = bar.add_task(label, total=max(total, 1))
            bar.update(tasks[group], description=label, completed=done, total=max(total, 1))

        result = simulate(loaded, progress=progress)
        reports = write_reports(result, out)
        lines = write_truth(result, truth) if truth is not None else 0
    if not quiet:
        extra = f", {lines} truth lines to {truth}" if truth is not None else ""
        console.print(
            f"{loaded.name}: {reports} reports to {out}{extra} "
            f"in {time.perf_counter() - started:.1f} s"
        )


@app.command("scenarios")
def scenarios_command() -> None:
    """List the shipped scenarios with a one-line description."""
    from kizuna.sensors.scenario import describe_shipped

    for name, description in describe_shipped():
        typer.echo(f"{name:<22} {description}")
