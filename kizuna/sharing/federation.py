"""Laptop mode: every node of an agreement in one process, fed by a scenario's sensors.

:func:`run_laptop` is the machinery of ``kizuna run`` (and ``kizuna demo``): one
:class:`~kizuna.sharing.bus.InProcessHub`, one :class:`~kizuna.sharing.node.Node` per node of the
agreement, and one clock. The clock advances in ticks of ``tick_s`` of scenario time; at each
tick ``T`` the runner

1. hands every report that its sensor delivers by ``T`` (``available_s``) to the node that owns
   the sensor (:func:`~kizuna.sharing.node.sensor_owner`), which stores, records and publishes it;
2. lets every node take in what the bus delivered to it;
3. ticks every node's pipeline to ``T`` (steps up to ``T - lag``), publishing what it derives.

Nodes act in a fixed order within a tick and the in-process bus delivers synchronously, so a run
is deterministic and independent of ``speed``: ``speed`` only paces the ticks against the wall
clock (1 = real time, 10 = ten times faster, 0 = as fast as possible).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kizuna.contract import parse_report, read_reports
from kizuna.errors import ConfigError, InputError
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.bus import BusEvent, InProcessHub
from kizuna.sharing.node import AnyReport, AuditSink, Node, NodeStore, sensor_owner
from kizuna.sharing.watermark import HEARTBEAT_KEEPALIVE_S
from kizuna.warning.pipeline import Pipeline

FeedItem = tuple[float, AnyReport]
"""``(available_s, report)``: when the sensor delivers the report (POSIX s), and the report."""


def scenario_feed(sim: Any) -> list[FeedItem]:
    """The reports of a :class:`kizuna.sensors.simulate.Simulation` in delivery order."""
    items = [
        (float(obs.available_s), parse_report(report))
        for obs, report in zip(sim.observations, sim.reports, strict=True)
    ]
    items.sort(key=lambda item: (item[0], item[1].t, item[1].id))
    return items


def assign_owners(agreement: Agreement, feed: Sequence[FeedItem]) -> dict[str, str]:
    """``{sensor id: node id}`` for every sensor of the feed."""
    owners: dict[str, str] = {}
    for _, report in feed:
        sensor = report.sensor
        if sensor.id not in owners:
            owners[sensor.id] = sensor_owner(
                agreement, sensor.nation, sensor.lat, sensor.lon, sensor.alt_m, report.t
            )
    return owners


@dataclass
class LaptopRun:
    """Every node of one in-process run (what :func:`build_laptop` built and :func:`drive`
    drove). ``make_node(node_id)`` builds a node afresh over the same store, record and audit
    (a restart: see :func:`restart_node`)."""

    agreement: Agreement
    hub: InProcessHub
    nodes: dict[str, Node]
    owners: dict[str, str]
    make_node: Callable[[str], Node]
    clock_s: float = -math.inf
    ticks: int = 0
    wall_s: float = 0.0
    refused: list[BusEvent] = field(default_factory=list)


def build_laptop(
    agreement: Agreement,
    *,
    open_store: Callable[[str], NodeStore],
    open_audit: Callable[[str], AuditSink | None] | None = None,
    record_dir: str | Path | None = None,
    views: Mapping[str, Any] | None = None,
    owners: Mapping[str, str] | None = None,
    on_received: Any | None = None,
    lag_s: float = 3.0,
    make_pipeline: Callable[[str], Pipeline] | None = None,
) -> LaptopRun:
    """One hub and one node per node of the agreement (not yet running).

    ``make_pipeline(node_id)``: each node's pipeline (default :class:`Pipeline`'s defaults;
    tests pass a cheaper predictor).
    """
    nodes: dict[str, Node] = {}
    run: LaptopRun

    def observe(event: BusEvent) -> None:
        if event.kind in ("refused", "dropped"):
            run.refused.append(event)
        node = nodes.get(event.node)
        if node is not None:
            node.bus_event(event)

    hub = InProcessHub(agreement, observer=observe)
    record = Path(record_dir) if record_dir is not None else None

    def make_node(node_id: str) -> Node:
        return Node(
            node_id,
            agreement,
            hub.connect(node_id),
            open_store(node_id),
            pipeline=make_pipeline(node_id) if make_pipeline is not None else None,
            audit=open_audit(node_id) if open_audit is not None else None,
            record=record / f"{node_id}.jsonl" if record is not None else None,
            view=(views or {}).get(node_id),
            owners=run.owners if run is not None else owners,
            on_received=on_received,
            lag_s=lag_s,
        )

    run = None  # type: ignore[assignment]
    for node_id in agreement.node_ids:
        nodes[node_id] = make_node(node_id)
    run = LaptopRun(agreement, hub, nodes, dict(owners or {}), make_node)
    return run


async def restart_node(run: LaptopRun, node_id: str) -> Node:
    """Replace ``node_id`` by a fresh node over its store, record and audit, recovered to the
    run's clock: what a process restarted after a crash does. The old node is dropped without
    closing anything it had not made durable (its store is closed to release the file)."""
    old = run.nodes[node_id]
    if old.recorder is not None:
        old.recorder.close()
    await old.store.close()
    node = run.make_node(node_id)
    run.nodes[node_id] = node
    clock = run.clock_s if math.isfinite(run.clock_s) else None
    await node.recover(clock_s=clock)
    return node


async def drive(
    run: LaptopRun,
    feed: Sequence[FeedItem],
    *,
    speed: float = 0.0,
    tick_s: float = 0.25,
    on_tick: Callable[[float], Any] | None = None,
) -> LaptopRun:
    """Deliver ``feed`` at scenario time scaled by ``speed``, then finish every node."""
    if speed < 0 or not math.isfinite(speed):
        raise ConfigError(f"speed must be >= 0; got {speed}", field="--speed")
    if not feed:
        return run
    owners = run.owners
    owners.update(assign_owners(run.agreement, feed))
    for node in run.nodes.values():
        node.owners.update(owners)
    order = sorted(run.nodes)
    t0 = math.floor(feed[0][0] / tick_s) * tick_s
    end = feed[-1][0]
    wall0 = time.monotonic()
    i = 0
    tick = t0
    while i < len(feed) or tick <= end:
        tick += tick_s
        if speed > 0:
            delay = wall0 + (tick - t0) / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        batches: dict[str, list[AnyReport]] = {}
        while i < len(feed) and feed[i][0] <= tick:
            report = feed[i][1]
            batches.setdefault(owners[report.sensor.id], []).append(report)
            i += 1
        await run_tick(run, tick, batches)
        if on_tick is not None:
            result = on_tick(tick)
            if asyncio.iscoroutine(result):
                await result
    for node_id in order:
        await run.nodes[node_id].finish()
    for _ in range(2):  # products of the last steps, then nothing more
        for node_id in order:
            await run.nodes[node_id].drain()
    run.wall_s = time.monotonic() - wall0
    return run


async def run_tick(run: LaptopRun, tick: float, batches: Mapping[str, list[AnyReport]]) -> None:
    """One tick of the laptop clock: accept each node's batch, deliver, step to ``tick``."""
    # Each phase runs the nodes concurrently: their stores commit (fsync) on their own threads
    # at the same time. A node's products depend only on which reports it holds when a step
    # runs, and every phase ends before the next starts, so the concurrency changes the order
    # of lines in the records and audit logs, never their content.
    nodes = [run.nodes[node_id] for node_id in sorted(run.nodes)]
    await asyncio.gather(*(n.accept(batches[n.node_id]) for n in nodes if n.node_id in batches))
    await asyncio.gather(*(n.drain() for n in nodes))
    await asyncio.gather(*(n.tick(tick) for n in nodes))
    run.clock_s = tick
    run.ticks += 1


def read_feed(path: str | Path) -> list[AnyReport]:
    """Contract reports, one JSON object a line (``kizuna simulate --out``), sorted by time.

    Raises :class:`InputError` naming the line of the first malformed report.
    """
    text = Path(path).read_text("utf-8").splitlines()
    reports: list[AnyReport] = []
    for line_no, item in read_reports(text, source=str(path)):
        if isinstance(item, InputError):
            raise InputError(f"line {line_no}: {item}", source=str(path))
        reports.append(item)
    reports.sort(key=lambda r: (r.t, r.id))
    return reports


CATCH_UP_SLICE_S = 0.1
"""Wall seconds of steps :func:`serve_node` runs before it goes round its loop again (bus,
outbox, heartbeat) while steps are due: a catch-up after an outage holds the event loop for
at most this and the step it ends on (:mod:`kizuna.sharing.node`, "Catching up"). Each slice
costs one round of the loop, well under 1% of it."""

FINISH_PUBLISH_WAIT_S = 10.0
"""At most this long a node stopping with ``finish_on_stop`` retries publishing its last
products (the transport may be reconnecting); what is left then stays in its store and record."""


async def serve_node(
    node: Node,
    *,
    feed: Sequence[AnyReport] = (),
    feed_t0_s: float | None = None,
    speed: float = 1.0,
    start_at_s: float | None = None,
    exit_after_idle_s: float | None = None,
    poll_s: float = 0.25,
    stop: asyncio.Event | None = None,
    finish_on_stop: bool = False,
    feed_end_s: float | None = None,
    recover: bool = False,
) -> bool:
    """Run one federated node until ``stop`` is set (or it has been idle long enough).

    ``feed``: this node's own sensors' reports. Report ``r`` is accepted when the wall clock
    reaches ``start_at_s + (r.t - feed_t0_s) / speed`` (``speed`` 0: at once); nodes started
    with the same ``start_at_s`` and ``feed_t0_s`` replay one scenario together, and a node
    restarted late accepts what is already due at once (what it had stored comes back as
    duplicates, which change nothing). Meanwhile the node takes in what the bus delivers and
    re-publishes what the transport could not take.

    Sources clock (a node built with ``clock="sources"``, :mod:`kizuna.sharing.watermark`):
    the feed's watermark is its scenario clock, ``feed_t0_s + (now - start_at_s) * speed``,
    kept below the next report not yet due and capped at ``feed_end_s`` (default the last own
    report; give every node the end of the whole feed so that all stop at the same data time).
    A node without a feed has no watermark (it never holds its partners back). After each
    batch the node advances its clock (:meth:`~Node.advance`) and it publishes a heartbeat
    whenever the watermark enters a new step of data time, or :data:`HEARTBEAT_KEEPALIVE_S`
    after the last one, once its outbox is empty. The steps the clock allows run in slices of
    :data:`CATCH_UP_SLICE_S`, the loop going round between them, so a node catching up on a
    backlog keeps sending heartbeats and taking in what the bus delivers.

    ``recover``: first rebuild the node from its store (:meth:`Node.recover`, a restart), in
    slices of :data:`CATCH_UP_SLICE_S` as well, the loop going round between them as in a
    catch-up except that the clock does not advance: what the feed and the bus bring is
    stored, published and acknowledged at once, and entered after the stored reports
    (:meth:`Node.ingest`), so the heartbeats move the partners' clocks on the node during the
    replay as they would after it. :meth:`Node.finish` runs in slices too; between those the
    loop publishes what waits in the outbox and sends heartbeats but takes nothing in (a
    report entered in the middle of the finish could change what it derives).

    End of run. ``exit_after_idle_s``: once the feed is done, nothing waits to be published
    and no report (own or a partner's) arrived for that long while the bus was connected, the
    run is over: the node runs :meth:`Node.finish` (the steps still within its lag, the closing
    of open alerts) and publishes what that derives, durably (each copy acknowledged by its
    stream, retried from the outbox like any other), then keeps serving until nothing at all
    arrived for that long, so that it also takes in its partners' last products, and returns.
    Partners' tracks, predictions and alerts do not hold a node's finish back (they do not
    enter its pipeline): if they did, one node's last products would restart every partner's
    wait, and the node that finished first would leave a wait's length before the others
    finished, without their last products. ``finish_on_stop``: a
    ``stop`` after the feed is done also finishes (publishing for at most
    :data:`FINISH_PUBLISH_WAIT_S`). By default a stop does not: a node stopped for maintenance
    and restarted must not have closed alerts that are still in force (a restart re-derives
    from its store, it cannot take back what it published). With the sources clock a node is
    not idle while it waits for a partner's heartbeat. Returns whether it finished.
    """
    if speed < 0 or not math.isfinite(speed):
        raise ConfigError(f"speed must be >= 0; got {speed}", field="--speed")
    reports = sorted(feed, key=lambda r: (r.t, r.id))
    t0 = feed_t0_s if feed_t0_s is not None else (reports[0].t if reports else 0.0)
    start = start_at_s if start_at_s is not None else time.time()
    stop = stop if stop is not None else asyncio.Event()
    end = feed_end_s if feed_end_s is not None else (reports[-1].t if reports else None)
    last_activity = time.monotonic()
    finished = False
    beat = _Beat()
    i = 0

    async def between_slices() -> None:
        """A round of the loop between two slices of a finish: the outbox, the heartbeat (of
        what was entered: nothing new meanwhile), and the other tasks."""
        if node.has_outbox:
            await node.flush_outbox()
        if node.sources is not None:
            await beat.send(node, feed_watermark(reports, i, t0, start, speed, time.time(), end))
        await asyncio.sleep(0.001)  # (not 0: see the catch-up below)

    if recover:
        await node.recover(budget_s=CATCH_UP_SLICE_S)
    while not stop.is_set():
        if node.finishing:
            await node.finish(budget_s=CATCH_UP_SLICE_S)
            finished = not node.finishing
            await between_slices()
            last_activity = time.monotonic()
            continue
        # Own reports due now and whatever the bus has, entered together (Node.ingest).
        now = time.time()
        j = i
        while j < len(reports) and (speed == 0 or start + (reports[j].t - t0) / speed <= now):
            j += 1
        if j < len(reports):
            wait = min(poll_s, max(0.0, start + (reports[j].t - t0) / speed - now))
        else:
            wait = poll_s
        if node.has_steps_due or node.recovering:
            wait = 0.0  # catching up: take what is there, then the next slice
        elif j > i:
            wait = 0.01
        else:
            wait = max(wait, 0.01)
        deliveries = await node.bus.receive(max_messages=512, timeout_s=wait)
        if j > i or deliveries:
            await node.ingest(reports[i:j], deliveries)
            if j > i or finished or any(d.envelope.kind == "report" for d in deliveries):
                last_activity = time.monotonic()
            i = j
        left = await node.flush_outbox() if node.has_outbox else 0
        if node.recovering:
            # The replay's next slice (what came meanwhile waits behind it); the clock stays.
            await node.recover(budget_s=CATCH_UP_SLICE_S)
            last_activity = time.monotonic()  # a replay is not idle
        if node.sources is not None:
            mark = feed_watermark(reports, j, t0, start, speed, now, end)
            if not node.recovering:
                await node.advance(mark, budget_s=CATCH_UP_SLICE_S)
            await beat.send(node, mark)
            if node.waiting_for or node.has_steps_due:
                last_activity = time.monotonic()  # waiting for a partner is not idle
        if node.has_steps_due or node.recovering:
            # Let the connection's reader, the store's callbacks and the other tasks run
            # before the next slice. Not sleep(0): the loop runs what was ready before it
            # looks for I/O and timers, so this task would run a second slice first.
            await asyncio.sleep(0.001)
        if not getattr(node.bus, "connected", True):
            last_activity = time.monotonic()  # cut off is not idle: wait for the link
        if (
            exit_after_idle_s is not None
            and i == len(reports)
            and left == 0
            and time.monotonic() - last_activity >= exit_after_idle_s
        ):
            if finished:
                return True
            # Published like any product: a copy the transport does not take now waits in
            # the outbox, and the loop does not end while the outbox holds anything.
            await node.finish(budget_s=CATCH_UP_SLICE_S)
            finished = not node.finishing
            last_activity = time.monotonic()
    if finish_on_stop and not finished and i == len(reports) and not node.recovering:
        await node.finish(budget_s=CATCH_UP_SLICE_S)
        while node.finishing:
            await between_slices()
            await node.finish(budget_s=CATCH_UP_SLICE_S)
        finished = True
        deadline = time.monotonic() + FINISH_PUBLISH_WAIT_S
        while node.has_outbox and time.monotonic() < deadline:
            if await node.flush_outbox():
                await asyncio.sleep(poll_s)
    return finished


def feed_watermark(
    reports: Sequence[AnyReport],
    due: int,
    t0: float,
    start: float,
    speed: float,
    now: float,
    end: float | None,
) -> float | None:
    """The own feed's watermark at wall time ``now`` (POSIX s): every report with ``time <=``
    it is among the first ``due`` of ``reports`` (sorted by time), which the runner entered.

    The scenario clock ``t0 + (now - start) * speed`` (``speed`` 0: the end), kept strictly
    below the first report not yet due (rounding must not vouch for it) and at most ``end``
    (the end of the whole feed: past it the watermark stops, so a node's last steps do not
    depend on when it is stopped). None without a feed (``end`` None).
    """
    if end is None:
        return None
    mark = end if speed == 0 else min(end, t0 + (now - start) * speed)
    if due < len(reports):
        mark = min(mark, math.nextafter(reports[due].t, -math.inf))
    return mark


@dataclass
class _Beat:
    """When :func:`serve_node` sends the next heartbeat: on entering a new step of data time,
    or :data:`HEARTBEAT_KEEPALIVE_S` after the last one."""

    step: float = -math.inf
    sent_at: float = -math.inf

    async def send(self, node: Node, mark: float | None) -> None:
        step = math.floor(mark / node.step_s) if mark is not None else math.inf
        now = time.monotonic()
        if step == self.step and now - self.sent_at < HEARTBEAT_KEEPALIVE_S:
            return
        if await node.publish_heartbeat(mark):
            self.step, self.sent_at = step, now


async def close_laptop(run: LaptopRun) -> None:
    for node in run.nodes.values():
        await node.close()


__all__ = [
    "CATCH_UP_SLICE_S",
    "FINISH_PUBLISH_WAIT_S",
    "FeedItem",
    "LaptopRun",
    "assign_owners",
    "build_laptop",
    "close_laptop",
    "drive",
    "feed_watermark",
    "read_feed",
    "restart_node",
    "run_tick",
    "scenario_feed",
    "serve_node",
]
