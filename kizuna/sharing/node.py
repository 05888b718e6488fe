"""A node: one command's runtime, the same in laptop mode and in the federation.

A :class:`Node` holds the state of one command of the agreement: its id, the agreement, its bus
(:class:`~kizuna.sharing.bus.Bus`), its durable store (:class:`~kizuna.store.AsyncStore`), its
:class:`~kizuna.warning.pipeline.Pipeline`, its hash-chained :class:`~kizuna.store.AuditLog`,
its record file and, optionally, the operators' view of its picture.

What enters a node
    * **Its own sensors' reports** (:meth:`Node.accept`). A sensor belongs to exactly one node:
      :func:`sensor_owner` gives the node of the sensor's nation nearest to the sensor (a
      sensor in space, above :data:`SPACE_ALT_M`, belongs to the head of that nation's command
      structure, e.g. INDOPACOM). A caller may override it with an explicit ``{sensor id: node}``
      map. A report of a sensor the node does not own is refused (:class:`PolicyError`).
      Accepting means: stored durably (the store commits with fsync), *then* acknowledged
      (``accept`` returns), then recorded, audited and published on the bus.
    * **What partners release to it** over the bus: raw reports enter its pipeline like its own;
      tracks, predictions and alerts of other nodes are kept in its picture (recorded, audited,
      stored, handed to the view) but *not* fused into its own tracks. (Fusing them as position
      inputs would make every node's picture depend on every other's and on message timing;
      the partner's track is shown beside the node's own instead.)

What a node produces
    Its pipeline's tracks, predictions and alerts, each re-marked with
    :func:`~kizuna.sharing.policy.remark_product` for the node's nation, recorded, stored,
    audited and published; the bus routes them (every hop a policy decision).

The record (``--record DIR`` -> ``DIR/<node-id>.jsonl``)
    One line per product the node received or produced, the contract object plus ``product``
    (``report|track|prediction|alert``) and ``origin_node``. Every line passes
    :func:`~kizuna.sharing.policy.decide` for this node before it is written (the file is an
    egress); each product version (:attr:`Envelope.id`) is written once, also across restarts
    (the file is re-read on open, a line torn by a crash is cut off).

Determinism (why the clock is a grid)
    The pipeline is driven in steps of ``step_s`` of *data* time: step ``B`` (a multiple of
    ``step_s``) hands the tracker every pending report with ``time <= B`` in ``(time, id)``
    order, processes exactly those and ticks the alert engine at ``B``. A step runs once the
    node's data clock (the *watermark*) reaches ``B + lag_s``. So a node's products depend only
    on which reports it had when each step ran, never on how messages were batched or
    interleaved. The watermark is given by the caller (laptop mode: the scenario clock,
    :meth:`Node.tick`), or is the latest report time the node has accepted, advanced after
    every single report (:meth:`Node.accept` / :meth:`Node.pump` with ``auto_clock=True``), or,
    in the federation, the slowest of the node's sources (below). A report older than a step
    already run is *late*: kept, recorded and shared, but the tracker drops it (it cannot go
    back in time).

    The clocks are the node's ``clock`` mode: ``"external"`` (laptop: only :meth:`tick`
    moves it), ``"data"`` (every report entered moves it) or ``"sources"`` (``kizuna node``:
    per-source watermarks, :mod:`kizuna.sharing.watermark`). The data clock runs ahead of a
    partner whose reports are delayed (a link cut longer than ``lag_s``): their reports are then
    late. With ``"sources"`` the clock is the minimum of the own feed's watermark (given by the
    runner, :meth:`Node.advance`) and the heartbeats of every partner whose reports may reach
    the node, so the node waits for a silent partner and runs each step over exactly the
    reports it would have had without the fault; a partner silent for ``partner_timeout_s``
    while holding the clock back is dropped from it, which the node logs and audits. Calls
    that change the node's state (accept, take, tick, advance, finish, recover) are serialised
    by a lock, so a feeder and a bus receiver may run as two tasks of one node.

Catching up (why the steps due are run in slices)
    When a node's clock has been held back (a partner's link cut, its own, a restart) and moves
    on, many steps are due at once: the 180 s of data that a 30 s cut holds back at the fault
    suite's 6x are ~200 steps, 2-4 s with the cheap predictor and 8-10 s with the full one
    (srbm-salvo, 2 shared cores).
    Run in one go they held the event loop that long: the node sent no heartbeat, took nothing
    from the bus and answered nothing of the server's, and partners waiting for its heartbeats
    drop a node silent for their ``partner_timeout_s``. So a runner may give :meth:`Node.advance`
    a wall ``budget_s`` (:func:`~kizuna.sharing.federation.serve_node` does): no step starts
    after it, the rest stay due (:attr:`Node.has_steps_due`) and the runner goes round its loop
    (bus, outbox, heartbeat) before the next slice. The products are the same: a report entered
    between two slices has a time above the clock that made the remaining steps due (a source
    vouches only for what it had sent, the feed only for what was entered), so none of those
    steps takes it, as none would have after a catch-up in one go; the batch's stamp is below
    the next step still to run, so a replay runs the same steps before entering it. (A report
    of a partner dropped from the clock, arriving before the step its time falls in has run, is
    fused instead of late: that run is not equal to a fault-free one anyway.)

    The replay of a restart (:meth:`Node.recover`) and the end of a run (:meth:`Node.finish`)
    take the same ``budget_s`` and run their steps through the same :meth:`Node._tick` (a
    restart with 180 s of srbm-salvo stored replays ~200 steps, 1.2-2.2 s with the cheap
    predictor and ~10 s with the full one: in one go, before the node served, it sent no
    heartbeat meanwhile). Between the replay's slices (:attr:`Node.recovering`) the runner goes
    round its loop but does not advance the clock: what comes is stored, published and
    acknowledged as always and queued behind the stored reports (:meth:`Node.ingest`), since
    entered in the middle of the replay it would go in before stored reports accepted earlier;
    the replay republishes the own stored reports first, so the heartbeats can vouch for the
    feed as it goes on and move the partners' clocks on the node. Between a finish's slices
    (:attr:`Node.finishing`) the runner enters nothing, and the node refuses it (accept, take
    and ingest raise, storing nothing): a report entered then, its time in a step still to
    run, would be fused where the finish in one go, over before it came, leaves it late. So
    the products are those of the one go. A slice still ends only after the step
    it started: 50-90 ms with the cheap predictor, several times that with the full one on a
    loaded machine.

Restart (:meth:`Node.recover`)
    A node killed and restarted rebuilds its pipeline by replaying its store in the order the
    reports were accepted (``received_at_s``, strictly increasing per node batch), which repeats
    the same steps with the same inputs, so it derives the same products. With the data clock
    the replay's clock advances exactly as the live one did. With the external clock the stamp
    *is* the clock: ``received_at_s`` is the node's watermark when the batch entered (plus
    microseconds to keep it increasing), so the replay ticks to each stamp before entering its
    batch, and ``recover(clock_s=...)`` ticks to the runner's clock at the restart. With the
    sources clock the stamp is half a step below the threshold of the next step still to run,
    so the replay runs exactly the steps that had run before each batch; the heartbeats and the
    feed move the clock on after the restart. It republishes its products and its own reports
    (the bus de-duplicates by id: JetStream ``Nats-Msg-Id``), and its durable
    consumer redelivers whatever it had not acknowledged. The record and the receivers drop
    what they already have, so every record ends with each product exactly once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from pydantic import ValidationError

from kizuna.contract import (
    PRODUCT_MODELS,
    AnyProduct,
    AnyReport,
    parse_report,
)
from kizuna.errors import InputError, KizunaError, PolicyError
from kizuna.geo.geodesic import inverse
from kizuna.sharing.agreement import Agreement, Instant
from kizuna.sharing.bus import Bus, BusEvent, Delivery, PublishRefusedError
from kizuna.sharing.envelope import Envelope
from kizuna.sharing.policy import decide, remark_product
from kizuna.sharing.watermark import PARTNER_TIMEOUT_S, SourceClock, report_sources
from kizuna.timefmt import format_time
from kizuna.warning.pipeline import Pipeline

log = logging.getLogger(__name__)

AuditRecord = tuple[str, str, str, str | None, str | None]
"""``(action, kind, key, rule, peer)``: one audit entry (``action``: received/released/refused,
or proceeded/rejoined for a partner dropped from and back in the sources clock)."""
AuditSink = Callable[[list[AuditRecord]], Any]
"""Appends a batch of entries durably (one fsync), e.g. over :class:`kizuna.store.AuditLog`;
it may return a :class:`concurrent.futures.Future` when it writes on a thread of its own."""


class NodeStore(Protocol):
    """What a node needs of its durable store (:class:`kizuna.store.AsyncStore` provides it;
    the store package sits above sharing, so the node takes it by this protocol)."""

    async def put_reports(
        self, reports: Sequence[Any], *, node_id: str = ..., received_at_s: float | None = ...
    ) -> list[bool]: ...

    async def put_products(self, node_id: str, entries: Sequence[Any]) -> list[bool]: ...

    async def reports(self, **filters: Any) -> list[Any]: ...

    async def close(self) -> None: ...


SPACE_ALT_M = 100_000.0
"""A sensor above this altitude (m, WGS84) is in space: it belongs to its nation's head node."""


def sensor_owner(
    agreement: Agreement,
    nation: str,
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    at_time: Instant,
) -> str:
    """The node that ingests a sensor's reports (see the module docstring).

    Ground sensors: the node of ``nation`` nearest the sensor (geodesic distance, WGS84; ties
    by node id). Space sensors: the first node of ``nation`` with no superior in the command
    structure at ``at_time``. Raises :class:`PolicyError` when ``nation`` has no node.
    """
    nodes = agreement.nodes_of(nation)
    if not nodes:
        raise PolicyError(f"nation {nation} has no node in agreement {agreement.name}")
    if alt_m > SPACE_ALT_M:
        for node in sorted(nodes, key=lambda n: n.id):
            if agreement.superior(node.id, at_time) is None:
                return node.id
    best = min(
        nodes,
        key=lambda n: (
            float(inverse(lat_deg, lon_deg, n.location.lat, n.location.lon)[0]),
            n.id,
        ),
    )
    return best.id


def sensor_owners(
    agreement: Agreement, sensors: Iterable[Mapping[str, Any]], at_time: Instant
) -> dict[str, str]:
    """``{sensor id: node id}`` for contract ``sensor`` objects (id, nation, lat, lon, alt_m)."""
    out: dict[str, str] = {}
    for sensor in sensors:
        if sensor["id"] not in out:
            out[sensor["id"]] = sensor_owner(
                agreement,
                sensor["nation"],
                sensor["lat"],
                sensor["lon"],
                sensor["alt_m"],
                at_time,
            )
    return out


def record_line(envelope: Envelope) -> dict[str, Any]:
    """The record form of a product: the contract object, ``product`` and ``origin_node``."""
    return {**envelope.product, "product": envelope.kind, "origin_node": envelope.origin_node}


def record_text(envelope: Envelope) -> str:
    """:func:`record_line` as one compact JSON line (no newline; non-ASCII kept).

    Built from the envelope's encoded product (:attr:`Envelope.product_json`, shared with the
    wire form) by appending the two fields; the same text as dumping :func:`record_line`.
    """
    product = envelope.product
    if product.get("product", envelope.kind) != envelope.kind or "origin_node" in product:
        return json.dumps(record_line(envelope), separators=(",", ":"), ensure_ascii=False)
    key = (envelope.kind, envelope.origin_node, "product" in product)
    tail = _RECORD_TAILS.get(key)
    if tail is None:
        kind = "" if key[2] else f',"product":{json.dumps(envelope.kind)}'
        tail = f'{kind},"origin_node":{json.dumps(envelope.origin_node, ensure_ascii=False)}}}'
        _RECORD_TAILS[key] = tail
    return envelope.product_json[:-1] + tail


_RECORD_TAILS: dict[tuple[str, str, bool], str] = {}
"""What :func:`record_text` appends, per (kind, origin node, product has ``product``)."""


class Recorder:
    """``DIR/<node>.jsonl``: each product version once, every line checked by the policy."""

    def __init__(self, path: str | Path, node_id: str, agreement: Agreement) -> None:
        self.path = Path(path)
        self.node_id = node_id
        self.agreement = agreement
        self.seen: set[str] = set()
        self.refused = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._reload()
        self._handle = self.path.open("a", encoding="utf-8")

    def _reload(self) -> None:
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            # A line torn by a crash: the product was not acknowledged, it will come again.
            with self.path.open("r+b") as handle:
                handle.truncate(cut)
        from kizuna.sharing.envelope import product_key

        for raw in data[:cut].splitlines():
            if raw.strip():
                line = json.loads(raw)
                self.seen.add(product_key(line["product"], line, line["origin_node"]))

    def write(self, envelopes: Iterable[Envelope]) -> int:
        """Append the envelopes not yet recorded that this node may hold; returns how many."""
        lines: list[str] = []
        for envelope in envelopes:
            if envelope.id in self.seen:
                continue
            decision = decide(
                envelope.kind,
                envelope.marking,
                envelope.originator,
                self.node_id,
                self.agreement,
                envelope.time,
            )
            if not decision.allowed:
                self.refused += 1
                continue
            self.seen.add(envelope.id)
            lines.append(record_text(envelope) + "\n")
        if lines:
            # Written and flushed before the caller acknowledges: survives a kill of the
            # process (the page cache keeps it), and the seen-set makes a redelivery harmless.
            self._handle.write("".join(lines))
            self._handle.flush()
        return len(lines)

    def close(self) -> None:
        self._handle.close()


@dataclass
class NodeStats:
    """Counters for summaries and the benchmark."""

    accepted: int = 0
    received: dict[str, int] = field(
        default_factory=lambda: {"report": 0, "track": 0, "prediction": 0, "alert": 0}
    )
    produced: dict[str, int] = field(
        default_factory=lambda: {"track": 0, "prediction": 0, "alert": 0}
    )
    late: int = 0
    duplicates: int = 0
    partners_dropped: int = 0
    """Times a silent partner was dropped from the sources clock (the run is then not equal
    to a fault-free one)."""
    steps: int = 0
    publish_failures: int = 0
    abandoned: int = 0
    """Own products given up because the transport refuses them for good (logged, audited)."""
    ack_failures: int = 0


REPUBLISH_BATCH = 512
"""Own reports a restart's replay republishes in one batch (one round trip over NATS)."""


class _Queued(NamedTuple):
    """A report that came during a restart's replay, queued behind the stored ones: the fields
    of a stored row the replay reads."""

    received_at_s: float
    t: float
    report: AnyReport


def _time_id(report: AnyReport) -> tuple[float, str]:
    return report.t, report.id


class Node:
    """One command's runtime (see the module docstring).

    ``store`` is required (durable before acknowledged); ``audit`` (an :data:`AuditSink`),
    ``record`` (a path) and ``view``
    (anything with ``publish(envelope)``, e.g.
    :class:`kizuna.interfaces.api.MemoryNodeView`) are optional. ``owners`` maps sensor ids to
    their node; sensors missing from it are assigned by :func:`sensor_owner`.
    ``on_received(envelope, delivery_time_s, path)`` is called for every partner product
    handed to the node (``path``: the nodes it crossed, origin first; the benchmark's probe).
    ``clock``: ``"external"`` (the caller ticks, laptop mode), ``"data"`` (the latest report
    time entered is the clock) or ``"sources"`` (the minimum over the own feed and the
    partners' heartbeats, :meth:`advance`; ``partner_timeout_s``: wall seconds after which a
    silent partner holding the clock back is dropped, None never).
    """

    def __init__(
        self,
        node_id: str,
        agreement: Agreement,
        bus: Bus,
        store: NodeStore,
        *,
        pipeline: Pipeline | None = None,
        audit: AuditSink | None = None,
        record: str | Path | None = None,
        view: Any | None = None,
        owners: Mapping[str, str] | None = None,
        step_s: float = 1.0,
        lag_s: float = 3.0,
        on_received: Any | None = None,
        clock: str = "external",
        partner_timeout_s: float | None = PARTNER_TIMEOUT_S,
    ) -> None:
        self.node_id = node_id
        self.agreement = agreement
        self.nation = agreement.node(node_id).nation
        self.bus = bus
        self.store = store
        self.pipeline = pipeline if pipeline is not None else Pipeline()
        self.audit = audit
        self.recorder = Recorder(record, node_id, agreement) if record is not None else None
        self.view = view
        self.owners: dict[str, str] = dict(owners or {})
        self.step_s = float(step_s)
        self.lag_s = float(lag_s)
        self.on_received = on_received
        if clock not in ("external", "data", "sources"):
            raise InputError(
                f"clock must be 'external', 'data' or 'sources'; got {clock!r}", field="clock"
            )
        self.auto_clock = clock == "data"
        self.sources: SourceClock | None = None
        if clock == "sources":
            self.sources = SourceClock(
                report_sources(agreement, node_id, time.time()),
                timeout_s=partner_timeout_s,
            )
        self.stats = NodeStats()
        self._lock = asyncio.Lock()
        self._pending: list[tuple[float, str, AnyReport]] = []
        self._next_step: float | None = None
        self._watermark = -math.inf
        self._last_received_at = 0.0
        self._audit_buffer: list[AuditRecord] = []
        self._behind: list[asyncio.Future[Any]] = []
        self._outbox: list[Envelope] = []
        # A restart's replay under way (recover): the stored rows, how many were entered, and
        # the external clock to tick to after them. None: no replay under way.
        self._replay: list[Any] | None = None
        self._replayed = 0
        self._replay_clock: float | None = None
        # Its own stored reports by (time, id), republished first, and how many were.
        self._republish: list[AnyReport] = []
        self._republished = 0
        # finish(): the steps up to this boundary are due whatever the clock; and whether the
        # open alerts are still to be closed by the call that runs the last of them.
        self._finish_until = -math.inf
        self._finishing = False

    # --- ownership ---------------------------------------------------------------------------

    def owns(self, report: AnyReport) -> bool:
        sensor = report.sensor
        owner = self.owners.get(sensor.id)
        if owner is None:
            owner = sensor_owner(
                self.agreement, sensor.nation, sensor.lat, sensor.lon, sensor.alt_m, report.t
            )
            self.owners[sensor.id] = owner
        return owner == self.node_id

    # --- audit (the hub's observer calls bus_event) ------------------------------------------

    def bus_event(self, event: BusEvent) -> None:
        """Record a bus decision of this node in its audit log (buffered until the next flush)."""
        if event.kind not in ("released", "refused", "received"):
            return
        rule = event.decision.rule if event.decision is not None else None
        self._audit_buffer.append(
            (event.kind, event.envelope.kind, event.envelope.id, rule, event.peer)
        )

    def _prune_behind(self) -> None:
        # Forget finished writes; result() raises here if one of them failed.
        self._behind = [f for f in self._behind if not f.done() or f.result() is None]

    def _flush_audit(self) -> None:
        self._prune_behind()
        if self.audit is not None and self._audit_buffer:
            pending = self.audit(self._audit_buffer)
            if isinstance(pending, concurrent.futures.Future):
                # A sink writing on its own thread: close() waits for it.
                self._behind.append(asyncio.wrap_future(pending))
        self._audit_buffer = []

    # --- own sensors ---------------------------------------------------------------------------

    def _stamp(self, times_s: Iterable[float]) -> float:
        # received_at_s strictly increases per batch of a node: with (time, id) inside a batch
        # it is the replay order of a restart. Data clock: wall time. External clock: the
        # watermark the batch entered at (+1 us per batch at one watermark: far below the tick
        # of 0.25 s, so ticking to the stamp on replay runs exactly the steps that had run).
        if self.auto_clock:
            base = time.time()
        elif self.sources is not None and self._next_step is not None:
            # Between the threshold of the last step run and the next one's: ticking to it on
            # replay runs exactly the steps that had run (up to step_s / 2 of 1 us increments).
            base = self._next_step + self.lag_s - self.step_s / 2
        elif self.sources is None and math.isfinite(self._watermark):
            base = self._watermark
        else:  # before the first step: below every step boundary of the batch's reports
            base = min(times_s, default=0.0) - self.lag_s - self.step_s
        now = max(base, self._last_received_at + 1e-6)
        self._last_received_at = now
        return now

    async def accept(
        self, reports: Iterable[AnyReport], *, auto_clock: bool | None = None
    ) -> list[bool]:
        """Accept reports of this node's own sensors: durable, then acknowledged.

        Returns, per report, True when it was new (False: a duplicate id, which changes
        nothing). Raises :class:`PolicyError` for a sensor this node does not own (and stores
        nothing of the batch). The reports are recorded and published after they are durable.
        """
        async with self._lock:
            self._not_recovering("accept")
            self._not_finishing("accept")
            added, fresh = await self._accept(list(reports))
            await self._enter(fresh, self._auto(auto_clock))
            return added

    def _auto(self, auto_clock: bool | None) -> bool:
        return self.auto_clock if auto_clock is None else auto_clock

    async def ingest(self, reports: list[AnyReport], deliveries: list[Delivery]) -> list[bool]:
        """Own reports and partner deliveries that are due together, as one batch: both
        stored under one ``received_at_s``, then entered in ``(time, id)`` order with the data
        clock (what :func:`~kizuna.sharing.federation.serve_node` does). So a node that fell
        behind (a late start, a restart) merges its own backlog with its partners' by time
        instead of letting whichever came first make the other late; a restart replays the
        same batch the same way. Returns :meth:`accept`'s flags for ``reports``.
        """
        async with self._lock:
            self._not_finishing("ingest")
            # The stamp is the batch's, partner reports included: the first batch entered
            # decides the first step, and a partner backlog may be older than the own reports.
            times = [r.t for r in reports]
            times += [d.envelope.time for d in deliveries if d.envelope.kind == "report"]
            stamp = self._stamp(times) if reports or deliveries else None
            added, own = await self._accept(list(reports), stamp=stamp)
            theirs = await self._take(deliveries, stamp=stamp)
            fresh = sorted([*own, *theirs], key=_time_id)
            if self._replay is not None and stamp is not None:
                # A restart's replay under way: stored, published and acknowledged now, entered
                # after the stored reports, as a later replay of the store enters them.
                self._replay.extend(_Queued(stamp, r.t, r) for r in fresh)
            else:
                await self._enter(fresh, self.auto_clock)
            return added

    async def _accept(
        self, batch: list[AnyReport], *, stamp: float | None = None
    ) -> tuple[list[bool], list[AnyReport]]:
        """Store, record, audit and publish own reports; per-report "new" flags and the new
        reports, for the caller to enter into the pipeline."""
        for report in batch:
            if not self.owns(report):
                raise PolicyError(
                    f"node {self.node_id} does not own sensor {report.sensor.id} "
                    f"(its reports enter at {self.owners[report.sensor.id]})"
                )
        added = await self._put_reports(batch, stamp)
        fresh = [r for r, new in zip(batch, added, strict=True) if new]
        self.stats.accepted += len(fresh)
        self.stats.duplicates += len(batch) - len(fresh)
        envelopes = [
            Envelope.of(r, origin_node=self.node_id, agreement=self.agreement) for r in fresh
        ]
        self._record(envelopes)
        for report, envelope in zip(fresh, envelopes, strict=True):
            self._audit_buffer.append(("received", "report", envelope.id, None, report.sensor.id))
        await self._publish_many(envelopes)
        self._flush_audit()
        return added, fresh

    async def _put_reports(
        self, reports: list[AnyReport], stamp: float | None = None
    ) -> list[bool]:
        if not reports:
            return []
        # One transaction (one fsync) per batch, in the canonical order the pipeline uses.
        reports.sort(key=_time_id)
        received = stamp if stamp is not None else self._stamp(r.t for r in reports)
        return await self.store.put_reports(reports, node_id=self.node_id, received_at_s=received)

    @property
    def has_outbox(self) -> bool:
        """Whether envelopes wait to be published again."""
        return bool(self._outbox)

    async def _publish_many(self, envelopes: Sequence[Envelope]) -> None:
        """Publish a batch in order and settle each envelope (:meth:`_settle`). A bus with
        ``publish_many`` (NATS) has every copy in flight at once instead of one round trip
        after another. The products are durable (or derivable) before this; a transport that
        cannot take them now (NATS down, a link cut, a timeout) gets them again from the
        outbox until it does."""
        if not envelopes:
            return
        if not getattr(self.bus, "connected", True):
            self._outbox.extend(envelopes)
            return
        many = getattr(self.bus, "publish_many", None)
        if many is not None:
            results: list[Any] = await many(envelopes)
        else:
            results = []
            for envelope in envelopes:
                try:
                    results.append(await self.bus.publish(envelope))
                except KizunaError as exc:
                    results.append(exc)
        self._settle(envelopes, results)

    def _settle(self, envelopes: Sequence[Envelope], results: Sequence[Any]) -> None:
        """Per envelope of a publication: published, or kept in the outbox to be published
        again (a transient failure: it is retried for as long as it takes, and the node's
        heartbeats stay below its earliest own report still there), or given up because the
        transport refuses it for good (:class:`PublishRefusedError`: logged and audited). Raises
        the first :class:`PolicyError` after settling the others."""
        refusal: PolicyError | None = None
        for envelope, result in zip(envelopes, results, strict=True):
            if isinstance(result, PolicyError):
                refusal = refusal or result
            elif isinstance(result, PublishRefusedError):
                self.stats.publish_failures += 1
                self.stats.abandoned += 1
                log.error(
                    "%s: %s %s given up, never to be published: %s",
                    self.node_id,
                    envelope.kind,
                    envelope.id,
                    result,
                )
                self._audit_buffer.append(
                    ("abandoned", envelope.kind, envelope.id, None, self.node_id)
                )
            elif isinstance(result, KizunaError):
                self.stats.publish_failures += 1
                self._outbox.append(envelope)
            elif isinstance(result, BaseException):
                raise result
        if refusal is not None:
            raise refusal

    async def flush_outbox(self) -> int:
        """Publish again what the transport could not take; returns how many are left.

        While the bus is down nothing is tried. A transient failure (a timeout) keeps the
        envelope for the next call, however often it fails; only a refusal for good
        (:class:`PublishRefusedError`, e.g. the server's permissions) drops it, with a log line and
        an ``abandoned`` audit entry.
        """
        async with self._lock:
            if self._outbox and getattr(self.bus, "connected", True):
                pending, self._outbox = self._outbox, []
                await self._publish_many(pending)
            self._flush_audit()
            return len(self._outbox)

    # --- the bus -----------------------------------------------------------------------------

    async def pump(
        self, *, max_messages: int = 512, timeout_s: float = 0.0, auto_clock: bool | None = None
    ) -> int:
        """Receive one batch from the bus and take it in; returns the number of deliveries."""
        deliveries = await self.bus.receive(max_messages=max_messages, timeout_s=timeout_s)
        if deliveries:
            await self.take(deliveries, auto_clock=auto_clock)
        return len(deliveries)

    async def drain(self, *, auto_clock: bool | None = None) -> int:
        """Take in everything already waiting on the bus (laptop mode)."""
        total = 0
        while True:
            n = await self.pump(timeout_s=0.0, auto_clock=auto_clock)
            if n == 0:
                return total
            total += n

    async def take(self, deliveries: list[Delivery], *, auto_clock: bool | None = None) -> None:
        """Store, record and audit partner products, then acknowledge them; reports go on
        into the pipeline."""
        async with self._lock:
            self._not_recovering("take")
            self._not_finishing("take")
            fresh = await self._take(deliveries)
            await self._enter(fresh, self._auto(auto_clock))

    async def _take(
        self, deliveries: list[Delivery], *, stamp: float | None = None
    ) -> list[AnyReport]:
        """Store, record, audit and acknowledge partner deliveries; the new reports among
        them, for the caller to enter into the pipeline."""
        reports: list[AnyReport] = []
        products: list[tuple[AnyProduct, Envelope, str | None]] = []
        envelopes: list[Envelope] = []
        for delivery in deliveries:
            envelope = delivery.envelope
            # In-process the envelope still holds the validated model it was made from; a
            # report decoded from the wire holds the one validated with its envelope.
            model = envelope.model
            try:
                if envelope.kind == "report":
                    if not isinstance(model, AnyReport):
                        model = parse_report(envelope.product, source=envelope.id)
                    reports.append(model)
                else:
                    product_model = PRODUCT_MODELS[envelope.kind]
                    if not isinstance(model, product_model):
                        model = product_model.model_validate(envelope.product)
                    products.append((model, envelope, delivery.decision.rule))
            except (InputError, ValidationError):
                continue  # acknowledged below all the same: a redelivery would not parse either
            envelopes.append(envelope)
        added = await self._put_reports(reports, stamp)
        new_products: list[Envelope] = []
        if products:
            # Two nodes' trackers may both name a track T1: partner products are kept under
            # "<this node>/<origin node>" so that their store keys never collide.
            by_origin: dict[str, list[tuple[AnyProduct, Envelope, str | None]]] = {}
            for item in products:
                by_origin.setdefault(item[1].origin_node, []).append(item)
            now = time.time()
            for origin, items in by_origin.items():
                stored = await self.store.put_products(
                    f"{self.node_id}/{origin}", [(m, now, rule) for m, _, rule in items]
                )
                new_products += [e for (_, e, _), new in zip(items, stored, strict=True) if new]
        fresh = [r for r, new in zip(reports, added, strict=True) if new]
        self.stats.received["report"] += len(fresh)
        for envelope in new_products:
            self.stats.received[envelope.kind] += 1
        self.stats.duplicates += len(envelopes) - len(fresh) - len(new_products)
        self._record(envelopes)
        self._flush_audit()
        if self.view is not None:
            for envelope in new_products:
                self.view.publish(envelope)
        now = time.time()
        if self.on_received is not None:
            for delivery in deliveries:
                self.on_received(delivery.envelope, now, delivery.path)
        for delivery in deliveries:
            try:
                await delivery.ack()
            except Exception:  # any transport failure means the same thing
                # Stored already: the server redelivers after its ack wait and the store
                # drops the copy as a duplicate. The pipeline still takes the report now.
                self.stats.ack_failures += 1
        return fresh

    def _record(self, envelopes: list[Envelope]) -> None:
        if self.recorder is not None and envelopes:
            self.recorder.write(envelopes)

    # --- the pipeline ------------------------------------------------------------------------

    async def _enter(self, reports: list[AnyReport], auto_clock: bool) -> None:
        pending = self._pending
        for report in reports:
            t = report.t
            heapq.heappush(pending, (t, report.id, report))
            if self._next_step is None:
                self._next_step = math.floor(t / self.step_s) * self.step_s
            if auto_clock and t > self._watermark:
                await self._tick(t)

    async def advance(
        self, own_watermark_s: float | None, *, budget_s: float | None = None
    ) -> list[AnyProduct]:
        """Sources clock: take the own feed's watermark (every own report with ``time <=`` it
        has been entered; None: no feed) and the heartbeats the bus received, drop the
        partners silent for too long, and run the steps the clock now allows.

        Call it after entering what the bus delivered with those heartbeats
        (:meth:`ingest`): a heartbeat vouches for the reports before it. ``budget_s``: wall
        seconds after which no further step is started (None: every step due); the steps
        left stay due (:attr:`has_steps_due`) and the next call goes on with them (see
        "Catching up" in the module docstring).
        """
        clock = self.sources
        if clock is None:
            raise InputError("advance() needs clock='sources'", field="clock")
        async with self._lock:
            self._not_recovering("advance")
            now = time.monotonic()
            clock.feed(own_watermark_s)
            take = getattr(self.bus, "take_heartbeats", None)
            for partner, mark in (take() if take is not None else {}).items():
                if clock.heard(partner, mark, now) == "rejoined":
                    self._partner_event("rejoined", partner)
            for partner in clock.expire(now):
                self.stats.partners_dropped += 1
                self._partner_event("proceeded", partner)
            self._flush_audit()
            effective = clock.effective()
            # (None: a rejoined partner not heard yet; the clock never goes back, and the
            # steps a previous call left due still run.)
            mark = effective if effective is not None else -math.inf
            return await self._tick(mark, budget_s=budget_s)

    def _partner_event(self, action: str, partner: str) -> None:
        # The log says it in words, the audit log keeps it in the node's hash chain.
        at = format_time(self._watermark) if math.isfinite(self._watermark) else "start"
        state = self.sources.partners.get(partner) if self.sources is not None else None
        if action == "proceeded" and state is not None and state.why == "stalled":
            log.warning(
                "%s: the clock of %s has not moved past %s for %.0f s while waiting for it at "
                "%s: proceeding without it; its reports for steps already run will be late "
                "(this run is no longer equal to a fault-free run)",
                self.node_id,
                partner,
                format_time(state.watermark_s) if math.isfinite(state.watermark_s) else "none",
                self.sources.timeout_s if self.sources is not None else 0.0,
                at,
            )
        elif action == "proceeded":
            log.warning(
                "%s: no heartbeat from %s for %.0f s while waiting for it at %s: proceeding "
                "without it; its reports for steps already run will be late (this run is no "
                "longer equal to a fault-free run)",
                self.node_id,
                partner,
                self.sources.timeout_s if self.sources is not None else 0.0,
                at,
            )
        else:
            log.warning(
                "%s: heartbeat from %s again at %s: waiting for it", self.node_id, partner, at
            )
        self._audit_buffer.append((action, "heartbeat", f"heartbeat:{partner}:{at}", None, partner))

    @property
    def waiting_for(self) -> list[str]:
        """Sources clock: the live partners behind the own feed (what the clock waits for)."""
        return self.sources.holding_back() if self.sources is not None else []

    async def publish_heartbeat(self, watermark_s: float | None) -> bool:
        """Send the own feed's watermark to the partners (:mod:`kizuna.sharing.watermark`).

        It vouches only for reports the transport has stored: its clock is kept below the
        earliest own report still in the outbox, and none is sent while the bus is down
        (returns False; the next one will do). A heartbeat the transport refuses is dropped
        the same way.
        """
        send = getattr(self.bus, "publish_heartbeat", None)
        if send is None:
            return False
        async with self._lock:
            if not getattr(self.bus, "connected", True):
                return False
            unpublished = [e.time for e in self._outbox if e.kind == "report"]
            if self._republished < len(self._republish):
                # (A restart's own stored reports not republished yet: perhaps never sent.)
                unpublished.append(self._republish[self._republished].t)
            if unpublished:
                below = math.nextafter(min(unpublished), -math.inf)
                watermark_s = below if watermark_s is None else min(watermark_s, below)
            try:
                await send(watermark_s, time.time())
            except KizunaError:
                return False
            return True

    async def tick(self, watermark_s: float) -> list[AnyProduct]:
        """Run every step ``B`` with ``B + lag_s <= watermark_s``; publish what they derive."""
        async with self._lock:
            self._not_recovering("tick")
            return await self._tick(watermark_s)

    @property
    def has_steps_due(self) -> bool:
        """Whether steps are due that have not run: the clock allows them (a catch-up cut
        short by its budget), or a :meth:`finish` under way runs them."""
        return self._next_step is not None and self._due(self._next_step)

    def _due(self, boundary_s: float) -> bool:
        return boundary_s + self.lag_s <= self._watermark or boundary_s <= self._finish_until

    async def _tick(self, watermark_s: float, *, budget_s: float | None = None) -> list[AnyProduct]:
        """Raise the clock to ``watermark_s`` and run the steps due, for at most ``budget_s``
        wall seconds (no step starts after it; the first always runs); publish what they
        derive. The steps left stay due (:attr:`has_steps_due`)."""
        self._watermark = max(self._watermark, watermark_s)
        out: list[AnyProduct] = []
        if self._next_step is None:
            return out
        until = time.monotonic() + budget_s if budget_s is not None else math.inf
        while self._due(self._next_step):
            out.extend(self._step(self._next_step))
            self._next_step += self.step_s
            if time.monotonic() >= until:
                break
        if out:
            await self._emit(out)
        return out

    def _step(self, boundary_s: float) -> list[AnyProduct]:
        pipeline = self.pipeline
        while self._pending and self._pending[0][0] <= boundary_s:
            _, _, report = heapq.heappop(self._pending)
            if not pipeline.ingest(report):
                self.stats.late += 1
        tracker = pipeline.tracker
        updates = tracker.advance(boundary_s + tracker.config.reorder_window_s)
        self.stats.steps += 1
        return pipeline.derive(updates, boundary_s)

    @property
    def finishing(self) -> bool:
        """Whether a :meth:`finish` cut short by its budget has steps left or alerts to close."""
        return self._finishing

    async def finish(self, *, budget_s: float | None = None) -> list[AnyProduct]:
        """End of a bounded run: run every step due, those the clock allows and every one up
        to the last pending report whatever the clock, then close the open alerts; returns
        what this call derived.

        ``budget_s``: as for :meth:`advance`, wall seconds after which no further step is
        started; the steps left stay due (:attr:`finishing`) and the next call goes on with
        them (the one that runs the last closes the alerts). None: all at once.
        """
        async with self._lock:
            self._not_recovering("finish")
            if not self._finishing:
                self._finishing = True
                if self._next_step is not None and self._pending:
                    last = max(t for t, _, _ in self._pending)
                    self._finish_until = max(self._finish_until, last)
            out = await self._tick(-math.inf, budget_s=budget_s)
            if self.has_steps_due:
                return out
            self._finishing = False
            closing: list[AnyProduct] = list(self.pipeline.alerts.finish())
            if closing:
                await self._emit(closing)
            return out + closing

    async def _emit(self, products: list[AnyProduct]) -> None:
        envelopes: list[Envelope] = []
        entries: list[tuple[AnyProduct, float, str | None]] = []
        now = time.time()
        for product in products:
            marked = remark_product(product, self.nation, self.agreement)
            envelope = Envelope.of(marked, origin_node=self.node_id, agreement=self.agreement)
            envelopes.append(envelope)
            entries.append((marked, now, envelope.marking.released_by))
            self.stats.produced[marked.product] += 1
        # Written behind: the node's own products are derived again from its durable reports
        # by recover(), so nothing waits for this commit (the store's one worker thread keeps
        # it in order, and its fsync overlaps the next step's computation). close() waits.
        self._prune_behind()
        self._behind.append(asyncio.ensure_future(self.store.put_products(self.node_id, entries)))
        self._record(envelopes)
        if self.view is not None:
            for envelope in envelopes:
                self.view.publish(envelope)
        await self._publish_many(envelopes)
        self._flush_audit()

    # --- restart -----------------------------------------------------------------------------

    @property
    def recovering(self) -> bool:
        """Whether a :meth:`recover` cut short by its budget has a replay left to run."""
        return self._replay is not None

    def _not_recovering(self, what: str) -> None:
        # A report entered in the middle of the replay would go in before stored ones that
        # were accepted earlier: the replay would no longer repeat the run it rebuilds.
        if self._replay is not None:
            raise RuntimeError(f"{self.node_id}: {what} while the restart's replay is under way")

    def _not_finishing(self, what: str) -> None:
        # A report entered between two slices of a finish would run in the finish's remaining
        # steps or after the alerts it closes, so the sliced finish would no longer derive what
        # a finish in one go derives. Raised before anything is stored: nothing is
        # acknowledged, so the caller (or the bus, redelivering) offers it again afterwards.
        if self._finishing:
            raise RuntimeError(f"{self.node_id}: {what} while a finish is under way")

    async def recover(self, *, clock_s: float | None = None, budget_s: float | None = None) -> int:
        """Rebuild the pipeline from the store after a restart; returns the number of stored
        reports the replay enters.

        Replays in acceptance order (see the module docstring), re-records and republishes this
        node's own reports and every product derived again (the record and the bus drop what
        they already have). ``clock_s`` (external clock, given with the first call): the
        runner's clock now, ticked to after the replay; the data clock needs none.
        ``budget_s``: as for :meth:`advance`, wall seconds after which no further step or
        report is started; the rest of the replay stays (:attr:`recovering`) and the next call
        goes on with it. It republishes the own reports first, so the node's heartbeats may
        vouch for them early (:meth:`publish_heartbeat` stays below those not yet sent).
        Meanwhile :meth:`ingest` stores, publishes and acknowledges what comes as always and
        queues it behind the stored reports; :meth:`accept`, :meth:`take`, :meth:`tick`,
        :meth:`advance` and :meth:`finish` raise until the replay is over.
        """
        async with self._lock:
            if self._replay is None:
                stored = await self.store.reports(node_id=self.node_id)
                stored.sort(key=lambda row: (row.received_at_s, row.t, row.report.id))
                if stored:
                    self._last_received_at = stored[-1].received_at_s
                self._replay, self._replayed, self._replay_clock = stored, 0, clock_s
                mine = [row.report for row in stored if self.owns(row.report)]
                self._republish, self._republished = sorted(mine, key=_time_id), 0
            total = len(self._replay)
            await self._replay_slice(budget_s)
            return total

    async def _replay_slice(self, budget_s: float | None) -> None:
        """Go on with the replay for at most ``budget_s`` (None: to its end): the own reports
        republished (by time, in batches), then each stored row entered as it was accepted:
        with the external and sources clocks after ticking to its stamp, with the data clock
        before the steps its time allows; those steps run through :meth:`_tick` under the
        same budget, so a slice ends within a step or a batch of it."""
        rows = self._replay
        assert rows is not None
        until = time.monotonic() + budget_s if budget_s is not None else math.inf
        while self._republished < len(self._republish):
            batch = self._republish[self._republished : self._republished + REPUBLISH_BATCH]
            envelopes = [
                Envelope.of(r, origin_node=self.node_id, agreement=self.agreement) for r in batch
            ]
            self._record(envelopes)
            await self._publish_many(envelopes)
            self._republished += len(batch)
            if time.monotonic() >= until:
                self._flush_audit()
                return
        while True:
            if self.has_steps_due:
                await self._tick(-math.inf, budget_s=max(0.0, until - time.monotonic()))
                if self.has_steps_due:
                    break
            if self._replayed == len(rows):
                if self._replay_clock is not None and self._replay_clock > self._watermark:
                    self._watermark = self._replay_clock
                    continue
                self._replay, self._republish, self._republished = None, [], 0
                break
            row = rows[self._replayed]
            if not self.auto_clock and row.received_at_s > self._watermark:
                self._watermark = row.received_at_s  # the steps run before the batch, first
                continue
            self._replayed += 1
            # Entered, then (data clock) the steps its time allows, as _enter runs them live.
            await self._enter([row.report], False)
            if self.auto_clock:
                self._watermark = max(self._watermark, row.t)
            if time.monotonic() >= until:
                break
        self._flush_audit()

    async def close(self) -> None:
        self._flush_audit()
        if self._behind:
            await asyncio.gather(*self._behind)
            self._behind = []
        await self.bus.close()
        await self.store.close()
        if self.recorder is not None:
            self.recorder.close()


__all__ = [
    "SPACE_ALT_M",
    "Node",
    "NodeStats",
    "Recorder",
    "record_line",
    "record_text",
    "sensor_owner",
    "sensor_owners",
]
