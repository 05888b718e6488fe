"""Serving the API and the CoT endpoint from a running event loop."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kizuna.errors import ConfigError
from kizuna.interfaces.api import MemoryNodeView, create_app
from kizuna.interfaces.api.serve import parse_hostport, start_interfaces
from kizuna.interfaces.cot import CotServer
from kizuna.sharing import load_agreement

AGREEMENT = load_agreement("trilateral")


def test_parse_hostport():
    assert parse_hostport("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_hostport("[::1]:8087") == ("::1", 8087)
    for bad in ("8000", "host:", "host:http", "host:70000"):
        with pytest.raises(ConfigError):
            parse_hostport(bad)


async def test_start_and_stop_http_and_cot_in_one_loop():
    view = MemoryNodeView("JJOC")
    app = create_app(view, AGREEMENT, token_key=b"k" * 32)
    cot = CotServer(view, AGREEMENT, port=0)
    running = await start_interfaces(app, http="127.0.0.1:0", cot=cot)
    try:
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{running.http_url}/healthz")
        assert health.json()["node"] == "JJOC"
        _, writer = await asyncio.open_connection("127.0.0.1", running.cot_port)
        writer.close()
        await writer.wait_closed()
        # A second server on the same port is a clear configuration error.
        with pytest.raises(ConfigError, match="cannot serve HTTP"):
            await start_interfaces(app, http=running.http_url.removeprefix("http://"))
    finally:
        await running.stop()
    assert running.task.done()
