"""The predictor: track updates in, prediction products (and ground tracks) out.

One :class:`Predictor` serves all tracks of a node. Each call to :meth:`Predictor.update` takes
a batch of track updates, drops those predicted too recently (per-track rate limit), and runs
the remaining ones through the vectorised impact, launch and category computations together.

Per-track memory (why the class exists): the time of the last prediction and its phase (rate
limiting), and the best launch estimate so far. A launch point is best estimated early in the
coast, from the first well-converged state, and it does not change with time, so the estimate
with the smallest ``sigma_m`` is kept rather than one that degrades as the track moves away
from the pad and more back-propagation accumulates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kizuna.contract import (
    Ellipse95,
    ImpactPoint,
    LaunchPoint,
    Marking,
    PredictionProduct,
)
from kizuna.geo.constants import WGS84_GM_M3_S2
from kizuna.geo.geodesic import distance_m
from kizuna.physics.dynamics import FULL, NO_DRAG, ForceModel, approx_altitude_m
from kizuna.prediction.category import classify, inertial_velocity_mps
from kizuna.prediction.impact import (
    DEFAULT_HORIZON_S,
    GroundTrack,
    Method,
    from_local_en_m,
    ground_tracks,
    local_en_m,
    predict_impact,
)
from kizuna.prediction.launch import LaunchEstimate, estimate_launch
from kizuna.timefmt import format_time

Array = NDArray[np.float64]

MIN_HIT_PROBABILITY = 0.05  # below this, a partly-orbital track gets no impact point
# Horizon of the ground track of an object that will not come down (orbital), is still under
# thrust, or whose impact is not predicted: 15 min carries a low orbit ~7,000 km downrange,
# past every region kizuna warns for from any launch site in North Korea, while a whole
# revolution (~95 min) would only cost time and warn for nothing further.
PATH_HORIZON_S = 900.0


@dataclass(frozen=True)
class TrackUpdate:
    """One track's filtered state, as the tracker hands it over.

    ``x`` (6,) ECEF [r (m), v (m/s)] or (7,) with the inverse ballistic coefficient 1/beta
    (m^2/kg) last, as :class:`kizuna.tracking.tracker.TrackUpdate` carries it;
    ``P`` its covariance (6, 6) or (7, 7); ``time_s`` POSIX seconds of the state;
    ``ballistic_coefficient_kg_m2`` for 6-state tracks (inf = no drag); ``phase`` one of
    ``boost|midcourse|terminal|unknown`` (``unknown``: the tracker cannot yet tell powered
    from coasting flight, e.g. a new track low and slow; predicted as ``boost``, see
    :meth:`Predictor.update`). ``x_log``/``P_log`` (7,)/(7, 7), optional: the
    tracker's own Gaussian on (r, v, ln beta); when every update of a batch has it, sigma
    points are placed there (every point a physical drag), not on the 1/beta moments, whose
    sigma in midcourse exceeds the mean and would send the track to Monte Carlo.
    """

    track_id: str
    time_s: float
    x: ArrayLike
    P: ArrayLike
    marking: Marking
    ballistic_coefficient_kg_m2: float = NO_DRAG
    phase: str = "unknown"
    exercise: bool = False
    launch_report: tuple[float, float, float, float] | None = None  # IR: t_s, lat, lon, sigma_m
    x_log: ArrayLike | None = None
    P_log: ArrayLike | None = None

    @classmethod
    def from_track(cls, track: Any) -> TrackUpdate:
        """From the tracker's ``kizuna.tracking.tracker.TrackUpdate`` (duck-typed, no import).

        Uses its ``track_id, time_s, x (7: r, v, 1/beta), P, beta_kg_m2, phase, marking,
        exercise, launch`` and, if present, ``x_log, P_log``.
        """
        return cls(
            track_id=track.track_id,
            time_s=float(track.time_s),
            x=track.x,
            P=track.P,
            marking=track.marking,
            ballistic_coefficient_kg_m2=float(track.beta_kg_m2),
            phase=track.phase,
            exercise=bool(track.exercise),
            launch_report=track.launch,
            x_log=getattr(track, "x_log", None),
            P_log=getattr(track, "P_log", None),
        )


@dataclass(frozen=True)
class Prediction:
    """A prediction product plus what the contract does not carry but others need."""

    product: PredictionProduct
    # Predicted path of the mean (for overflight warnings): to impact for a ballistic track;
    # for an orbital, powered or not-coming-down track the unpowered path of the mean for at
    # most ``Predictor.path_horizon_s`` (for a powered track: the instantaneous impact point's
    # path, where it would go if the thrust stopped now). None when ground tracks are off or
    # the track's phase is ``unknown``.
    ground_track: GroundTrack | None
    hit_probability: float  # fraction of the state distribution that comes down
    impact_time_sigma_s: float | None
    impact_covariance_en_m2: Array | None  # (2, 2) at the mean impact, metres^2
    launch_time_sigma_s: float | None


@dataclass
class _TrackMemory:
    last_time_s: float = -math.inf
    last_impact_s: float = math.nan  # predicted impact time at the last prediction
    last_phase: str = ""
    last_bypass_s: float = -math.inf  # last prediction at a phase change
    launch: tuple[float, float, float, float, float] | None = None  # t, lat, lon, sigma, t_sig
    launch_from_coast: bool = False
    launch_estimated_s: float = -math.inf
    max_alt_m: float = 0.0


def _osculating_apogee_m(state: Array) -> Array:
    """Two-body apogee height (m) above the ellipsoid; inf when unbound.

    The apogee radius minus the ellipsoid's radius at the state's own latitude (the apogee of
    a regional flight is within a few degrees of latitude of any of its states; the ellipsoid
    radius changes by ~100 m per degree there).
    """
    r = state[..., :3]
    v = inertial_velocity_mps(state)
    rn = np.linalg.norm(r, axis=-1)
    energy = 0.5 * np.einsum("...i,...i->...", v, v) - WGS84_GM_M3_S2 / rn
    h2 = np.sum(np.cross(r, v) ** 2, axis=-1)
    ground_radius = rn - approx_altitude_m(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = -WGS84_GM_M3_S2 / (2.0 * energy)
        ecc = np.sqrt(np.clip(1.0 + 2.0 * energy * h2 / WGS84_GM_M3_S2**2, 0.0, None))
        return np.where(energy < 0.0, a * (1.0 + ecc) - ground_radius, np.inf)


class Predictor:
    """Turns track updates into :class:`Prediction` objects, rate-limited per track.

    ``min_interval_s``: a track is re-predicted at most this often (0 predicts every update),
    except that a change of its phase is predicted at once; such an early prediction at most
    once per ``min_interval_s``, so a track whose phase flickers cannot bypass the limit more
    than once per interval (the tracker declares phases with hysteresis, so this is a bound,
    not the usual case). ``relative_interval``: and at most once per this fraction of
    its remaining flight time (as last predicted): an impact point 20 minutes away moves
    little in 2 s of data, while each prediction propagates every sigma point to the ground;
    0.02 re-predicts every 24 s at 20 minutes out and every 2 s in the last 100 s, where
    warnings need it (0 turns this off). ``method``: "unscented" (default; 13-15
    propagations per track) or "monte_carlo" (``samples`` per track, seeded by ``seed``).
    ``with_ground_track``: also propagate the mean state for the warning layer's overflight
    checks (to impact for a ballistic track, for ``path_horizon_s`` at most for an orbital or
    powered one).
    ``launch_interval_s``: how often a coasting track's launch estimate is refreshed.
    """

    def __init__(
        self,
        *,
        min_interval_s: float = 1.0,
        relative_interval: float = 0.02,
        method: Method = "unscented",
        samples: int = 500,
        seed: int = 0,
        forces: ForceModel = FULL,
        max_duration_s: float = DEFAULT_HORIZON_S,
        with_ground_track: bool = True,
        launch_interval_s: float = 10.0,
        path_horizon_s: float = PATH_HORIZON_S,
    ) -> None:
        self.min_interval_s = float(min_interval_s)
        self.relative_interval = float(relative_interval)
        self.method: Method = method
        self.samples = int(samples)
        self.forces = forces
        self.max_duration_s = float(max_duration_s)
        self.with_ground_track = with_ground_track
        self.launch_interval_s = float(launch_interval_s)
        self.path_horizon_s = float(path_horizon_s)
        self._rng = np.random.default_rng(seed)
        self._memory: dict[str, _TrackMemory] = {}

    def forget(self, track_id: str) -> None:
        """Drop a deleted track's memory."""
        self._memory.pop(track_id, None)

    def due(self, update: TrackUpdate) -> bool:
        """Whether this update would produce a prediction (rate limit and phase change).

        Due when the interval since the last prediction has passed, or when the phase changed
        and no other early (phase-change) prediction of this track happened within the last
        ``min_interval_s``.
        """
        memory = self._memory.get(update.track_id)
        if memory is None:
            return True
        interval = self.min_interval_s
        remaining = memory.last_impact_s - memory.last_time_s
        if remaining > 0.0:  # False for NaN (no impact predicted)
            interval = max(interval, self.relative_interval * remaining)
        if update.time_s - memory.last_time_s >= interval:
            return True
        return (
            update.phase != memory.last_phase
            and update.time_s - memory.last_bypass_s >= self.min_interval_s
        )

    def predict_one(self, update: TrackUpdate, *, force: bool = False) -> Prediction | None:
        """Single-track convenience around :meth:`update`."""
        out = self.update([update], force=force)
        return out[0] if out else None

    def update(self, updates: Sequence[TrackUpdate], *, force: bool = False) -> list[Prediction]:
        """Predict the due updates of a batch (vectorised over tracks); one Prediction each.

        Updates are taken in time order and the rate limit is applied to each as if they had
        come one at a time, so which updates are predicted depends only on the sequence of
        updates, not on how a caller happened to batch them (a reorder window releases
        different batches for the same reports arriving in a different order). With ``force``
        every track of the batch is predicted once, from its latest update.
        """
        if force:
            latest: dict[str, TrackUpdate] = {}
            for u in updates:
                if u.track_id not in latest or u.time_s >= latest[u.track_id].time_s:
                    latest[u.track_id] = u
            return self._predict(list(latest.values())) if latest else []
        out: list[Prediction] = []
        chunk: dict[str, TrackUpdate] = {}
        for u in sorted(updates, key=lambda u: u.time_s):
            if u.track_id in chunk:  # its earlier update must be predicted (memory) first
                out.extend(self._predict(list(chunk.values())))
                chunk = {}
            if self.due(u):
                chunk[u.track_id] = u
        if chunk:
            out.extend(self._predict(list(chunk.values())))
        return out

    def _predict(self, batch: list[TrackUpdate]) -> list[Prediction]:
        """Impact, launch and category of one update per track, all tracks at once."""
        log_beta = all(u.x_log is not None and u.P_log is not None for u in batch)
        if log_beta:
            x = np.stack([np.asarray(u.x_log, float) for u in batch])
            P = np.stack([np.asarray(u.P_log, float) for u in batch])
        else:
            dim = max(np.asarray(u.x).shape[-1] for u in batch)
            x = np.stack([_pad(np.asarray(u.x, float), dim, u) for u in batch])
            P = np.stack([_pad_cov(np.asarray(u.P, float), dim) for u in batch])
        t = np.array([u.time_s for u in batch])
        beta = np.array([u.ballistic_coefficient_kg_m2 for u in batch], float)
        phase = np.array([u.phase for u in batch])
        # Powered, or possibly powered: an impact point computed from a state that may still
        # be under thrust is where the object would fall if the thrust stopped now, and it
        # moves with every second of burn (tens of seconds and hundreds of km per update near
        # the end of a burn); it is withheld until the tracker declares the coast.
        undecided = phase == "unknown"
        boosting = (phase == "boost") | undecided
        phase = np.where(boosting, "boost", phase)

        category = classify(x, P, phase)
        # An orbital track has no impact to find, and back-propagating an orbit finds no pad:
        # both would only burn the whole horizon. Its launch stays as estimated earlier.
        coasting = ~boosting & (category != "orbital")
        hit_p = np.zeros(len(batch))
        impact = None
        if coasting.any():
            impact = predict_impact(
                x[coasting],
                P[coasting],
                t[coasting],
                beta[coasting],
                method=self.method,
                samples=self.samples,
                rng=self._rng,
                forces=self.forces,
                max_duration_s=self.max_duration_s,
                with_ground_tracks=self.with_ground_track,
                log_beta=log_beta,
            )
            hit_p[coasting] = impact.hit_probability
        launch = _no_launch(len(batch))
        # The launch point does not move: once a coast-based estimate exists it is refreshed
        # only every launch_interval_s (each refresh back-propagates every sigma point).
        stale = np.array(
            [
                not (m := self._memory.get(u.track_id))
                or not m.launch_from_coast
                or u.time_s - m.launch_estimated_s >= self.launch_interval_s
                for u in batch
            ]
        )
        wanted = boosting | (coasting & stale)
        if wanted.any():
            part = estimate_launch(
                x[wanted],
                P[wanted],
                t[wanted],
                beta[wanted],
                boosting=boosting[wanted],
                forces=self.forces,
                log_beta=log_beta,
            )
            for name in ("time_s", "time_sigma_s", "lat_deg", "lon_deg", "sigma_m", "max_alt_m"):
                getattr(launch, name)[wanted] = getattr(part, name)
        want_track = coasting & (category != "orbital") & (hit_p > 0)
        tracks: dict[int, GroundTrack] = {}
        if impact is not None and impact.ground_tracks is not None:
            # Unscented tracks: the mean's path was recorded with the sigma points.
            for j, i in enumerate(np.flatnonzero(coasting)):
                recorded = impact.ground_tracks[j]
                if recorded is not None and want_track[i]:
                    tracks[int(i)] = recorded
        missing = want_track & ~np.isin(np.arange(len(batch)), list(tracks))
        if self.with_ground_track and missing.any():
            idx = np.flatnonzero(missing)
            for i, gt in zip(
                idx,
                ground_tracks(
                    x[idx],
                    t[idx],
                    beta[idx],
                    forces=self.forces,
                    max_duration_s=self.max_duration_s,
                    log_beta=log_beta,
                ),
                strict=True,
            ):
                tracks[int(i)] = gt
        if self.with_ground_track:
            # Everything else (orbital, powered, or no impact predicted) gets the bounded path
            # of its mean. Powered and coasting tracks are propagated apart: a low powered
            # track forces the shared recording step down to 0.25 s, which would make a
            # 15-minute orbital path cost 3,600 steps instead of 180.
            # An undecided track gets none: its path would be neither a coast (its state may be
            # under thrust) nor a declared boost's instantaneous-impact path (the spent first
            # stage's fresh track on satellite-sohae warned South Chungcheong for 2 s with it).
            rest = ~np.isin(np.arange(len(batch)), list(tracks)) & ~undecided
            for group in (rest & boosting, rest & ~boosting):
                if group.any():
                    idx = np.flatnonzero(group)
                    paths = ground_tracks(
                        x[idx],
                        t[idx],
                        beta[idx],
                        forces=self.forces,
                        max_duration_s=self.path_horizon_s,
                        log_beta=log_beta,
                    )
                    tracks.update(zip(idx.tolist(), paths, strict=True))
        osc_apogee = _osculating_apogee_m(x[:, :6])
        coast_pos = np.cumsum(coasting) - 1

        results = []
        for i, u in enumerate(batch):
            memory = self._memory.setdefault(u.track_id, _TrackMemory())
            if memory.last_phase and u.phase != memory.last_phase:
                memory.last_bypass_s = u.time_s  # a phase change: the next may not bypass soon
            memory.last_time_s, memory.last_phase = u.time_s, u.phase
            # Launch: keep the best estimate, and any coast-based one over a boost-based one.
            if np.isfinite(launch.lat_deg[i]):
                memory.launch_estimated_s = u.time_s
                candidate = (
                    float(launch.time_s[i]),
                    float(launch.lat_deg[i]),
                    float(launch.lon_deg[i]),
                    float(launch.sigma_m[i]),
                    float(launch.time_sigma_s[i]),
                )
                from_coast = not bool(boosting[i])
                if (
                    memory.launch is None
                    or (from_coast and not memory.launch_from_coast)
                    or (from_coast == memory.launch_from_coast and candidate[3] <= memory.launch[3])
                ):
                    memory.launch, memory.launch_from_coast = candidate, from_coast
            if np.isfinite(launch.max_alt_m[i]):
                memory.max_alt_m = max(memory.max_alt_m, float(launch.max_alt_m[i]))

            impact_point = None
            t_sigma = None
            cov_en = None
            if (
                impact is not None
                and coasting[i]
                and category[i] != "orbital"
                and hit_p[i] >= MIN_HIT_PROBABILITY
            ):
                j = int(coast_pos[i])
                impact_point = ImpactPoint(
                    time=format_time(impact.time_s[j]),
                    lat=float(impact.lat_deg[j]),
                    lon=float(_wrap_lon(impact.lon_deg[j])),
                    ellipse_95=Ellipse95(
                        semi_major_m=float(impact.semi_major_m[j]),
                        semi_minor_m=float(impact.semi_minor_m[j]),
                        orientation_deg=float(impact.orientation_deg[j]) % 180.0,
                    ),
                )
                t_sigma = float(impact.time_sigma_s[j])
                cov_en = impact.covariance_en_m2[j].copy()
            memory.last_impact_s = (
                float(impact.time_s[int(coast_pos[i])]) if impact_point is not None else math.nan
            )

            gt = tracks.get(i)
            apogee_m = memory.max_alt_m
            if gt is not None and gt.impacts and not boosting[i]:
                apogee_m = max(apogee_m, float(gt.alt_m.max()))
            elif not boosting[i] and np.isfinite(osc_apogee[i]):
                # No whole flight propagated (orbital, a bounded path, or ground tracks off):
                # the two-body apogee, within a few km of the J2 one for these flights.
                apogee_m = max(apogee_m, float(osc_apogee[i]))
            launch_point = None
            best = _with_launch_report(memory.launch, u.launch_report)
            if best is not None:
                lt, la, lo, sig, _ = best
                launch_point = LaunchPoint(
                    time=format_time(lt), lat=la, lon=_wrap_lon(lo), sigma_m=sig
                )
            range_km = None
            if impact_point is not None and launch_point is not None:
                range_km = (
                    float(
                        distance_m(
                            launch_point.lat, launch_point.lon, impact_point.lat, impact_point.lon
                        )
                    )
                    / 1e3
                )
            product = PredictionProduct(
                track_id=u.track_id,
                time=format_time(u.time_s),
                category=str(category[i]),  # type: ignore[arg-type]
                impact=impact_point,
                launch=launch_point,
                apogee_km=None if boosting[i] else apogee_m / 1e3,
                range_km=range_km,
                marking=u.marking,
                exercise=u.exercise,
            )
            results.append(
                Prediction(
                    product=product,
                    ground_track=gt,
                    hit_probability=float(hit_p[i]),
                    impact_time_sigma_s=t_sigma,
                    impact_covariance_en_m2=cov_en,
                    launch_time_sigma_s=best[4] if best else None,
                )
            )
        return results


def _with_launch_report(
    estimate: tuple[float, float, float, float, float] | None,
    report: tuple[float, float, float, float] | None,
) -> tuple[float, float, float, float, float] | None:
    """Fuse a space-based IR launch detection with the back-propagated estimate.

    The two errors are independent (different sensors, and the estimate's error is dominated
    by the boost model), so the positions combine by inverse variance in the local plane. The
    IR time is the observed ignition itself and replaces the back-propagated time.
    """
    if report is None:
        return estimate
    t_r, lat_r, lon_r, s_r = (float(v) for v in report)
    if estimate is None:
        return t_r, lat_r, lon_r, s_r, 1.0
    _, lat_m, lon_m, s_m, _ = estimate
    w = s_m**2 / (s_m**2 + s_r**2)  # weight of the report
    en = local_en_m(lat_m, lon_m, lat_r, lon_r)
    lat, lon = from_local_en_m(lat_m, lon_m, w * en)
    sigma = 1.0 / math.sqrt(1.0 / s_m**2 + 1.0 / s_r**2)
    return t_r, float(lat), float(lon), sigma, 1.0


def _no_launch(n: int) -> LaunchEstimate:
    nan = np.full(n, np.nan)
    return LaunchEstimate(
        nan.copy(),
        nan.copy(),
        nan.copy(),
        nan.copy(),
        nan.copy(),
        np.full((n, 2, 2), np.nan),
        nan.copy(),
    )


def _wrap_lon(lon_deg: float) -> float:
    return float((float(lon_deg) + 180.0) % 360.0 - 180.0)


def _pad(x: Array, dim: int, update: TrackUpdate) -> Array:
    """A 6-state among 7-state tracks gets its fixed 1/beta as the 7th state (0: no drag)."""
    if x.shape[-1] == dim:
        return x
    return np.append(x, 1.0 / update.ballistic_coefficient_kg_m2)


def _pad_cov(P: Array, dim: int) -> Array:
    if P.shape[-1] == dim:
        return P
    out = np.zeros((dim, dim))
    out[: P.shape[0], : P.shape[1]] = P
    out[dim - 1, dim - 1] = 1e-16  # known exactly (1/beta ~ 1e-4 m^2/kg)
    return out


__all__ = ["MIN_HIT_PROBABILITY", "PATH_HORIZON_S", "Prediction", "Predictor", "TrackUpdate"]
