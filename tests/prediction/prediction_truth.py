"""Truth flights for the prediction tests, built from the physics boost model directly.

A full trajectory *design* is slow (a search over many flights); these tests need only one
known flight each, so they fly the boost model with fixed burn time and pitch and propagate
the burnout state: the physics is the same, the truth is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kizuna.physics.boost import LaunchGeometry, Vehicle, fly_boost
from kizuna.physics.propagate import ImpactResult, propagate_fixed, propagate_to_impact

LAUNCH_TIME_S = 1_795_000_000.0  # 2026-11-18, an arbitrary POSIX epoch


@dataclass(frozen=True)
class TruthFlight:
    geometry: LaunchGeometry
    vehicle: Vehicle
    burn_s: float
    boost_trace: list[tuple[np.ndarray, np.ndarray]]
    burnout: np.ndarray  # (6,)
    impact: ImpactResult  # from burnout, times absolute

    def state_after_burnout(self, coast_s: float) -> tuple[np.ndarray, float]:
        """ECEF state (6,) and its absolute time ``coast_s`` after burnout."""
        if coast_s == 0:
            return self.burnout.copy(), LAUNCH_TIME_S + self.burn_s
        _, states = propagate_fixed(
            self.burnout[None], coast_s, 1.0, self.vehicle.ballistic_coefficient_kg_m2
        )
        return states[-1, 0], LAUNCH_TIME_S + self.burn_s + coast_s


def fly(geometry: LaunchGeometry, vehicle: Vehicle, burn_s: float, pitch_deg: float) -> TruthFlight:
    burnout, trace = fly_boost(
        geometry, vehicle, np.array([burn_s]), np.array([pitch_deg]), record=True
    )
    impact = propagate_to_impact(
        burnout, LAUNCH_TIME_S + burn_s, vehicle.ballistic_coefficient_kg_m2
    )
    return TruthFlight(geometry, vehicle, burn_s, trace, burnout[0], impact)
