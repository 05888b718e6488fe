"""The alert engine: from each prediction of a threat, who must be told, kept right over time.

Rules (issue 4, DESIGN.md section 4):

* **Impact** (kind ``impact``): the prediction's 95 % ellipse is intersected with the regions.
  Land (prefecture, province, base) or territorial sea -> level ``warning``; only an EEZ ->
  ``advisory``; no region at all (at sea outside every EEZ) -> ``notice``. An ``orbital``
  prediction, or one with no impact, raises no impact alert (and cancels one that is active).
* **Confirmation before a warning** (:func:`confirmed_regions`): "the ellipse touches the
  region" is the issue's rule, and the right one once the ellipse is about the size of the
  regions it names (semi-major <= :attr:`AlertRules.confirm_semi_major_m`, 50 km: a typical
  prefecture is ~100 km across). A far larger ellipse comes from a prediction that is not yet
  confirmed -- typically the first fix of a track that started mid-flight, e.g. after stage
  separation -- and touching a prefecture then says almost nothing: on ``icbm-lofted`` the
  first prediction of the post-separation track had a 686 km ellipse touching 17 prefectures,
  none with more than 1.6 % of the predicted impacts, and the impact came down in the EEZ 250 km
  offshore. Such a prediction names a land or territorial-sea region (the ones that tell
  people to take shelter) only if the probability that the impact falls in it -- the Gaussian
  of the ellipse integrated over the region -- is at least
  :attr:`AlertRules.confirm_probability` (10 %), in this prediction and in the track's
  previous one (a compact previous ellipse that touched the region counts). One prediction is
  not enough because a prediction made at a staging event can be wild: on ``satellite-sohae``
  the satellite's track, seeing the thrust drop at first-stage separation, gave one
  "ballistic" 62 km ellipse with 10.2 % in Korea's territorial sea, and 1.6 % two seconds
  later. EEZ advisories (information for ships and aircraft) and notices are not held back by
  default (:attr:`AlertRules.confirm_kinds`).
  A prediction that touches only regions it may not name issues, updates and cancels nothing:
  the alert waits for the next, sharper prediction (seconds later on a tracked threat). This
  is what J-Alert does too -- it waits for a confirmed prediction before naming a prefecture --
  because a false alarm costs trust: people told to shelter for nothing learn to ignore the
  next warning (the Hokkaido J-Alert of 2023-04-13, withdrawn once the prediction was
  re-assessed, is the example every Japanese reader remembers).
* **Overflight** (kind ``overflight``, level ``warning``): the predicted remaining ground track
  passes over a prefecture or province while the object is below
  :attr:`AlertRules.overflight_ceiling_m`, or at any height when it will not reach orbit
  (category ``ballistic`` or ``unknown``), as J-Alert warned on 2017-08-29 and 2022-10-04.
  The same confirmation applies: the ground track of a prediction whose impact ellipse is
  imprecise adds a region only if the track's previous ground track crossed it too (on
  ``satellite-sohae`` the spent first stage's fresh track, 297 km ellipse, would otherwise warn
  Incheon and South Chungcheong for 3 s).

Lifecycle, per threat and kind, with one ``alert_id``: ``issued`` -> ``updated`` (regions or
impact time changed materially) -> ``cancelled`` (left every region / no longer predicted),
``impacted`` (impact time reached) or ``passed`` (the object is beyond every region it was
predicted to overfly). A cancelled alert is re-``issued`` under the same id if the threat comes
back. Hysteresis: a region enters the alert when the 95 % ellipse (or the ground track) touches
it, and leaves only when the ellipse grown by :attr:`AlertRules.exit_margin_m` (or the track
buffered by it) misses it, so a prediction wandering along a border cannot flap. Likewise a
prediction without an impact (or classed orbital) withdraws an impact alert only after
:attr:`AlertRules.no_impact_grace_s` (a notice, naming no region, only when classed orbital),
an impact alert closes ``impacted`` only if the latest prediction still had that impact, and an
update without a ground track leaves an overflight warning as it is.

One threat, one ``alert_id``: a track without alerts of its own that sits on the predicted
path of a track with an open alert (within :attr:`AlertRules.duplicate_distance_m`, impact
agreeing) is a duplicate of that object and raises nothing; confirmed after
:attr:`AlertRules.duplicate_confirm_s`, it carries that threat's alerts on (same id) once the
original track falls silent. Two tracks that both raised alerts before they could be told
apart are folded when the tracker drops one (:meth:`AlertEngine.tracks_ended`): its open
alerts are cancelled naming the live one's. A salvo's next missile, a stage falling short or
an orbital object next to a ballistic one are not duplicates (too far apart, or another
impact).

An impact alert never stays open on an impact time long past: if its track went silent after
its predictions lost the impact, it closes :attr:`AlertRules.stale_impact_grace_s` after that
time. An overflight line's ``impact_time`` is the object's impact in the same prediction
(None if it predicts none), stated in the message too; the warning is updated when its stated
overflight or impact time moves by :attr:`AlertRules.impact_time_tolerance_s` or more.

Exercise traffic: alerts derived from an exercise prediction are ``exercise: true``, carry an
EXERCISE banner in every language and have their own ``alert_id`` (suffix ``-EXERCISE``);
real-world and exercise state are never shared, so exercise traffic never raises, updates or
cancels a real-world alert.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from kizuna.contract import (
    AlertProduct,
    ImpactPoint,
    Messages,
    PredictionProduct,
    combine_markings,
)
from kizuna.geo.frames import lla_to_ecef
from kizuna.geo.geodesic import direct, distance_m
from kizuna.geo.regions import LAND_KINDS, Region, RegionSet, buffer_path, load
from kizuna.prediction.impact import CHI2_2D_95
from kizuna.timefmt import format_time, parse_time
from kizuna.warning.inputs import GroundTrack, GroundTrackLike
from kizuna.warning.messages import render

Level = Literal["warning", "advisory", "notice"]
Status = Literal["issued", "updated", "cancelled", "impacted", "passed"]
_KIND_ORDER = {"prefecture": 0, "province": 1, "base": 2, "territory": 3, "eez": 4}


# Regions whose naming makes an impact alert a "warning" (take shelter): held back until the
# prediction is confirmed. Everything else (EEZs) is information for ships and aircraft.
WARNING_KINDS: frozenset[str] = LAND_KINDS | {"territory"}


@dataclass(frozen=True)
class AlertRules:
    """Tunable thresholds of the alert rules (defaults justified inline)."""

    # Orbital objects are overflight threats only below this height. 1,000 km is above any
    # launcher's powered ascent over Japan/Korea (the 2023-24 satellite launches passed over
    # Okinawa in powered flight, a few hundred km up) while real low orbits are not re-warned
    # once the object is tracked as orbital and above it.
    overflight_ceiling_m: float = 1_000_000.0
    # Hysteresis band: a region leaves an alert only when the ellipse grown by this much (or
    # the ground track buffered by it) misses it. 20 km ~ a few sigma of a late-midcourse
    # impact point, and more than the 1 km simplification of the region shapes.
    exit_margin_m: float = 20_000.0
    # A warning is withdrawn for "no impact predicted" / "orbital" only once that has lasted
    # this long (predictions may drop out for an update or two when a track is re-associated).
    no_impact_grace_s: float = 10.0
    # An impact alert whose track went silent after its predictions lost the impact (so the
    # clock rule "impacted at the impact time" does not apply) is closed once its impact time
    # is this far past and the track has not been updated for as long: ``impacted`` if the
    # impact was lost only in the last ``no_impact_grace_s`` before it was due (terminal
    # phase), else ``cancelled`` (an old estimate nothing confirmed). 30 s: several track
    # updates (2 s apart) and well beyond the 1-sigma impact-time error of a midcourse fix.
    stale_impact_grace_s: float = 30.0
    # Confirmation before a warning (module docstring): a prediction whose 95 % ellipse has a
    # semi-major axis above this is not precise enough for "the ellipse touches it" to name a
    # prefecture, province, base or territorial sea. 50 km: about the radius of a typical
    # Japanese prefecture (median area ~6,000 km^2), so a compact ellipse names at most a few.
    confirm_semi_major_m: float = 50_000.0
    # ...such an imprecise prediction names a warning region only when at least this fraction
    # of its impact distribution falls in the region (1 in 10: below it a shelter order would
    # be wrong at least nine times in ten).
    confirm_probability: float = 0.10
    # Samples of the impact distribution for that probability (standard error <= 0.8 % at 4,000).
    confirm_samples: int = 4_000
    # The region kinds held back that way: those that make the alert a "warning". Adding
    # "eez" holds advisories back too (on satellite-sohae that drops a 12 s advisory from a
    # 1,974 km first ellipse, but it put 9.8 % of its impacts in JPN-EEZ: too close to the bar
    # to make it the default on that evidence).
    confirm_kinds: frozenset[str] = WARNING_KINDS
    # An impact-time change smaller than this is not "material" (no updated line).
    impact_time_tolerance_s: float = 30.0
    # A region counts as overflown once now is within this of the last time over it.
    pass_tolerance_s: float = 1.0
    # Ground-track resampling step, so a narrow region between two samples is not missed.
    track_step_m: float = 2_000.0
    overflight_kinds: frozenset[str] = frozenset({"prefecture", "province"})
    # One threat must not get two alert ids from two tracks flying together: on
    # irbm-overflight the spent missile body falls 1-2 km from the warhead all the way to the
    # same impact area, the tracker rightly keeps a track on each, and without this rule each
    # raises its own notice and overflight warning (measured after the tracker's merge/split
    # work: 4 alert ids and 18 lines instead of 2 and 11; the scenario tests pass either way,
    # they do not count alert ids). The same holds for a duplicate track of one object, or a
    # track re-started after a break in coverage. A track without alerts of
    # its own whose position now is within ``duplicate_distance_m`` of the predicted position
    # of a track with an open alert, and whose impact agrees with it (AlertEngine), raises
    # nothing while that holds; after ``duplicate_confirm_s`` it is that threat's for good.
    # 10 km: several position sigmas of a fresh track, and less than the 12 s x >=1 km/s
    # between two missiles of a salvo once they are tracked. 0 disables the rule.
    duplicate_distance_m: float = 10_000.0
    duplicate_confirm_s: float = 20.0
    # ...and carries that threat's alerts on only when the original track has been silent
    # this long (so the two tracks' estimates never alternate in one alert).
    duplicate_silence_s: float = 10.0
    # False: exercise predictions produce no alert at all (they never produce a real one).
    emit_exercise: bool = True
    # False: an impact predicted outside every region gives no line at all until the ellipse
    # touches a region (DESIGN.md section 5 "no alert for a flight whose ellipse misses every
    # region"); True (default): a ``notice`` line, information only, as issue 4 asks.
    emit_notices: bool = True


def impact_level(regions: Iterable[Region]) -> Level:
    """Level of an impact alert from the regions its ellipse touches."""
    kinds = {r.kind for r in regions}
    if kinds & WARNING_KINDS:
        return "warning"
    if "eez" in kinds:
        return "advisory"
    return "notice"


# 2-D 95 % contour of a Gaussian: the ellipse's semi-axes are this many standard deviations.
_K95 = float(np.sqrt(CHI2_2D_95))


@lru_cache(maxsize=4)
def _unit_normal(n: int) -> NDArray[np.float64]:
    """``n`` fixed standard-normal 2-D samples (seeded: the same prediction, the same answer)."""
    out = np.random.default_rng(20171129).standard_normal((n, 2))
    out.setflags(write=False)
    return out


def region_hit_probability(
    regions: RegionSet,
    lat_deg: float,
    lon_deg: float,
    semi_major_m: float,
    semi_minor_m: float,
    orientation_deg: float,
    kinds: Iterable[str] | None = None,
    samples: int = 4_000,
) -> dict[str, float]:
    """Probability that the impact falls in each region, for a Gaussian impact distribution.

    The distribution is the one whose 2-D 95 % contour is the given ellipse (axes in metres,
    major axis ``orientation_deg`` clockwise from north, centre in WGS84 degrees), laid out in
    the azimuthal-equidistant plane of its centre like :func:`kizuna.geo.regions.ellipse_polygon`.
    Estimated with ``samples`` fixed (seeded) random draws. Only regions of ``kinds`` (all if None)
    with a non-zero estimate are returned, keyed by code.
    """
    z = _unit_normal(int(samples))
    theta = np.radians(orientation_deg)
    along = z[:, 0] * (float(semi_major_m) / _K95)
    across = z[:, 1] * (float(semi_minor_m) / _K95)
    east = along * np.sin(theta) + across * np.cos(theta)
    north = along * np.cos(theta) - across * np.sin(theta)
    lat, lon = direct(lat_deg, lon_deg, np.degrees(np.arctan2(east, north)), np.hypot(east, north))
    share = regions.membership(lat, lon, kinds=kinds).mean(axis=0)
    return {regions.regions[j].code: float(share[j]) for j in np.flatnonzero(share)}


def confirmed_regions(
    hit: Iterable[Region],
    impact: ImpactPoint,
    regions: RegionSet,
    rules: AlertRules,
    supported_before: frozenset[str] = frozenset(),
) -> tuple[set[Region], set[Region], frozenset[str]]:
    """(regions the prediction may name, regions it touches but may not name yet, codes of the
    regions this prediction supports on its own).

    ``hit`` are the regions the 95 % ellipse of ``impact`` touches; ``supported_before`` is the
    third value returned for the track's previous prediction. A compact ellipse (semi-major
    <= ``rules.confirm_semi_major_m``) names and supports them all; a larger one supports a
    region of ``rules.confirm_kinds`` (by default prefecture, province, base, territorial sea)
    only if the impact falls in it with probability >= ``rules.confirm_probability``, and
    names it only if the previous prediction supported it too (see the module docstring).
    """
    hit = set(hit)
    ell = impact.ellipse_95
    held_back = {r for r in hit if r.kind in rules.confirm_kinds}
    if ell.semi_major_m <= rules.confirm_semi_major_m or not held_back:
        return hit, set(), frozenset(r.code for r in hit)
    p = region_hit_probability(
        regions,
        impact.lat,
        impact.lon,
        ell.semi_major_m,
        ell.semi_minor_m,
        ell.orientation_deg,
        kinds=rules.confirm_kinds,
        samples=rules.confirm_samples,
    )
    likely = {r for r in held_back if p.get(r.code, 0.0) >= rules.confirm_probability}
    named = {r for r in likely if r.code in supported_before}
    supported = frozenset(r.code for r in (hit - held_back) | likely)
    return (hit - held_back) | named, held_back - named, supported


def predicted_impact_time_s(pred: PredictionProduct) -> float | None:
    """The impact time (POSIX s) the prediction itself gives, None if it predicts none.

    What an overflight line's ``impact_time`` means: when the object that passes over is
    predicted to come down, from the *same* prediction as the ground track that named the
    regions (an orbital prediction has none). Not the impact alert's last time, which may be
    a stale boost-phase estimate earlier than the overflight itself.
    """
    if pred.impact is None or pred.category == "orbital":
        return None
    return parse_time(pred.impact.time)


def made_in_powered_flight(pred: PredictionProduct) -> bool:
    """Whether ``pred`` was made while its track was (possibly) under thrust: kizuna's
    predictor then states no impact, no apogee (the thrust is still building it) and category
    ``unknown``, and its ground track is the instantaneous-impact path, where the object
    would go if the thrust stopped now.

    The times along such a path are not a forecast: in the last 20 s of irbm-overflight's
    burn its first overflight of Aomori moved by ~40 s per prediction (4 s apart), and each
    move restated the warning ("updated" 4 times in 17 s). So a powered prediction updates an
    overflight warning only when its regions change; its times are restated by the first
    prediction of the coast (if they moved by ``impact_time_tolerance_s`` or more by then).
    """
    return pred.category == "unknown" and pred.impact is None and pred.apogee_km is None


def alert_id_for(track_id: str, kind: str, exercise: bool) -> str:
    """One id per threat and kind; exercise alerts can never share a real alert's id."""
    return f"ALERT-{track_id}-{kind.upper()}" + ("-EXERCISE" if exercise else "")


def _ordered(regions: Iterable[Region]) -> tuple[Region, ...]:
    return tuple(sorted(set(regions), key=lambda r: (_KIND_ORDER[r.kind], r.code)))


@dataclass
class _Line:
    """One alert line to emit (before it becomes an AlertProduct)."""

    kind: Literal["impact", "overflight"]
    status: Status
    level: Level
    regions: tuple[Region, ...]
    event_time_s: float | None  # impact time, or first time over the regions
    impact_time_s: float | None
    replaced_by: str | None = None  # a duplicate's cancel: the alert id that carries on


@dataclass
class _ImpactLifecycle:
    state: Literal["idle", "active", "cancelled", "impacted"] = "idle"
    held: tuple[Region, ...] = ()
    level: Level = "notice"
    impact_time_s: float | None = None  # as last emitted
    latest_impact_time_s: float | None = None
    no_impact_since_s: float | None = None
    last_update_s: float | None = None  # time of the track's latest prediction
    # Codes of the regions the previous prediction supported (confirmed_regions); a prediction
    # without an impact breaks the sequence.
    supported: frozenset[str] = frozenset()

    def step(
        self, pred: PredictionProduct, now_s: float, regions: RegionSet, rules: AlertRules
    ) -> list[_Line]:
        if self.state == "impacted":
            return []
        self.last_update_s = now_s
        impact = pred.impact if pred.category != "orbital" else None
        if impact is None:
            # One prediction without an impact (or classed orbital) is not enough to withdraw
            # a warning people act on: it must persist for ``no_impact_grace_s``. A notice (no
            # region held) is information only and stays through gaps of "unknown" (a track
            # still under thrust, or the tracker's phase flipping during boost) until an
            # impact comes back to update it; only an orbital classification withdraws it.
            # Otherwise every boost-phase blip would issue and cancel a notice (srbm-salvo).
            self.supported = frozenset()
            if self.no_impact_since_s is None:
                self.no_impact_since_s = now_s
            withdraw = bool(self.held) or pred.category == "orbital"
            if withdraw and now_s - self.no_impact_since_s >= rules.no_impact_grace_s:
                return self._cancel()
            return self.tick(now_s)
        self.no_impact_since_s = None
        t_imp = parse_time(impact.time)
        self.latest_impact_time_s = t_imp
        ell = impact.ellipse_95
        strict, unconfirmed, self.supported = confirmed_regions(
            regions.regions_hit_by_ellipse(
                impact.lat, impact.lon, ell.semi_major_m, ell.semi_minor_m, ell.orientation_deg
            ),
            impact,
            regions,
            rules,
            self.supported,
        )
        new_held = strict
        if self.state == "active" and self.held:
            loose = set(
                regions.regions_hit_by_ellipse(
                    impact.lat,
                    impact.lon,
                    ell.semi_major_m + rules.exit_margin_m,
                    ell.semi_minor_m + rules.exit_margin_m,
                    ell.orientation_deg,
                )
            )
            new_held = strict | (set(self.held) & loose)
        if unconfirmed and not new_held:
            # It touches only warning regions it may not name yet: neither "at sea outside
            # every EEZ" nor a reason to cancel what is held. Wait for a sharper prediction.
            return self.tick(now_s)
        held = _ordered(new_held)
        lines: list[_Line] = []
        if self.state in ("idle", "cancelled"):
            # After a cancel only a region hit re-issues (no fresh notice for a receding threat).
            if held or (self.state == "idle" and rules.emit_notices):
                self._take(held, t_imp)
                lines.append(self._line("issued"))
        elif self.held and not held:
            lines.extend(self._cancel())
        elif held != self.held or abs(t_imp - self._emitted_time(t_imp)) >= (
            rules.impact_time_tolerance_s
        ):
            self._take(held, t_imp)
            lines.append(self._line("updated"))
        return lines + self.tick(now_s)

    def tick(
        self, now_s: float, final: bool = False, rules: AlertRules | None = None
    ) -> list[_Line]:
        """``impacted`` once the impact time is reached, if the latest prediction still had
        that impact (a stale impact time from a boost-phase blip must not close the alert).
        An alert whose latest predictions had no impact is closed only once its track has gone
        silent (``rules``: ``stale_impact_grace_s`` after both its impact time and the last
        update) or at the end of the input (``final``, at the impact time): ``impacted`` if
        the impact was lost only in the last ``no_impact_grace_s`` before it (terminal
        phase), else ``cancelled`` (an old estimate nothing confirmed). So a live node and a
        batch run of the same input end such an alert with the same status."""
        if self.state != "active" or self.latest_impact_time_s is None:
            return []
        t_imp = self.latest_impact_time_s
        if self.no_impact_since_s is None or final:
            due = now_s >= t_imp
        else:
            due = (
                rules is not None
                and self.last_update_s is not None
                and now_s >= t_imp + rules.stale_impact_grace_s
                and now_s >= self.last_update_s + rules.stale_impact_grace_s
            )
        if not due:
            return []
        grace = (rules or AlertRules()).no_impact_grace_s
        if self.no_impact_since_s is not None and self.no_impact_since_s < t_imp - grace:
            return self._cancel()
        self.state = "impacted"
        self.impact_time_s = t_imp
        return [self._line("impacted")]

    def _emitted_time(self, default: float) -> float:
        return self.impact_time_s if self.impact_time_s is not None else default

    def _take(self, held: tuple[Region, ...], t_imp: float) -> None:
        self.state = "active"
        self.held = held
        self.level = impact_level(held)
        self.impact_time_s = t_imp

    def _cancel(self) -> list[_Line]:
        if self.state != "active":
            return []
        self.state = "cancelled"
        line = self._line("cancelled")
        self.held = ()
        return [line]

    def _line(self, status: Status) -> _Line:
        return _Line(
            "impact", status, self.level, self.held, self.impact_time_s, self.impact_time_s
        )


@dataclass
class _OverflightLifecycle:
    state: Literal["idle", "active", "cancelled", "passed"] = "idle"
    held: dict[str, Region] = field(default_factory=dict)
    t_first: dict[str, float] = field(default_factory=dict)
    t_last: dict[str, float] = field(default_factory=dict)
    passed: set[str] = field(default_factory=set)
    # The times the last issued/updated line stated: first overflight, object's impact.
    stated_first_s: float | None = None
    stated_impact_s: float | None = None
    # Regions under the previous ground track (the confirmation of an imprecise prediction).
    supported: frozenset[str] = frozenset()

    def active_regions(self) -> tuple[Region, ...]:
        return _ordered(r for c, r in self.held.items() if c not in self.passed)

    def step(
        self,
        pred: PredictionProduct,
        track: GroundTrack | None,
        now_s: float,
        regions: RegionSet,
        rules: AlertRules,
        impact_time_s: float | None,
    ) -> list[_Line]:
        if track is None:
            # No ground track in this update (e.g. none predicted yet, or a gap): keep the
            # state and only let the clock close what is due; absence is not a cancel.
            return self.tick(now_s, rules, impact_time_s)
        strict: dict[str, tuple[float, float]] = {}
        loose: set[str] = set()
        future = track.after(now_s)
        if future is not None:
            dense = future.densified(rules.track_step_m)
            eligible = (dense.alt_m < rules.overflight_ceiling_m) | (pred.category != "orbital")
            if np.any(eligible):
                columns = [
                    j for j, r in enumerate(regions.regions) if r.kind in rules.overflight_kinds
                ]
                member = regions.membership(
                    dense.lat_deg, dense.lon_deg, kinds=rules.overflight_kinds
                )[:, columns]
                member &= eligible[:, None]
                for k, j in enumerate(columns):
                    times = dense.time_s[member[:, k]]
                    if times.size:
                        strict[regions.regions[j].code] = (float(times[0]), float(times[-1]))
                # The hysteresis band is only needed when a held region fell out of the track.
                if any(c not in strict and c not in self.passed for c in self.held):
                    band = buffer_path(
                        dense.lat_deg[eligible], dense.lon_deg[eligible], rules.exit_margin_m
                    )
                    loose = {r.code for r in regions.regions_hit(band)}
        was_active = self.state == "active"
        # The ground track of an imprecise prediction (impact ellipse beyond
        # confirm_semi_major_m) is as vague as its ellipse: it adds a region only if the
        # track's previous ground track crossed it too (module docstring, confirmation).
        under_track = frozenset(strict)
        if pred.impact is not None and (
            pred.impact.ellipse_95.semi_major_m > rules.confirm_semi_major_m
        ):
            strict = {
                c: v
                for c, v in strict.items()
                if c in self.supported or (was_active and c in self.held)
            }
        self.supported = under_track
        before_regions = self.active_regions()
        before = set(before_regions)
        if not was_active:
            # A fresh alert: nothing held from a previous, closed one.
            self.held, self.t_first, self.t_last, self.passed = {}, {}, {}, set()
        dropped = False
        for code in list(self.held):
            if code in strict or code in self.passed:
                continue
            if now_s >= self.t_last[code] - rules.pass_tolerance_s:
                self.passed.add(code)  # the object is already beyond it
            elif code not in loose:
                del self.held[code]  # the prediction moved away (past the hysteresis band)
                dropped = True
        for code, (t0, t1) in strict.items():
            if code in self.passed:
                continue
            self.held[code] = regions[code]
            self.t_first[code] = t0
            self.t_last[code] = t1
        after = set(self.active_regions())
        lines: list[_Line] = []
        if not was_active:
            if after:
                self.state = "active"
                lines.append(self._line("issued", impact_time_s))
            return lines
        if not after:
            lines.extend(
                self._close(impact_time_s, cancelled=() if self.passed else before_regions)
            )
        elif (after != before and (after - before or dropped)) or (
            not made_in_powered_flight(pred) and self._times_moved(rules, impact_time_s)
        ):
            lines.append(self._line("updated", impact_time_s))
        return lines

    def _times_moved(self, rules: AlertRules, impact_time_s: float | None) -> bool:
        """Whether the times the last line stated are now wrong by ``impact_time_tolerance_s``
        or more: the first overflight (the message's "in about N min"), or the object's
        impact (also when it is first predicted). A prediction without an impact is not news:
        the last stated impact time stands until one differs."""
        tol = rules.impact_time_tolerance_s
        first = self._first_time()
        stated = self.stated_first_s
        if first is not None and stated is not None and abs(first - stated) >= tol:
            return True
        if impact_time_s is None:
            return False
        return self.stated_impact_s is None or abs(impact_time_s - self.stated_impact_s) >= tol

    def _first_time(self) -> float | None:
        return min((self.t_first[r.code] for r in self.active_regions()), default=None)

    def tick(self, now_s: float, rules: AlertRules, impact_time_s: float | None) -> list[_Line]:
        if self.state != "active":
            return []
        for code in list(self.held):
            if code not in self.passed and now_s >= self.t_last[code] + rules.pass_tolerance_s:
                self.passed.add(code)
        if not self.active_regions():
            return self._close(impact_time_s, cancelled=())
        return []

    def withdraw(self) -> list[_Line]:
        """``cancelled``, naming the regions still ahead, if active (see ThreatAlerts.withdraw)."""
        if self.state != "active":
            return []
        self.state = "cancelled"
        regions = self.active_regions()
        return [_Line("overflight", "cancelled", "warning", regions, None, self.stated_impact_s)]

    def _close(self, impact_time_s: float | None, cancelled: tuple[Region, ...]) -> list[_Line]:
        """``passed`` if any region was overflown, else ``cancelled`` naming ``cancelled``."""
        if not self.passed:
            self.state = "cancelled"
            return [_Line("overflight", "cancelled", "warning", cancelled, None, impact_time_s)]
        self.state = "passed"
        passed = _ordered(self.held[c] for c in self.passed if c in self.held)
        return [_Line("overflight", "passed", "warning", passed, None, impact_time_s)]

    def _line(self, status: Status, impact_time_s: float | None) -> _Line:
        first = self._first_time()
        self.stated_first_s, self.stated_impact_s = first, impact_time_s
        return _Line("overflight", status, "warning", self.active_regions(), first, impact_time_s)


class ThreatAlerts:
    """The alert state of one threat (one track, real or exercise): impact and overflight."""

    def __init__(self, track_id: str, exercise: bool, regions: RegionSet, rules: AlertRules):
        self.track_id = track_id
        self.exercise = exercise
        self._regions = regions
        self._rules = rules
        self.impact = _ImpactLifecycle()
        self.overflight = _OverflightLifecycle()
        self._last: PredictionProduct | None = None
        self.last_track: GroundTrack | None = None  # the latest ground track given
        self.lines_emitted = 0

    def is_open(self) -> bool:
        """Whether an impact or overflight alert of this threat is active."""
        return self.impact.state == "active" or self.overflight.state == "active"

    @property
    def last_prediction(self) -> PredictionProduct | None:
        return self._last

    def update(
        self, pred: PredictionProduct, track: GroundTrack | None, now_s: float
    ) -> list[AlertProduct]:
        self._last = pred
        if track is not None:
            self.last_track = track
        lines = self.impact.step(pred, now_s, self._regions, self._rules)
        lines += self.overflight.step(
            pred, track, now_s, self._regions, self._rules, predicted_impact_time_s(pred)
        )
        self.lines_emitted += len(lines)
        return [self._product(line, now_s) for line in lines]

    def tick(self, now_s: float, final: bool = False) -> list[AlertProduct]:
        if self._last is None:
            return []
        lines = self.impact.tick(now_s, final, self._rules)
        lines += self.overflight.tick(now_s, self._rules, predicted_impact_time_s(self._last))
        return [self._product(line, now_s) for line in lines]

    def withdraw(self, now_s: float, live: ThreatAlerts) -> list[AlertProduct]:
        """Close this threat's open alerts in favour of ``live``'s, which follow the same
        object (:meth:`AlertEngine.tracks_ended`): what the clock closes by now closes as usual
        (``impacted``, ``passed``); what is still open is ``cancelled`` with a message naming
        the alert that carries on (``live``'s of the same kind if open, else its other)."""
        out = self.tick(now_s)
        open_ids = [
            alert_id_for(live.track_id, kind, live.exercise)
            for kind, lifecycle in (("impact", live.impact), ("overflight", live.overflight))
            if lifecycle.state == "active"
        ]
        lines: list[_Line] = []
        for line in self.impact._cancel() + self.overflight.withdraw():
            same = alert_id_for(live.track_id, line.kind, live.exercise)
            lines.append(replace(line, replaced_by=same if same in open_ids else open_ids[0]))
        self.lines_emitted += len(lines)
        return out + [self._product(line, now_s) for line in lines]

    def due_time_s(self) -> float | None:
        """When every open alert of this threat will have closed by the clock (or None)."""
        times = []
        if self.impact.state == "active" and self.impact.latest_impact_time_s is not None:
            times.append(self.impact.latest_impact_time_s)
        if self.overflight.state == "active" and self.overflight.t_last:
            times.append(max(self.overflight.t_last.values()) + self._rules.pass_tolerance_s)
        return max(times) if times else None

    def _product(self, line: _Line, now_s: float) -> AlertProduct:
        pred = self._last
        key = line.level if line.status in ("issued", "updated") else line.status
        if line.replaced_by is not None:
            key = "superseded"
        messages = render(
            line.kind,
            key,
            line.regions,
            line.event_time_s,
            now_s,
            self.exercise,
            impact_time_s=line.impact_time_s,
            other=line.replaced_by,
        )
        return AlertProduct(
            alert_id=alert_id_for(self.track_id, line.kind, self.exercise),
            track_id=self.track_id,
            time=format_time(now_s),
            kind=line.kind,
            level=line.level,
            status=line.status,
            regions=[r.to_contract() for r in line.regions],
            impact_time=None if line.impact_time_s is None else format_time(line.impact_time_s),
            message=Messages(**messages),
            marking=combine_markings([pred.marking]),
            exercise=self.exercise,
        )


def position_at(track: GroundTrack, t_s: float, slack_s: float = 2.0) -> NDArray | None:
    """ECEF position (m) of the object on ``track`` at ``t_s`` (linear in time between
    samples), or None if the track does not cover ``t_s`` (within ``slack_s``)."""
    if not track.time_s[0] - slack_s <= t_s <= track.time_s[-1]:
        return None
    rest = track.after(t_s)
    if rest is None:
        return None
    return lla_to_ecef(rest.lat_deg[0], rest.lon_deg[0], rest.alt_m[0])


def impacts_agree(a: PredictionProduct, b: PredictionProduct, margin_m: float) -> bool:
    """Whether two predictions can be of one object as far as impact goes: both predict none
    (or orbital), or the impact points are within the larger 95 % semi-major axis plus
    ``margin_m`` of each other (a spent stage that falls short of the warhead does not
    agree once either prediction is compact)."""
    ia = a.impact if a.category != "orbital" else None
    ib = b.impact if b.category != "orbital" else None
    if ia is None or ib is None:
        return ia is None and ib is None
    reach = max(ia.ellipse_95.semi_major_m, ib.ellipse_95.semi_major_m) + margin_m
    return float(distance_m(ia.lat, ia.lon, ib.lat, ib.lon)) <= reach


class _PredictionLike(Protocol):
    product: PredictionProduct
    ground_track: GroundTrackLike | None


class AlertEngine:
    """Alert state for every threat; feed it every prediction, and the clock.

    Call :meth:`update` for each track update (its latest prediction, its predicted remaining
    ground track, and the current time) and :meth:`tick` periodically or at the end of a run,
    so that alerts whose impact or overflight time has come are closed (``impacted`` /
    ``passed``) even when the track is no longer updated. Both return the new alert lines, in
    order, ready to be written to ``alerts.jsonl`` or published.
    """

    def __init__(self, regions: RegionSet | None = None, rules: AlertRules | None = None):
        self.regions = regions if regions is not None else load()
        self.rules = rules if rules is not None else AlertRules()
        self.threats: dict[tuple[str, bool], ThreatAlerts] = {}
        # Duplicate tracks (AlertRules.duplicate_distance_m): confirmed ones -> the threat
        # whose alerts they belong to; candidates -> (that threat, since when).
        self.aliases: dict[tuple[str, bool], tuple[str, bool]] = {}
        self._candidates: dict[tuple[str, bool], tuple[tuple[str, bool], float]] = {}
        self._own_update_s: dict[tuple[str, bool], float] = {}
        self._ended: set[tuple[str, bool]] = set()  # tracks the tracker dropped (tracks_ended)

    def update(
        self,
        prediction: PredictionProduct,
        ground_track: GroundTrackLike | None,
        now_s: float,
    ) -> list[AlertProduct]:
        """New alert lines for one track update.

        ``prediction``: the track's latest prediction product. ``ground_track``: its predicted
        remaining ground track (a :class:`GroundTrack`, or any object with ``time_s``,
        ``lat_deg``, ``lon_deg``, ``alt_m`` arrays such as the prediction layer's), or ``None``.
        ``now_s``: current (scenario) time, POSIX seconds.
        """
        if prediction.exercise and not self.rules.emit_exercise:
            return []
        now_s = float(now_s)
        # Keyed by (track, exercise): exercise traffic never touches a real-world alert.
        key = (prediction.track_id, prediction.exercise)
        track = None if ground_track is None else GroundTrack.coerce(ground_track)
        if key in self.aliases:
            primary = self.aliases[key]
            # The original's own track carries the alerts until it is dropped or falls silent.
            silent_s = now_s - self._own_update_s[primary]
            if primary not in self._ended and silent_s < self.rules.duplicate_silence_s:
                return []
            return self.threats[primary].update(prediction, track, now_s)
        threat = self.threats.get(key)
        # A track that has raised nothing yet (e.g. its first predictions had no ground track
        # to compare) may still turn out to be a duplicate.
        if threat is None or threat.lines_emitted == 0:
            match = self._duplicate_of(key, prediction, track, now_s)
            if match is not None:
                held = self._candidates.get(key)
                if held is None or held[0] != match:
                    held = self._candidates[key] = (match, now_s)
                if now_s - held[1] >= self.rules.duplicate_confirm_s:
                    self.aliases[key] = match
                    del self._candidates[key]
                    self.threats.pop(key, None)
                return []
            self._candidates.pop(key, None)
        if threat is None:
            threat = ThreatAlerts(
                prediction.track_id, prediction.exercise, self.regions, self.rules
            )
            self.threats[key] = threat
        self._own_update_s[key] = now_s
        return threat.update(prediction, track, now_s)

    def _duplicate_of(
        self,
        key: tuple[str, bool],
        prediction: PredictionProduct,
        track: GroundTrack | None,
        now_s: float,
        skip: Container[tuple[str, bool]] = (),
    ) -> tuple[str, bool] | None:
        """The open threat this track duplicates (AlertRules.duplicate_distance_m), if any:
        same exercise flag, position now within the distance of that threat's predicted
        position now (3-D), and an agreeing impact (:func:`impacts_agree`); not one of
        ``skip``."""
        if self.rules.duplicate_distance_m <= 0.0 or track is None:
            return None
        here = position_at(track, now_s)
        if here is None:
            return None
        for other_key, other in self.threats.items():
            last = other.last_prediction
            if (
                other_key == key
                or other_key in skip
                or other_key[1] != key[1]
                or not other.is_open()
                or other.last_track is None
            ):
                continue
            there = position_at(other.last_track, now_s)
            if there is None or float(np.linalg.norm(here - there)) > (
                self.rules.duplicate_distance_m
            ):
                continue
            if last is not None and impacts_agree(prediction, last, self.rules.exit_margin_m):
                return other_key
        return None

    def consume(self, item: _PredictionLike, now_s: float) -> list[AlertProduct]:
        """:meth:`update` from an object with ``.product`` and ``.ground_track`` attributes
        (the prediction layer's ``Prediction``)."""
        return self.update(item.product, item.ground_track, now_s)

    def finish(self) -> list[AlertProduct]:
        """End of input (batch runs): close every open alert as the clock would have.

        Each threat is ticked at the time its last open alert falls due (its predicted impact,
        or just after its last overflight), so the closing lines carry those times.
        """
        out: list[AlertProduct] = []
        for threat in self.threats.values():
            due = threat.due_time_s()
            if due is not None:
                out.extend(threat.tick(due, final=True))
        return out

    def tracks_ended(self, track_ids: Iterable[str], now_s: float) -> list[AlertProduct]:
        """The tracker dropped these tracks: fold each one's threat into a live duplicate.

        A threat with open alerts of its own whose tracks (its own and every alias's) have all
        ended, while a threat of a live track has open alerts where the ended one's last
        prediction puts it now, with an agreeing impact (the duplicate rule, for a pair that
        both raised alerts before the tracker could tell them apart), is the live one's: its
        open alerts are cancelled naming the live alert, and a later track of its own (a
        restart) is the live threat's alias. Without this it would close ``impacted`` at its
        last predicted impact time (satellite-sohae: the satellite's track, on the coasting
        payload and second stage for five minutes, was dropped when the third stage lit; its
        notice said "fallen" 7 minutes later beside the second stage's own, while the payload
        went to orbit). With no live duplicate the clock closes it as before: an object out
        of every radar's cover still falls.
        """
        ended = {(tid, flag) for tid in track_ids for flag in (False, True)}
        self._ended |= ended & (set(self.threats) | set(self.aliases))
        if self.rules.duplicate_distance_m <= 0.0:
            return []
        now_s = float(now_s)
        out: list[AlertProduct] = []
        dead = {k for k in self.threats if self._all_ended(k)}  # (folding moves no feeder)
        for key, threat in list(self.threats.items()):
            last = threat.last_prediction
            if not threat.is_open() or last is None or key not in dead:
                continue
            live = self._duplicate_of(key, last, threat.last_track, now_s, skip=dead)
            if live is None:
                continue
            out.extend(threat.withdraw(now_s, self.threats[live]))
            del self.threats[key]
            for alias, primary in list(self.aliases.items()):
                if primary == key:
                    self.aliases[alias] = live
            self.aliases[key] = live
        return out

    def _all_ended(self, key: tuple[str, bool]) -> bool:
        """Whether every track feeding threat ``key`` (its own, its aliases) has ended."""
        feeders = [key, *(a for a, p in self.aliases.items() if p == key)]
        return all(k in self._ended for k in feeders)

    def tick(self, now_s: float) -> list[AlertProduct]:
        """Close alerts whose impact / overflight time has come; call it as the clock runs."""
        out: list[AlertProduct] = []
        for threat in self.threats.values():
            out.extend(threat.tick(float(now_s)))
        return out
