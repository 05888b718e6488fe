"""``kizuna report RUNDIR --out report.html``: the after-action report of a recorded run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kizuna.interfaces.cli.main import app


@app.command("report")
def report_command(
    run_dir: Annotated[
        Path, typer.Argument(help="Directory of a recorded run (kizuna run --record DIR).")
    ],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    node: Annotated[
        str | None,
        typer.Option("--node", help="Whose picture to map and score (default: most tracks)."),
    ] = None,
) -> None:
    """Write a self-contained HTML after-action report: scenario, tracks against truth, alert
    timeline against true impacts, accuracy, and per node what was received and released."""
    from kizuna.interfaces.report import write_report

    path = write_report(run_dir, out, node=node)
    print(path)
