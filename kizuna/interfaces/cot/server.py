"""The CoT streaming endpoint of a node: TAK clients connect, see the picture, send positions.

:class:`CotServer` is an asyncio TCP server. Which node's picture a client gets, and so what
the release policy lets it see, is decided by the endpoint, never by the client:

* plain TCP binds to a loopback address only, and every client gets the picture of
  ``cot_node`` (DESIGN.md section 4: ``--cot HOST:PORT``, ``--cot-node NODE``);
* with TLS (:func:`server_tls_context`, client certificates required) the certificate's
  subject common name names the node; a certificate for a node the server has no view of, or
  that the agreement does not know, is refused.

On connect the client gets the current picture (latest tracks, predictions, active alerts),
then every live product, each passed through
:func:`kizuna.interfaces.api.release.releasable` for the client's node before it becomes CoT
events (:mod:`kizuna.interfaces.cot.events`). Atom events the client sends become contract
``position`` reports (:func:`kizuna.interfaces.cot.inbound.position_report`) handed to the
node view's ``submit_report``; invalid ones are counted and dropped, and a stream that is not
CoT closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kizuna.contract import Marking
from kizuna.errors import ConfigError, InputError
from kizuna.interfaces.api.metrics import Metrics
from kizuna.interfaces.api.release import releasable
from kizuna.interfaces.api.view import NodeView
from kizuna.interfaces.cot.events import PING_TYPE, Context, events_for, pong_event, to_bytes
from kizuna.interfaces.cot.inbound import Framer, parse_event, position_report
from kizuna.sharing import Agreement, Envelope

log = logging.getLogger(__name__)

DEFAULT_PORT = 8087
READ_CHUNK = 65536


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_tls_context(
    certfile: str | Path, keyfile: str | Path, client_ca: str | Path
) -> ssl.SSLContext:
    """A TLS 1.2+ server context that requires a client certificate signed by ``client_ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(certfile), str(keyfile))
        context.load_verify_locations(cafile=str(client_ca))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CoT TLS files: {exc}", source=str(certfile)) from None
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def node_of_certificate(peercert: dict[str, Any] | None) -> str | None:
    """The subject common name of a verified peer certificate (the node it names)."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None


class CotServer:
    """CoT over TCP (loopback) or TLS with client certificates, for one or several nodes.

    ``views`` is one node's view or a mapping ``{node_id: view}`` (laptop mode serves every
    node from one process; a TLS client gets the view its certificate names). ``cot_node`` is
    the node whose picture a plain-TCP client gets (default: the only view's node).
    ``default_marking`` marks client reports that carry none: by default releasable to the
    client's own nation only. Use as ``async with CotServer(...) as server: server.port``.
    """

    def __init__(
        self,
        views: NodeView | Mapping[str, NodeView],
        agreement: Agreement,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        cot_node: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        metrics: Metrics | None = None,
        accept_reports: bool = True,
        default_classification: str = "UNCLASSIFIED",
    ) -> None:
        self._views: dict[str, NodeView] = (
            {views.node_id: views}
            if isinstance(views, NodeView) and not isinstance(views, Mapping)
            else dict(views)  # type: ignore[arg-type]
        )
        if not self._views:
            raise ConfigError("the CoT server needs at least one node view")
        for node_id in self._views:
            agreement.node(node_id)
        if ssl_context is None:
            if not is_loopback(host):
                raise ConfigError(
                    f"plain TCP CoT binds to loopback only, not {host!r}; anything else needs "
                    "TLS with client certificates that name the node",
                    field="cot",
                )
            if cot_node is None:
                if len(self._views) != 1:
                    raise ConfigError("name the node plain-TCP CoT clients see (--cot-node)")
                cot_node = next(iter(self._views))
            if cot_node not in self._views:
                raise ConfigError(
                    f"no view of node {cot_node!r} to serve over CoT", field="cot-node"
                )
        elif ssl_context.verify_mode != ssl.CERT_REQUIRED:
            raise ConfigError("the CoT TLS context must require client certificates")
        self.agreement = agreement
        self.host = host
        self._port = port
        self.cot_node = cot_node
        self._ssl = ssl_context
        self._accept_reports = accept_reports
        self._classification = default_classification
        self.metrics = metrics if metrics is not None else Metrics()
        self.metrics.counter("cot_reports", "CoT events received as reports, by result")
        self._clients: set[asyncio.Task[None]] = set()
        self._inner: set[asyncio.Future[None]] = set()
        self.metrics.gauge("cot_clients", "Connected CoT clients", lambda: len(self._clients))
        self._server: asyncio.Server | None = None
        self.rejected: list[str] = []  # the last reasons client events were refused (bounded)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self.host, self._port, ssl=self._ssl, limit=READ_CHUNK
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # Cancel each connection's inner tasks, not the connection task itself: asyncio's
        # stream server inspects that task's outcome, and a cancelled one is reported as an
        # error. The connection then returns normally and closes its socket.
        for task in list(self._inner):
            task.cancel()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=5.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> CotServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- one client ------------------------------------------------------------------------

    def _node_for(self, writer: asyncio.StreamWriter) -> str | None:
        if self._ssl is None:
            return self.cot_node
        node = node_of_certificate(writer.get_extra_info("peercert"))
        if node is None or node not in self._views or not self.agreement.has_node(node):
            return None
        return node

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        peer = writer.get_extra_info("peername")
        try:
            node_id = self._node_for(writer)
            if node_id is None:
                log.warning("CoT client %s refused: certificate names no node served here", peer)
                return
            view = self._views[node_id]
            async with view.subscribe() as live:
                context = Context(category={}, impact={})
                for kind in ("prediction", "track", "alert"):
                    for envelope in view.current(kind):
                        await self._send(writer, envelope, node_id, context)
                pump = asyncio.ensure_future(self._pump(live, writer, node_id, context))
                listen = asyncio.ensure_future(self._listen(reader, writer, node_id, peer))
                self._inner.update((pump, listen))
                try:
                    await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    self._inner.difference_update((pump, listen))
                    for t in (pump, listen):
                        t.cancel()
                    for t in (pump, listen):
                        with contextlib.suppress(
                            asyncio.CancelledError, ConnectionError, InputError
                        ):
                            await t
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.info("CoT client %s disconnected: %s", peer, exc)
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await writer.wait_closed()

    async def _send(
        self, writer: asyncio.StreamWriter, envelope: Envelope, node_id: str, context: Context
    ) -> None:
        if not releasable(envelope, node_id, self.agreement).allowed:
            self.metrics.inc("products_withheld", channel="cot", kind=envelope.kind)
            return
        events = events_for(envelope, context)
        for event in events:
            writer.write(to_bytes(event))
        await writer.drain()
        self.metrics.inc("products_served", channel="cot", kind=envelope.kind)

    async def _pump(
        self, live: Any, writer: asyncio.StreamWriter, node_id: str, context: Context
    ) -> None:
        async for envelope in live:
            await self._send(writer, envelope, node_id, context)

    async def _listen(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        node_id: str,
        peer: Any,
    ) -> None:
        framer = Framer()
        node = self.agreement.node(node_id)
        default = Marking(
            classification=self._classification,  # type: ignore[arg-type]
            releasable_to=[node.nation],
        )
        client = f"{node_id}:{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else node_id
        while True:
            data = await reader.read(READ_CHUNK)
            if not data:
                return
            for document in framer.feed(data):  # InputError (not CoT) ends the connection
                kind = self._receive(
                    document,
                    node_id,
                    node.nation,
                    node.location.lat,
                    node.location.lon,
                    client,
                    default,
                )
                if kind == PING_TYPE:
                    # TAK clients ping to keep the stream alive and expect a pong.
                    writer.write(to_bytes(pong_event()))
                    await writer.drain()

    def _receive(
        self,
        document: bytes,
        node_id: str,
        nation: str,
        lat: float,
        lon: float,
        client: str,
        default: Marking,
    ) -> str | None:
        try:
            event = parse_event(document)
        except InputError as exc:
            self._reject(client, exc)
            return None
        kind = event.attrib.get("type")
        try:
            report = position_report(
                event,
                nation=nation,
                sensor_lat=lat,
                sensor_lon=lon,
                client=client,
                default_marking=default,
            )
        except InputError as exc:
            self._reject(client, exc)
            return kind
        if report is None:
            self.metrics.inc("cot_reports", result="ignored")
            return kind
        if not self._accept_reports:
            self.metrics.inc("cot_reports", result="refused")
            return kind
        self._views[node_id].submit_report(report, f"cot:{client}")
        self.metrics.inc("cot_reports", result="accepted")
        return kind

    def _reject(self, client: str, exc: InputError) -> None:
        self.metrics.inc("cot_reports", result="rejected")
        self.rejected = [*self.rejected[-99:], str(exc)]
        log.info("CoT event from %s refused: %s", client, exc)


__all__ = ["DEFAULT_PORT", "CotServer", "is_loopback", "node_of_certificate", "server_tls_context"]
