"""tracking: filters, association, track management, multi-sensor and track-to-track fusion.

The entry point is :class:`Tracker` (see :mod:`kizuna.tracking.tracker`); the pieces it is
built from are usable alone: motion models (:mod:`.motion`), measurement models
(:mod:`.measurement`), the EKF and cubature filters (:mod:`.filters`), the IMM (:mod:`.imm`),
gating and assignment (:mod:`.association`), initiation (:mod:`.initiation`) and covariance
intersection (:mod:`.fusion`).
"""

from kizuna.tracking.tracker import Tracker, TrackerConfig, TrackUpdate

__all__ = ["TrackUpdate", "Tracker", "TrackerConfig"]
