"""``run_scenario`` (what ``kizuna run`` and ``kizuna demo`` drive): the run directory holds
the scenario and the simulator's truth from the start, so a run stopped early still leaves what
the after-action report (:func:`kizuna.interfaces.report.load_run`) reads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from node_support import SCENARIO, cheap_pipeline

from kizuna.interfaces.cli.run import run_scenario
from kizuna.interfaces.report import load_run
from kizuna.sensors.scenario import load_scenario
from kizuna.sensors.simulate import truth_lines


class StopRunError(Exception):
    """What a hook raises to stop the run early (as Ctrl-C does in the demo)."""


def stopped_run(tmp_path: Path, on_tick: Any, **hooks: Any) -> None:
    """Run the trilateral agreement over SCENARIO until ``on_tick`` raises StopRunError."""
    with pytest.raises(StopRunError):
        asyncio.run(
            run_scenario(
                "trilateral",
                SCENARIO,
                speed=0.0,
                record=tmp_path / "run",
                data_dir=tmp_path / "data",
                on_tick=on_tick,
                make_pipeline=cheap_pipeline,
                **hooks,
            )
        )


def test_a_stopped_run_leaves_scenario_truth_and_records(tmp_path: Path) -> None:
    simulations: list[Any] = []
    ticks: list[float] = []

    def stop_soon(tick: float) -> None:
        ticks.append(tick)
        if tick - ticks[0] >= 60.0:  # a minute of the scenario, then stop
            raise StopRunError

    stopped_run(tmp_path, stop_soon, on_simulated=simulations.append)
    [simulation] = simulations
    run_dir = tmp_path / "run"
    source = Path(load_scenario(SCENARIO).path).read_text("utf-8")
    assert (run_dir / "scenario.yaml").read_text("utf-8") == source
    truth = (run_dir / "truth.jsonl").read_text("utf-8").splitlines()
    assert truth == list(truth_lines(simulation))
    assert simulation.objects and truth
    run = load_run(run_dir)
    assert len(run.truth) == len(truth) and run.scenario_text == source
    assert set(run.records) == {"INDOPACOM", "USFJ-JFHQ", "USFK", "JJOC", "ROK-JCS"}
    # StopRunError a minute in: some, not all, of the feed was recorded.
    recorded = {line["id"] for line in run.records["USFK"] if line["product"] == "report"}
    assert 0 < len(recorded) < len(simulation.reports)


def test_no_truth_file_when_not_asked(tmp_path: Path) -> None:
    def stop(_tick: float) -> None:
        raise StopRunError

    stopped_run(tmp_path, stop, write_truth=False)
    assert (tmp_path / "run" / "scenario.yaml").is_file()
    assert not (tmp_path / "run" / "truth.jsonl").exists()
