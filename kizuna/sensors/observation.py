"""What every sensor model produces: an observation before it becomes a contract report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Observation:
    """One sensor output. ``fields`` are the report's kind-specific fields, in contract order.

    ``time_s`` is the report's ``time`` (for a launch detection, the launch time);
    ``available_s`` when the sensor delivers it (later for delayed sensors), for real-time
    replays; ``object_id`` the true object behind it (None for a false alarm), never written.
    """

    time_s: float
    available_s: float
    sensor_id: str
    kind: str
    fields: dict[str, Any]
    object_id: str | None


def sensor_ref(sensor_id: str, nation: str, lat: float, lon: float, alt_m: float) -> dict[str, Any]:
    """The contract's ``sensor`` object."""
    return {"id": sensor_id, "nation": nation, "lat": lat, "lon": lon, "alt_m": alt_m}
