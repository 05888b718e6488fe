"""Running ``kizuna demo`` in a thread of a test, held at the start until the test is ready.

The demo runs in a background thread (its own event loop; Ctrl-C handling needs the main
thread, which stays the test's) with the map on a free port. ``on_serving`` blocks the run
until :meth:`LiveDemo.go`: the test connects its WebSocket or opens its page first, so what it
sees afterwards is live, not read back from history.
"""

from __future__ import annotations

import io
import queue
import threading
from pathlib import Path

from rich.console import Console

from kizuna.interfaces.cli.demo import DemoResult, Serving, run_demo

SCENARIO = Path(__file__).resolve().parent / "data" / "demo-srbm.yaml"


class LiveDemo:
    """One demo run over :data:`SCENARIO` (trilateral agreement) in a background thread."""

    def __init__(self, run_dir: Path, *, speed: float = 50.0) -> None:
        self.output = io.StringIO()
        self.console = Console(file=self.output, width=220, force_terminal=False)
        self._served: queue.Queue[Serving] = queue.Queue()
        self._gate = threading.Event()
        self.result: DemoResult | None = None
        self.error: BaseException | None = None
        self.run_dir = run_dir
        self._thread = threading.Thread(target=self._main, args=(speed,), daemon=True)

    def _on_serving(self, serving: Serving) -> None:
        self._served.put(serving)
        if not self._gate.wait(120):
            raise TimeoutError("the test never started the run")

    def _main(self, speed: float) -> None:
        try:
            self.result = run_demo(
                scenario=str(SCENARIO),
                speed=speed,
                port=0,
                run_dir=self.run_dir,
                console=self.console,
                on_serving=self._on_serving,
            )
        except BaseException as exc:  # handed to the test thread by wait()
            self.error = exc
            self._gate.set()

    def start(self, timeout_s: float = 60.0) -> Serving:
        """Start the thread; returns once the map is served (the run itself is held)."""
        self._thread.start()
        while True:
            try:
                return self._served.get(timeout=0.2)
            except queue.Empty:
                if self.error is not None:
                    raise self.error from None
                timeout_s -= 0.2
                if timeout_s <= 0:
                    raise TimeoutError("the demo did not start serving") from None

    def go(self) -> None:
        """Let the run start."""
        self._gate.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout_s: float = 240.0) -> DemoResult:
        self.go()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError("the demo did not finish")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def text(self) -> str:
        return self.output.getvalue()


__all__ = ["SCENARIO", "LiveDemo"]
