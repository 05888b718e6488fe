"""The scenario clock of a replayed run, as operators see it (``kizuna demo``).

A replay (laptop mode) drives every node over a scenario at ``speed`` scenario seconds per wall
second. The pipeline may not keep up: then data time falls behind the schedule, and the map
must say so rather than pretend (nothing is dropped to catch up, see
:func:`kizuna.sharing.federation.drive`). :class:`RunClock` is the shared record of where the
run is: the driver calls :meth:`RunClock.advance` after every tick (from its own thread), the
API serves :meth:`RunClock.snapshot` at ``GET /api/v1/clock``.

Definitions (all times POSIX seconds, UTC):

* ``scenario_s``: the last tick the driver finished (every node has taken in every report
  delivered by then);
* the *schedule*: the first tick ``T1`` finished at wall time ``W1``; tick ``T`` is due at
  ``W1 + (T - T1) / speed``;
* ``lag_s``: how far (scenario seconds) the run is behind its schedule *now*,
  ``T1 + (wall_now - W1) * speed - scenario_s``, never negative (the driver waits for a tick's
  due time, so a run that keeps up shows at most one tick of lag). None at ``speed == 0``
  (as fast as possible: there is no schedule);
* ``late_s``: the same in wall seconds, ``lag_s / speed``: how long ago the moment now shown
  was due (what an audience feels: "the picture is 30 s late");
* ``achieved_speed``: ``(scenario_s - T1) / (W_last - W1)``, what the run actually sustained.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from kizuna.timefmt import format_time

RunState = Literal["starting", "running", "finished", "stopped"]


class RunClock:
    """Thread-safe scenario clock of one replayed run (see the module docstring).

    ``origin_s`` is the scenario's T+0 (the first launch), ``end_s`` the last report's delivery
    time; both only label the clock. ``wall`` is a monotonic clock in seconds (tests pass a
    fake one).
    """

    def __init__(
        self,
        *,
        speed: float,
        origin_s: float | None = None,
        end_s: float | None = None,
        name: str = "",
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = float(speed)
        self.origin_s = origin_s
        self.end_s = end_s
        self.name = name
        self._wall = wall
        self._lock = threading.Lock()
        self._state: RunState = "starting"
        self._first: tuple[float, float] | None = None  # (scenario s, wall s) of the first tick
        self._last: tuple[float, float] | None = None
        self._stopped_wall: float | None = None

    def advance(self, scenario_s: float) -> None:
        """The driver finished the tick at ``scenario_s`` (call after every tick)."""
        now = self._wall()
        with self._lock:
            if self._first is None:
                self._first = (float(scenario_s), now)
            self._last = (float(scenario_s), now)
            self._state = "running"

    def finish(self, state: Literal["finished", "stopped"] = "finished") -> None:
        """The run ended (``stopped``: interrupted before the end of the scenario)."""
        with self._lock:
            self._state = state
            self._stopped_wall = self._wall()

    @property
    def state(self) -> RunState:
        with self._lock:
            return self._state

    @property
    def scenario_s(self) -> float | None:
        with self._lock:
            return None if self._last is None else self._last[0]

    def lag_s(self) -> float | None:
        """Scenario seconds behind the schedule now (None before the first tick or at speed 0)."""
        with self._lock:
            return self._lag(self._wall())

    def _lag(self, now: float) -> float | None:
        if self._first is None or self._last is None or self.speed == 0:
            return None
        if self._stopped_wall is not None:
            now = self._stopped_wall  # an ended run falls no further behind
        due = self._first[0] + (now - self._first[1]) * self.speed
        return max(due - self._last[0], 0.0)

    def late_s(self) -> float | None:
        """Wall seconds behind the schedule now (None before the first tick or at speed 0)."""
        lag = self.lag_s()
        return None if lag is None else lag / self.speed

    def achieved_speed(self) -> float | None:
        """Scenario seconds per wall second sustained since the first tick (None: too early)."""
        with self._lock:
            if self._first is None or self._last is None:
                return None
            wall = self._last[1] - self._first[1]
            if wall < 1e-3:
                return None
            return (self._last[0] - self._first[0]) / wall

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /api/v1/clock`` serves (times as RFC 3339 strings and POSIX seconds)."""
        achieved = self.achieved_speed()
        with self._lock:
            scenario = None if self._last is None else self._last[0]
            lag = self._lag(self._wall())
            state = self._state
        return {
            "mode": "replay",
            "name": self.name,
            "state": state,
            "speed": self.speed,
            "achieved_speed": None if achieved is None else round(achieved, 3),
            "scenario_time": None if scenario is None else format_time(scenario),
            "scenario_s": scenario,
            "origin_time": None if self.origin_s is None else format_time(self.origin_s),
            "end_time": None if self.end_s is None else format_time(self.end_s),
            "lag_s": None if lag is None else round(lag, 3),
            "late_s": None if lag is None else round(lag / self.speed, 3),
        }


def live_snapshot(now_s: float) -> dict[str, Any]:
    """The clock of a live node: data time is wall time, there is no schedule to lag."""
    return {
        "mode": "live",
        "name": "",
        "state": "running",
        "speed": 1.0,
        "achieved_speed": None,
        "scenario_time": format_time(now_s),
        "scenario_s": now_s,
        "origin_time": None,
        "end_time": None,
        "lag_s": None,
        "late_s": None,
    }


__all__ = ["RunClock", "RunState", "live_snapshot"]
