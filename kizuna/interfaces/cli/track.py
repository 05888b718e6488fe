"""``kizuna track --in REPORTS.jsonl --out DIR``: reports in, system tracks out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kizuna.interfaces.cli.main import app


@app.command("track")
def track(
    in_path: Annotated[
        Path, typer.Option("--in", help="Reports, one JSON object per line (the contract).")
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Directory for tracks.jsonl, predictions.jsonl, "
            "alerts.jsonl (created if missing).",
        ),
    ],
) -> None:
    """Track, predict and warn: reports in, the contract's three product files out.

    Malformed lines are reported on stderr (line, field, reason) and skipped; the rest are
    processed in time order (reports up to 3 s out of order are reordered; duplicate ids are
    ignored). Writes DIR/tracks.jsonl (one line per confirmed-track update),
    DIR/predictions.jsonl (impact and launch points, rate-limited per track) and
    DIR/alerts.jsonl (every alert state change).
    """
    from kizuna.contract import dumps
    from kizuna.errors import InputError
    from kizuna.tracking.run import track_file
    from kizuna.warning.pipeline import Pipeline

    def on_error(error: InputError) -> None:
        typer.echo(f"kizuna track: skipped {error}", err=True)

    pipeline = Pipeline()
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as predictions,
        (out_dir / "alerts.jsonl").open("w", encoding="utf-8") as alerts,
    ):

        def write(products: list) -> None:  # type: ignore[type-arg]
            for product in products:
                if product.product == "prediction":
                    predictions.write(dumps(product) + "\n")
                elif product.product == "alert":
                    alerts.write(dumps(product) + "\n")

        def on_updates(batch: list) -> None:  # type: ignore[type-arg]
            # Tracks are written by track_file itself; derive the rest from the same batch.
            write(pipeline.derive(batch, max(u.time_s for u in batch)))

        summary = track_file(
            in_path, out_dir, on_error=on_error, on_updates=on_updates, tracker=pipeline.tracker
        )
        write(pipeline.alerts.finish())
    counts = pipeline.counts
    typer.echo(
        f"{summary.reports} reports ({summary.malformed} malformed, {summary.duplicates} "
        f"duplicate, {summary.late} too late) -> {summary.track_updates} updates of "
        f"{summary.tracks} tracks, {counts.predictions} predictions, {counts.alerts} alert "
        f"lines in {out_dir}",
        err=True,
    )
