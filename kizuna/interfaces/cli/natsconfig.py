"""``kizuna nats-config AGREEMENT [--out FILE]``: a nats-server config enforcing the agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kizuna.interfaces.cli.main import app


@app.command("nats-config")
def nats_config_command(
    agreement_name: Annotated[
        str, typer.Argument(metavar="AGREEMENT", help="Agreement path or shipped short name.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the config here (mode 0600) and the node credentials to "
            "FILE.credentials.json; default: print the config.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address the server listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Client port.")] = 4222,
    store_dir: Annotated[
        Path | None,
        typer.Option("--store-dir", help="JetStream store; default beside --out (./jetstream)."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Apply the agreement as in force on this date; default now."),
    ] = None,
) -> None:
    """Write a nats-server 2.9 config: one account per nation, one user per node, subject
    permissions and exports/imports mirroring the release rules, JetStream per account.

    Re-running with the same --out keeps the existing node passwords.
    """
    from datetime import UTC, datetime

    from kizuna.errors import ConfigError
    from kizuna.sharing.agreement import load_agreement, to_posix
    from kizuna.sharing.natsconfig import generate_nats_config, load_credentials, write_private

    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is out of range", field="--port")
    agreement = load_agreement(agreement_name)
    moment = to_posix(at) if at is not None else datetime.now(tz=UTC).timestamp()
    passwords: dict[str, str] = {}
    if out is not None and _credentials_path(out).exists():
        existing = load_credentials(_credentials_path(out))
        passwords = {
            node: str(entry.get("password", ""))
            for node, entry in existing["nodes"].items()
            if isinstance(entry, dict)
        }
    if store_dir is None:
        store_dir = (out.parent if out else Path(".")).resolve() / "jetstream"
    config = generate_nats_config(
        agreement,
        at_time=moment,
        host=host,
        port=port,
        store_dir=store_dir,
        passwords=passwords,
    )
    if out is None:
        typer.echo(config.text, nl=False)
        return
    write_private(out, config.text)
    credentials_path = _credentials_path(out)
    write_private(credentials_path, config.credentials_json(agreement.name) + "\n")
    typer.echo(f"wrote {out} and {credentials_path} ({len(config.credentials)} node users)")
    typer.echo(f"start: nats-server -c {out}")


def _credentials_path(out: Path) -> Path:
    return out.with_name(out.name + ".credentials.json")
