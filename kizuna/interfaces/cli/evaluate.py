"""``kizuna evaluate --truth TRUTH.jsonl --out DIR``: score tracks and predictions against truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kizuna.interfaces.cli.main import app


@app.command("evaluate")
def evaluate_command(
    truth: Annotated[
        Path, typer.Option("--truth", help="True trajectories (kizuna simulate --truth).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Directory for the PNG plots (and default inputs).")
    ],
    tracks: Annotated[
        Path | None, typer.Option("--tracks", help="Tracks (default: OUT/tracks.jsonl).")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", help="Predictions (default: OUT/predictions.jsonl)."),
    ] = None,
    reports: Annotated[
        Path | None,
        typer.Option("--reports", help="The sensor reports, for the radars in the PCRLB."),
    ] = None,
    alerts: Annotated[
        Path | None, typer.Option("--alerts", help="Alerts (default: OUT/alerts.jsonl).")
    ] = None,
) -> None:
    """Print a per-object table and write plots: position RMSE vs PCRLB, NEES with its band,
    GOSPA, impact error and 95 % ellipse coverage vs time to impact, time to first track,
    first prediction and first alert (launch to first alert, also per alert kind and level).
    """
    from rich.console import Console
    from rich.table import Table

    from kizuna.errors import InputError
    from kizuna.prediction import evaluation as ev_mod

    tracks = tracks or out / "tracks.jsonl"
    predictions = predictions or out / "predictions.jsonl"
    alerts = alerts or out / "alerts.jsonl"
    if not tracks.exists():
        raise InputError(f"no tracks file at {tracks} (give --tracks)")
    truth_objects = ev_mod.load_truth(truth)
    track_points = ev_mod.load_tracks(tracks)
    preds = ev_mod.load_predictions(predictions) if predictions.exists() else []
    radars = ev_mod.load_radars(reports) if reports else None
    alert_lines = ev_mod.load_alerts(alerts) if alerts.exists() else None
    result = ev_mod.evaluate(truth_objects, track_points, preds, radars, alert_lines)
    plots = ev_mod.write_plots(result, out)

    def fmt(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
        return "-" if value is None else f"{value / scale:.{digits}f}"

    table = Table(title=f"kizuna evaluate: {truth.name}")
    headers = (
        "object",
        "kind",
        "tracks",
        "1st track s",
        "1st impact s",
        "1st alert s",
        "RMSE m",
        "NEES",
        "impact err km",
        "impact time err s",
        "in ellipse",
        "categories",
    )
    for name in headers:
        # Names whole, one per line (a track id cut to "KZ-0000…" names nothing); numbers
        # right-aligned under headers that wrap at their spaces.
        text = name in ("object", "kind", "tracks", "categories")
        table.add_column(name, justify="left" if text else "right", no_wrap=text)
    for o in result.objects:
        inside, total = o.coverage
        table.add_row(
            o.object_id,
            o.kind,
            "\n".join(o.tracks) or "-",
            fmt(o.first_track_s),
            fmt(o.first_prediction_s),
            fmt(o.first_alert_s),
            fmt(o.rmse_m),
            fmt(o.nees, digits=2),
            fmt(o.final_impact_error_m, 1e3, 2),
            "-" if o.final_impact_time_error_s is None else f"{o.final_impact_time_error_s:+.1f}",
            f"{inside}/{total}" if total else "-",
            "\n".join(f"{k} {v}" for k, v in sorted(o.categories.items())) or "-",
        )
    console = Console(width=max(132, Console().width))  # the table needs 132 columns
    console.print(table)
    if result.impact_inside.size:
        console.print(
            f"95 % ellipse coverage over {result.impact_inside.size} predictions: "
            f"{result.coverage * 100:.1f} %"
        )
    if result.gospa_m.size:
        console.print(
            f"GOSPA (c = {ev_mod.GOSPA_C_M / 1e3:.0f} km, p = 2): mean "
            f"{result.gospa_m.mean() / 1e3:.2f} km over {result.gospa_m.size} s"
        )
    if alert_lines is not None:
        # Launch to first alert per kind/level: the figure J-Alert's timelines are given in.
        for o in result.objects:
            if o.first_alert_by:
                firsts = ", ".join(f"{k} {v:.1f} s" for k, v in o.first_alert_by.items())
                console.print(f"launch to first alert, {o.object_id}: {firsts}")
    console.print("plots: " + ", ".join(str(p) for p in plots))
