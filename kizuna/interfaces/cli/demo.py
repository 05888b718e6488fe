"""``kizuna demo``: every node of the agreement over a scenario, live on a map and a terminal.

What it does, in order:

1. simulates the scenario (default ``irbm-overflight``: an IRBM over Hokkaido) and prints what
   flew; writes the truth and the scenario into the run directory;
2. serves the operators' map of every node at http://127.0.0.1:8000 (one port, one token per
   node; the printed URL carries the tokens in its ``#`` fragment, which browsers never send
   to a server, and the page offers a node selector);
3. runs every node of the agreement (default ``trilateral``) in this process over the in-process
   bus (:func:`kizuna.interfaces.cli.run.run_scenario`) at ``--speed`` x real time, printing
   each alert a node issues, updates or ends as it happens, with the scenario clock;
4. writes each node's record and the after-action report (``kizuna report``) and prints its path.

The clock is honest: when the pipeline cannot keep up with ``--speed`` the run falls behind
its schedule (nothing is dropped or skipped to catch up), and the terminal and the map show
scenario time, the speed actually sustained and how far behind the schedule the run is
(:class:`kizuna.interfaces.api.clock.RunClock`).

Ctrl-C stops the run cleanly: the nodes' stores and logs are closed, and the report is written
from what was recorded up to then.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from kizuna.interfaces.cli.main import AgreementOption, ScenarioOption, app

PREFERRED_NODES = ("JJOC", "USFJ-JFHQ")  # shown first: the Japanese view of a Japan overflight
LEVEL_STYLE = {"warning": "bold red", "advisory": "bold dark_orange", "notice": "yellow"}
LATE_S = 2.0  # wall seconds behind schedule worth telling
PROGRESS_EVERY_S = 60.0  # scenario seconds between progress lines when not on a terminal


def _clock(seconds: float, origin: float) -> str:
    """Time relative to the first launch, ``T+mm:ss``."""
    delta = seconds - origin
    sign = "-" if delta < 0 else "+"
    m, s = divmod(round(abs(delta)), 60)
    return f"T{sign}{m:02d}:{s:02d}"


def _short_site(name: str) -> str:
    return name.split(" /")[0].split(" (")[0]


def launch_rows(sim: Any) -> list[list[str]]:
    """One row per true object: what it is, where it went, when it ended."""
    from kizuna.geo.frames import ecef_to_lla

    rows = []
    first_launch = min(o.launch.time_s for o in sim.outcomes)
    for outcome in sim.outcomes:
        launch, info = outcome.launch, outcome.info
        for obj in outcome.objects:
            altitude = ecef_to_lla(obj.trajectory.state[:, :3])[2]
            if obj.kind == "satellite":
                end = (
                    f"orbit {info['perigee_alt_m'] / 1e3:.0f} x "
                    f"{info['orbit_apogee_alt_m'] / 1e3:.0f} km, "
                    f"i {info['inclination_deg']:.0f} deg, "
                    f"{_clock(launch.time_s + info['insertion_s'], first_launch)}"
                )
            else:
                lat, lon, _ = ecef_to_lla(obj.trajectory.state[-1, :3])
                end = (
                    f"impact {float(lat):.2f}N {float(lon):.2f}E {_clock(obj.end_s, first_launch)}"
                )
            rows.append(
                [
                    obj.object_id,
                    obj.kind,
                    _short_site(launch.site_name) if obj.from_pad else "(separated)",
                    _clock(obj.start_s, first_launch),
                    f"{float(altitude.max()) / 1e3:,.0f}",
                    end,
                ]
            )
    return rows


def sensor_rows(sim: Any) -> list[list[str]]:
    """One row per reporting sensor, in order of first report."""
    seen: dict[str, dict[str, Any]] = {}
    first_launch = min(o.launch.time_s for o in sim.outcomes)
    for obs, report in zip(sim.observations, sim.reports, strict=True):
        row = seen.setdefault(
            obs.sensor_id,
            {
                "nation": report["sensor"]["nation"],
                "kind": report["kind"],
                "first": None,
                "last": None,
                "count": 0,
                "false": 0,
                "objects": set(),
            },
        )
        if obs.object_id is None:
            row["false"] += 1
            continue
        row["count"] += 1
        row["objects"].add(obs.object_id)
        row["first"] = obs.time_s if row["first"] is None else row["first"]
        row["last"] = obs.time_s
    ordered = sorted(seen.items(), key=lambda kv: (kv[1]["first"] is None, kv[1]["first"] or 0))
    return [
        [
            sensor_id,
            r["nation"],
            r["kind"],
            _clock(r["first"], first_launch) if r["first"] is not None else "-",
            _clock(r["last"], first_launch) if r["last"] is not None else "-",
            str(r["count"]),
            str(len(r["objects"])),
            str(r["false"]),
        ]
        for sensor_id, r in ordered
    ]


def _tables(sim: Any, *, sensors: bool) -> list[Any]:
    from rich.table import Table

    launches = Table(title="What flew", title_justify="left")
    for column in ("object", "kind", "from", "start", "apogee km", "end"):
        launches.add_column(column)
    for row in launch_rows(sim):
        launches.add_row(*row)
    if not sensors:
        return [launches]
    table = Table(title="Who saw it", title_justify="left")
    for column in ("sensor", "nation", "kind", "first", "last", "reports", "objects", "clutter"):
        table.add_column(
            column, justify="right" if column in {"reports", "objects", "clutter"} else "left"
        )
    for row in sensor_rows(sim):
        table.add_row(*row)
    return [launches, table]


# --- the terminal side ------------------------------------------------------------------------


def alert_line(alert: dict[str, Any], node: str, origin_s: float, late_s: float | None) -> str:
    """One rich-markup line for one alert version issued by ``node`` (or nodes, "A, B").

    ``T+mm:ss`` is the alert's own (scenario) time relative to the first launch; the impact
    time, when the alert has one, is given the same way; ``late_s`` (wall seconds the run is
    behind its schedule) is appended when it is more than a second or two.
    """
    from rich.markup import escape

    from kizuna.timefmt import parse_time

    level = str(alert.get("level", ""))
    style = LEVEL_STYLE.get(level, "bold")
    regions = alert.get("regions") or []
    names = ", ".join(str(r.get("name") or r.get("code")) for r in regions[:4])
    if len(regions) > 4:
        names += f" +{len(regions) - 4} more"
    parts = [
        f"[bold]{_clock(parse_time(alert['time']), origin_s)}[/bold]",
        f"[{style}]{level.upper():<8}[/{style}]",
        f"{escape(str(alert.get('status', ''))):<9}",
        f"{escape(str(alert.get('kind', ''))):<10}",
        f"[cyan]{escape(node):<10}[/cyan]",
        escape(names) or "-",
    ]
    if alert.get("impact_time"):
        parts.append(f"· impact {_clock(parse_time(alert['impact_time']), origin_s)}")
    if alert.get("exercise"):
        parts.append("[black on yellow] EXERCISE [/black on yellow]")
    if late_s is not None and late_s > LATE_S:
        parts.append(f"[dim]({late_s:.0f} s late)[/dim]")
    return " ".join(parts)


class AlertPrinter:
    """The terminal's alert timeline: one line per alert version, as the nodes issue them.

    Nodes that see the same data issue the same alert version in the same tick (the three US
    nodes usually do); such versions (same time to the second, level, status, kind, regions
    and impact time to the second) share one line naming every issuing node. Versions are
    collected during a tick and printed by :meth:`flush` after it.
    """

    def __init__(self, console: Any, origin_s: float, late_s: Callable[[], float | None]) -> None:
        self.console = console
        self.origin_s = origin_s
        self.late_s = late_s
        self.versions = 0
        self.lines: list[str] = []
        self._pending: dict[tuple[Any, ...], tuple[dict[str, Any], list[str]]] = {}

    def add(self, node: str, alert: dict[str, Any]) -> None:
        self.versions += 1
        impact = alert.get("impact_time")
        key = (
            str(alert.get("time", ""))[:19],
            alert.get("level"),
            alert.get("status"),
            alert.get("kind"),
            tuple(r.get("code") for r in alert.get("regions") or []),
            str(impact)[:19] if impact else None,
        )
        self._pending.setdefault(key, (alert, []))[1].append(node)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        late = self.late_s()
        for alert, nodes in pending.values():
            # A node with two tracks of one object may issue the same version twice.
            line = alert_line(alert, ", ".join(dict.fromkeys(nodes)), self.origin_s, late)
            self.lines.append(line)
            self.console.print(line, highlight=False)


@dataclass
class DemoStats:
    """What the terminal and the final summary need to know about the run."""

    ticks: int = 0
    max_late_s: float = 0.0
    last_progress_s: float = float("-inf")


def _make_view_class() -> type:
    from kizuna.interfaces.api import MemoryNodeView

    class DemoView(MemoryNodeView):
        """A node's view that also tells the terminal about the alerts the node itself issues
        (a partner's alerts reach every node too; printing them once, at their origin, keeps
        the timeline one line per alert version)."""

        def __init__(self, node_id: str, on_alert: Callable[[str, Any], None]) -> None:
            super().__init__(node_id)
            self._on_alert = on_alert

        def publish(self, envelope: Any) -> None:
            super().publish(envelope)
            if envelope.kind == "alert" and envelope.origin_node == self.node_id:
                self._on_alert(self.node_id, envelope)

    return DemoView


# --- serving ----------------------------------------------------------------------------------


@dataclass
class Serving:
    """The map server of a demo: where it is and how to get in."""

    url: str  # http://host:port
    tokens: dict[str, str]  # node -> viewer token, the first shown first
    server: Any
    thread: threading.Thread

    @property
    def page_url(self) -> str:
        """The page with every node's token in the fragment (never sent to the server)."""
        pairs = ",".join(f"{quote(node, safe='')}:{token}" for node, token in self.tokens.items())
        return f"{self.url}/#tokens={pairs}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app_: Any, host: str, port: int) -> Serving:
    """Run uvicorn for ``app_`` in a daemon thread with its own event loop.

    The pipeline keeps the main thread (and Ctrl-C); the map stays responsive while it works.
    Raises :class:`ConfigError` when the address cannot be bound.
    """
    import uvicorn

    from kizuna.errors import ConfigError

    config = uvicorn.Config(
        app_,
        host=host,
        port=port,
        log_level="error",
        lifespan="off",
        ws="websockets-sansio",
        http="h11",
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def target() -> None:
        try:
            server.run()
        except BaseException as exc:  # uvicorn exits (SystemExit) when it cannot bind
            failure.append(exc)

    thread = threading.Thread(target=target, name="kizuna-demo-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(
                f"cannot serve the map on {host}:{port} (is the port in use? try --port 0)",
                field="--port",
            )
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return Serving(f"http://{shown}:{bound}", {}, server, thread)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What a demo run left behind."""

    run_dir: Path
    report: Path | None
    stopped: bool
    scenario_s: float  # scenario seconds driven (first tick to last)
    wall_s: float  # wall seconds from the first tick to the last
    achieved_speed: float | None
    max_late_s: float  # wall seconds behind schedule, at worst
    alerts: int
    nodes: dict[str, dict[str, int]]  # node -> produced/received counts
    url: str | None = None


def default_run_dir(scenario_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(".kizuna") / "demo" / f"{scenario_name}-{stamp}"


def run_demo(
    *,
    scenario: str = "default",
    agreement: str = "trilateral",
    speed: float = 10.0,
    serve: bool = True,
    host: str = "127.0.0.1",
    port: int = 8000,
    run_dir: Path | None = None,
    report: Path | None = None,
    hold: bool = False,
    console: Any = None,
    on_serving: Callable[[Serving], None] | None = None,
) -> DemoResult:
    """The whole demo (see the module docstring); returns what it did.

    ``on_serving(serving)`` is called once the map is up, before the run starts (tests use it
    to open the page first). ``hold`` keeps serving the final picture after the report until
    Ctrl-C. Must run in the main thread for Ctrl-C to stop the run cleanly.
    """
    from rich.console import Console

    from kizuna.errors import ConfigError
    from kizuna.interfaces.api import create_laptop_app, issue_token
    from kizuna.interfaces.api.clock import RunClock
    from kizuna.interfaces.cli.run import run_scenario, summary_table
    from kizuna.interfaces.report import write_report
    from kizuna.sensors.scenario import load_scenario
    from kizuna.sensors.simulate import simulate
    from kizuna.sharing.agreement import load_agreement

    if speed < 0:
        raise ConfigError(f"speed must be >= 0; got {speed}", field="--speed")
    console = console if console is not None else Console()
    loaded_agreement = load_agreement(agreement)
    loaded = load_scenario(scenario)
    with console.status(f"simulating {loaded.name} ..."):
        sim = simulate(loaded)
    if not sim.reports:
        raise ConfigError(f"scenario {loaded.name} produces no sensor reports", field="--scenario")
    origin = min(o.launch.time_s for o in sim.outcomes)
    first = min(float(o.available_s) for o in sim.observations)
    last = max(float(o.available_s) for o in sim.observations)
    flag = "EXERCISE" if loaded.exercise else "REAL WORLD"
    console.print(f"[bold]{loaded.name}[/bold] ({flag}): {loaded.description}")
    for table in _tables(sim, sensors=False):
        console.print(table)
    pace = f"x{speed:g}" if speed > 0 else "as fast as it goes"
    expected = f", ~{(last - first) / speed:.0f} s at {pace}" if speed > 0 else ""
    console.print(
        f"{len(sim.reports)} sensor reports over {_clock(first, origin)} .. "
        f"{_clock(last, origin)} ({last - first:.0f} s of scenario{expected}); "
        f"nodes: {', '.join(loaded_agreement.node_ids)}"
    )

    directory = run_dir if run_dir is not None else default_run_dir(loaded.name)
    directory.mkdir(parents=True, exist_ok=True)  # run_scenario writes truth and scenario there

    stats = DemoStats()
    clock = RunClock(speed=speed, origin_s=origin, end_s=last, name=loaded.name)

    printer = AlertPrinter(console, origin, clock.late_s)

    def on_alert(node_id: str, envelope: Any) -> None:
        printer.add(node_id, envelope.product)

    view_class = _make_view_class()
    views = {node: view_class(node, on_alert) for node in loaded_agreement.node_ids}

    serving: Serving | None = None
    if serve:
        order = [n for n in PREFERRED_NODES if n in views] + [
            n for n in views if n not in PREFERRED_NODES
        ]
        keys = {node: secrets.token_bytes(32) for node in views}
        app_ = create_laptop_app(
            views,
            loaded_agreement,
            default_node=order[0],
            token_keys=keys,
            run_clock=clock,
        )
        serving = serve_in_thread(app_, host, port)
        serving.tokens = {
            node: issue_token(
                keys[node],
                node=node,
                role="viewer",
                agreement=loaded_agreement.name,
                ttl_s=12 * 3600.0,
            )
            for node in order
        }
        console.print(
            f"map: [bold]{serving.url}[/bold] (one viewer token per node, valid 12 h, in the "
            "link below; the page has a node selector)"
        )
        # Printed unwrapped so the terminal keeps it one clickable link.
        console.print(serving.page_url, soft_wrap=True, highlight=False, markup=False)
        if on_serving is not None:
            on_serving(serving)

    console.print(f"alerts as they are issued ({_clock(origin, origin)} = first launch):")
    laptop: list[Any] = []
    live = _status(console)

    async def on_built(run: Any) -> None:
        laptop.append(run)

    ctrl_c = _CtrlC()

    def on_tick(tick_s: float) -> None:
        ctrl_c.check()  # a stop between ticks: every node's last tick is whole
        clock.advance(tick_s)
        printer.flush()
        stats.ticks += 1
        stats.max_late_s = max(stats.max_late_s, clock.late_s() or 0.0)
        if live is not None:
            live.update(_status_text(clock, origin, laptop))
        elif tick_s - stats.last_progress_s >= PROGRESS_EVERY_S:
            stats.last_progress_s = tick_s
            console.print(_status_text(clock, origin, laptop), highlight=False)

    stopped = False
    started = time.monotonic()
    try:
        with ctrl_c, live if live is not None else contextlib.nullcontext():
            asyncio.run(
                run_scenario(
                    agreement,
                    scenario,
                    speed=speed,
                    record=directory,
                    data_dir=directory / "data",
                    views=views,
                    on_tick=on_tick,
                    on_built=on_built,
                    simulation=sim,
                )
            )
    except KeyboardInterrupt:
        stopped = True
        console.print(
            "[bold]stopped[/bold] (Ctrl-C): the nodes closed their stores; "
            "writing the report of what was recorded"
        )
    printer.flush()  # what the nodes issued when they finished (alerts closed at the end)
    clock.finish("stopped" if stopped else "finished")
    wall = time.monotonic() - started
    driven = (clock.scenario_s - first) if clock.scenario_s is not None else 0.0
    achieved = clock.achieved_speed()

    if laptop:
        console.print(summary_table(laptop[0]))
    sustained = f"x{achieved:.1f}" if achieved is not None else "n/a"
    console.print(
        f"ran {driven:.0f} s of scenario in {wall:.0f} s: sustained {sustained} "
        f"(asked {pace}); at most {stats.max_late_s:.0f} s late on its schedule; "
        f"{printer.versions} alert versions issued"
    )
    report_path: Path | None = None
    try:
        report_path = write_report(directory, report or directory / "report.html")
    except Exception as exc:  # the record stays useful without a report
        console.print(f"[red]the after-action report failed: {exc}[/red]")
    console.print(f"record: {directory}/")
    if report_path is not None:
        console.print(f"after-action report: [bold]{report_path}[/bold]")
    result = DemoResult(
        run_dir=directory,
        report=report_path,
        stopped=stopped,
        scenario_s=driven,
        wall_s=wall,
        achieved_speed=achieved,
        max_late_s=stats.max_late_s,
        alerts=printer.versions,
        nodes={
            node_id: {
                "tracks": node.stats.produced["track"],
                "predictions": node.stats.produced["prediction"],
                "alerts": node.stats.produced["alert"],
                "received": sum(node.stats.received.values()),
            }
            for node_id, node in (laptop[0].nodes.items() if laptop else [])
        },
        url=serving.url if serving is not None else None,
    )
    if serving is not None:
        try:
            if hold and not stopped:
                console.print(f"the map stays up at {serving.url}; Ctrl-C to quit")
                with contextlib.suppress(KeyboardInterrupt):
                    while serving.thread.is_alive():
                        time.sleep(0.5)
        finally:
            serving.stop()
    return result


class _CtrlC:
    """Ctrl-C (SIGINT) as a stop request the run honours at its next tick; a second Ctrl-C
    interrupts at once.

    Why not asyncio.run's own handling (cancel the main task): a cancellation can be lost
    when it lands as an awaited thread or gather completes, and then the run went on; under
    load the test that stops the demo saw exactly that once (the run kept its schedule for two
    minutes after the signal). A flag read between ticks cannot be lost. Installed only in the
    main thread (where Python delivers signals); elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _status(console: Any) -> Any:
    """A one-line live status at the bottom of a terminal (None when not on a terminal)."""
    if not console.is_terminal:
        return None
    from rich.live import Live
    from rich.text import Text

    return Live(Text("starting ..."), console=console, refresh_per_second=4, transient=True)


def _status_text(clock: Any, origin: float, laptop: list[Any]) -> Any:
    from rich.text import Text

    from kizuna.timefmt import format_time

    now = clock.scenario_s
    if now is None:
        return Text("starting ...")
    snap = clock.snapshot()
    text = Text()
    text.append(f"scenario {_clock(now, origin)} ", style="bold")
    text.append(f"({format_time(now)[11:19]}Z) ")
    if clock.speed > 0:
        text.append(f"asked x{clock.speed:g}")
        if snap["achieved_speed"] is not None:
            text.append(f", sustained x{snap['achieved_speed']:.1f}")
        late = snap["late_s"] or 0.0
        text.append(f" · {late:.0f} s late", style="bold red" if late > LATE_S else "green")
    else:
        text.append("as fast as it goes")
    if laptop:
        tracks = sum(node.stats.produced["track"] for node in laptop[0].nodes.values())
        alerts = sum(node.stats.produced["alert"] for node in laptop[0].nodes.values())
        text.append(f" · {tracks} track and {alerts} alert versions")
    return text


@app.command("demo")
def demo_command(
    speed: Annotated[
        float,
        typer.Option(
            "--speed",
            help="Scenario seconds per wall second: 10 shows the 14-minute flight in under "
            "2 minutes if the machine keeps up (it says when it does not); 1 is real time; "
            "0 runs as fast as it can.",
        ),
    ] = 10.0,
    scenario: ScenarioOption = "default",
    agreement: AgreementOption = "trilateral",
    port: Annotated[
        int, typer.Option("--port", help="Serve the map on this port (0: any free port).")
    ] = 8000,
    host: Annotated[
        str, typer.Option("--host", help="Address to serve on (keep it loopback).")
    ] = "127.0.0.1",
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the map, or run headless.")
    ] = True,
    hold: Annotated[
        bool,
        typer.Option("--hold", help="Keep serving the final picture after the report (Ctrl-C)."),
    ] = False,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="Run directory: node records, truth, scenario, report; stores in DIR/data. "
            "Default .kizuna/demo/SCENARIO-UTCTIME.",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Report file (default RUNDIR/report.html).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only simulate and print what flies and who sees it."),
    ] = False,
) -> None:
    """Watch the allies warn each other: every node of the agreement over a scenario, live.

    Simulates the scenario, then runs every command of the agreement in this process: each
    node tracks what its own sensors and its partners give it, predicts impacts, warns the
    regions at risk and shares only what the agreement allows. The map of every node is served
    at http://127.0.0.1:8000 (open the printed link: it holds a viewer token per node and the
    page lets you switch node); the terminal prints each alert as a node issues it. At the end
    it writes the run record and the after-action report (`kizuna report`) and prints its path.

    The clock never lies: if the machine cannot keep up with --speed, the terminal and the map
    show the scenario time and how far behind schedule the run is; no data is dropped.
    Ctrl-C stops cleanly and still writes the report.

    Examples: `kizuna demo` · `kizuna demo --speed 1` (real time) ·
    `kizuna demo --no-serve --speed 0 --record run/` (headless, flat out) ·
    `kizuna demo --scenario srbm-salvo --port 8080`
    """
    if dry_run:
        from rich.console import Console

        from kizuna.sensors.scenario import load_scenario
        from kizuna.sensors.simulate import simulate

        console = Console()
        loaded = load_scenario(scenario)
        sim = simulate(loaded)
        flag = "EXERCISE" if loaded.exercise else "REAL WORLD"
        console.print(f"[bold]{loaded.name}[/bold] ({flag}): {loaded.description}")
        for table in _tables(sim, sensors=True):
            console.print(table)
        console.print(
            f"{len(sim.reports)} reports in all; run them with "
            f"`kizuna demo --scenario {loaded.name}`."
        )
        return
    result = run_demo(
        scenario=scenario,
        agreement=agreement,
        speed=speed,
        serve=serve,
        host=host,
        port=port,
        run_dir=record,
        report=report,
        hold=hold,
    )
    if result.stopped:
        raise typer.Exit(130)
