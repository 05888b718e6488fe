"""Warning: from predictions to alerts (regions at risk, lifecycle, messages in en/ja/ko).

The prediction/tracking pipeline calls::

    engine = AlertEngine()                      # loads the shipped regions once
    alerts = engine.update(prediction, ground_track, now_s)   # per track update
    alerts += engine.tick(now_s)                # periodically / at end of run

with ``prediction`` a :class:`kizuna.contract.PredictionProduct`, ``ground_track`` a
:class:`GroundTrack` (or ``None`` when there is none yet) and ``now_s`` POSIX seconds.
"""

from kizuna.warning.engine import AlertEngine, AlertRules, ThreatAlerts, alert_id_for, impact_level
from kizuna.warning.inputs import GroundTrack, GroundTrackLike
from kizuna.warning.messages import render

__all__ = [
    "AlertEngine",
    "AlertRules",
    "GroundTrack",
    "GroundTrackLike",
    "ThreatAlerts",
    "alert_id_for",
    "impact_level",
    "render",
]
