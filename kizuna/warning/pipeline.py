"""One node's picture: reports in; tracks, predictions and alerts out.

The pipeline chains the three stateful stages every node runs over whatever it may receive:

    Tracker (kizuna.tracking) -> Predictor (kizuna.prediction) -> AlertEngine (kizuna.warning)

It lives in the warning package because warning is the highest of the three layers; the CLI
(`kizuna track`), the in-process nodes of `kizuna run` and the federated `kizuna node` all use
this one class, so every mode computes the same picture from the same inputs.

Time is the *data's* time: tracks and predictions are stamped with their state times and
alerts with the time of the prediction that raised them, so a replay gives the same products
as the live run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kizuna.contract import (
    AnyProduct,
    AnyReport,
)
from kizuna.prediction.predictor import Predictor
from kizuna.prediction.predictor import TrackUpdate as PredictorInput
from kizuna.timefmt import parse_time
from kizuna.tracking.tracker import Tracker, TrackerConfig, TrackUpdate
from kizuna.warning.engine import AlertEngine

Product = AnyProduct


@dataclass
class PipelineCounts:
    reports: int = 0
    duplicates: int = 0
    tracks: int = 0
    predictions: int = 0
    alerts: int = 0
    track_ids: set[str] = field(default_factory=set)


class Pipeline:
    """Tracker -> predictor -> alert engine for one node (stateful; not thread-safe)."""

    def __init__(
        self,
        tracker: Tracker | None = None,
        predictor: Predictor | None = None,
        alerts: AlertEngine | None = None,
        *,
        tracker_config: TrackerConfig | None = None,
    ) -> None:
        self.tracker = tracker if tracker is not None else Tracker(tracker_config)
        # A prediction every 2 s of data time per track is ample for warning (alerts change on
        # 30 s of impact time) and keeps a laptop ahead of real time when the drag estimate is
        # still vague and the predictor falls back to Monte Carlo.
        self.predictor = (
            predictor if predictor is not None else Predictor(min_interval_s=2.0, samples=200)
        )
        self.alerts = alerts if alerts is not None else AlertEngine()
        self.counts = PipelineCounts()
        self._live: set[str] = set()  # the tracker's confirmed tracks after the last batch

    def ingest(self, report: AnyReport) -> bool:
        """Buffer one validated report; False if it is a duplicate (or too late to use)."""
        accepted = self.tracker.ingest(report)
        if accepted:
            self.counts.reports += 1
        else:
            self.counts.duplicates += 1
        return accepted

    def advance(self, now_s: float) -> list[Product]:
        """Process what the reorder window releases at ``now_s``; the new products, in order."""
        return self.derive(self.tracker.advance(now_s), now_s)

    def flush(self) -> list[Product]:
        """Process everything buffered (the reorder window is not waited for)."""
        updates = self.tracker.flush()
        return self.derive(updates, max((u.time_s for u in updates), default=None))

    def finish(self) -> list[Product]:
        """End of a batch run: flush, then close every open alert at its own due time."""
        out = self.flush()
        closing = self.alerts.finish()
        self.counts.alerts += len(closing)
        return out + closing

    def process(self, reports: Iterable[AnyReport]) -> list[Product]:
        """Ingest reports in order, advancing with the data clock, then finish (batch use)."""
        out: list[Product] = []
        latest = float("-inf")
        for report in reports:
            self.ingest(report)
            latest = max(latest, report.t)
            out.extend(self.advance(latest))
        out.extend(self.finish())
        return out

    def derive(self, updates: list[TrackUpdate], now_s: float | None) -> list[Product]:
        """Track, prediction and alert products from a batch of track updates.

        Public so that a caller driving its own tracker loop (``kizuna track``) shares this
        one path from track updates to alerts.
        """
        out: list[Product] = []
        for update in updates:
            out.append(update.to_product())
            self.counts.track_ids.add(update.track_id)
        self.counts.tracks += len(updates)
        predictions = self.predictor.update([PredictorInput.from_track(u) for u in updates])
        for prediction in predictions:
            out.append(prediction.product)
            self.counts.predictions += 1
            alerts = self.alerts.consume(prediction, now_s=parse_time(prediction.product.time))
            out.extend(alerts)
            self.counts.alerts += len(alerts)
        live = self.tracker.live_track_ids()
        if now_s is not None:
            # Tracks the tracker dropped in this batch (deleted, or merged into another).
            closing = self.alerts.tracks_ended(self._live - live, now_s)
            closing += self.alerts.tick(now_s)
            out.extend(closing)
            self.counts.alerts += len(closing)
        self._live = live
        return out
