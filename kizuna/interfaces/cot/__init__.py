"""interfaces/cot: Cursor on Target for TAK clients (ATAK, WinTAK, iTAK).

Public API::

    from kizuna.interfaces.cot import CotServer, server_tls_context
    async with CotServer(view_or_views, agreement, host="127.0.0.1", port=8087,
                         cot_node="JJOC") as server: ...

Events are built by :mod:`kizuna.interfaces.cot.events`; client events become position
reports in :mod:`kizuna.interfaces.cot.inbound`.
"""

from kizuna.interfaces.cot.events import Context, events_for, to_bytes
from kizuna.interfaces.cot.inbound import Framer, parse_event, position_report
from kizuna.interfaces.cot.server import (
    DEFAULT_PORT,
    CotServer,
    node_of_certificate,
    server_tls_context,
)

__all__ = [
    "DEFAULT_PORT",
    "Context",
    "CotServer",
    "Framer",
    "events_for",
    "node_of_certificate",
    "parse_event",
    "position_report",
    "server_tls_context",
    "to_bytes",
]
