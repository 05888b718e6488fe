"""Serving a node's interfaces inside a running asyncio program (``kizuna demo/run/node``).

:func:`start_interfaces` starts uvicorn for an API app (one node's :func:`create_app`, or the
laptop dispatcher of :func:`~kizuna.interfaces.api.multi.create_laptop_app`) as a task of the
current event loop, and optionally a :class:`~kizuna.interfaces.cot.CotServer`; ``stop()``
shuts both down. ``--http``/``--cot`` values are ``HOST:PORT`` (:func:`parse_hostport`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from kizuna.errors import ConfigError

DEFAULT_HTTP = "127.0.0.1:8000"
DEFAULT_COT = "127.0.0.1:8087"


def parse_hostport(text: str, *, option: str = "--http") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6) -> ``(host, port)``; ConfigError otherwise."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ConfigError(f"expected HOST:PORT, got {text!r}", field=option)
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"port {port_text!r} is not a number", field=option) from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range", field=option)
    return host.strip("[]"), port


@dataclass
class RunningInterfaces:
    """What :func:`start_interfaces` started; ``await stop()`` when the node shuts down."""

    http_url: str
    server: Any  # uvicorn.Server
    task: asyncio.Task[None]
    cot: Any | None = None  # CotServer

    @property
    def cot_port(self) -> int | None:
        return None if self.cot is None else int(self.cot.port)

    async def stop(self) -> None:
        if self.cot is not None:
            await self.cot.stop()
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10.0)


async def start_interfaces(
    app: Any,
    *,
    http: str = DEFAULT_HTTP,
    cot: Any | None = None,
    log_level: str = "warning",
) -> RunningInterfaces:
    """Serve ``app`` on ``http`` (port 0 picks a free one) and start ``cot`` if given.

    Raises :class:`ConfigError` when the address cannot be bound.
    """
    import uvicorn

    host, port = parse_hostport(http)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        ws="websockets-sansio",
        http="h11",
    )
    server = uvicorn.Server(config)
    # In the main thread uvicorn captures SIGINT/SIGTERM while it serves, shuts down
    # gracefully, then re-raises the signal: Ctrl-C still reaches the node as
    # KeyboardInterrupt once the HTTP side has closed.
    task = asyncio.ensure_future(_serve(server))
    while not server.started:
        if task.done():
            raise ConfigError(f"cannot serve HTTP on {http}: {task.exception()}", field="--http")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
    shown = f"[{host}]" if ":" in host else host
    running = RunningInterfaces(f"http://{shown}:{bound}", server, task)
    if cot is not None:
        try:
            await cot.start()
        except OSError as exc:
            await running.stop()
            raise ConfigError(f"cannot serve CoT: {exc.strerror}", field="--cot") from None
        running.cot = cot
    return running


async def _serve(server: Any) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when it cannot bind
        raise OSError(f"uvicorn stopped ({exc.code}); is the address in use?") from None


__all__ = ["DEFAULT_COT", "DEFAULT_HTTP", "RunningInterfaces", "parse_hostport", "start_interfaces"]
