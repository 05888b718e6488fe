"""``kizuna nats-config AGREEMENT [--out FILE]``: a nats-server config enforcing the agreement;
``kizuna streams create AGREEMENT --credentials FILE``: its streams and durable consumers."""

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
            str(entry.get("user", node)): str(entry.get("password", ""))
            for node, entry in existing["nodes"].items()
            if isinstance(entry, dict)
        }
        passwords.update(
            (str(entry.get("user", "")), str(entry.get("password", "")))
            for entry in (existing.get("admins") or {}).values()
            if isinstance(entry, dict)
        )
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
    typer.echo(
        f"then, once: kizuna streams create {agreement_name} --credentials {credentials_path} "
        f"--nats {config.url}"
    )


def _credentials_path(out: Path) -> Path:
    return out.with_name(out.name + ".credentials.json")


streams_app = typer.Typer(
    help="JetStream streams and durable consumers of a federation (`streams create`).",
    no_args_is_help=True,
)
app.add_typer(streams_app, name="streams")


@streams_app.command("create")
def streams_create_command(
    agreement_name: Annotated[
        str, typer.Argument(metavar="AGREEMENT", help="Agreement path or shipped short name.")
    ],
    credentials: Annotated[
        Path,
        typer.Option(
            "--credentials",
            help="The FILE.credentials.json of `kizuna nats-config --out`: the nations' "
            "administrators.",
        ),
    ],
    nats_url: Annotated[
        str | None,
        typer.Option("--nats", help="NATS server URL; default the one in the credentials file."),
    ] = None,
    nation: Annotated[
        list[str] | None,
        typer.Option("--nation", help="Only this nation (repeatable); default every nation."),
    ] = None,
    ack_wait: Annotated[
        float,
        typer.Option(
            "--ack-wait",
            help="Seconds before the server redelivers a message a node did not acknowledge "
            "(set on the consumers created now).",
        ),
    ] = 30.0,
) -> None:
    """Create every nation's stream and every node's durable consumer on the server, as each
    nation's administrator. Run it once after starting nats-server and before `kizuna node`:
    a node creates only its own nation's stream, and a copy published to a nation whose stream
    does not exist yet is not acknowledged (the sender holds it until that stream exists).
    Safe to repeat: existing consumers are kept.
    """
    import asyncio

    from kizuna.errors import ConfigError
    from kizuna.sharing.agreement import load_agreement
    from kizuna.sharing.nats_bus import provision
    from kizuna.sharing.natsconfig import load_credentials

    agreement = load_agreement(agreement_name)
    data = load_credentials(credentials)
    admins = data.get("admins")
    if not isinstance(admins, dict) or not admins:
        raise ConfigError(
            "no `admins` (written by kizuna nats-config since it has administrators; "
            "run it again with the same --out)",
            field="admins",
            source=str(credentials),
        )
    wanted = list(nation) if nation else list(agreement.nation_codes)
    chosen: dict[str, tuple[str, str]] = {}
    for code in wanted:
        entry = admins.get(code)
        if not isinstance(entry, dict):
            raise ConfigError(
                f"no administrator for nation {code}", field="admins", source=str(credentials)
            )
        chosen[code] = (str(entry.get("user", "")), str(entry.get("password", "")))
    url = nats_url or str(data.get("url") or "nats://127.0.0.1:4222")
    for line in asyncio.run(provision(agreement, url, chosen, ack_wait_s=ack_wait)):
        typer.echo(line)
