"""``kizuna token --agreement A --node NODE [--role viewer|operator] [--data-dir DIR]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kizuna.interfaces.cli.main import app


@app.command("token")
def token_command(
    node: Annotated[str, typer.Option("--node", help="The node the token is for.")],
    agreement: Annotated[
        str | None,
        typer.Option("--agreement", help="Agreement path or shipped name (default trilateral)."),
    ] = None,
    role: Annotated[
        str, typer.Option("--role", help="viewer (reads the picture) or operator.")
    ] = "viewer",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Data directory holding each node's key (default $KIZUNA_DATA_DIR or .kizuna).",
        ),
    ] = None,
    ttl_hours: Annotated[
        float, typer.Option("--ttl-hours", help="Hours until the token expires.")
    ] = 24.0,
) -> None:
    """Print a bearer token for the API, web map and WebSocket of NODE.

    The token is signed with the node's key, `<data-dir>/<NODE>/api-token.key`, created with
    mode 0600 on first use. Open the map with http://HOST:PORT/#token=<token>.
    """
    import sys

    from kizuna.interfaces.api.auth import issue_token, load_or_create_key, node_data_dir
    from kizuna.sharing import load_agreement

    loaded = load_agreement(agreement)
    loaded.node(node)  # unknown node: InputError naming the agreement's nodes
    key = load_or_create_key(node_data_dir(data_dir, node))
    token = issue_token(
        key,
        node=node,
        role=role,
        agreement=loaded.name,  # type: ignore[arg-type]
        ttl_s=ttl_hours * 3600.0,
    )
    print(token)
    print(
        f"kizuna: {role} token for {node} ({loaded.name}), valid {ttl_hours:g} h; "
        f"map: http://127.0.0.1:8000/#token=<token>",
        file=sys.stderr,
    )
