"""Counters and gauges of a node's operator interfaces, in Prometheus text format (0.0.4).

Small on purpose: labelled counters, gauges read from a callable at scrape time, and one
``render`` that writes the exposition format (``# HELP``, ``# TYPE``, one sample per line,
label values escaped). Shared by the API and the CoT server of one node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_Key = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(key: _Key) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in key) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """A registry; thread-safe (the CoT server and the API may run in different threads)."""

    def __init__(self, namespace: str = "kizuna") -> None:
        self._ns = namespace
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[str, dict[_Key, float]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def counter(self, name: str, help_text: str) -> None:
        """Declare a counter (``_total`` is appended to the name)."""
        with self._lock:
            full = f"{self._ns}_{name}_total"
            self._help.setdefault(full, ("counter", help_text))
            self._counters.setdefault(full, {})

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        full = f"{self._ns}_{name}_total"
        key = tuple(sorted((k, str(v)) for k, v in labels.items()))
        with self._lock:
            series = self._counters.setdefault(full, {})
            self._help.setdefault(full, ("counter", name.replace("_", " ")))
            series[key] = series.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        full = f"{self._ns}_{name}_total"
        key = tuple(sorted((k, str(v)) for k, v in labels.items()))
        with self._lock:
            return self._counters.get(full, {}).get(key, 0.0)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge whose value is read at scrape time."""
        full = f"{self._ns}_{name}"
        with self._lock:
            self._help[full] = ("gauge", help_text)
            self._gauges[full] = read

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = {name: dict(series) for name, series in self._counters.items()}
            gauges = dict(self._gauges)
            helps = dict(self._help)
        for name in sorted(counters):
            kind, text = helps[name]
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for key in sorted(counters[name]):
                lines.append(f"{name}{_labels(key)} {_number(counters[name][key])}")
        for name in sorted(gauges):
            kind, text = helps[name]
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.append(f"{name} {_number(float(gauges[name]()))}")
        return "\n".join(lines) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

__all__ = ["CONTENT_TYPE", "Metrics"]
