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
    """Associate and filter radar, launch and partner reports into system tracks.

    Malformed lines are reported on stderr (line, field, reason) and skipped; the rest are
    processed in time order (reports up to 3 s out of order are reordered; duplicate ids are
    ignored). Writes one track object per confirmed-track update to DIR/tracks.jsonl.
    """
    from kizuna.errors import InputError
    from kizuna.tracking.run import track_file

    def on_error(error: InputError) -> None:
        typer.echo(f"kizuna track: skipped {error}", err=True)

    summary = track_file(in_path, out_dir, on_error=on_error)
    typer.echo(
        f"{summary.reports} reports ({summary.malformed} malformed, {summary.duplicates} "
        f"duplicate, {summary.late} too late) -> {summary.track_updates} updates of "
        f"{summary.tracks} tracks in {out_dir / 'tracks.jsonl'}",
        err=True,
    )
