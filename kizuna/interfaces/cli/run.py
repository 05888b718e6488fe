"""``kizuna run`` (every node in one process) and ``kizuna node`` (one node over NATS)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from kizuna.interfaces.cli.main import app


def open_node_store(data_dir: Path, node_id: str) -> Any:
    """The node's SQLite store (WAL, fsync per commit) behind the asyncio facade."""
    from kizuna.store import AsyncStore, SQLiteStore

    data_dir.mkdir(parents=True, exist_ok=True)
    return AsyncStore(SQLiteStore(data_dir / f"{node_id}.sqlite"))


def open_node_audit(data_dir: Path, node_id: str, logs: list[Any]) -> Any:
    """An audit sink over the node's hash-chained log ``DATA_DIR/<node>.audit.jsonl``."""
    from kizuna.store import AuditEvent, AuditLog

    log = AuditLog(data_dir / f"{node_id}.audit.jsonl", node_id, recover_torn_tail=True)
    logs.append(log)

    def sink(batch: list[tuple[str, str, str, str | None, str | None]]) -> None:
        log.append_many(AuditEvent(a, k, key, rule, peer) for a, k, key, rule, peer in batch)  # type: ignore[arg-type]

    return sink


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
) -> Any:
    """Simulate the scenario and run every node of the agreement over it (laptop mode)."""
    from kizuna.sensors.scenario import load_scenario
    from kizuna.sensors.simulate import simulate
    from kizuna.sharing.agreement import load_agreement
    from kizuna.sharing.federation import build_laptop, close_laptop, drive, scenario_feed

    agreement = load_agreement(agreement_name)
    scenario = load_scenario(scenario_name)
    feed = scenario_feed(simulate(scenario))
    logs: list[Any] = []
    run = build_laptop(
        agreement,
        open_store=lambda node: open_node_store(data_dir, node),
        open_audit=lambda node: open_node_audit(data_dir, node, logs),
        record_dir=record,
        views=views,
    )
    if on_built is not None:
        await on_built(run)
    try:
        await drive(run, feed, speed=speed, on_tick=on_tick)
    finally:
        await close_laptop(run)
        for log in logs:
            log.close()
    if record is not None:
        _copy_scenario(scenario, record)
    return run


def _copy_scenario(scenario: Any, record: Path) -> None:
    # The after-action report reads RUNDIR/scenario.yaml.
    try:
        text = Path(scenario.path).read_text("utf-8")
    except OSError:
        return
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
    agreement: Annotated[
        str, typer.Option("--agreement", help="Agreement path or shipped short name.")
    ] = "trilateral",
    scenario: Annotated[
        str, typer.Option("--scenario", help="Scenario path or shipped short name.")
    ] = "default",
    speed: Annotated[
        float, typer.Option("--speed", help="Scenario seconds per wall second; 0 = flat out.")
    ] = 0.0,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="Write DIR/<node-id>.jsonl: everything each node held."),
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
