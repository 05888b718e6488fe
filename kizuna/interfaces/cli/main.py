"""The ``kizuna`` command line.

Each verb lives in its own module beside this one and registers itself on :data:`app`; heavy
imports happen inside the verbs so that ``kizuna --help`` stays instant. Every deliberate error
(:class:`kizuna.errors.KizunaError`) becomes one line on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kizuna.errors import KizunaError

app = typer.Typer(
    name="kizuna",
    help=(
        "kizuna: allied real-time missile warning and data sharing.\n\n"
        "Simulate launches and sensors, track and predict impacts, warn the regions at risk and "
        "share every product only where the agreement allows. Start with `kizuna demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

# The options every verb that runs nodes over a scenario shares (run, node, demo).
AgreementOption = Annotated[
    str,
    typer.Option("--agreement", help="Agreement file or shipped name (`kizuna agreements`)."),
]
ScenarioOption = Annotated[
    str, typer.Option("--scenario", help="Scenario file or shipped name (`kizuna scenarios`).")
]


def _register_verbs() -> None:
    # Imported for their side effect of adding commands to `app`; one module per verb family.
    from kizuna.interfaces.cli import verbs  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    _register_verbs()
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KizunaError as exc:
        print(f"kizuna: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kizuna: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
