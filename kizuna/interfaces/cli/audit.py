"""``kizuna audit verify PATH``: check a node's hash-chained audit log (or a directory of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kizuna.interfaces.cli.main import app

audit_app = typer.Typer(
    name="audit",
    help="Inspect the per-node, hash-chained audit logs.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify_command(
    path: Annotated[
        Path,
        typer.Argument(
            help="An audit log (*.jsonl) or a directory whose *.jsonl files are all checked."
        ),
    ],
) -> None:
    """Verify every hash chain; print OK per log or the first failing entry and why.

    Exit status 0 when every log verifies, 1 when any fails, 2 when PATH cannot be read.
    """
    from kizuna.store.audit import verify_paths

    results = verify_paths(path)
    for result in results:
        typer.echo(str(result))
    if not all(result.ok for result in results):
        raise typer.Exit(1)
