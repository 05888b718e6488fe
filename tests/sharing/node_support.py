"""Helpers for the node, federation and fault tests: a short real feed and cheap pipelines.

The feed is the shipped ``srbm-salvo`` scenario's simulated reports (three SRBMs from Wonsan,
seen by Japanese, Korean and US sensors), cut to its first seconds so that a test of the node
runtime takes seconds. The pipelines predict with two-body forces, no ground track and a long
rate limit: the tests are about who holds what, not about prediction quality, and the full
predictor costs ~1 s of CPU per prediction (see the report of the run profile).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kizuna.interfaces.cli.run import node_pipeline
from kizuna.sharing.agreement import Agreement
from kizuna.sharing.envelope import product_key
from kizuna.sharing.federation import FeedItem, LaptopRun, build_laptop, scenario_feed
from kizuna.store import AsyncStore, SQLiteStore
from kizuna.warning.pipeline import Pipeline

SCENARIO = "srbm-salvo"


@functools.cache
def full_feed() -> tuple[FeedItem, ...]:
    from kizuna.sensors.scenario import load_scenario
    from kizuna.sensors.simulate import simulate

    return tuple(scenario_feed(simulate(load_scenario(SCENARIO))))


def short_feed(seconds: float, nations: Iterable[str] | None = None) -> list[FeedItem]:
    """The feed's reports delivered within ``seconds`` of its first, optionally of some
    sensor nations only."""
    feed = full_feed()
    t0 = feed[0][0]
    keep = set(nations) if nations is not None else None
    return [
        (at, r)
        for at, r in feed
        if at - t0 <= seconds and (keep is None or r.sensor.nation in keep)
    ]


def cheap_pipeline(_node_id: str = "") -> Pipeline:
    """What ``kizuna node --predictor kepler`` runs (the process tests use that flag)."""
    return node_pipeline("kepler")


def open_store(directory: Path, node_id: str) -> AsyncStore:
    directory.mkdir(parents=True, exist_ok=True)
    return AsyncStore(SQLiteStore(directory / f"{node_id}.sqlite"))


def laptop(agreement: Agreement, root: Path, **kwargs: Any) -> LaptopRun:
    """Every node in one process, stores under ``root/data``, records under ``root/record``."""
    return build_laptop(
        agreement,
        open_store=lambda node: open_store(root / "data", node),
        record_dir=root / "record",
        make_pipeline=cheap_pipeline,
        **kwargs,
    )


def read_record(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def record_keys(lines: list[dict[str, Any]]) -> list[str]:
    return [product_key(line["product"], line, line["origin_node"]) for line in lines]


def canonical(lines: list[dict[str, Any]]) -> list[str]:
    """A record as sorted canonical JSON lines (order of arrival is not part of equality)."""
    return sorted(json.dumps(line, sort_keys=True) for line in lines)
