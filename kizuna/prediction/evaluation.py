"""Scoring a run against the truth: the engine behind ``kizuna evaluate``.

Inputs are the contract files: the simulator's truth (``kizuna simulate --truth``), the
tracker's ``tracks.jsonl`` and ``predictions.jsonl``, and optionally the reports (for the
radars' sites, noise and revisit, which the PCRLB needs). Outputs are per-object figures
(time to first track and first impact prediction, position RMSE, NEES, impact error and
ellipse coverage) and time series for plots.

Association of tracks to true objects, per update: every track update is matched to the
nearest true object alive at its time (within :data:`GATE_M`) and scored against that object.
Where two objects are too close to tell which one the track is on (a payload and the spent stage
it has not yet left, a re-entry vehicle just after separation: within :data:`AMBIGUOUS_M` of
each other as seen from the update), the update goes to the object the same track is next
matched to unambiguously (else the last one): the object the track stays on once they part. By
majority instead, satellite-sohae's pair track (satellite and second stage, 230-536 s, then the
stage alone) was scored against the satellite for the whole flight (RMSE 186 km).

Position NEES uses ``position_sigma_m`` as an isotropic 1-sigma (kizuna's tracker writes the
largest axis there, so this NEES is a *lower* bound on the full one) unless a track line
carries the optional ``position_covariance_ecef_m2`` (3x3).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from kizuna.errors import InputError
from kizuna.geo.frames import lla_to_ecef
from kizuna.geo.geodesic import distance_m
from kizuna.prediction.impact import in_ellipse
from kizuna.prediction.metrics import RadarSite, gospa, nees_band, pcrlb
from kizuna.timefmt import parse_time

Array = NDArray[np.float64]

GATE_M = 50_000.0  # a track update farther than this from every true object is unmatched
# Objects whose distances from a track update differ by less than this cannot be told apart by
# it: about a radar's cross-range noise at 1,000 km (0.05 deg), the tracks' usual 1-sigma.
AMBIGUOUS_M = 1_000.0
GOSPA_C_M = 10_000.0
COVERAGE_BIN_S = 60.0
NEES_BIN_S = 5.0


@dataclass
class TruthObject:
    object_id: str
    launch_id: str
    kind: str
    time_s: Array
    r_ecef_m: Array
    v_ecef_mps: Array
    powered: NDArray[np.bool_]
    impact: tuple[float, float, float] | None  # time_s, lat, lon

    def alive(self, t: float) -> bool:
        return bool(self.time_s[0] <= t <= self.time_s[-1])

    def position_at(self, t: Array) -> Array:
        """Cubic Hermite interpolation of position with the sampled velocities, (n, 3)."""
        t = np.atleast_1d(np.asarray(t, float))
        i = np.clip(np.searchsorted(self.time_s, t) - 1, 0, self.time_s.size - 2)
        t0, t1 = self.time_s[i], self.time_s[i + 1]
        h = np.maximum(t1 - t0, 1e-9)
        s = np.clip((t - t0) / h, 0.0, 1.0)[:, None]
        p0, p1 = self.r_ecef_m[i], self.r_ecef_m[i + 1]
        m0, m1 = self.v_ecef_mps[i] * h[:, None], self.v_ecef_mps[i + 1] * h[:, None]
        return (
            (2 * s**3 - 3 * s**2 + 1) * p0
            + (s**3 - 2 * s**2 + s) * m0
            + (-2 * s**3 + 3 * s**2) * p1
            + (s**3 - s**2) * m1
        )


def _lines(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not JSON: {exc.msg}", source=f"{path}:{number}") from None


def load_truth(path: Path) -> dict[str, TruthObject]:
    """Truth objects by id from a ``kizuna simulate --truth`` file."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number, row in _lines(path):
        try:
            row["_t"] = parse_time(row["time"])
            rows[row["object_id"]].append(row)
        except KeyError as exc:
            raise InputError(
                "missing field", field=str(exc.args[0]), source=f"{path}:{number}"
            ) from None
    out = {}
    for oid, items in rows.items():
        items.sort(key=lambda r: r["_t"])
        t = np.array([r["_t"] for r in items])
        keep = np.concatenate([[True], np.diff(t) > 1e-6])
        items = [r for r, k in zip(items, keep, strict=True) if k]
        impact = None
        last = items[-1]
        if last.get("event") == "impact":
            impact = (last["_t"], float(last["lat"]), float(last["lon"]))
        out[oid] = TruthObject(
            object_id=oid,
            launch_id=str(items[0].get("launch_id", "")),
            kind=str(items[0].get("kind", "missile")),
            time_s=t[keep],
            r_ecef_m=np.array([r["r_ecef_m"] for r in items], float),
            v_ecef_mps=np.array([r["v_ecef_mps"] for r in items], float),
            powered=np.array([bool(r.get("powered", False)) for r in items]),
            impact=impact,
        )
    if not out:
        raise InputError("no truth lines", source=str(path))
    return out


@dataclass
class TrackPoints:
    track_id: str
    time_s: Array
    r_ecef_m: Array
    v_ecef_mps: Array
    sigma_m: Array
    cov_m2: Array | None  # (n, 3, 3) when every line carries it


def load_tracks(path: Path) -> dict[str, TrackPoints]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, row in _lines(path):
        rows[row["track_id"]].append(row)
    out = {}
    for tid, items in rows.items():
        items.sort(key=lambda r: parse_time(r["time"]))
        lat = np.array([r["lat"] for r in items], float)
        lon = np.array([r["lon"] for r in items], float)
        alt = np.array([r["alt_m"] for r in items], float)
        covs = [r.get("position_covariance_ecef_m2") for r in items]
        out[tid] = TrackPoints(
            track_id=tid,
            time_s=np.array([parse_time(r["time"]) for r in items]),
            r_ecef_m=lla_to_ecef(lat, lon, alt),
            v_ecef_mps=np.array([r["velocity_ecef_mps"] for r in items], float),
            sigma_m=np.array([r["position_sigma_m"] for r in items], float),
            cov_m2=np.array(covs, float) if all(c is not None for c in covs) else None,
        )
    return out


def load_predictions(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in _lines(path)]


def load_alerts(path: Path) -> list[dict[str, Any]]:
    """The lines of an ``alerts.jsonl`` (one alert state change each), as decoded JSON."""
    return [row for _, row in _lines(path)]


def alert_latency(
    alerts: Iterable[dict[str, Any]], track_ids: Iterable[str], launch_s: float
) -> tuple[float | None, dict[str, float]]:
    """Launch-to-first-alert time (s) of one object's tracks, overall and per ``kind/level``.

    Counts ``issued`` and ``updated`` lines of those tracks (the first line naming a level may
    be an update, e.g. a notice that becomes a warning). This is the figure comparable with
    J-Alert's published timelines (launch time to the first message).
    """
    tids = set(track_ids)
    first: dict[str, float] = {}
    overall: float | None = None
    for a in alerts:
        if a.get("track_id") not in tids or a.get("status") not in ("issued", "updated"):
            continue
        dt = parse_time(a["time"]) - launch_s
        key = f"{a['kind']}/{a['level']}"
        first[key] = min(first.get(key, np.inf), dt)
        overall = dt if overall is None else min(overall, dt)
    return overall, dict(sorted(first.items(), key=lambda kv: kv[1]))


def load_radars(path: Path) -> list[RadarSite]:
    """Radar sites for the PCRLB from the reports themselves: site, sigmas, revisit, reach."""
    seen: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = defaultdict(list)
    reach: dict[str, float] = defaultdict(float)
    for _, row in _lines(path):
        if row.get("kind") != "radar":
            continue
        sid = row["sensor"]["id"]
        seen.setdefault(sid, row)
        times[sid].append(parse_time(row["time"]))
        reach[sid] = max(reach[sid], float(row["range_m"]))
    radars = []
    for sid, row in seen.items():
        t = np.unique(np.round(np.array(times[sid]), 3))
        gaps = np.diff(t)
        interval = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 1.0
        s = row["sensor"]
        radars.append(
            RadarSite(
                float(s["lat"]),
                float(s["lon"]),
                float(s["alt_m"]),
                float(row["sigma"]["range_m"]),
                float(row["sigma"]["azimuth_deg"]),
                float(row["sigma"]["elevation_deg"]),
                interval_s=interval,
                max_range_m=reach[sid] * 1.02,
                min_elevation_deg=0.0,
            )
        )
    return radars


@dataclass
class ObjectScore:
    object_id: str
    kind: str
    launch_s: float
    tracks: list[str]
    first_track_s: float | None  # after launch
    first_prediction_s: float | None  # first impact prediction, after launch
    rmse_m: float | None
    nees: float | None
    final_impact_error_m: float | None  # last prediction before impact
    # That prediction's impact time minus the true one, s (negative: predicted early).
    final_impact_time_error_s: float | None
    coverage: tuple[int, int]  # predictions whose ellipse held the truth, predictions
    categories: dict[str, int]
    # Launch to the first alert line (issued/updated) of the object's tracks, seconds, and per
    # "kind/level" (e.g. "overflight/warning"); None / {} without alerts.
    first_alert_s: float | None = None
    first_alert_by: dict[str, float] = field(default_factory=dict)


@dataclass
class Evaluation:
    objects: list[ObjectScore]
    # time series, seconds since the first launch
    t0_s: float
    error_t: Array = field(default_factory=lambda: np.zeros(0))
    error_m: Array = field(default_factory=lambda: np.zeros(0))
    error_object: list[str] = field(default_factory=list)
    nees_t: Array = field(default_factory=lambda: np.zeros(0))
    nees_value: Array = field(default_factory=lambda: np.zeros(0))
    nees_low: Array = field(default_factory=lambda: np.zeros(0))
    nees_high: Array = field(default_factory=lambda: np.zeros(0))
    pcrlb: dict[str, tuple[Array, Array]] = field(default_factory=dict)  # object -> (t, m)
    gospa_t: Array = field(default_factory=lambda: np.zeros(0))
    gospa_m: Array = field(default_factory=lambda: np.zeros(0))
    impact_tti_s: Array = field(default_factory=lambda: np.zeros(0))  # time to impact
    impact_error_m: Array = field(default_factory=lambda: np.zeros(0))
    impact_time_error_s: Array = field(default_factory=lambda: np.zeros(0))
    impact_inside: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    impact_object: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return float(self.impact_inside.mean()) if self.impact_inside.size else float("nan")


def associate(truth: dict[str, TruthObject], tracks: dict[str, TrackPoints]) -> dict[str, Array]:
    """Track id -> the true object of each of its updates (object ids, "" where unmatched),
    by :func:`owners_of_updates`."""
    owners = {}
    ids = list(truth)
    for tid, tr in tracks.items():
        d = np.full((len(ids), tr.time_s.size), np.inf)
        for i, oid in enumerate(ids):
            obj = truth[oid]
            inside = (tr.time_s >= obj.time_s[0]) & (tr.time_s <= obj.time_s[-1])
            if inside.any():
                d[i, inside] = np.linalg.norm(
                    obj.position_at(tr.time_s[inside]) - tr.r_ecef_m[inside], axis=-1
                )
        owners[tid] = owners_of_updates(ids, d)
    return owners


def owners_of_updates(ids: list[str], distance_m: Array, gate_m: float = GATE_M) -> Array:
    """The true object of each update of one track, from its distances to the objects.

    ``distance_m`` (len(ids), updates): metres from each update (in time order) to each object,
    inf where the object is not alive. Returns (updates,) object ids, "" where none is within
    ``gate_m``. The nearest object, except that an update with another object within
    :data:`AMBIGUOUS_M` of the nearest takes the owner of the track's next unambiguous update
    (else its previous one; else the nearest): the object the track stays on once they part.
    """
    order = np.argsort(distance_m, axis=0)
    cols = np.arange(distance_m.shape[1])
    best = distance_m[order[0], cols]
    second = distance_m[order[1], cols] if len(ids) > 1 else np.full(best.shape, np.inf)
    who = np.where(best < gate_m, np.array(ids, dtype=object)[order[0]], "")
    clear = (who != "") & (second - best >= AMBIGUOUS_M)
    where = np.flatnonzero(clear)
    if where.size:
        unsure = np.flatnonzero((who != "") & ~clear)
        k = np.minimum(np.searchsorted(where, unsure), where.size - 1)  # next clear one
        who[unsure] = who[where[k]]
    return who


def _owner_at(owners: Array, track: TrackPoints, time_s: float) -> str:
    """The object a track was matched to at its update at or just before ``time_s``."""
    k = max(int(np.searchsorted(track.time_s, time_s, side="right")) - 1, 0)
    return str(owners[k])


def _product_owner(
    line: dict[str, Any], owners: dict[str, Array], tracks: dict[str, TrackPoints]
) -> str:
    """The object a product line's (prediction, alert) track was on at the line's time."""
    tid = line.get("track_id", "")
    if tid not in owners or "time" not in line:
        return ""
    return _owner_at(owners[tid], tracks[tid], parse_time(line["time"]))


def evaluate(
    truth: dict[str, TruthObject],
    tracks: dict[str, TrackPoints],
    predictions: list[dict[str, Any]],
    radars: list[RadarSite] | None = None,
    alerts: list[dict[str, Any]] | None = None,
) -> Evaluation:
    owners = associate(truth, tracks)
    t0 = min(obj.time_s[0] for obj in truth.values())
    ev = Evaluation(objects=[], t0_s=t0)
    per_object_tracks: dict[str, list[str]] = defaultdict(list)
    first_owned: dict[str, float] = {}
    segments = []
    for tid, who in owners.items():
        for oid in dict.fromkeys(who[who != ""].tolist()):
            inside = who == oid
            per_object_tracks[oid].append(tid)
            t_first = float(tracks[tid].time_s[inside][0])
            first_owned[oid] = min(first_owned.get(oid, np.inf), t_first)
            segments.append((tid, oid, inside))

    # Position errors and NEES of every matched track update, against its own object.
    err_t, err_m, err_o, nees_t, nees_v, nees_dof, nees_track = [], [], [], [], [], [], []
    for tid, oid, inside in segments:
        tr, obj = tracks[tid], truth[oid]
        e = tr.r_ecef_m[inside] - obj.position_at(tr.time_s[inside])
        err_t.append(tr.time_s[inside] - t0)
        err_m.append(np.linalg.norm(e, axis=-1))
        err_o.extend([oid] * int(inside.sum()))
        if tr.cov_m2 is not None:
            cov = tr.cov_m2[inside]
            w = np.linalg.solve(np.linalg.cholesky(cov), e[..., None])[..., 0]
            nees_v.append(np.sum(w * w, axis=-1))
        else:
            nees_v.append(np.sum(e * e, axis=-1) / np.maximum(tr.sigma_m[inside], 1e-9) ** 2)
        nees_t.append(tr.time_s[inside] - t0)
        nees_track.extend([tid] * int(inside.sum()))
        nees_dof.append(np.full(int(inside.sum()), 3))
    if err_t:
        ev.error_t, ev.error_m = np.concatenate(err_t), np.concatenate(err_m)
        ev.error_object = err_o
        # Averaged in bins of NEES_BIN_S, with the band of as many independent draws as
        # tracks in the bin: one track's errors are correlated over tens of seconds, so its
        # updates within a bin are about one draw (counting each update as one gave a band too
        # narrow, which also jumped from second to second as the radars' revisits interleaved).
        t_all, v_all = np.concatenate(nees_t), np.concatenate(nees_v)
        track_all = np.array(nees_track)
        bins = np.floor(t_all / NEES_BIN_S).astype(int)
        uniq = np.unique(bins)
        ev.nees_t = (uniq + 0.5) * NEES_BIN_S
        ev.nees_value = np.array([v_all[bins == b].mean() for b in uniq])
        counts = np.array([np.unique(track_all[bins == b]).size for b in uniq])
        bands = {c: nees_band(3, int(c)) for c in np.unique(counts)}
        ev.nees_low = np.array([bands[c][0] for c in counts])
        ev.nees_high = np.array([bands[c][1] for c in counts])

    # PCRLB along each unpowered true trajectory, for the radars of the scenario.
    if radars:
        for oid, obj in truth.items():
            coast = ~obj.powered
            if coast.sum() < 3:
                continue
            t = obj.time_s[coast]
            grid = np.arange(t[0], t[-1], 1.0)
            if grid.size < 3:
                continue
            state = np.concatenate([obj.position_at(grid), _interp_v(obj, grid)], axis=-1)
            beta = 8000.0 if obj.kind != "satellite" else np.inf
            bound = pcrlb(grid, state, radars, ballistic_coefficient_kg_m2=beta)
            ev.pcrlb[oid] = (grid - t0, np.sqrt(np.trace(bound[:, :3, :3], axis1=1, axis2=2)))

    # GOSPA per whole second: tracks extrapolated (< 1 s) to the second, truth alive then.
    gospa_t, gospa_v = [], []
    if tracks:
        t_min = min(tr.time_s[0] for tr in tracks.values())
        t_max = max(tr.time_s[-1] for tr in tracks.values())
        for second in np.arange(np.ceil(t_min), np.floor(t_max) + 1.0, 1.0):
            est = []
            for tr in tracks.values():
                k = np.searchsorted(tr.time_s, second, side="right") - 1
                if k >= 0 and second - tr.time_s[k] <= 1.0:
                    est.append(tr.r_ecef_m[k] + tr.v_ecef_mps[k] * (second - tr.time_s[k]))
            pts = [obj.position_at(second)[0] for obj in truth.values() if obj.alive(second)]
            if not pts and not est:
                continue
            g = gospa(np.array(pts).reshape(-1, 3), np.array(est).reshape(-1, 3), c=GOSPA_C_M)
            gospa_t.append(second - t0)
            gospa_v.append(g.total)
    ev.gospa_t, ev.gospa_m = np.array(gospa_t), np.array(gospa_v)

    # Impact predictions against the true impacts.
    tti, ierr, iterr, iin, iobj = [], [], [], [], []
    by_object_pred: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in predictions:
        oid = _product_owner(p, owners, tracks)
        if not oid:
            continue
        by_object_pred[oid].append(p)
        obj = truth[oid]
        imp = p.get("impact")
        if imp is None or obj.impact is None:
            continue
        t_pred = parse_time(p["time"])
        if t_pred >= obj.impact[0]:
            continue
        e = imp["ellipse_95"]
        tti.append(obj.impact[0] - t_pred)
        ierr.append(float(distance_m(obj.impact[1], obj.impact[2], imp["lat"], imp["lon"])))
        iterr.append(parse_time(imp["time"]) - obj.impact[0])
        iin.append(
            bool(
                in_ellipse(
                    obj.impact[1],
                    obj.impact[2],
                    imp["lat"],
                    imp["lon"],
                    e["semi_major_m"],
                    e["semi_minor_m"],
                    e["orientation_deg"],
                )
            )
        )
        iobj.append(oid)
    ev.impact_tti_s, ev.impact_error_m = np.array(tti), np.array(ierr)
    ev.impact_time_error_s = np.array(iterr)
    ev.impact_inside, ev.impact_object = np.array(iin, bool), iobj

    # Latency counts from the launch (a spent stage's own truth begins at separation).
    launches: dict[str, float] = {}
    for obj in truth.values():
        launches[obj.launch_id] = min(launches.get(obj.launch_id, np.inf), float(obj.time_s[0]))
    by_object_alert: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts or []:
        by_object_alert[_product_owner(a, owners, tracks)].append(a)
    for oid, obj in sorted(truth.items(), key=lambda kv: (kv[1].time_s[0], kv[0])):
        tids = per_object_tracks.get(oid, [])
        launch = launches[obj.launch_id]
        first_track = first_owned.get(oid)
        preds = sorted(by_object_pred.get(oid, []), key=lambda p: parse_time(p["time"]))
        with_impact = [p for p in preds if p.get("impact") is not None]
        first_pred = parse_time(with_impact[0]["time"]) if with_impact else None
        mine = np.array([o == oid for o in ev.impact_object], bool)
        last = int(np.argmin(np.where(mine, ev.impact_tti_s, np.inf))) if mine.any() else None
        final = None if last is None else float(ev.impact_error_m[last])
        final_time = None if last is None else float(ev.impact_time_error_s[last])
        obj_err = np.array([o == oid for o in ev.error_object], bool)
        rmse = float(np.sqrt(np.mean(ev.error_m[obj_err] ** 2))) if obj_err.any() else None
        first_alert, first_alert_by = alert_latency(by_object_alert.get(oid, []), tids, launch)
        obj_nees = None
        if obj_err.any():
            flat = np.concatenate(nees_v) if nees_v else np.zeros(0)
            obj_nees = float(flat[obj_err].mean())
        ev.objects.append(
            ObjectScore(
                object_id=oid,
                kind=obj.kind,
                launch_s=launch,
                tracks=sorted(tids),
                first_track_s=None if first_track is None else float(first_track - launch),
                first_prediction_s=None if first_pred is None else float(first_pred - launch),
                rmse_m=rmse,
                nees=obj_nees,
                final_impact_error_m=final,
                final_impact_time_error_s=final_time,
                coverage=(int(ev.impact_inside[mine].sum()), int(mine.sum())),
                categories=dict(Counter(str(p.get("category")) for p in preds)),
                first_alert_s=first_alert,
                first_alert_by=first_alert_by,
            )
        )
    return ev


def _interp_v(obj: TruthObject, t: Array) -> Array:
    return np.stack([np.interp(t, obj.time_s, obj.v_ecef_mps[:, i]) for i in range(3)], axis=-1)


def write_plots(ev: Evaluation, out_dir: Path) -> list[Path]:
    """PNG plots (matplotlib, Agg): error vs PCRLB, NEES, GOSPA, impact error and coverage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(9, 5))
    objects = sorted(set(ev.error_object))
    for oid in objects:
        mask = np.array([o == oid for o in ev.error_object], bool)
        t, e = ev.error_t[mask], ev.error_m[mask]
        bins = np.floor(t / 5.0)
        ub = np.unique(bins)
        rm = [np.sqrt(np.mean(e[bins == b] ** 2)) for b in ub]
        (line,) = ax.semilogy(ub * 5.0, rm, label=f"{oid} RMSE (5 s bins)")
        if oid in ev.pcrlb:
            pt, pm = ev.pcrlb[oid]
            ax.semilogy(pt, pm, "--", color=line.get_color(), label=f"{oid} PCRLB")
    ax.set_xlabel("time since first launch (s)")
    ax.set_ylabel("position error (m)")
    ax.set_title("Position RMSE and posterior Cramér-Rao lower bound")
    ax.grid(True, which="both", alpha=0.3)
    if objects:
        ax.legend(fontsize=7)
    written.append(_save(fig, out_dir / "position_rmse_vs_pcrlb.png"))

    fig, ax = plt.subplots(figsize=(9, 5))
    if ev.nees_t.size:
        ax.step(ev.nees_t, ev.nees_value, where="mid", lw=0.8,
                label=f"average position NEES ({NEES_BIN_S:.0f} s bins)")
        ax.fill_between(ev.nees_t, ev.nees_low, ev.nees_high, step="mid", alpha=0.25,
                        label="95 % band (one draw per track and bin)")
        ax.set_yscale("log")
    ax.axhline(3.0, color="k", lw=0.5)
    ax.set_xlabel("time since first launch (s)")
    ax.set_ylabel("NEES (3 dof)")
    ax.set_title("Position NEES with its 95 % chi-square band")
    ax.legend(fontsize=8)
    written.append(_save(fig, out_dir / "nees.png"))

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(ev.gospa_t, ev.gospa_m / 1e3)
    ax.set_xlabel("time since first launch (s)")
    ax.set_ylabel(f"GOSPA (km, c = {GOSPA_C_M / 1e3:.0f} km, p = 2)")
    ax.set_title("GOSPA over time")
    written.append(_save(fig, out_dir / "gospa.png"))

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    if ev.impact_tti_s.size:
        for oid in sorted(set(ev.impact_object)):
            mask = np.array([o == oid for o in ev.impact_object], bool)
            ax1.semilogy(
                ev.impact_tti_s[mask],
                np.maximum(ev.impact_error_m[mask], 1.0),
                ".",
                ms=3,
                label=oid,
            )
        bins = np.floor(ev.impact_tti_s / COVERAGE_BIN_S)
        ub = np.unique(bins)
        frac = [ev.impact_inside[bins == b].mean() * 100 for b in ub]
        ax2.bar((ub + 0.5) * COVERAGE_BIN_S, frac, width=COVERAGE_BIN_S * 0.9)
        ax1.legend(fontsize=7)
    ax2.axhline(95.0, color="k", lw=0.8)
    ax1.invert_xaxis()
    ax1.set_ylabel("impact point error (m)")
    ax2.set_ylabel("95 % ellipse coverage (%)")
    ax2.set_xlabel("time to impact (s)")
    ax1.set_title("Impact prediction error and ellipse coverage")
    written.append(_save(fig, out_dir / "impact.png"))

    fig, ax = plt.subplots(figsize=(9, 4))
    names = [o.object_id for o in ev.objects]
    ax.barh(names, [o.first_track_s or np.nan for o in ev.objects], alpha=0.7, label="first track")
    ax.barh(
        names,
        [o.first_prediction_s or np.nan for o in ev.objects],
        alpha=0.5,
        label="first impact prediction",
    )
    ax.set_xlabel("seconds after launch")
    ax.set_title("Time to first track and first impact prediction")
    ax.legend(fontsize=8)
    written.append(_save(fig, out_dir / "latency.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


__all__ = [
    "Evaluation",
    "ObjectScore",
    "associate",
    "evaluate",
    "load_predictions",
    "load_radars",
    "load_tracks",
    "load_truth",
    "owners_of_updates",
    "write_plots",
]
