"""interfaces/api: the HTTP and WebSocket API of a node (and the web map it serves).

Public API (what the node runtime and ``kizuna demo`` call)::

    from kizuna.interfaces.api import create_app, MemoryNodeView, NodeView
    view = MemoryNodeView("JJOC", on_report=ingest)      # or any NodeView
    app = create_app(view, agreement, data_dir=".kizuna")  # FastAPI app; serve with uvicorn
    view.publish(envelope)                                # every product the node holds

Laptop mode (every node behind one port, the token choosing the node)::

    app = create_laptop_app({node: view, ...}, agreement, default_node="JJOC", data_dir=...)

Tokens: :func:`kizuna.interfaces.api.auth.issue_token` (``kizuna token``).
"""

from kizuna.interfaces.api.app import create_app
from kizuna.interfaces.api.auth import (
    AuthError,
    Principal,
    issue_token,
    load_or_create_key,
    node_data_dir,
    verify_token,
)
from kizuna.interfaces.api.metrics import Metrics
from kizuna.interfaces.api.multi import create_laptop_app
from kizuna.interfaces.api.release import releasable
from kizuna.interfaces.api.view import MemoryNodeView, NodeView, Subscription

__all__ = [
    "AuthError",
    "MemoryNodeView",
    "Metrics",
    "NodeView",
    "Principal",
    "Subscription",
    "create_app",
    "create_laptop_app",
    "issue_token",
    "load_or_create_key",
    "node_data_dir",
    "releasable",
    "verify_token",
]
