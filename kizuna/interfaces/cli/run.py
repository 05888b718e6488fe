"""``kizuna run`` (every node in one process) and ``kizuna node`` (one node over NATS)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from kizuna.interfaces.cli.main import AgreementOption, ScenarioOption, app

REFREEZE_S = 0.5
"""How often :func:`frozen_heap` freezes what lived since its last freeze (s)."""


@contextlib.contextmanager
def frozen_heap(refreeze_s: float | None = REFREEZE_S) -> Iterator[None]:
    """Keep the long-lived heap out of the garbage collector's reach until the block ends.

    A node's startup leaves a large, long-lived heap (the agreement, the feed's reports, the
    pipeline's tables, the recovered state) that a full collection would walk again and again:
    100-150 ms pauses on the event loop, every product waiting behind them (measured with
    gc.callbacks in bench/sharing_latency.py). It is frozen on entry. So is, every
    ``refreeze_s`` while the block runs inside an event loop, whatever was made since: a
    node holds the reports it took until their step (lag_s of data, ~13 tracked objects per
    report), and at 5,000 reports/s full collections over them stopped a receiver 100-650 ms
    (gen 2, a dozen per 10 s run; with refreezing none ran and the bench's p99 over NATS fell
    from 0.7-1.9 s to 0.17-0.24 s at load 5.5-6.4). Freezing changes no lifetime: a frozen
    object is freed as soon as nothing refers to it; only garbage in reference cycles is held
    until the block ends: the sharing path makes none (0 cyclic objects after 5,000 reports
    sent and received, collector off), the pipeline about one per 10 steps (44 over
    srbm-salvo's 435), a few MB a day. The block's end gives everything back to the collector.
    """
    gc.collect()
    gc.freeze()
    handle: asyncio.TimerHandle | None = None
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:  # no event loop: nothing runs in the block to refreeze
        loop = None

    def refreeze() -> None:
        nonlocal handle
        gc.freeze()
        if loop is not None and refreeze_s:
            handle = loop.call_later(refreeze_s, refreeze)

    if loop is not None and refreeze_s:
        handle = loop.call_later(refreeze_s, refreeze)
    try:
        yield
    finally:
        if handle is not None:
            handle.cancel()
        gc.unfreeze()


def open_node_store(data_dir: Path, node_id: str) -> Any:
    """The node's SQLite store (WAL, fsync per commit) behind the asyncio facade."""
    from kizuna.store import AsyncStore, SQLiteStore

    data_dir.mkdir(parents=True, exist_ok=True)
    return AsyncStore(SQLiteStore(data_dir / f"{node_id}.sqlite"))


class _AuditWriter:
    """The node's audit log written on a thread of its own, in submission order: the append
    (hashing, one fsync per batch) never blocks the event loop, which in laptop mode runs
    every node. :meth:`close` waits for what was submitted, then closes the log."""

    def __init__(self, log: Any, node_id: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.log = log
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"kizuna-audit-{node_id}")

    def __call__(self, batch: list[tuple[str, str, str, str | None, str | None]]) -> Any:
        # The batch is the node's (it starts a new one): no copy, no object per entry.
        return self._executor.submit(self.log.extend_rows, batch)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.log.close()


def open_node_audit(data_dir: Path, node_id: str, logs: list[Any]) -> Any:
    """An audit sink over the node's hash-chained log ``DATA_DIR/<node>.audit.jsonl``; the
    writer is appended to ``logs`` (close each after the node)."""
    from kizuna.store import AuditLog

    log = AuditLog(data_dir / f"{node_id}.audit.jsonl", node_id, recover_torn_tail=True)
    writer = _AuditWriter(log, node_id)
    logs.append(writer)
    return writer


async def run_scenario(
    agreement_name: str,
    scenario_name: str,
    *,
    speed: float,
    record: Path | None,
    data_dir: Path,
    views: dict[str, Any] | None = None,
    on_tick: Any | None = None,
    on_built: Any | None = None,
    on_simulated: Any | None = None,
    write_truth: bool = True,
    make_pipeline: Any | None = None,
    simulation: Any | None = None,
) -> Any:
    """Simulate the scenario and run every node of the agreement over it (laptop mode).

    With ``record``, ``RECORD/scenario.yaml`` (the scenario file) and, if ``write_truth``,
    ``RECORD/truth.jsonl`` (the simulator's truth, :func:`kizuna.sensors.simulate.write_truth`)
    are written before the nodes start, so a run stopped early (Ctrl-C, an exception from a
    hook) still leaves what the after-action report reads beside whatever was recorded.
    ``on_simulated(simulation)``: called once with the
    :class:`~kizuna.sensors.simulate.Simulation` (the truth objects) before the run.
    ``make_pipeline(node_id)``: each node's pipeline (default the shipped settings).
    ``simulation``: the scenario's simulation when the caller already ran it (the demo shows
    what flies first); it is not simulated again.
    Returns the :class:`~kizuna.sharing.federation.LaptopRun`.
    """
    from kizuna.sensors.scenario import load_scenario
    from kizuna.sensors.simulate import simulate
    from kizuna.sensors.simulate import write_truth as write_truth_file
    from kizuna.sharing.agreement import load_agreement
    from kizuna.sharing.federation import build_laptop, close_laptop, drive, scenario_feed

    agreement = load_agreement(agreement_name)
    scenario = load_scenario(scenario_name)
    if simulation is None:
        simulation = simulate(scenario)
    if on_simulated is not None:
        on_simulated(simulation)
    if record is not None:
        record.mkdir(parents=True, exist_ok=True)
        _copy_scenario(scenario, record)
        if write_truth:
            write_truth_file(simulation, record / "truth.jsonl")
    feed = scenario_feed(simulation)
    logs: list[Any] = []
    run = build_laptop(
        agreement,
        open_store=lambda node: open_node_store(data_dir, node),
        open_audit=lambda node: open_node_audit(data_dir, node, logs),
        record_dir=record,
        views=views,
        make_pipeline=make_pipeline,
    )
    try:
        if on_built is not None:
            await on_built(run)
        await drive(run, feed, speed=speed, on_tick=on_tick)
    finally:
        await close_laptop(run)
        for log in logs:
            log.close()
    return run


def _copy_scenario(scenario: Any, record: Path) -> None:
    # The after-action report reads RUNDIR/scenario.yaml.
    try:
        text = Path(scenario.path).read_text("utf-8")
    except (OSError, TypeError):
        return  # a scenario built in memory has no file
    (record / "scenario.yaml").write_text(text, "utf-8")


def summary_table(run: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"kizuna run: {run.agreement.name}", title_justify="left")
    for column in (
        "node",
        "nation",
        "accepted",
        "reports in",
        "tracks",
        "predictions",
        "alerts",
        "partner products",
        "late",
    ):
        table.add_column(column, justify="left" if column in ("node", "nation") else "right")
    for node_id, node in run.nodes.items():
        s = node.stats
        table.add_row(
            node_id,
            node.nation,
            str(s.accepted),
            str(s.received["report"]),
            str(s.produced["track"]),
            str(s.produced["prediction"]),
            str(s.produced["alert"]),
            str(s.received["track"] + s.received["prediction"] + s.received["alert"]),
            str(s.late),
        )
    return table


@app.command("run")
def run_command(
    agreement: AgreementOption = "trilateral",
    scenario: ScenarioOption = "default",
    speed: Annotated[
        float, typer.Option("--speed", help="Scenario seconds per wall second; 0 = flat out.")
    ] = 0.0,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="Write DIR/NODE.jsonl: everything each node held."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Node stores and audit logs; default a temporary dir."),
    ] = None,
) -> None:
    """Run every node of the agreement in one process over the in-process bus.

    The scenario's reports reach each sensor's node at scenario time (scaled by --speed); every
    node tracks, predicts and warns over what it may see and shares what the agreement allows.
    """
    from rich.console import Console

    console = Console(stderr=True)

    def go(directory: Path) -> Any:
        return asyncio.run(
            run_scenario(agreement, scenario, speed=speed, record=record, data_dir=directory)
        )

    if data_dir is None:
        with tempfile.TemporaryDirectory(prefix="kizuna-run-") as tmp:
            result = go(Path(tmp))
    else:
        result = go(data_dir)
    console.print(summary_table(result))
    if record is not None:
        console.print(f"records in {record}/")


def node_pipeline(predictor: str) -> Any:
    """The node's pipeline: ``full`` (the shipped settings) or ``kepler`` (two-body forces,
    no ground tracks, a prediction per track every 10 s of data: ~50x cheaper, for tests and
    small machines; impact points of atmospheric flights are then rough)."""
    from kizuna.warning.pipeline import Pipeline

    if predictor == "full":
        return Pipeline()
    if predictor == "kepler":
        from kizuna.physics.dynamics import KEPLER
        from kizuna.prediction.predictor import Predictor

        return Pipeline(
            predictor=Predictor(
                min_interval_s=10.0, forces=KEPLER, with_ground_track=False, launch_interval_s=60.0
            )
        )
    raise typer.BadParameter(f"unknown predictor {predictor!r} (full, kepler)")


async def run_node(
    node_id: str,
    agreement_name: str,
    nats_url: str,
    *,
    user: str | None,
    password: str | None,
    data_dir: Path,
    record: Path | None,
    feed: Path | None,
    speed: float,
    start_at_s: float | str | None,
    exit_after_idle_s: float | None,
    predictor: str = "full",
    ack_wait_s: float = 30.0,
    lag_s: float = 3.0,
    finish_on_stop: bool = False,
    partner_timeout_s: float | None = None,
) -> Any:
    """One node over NATS JetStream until SIGINT/SIGTERM (or idle, see ``kizuna node``)."""
    import signal

    from kizuna.sharing.agreement import load_agreement
    from kizuna.sharing.federation import read_feed, serve_node
    from kizuna.sharing.nats_bus import NatsBus
    from kizuna.sharing.node import Node
    from kizuna.sharing.watermark import PARTNER_TIMEOUT_S

    agreement = load_agreement(agreement_name)
    agreement.node(node_id)  # an unknown id fails here, naming the agreement's nodes
    reports = read_feed(feed) if feed is not None else []
    logs: list[Any] = []
    holder: list[Any] = []
    bus = await NatsBus.connect(
        agreement,
        node_id,
        nats_url,
        user=user,
        password=password,
        observer=lambda event: holder[0].bus_event(event) if holder else None,
        ack_wait_s=ack_wait_s,
    )
    node = Node(
        node_id,
        agreement,
        bus,
        open_node_store(data_dir, node_id),
        pipeline=node_pipeline(predictor),
        audit=open_node_audit(data_dir, node_id, logs),
        record=record / f"{node_id}.jsonl" if record is not None else None,
        clock="sources",
        lag_s=lag_s,
        partner_timeout_s=PARTNER_TIMEOUT_S if partner_timeout_s is None else partner_timeout_s,
    )
    holder.append(node)
    mine = [r for r in reports if node.owns(r)]  # the feed's reports of this node's own sensors
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if isinstance(start_at_s, str):  # "@FILE": ready now, wait for the go
            start_at_s = await wait_for_start_file(Path(start_at_s), stop)
        with frozen_heap():
            await serve_node(
                node,
                feed=mine,
                feed_t0_s=reports[0].t if reports else None,
                speed=speed,
                start_at_s=start_at_s,
                exit_after_idle_s=exit_after_idle_s,
                stop=stop,
                finish_on_stop=finish_on_stop,
                # Every node of the run stops its feed's watermark at the same data time.
                feed_end_s=reports[-1].t if reports else None,
                # The store's replay in slices, the loop (heartbeats, outbox) going round.
                recover=True,
            )
    finally:
        await node.close()
        for log in logs:
            log.close()
    return node


async def wait_for_start_file(path: Path, stop: asyncio.Event) -> float | None:
    """Wait until ``path`` holds a start time (POSIX s or ISO 8601); None if stopped first."""
    while not stop.is_set():
        try:
            text = path.read_text("utf-8").strip()
        except OSError:
            text = ""
        if text:
            return _posix_or_time(text)
        await asyncio.sleep(0.05)
    return None


def _posix_or_time(text: str) -> float:
    """A wall time given as POSIX seconds or as an ISO 8601 / RFC 3339 text, in POSIX s."""
    from kizuna.timefmt import parse_time

    try:
        return float(text)
    except ValueError:
        return parse_time(text)


@app.command("node")
def node_command(
    node_id: Annotated[str, typer.Option("--id", help="This node's id in the agreement.")],
    agreement: AgreementOption = "trilateral",
    nats: Annotated[
        str, typer.Option("--nats", help="NATS server URL (JetStream enabled).")
    ] = "nats://127.0.0.1:4222",
    credentials: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            help="The FILE.credentials.json of `kizuna nats-config --out`: this node's user.",
        ),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="NATS user (overrides file).")] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="KIZUNA_NATS_PASSWORD", help="NATS password."),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Store (SQLite) and audit log of the node.")
    ] = Path("kizuna-data"),
    record: Annotated[
        Path | None,
        typer.Option("--record", help="Write DIR/NODE.jsonl: everything the node held."),
    ] = None,
    feed: Annotated[
        Path | None,
        typer.Option(
            "--feed",
            help="Reports JSONL (`kizuna simulate --out`). The node takes the reports of the "
            "sensors it owns (the nearest node of the sensor's nation) and ignores the rest, "
            "so every node can be given the same file.",
        ),
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", help="Scenario seconds per wall second; 0 = at once.")
    ] = 1.0,
    start_at: Annotated[
        str | None,
        typer.Option(
            "--start-at",
            help="Wall time (ISO 8601 or POSIX s) at which the feed's first report is due; "
            "give every node the same value to replay a scenario together. A node restarted "
            "later takes what is already due at once. @FILE: connect, then wait until FILE "
            "holds that time (start a federation once every node is up); a node with a "
            "store replays it once it serves, its heartbeats going meanwhile. "
            "Default: now.",
        ),
    ] = None,
    exit_after_idle: Annotated[
        float | None,
        typer.Option(
            "--exit-after-idle",
            help="End of run: once the feed is done and no report arrived for this many "
            "seconds, run the last pipeline steps (those within --lag) and close open alerts, "
            "publish what that derives (stored by the streams), take in partners' last products "
            "until nothing arrived for as long again, and exit. Default: run until "
            "SIGINT/SIGTERM.",
        ),
    ] = None,
    finish_on_stop: Annotated[
        bool,
        typer.Option(
            "--finish-on-stop",
            help="SIGINT/SIGTERM after the feed is done also ends the run as above (last "
            "steps, open alerts closed, published). Off by default: a node stopped for "
            "maintenance must not close alerts still in force.",
        ),
    ] = False,
    predictor: Annotated[
        str, typer.Option("--predictor", help="full (default) or kepler (cheap; tests).")
    ] = "full",
    ack_wait: Annotated[
        float,
        typer.Option("--ack-wait", help="Seconds before the server redelivers an unacked message."),
    ] = 30.0,
    lag: Annotated[
        float,
        typer.Option(
            "--lag",
            help="Seconds of data time a pipeline step waits after its end before it runs "
            "(on top of waiting for the partners' heartbeats).",
        ),
    ] = 3.0,
    partner_timeout: Annotated[
        float,
        typer.Option(
            "--partner-timeout",
            help="Wall seconds without a heartbeat after which a partner the node is waiting "
            "for is dropped from its clock: the node proceeds without it (log and audit "
            "say so) and that partner's reports for steps already run are kept but not "
            "fused. Outages shorter than this change nothing; each second of waiting delays "
            "the node's warnings. inf: wait for ever.",
        ),
    ] = 10.0,
) -> None:
    """Run one node of the agreement as its own process over NATS JetStream.

    First, once per server: `kizuna nats-config AGREEMENT --out FILE`, start `nats-server -c
    FILE`, then `kizuna streams create AGREEMENT --credentials FILE.credentials.json` to create
    every nation's stream and every node's durable consumer. (A node creates only its own
    nation's stream: what it sends to a nation whose stream does not exist yet is not
    acknowledged, and the node holds it and sends it again until that nation's first node has
    created it.)

    Reports of the node's own sensors come from --feed, each accepted (stored with fsync,
    then published) when the scenario clock reaches its time. Partner products arrive through
    the node's durable consumer; everything is stored before it is acknowledged. On start the
    node replays its store (a restart after a crash derives the same products again; the
    server and the record drop the repeats) and its consumer resumes where it stopped.

    The node's clock is the slowest of its sources: its own feed (the scenario clock) and every
    partner whose reports it may receive, each of which publishes a heartbeat (its node id and
    data clock, nothing else) at least once per second of data. A pipeline step runs once every
    source has passed its end by --lag, so the node waits for a partner through an outage and
    derives exactly what it would have without it, unless the partner stays silent longer than
    --partner-timeout.
    """
    from rich.console import Console

    if not partner_timeout > 0:
        raise typer.BadParameter(
            f"must be > 0 s (inf: wait for ever); got {partner_timeout}",
            param_hint="--partner-timeout",
        )
    if credentials is not None:
        from kizuna.sharing.natsconfig import load_credentials

        entry = load_credentials(credentials)["nodes"].get(node_id)
        if entry is None:
            raise typer.BadParameter(f"no user for node {node_id} in {credentials}")
        user = user or entry.get("user")
        password = password or entry.get("password")
    start_at_s: float | str | None = None
    if start_at is not None and start_at.startswith("@"):
        start_at_s = start_at[1:]
    elif start_at is not None:
        start_at_s = _posix_or_time(start_at)
    node = asyncio.run(
        run_node(
            node_id,
            agreement,
            nats,
            user=user,
            password=password,
            data_dir=data_dir,
            record=record,
            feed=feed,
            speed=speed,
            start_at_s=start_at_s,
            exit_after_idle_s=exit_after_idle,
            predictor=predictor,
            ack_wait_s=ack_wait,
            lag_s=lag,
            finish_on_stop=finish_on_stop,
            partner_timeout_s=partner_timeout,
        )
    )
    s = node.stats
    Console(stderr=True).print(
        f"{node_id}: accepted {s.accepted}, received {s.received}, produced {s.produced}, "
        f"late {s.late}, duplicates {s.duplicates}, publish failures {s.publish_failures}, "
        f"partners dropped {s.partners_dropped}"
    )
