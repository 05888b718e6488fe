"""The federation bus: one node over NATS JetStream (nats-py), implementing :class:`Bus`.

Publishing: the node routes the product with :func:`kizuna.sharing.policy.route` (every hop a
policy decision, exactly as in-process) and publishes one JetStream message per nation it may
reach, on ``kz.<originator>.<dest>.<kind>.<node>`` with header ``Nats-Msg-Id:
<dest>|<envelope id>`` so that each stream stores each product once. The publish returns after
the streams acknowledged every copy (durable before acknowledged): the copy for nation ``D`` is
acknowledged by ``D``'s stream, the one ``D``'s nodes read (the server carries the
acknowledgement back across accounts, :mod:`kizuna.sharing.natsconfig`), so a copy ``D``'s stream
could not store (it was stopping with the server, or does not exist yet) is not acknowledged and
the node keeps it in its outbox. A batch
(:meth:`NatsBus.publish_many`) is pipelined: all its copies are written to the connection with
reply subjects of the bus, then their acknowledgements are awaited together, so a batch costs
one round trip, not one per message.

Receiving: one durable pull consumer per node, named after the node, with the single filter
subject ``kz.*.<nation>.>``. Every message is checked again on arrival (subject consistent
with the envelope, and :func:`decide` for this node); anything refused is acknowledged, not
handed over, and recorded in :attr:`NatsBus.dropped` for the audit log. The server, configured
by :mod:`kizuna.sharing.natsconfig`, enforces the same agreement on subjects independently.
The bus keeps pull requests open on the consumer for :data:`PULL_WINDOW` messages ahead of
what it handed over, replacing each as it fills or expires (:meth:`NatsBus._top_up`), so a
stored message is never waiting for the node to ask (a request the server drops without a
notice is replaced :data:`PULL_SLACK_S` after its expiry).

Heartbeats (:mod:`kizuna.sharing.watermark`): :meth:`NatsBus.publish_heartbeat` sends the
node's data clock on ``kz.<nation>.<dest>.heartbeat.<node>`` to every nation its reports may
reach, through the same streams as its reports (so each arrives after the reports it vouches
for); :meth:`NatsBus.receive` keeps those of the node's sources in :attr:`NatsBus.heartbeats`
instead of handing them over as deliveries, and acknowledges them at once (a lost heartbeat is
replaced by the next one).

A heartbeat is applied only once every delivery before it on the node's consumer has reached
the node. Within one process that holds by order: the consumer delivers in stream order and
the node enters a batch's reports before it reads the batch's heartbeats. It does not hold for
deliveries this process never saw: those a previous process of the node pulled and died with
(the consumer had acknowledgements pending when this one connected), or those lost in a
reconnect (a gap in the consumer sequence). The server redelivers them only after ``ack_wait``,
while new heartbeats come at once. So while such deliveries may be outstanding a heartbeat is
*held* (its partner counts as alive, its clock is not applied) until the consumer's ack floor
(``consumer_info``, asked only then) reaches the heartbeat's stream sequence, that is until
everything before it was acknowledged, which the node does only after storing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy, StreamConfig

from kizuna.errors import InputError, KizunaError, PolicyError
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.bus import BusEvent, Delivery, Observer, PublishRefusedError, check_publishable
from kizuna.sharing.envelope import Envelope
from kizuna.sharing.policy import Decision, Routing, decide, route
from kizuna.sharing.subjects import (
    HEARTBEAT,
    STREAM,
    consumer_filter,
    consumer_name,
    heartbeat_subject,
    inbox_prefix,
    parse_subject,
    product_subject,
    stream_subjects,
)
from kizuna.sharing.watermark import (
    Heartbeat,
    heartbeat_nations,
    keep_latest,
    report_sources,
)

# JetStream's default duplicate window is 2 minutes; a node restarted within it and
# re-publishing is de-duplicated by the server. Longer windows cost server memory.
DUPLICATE_WINDOW_S = 120.0

PULL_WINDOW = 1024
"""Messages a node keeps requested from its consumer ahead of what it has taken (at least
what one ``receive`` asks for): at most this many wait in the process unacknowledged."""
PULL_EXPIRES_S = 5.0
"""Life of one pull request on the server. A request that expires is replaced at once (its
notice says what it still owed), so this only bounds how long a request lost without a notice
goes unnoticed; short lives cost a request and a notice each."""
PULL_SLACK_S = 1.0
"""How long past a request's expiry its notice may take before the bus stops counting on it
and asks again by itself (:meth:`NatsBus._pull_deadline`)."""


class TransportError(KizunaError):
    """The NATS server could not be reached or refused the node's setup."""


class PermissionRefusedError(TransportError, PublishRefusedError):
    """The server refused every failed copy of an envelope on the node's publish permissions
    (its configuration does not release it): publishing it again never succeeds."""


def msg_id(dest_nation: str, envelope: Envelope) -> str:
    """``Nats-Msg-Id`` of one copy: distinct per destination, since the originating nation's
    stream stores every copy it sends."""
    return f"{dest_nation}|{envelope.id}"


class _AckBatch:
    """The acknowledgements one :meth:`NatsBus.publish_many` waits for."""

    def __init__(self, size: int) -> None:
        self.errors: list[BaseException | None] = [None] * size
        self.settled = [False] * size
        self.left = size
        self.done = asyncio.Event()

    def settle(self, k: int, error: BaseException | None) -> None:
        if self.settled[k]:
            return
        self.settled[k], self.errors[k] = True, error
        self.left -= 1
        if self.left == 0:
            self.done.set()


class NatsBus:
    """One node's connection to the federation; implements :class:`kizuna.sharing.bus.Bus`.

    Create with :meth:`connect`. ``errors`` collects asynchronous server errors (permission
    violations show up there); ``dropped`` the deliveries refused on arrival.
    """

    def __init__(self, agreement: Agreement, node_id: str, observer: Observer | None) -> None:
        self._agreement = agreement
        self._node_id = node_id
        self._nation = agreement.node(node_id).nation
        self._observer = observer
        self._nc: Any = None
        self._js: Any = None
        # The pull path (_fetch, _top_up): inbox, subscription, messages pulled and not yet
        # handed over, what the open pull requests may still deliver (credit), the window
        # they keep requested ahead, and when the last one expires (monotonic s).
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{consumer_name(node_id)}"
        self._pull_inbox = ""
        self._pull_sub: Any = None
        self._pulled: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._credit = 0
        self._window = PULL_WINDOW
        self._pull_until = 0.0
        self._pull_timer: asyncio.TimerHandle | None = None
        self._renewal: asyncio.Task[None] | None = None
        # Set by close(): a notice arriving while close() flushes asks for nothing more (nor
        # re-arms the renewal timer close() has just cancelled).
        self._closing = False
        self._publish_timeout_s = 2.0
        self._ack_sub: Any = None
        self._ack_prefix = ""
        self._ack_seq = 0
        self._ack_waiting: dict[str, tuple[_AckBatch, int]] = {}
        self.errors: list[str] = []
        self.dropped: list[BusEvent] = []
        self._refused_subjects: set[str] = set()
        """Subjects (lower-cased) the server refused from this node (permissions violations)."""
        self.heartbeats: dict[str, float | None] = {}
        """Latest heartbeat per source node not yet taken (:meth:`take_heartbeats`)."""
        self._sources: frozenset[str] | None = None
        self._beat_nations: tuple[str, ...] | None = None
        # Deliveries this process may not have seen (module docstring): consumer sequence of
        # the last one it saw, the highest one it did not see while not known to be
        # acknowledged, and the heartbeats held until the ack floor reaches them (stream
        # sequence, node, watermark).
        self._last_cseq = 0
        self._unseen_upto: int | None = None
        self._held: list[tuple[int, str, float | None]] = []

    # --- setup -----------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        agreement: Agreement,
        node_id: str,
        servers: str | Sequence[str] = "nats://127.0.0.1:4222",
        *,
        user: str | None = None,
        password: str | None = None,
        observer: Observer | None = None,
        deliver_from: float | None = None,
        connect_timeout_s: float = 2.0,
        publish_timeout_s: float = 2.0,
        reconnect: bool = True,
        ack_wait_s: float = 30.0,
    ) -> NatsBus:
        """Connect node ``node_id``, ensure its nation's stream and its durable consumer.

        ``deliver_from`` (POSIX s) starts a *new* durable consumer at that time instead of the
        start of the stream; an existing durable consumer resumes where it stopped.
        ``publish_timeout_s`` bounds the wait for a stream's acknowledgement (a copy the server
        refuses on permissions is never acknowledged, so this is also how long a refusal takes).
        ``ack_wait_s``: how long the server waits for a delivery's ack before redelivering it
        (what a node killed mid-batch waits for, at most, after its restart); set when the
        durable consumer is created.
        """
        bus = cls(agreement, node_id, observer)
        bus._publish_timeout_s = publish_timeout_s

        async def on_error(exc: Exception) -> None:
            text = str(exc)
            bus.errors.append(text)
            # 'nats: permissions violation for publish to "<subject>"' (nats-py lower-cases
            # the server's message, subject included): sent at once, so a refused copy is
            # known as such before its acknowledgement times out.
            if "permissions violation for publish" in text.lower() and '"' in text:
                bus._refused_subjects.add(text.split('"')[1].lower())

        prefix = inbox_prefix(node_id)
        try:
            bus._nc = await nats.connect(
                servers=[servers] if isinstance(servers, str) else list(servers),
                user=user,
                password=password,
                name=f"kizuna-{node_id}",
                inbox_prefix=prefix.encode(),
                error_cb=on_error,
                connect_timeout=connect_timeout_s,
                reconnected_cb=bus._on_reconnected,
                allow_reconnect=reconnect,
                max_reconnect_attempts=-1 if reconnect else 0,
                reconnect_time_wait=0.25,
            )
        except (nats.errors.Error, OSError) as exc:
            raise TransportError(f"node {node_id}: cannot connect to {servers}: {exc}") from None
        bus._js = bus._nc.jetstream(timeout=publish_timeout_s)
        try:
            await _ensure_stream(bus._js, bus._nation)
            info, _ = await _ensure_consumer(
                bus._js, node_id, bus._nation, deliver_from, ack_wait_s
            )
            bus._last_cseq = info.delivered.consumer_seq
            if info.num_ack_pending:  # pulled by a previous process, to be redelivered
                bus._unseen_upto = info.delivered.consumer_seq
            bus._pull_inbox = f"{prefix}.pull.{bus._nc._nuid.next().decode()}"
            bus._pull_sub = await bus._nc.subscribe(bus._pull_inbox, cb=bus._on_pulled)
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            await bus._nc.close()
            raise TransportError(f"node {node_id}: JetStream setup failed: {exc}") from None
        return bus

    async def _on_reconnected(self) -> None:
        # The server forgot this connection's pull requests with it: ask again (messages
        # they had delivered and the node did not acknowledge come back after ack_wait).
        self._credit = 0
        self._arrived.set()

    # --- Bus -------------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def agreement(self) -> Agreement:
        return self._agreement

    @property
    def connected(self) -> bool:
        """Whether the connection is up now (False while nats-py reconnects)."""
        return self._nc is not None and bool(self._nc.is_connected)

    def _emit(self, event: BusEvent) -> None:
        if self._observer is not None:
            self._observer(event)

    async def publish(self, envelope: Envelope) -> Routing:
        result = (await self.publish_many([envelope]))[0]
        if isinstance(result, BaseException):
            raise result
        return result

    async def publish_many(self, envelopes: Sequence[Envelope]) -> list[Routing | BaseException]:
        """Release a batch: every copy of every envelope is written to the connection first
        (in order), then the streams' acknowledgements are awaited together, within one
        ``publish_timeout_s``. Per envelope, its routing, or the exception :meth:`publish`
        raises for it (:class:`PolicyError` when the node may not publish it,
        :class:`TransportError` when a stream did not acknowledge a copy)."""
        results: list[Routing | BaseException] = []
        copies: list[tuple[int, str, Envelope, bytes]] = []
        plans: list[dict[str, Decision]] = []
        for i, envelope in enumerate(envelopes):
            try:
                check_publishable(self._agreement, self._node_id, envelope)
            except PolicyError as exc:
                results.append(exc)
                plans.append({})
                continue
            routing = route(
                envelope.kind,
                envelope.marking,
                envelope.originator,
                self._node_id,
                self._agreement,
                envelope.time,
            )
            for hop in routing.refused:
                self._emit(BusEvent("refused", hop.from_node, hop.to_node, envelope, hop.decision))
            # One copy per destination nation; the server fans it out to that nation's nodes.
            dests: dict[str, Decision] = {}
            for target in sorted(routing.reached):
                dests.setdefault(self._agreement.node(target).nation, routing.decisions[target])
            payload = envelope.to_bytes() if dests else b""
            copies += [(i, dest, envelope, payload) for dest in dests]
            results.append(routing)
            plans.append(dests)
        errors = await self._publish_copies(copies)
        failures: dict[int, list[tuple[str, BaseException]]] = {}
        for (i, dest, envelope, _), error in zip(copies, errors, strict=True):
            if error is None:
                self._emit(BusEvent("released", self._node_id, dest, envelope, plans[i][dest]))
                continue
            reason = f"server did not store the copy for {dest}: {type(error).__name__}: "
            refusal = Decision(False, None, reason + str(error))
            self._emit(BusEvent("refused", self._node_id, dest, envelope, refusal))
            failures.setdefault(i, []).append((dest, error))
        for i, failed in failures.items():
            dest, error = failed[0]
            if not isinstance(error, Exception):
                raise error  # cancellation and the like propagate unchanged
            names = ", ".join(d for d, _ in failed)
            envelope = envelopes[i]
            refused = all(
                product_subject(envelope.originator, d, envelope.kind, self._node_id).lower()
                in self._refused_subjects
                for d, _ in failed
            )
            failure = (PermissionRefusedError if refused else TransportError)(
                f"node {self._node_id}: {envelope.id} not stored for {names}"
                + (" (refused by the server's permissions)" if refused else "")
                + f": {error}"
            )
            failure.__cause__ = error
            results[i] = failure
        return results

    async def _publish_copies(
        self, copies: Sequence[tuple[int, str, Envelope, bytes]]
    ) -> list[BaseException | None]:
        """Publish JetStream messages with reply subjects of this bus and wait for all their
        acknowledgements at once; per copy None (stored, or a duplicate the stream already
        had) or the error. What a per-message ``js.publish`` does, without one request, one
        future and one timer per message."""
        if not copies:
            return []
        await self._ensure_ack_subscription()
        batch = _AckBatch(len(copies))
        keys: list[str] = []
        try:
            for k, (_, dest, envelope, payload) in enumerate(copies):
                self._ack_seq += 1
                key = str(self._ack_seq)
                self._ack_waiting[key] = (batch, k)
                keys.append(key)
                subject = product_subject(envelope.originator, dest, envelope.kind, self._node_id)
                # A refusal counts for the copy it answers: one from an earlier publish (the
                # server's permissions since reloaded) must not turn a timeout now into a
                # refusal for good, which would abandon the envelope instead of keeping it.
                self._refused_subjects.discard(subject.lower())
                try:
                    await self._nc.publish(
                        subject,
                        payload,
                        reply=self._ack_prefix + key,
                        headers={
                            "Nats-Msg-Id": msg_id(dest, envelope),
                            "Nats-Expected-Stream": STREAM,
                        },
                    )
                except nats.errors.Error as exc:
                    batch.settle(k, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batch.done.wait(), timeout=self._publish_timeout_s)
        finally:
            for key in keys:
                self._ack_waiting.pop(key, None)
        return [
            error if settled else nats.errors.TimeoutError()
            for error, settled in zip(batch.errors, batch.settled, strict=True)
        ]

    async def _ensure_ack_subscription(self) -> None:
        if self._ack_sub is None:
            # A fresh token per connection: a late acknowledgement meant for an earlier
            # incarnation of this node can never settle a copy of this one.
            self._ack_prefix = f"{inbox_prefix(self._node_id)}.{self._nc._nuid.next().decode()}."
            self._ack_sub = await self._nc.subscribe(self._ack_prefix + "*", cb=self._on_ack)

    async def _on_ack(self, msg: Msg) -> None:
        waiting = self._ack_waiting.pop(msg.subject[len(self._ack_prefix) :], None)
        if waiting is None:
            return  # the batch gave up waiting for it
        batch, k = waiting
        error: BaseException | None = None
        if msg.headers and msg.headers.get("Status") == "503":
            error = nats.js.errors.NoStreamResponseError()
        else:
            try:
                response = json.loads(msg.data)
            except ValueError:
                error = nats.js.errors.Error(f"unreadable acknowledgement {msg.data[:80]!r}")
            else:
                if "error" in response:
                    error = nats.js.errors.APIError.from_error(response["error"])
        batch.settle(k, error)

    async def publish_heartbeat(self, watermark_s: float | None, at_time: float) -> None:
        """Send this node's heartbeat to every nation its reports may reach (as in force at
        ``at_time``). Call it only once every report it vouches for was stored by the streams
        (the node's outbox is empty); raises :class:`TransportError` if a stream did not take it.
        """
        if self._beat_nations is None:
            self._beat_nations = tuple(
                sorted(heartbeat_nations(self._agreement, self._node_id, at_time))
            )
        payload = Heartbeat(node=self._node_id, time=watermark_s).model_dump_json().encode()
        results = await asyncio.gather(
            *(
                self._js.publish(
                    heartbeat_subject(self._nation, dest, self._node_id), payload, stream=STREAM
                )
                for dest in self._beat_nations
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                raise TransportError(f"node {self._node_id}: heartbeat not stored: {result}")

    def take_heartbeats(self) -> dict[str, float | None]:
        """The heartbeats received since the last call (latest per source node)."""
        out, self.heartbeats = self.heartbeats, {}
        return out

    async def receive(self, max_messages: int = 256, timeout_s: float = 1.0) -> list[Delivery]:
        try:
            msgs = await self._fetch(max_messages, timeout_s)
        except nats.errors.Error as exc:
            # The connection is down or reconnecting: nothing to hand over now; the durable
            # consumer keeps everything for when it is back.
            self.errors.append(f"fetch: {type(exc).__name__}: {exc}")
            await asyncio.sleep(min(timeout_s, 0.25))
            return []
        out: list[Delivery] = []
        for msg in msgs:
            if msg.subject.split(".")[3:4] == [HEARTBEAT]:
                await self._heartbeat(msg)
                continue
            delivery = await self._admit(msg)
            if delivery is not None:
                out.append(delivery)
        if self._held:
            await self._release_held()
        return out

    async def _release_held(self) -> None:
        """Apply the held heartbeats that the consumer's ack floor has reached."""
        try:
            info = await self._js.consumer_info(STREAM, consumer_name(self._node_id))
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            self.errors.append(f"consumer info: {type(exc).__name__}: {exc}")
            return
        floor = info.ack_floor
        if self._unseen_upto is not None and floor.consumer_seq >= self._unseen_upto:
            self._unseen_upto = None  # all acknowledged: order holds again
        held, self._held = self._held, []
        for sseq, node, mark in held:
            if self._unseen_upto is None or sseq <= floor.stream_seq:
                keep_latest(self.heartbeats, node, mark)
            else:
                self._held.append((sseq, node, mark))

    async def _fetch(self, batch: int, timeout_s: float) -> list[Msg]:
        """Up to ``batch`` messages of the node's durable consumer, waiting at most
        ``timeout_s`` for the first.

        The bus keeps pull requests (``$JS.API.CONSUMER.MSG.NEXT``) open on the server for
        :attr:`_window` messages ahead of what it handed over (:meth:`_top_up`); their messages
        arrive on the pull inbox and wait in :attr:`_pulled`. So a message stored while the
        node is busy is on its way at once, and a request that expires or fills up is
        replaced without waiting for the node. (nats-py's ``fetch`` waits for every message of
        a batch with a timer of its own, at three times the CPU per message, and its request
        lives only as long as the call.) Messages not yet handed over are redelivered by the
        server after ``ack_wait`` if the node dies, like any unacknowledged one.
        """
        self._window = max(self._window, batch)
        if not self._pulled and timeout_s > 0:
            await self._top_up()
            if not self._pulled:  # (the request may have let some in)
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), timeout=timeout_s)
        out: list[Msg] = []
        pulled = self._pulled
        while pulled and len(out) < batch:
            out.append(pulled.popleft())
        await self._top_up()
        return out

    async def _top_up(self) -> None:
        """Ask for more messages once the open requests' credit and the messages not yet
        handed over fall to half the window: one request for the rest of the window, open for
        :data:`PULL_EXPIRES_S`. The server ends a request by filling it or with a status notice
        saying how much it still owed (:meth:`_on_pulled`); a notice lost with the connection
        (a reconnect, :meth:`_on_reconnected`) or never sent cannot hold the credit beyond the
        last request's expiry and slack, when the bus asks again by itself
        (:meth:`_pull_deadline`)."""
        if self._credit and time.monotonic() >= self._pull_until:
            self._credit = 0
        want = self._window - self._credit - len(self._pulled)
        if want < self._window // 2 or not self.connected or self._closing:
            return
        self._credit += want
        self._pull_until = time.monotonic() + PULL_EXPIRES_S + PULL_SLACK_S
        if self._pull_timer is not None:
            self._pull_timer.cancel()
        self._pull_timer = asyncio.get_running_loop().call_later(
            PULL_EXPIRES_S + PULL_SLACK_S, self._pull_deadline
        )
        request = b'{"batch":%d,"expires":%d}' % (want, int(PULL_EXPIRES_S * 1e9))
        try:
            await self._nc.publish(self._next_subject, request, reply=self._pull_inbox)
        except nats.errors.Error:
            self._credit -= want  # not sent: the connection is going down

    def _pull_deadline(self) -> None:
        """The last request is past its expiry and slack and no notice has settled what the
        requests owed: ask again now, not at the node's next receive(). nats-server 2.9 drops
        a request that expires just as a message is stored without a notice (seen under CPU
        load: neither the message nor a 408 came, and the message waited for receive())."""
        self._pull_timer = None
        if self._credit and (self._renewal is None or self._renewal.done()):
            self._renewal = asyncio.ensure_future(self._top_up())
            self._renewal.add_done_callback(self._renewal_ended)

    def _renewal_ended(self, task: asyncio.Future[None]) -> None:
        # No one awaits the timer's renewal: what it raised (beyond the NATS errors _top_up
        # handles) is collected in ``errors``, not left to asyncio's "never retrieved" log.
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.errors.append(f"pull renewal: {type(exc).__name__}: {exc}")

    async def _on_pulled(self, msg: Msg) -> None:
        headers = msg.headers
        if headers and not msg.reply and not msg.data and "Status" in headers:
            # The server's notice on a pull request. Only the server's own has no reply: a
            # stored message (a partner may store an empty one with a Status header) carries
            # its $JS.ACK subject and goes on to receive(), which terminates and records what
            # does not parse. 408: expired, owing Nats-Pending-Messages, replaced at once.
            # Anything else ends every request (how much they owed is not said; 409: the
            # consumer is gone or its limits are reached, 503: no consumer at all): the next
            # receive() asks again, so a server that keeps refusing is asked only as often as
            # the node calls receive(), never in a loop of notices and requests.
            status, owed = headers["Status"], headers.get("Nats-Pending-Messages")
            if status == "408" and owed is not None and owed.isdigit():
                self._credit = max(0, self._credit - int(owed))
                await self._top_up()
            elif status != "100":  # (100: an idle heartbeat, not asked for)
                self._credit = 0
            return
        cseq = _sequences(msg.reply)[1]
        if cseq > self._last_cseq + 1:  # deliveries lost on the way (a reconnect)
            self._unseen_upto = max(self._unseen_upto or 0, cseq - 1)
        self._last_cseq = max(self._last_cseq, cseq)
        if self._credit:
            self._credit -= 1
        self._pulled.append(msg)
        self._arrived.set()

    async def _heartbeat(self, msg: Msg) -> None:
        # Kept after the reports of the same fetch (the node enters those before it reads the
        # heartbeats): a heartbeat never overtakes a report it vouches for.
        await msg.ack()
        try:
            beat = Heartbeat.model_validate_json(msg.data)
            origin, dest, _, node = parse_subject(msg.subject)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            self.errors.append(f"malformed heartbeat on {msg.subject}: {exc}")
            return
        if node == self._node_id:
            return  # our own, for our nation's other nodes
        if self._sources is None:
            self._sources = frozenset(report_sources(self._agreement, self._node_id, time.time()))
        if (
            beat.node != node
            or dest != self._nation
            or node not in self._sources
            or self._agreement.node(node).nation != origin
        ):
            self.errors.append(f"heartbeat on {msg.subject} refused (not from a source)")
            return
        if self._unseen_upto is None:
            keep_latest(self.heartbeats, node, beat.time)
            return
        # Deliveries before it may still come back (module docstring): the partner is alive
        # (-inf moves no clock), its watermark waits for the ack floor.
        keep_latest(self.heartbeats, node, -math.inf)
        self._held.append((_sequences(msg.reply)[0], node, beat.time))

    async def _admit(self, msg: Msg) -> Delivery | None:
        try:
            envelope = Envelope.from_bytes(msg.data, source=msg.subject)
        except InputError as exc:
            self.errors.append(f"malformed envelope on {msg.subject}: {exc}")
            await msg.term()
            return None
        if envelope.origin_node == self._node_id:
            await msg.ack()  # our own copy for our nation's other nodes
            return None
        reason = self._subject_mismatch(msg.subject, envelope)
        decision = (
            Decision(False, None, reason)
            if reason
            else decide(
                envelope.kind,
                envelope.marking,
                envelope.originator,
                self._node_id,
                self._agreement,
                envelope.time,
            )
        )
        if not decision.allowed:
            event = BusEvent("dropped", self._node_id, envelope.origin_node, envelope, decision)
            self.dropped.append(event)
            self._emit(event)
            await msg.ack()
            return None
        self._emit(BusEvent("received", self._node_id, envelope.origin_node, envelope, decision))
        return Delivery(envelope, decision, (envelope.origin_node, self._node_id), msg.ack)

    def _subject_mismatch(self, subject: str, envelope: Envelope) -> str | None:
        # The server authenticated the subject (publish permissions); the envelope is only what
        # the publisher wrote, so the two must agree.
        try:
            origin, dest, kind, node = parse_subject(subject)
        except ValueError as exc:
            return str(exc)
        if (origin, dest, kind, node) != (
            envelope.originator,
            self._nation,
            envelope.kind,
            envelope.origin_node,
        ):
            return f"subject {subject} does not match the envelope it carries"
        return None

    async def close(self) -> None:
        self._closing = True
        if self._pull_timer is not None:
            self._pull_timer.cancel()
            self._pull_timer = None
        if self._renewal is not None and not self._renewal.done():
            self._renewal.cancel()
            # (wait(), not await: the renewal's CancelledError stays in its task, and one of
            # close() itself, a timeout around the shutdown, is not mistaken for it.)
            await asyncio.wait([self._renewal])
        if self._nc is None or self._nc.is_closed:
            return
        # Flush so that acknowledgements already given reach the server, then close. (Not
        # drain(): draining a pull subscription waits for a reply that never comes.)
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self._nc.flush(timeout=2)
        await self._nc.close()


async def provision(
    agreement: Agreement,
    servers: str | Sequence[str],
    admins: Mapping[str, tuple[str, str]],
    *,
    ack_wait_s: float = 30.0,
    timeout_s: float = 5.0,
) -> list[str]:
    """Create each nation's stream and each of its nodes' durable consumers; returns one line
    per object (created, updated or kept).

    ``admins``: ``{nation: (user, password)}`` of the nations to provision, the
    administrators of :func:`kizuna.sharing.natsconfig.admin_user`. Run it once before the
    nodes start: a node creates only its own nation's stream, and a copy published to a nation
    whose stream does not exist yet is not acknowledged (the sender holds it and tries again).
    Idempotent: an existing consumer is kept as it is (its ``ack_wait`` and start position
    included), an existing stream is updated to the agreement's subjects.
    """
    from kizuna.sharing.natsconfig import admin_user

    done: list[str] = []
    urls = [servers] if isinstance(servers, str) else list(servers)
    for nation, (user, password) in sorted(admins.items()):
        nodes = agreement.nodes_of(nation)  # an unknown nation fails here
        try:
            nc = await nats.connect(
                servers=urls,
                user=user,
                password=password,
                name=f"kizuna-provision-{nation}",
                inbox_prefix=inbox_prefix(admin_user(nation)).encode(),
                connect_timeout=timeout_s,
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )
        except (nats.errors.Error, OSError) as exc:
            raise TransportError(
                f"{nation}: cannot connect to {servers} as {user}: {exc}"
            ) from None
        try:
            js = nc.jetstream(timeout=timeout_s)
            created = await _ensure_stream(js, nation)
            done.append(f"{nation}: stream {STREAM} {'created' if created else 'updated'}")
            for node in sorted(nodes, key=lambda n: n.id):
                _, created = await _ensure_consumer(js, node.id, nation, None, ack_wait_s)
                done.append(
                    f"{nation}: consumer {consumer_name(node.id)} "
                    + ("created" if created else "kept")
                )
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            raise TransportError(f"{nation}: provisioning as {user} failed: {exc}") from None
        finally:
            await nc.close()
    return done


async def _ensure_stream(js: Any, nation: str) -> bool:
    """Create ``nation``'s stream, or update it to :func:`stream_subjects` (a stream made by an
    earlier version also captured what the nation sent to others: no longer, see there);
    returns whether it was created."""
    config = StreamConfig(
        name=STREAM,
        subjects=stream_subjects(nation),
        duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)
        return True
    await js.update_stream(config)
    return False


async def _ensure_consumer(
    js: Any, node_id: str, nation: str, deliver_from: float | None, ack_wait_s: float
) -> tuple[ConsumerInfo, bool]:
    """The node's durable consumer as it is (an existing one is kept, its start position and
    ``ack_wait`` included), created first if missing; and whether it was created."""
    try:
        return await js.consumer_info(STREAM, consumer_name(node_id)), False
    except nats.js.errors.NotFoundError:
        config = _consumer_config(node_id, nation, deliver_from, ack_wait_s)
        return await js.add_consumer(STREAM, config), True


def _sequences(reply: str | None) -> tuple[int, int]:
    """(stream, consumer) sequence of a JetStream delivery from its ack subject
    (``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``, or the
    12-token form with domain and account hash); (0, 0) for anything else."""
    tokens = reply.split(".") if reply else []
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[6])
    if len(tokens) >= 11 and tokens[0] == "$JS":
        return int(tokens[7]), int(tokens[8])
    return 0, 0


def _consumer_config(
    node_id: str, nation: str, deliver_from: float | None, ack_wait_s: float = 30.0
) -> ConsumerConfig:
    # Exactly one filter subject: nats-server 2.9 silently ignores the 2.10 `filter_subjects`
    # list and would deliver the whole stream.
    config = ConsumerConfig(
        durable_name=consumer_name(node_id),
        ack_policy=AckPolicy.EXPLICIT,
        filter_subject=consumer_filter(nation),
        ack_wait=ack_wait_s,
        max_ack_pending=20_000,
    )
    if deliver_from is None:
        config.deliver_policy = DeliverPolicy.ALL
    else:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = datetime.fromtimestamp(deliver_from, tz=UTC)
    return config


__all__ = [
    "DUPLICATE_WINDOW_S",
    "NatsBus",
    "PermissionRefusedError",
    "TransportError",
    "msg_id",
    "provision",
]
