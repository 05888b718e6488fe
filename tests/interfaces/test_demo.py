"""``kizuna demo``: the scenario clock, the terminal's alert lines, and the whole demo end to end.

The end-to-end test runs the real demo path (simulator, every node of the trilateral agreement
with its full pipeline, the map server, the report) over a deliberately small scenario
(tests/interfaces/data/demo-srbm.yaml: one SRBM, one radar every 20 s), so it takes seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from demo_support import SCENARIO, LiveDemo
from fastapi.testclient import TestClient

from kizuna.interfaces.api import MemoryNodeView, create_app, create_laptop_app, issue_token
from kizuna.interfaces.api.clock import RunClock
from kizuna.interfaces.api.samples import T0, alert
from kizuna.interfaces.cli.demo import alert_line
from kizuna.interfaces.cli.main import main
from kizuna.sharing import load_agreement
from kizuna.timefmt import parse_time

AGREEMENT = load_agreement("trilateral")
KEY = bytes(range(96, 128))


class FakeWall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_clock_that_keeps_up_shows_no_lag():
    wall = FakeWall()
    clock = RunClock(speed=10.0, origin_s=T0, wall=wall)
    assert clock.lag_s() is None and clock.snapshot()["state"] == "starting"
    for k in range(1, 41):  # 10 s of scenario in 1 s of wall: exactly on schedule
        clock.advance(T0 + 0.25 * k)
        wall.now += 0.025
    wall.now -= 0.025
    assert clock.lag_s() == pytest.approx(0.0, abs=1e-9)
    assert clock.achieved_speed() == pytest.approx(10.0)
    snap = clock.snapshot()
    assert snap["mode"] == "replay" and snap["state"] == "running"
    assert parse_time(snap["scenario_time"]) == pytest.approx(T0 + 10.0)


def test_clock_that_falls_behind_says_by_how_much():
    wall = FakeWall()
    clock = RunClock(speed=10.0, wall=wall)
    clock.advance(T0)
    wall.now += 10.0  # ten wall seconds for one scenario second: 10 s due, 1 s done
    clock.advance(T0 + 1.0)
    assert clock.achieved_speed() == pytest.approx(0.1)
    assert clock.lag_s() == pytest.approx(99.0)  # scenario seconds behind the schedule
    assert clock.late_s() == pytest.approx(9.9)  # wall seconds
    wall.now += 5.0  # a step still running: the lag keeps growing while nothing comes
    assert clock.late_s() == pytest.approx(14.9)
    clock.finish("stopped")
    wall.now += 100.0  # an ended run falls no further behind
    snap = clock.snapshot()
    assert snap["state"] == "stopped" and snap["late_s"] == pytest.approx(14.9)


def test_clock_flat_out_has_no_schedule():
    clock = RunClock(speed=0.0)
    clock.advance(T0)
    assert clock.lag_s() is None and clock.snapshot()["late_s"] is None


def test_clock_endpoint_needs_a_token_and_serves_the_run_clock():
    clock = RunClock(speed=10.0, origin_s=T0, name="irbm-overflight")
    clock.advance(T0 + 42.0)
    views = {n: MemoryNodeView(n) for n in ("JJOC", "USFK")}
    keys = {n: KEY for n in views}
    app = create_laptop_app(views, AGREEMENT, default_node="JJOC", token_keys=keys, run_clock=clock)
    client = TestClient(app)
    assert client.get("/api/v1/clock").status_code == 401
    token = issue_token(KEY, node="USFK", role="viewer", agreement=AGREEMENT.name)
    body = client.get("/api/v1/clock", headers={"Authorization": f"Bearer {token}"}).json()
    assert body["mode"] == "replay" and body["name"] == "irbm-overflight"
    assert body["scenario_s"] == pytest.approx(T0 + 42.0) and body["speed"] == 10.0
    # A node without a replay clock reports live time.
    live = TestClient(create_app(MemoryNodeView("JJOC"), AGREEMENT, token_key=KEY))
    token = issue_token(KEY, node="JJOC", role="viewer", agreement=AGREEMENT.name)
    body = live.get("/api/v1/clock", headers={"Authorization": f"Bearer {token}"}).json()
    assert body["mode"] == "live" and body["late_s"] is None
    assert abs(body["scenario_s"] - time.time()) < 60


def test_alert_line_gives_scenario_times_and_lateness():
    product = alert("A1", t=T0 + 125.0, impact_in_s=475.0).model_dump(mode="json")
    line = alert_line(product, "JJOC", T0, late_s=12.4)
    assert "T+02:05" in line and "T+10:00" in line  # alert time and impact, from T0
    assert product["level"].upper() in line and "JJOC" in line
    assert "12 s late" in line
    assert "late" not in alert_line(product, "JJOC", T0, late_s=0.5)


def test_alert_printer_shares_a_line_between_nodes_issuing_the_same_version():
    import io

    from rich.console import Console

    from kizuna.interfaces.cli.demo import AlertPrinter

    out = io.StringIO()
    printer = AlertPrinter(Console(file=out, width=200), T0, lambda: None)
    same = alert("A1", t=T0 + 60).model_dump(mode="json")
    for node in ("USFK", "INDOPACOM", "USFK"):
        printer.add(node, same)
    printer.add("JJOC", alert("A1", t=T0 + 60, level="advisory").model_dump(mode="json"))
    assert out.getvalue() == ""  # nothing before the tick ends
    printer.flush()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and printer.versions == 4
    assert "USFK, INDOPACOM " in lines[0] and "WARNING" in lines[0]
    assert "JJOC" in lines[1] and "ADVISORY" in lines[1]
    printer.flush()
    assert len(out.getvalue().splitlines()) == 2


def test_dry_run_prints_what_flies_and_who_sees_it(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["demo", "--dry-run", "--scenario", str(SCENARIO)]) == 0
    out = capsys.readouterr().out
    assert "What flew" in out and "Who saw it" in out and "KOR-GPB-TEST" in out


def test_demo_help_teaches():
    from typer.testing import CliRunner

    from kizuna.interfaces.cli.main import _register_verbs, app

    _register_verbs()
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--speed", "--port", "--no-serve", "--record", "--hold", "--dry-run"):
        assert option in result.output


def _ws_url(http_url: str, node: str) -> str:
    return http_url.replace("http://", "ws://") + f"/ws?node={node}"


def test_demo_end_to_end(tmp_path: Path):
    from websockets.sync.client import connect

    demo = LiveDemo(tmp_path / "run", speed=50.0)
    serving = demo.start()
    # Every node of the agreement has a token, JJOC (the Japanese view) first.
    assert next(iter(serving.tokens)) == "JJOC"
    assert set(serving.tokens) == set(AGREEMENT.node_ids)
    assert serving.page_url.startswith(serving.url + "/#tokens=JJOC:")
    token = serving.tokens["ROK-JCS"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=serving.url, timeout=10.0) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        assert http.get("/api/v1/tracks").status_code == 401  # no token, nothing
        assert http.get("/api/v1/whoami", headers=headers).json()["node"] == "ROK-JCS"
        assert http.get("/api/v1/clock", headers=headers).json()["state"] == "starting"
        kinds: dict[str, int] = {}
        with connect(_ws_url(serving.url, "ROK-JCS"), open_timeout=10) as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            demo.go()  # only now does the run start: what arrives below is live
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not {"track", "alert"} <= set(kinds):
                message = json.loads(ws.recv(timeout=180))
                assert message["type"] == "product"
                kinds[message["kind"]] = kinds.get(message["kind"], 0) + 1
                if message["kind"] == "track":
                    clock = http.get("/api/v1/clock", headers=headers).json()
                    assert clock["state"] == "running" and clock["scenario_s"] is not None
        assert kinds.get("track") and kinds.get("alert"), kinds
    result = demo.wait()
    out = demo.text()

    assert not result.stopped and result.alerts >= 1
    # The terminal printed the alerts as they came: level, status, node, scenario times.
    lines = [line for line in out.splitlines() if "EXERCISE" in line and "impact T+" in line]
    assert any("issued" in line and "ROK-JCS" in line for line in lines), out
    assert "South Korea" in out
    assert f"after-action report: {result.report}" in out.replace("\n", "")
    # The run directory: every node's record, truth and scenario, and the report.
    run = result.run_dir
    for node in AGREEMENT.node_ids:
        assert (run / f"{node}.jsonl").stat().st_size > 0
    assert (run / "truth.jsonl").is_file() and (run / "scenario.yaml").is_file()
    html = result.report.read_text("utf-8")
    assert "demo-test-srbm" in html and "ROK-JCS" in html and "data:image/png;base64," in html
    # The honest clock: the figures reported are the run's own.
    assert result.scenario_s > 200 and result.achieved_speed and result.achieved_speed > 0
    assert result.nodes["ROK-JCS"]["alerts"] >= 1


def test_ctrl_c_stops_cleanly_and_still_writes_the_report(tmp_path: Path):
    import os
    import signal
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    command = [str(Path(sys.executable).with_name("kizuna")), "demo"]  # the console script
    command += ["--scenario", str(SCENARIO), "--speed", "1", "--port", "0"]
    command += ["--record", str(run_dir)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # real time: the run has just begun when this prints
            lines.append(line)
            if line.startswith("alerts as they are issued"):
                break
        time.sleep(2.0)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    out = "".join(lines) + rest
    assert process.returncode == 130, out
    assert "stopped" in out and "Traceback" not in out
    assert "after-action report:" in out and (run_dir / "report.html").is_file()
    # The stores were closed and the records are whole lines.
    for node in AGREEMENT.node_ids:
        assert (run_dir / "data" / f"{node}.sqlite").is_file()
        text = (
            (run_dir / f"{node}.jsonl").read_text("utf-8")
            if (run_dir / f"{node}.jsonl").exists()
            else ""
        )
        assert text == "" or text.endswith("\n")


def test_a_port_in_use_is_a_one_line_error(tmp_path: Path):
    import io
    import socket

    from rich.console import Console

    from kizuna.errors import ConfigError
    from kizuna.interfaces.cli.demo import run_demo

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="try --port 0"):
            run_demo(
                scenario=str(SCENARIO),
                port=port,
                run_dir=tmp_path / "run",
                console=Console(file=io.StringIO()),
            )


def test_first_ctrl_c_asks_the_run_to_stop_at_its_next_tick_a_second_stops_at_once():
    import os
    import signal

    from kizuna.interfaces.cli.demo import _CtrlC

    before = signal.getsignal(signal.SIGINT)
    with _CtrlC() as ctrl_c:
        ctrl_c.check()  # nothing asked yet
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs in the main thread at its next bytecode
        assert ctrl_c.requested
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before
