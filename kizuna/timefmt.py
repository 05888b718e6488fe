"""Times at the edges: RFC 3339 UTC strings <-> POSIX seconds inside the core.

The contract writes times as ``2026-11-25T03:12:45.250Z`` (UTC, millisecond precision).
Inside the core a time is a float of POSIX seconds; float64 resolves well below a microsecond
for dates in this century, which is far finer than any sensor's timing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kizuna.errors import InputError


def parse_time(text: str) -> float:
    """Parse an RFC 3339 timestamp with an explicit offset (``Z`` or ``+09:00``) to POSIX s."""
    if not isinstance(text, str):
        raise InputError(f"expected an RFC 3339 string, got {type(text).__name__}")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:
        raise InputError(f"not an RFC 3339 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise InputError(f"time {text!r} has no UTC offset; write it as ...Z")
    return moment.timestamp()


def format_time(posix_s: float) -> str:
    """Format POSIX seconds as the contract's RFC 3339 UTC string, rounded to milliseconds."""
    millis = round(float(posix_s) * 1000.0)
    moment = datetime.fromtimestamp(millis // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis % 1000:03d}Z"
