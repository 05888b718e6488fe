"""Helpers for the sharing tests: contract objects and a real nats-server per test."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kizuna.sharing.agreement import Agreement
from kizuna.sharing.natsconfig import NatsServerConfig, generate_nats_config

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
HAVE_NATS = Path(NATS_SERVER).is_file()
needs_nats = pytest.mark.skipif(not HAVE_NATS, reason=f"no nats-server at {NATS_SERVER}")

T_2026 = "2026-01-01T00:00:00.000Z"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    config: NatsServerConfig
    path: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return self.config.url

    def creds(self, node: str) -> dict[str, str]:
        c = self.config.credentials[node]
        return {"user": c.user, "password": c.password}

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def nats_server(agreement: Agreement, *, at_time: Any = T_2026) -> Iterator[RunningServer]:
    """Start nats-server with the generated config on a free loopback port; stop it after."""
    with tempfile.TemporaryDirectory(prefix="kizuna-nats-") as tmp:
        root = Path(tmp)
        port = free_port()
        config = generate_nats_config(
            agreement, at_time=at_time, port=port, store_dir=root / "jetstream"
        )
        path = root / "server.conf"
        path.write_text(config.text)
        log = root / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [NATS_SERVER, "-c", str(path)], stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + 10.0
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"nats-server exited: {log.read_text()}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.2),
                ):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start within 10 s")
                time.sleep(0.02)
            yield RunningServer(config, path, process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def provision_streams(agreement: Agreement, server: RunningServer) -> None:
    """Every nation's stream and every node's durable consumer, as `kizuna streams create`
    makes them (each nation's stream acknowledges what is sent to that nation)."""
    from kizuna.sharing.nats_bus import provision

    admins = {n: (c.user, c.password) for n, c in server.config.admins.items()}
    await provision(agreement, server.url, admins)


def report(
    report_id: str,
    nation: str,
    releasable_to: list[str],
    *,
    time_text: str = T_2026,
    classification: str = "SECRET",
) -> dict[str, Any]:
    """A launch report of a ``nation`` sensor, as the contract's JSON object."""
    return {
        "id": report_id,
        "time": time_text,
        "sensor": {"id": f"{nation}-IR", "nation": nation, "lat": 37.0, "lon": 127.0, "alt_m": 0.0},
        "kind": "launch",
        "lat": 39.0,
        "lon": 125.5,
        "sigma_m": 2000.0,
        "marking": {"classification": classification, "releasable_to": releasable_to},
        "exercise": True,
    }


def track(track_id: str, marking: dict[str, Any], *, time_text: str = T_2026) -> dict[str, Any]:
    return {
        "product": "track",
        "track_id": track_id,
        "time": time_text,
        "lat": 39.5,
        "lon": 128.0,
        "alt_m": 150_000.0,
        "velocity_ecef_mps": [1000.0, 2000.0, 500.0],
        "position_sigma_m": 800.0,
        "sensors": ["KOR-R1"],
        "nations": ["KOR"],
        "phase": "midcourse",
        "marking": marking,
        "exercise": True,
    }


def prediction(track_id: str, marking: dict[str, Any], *, time_text: str = T_2026) -> dict:
    return {
        "product": "prediction",
        "track_id": track_id,
        "time": time_text,
        "category": "ballistic",
        "impact": None,
        "launch": {"time": time_text, "lat": 39.0, "lon": 125.5, "sigma_m": 3000.0},
        "apogee_km": 500.0,
        "range_km": 900.0,
        "marking": marking,
        "exercise": True,
    }


def alert(alert_id: str, marking: dict[str, Any], *, time_text: str = T_2026) -> dict:
    return {
        "product": "alert",
        "alert_id": alert_id,
        "track_id": "T1",
        "time": time_text,
        "kind": "impact",
        "level": "notice",
        "status": "issued",
        "regions": [],
        "impact_time": None,
        "message": {"en": "exercise", "ja": "訓練", "ko": "훈련"},
        "marking": marking,
        "exercise": True,
    }


def body(kind: str, key: str, nation: str, marking: dict[str, Any], time_text: str) -> dict:
    """A contract object of any kind with the given marking."""
    if kind == "report":
        r = report(key, nation, marking["releasable_to"], time_text=time_text)
        r["marking"] = marking
        return r
    maker = {"track": track, "prediction": prediction, "alert": alert}[kind]
    return maker(key, marking, time_text=time_text)
