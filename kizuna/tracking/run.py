"""Run the tracker over a report file: the library side of ``kizuna track``.

:func:`track_file` reads a JSON-lines report file, reports each malformed line (line number,
field, reason) to a callback and skips it, feeds the rest to a :class:`Tracker` in file order
(its reorder window absorbs input that is a few seconds out of order) and writes the contract
outputs: ``tracks.jsonl`` (one :class:`~kizuna.contract.TrackProduct` per confirmed-track
update), and ``predictions.jsonl`` / ``alerts.jsonl`` (empty here; prediction and warning fill
them when wired in by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kizuna.contract import dumps, read_reports
from kizuna.errors import InputError
from kizuna.tracking.tracker import Tracker, TrackerConfig, TrackUpdate


@dataclass(frozen=True)
class TrackRunSummary:
    lines: int
    reports: int
    malformed: int
    duplicates: int
    late: int
    track_updates: int
    tracks: int


def track_file(
    in_path: Path,
    out_dir: Path,
    *,
    config: TrackerConfig | None = None,
    on_error: Callable[[InputError], None] | None = None,
    on_updates: Callable[[list[TrackUpdate]], None] | None = None,
    tracker: Tracker | None = None,
) -> TrackRunSummary:
    """Track every report of ``in_path``; write ``tracks.jsonl`` etc. into ``out_dir``.

    ``tracker`` lets a caller supply (and keep) the tracker, e.g. the one inside a warning
    pipeline. Raises :class:`InputError` if the input cannot be read or the output directory
    not made.
    """
    try:
        handle = in_path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read reports: {exc.strerror}", source=str(in_path)) from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        handle.close()
        raise InputError(
            f"cannot create output directory: {exc.strerror}", source=str(out_dir)
        ) from None
    tracker = tracker if tracker is not None else Tracker(config)
    lines = reports = malformed = updates = 0
    track_ids: set[str] = set()
    with handle, (out_dir / "tracks.jsonl").open("w", encoding="utf-8") as tracks_out:

        def emit(batch: list[TrackUpdate]) -> None:
            nonlocal updates
            for update in batch:
                tracks_out.write(dumps(update.to_product()) + "\n")
                track_ids.add(update.track_id)
            updates += len(batch)
            if on_updates is not None and batch:
                on_updates(batch)

        latest = float("-inf")
        for number, item in read_reports(handle, source=str(in_path)):
            lines = number
            if isinstance(item, InputError):
                malformed += 1
                if on_error is not None:
                    on_error(item)
                continue
            reports += 1
            tracker.ingest(item)
            latest = max(latest, item.t)
            emit(tracker.advance(latest))
        emit(tracker.flush())
    for name in ("predictions.jsonl", "alerts.jsonl"):
        (out_dir / name).touch()
    return TrackRunSummary(
        lines, reports, malformed, tracker.duplicates, tracker.late, updates, len(track_ids)
    )


__all__ = ["TrackRunSummary", "track_file"]
