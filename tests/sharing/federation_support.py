"""Real federations on loopback for the process tests: a nats-server of our own (restartable,
on a free port, configured by ``generate_nats_config``), ``kizuna node`` processes, and a TCP
proxy in front of the server whose connections can be cut and restored (a link cut).

A run replays one feed file at ``SPEED`` with every node started with the same
``--start-at``; once the feed is over and for ``QUIET_S`` no record changed and no node was
computing (:func:`running`), every node is stopped with SIGTERM. The records of two runs are
compared as sets of canonical lines.

Why "no node computing" too: a node that waited for a partner through an outage runs every
step it held back in one go and writes their products only at the end. Loaded (two cores
shared with other work), that catch-up took longer than ``QUIET_S``, the records stood still
meanwhile and the run was stopped before the catch-up was written: every node's record then
lacked hundreds of lines. A computing node is running or waiting for a CPU (state R) however
slow the machine, while an idle one sleeps in its poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node_support import canonical, full_feed, read_record, record_keys
from sharing_helpers import NATS_SERVER, free_port

from kizuna.sharing.agreement import Agreement
from kizuna.sharing.nats_bus import provision
from kizuna.sharing.natsconfig import generate_nats_config
from kizuna.timefmt import parse_time

KIZUNA = str(Path(sys.executable).with_name("kizuna"))
SPEED = 6.0  # scenario seconds per wall second
LAG_S = 24.0  # data seconds a step waits: 4 s of wall time at SPEED for partners' reports
ACK_WAIT_S = 2.0
QUIET_S = 5.0  # a run is over when no record changed and no node computed for this long
POLL_S = 0.1
BUSY_POLLS = 10  # a node is computing if running at half of the last BUSY_POLLS polls (1 s)
PARTNER_TIMEOUT_S = 120.0  # longer than any outage injected: every node waits it out
# Seconds of the srbm-salvo feed: its radar tracks, to the first missile's burnout (~140 s)
# and the first impact notice that follows.
WINDOW = (55.0, 170.0)


def running(pid: int) -> bool:
    """Whether process ``pid`` is running or waiting for a CPU now (state R in /proc), as a
    computing process is whether or not the machine gives it a CPU; False once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "R"


def write_feed(path: Path, window: tuple[float, float] = WINDOW) -> int:
    """The reports delivered within ``window`` s of the feed's start, as a JSONL feed file."""
    feed = full_feed()
    t0 = feed[0][0]
    reports = sorted(
        (r for at, r in feed if window[0] <= at - t0 <= window[1]), key=lambda r: (r.t, r.id)
    )
    path.write_text("".join(r.model_dump_json() + "\n" for r in reports), "utf-8")
    return len(reports)


class NatsServer:
    """nats-server with the agreement's config, stoppable and restartable on the same port and
    JetStream store (what survives a server restart)."""

    def __init__(self, agreement: Agreement, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.config = generate_nats_config(
            agreement, at_time="2026-11-25", port=self.port, store_dir=root / "jetstream"
        )
        self.conf = root / "server.conf"
        self.conf.write_text(self.config.text)
        self.creds = root / "server.conf.credentials.json"
        self.creds.write_text(self.config.credentials_json(agreement.name))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [NATS_SERVER, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.root / "server.log").read_text()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Proxy:
    """A TCP relay to the server; :meth:`cut` drops every connection and refuses new ones
    until :meth:`restore` (the network between a node and the server is gone)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.up = threading.Event()
        self.up.set()
        self.closed = False
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 0.5)
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


@dataclass
class Federation:
    """One run: a server, optional proxies per node, ``kizuna node`` processes."""

    agreement: Agreement
    root: Path
    feed: Path
    start_at: float = 0.0
    server: NatsServer = field(init=False)
    proxies: dict[str, Proxy] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.server = NatsServer(self.agreement, self.root)
        self.server.start()
        asyncio.run(self._provision())

    async def _provision(self) -> None:
        """Every nation's stream and every node's durable consumer before any node runs, as
        `kizuna streams create` does (a node creates only its own nation's stream, so a copy
        published to a nation whose stream does not exist yet would not be acknowledged and
        the run would wait for that nation's node)."""
        admins = {n: (c.user, c.password) for n, c in self.server.config.admins.items()}
        await provision(self.agreement, self.server.url, admins, ack_wait_s=ACK_WAIT_S)

    @property
    def record_dir(self) -> Path:
        return self.root / "record"

    def proxy(self, node_id: str) -> Proxy:
        self.proxies[node_id] = Proxy(self.server.port)
        return self.proxies[node_id]

    def spawn(self, node_id: str) -> subprocess.Popen[bytes]:
        url = self.proxies[node_id].url if node_id in self.proxies else self.server.url
        n = self.starts.get(node_id, 0)
        self.starts[node_id] = n + 1
        cmd = [
            KIZUNA,
            "node",
            "--id",
            node_id,
            "--agreement",
            self.agreement.name,
            "--nats",
            url,
            "--credentials",
            str(self.server.creds),
            "--data-dir",
            str(self.root / "data"),
            "--record",
            str(self.record_dir),
            "--feed",
            str(self.feed),
            "--speed",
            str(SPEED),
            "--start-at",
            f"@{self.root / 'start-at'}",
            "--predictor",
            "kepler",
            "--ack-wait",
            str(ACK_WAIT_S),
            "--lag",
            str(LAG_S),
            "--partner-timeout",
            str(PARTNER_TIMEOUT_S),
        ]
        env = {**os.environ, "PYTHONWARNINGS": "error"}
        with (self.root / f"{node_id}.{n}.log").open("wb") as log:
            process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.processes[node_id] = process
        return process

    def start_all(self, timeout_s: float = 60.0) -> None:
        """Every node; once all are connected and recovered (their record files exist), the
        feed starts for all at one wall time (``--start-at @FILE``)."""
        for node_id in self.agreement.node_ids:
            self.spawn(node_id)
        deadline = time.monotonic() + timeout_s
        while not all((self.record_dir / f"{n}.jsonl").exists() for n in self.processes):
            for node_id, process in self.processes.items():
                assert process.poll() is None, f"{node_id} exited; log:\n{self.log(node_id)}"
            assert time.monotonic() < deadline, "the nodes did not come up"
            time.sleep(0.05)
        self.start_at = time.time() + 0.5
        (self.root / "start-at").write_text(repr(self.start_at))

    def wait_for_lines(self, node_id: str, n: int, timeout_s: float = 60.0) -> int:
        """Wait until ``node_id``'s record holds ``n`` lines; returns how many it holds."""
        path = self.record_dir / f"{node_id}.jsonl"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if path.exists():
                count = path.read_bytes().count(b"\n")
                if count >= n:
                    return count
            time.sleep(0.05)
        raise AssertionError(f"{node_id} holds fewer than {n} lines after {timeout_s} s")

    def computing(self, polls: dict[str, deque[bool]]) -> bool:
        """Take one sample of every node's state into ``polls``; whether any node was running
        at half of its last :data:`BUSY_POLLS` samples or more."""
        for node_id, process in self.processes.items():
            polls.setdefault(node_id, deque(maxlen=BUSY_POLLS)).append(running(process.pid))
        return any(2 * sum(p) >= BUSY_POLLS for p in polls.values())

    def last_partner_report_due(self, node_id: str) -> float:
        """The latest wall time (POSIX s) at which a partner's report that ``node_id`` holds was
        due from its owner's feed (-inf if none): a report due after a cut of ``node_id``'s
        link was published after it and cannot have come through. Unlike a count of lines
        taken some time after the cut, this does not depend on how long the node takes to
        record what it had fetched before it: loaded, or blocked for a publish timeout on
        acknowledgements that cannot come, a record that stood still for 1 s after the cut
        still grew by 4 lines fetched before it."""
        t0 = min(
            parse_time(json.loads(line)["time"]) for line in self.feed.read_text().splitlines()
        )
        return max(
            (
                self.start_at + (parse_time(line["time"]) - t0) / SPEED
                for line in self.records()[node_id]
                if line["product"] == "report" and line["origin_node"] != node_id
            ),
            default=-math.inf,
        )

    def kill(self, node_id: str) -> None:
        process = self.processes[node_id]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def wait(self, timeout_s: float = 180.0) -> None:
        """Wait for the feed to end and every record to stay unchanged, with no node computing,
        for ``QUIET_S`` (module docstring), then stop every node with SIGTERM (a clean exit,
        status 0)."""
        times = [json.loads(line)["time"] for line in self.feed.read_text().splitlines()]
        span = parse_time(max(times)) - parse_time(min(times))
        feed_end = self.start_at + span / SPEED
        deadline = time.monotonic() + timeout_s
        sizes: dict[str, int] = {}
        polls: dict[str, deque[bool]] = {}
        quiet_since = time.monotonic()
        while True:
            for node_id, process in self.processes.items():
                code = process.poll()
                assert code is None, f"{node_id} exited {code}; log:\n{self.log(node_id)}"
            now_sizes = {
                n: (self.record_dir / f"{n}.jsonl").stat().st_size
                if (self.record_dir / f"{n}.jsonl").exists()
                else -1
                for n in self.processes
            }
            if self.computing(polls) or now_sizes != sizes:
                sizes, quiet_since = now_sizes, time.monotonic()
            elif time.time() > feed_end and time.monotonic() - quiet_since >= QUIET_S:
                break
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError("the federation did not settle")
            time.sleep(POLL_S)
        for process in self.processes.values():
            process.terminate()
        for node_id, process in self.processes.items():
            code = process.wait(timeout=30)
            assert code == 0, f"{node_id} exited {code}; log:\n{self.log(node_id)}"

    def log(self, node_id: str) -> str:
        n = self.starts.get(node_id, 1) - 1
        return (self.root / f"{node_id}.{n}.log").read_text(errors="replace")[-4000:]

    def records(self) -> dict[str, list[dict[str, Any]]]:
        return {
            node_id: read_record(self.record_dir / f"{node_id}.jsonl")
            for node_id in self.agreement.node_ids
        }

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for proxy in self.proxies.values():
            proxy.close()
        self.server.stop()


def assert_same_records(
    got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]
) -> None:
    """Nothing lost, nothing duplicated, every node's record equal to the reference run's."""
    for node_id, lines in got.items():
        keys = record_keys(lines)
        assert len(keys) == len(set(keys)), f"{node_id}: a product recorded twice"
        reference = canonical(want[node_id])
        mine = canonical(lines)
        missing = sorted(set(reference) - set(mine))
        extra = sorted(set(mine) - set(reference))
        assert not missing and not extra, (
            f"{node_id}: {len(missing)} lines missing {_by_origin(missing)}, "
            f"{len(extra)} extra {_by_origin(extra)}"
        )


def _by_origin(lines: list[str]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for text in lines:
        line = json.loads(text)
        key = (line["product"], line["origin_node"])
        out[key] = out.get(key, 0) + 1
    return out
