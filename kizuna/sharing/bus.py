"""The bus a node publishes to and receives from, and its in-process implementation.

:class:`Bus` is the node's view of the transport; two classes implement it:

* :class:`InProcessBus` (laptop mode): every node of the agreement in one asyncio process,
  connected through an :class:`InProcessHub`. Publishing routes the product over the links in
  force with :func:`kizuna.sharing.policy.route`, so every hop is a policy decision, and each
  receiving node checks the policy once more before the product is handed over.
* :class:`kizuna.sharing.nats_bus.NatsBus` (federation): one node per process over NATS
  JetStream; the node decides and the server enforces (:mod:`kizuna.sharing.natsconfig`).

Both refuse to publish a product the node may not release (another node's, or another
nation's), drop duplicates by :attr:`Envelope.id`, and report every release, refusal and
receipt to an optional observer (the audit log). Both also carry heartbeats
(:mod:`kizuna.sharing.watermark`): ``publish_heartbeat(watermark_s, at_time)`` sends the
node's data clock to the nodes its reports may reach, in order with its reports, and
``take_heartbeats()`` returns those received (latest per source) since the last call; a
heartbeat is kept by ``receive`` when it comes out of the inbox, never handed over as a
delivery.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from kizuna.errors import KizunaError, PolicyError
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.envelope import Envelope
from kizuna.sharing.policy import Decision, Routing, decide, route
from kizuna.sharing.watermark import heartbeat_nations, keep_latest

EventKind = Literal["released", "refused", "received", "dropped", "duplicate"]


class PublishRefusedError(KizunaError):
    """The transport refused an envelope for good (e.g. the NATS server's publish permissions):
    publishing it again never succeeds, unlike a transient failure (a timeout, a link down)."""


class BusEvent(NamedTuple):
    """Something the audit log records.

    ``released``: ``node`` released the product to ``peer`` (a node in-process, a nation over
    NATS) under ``decision``; ``refused``: the policy refused that hop; ``received``: ``node``
    accepted the product from ``peer`` (the origin node); ``dropped``: ``node`` refused a product
    that reached it (the receive-side check); ``duplicate``: a repeated id was ignored.
    (Immutable, and a third of a frozen dataclass's cost to make: the in-process hub makes
    one per release and per receipt.)
    """

    kind: EventKind
    node: str
    peer: str | None
    envelope: Envelope
    decision: Decision | None


Observer = Callable[[BusEvent], None]


@dataclass
class Delivery:
    """One product handed to a node; call :meth:`ack` once it is durably stored."""

    envelope: Envelope
    decision: Decision
    path: tuple[str, ...]
    _ack: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    async def ack(self) -> None:
        if self._ack is not None:
            await self._ack()


@runtime_checkable
class Bus(Protocol):
    """A node's connection to the other nodes of its agreement."""

    @property
    def node_id(self) -> str: ...

    @property
    def agreement(self) -> Agreement: ...

    async def publish(self, envelope: Envelope) -> Routing:
        """Release one product of this node; returns where the policy let it go.

        Raises :class:`kizuna.errors.PolicyError` when the node may not publish it at all.
        """
        ...

    async def receive(self, max_messages: int = 256, timeout_s: float = 1.0) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, waiting at most ``timeout_s`` for the first."""
        ...

    async def close(self) -> None: ...


def check_publishable(agreement: Agreement, node_id: str, envelope: Envelope) -> None:
    """A node releases only its own products, and only of its own nation."""
    nation = agreement.node(node_id).nation
    if envelope.origin_node != node_id:
        raise PolicyError(
            f"node {node_id} cannot publish a product whose origin is {envelope.origin_node}"
        )
    if envelope.originator != nation:
        raise PolicyError(
            f"node {node_id} ({nation}) cannot release a product originated by "
            f"{envelope.originator}; only a node of that nation can"
        )


class _SeenIds:
    """Bounded memory of envelope ids (oldest forgotten first), for de-duplication."""

    def __init__(self, capacity: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def add(self, key: str) -> bool:
        """Remember ``key``; False if it was already known."""
        if key in self._ids:
            self._ids.move_to_end(key)
            return False
        self._ids[key] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


class InProcessHub:
    """All nodes of one agreement in one process (laptop mode).

    Every node of the agreement gets an inbox at construction, so products released to a node
    that has not connected yet wait for it. ``dedup_window`` ids are remembered per hub.
    """

    def __init__(
        self,
        agreement: Agreement,
        *,
        observer: Observer | None = None,
        dedup_window: int = 1_000_000,
    ) -> None:
        self.agreement = agreement
        self.observer = observer
        self._inboxes: dict[str, _Inbox] = {node_id: _Inbox() for node_id in agreement.node_ids}
        self._seen = _SeenIds(dedup_window)
        self.dropped: list[BusEvent] = []

    def connect(self, node_id: str) -> InProcessBus:
        self.agreement.node(node_id)
        return InProcessBus(self, node_id)

    def _emit(self, event: BusEvent) -> None:
        if self.observer is not None:
            self.observer(event)

    def _publish(self, node_id: str, envelope: Envelope) -> Routing:
        check_publishable(self.agreement, node_id, envelope)
        if not self._seen.add(envelope.id):
            self._emit(BusEvent("duplicate", node_id, None, envelope, None))
            return Routing(node_id)
        routing = route(
            envelope.kind,
            envelope.marking,
            envelope.originator,
            node_id,
            self.agreement,
            envelope.time,
        )
        for hop in routing.refused:
            self._emit(BusEvent("refused", hop.from_node, hop.to_node, envelope, hop.decision))
        for target, path in routing.paths.items():
            self._emit(BusEvent("released", node_id, target, envelope, routing.decisions[target]))
            self._deliver(target, envelope, path)
        return routing

    def _heartbeat(self, node_id: str, watermark_s: float | None, at_time: float) -> None:
        # Queued behind the reports already delivered, like a JetStream copy.
        nations = heartbeat_nations(self.agreement, node_id, at_time)
        for target in self.agreement.node_ids:
            if target != node_id and self.agreement.node(target).nation in nations:
                self._inboxes[target].put(_Beat(node_id, watermark_s))

    def _deliver(self, target: str, envelope: Envelope, path: tuple[str, ...]) -> None:
        # The receiving node checks again: routing computed the decision, but the inbox is
        # the egress into the node, and a leak is the worst bug this project can have.
        decision = decide(
            envelope.kind,
            envelope.marking,
            envelope.originator,
            target,
            self.agreement,
            envelope.time,
        )
        if not decision.allowed:
            event = BusEvent("dropped", target, envelope.origin_node, envelope, decision)
            self.dropped.append(event)
            self._emit(event)
            return
        self._emit(BusEvent("received", target, envelope.origin_node, envelope, decision))
        self._inboxes[target].put(Delivery(envelope, decision, path))


class _Inbox:
    """One node's in-process inbox: deliveries and heartbeats in the order they were put, one
    reader. (An asyncio.Queue costs several calls per item on each side; the reader here takes
    everything waiting in one go and waits only when there is nothing.)"""

    __slots__ = ("_waiter", "items")

    def __init__(self) -> None:
        self.items: deque[Delivery | _Beat] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Delivery | _Beat) -> None:
        self.items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout_s: float) -> None:
        """Until something is put or ``timeout_s`` has passed."""
        if self.items or timeout_s <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout_s, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(frozen=True)
class _Beat:
    """A heartbeat in an in-process inbox."""

    node: str
    watermark_s: float | None


class InProcessBus:
    """One node's endpoint on an :class:`InProcessHub`; implements :class:`Bus`."""

    def __init__(self, hub: InProcessHub, node_id: str) -> None:
        self._hub = hub
        self._node_id = node_id
        self._closed = False
        self.heartbeats: dict[str, float | None] = {}

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def agreement(self) -> Agreement:
        return self._hub.agreement

    async def publish(self, envelope: Envelope) -> Routing:
        if self._closed:
            raise PolicyError(f"bus of node {self._node_id} is closed")
        return self._hub._publish(self._node_id, envelope)

    async def publish_heartbeat(self, watermark_s: float | None, at_time: float) -> None:
        if self._closed:
            raise PolicyError(f"bus of node {self._node_id} is closed")
        self._hub._heartbeat(self._node_id, watermark_s, at_time)

    def take_heartbeats(self) -> dict[str, float | None]:
        out, self.heartbeats = self.heartbeats, {}
        return out

    def _keep(self, item: Delivery | _Beat, out: list[Delivery]) -> None:
        if isinstance(item, _Beat):
            keep_latest(self.heartbeats, item.node, item.watermark_s)
        else:
            out.append(item)

    async def receive(self, max_messages: int = 256, timeout_s: float = 1.0) -> list[Delivery]:
        inbox = self._hub._inboxes[self._node_id]
        out: list[Delivery] = []
        items = inbox.items
        if not items:
            await inbox.wait(timeout_s)
        while len(out) < max_messages and items:
            self._keep(items.popleft(), out)
        return out

    async def close(self) -> None:
        self._closed = True


__all__ = [
    "Bus",
    "BusEvent",
    "Delivery",
    "InProcessBus",
    "InProcessHub",
    "Observer",
    "PublishRefusedError",
    "check_publishable",
]
