"""Laptop mode: every node's API behind one HTTP port, the token choosing the node.

``kizuna demo`` and ``kizuna run`` keep every node in one process but serve one address
(``--http``, default 127.0.0.1:8000). :func:`create_laptop_app` builds one
:func:`~kizuna.interfaces.api.create_app` per node (each with its own key and its own release
checks) and a small ASGI dispatcher in front:

* an HTTP request goes to the app of the node its bearer token *names* (read without trusting
  it: that node's app then verifies the signature with its own key, so naming another node
  gains nothing); requests without a token (the page, static files, ``/healthz``) go to
  ``default_node``'s app;
* a WebSocket goes to the node in its ``?node=`` query (the page adds it; the token follows
  in the first message and is verified by that node's app), else by its header token.

A token for a node that is not served reaches ``default_node``'s app, which refuses it (403).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from kizuna.interfaces.api.app import create_app
from kizuna.interfaces.api.clock import RunClock
from kizuna.interfaces.api.metrics import Metrics
from kizuna.interfaces.api.view import NodeView
from kizuna.sharing import Agreement

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def claimed_node(token: str) -> str | None:
    """The node a ``kz1`` token names, unverified (for routing only)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    node = payload.get("node") if isinstance(payload, dict) else None
    return node if isinstance(node, str) else None


class NodeDispatcher:
    """ASGI app routing each request to one node's app (see the module docstring)."""

    def __init__(self, apps: Mapping[str, ASGIApp], default_node: str) -> None:
        if default_node not in apps:
            raise ValueError(f"default node {default_node!r} has no app")
        self.apps = dict(apps)
        self.default_node = default_node

    def node_for(self, scope: Scope) -> str:
        if scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            wanted = query.get("node", [None])[0]
            if wanted in self.apps:
                return wanted
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                text = value.decode("latin-1")
                if text.lower().startswith("bearer "):
                    node = claimed_node(text[7:].strip())
                    if node in self.apps:
                        return node
        return self.default_node

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.apps[self.default_node](scope, receive, send)
            return
        await self.apps[self.node_for(scope)](scope, receive, send)


def create_laptop_app(
    views: Mapping[str, NodeView],
    agreement: Agreement,
    *,
    default_node: str,
    data_dir: str | Path | None = None,
    token_keys: Mapping[str, bytes] | None = None,
    metrics: Mapping[str, Metrics] | None = None,
    run_clock: RunClock | None = None,
) -> NodeDispatcher:
    """One port for every node of a laptop run (``views``: node id -> its view).

    ``run_clock`` (a replay's scenario clock) is served by every node's ``/api/v1/clock``.
    """
    apps: dict[str, ASGIApp] = {}
    for node_id, view in views.items():
        if view.node_id != node_id:
            raise ValueError(f"view for {node_id!r} is the view of {view.node_id!r}")
        apps[node_id] = create_app(
            view,
            agreement,
            token_key=(token_keys or {}).get(node_id),
            data_dir=data_dir,
            metrics=(metrics or {}).get(node_id),
            run_clock=run_clock,
        )
    return NodeDispatcher(apps, default_node)


__all__ = ["NodeDispatcher", "claimed_node", "create_laptop_app"]
