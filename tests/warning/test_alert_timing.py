"""Launch-to-first-alert figures of ``kizuna evaluate`` (kizuna.prediction.evaluation)."""

from __future__ import annotations

import json

import pytest

from kizuna.prediction.evaluation import alert_latency, load_alerts
from kizuna.timefmt import format_time

from .conftest import NOW


def _line(track_id: str, dt: float, kind: str, level: str, status: str) -> dict:
    return {
        "track_id": track_id,
        "time": format_time(NOW + dt),
        "kind": kind,
        "level": level,
        "status": status,
    }


def test_first_alert_overall_and_per_kind_and_level(tmp_path):
    lines = [
        _line("T9", 20.0, "impact", "notice", "issued"),  # another object's track
        _line("T1", 68.0, "impact", "notice", "issued"),
        _line("T1", 146.0, "overflight", "warning", "issued"),
        _line("T2", 160.0, "impact", "notice", "updated"),  # same object, second track
        _line("T1", 300.0, "impact", "advisory", "updated"),  # a notice became an advisory
        _line("T1", 900.0, "impact", "advisory", "impacted"),  # closing lines do not count
    ]
    path = tmp_path / "alerts.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    first, by = alert_latency(load_alerts(path), ["T1", "T2"], NOW)
    assert first == pytest.approx(68.0)
    assert by == pytest.approx(
        {"impact/notice": 68.0, "overflight/warning": 146.0, "impact/advisory": 300.0}
    )
    assert list(by) == ["impact/notice", "overflight/warning", "impact/advisory"]  # by time
    assert alert_latency(lines, ["T7"], NOW) == (None, {})
