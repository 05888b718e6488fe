"""What an operator interface needs from a node: its picture, past and live.

:class:`NodeView` is the small protocol between a node runtime and the operator interfaces
(the HTTP/WebSocket API, the web map, the CoT endpoint). The node hands it every product it
holds (its own and those it received, each wrapped in a :class:`kizuna.sharing.Envelope`, which
carries the originating nation the release policy needs) and the interfaces read them back,
filtered by time, or follow them live. :class:`MemoryNodeView` implements it in memory and is
what laptop mode and the tests use.

The view is not an egress control: it may hold products the node must not show a given client
(a CoT client with another node's certificate, a product that should never have arrived). Every
interface applies :func:`kizuna.interfaces.api.release.releasable` to every product it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from kizuna.contract import AnyReport
from kizuna.errors import InputError
from kizuna.sharing import Envelope
from kizuna.timefmt import parse_time

SERVED_KINDS: tuple[str, ...] = ("track", "prediction", "alert")
ACTIVE_ALERT_STATUSES: frozenset[str] = frozenset({"issued", "updated"})

ReportSink = Callable[[AnyReport, str], None]


def product_time_s(envelope: Envelope) -> float:
    """The product's own ``time`` (POSIX s); the release instant when it has none."""
    text = envelope.product.get("time")
    return parse_time(text) if isinstance(text, str) else envelope.time


def identity(envelope: Envelope) -> tuple[str, str]:
    """What successive versions of one product share: ``(origin node, track or alert id)``.

    Two nodes' trackers may both name a track ``T1``, so the origin node is part of it.
    """
    body = envelope.product
    key = body.get("alert_id") if envelope.kind == "alert" else body.get("track_id")
    return envelope.origin_node, str(key)


class Subscription:
    """Live products of one view for one consumer, in publication order.

    Iterate with ``async for envelope in subscription``; the iteration ends when the
    subscription is closed (by the consumer, or by the view when the consumer fell more than
    ``max_backlog`` products behind, see :attr:`overflowed`).
    """

    _CLOSED = object()

    def __init__(self, view: MemoryNodeView, max_backlog: int) -> None:
        self._view = view
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._max_backlog = max_backlog
        self.overflowed = False
        self.closed = False

    def _offer(self, envelope: Envelope) -> None:
        # Runs in the subscriber's loop (call_soon_threadsafe), so the queue is never shared
        # between threads.
        if self.closed:
            return
        if self._queue.qsize() >= self._max_backlog:
            self.overflowed = True
            self._finish()
            return
        self._queue.put_nowait(envelope)

    def _finish(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(self._CLOSED)

    def close(self) -> None:
        self._view._unsubscribe(self)
        if self._loop.is_closed():
            self.closed = True
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._finish()
        else:
            self._loop.call_soon_threadsafe(self._finish)

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while True:
            item = await self._queue.get()
            if item is self._CLOSED:
                return
            yield item

    async def get(self, timeout_s: float | None = None) -> Envelope | None:
        """The next product, or None when closed (or on timeout)."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout_s)
        except TimeoutError:
            return None
        return None if item is self._CLOSED else item


@runtime_checkable
class NodeView(Protocol):
    """A node's picture as the operator interfaces read it."""

    @property
    def node_id(self) -> str: ...

    def history(
        self,
        kind: str,
        *,
        since_s: float | None = None,
        until_s: float | None = None,
        limit: int | None = None,
    ) -> list[Envelope]:
        """Every version of every product of ``kind`` with ``since_s <= time < until_s``,
        oldest first (``limit`` keeps the newest)."""
        ...

    def current(self, kind: str) -> list[Envelope]:
        """The latest version of each product of ``kind`` (alerts: only issued/updated ones)."""
        ...

    def subscribe(
        self, max_backlog: int = 10_000
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """``async with view.subscribe() as live: async for envelope in live: ...``"""
        ...

    def publish(self, envelope: Envelope) -> None:
        """Hand the view one product the node holds (thread-safe; never blocks)."""
        ...

    def submit_report(self, report: AnyReport, source: str) -> None:
        """A report entered through an interface (a CoT client's position, an operator)."""
        ...


@dataclass(frozen=True)
class _Entry:
    t: float
    seq: int
    envelope: Envelope


class MemoryNodeView:
    """An in-memory :class:`NodeView` (laptop mode, tests).

    ``publish`` may be called from any thread and any event loop; subscribers receive in their
    own loop. ``on_report`` receives what :meth:`submit_report` is given (the node runtime's
    ingest); without it the reports are only kept in :attr:`submitted`. ``max_history`` bounds
    the versions kept per kind (oldest dropped first).
    """

    def __init__(
        self,
        node_id: str,
        *,
        on_report: ReportSink | None = None,
        max_history: int = 200_000,
    ) -> None:
        self._node_id = node_id
        self._lock = threading.Lock()
        self._history: dict[str, list[_Entry]] = {k: [] for k in SERVED_KINDS}
        self._latest: dict[str, dict[tuple[str, str], _Entry]] = {k: {} for k in SERVED_KINDS}
        self._subscribers: set[Subscription] = set()
        self._seq = 0
        self._max_history = max_history
        self._on_report = on_report
        self.submitted: list[tuple[AnyReport, str]] = []
        self.published_count: dict[str, int] = {k: 0 for k in SERVED_KINDS}

    @property
    def node_id(self) -> str:
        return self._node_id

    def publish(self, envelope: Envelope) -> None:
        if envelope.kind not in SERVED_KINDS:
            return  # raw reports are not part of the operators' picture
        t = product_time_s(envelope)
        with self._lock:
            self._seq += 1
            entry = _Entry(t, self._seq, envelope)
            rows = self._history[envelope.kind]
            if rows and t < rows[-1].t:
                # Products may arrive a few seconds out of order: keep the list time-sorted.
                index = len(rows)
                while index > 0 and rows[index - 1].t > t:
                    index -= 1
                rows.insert(index, entry)
            else:
                rows.append(entry)
            if len(rows) > self._max_history:
                del rows[: len(rows) - self._max_history]
            latest = self._latest[envelope.kind]
            key = identity(envelope)
            old = latest.get(key)
            if old is None or (old.t, old.seq) <= (t, entry.seq):
                latest[key] = entry
            self.published_count[envelope.kind] += 1
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub._loop.call_soon_threadsafe(sub._offer, envelope)
            except RuntimeError:  # the subscriber's loop has closed
                self._unsubscribe(sub)

    def history(
        self,
        kind: str,
        *,
        since_s: float | None = None,
        until_s: float | None = None,
        limit: int | None = None,
    ) -> list[Envelope]:
        _check_kind(kind)
        with self._lock:
            rows = list(self._history[kind])
        out = [
            e.envelope
            for e in rows
            if (since_s is None or e.t >= since_s) and (until_s is None or e.t < until_s)
        ]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def current(self, kind: str) -> list[Envelope]:
        _check_kind(kind)
        with self._lock:
            entries = sorted(self._latest[kind].values(), key=lambda e: (e.t, e.seq))
        if kind == "alert":
            entries = [
                e for e in entries if e.envelope.product.get("status") in ACTIVE_ALERT_STATUSES
            ]
        return [e.envelope for e in entries]

    @contextlib.asynccontextmanager
    async def subscribe(self, max_backlog: int = 10_000) -> AsyncIterator[Subscription]:
        sub = Subscription(self, max_backlog)
        with self._lock:
            self._subscribers.add(sub)
        try:
            yield sub
        finally:
            sub.close()

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def submit_report(self, report: AnyReport, source: str) -> None:
        with self._lock:
            self.submitted.append((report, source))
        if self._on_report is not None:
            self._on_report(report, source)


def _check_kind(kind: str) -> None:
    if kind not in SERVED_KINDS:
        raise InputError(f"kind must be one of {', '.join(SERVED_KINDS)}; got {kind!r}")


__all__ = [
    "ACTIVE_ALERT_STATUSES",
    "SERVED_KINDS",
    "MemoryNodeView",
    "NodeView",
    "Subscription",
    "identity",
    "product_time_s",
]
