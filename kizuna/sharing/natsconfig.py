"""Generate a nats-server configuration that enforces an agreement on the server.

One account per nation, one user per node, JetStream enabled per account, and:

* **exports/imports mirror the release rules**: ``kz.O.D.<kind>.>`` crosses from nation ``O``'s
  account to account ``D`` only when a rule of ``O`` in force releases ``kind`` to ``D`` *and*
  ``D`` can be reached over the links (:func:`kizuna.sharing.policy.reachable_nations`, the
  policy itself evaluated with the widest marking). Nothing else crosses accounts, so a
  partner's client that asks for what it may not see finds nothing there. The crossing is a
  *service* ``D`` exports to ``O`` (``O`` imports it), not a stream ``O`` exports: ``D``'s
  stream stores the copy and its acknowledgement goes back to the sender as the service's
  reply. With a stream export the only acknowledgement the sender could get was its own
  stream's, and a copy ``D``'s stream missed (stopping with the server a moment before ``O``'s,
  or not created yet) was lost although acknowledged.
* **users may publish only their own releases**: node ``n`` of nation ``O`` may publish
  ``kz.O.D.<kind>.n`` for exactly the ``D`` and kinds above (and ``D == O``), plus the
  JetStream API calls for its nation's stream and its own durable consumer. A forged
  originator, a foreign node name or an unreleased kind is a publish violation.
* **heartbeats follow the reports**: node ``n`` may publish its heartbeat
  ``kz.O.D.heartbeat.n`` (:mod:`kizuna.sharing.watermark`: its id and data clock, nothing
  else) for exactly the nations ``D`` its reports may reach, and ``kz.O.D.heartbeat.>`` is
  exported to ``D`` exactly where ``O``'s reports are: a node receives the heartbeats of the
  partners whose reports it may receive (the ones its clock waits for) and no others.
* **users may subscribe only to what their nation receives** (``kz.*.<O>.>``) and to their own
  reply inbox (``_INBOX_<node>.>``); anything else is a subscription violation.
* **one administrator per nation** (user ``<nation>-admin``, :func:`admin_user`) may create its
  account's stream and every durable consumer of its nodes, and nothing else: no product
  subject at all. ``kizuna streams create`` uses it (:func:`kizuna.sharing.nats_bus.provision`)
  so that every stream exists before any partner publishes to it.

The server checks subjects; it cannot see markings, so the node still decides every release
with :func:`kizuna.sharing.policy.decide` (the node decides, the server also enforces).

Target: nats-server 2.9.x (Debian). That server silently ignores settings it does not know,
so this file uses no 2.10+ feature; consumers get exactly one filter subject.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kizuna.errors import ConfigError
from kizuna.sharing.agreement import PRODUCT_KINDS, Agreement, Instant
from kizuna.sharing.policy import reachable_nations
from kizuna.sharing.subjects import (
    HEARTBEAT,
    JS_API,
    STREAM,
    consumer_filter,
    consumer_name,
    heartbeat_subject,
    inbox_prefix,
    product_subject,
    release_subject,
)
from kizuna.sharing.watermark import heartbeat_nations


@dataclass(frozen=True)
class NodeCredentials:
    node: str
    user: str
    password: str


@dataclass(frozen=True)
class NatsServerConfig:
    """The config text and the credentials it contains: per node, and per nation's admin."""

    text: str
    url: str
    credentials: dict[str, NodeCredentials]
    admins: dict[str, NodeCredentials]

    def credentials_json(self, agreement_name: str) -> str:
        return json.dumps(
            {
                "agreement": agreement_name,
                "url": self.url,
                "nodes": {
                    c.node: {"user": c.user, "password": c.password}
                    for c in self.credentials.values()
                },
                "admins": {
                    nation: {"user": c.user, "password": c.password}
                    for nation, c in self.admins.items()
                },
            },
            indent=2,
        )


def admin_user(nation: str) -> str:
    """User name of a nation's administrator (provisions its account's JetStream objects).

    Lower-case ``admin``: node ids are capital letters, digits, ``-`` and ``_`` (the agreement
    checks), so no node user can share this name."""
    return f"{nation}-admin"


def admin_permissions(agreement: Agreement, nation: str) -> tuple[list[str], list[str]]:
    """``(publish allow, subscribe allow)`` of a nation's administrator: the JetStream API for
    its stream and its nodes' durable consumers, its own reply inbox; no product subject."""
    publish = [
        f"{JS_API}.INFO",
        f"{JS_API}.STREAM.INFO.{STREAM}",
        f"{JS_API}.STREAM.CREATE.{STREAM}",
        f"{JS_API}.STREAM.UPDATE.{STREAM}",
    ]
    for node in agreement.nodes_of(nation):
        consumer = consumer_name(node.id)
        publish += [
            f"{JS_API}.CONSUMER.INFO.{STREAM}.{consumer}",
            f"{JS_API}.CONSUMER.DURABLE.CREATE.{STREAM}.{consumer}",
        ]
    return publish, [f"{inbox_prefix(admin_user(nation))}.>"]


def release_table(agreement: Agreement, at_time: Instant) -> dict[tuple[str, str], list[str]]:
    """``{(originator, dest): [kinds]}`` the server lets cross from account to account; the
    heartbeat subjects cross wherever reports do (the heartbeats vouch for those reports)."""
    table: dict[tuple[str, str], list[str]] = {}
    for origin in agreement.nation_codes:
        for kind in PRODUCT_KINDS:
            for dest in sorted(reachable_nations(kind, origin, agreement, at_time)):
                table.setdefault((origin, dest), []).append(kind)
                if kind == "report":
                    table[(origin, dest)].append(HEARTBEAT)
    return table


def node_permissions(
    agreement: Agreement, node_id: str, at_time: Instant
) -> tuple[list[str], list[str]]:
    """``(publish allow, subscribe allow)`` subject lists of a node's user."""
    nation = agreement.node(node_id).nation
    table = release_table(agreement, at_time)
    consumer = consumer_name(node_id)
    publish = [product_subject(nation, nation, kind, node_id) for kind in PRODUCT_KINDS]
    for (origin, dest), kinds in sorted(table.items()):
        if origin == nation:
            publish += [
                product_subject(nation, dest, kind, node_id) for kind in kinds if kind != HEARTBEAT
            ]
    publish += [
        heartbeat_subject(nation, dest, node_id)
        for dest in sorted(heartbeat_nations(agreement, node_id, at_time))
    ]
    publish += [
        f"{JS_API}.INFO",
        f"{JS_API}.STREAM.INFO.{STREAM}",
        f"{JS_API}.STREAM.CREATE.{STREAM}",
        f"{JS_API}.STREAM.UPDATE.{STREAM}",
        f"{JS_API}.CONSUMER.INFO.{STREAM}.{consumer}",
        f"{JS_API}.CONSUMER.CREATE.{STREAM}.{consumer}",
        f"{JS_API}.CONSUMER.CREATE.{STREAM}.{consumer}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{STREAM}.{consumer}",
        f"{JS_API}.CONSUMER.DELETE.{STREAM}.{consumer}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{STREAM}.{consumer}",
        f"$JS.ACK.{STREAM}.{consumer}.>",
    ]
    subscribe = [consumer_filter(nation), f"{inbox_prefix(node_id)}.>"]
    return publish, subscribe


def generate_nats_config(
    agreement: Agreement,
    *,
    at_time: Instant,
    host: str = "127.0.0.1",
    port: int = 4222,
    store_dir: str | Path = "kizuna-jetstream",
    passwords: Mapping[str, str] | None = None,
    server_name: str | None = None,
) -> NatsServerConfig:
    """The nats-server 2.9 config enforcing ``agreement`` as in force at ``at_time``.

    ``passwords`` (keyed by user: node ids and :func:`admin_user` names) reuses existing
    passwords (others are drawn with :mod:`secrets`), so regenerating a config after an
    agreement change does not rotate every credential.
    """
    passwords = dict(passwords or {})
    table = release_table(agreement, at_time)
    credentials: dict[str, NodeCredentials] = {}
    admins: dict[str, NodeCredentials] = {}
    accounts: dict[str, Any] = {}
    for nation in agreement.nation_codes:
        admin = admin_user(nation)
        admins[nation] = NodeCredentials(
            admin, admin, passwords.get(admin) or secrets.token_urlsafe(24)
        )
        publish, subscribe = admin_permissions(agreement, nation)
        users = [
            {
                "user": admin,
                "password": admins[nation].password,
                "permissions": {
                    "publish": {"allow": publish},
                    "subscribe": {"allow": subscribe},
                },
            }
        ]
        for node in agreement.nodes_of(nation):
            password = passwords.get(node.id) or secrets.token_urlsafe(24)
            credentials[node.id] = NodeCredentials(node.id, node.id, password)
            publish, subscribe = node_permissions(agreement, node.id, at_time)
            users.append(
                {
                    "user": node.id,
                    "password": password,
                    "permissions": {
                        "publish": {"allow": publish},
                        "subscribe": {"allow": subscribe},
                    },
                }
            )
        # The receiving nation exports a service, so its stream's acknowledgement is the reply
        # the sender waits for (module docstring).
        exports = [
            {"service": release_subject(origin, nation, kind), "accounts": [origin]}
            for (origin, dest), kinds in sorted(table.items())
            if dest == nation
            for kind in kinds
        ]
        imports = [
            {"service": {"account": dest, "subject": release_subject(nation, dest, kind)}}
            for (origin, dest), kinds in sorted(table.items())
            if origin == nation
            for kind in kinds
        ]
        account: dict[str, Any] = {"jetstream": "enabled", "users": users}
        if exports:
            account["exports"] = exports
        if imports:
            account["imports"] = imports
        accounts[nation] = account

    top: dict[str, Any] = {}
    if server_name:
        top["server_name"] = server_name
    top["listen"] = f"{host}:{port}"
    top["jetstream"] = {"store_dir": str(store_dir)}
    top["accounts"] = accounts
    header = (
        f"# nats-server config generated by `kizuna nats-config` from agreement "
        f"{agreement.name!r} ({agreement.source}).\n"
        "# Target nats-server 2.9.x: no 2.10+ settings (they would be silently ignored).\n"
        "# Contains node passwords: keep this file private (mode 0600).\n"
    )
    body = "\n".join(f"{_key(k)}: {_render(v, 0)}" for k, v in top.items())
    text = header + body + "\n"
    return NatsServerConfig(
        text=text, url=f"nats://{host}:{port}", credentials=credentials, admins=admins
    )


def _render(value: Any, depth: int) -> str:
    """NATS config syntax: ``key: value`` maps in braces, arrays in brackets, quoted strings.

    ``depth`` is the indentation level of the line on which ``value`` starts.
    """
    pad = "  " * depth
    inner = "  " * (depth + 1)
    if isinstance(value, dict):
        lines = [f"{inner}{_key(k)}: {_render(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "[" + ", ".join(json.dumps(v) for v in value) + "]"
        lines = [f"{inner}{_render(v, depth + 1)}" for v in value]
        return "[\n" + "\n".join(lines) + f"\n{pad}]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == "enabled":
        return "enabled"
    return json.dumps(str(value))


def _key(key: str) -> str:
    # Account names and settings are plain words; quote anything else.
    return key if key.replace("_", "").isalnum() else json.dumps(key)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (it holds passwords)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror}", source=str(path)) from None


def load_credentials(path: str | Path) -> dict[str, Any]:
    """Read a credentials file written by ``kizuna nats-config --out``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg}", source=str(path)) from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise ConfigError("no `nodes` mapping", field="nodes", source=str(path))
    return data


__all__ = [
    "NatsServerConfig",
    "NodeCredentials",
    "admin_permissions",
    "admin_user",
    "generate_nats_config",
    "load_credentials",
    "node_permissions",
    "release_table",
    "write_private",
]
