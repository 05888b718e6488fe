"""Track initiation with no prior: two located points, or a launch detection.

Two-point initiation. Two radar plots located in ECEF, p1 at t1 and p2 at t2 (possibly from
different sensors), with covariances R1 and R2. Under any motion with bounded acceleration a,
the chord velocity (p2 - p1) / dt is the mean velocity over [t1, t2], so

    v(t2) = (p2 - p1) / dt + a(p2) dt / 2 + e,   e = thrust error a_t dt / 2 (boost only),

with a(p2) the modelled (gravity + frame) acceleration. Hence the estimate at t2

    r = p2,  v as above,
    P_rr = R2,  P_rv = R2 / dt,  P_vv = (R1 + R2) / dt^2 (+ (sigma_t dt / 2)^2 I for boost).

Pairs are formed only if the implied speed is below ``max_speed_mps`` (plus 4 sigma of the
located points) and 0 < dt <= ``max_dt_s``; among several candidates the squared displacement
is minimised globally (objects of a salvo keep their order along the path, which the
squared-distance assignment preserves and a sum of distances does not).

Launch seed. A space-based IR launch detection gives the site (lat, lon, sigma_m) and time:
the missile is on the pad at that time with zero velocity, accelerating upwards. The seed is a
tentative boost-mode track: position sigma_m horizontally and 200 m vertically, 5 m/s velocity,
thrust mean 20 m/s^2 along the local vertical with 10 m/s^2 per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kizuna.geo.frames import enu_rotation, lla_to_ecef
from kizuna.physics.dynamics import ForceModel, acceleration_ecef
from kizuna.tracking.imm import BALLISTIC_MODE, BOOST_MODE, THRUST_SIGMA_MPS2
from kizuna.tracking.motion import (
    BALLISTIC_DIM,
    BOOST_DIM,
    LOG_BETA,
    LOG_BETA_PRIOR,
    LOG_BETA_SIGMA,
    THRUST,
)

Array = NDArray[np.float64]

# The chord correction's acceleration: gravity (J2) and the frame terms. Drag is not in it
# (the chord's object is of unknown beta); the full model with beta = inf added zeros.
_GRAVITY_FRAME = ForceModel(j2=True, rotation=True, drag=False)

THRUST_PRIOR_MPS2 = 30.0  # typical thrust acceleration of a missile mid-burn (20-100 m/s^2)


@dataclass(frozen=True)
class InitialState:
    """Model-conditioned initial estimates for K tracks (IMM layout)."""

    xm: Array  # (K, 2, 10)
    Pm: Array  # (K, 2, 10, 10)
    mu: Array  # (K, 2)


def _empty(k: int) -> tuple[Array, Array]:
    return np.zeros((k, 2, BOOST_DIM)), np.zeros((k, 2, BOOST_DIM, BOOST_DIM))


def two_point(
    p1: Array, R1: Array, t1: Array, p2: Array, R2: Array, t2: Array, boost_probability: Array
) -> InitialState:
    """Initial IMM states at t2 from located points (K, 3) with covariances (K, 3, 3)."""
    dt = (t2 - t1)[:, None]
    chord = (p2 - p1) / dt
    accel = acceleration_ecef(p2, chord, forces=_GRAVITY_FRAME)
    v = chord + 0.5 * accel * dt
    k = p2.shape[0]
    xm, Pm = _empty(k)
    xm[:, :, 0:3] = p2[:, None]
    xm[:, :, 3:6] = v[:, None]
    xm[:, :, LOG_BETA] = LOG_BETA_PRIOR
    dt3 = dt[:, :, None]
    P_rv = R2 / dt3
    P_vv = (R1 + R2) / dt3**2
    for mode in (BOOST_MODE, BALLISTIC_MODE):
        Pm[:, mode, 0:3, 0:3] = R2
        Pm[:, mode, 0:3, 3:6] = P_rv
        Pm[:, mode, 3:6, 0:3] = P_rv
        Pm[:, mode, 3:6, 3:6] = P_vv
        Pm[:, mode, LOG_BETA, LOG_BETA] = LOG_BETA_SIGMA**2
    # A rocket in powered flight thrusts roughly along its velocity (a gravity turn), so the
    # boost mode starts with a typical thrust along the chord, not at zero.
    speed = np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
    xm[:, BOOST_MODE, THRUST] = THRUST_PRIOR_MPS2 * v / speed
    thrust_v = (0.5 * THRUST_SIGMA_MPS2 * dt[:, 0]) ** 2
    Pm[:, BOOST_MODE, 3:6, 3:6] += thrust_v[:, None, None] * np.eye(3)
    Pm[:, BOOST_MODE, THRUST, THRUST] = THRUST_SIGMA_MPS2**2 * np.eye(3)
    mu = np.stack([boost_probability, 1.0 - boost_probability], axis=-1)
    return InitialState(xm, Pm, mu)


def launch_seed(lat_deg: float, lon_deg: float, sigma_m: float) -> InitialState:
    """Initial IMM state of a missile on the pad at the reported launch time (one track)."""
    site = lla_to_ecef(lat_deg, lon_deg, 0.0)
    rot = enu_rotation(lat_deg, lon_deg)  # rows east, north, up
    xm, Pm = _empty(1)
    xm[0, :, 0:3] = site
    xm[0, :, LOG_BETA] = LOG_BETA_PRIOR
    xm[0, BOOST_MODE, THRUST] = 20.0 * rot[2]
    pos_enu = np.diag([sigma_m**2, sigma_m**2, 200.0**2])
    for mode in (BOOST_MODE, BALLISTIC_MODE):
        Pm[0, mode, 0:3, 0:3] = rot.T @ pos_enu @ rot
        Pm[0, mode, 3:6, 3:6] = 25.0 * np.eye(3)
        Pm[0, mode, LOG_BETA, LOG_BETA] = LOG_BETA_SIGMA**2
    Pm[0, BOOST_MODE, THRUST, THRUST] = 100.0 * np.eye(3)
    mu = np.array([[0.999, 0.001]])
    return InitialState(xm, Pm, mu)


__all__ = [
    "BALLISTIC_DIM",
    "LOG_BETA_PRIOR",
    "LOG_BETA_SIGMA",
    "InitialState",
    "launch_seed",
    "two_point",
]
