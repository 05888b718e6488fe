"""Fixtures for the sharing tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import nats.aio.client
import pytest

from kizuna.sharing.agreement import Agreement, load_agreement

CLOSE_TIMEOUT_S = 5.0
"""How long the teardown waits for one NATS client a test left open to close."""


@pytest.fixture(scope="session")
def trilateral() -> Agreement:
    return load_agreement("trilateral")


@pytest.fixture(scope="session")
def quadrilateral() -> Agreement:
    return load_agreement("quadrilateral")


@pytest.fixture(autouse=True)
async def _nats_clients_closed(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Every NATS client a test connects in its event loop is closed when the test ends, even
    when it failed before its own ``close()``.

    A client left open keeps its socket and reader task; the test's loop is closed after the
    test, and the socket's ResourceWarning came out in whichever later test collected it (with
    filterwarnings=error, an unrelated test failed: test_property after a failed test_nats
    test). What cannot be closed here (a client of another loop) is collected here, so that
    its warning fails the test that left it.
    """
    clients: list[tuple[Any, asyncio.AbstractEventLoop]] = []
    connect = nats.aio.client.Client.connect

    async def tracked(self: Any, *args: Any, **kwargs: Any) -> Any:
        clients.append((self, asyncio.get_running_loop()))
        return await connect(self, *args, **kwargs)

    monkeypatch.setattr(nats.aio.client.Client, "connect", tracked)
    yield
    loop = asyncio.get_running_loop()
    left = [(c, owner) for c, owner in clients if not c.is_closed]
    for client, owner in left:
        if owner is loop:
            # (With its server already stopped, nats-py's close() may end in a cancellation
            # of its own; the socket is closed all the same.)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(client.close(), CLOSE_TIMEOUT_S)
    if left:
        gc.collect()
