"""The after-action report: one self-contained HTML page about a recorded run.

``kizuna report RUNDIR --out report.html`` reads what ``kizuna run --record RUNDIR`` and
``kizuna simulate --truth`` leave behind:

* ``RUNDIR/<NODE>.jsonl``: everything that node held, one product per line with a
  ``product`` field (``report|track|prediction|alert``) and, when the recorder adds it,
  ``origin_node`` (DESIGN.md section 4, ``kizuna run --record``, ``kizuna demo``): its own
  sensors' reports and products (``origin_node`` is the node) and what partners released to
  it (another ``origin_node``); a line without ``origin_node`` counts as the node's own;
* ``RUNDIR/truth.jsonl`` (optional): the simulator's truth;
* ``RUNDIR/scenario.yaml`` (or ``.yml``/``.json``, optional): the scenario that was run;
* ``RUNDIR/accuracy.json`` (optional): extra figures to show as they are.

It writes the scenario, a map of one node's own tracks (partners' in grey) against the truth,
every node's alerts against the true impact times, the accuracy figures of
:mod:`kizuna.prediction.evaluation` (what ``kizuna evaluate`` prints) for that node's own
tracks and predictions (a partner's products are scored at the partner), and per node what
it produced, what it received from partners and what partners received from it. Figures are
PNGs drawn with matplotlib and embedded as base64, so the page needs nothing else to open.
"""

from __future__ import annotations

import base64
import html
import io
import json
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kizuna.errors import InputError, KizunaError
from kizuna.timefmt import format_time, parse_time

KINDS = ("report", "track", "prediction", "alert")
LEVEL_COLOR = {"warning": "#d32f2f", "advisory": "#f57c00", "notice": "#fbc02d"}
NOT_NODE_FILES = {"truth", "reports", "tracks", "predictions", "alerts"}


@dataclass
class Run:
    """What a run directory holds, read once."""

    path: Path
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # node -> lines
    bad_lines: dict[str, int] = field(default_factory=dict)
    truth: list[dict[str, Any]] = field(default_factory=list)
    scenario_text: str | None = None
    scenario_name: str | None = None
    scenario: dict[str, Any] = field(default_factory=dict)
    extra_accuracy: dict[str, Any] | None = None


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    bad = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    return rows, bad


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory; :class:`InputError` when it holds no record file."""
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError("no such run directory", source=str(path))
    run = Run(path=path)
    for file in sorted(path.glob("*.jsonl")):
        if file.stem in NOT_NODE_FILES:
            continue
        rows, bad = _read_jsonl(file)
        run.records[file.stem] = [r for r in rows if r.get("product") in KINDS]
        run.bad_lines[file.stem] = bad + sum(1 for r in rows if r.get("product") not in KINDS)
    if not run.records:
        raise InputError(
            "no record files (<NODE>.jsonl, from `kizuna run --record DIR`)", source=str(path)
        )
    truth = path / "truth.jsonl"
    if truth.is_file():
        run.truth, _ = _read_jsonl(truth)
    for name in ("scenario.yaml", "scenario.yml", "scenario.json"):
        candidate = path / name
        if candidate.is_file():
            run.scenario_text = candidate.read_text(encoding="utf-8")
            import yaml

            try:
                parsed = yaml.safe_load(run.scenario_text)
            except yaml.YAMLError:  # a broken scenario file is shown raw, not fatal
                parsed = None
            if isinstance(parsed, dict):
                run.scenario = parsed
                run.scenario_name = str(parsed.get("name") or candidate.stem)
            break
    accuracy = path / "accuracy.json"
    if accuracy.is_file():
        try:
            loaded = json.loads(accuracy.read_text(encoding="utf-8"))
            run.extra_accuracy = loaded if isinstance(loaded, dict) else {"value": loaded}
        except json.JSONDecodeError as exc:
            run.extra_accuracy = {"error": f"accuracy.json is not JSON: {exc}"}
    return run


# --- figures ---------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _truth_objects(truth: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    objects: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in truth:
        if "object_id" in row and "lat" in row and "lon" in row and "time" in row:
            objects[str(row["object_id"])].append(row)
    for rows in objects.values():
        rows.sort(key=lambda r: parse_time(r["time"]))
    return objects


def origin_of(row: dict[str, Any], node: str) -> str:
    """The node that produced a record line (a line without ``origin_node`` is ``node``'s)."""
    origin = row.get("origin_node")
    return str(origin) if origin else node


def own_rows(run: Run, node: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The lines of ``node``'s record that it produced itself (of ``kind``, if given)."""
    return [
        r
        for r in run.records.get(node, [])
        if origin_of(r, node) == node and (kind is None or r["product"] == kind)
    ]


def truth_impacts(truth: list[dict[str, Any]]) -> list[tuple[str, float, float, float]]:
    """``(object_id, time_s, lat, lon)`` of every true impact."""
    return [
        (str(r["object_id"]), parse_time(r["time"]), float(r["lat"]), float(r["lon"]))
        for r in truth
        if r.get("event") == "impact"
    ]


def map_figure(run: Run, node: str) -> str:
    """Tracks of ``node`` (coloured) over the truth (black), coasts and prefecture lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kizuna.interfaces.web.geo import coastline_geojson

    fig, ax = plt.subplots(figsize=(9.0, 7.0))
    for feature in json.loads(coastline_geojson()).get("features", []):
        coords = feature["geometry"]["coordinates"]
        ax.plot([c[0] for c in coords], [c[1] for c in coords], color="#78909c", lw=0.6)
    lats: list[float] = []
    lons: list[float] = []
    for object_id, rows in _truth_objects(run.truth).items():
        x = [float(r["lon"]) for r in rows]
        y = [float(r["lat"]) for r in rows]
        ax.plot(x, y, color="black", lw=1.2, ls="--")
        ax.annotate(object_id, (x[-1], y[-1]), fontsize=7)
        lons += x
        lats += y
    for _, _, lat, lon in truth_impacts(run.truth):
        ax.plot(lon, lat, marker="*", color="black", ms=11, ls="none")
    tracks: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    partner: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    last_prediction: dict[str, dict[str, Any]] = {}
    for row in run.records.get(node, []):
        origin = origin_of(row, node)
        key = str(row.get("track_id"))
        if row["product"] == "track":
            point = (parse_time(row["time"]), float(row["lon"]), float(row["lat"]))
            (tracks[key] if origin == node else partner[f"{origin}/{key}"]).append(point)
        elif row["product"] == "prediction" and row.get("impact") and origin == node:
            last_prediction[key] = row
    for i, points in enumerate(partner.values()):
        # Partners' tracks of the same objects: thin and grey, under the node's own.
        points.sort()
        ax.plot(
            [p[1] for p in points],
            [p[2] for p in points],
            color="#9e9e9e",
            lw=0.8,
            alpha=0.7,
            label="partner tracks" if i == 0 else None,
        )
    colours = plt.get_cmap("tab10")
    for i, (key, points) in enumerate(sorted(tracks.items())):
        points.sort()
        x = [p[1] for p in points]
        y = [p[2] for p in points]
        ax.plot(x, y, color=colours(i % 10), lw=2.0, alpha=0.85, label=f"track {key}")
        lons += x
        lats += y
        if key in last_prediction:
            impact = last_prediction[key]["impact"]
            ax.plot(
                float(impact["lon"]),
                float(impact["lat"]),
                marker="x",
                ms=9,
                color=colours(i % 10),
                ls="none",
            )
    if lats:
        pad = 3.0
        ax.set_xlim(min(lons) - pad, max(lons) + pad)
        ax.set_ylim(min(lats) - pad, max(lats) + pad)
    else:
        ax.set_xlim(120, 150)
        ax.set_ylim(25, 48)
    ax.set_aspect(1.25)
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_title(f"Tracks at {node} (colour) against truth (black dashed, * impact)")
    ax.grid(alpha=0.3)
    if tracks:
        ax.legend(fontsize=7, loc="best")
    return _png(fig)


def _alert_row(alert: dict[str, Any]) -> str:
    origin = alert.get("origin_node")
    return f"{origin}: {alert['alert_id']}" if origin else str(alert["alert_id"])


def timeline_figure(
    alerts: list[dict[str, Any]], impacts: list[tuple[str, float, float, float]], t0: float
) -> str:
    """One row per alert (``node: alert id`` when the records say which node issued it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ids = sorted({_alert_row(a) for a in alerts})
    fig, ax = plt.subplots(figsize=(9.0, 1.4 + 0.32 * max(len(ids), 1)))
    rows = {alert_id: i for i, alert_id in enumerate(ids)}
    for a in alerts:
        x = parse_time(a["time"]) - t0
        marker = {"issued": "o", "updated": "s", "cancelled": "x"}.get(a["status"], "^")
        ax.plot(
            x,
            rows[_alert_row(a)],
            marker=marker,
            color=LEVEL_COLOR[a["level"]],
            ls="none",
            ms=7,
        )
    for object_id, t, _, _ in impacts:
        ax.axvline(t - t0, color="black", lw=1, ls=":")
        ax.annotate(
            f"{object_id} impact",
            (t - t0, len(ids) - 0.4 if ids else 0.5),
            rotation=90,
            fontsize=7,
            va="top",
        )
    ax.set_yticks(range(len(ids)), ids, fontsize=7)
    ax.set_ylim(-0.6, max(len(ids), 1) - 0.4)
    ax.set_xlabel("seconds after the first launch")
    ax.set_title("Alerts (o issued, s updated, x cancelled, ^ over) against true impacts")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


# --- figures of merit ------------------------------------------------------------------------


def counts(run: Run) -> dict[str, dict[str, Any]]:
    """Per node, by kind: ``own`` (its own sensors' reports and its own products),
    ``received`` (from partners), ``released`` (what other nodes' records hold from it; None
    when no line names its origin) and ``bad_lines``."""
    out: dict[str, dict[str, Any]] = {}
    has_origin = any("origin_node" in r for rows in run.records.values() for r in rows)
    released: dict[str, Counter[str]] = defaultdict(Counter)
    for node, rows in run.records.items():
        for row in rows:
            origin = origin_of(row, node)
            if origin != node:
                released[origin][row["product"]] += 1
    for node, rows in run.records.items():
        own = Counter(r["product"] for r in rows if origin_of(r, node) == node)
        received = Counter(r["product"] for r in rows if origin_of(r, node) != node)
        out[node] = {
            "own": {k: own.get(k, 0) for k in KINDS},
            "received": {k: received.get(k, 0) for k in KINDS},
            "released": {k: released[node].get(k, 0) for k in KINDS} if has_origin else None,
            "bad_lines": run.bad_lines.get(node, 0),
        }
    return out


def accuracy(run: Run, node: str) -> tuple[dict[str, Any] | None, str | None]:
    """``kizuna evaluate``'s figures for ``node``'s tracks and predictions, or why not."""
    if not run.truth:
        return None, "no truth.jsonl in the run directory"
    # Only the node's own products: partners' tracks of the same objects reuse track ids and
    # would be scored as one track jumping between pictures.
    rows = own_rows(run, node)
    tracks = [r for r in rows if r["product"] == "track"]
    if not tracks:
        held = sum(r["product"] == "track" for r in run.records.get(node, []))
        return None, f"node {node} produced no tracks of its own (it holds {held} of partners)"
    from kizuna.prediction import evaluation as ev

    with tempfile.TemporaryDirectory(prefix="kizuna-report-") as tmp:
        folder = Path(tmp)
        for name, items in (
            ("truth", run.truth),
            ("tracks", tracks),
            ("predictions", [r for r in rows if r["product"] == "prediction"]),
        ):
            with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
                for item in items:
                    handle.write(json.dumps(item) + "\n")
        try:
            truth = ev.load_truth(folder / "truth.jsonl")
            result = ev.evaluate(
                truth,
                ev.load_tracks(folder / "tracks.jsonl"),
                ev.load_predictions(folder / "predictions.jsonl"),
            )
        except (KizunaError, ValueError, KeyError, IndexError) as exc:
            return None, f"evaluation failed: {exc}"
    objects = [
        {
            "object": o.object_id,
            "kind": o.kind,
            "tracks": ", ".join(o.tracks) or "-",
            "first track s": o.first_track_s,
            "first impact prediction s": o.first_prediction_s,
            "position RMSE m": o.rmse_m,
            "NEES": o.nees,
            "final impact error km": None
            if o.final_impact_error_m is None
            else o.final_impact_error_m / 1e3,
            "final impact time error s": o.final_impact_time_error_s,
            "in 95 % ellipse": f"{o.coverage[0]}/{o.coverage[1]}" if o.coverage[1] else "-",
        }
        for o in result.objects
    ]
    summary = {
        "95 % ellipse coverage": None
        if not result.impact_inside.size
        else f"{result.coverage * 100:.1f} % of {result.impact_inside.size} predictions",
        "mean GOSPA km": None if not result.gospa_m.size else float(result.gospa_m.mean() / 1e3),
    }
    return {"objects": objects, "summary": summary}, None


# --- HTML ------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return _e(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _alerts_of(run: Run, node: str) -> list[dict[str, Any]]:
    """The alert versions ``node`` issued itself, oldest first."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in own_rows(run, node, "alert"):
        seen.setdefault((str(row["alert_id"]), row["time"], row["status"]), row)
    return sorted(seen.values(), key=lambda a: parse_time(a["time"]))


def _primary_node(run: Run) -> str:
    """The node with the most tracks of its own (then the longest record)."""
    return max(
        run.records,
        key=lambda n: (len(own_rows(run, n, "track")), len(run.records[n]), n),
    )


def alert_summary(run: Run, impacts: list[tuple[str, float, float, float]]) -> list[dict[str, Any]]:
    """Per node: its own alerts (first issued, highest level, regions) and the lead time of its
    first alert before the first true impact; and how many partner alert versions it got."""
    first_impact = min((t for _, t, _, _ in impacts), default=None)
    rank = {"warning": 0, "advisory": 1, "notice": 2}
    out = []
    for node in sorted(run.records):
        own = _alerts_of(run, node)
        issued = [parse_time(a["time"]) for a in own if a["status"] == "issued"]
        # The first *warning* is what the public acts on; a sea notice may come much earlier.
        warned = [parse_time(a["time"]) for a in own if a["level"] == "warning"]
        levels = sorted({str(a["level"]) for a in own}, key=lambda lv: rank.get(lv, 9))
        regions = sorted({r["code"] for a in own for r in a.get("regions", [])})
        partner = sum(
            1 for r in run.records[node] if r["product"] == "alert" and origin_of(r, node) != node
        )
        out.append(
            {
                "node": node,
                "alerts": len({a["alert_id"] for a in own}),
                "versions": len(own),
                "first_issued_s": min(issued) if issued else None,
                "first_warning_s": min(warned) if warned else None,
                "highest": levels[0] if levels else None,
                "regions": regions,
                "lead_s": None
                if not issued or first_impact is None
                else first_impact - min(issued),
                "partner_versions": partner,
            }
        )
    return out


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px;
  color: #1b1f23; }
h1 { margin-bottom: 0; } .sub { color: #57606a; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f8fa; } img { max-width: 100%; }
.warning { color: #d32f2f; font-weight: 600; } .advisory { color: #f57c00; font-weight: 600; }
.notice { color: #b8860b; font-weight: 600; } .ex { background: #f9a825; padding: 0 4px; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; font-size: 12px; }
.note { color: #57606a; }
"""


def build_report(run_dir: str | Path, *, node: str | None = None) -> str:
    """The report's HTML text for ``run_dir`` (``node``: whose picture to map and score)."""
    run = load_run(run_dir)
    primary = node or _primary_node(run)
    if primary not in run.records:
        raise InputError(
            f"no record file for node {primary!r} (have: {', '.join(sorted(run.records))})",
            source=str(run.path),
        )
    impacts = truth_impacts(run.truth)
    alerts = _alerts_of(run, primary)
    every_alert = [a for n in sorted(run.records) for a in _alerts_of(run, n)]
    starts = [parse_time(r["time"]) for r in run.truth if r.get("event") == "launch"]
    all_times = [
        parse_time(r["time"])
        for rows in run.records.values()
        for r in rows
        if isinstance(r.get("time"), str)
    ]
    t0 = min(starts) if starts else (min(all_times) if all_times else 0.0)
    exercise = bool(run.scenario.get("exercise")) or any(
        r.get("exercise") for rows in run.records.values() for r in rows
    )

    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>kizuna after-action: {_e(run.scenario_name or run.path.name)}</title>"
        f"<style>{STYLE}</style></head><body>"
    ]
    parts.append(
        f"<h1>After-action report: {_e(run.scenario_name or run.path.name)}"
        f"{' <span class=ex>EXERCISE</span>' if exercise else ''}</h1>"
    )
    parts.append(
        f"<p class=sub>Run directory {_e(run.path)} · generated "
        f"{_e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%SZ'))} · "
        f"T0 (first launch) {_e(format_time(t0))} · picture of node {_e(primary)}</p>"
    )

    parts.append("<h2>Scenario</h2>")
    if run.scenario_text is None:
        parts.append("<p class=note>No scenario file in the run directory.</p>")
    else:
        description = run.scenario.get("description")
        if description:
            parts.append(f"<p>{_e(description)}</p>")
        parts.append(
            f"<details><summary>scenario file</summary><pre>{_e(run.scenario_text)}</pre></details>"
        )

    parts.append(f"<h2>Tracks of {_e(primary)} against truth</h2>")
    parts.append(f"<img alt='map of tracks and truth' src='{map_figure(run, primary)}'>")
    if not run.truth:
        parts.append("<p class=note>No truth.jsonl: tracks only.</p>")

    parts.append("<h2>Alert timeline</h2>")
    if impacts:
        parts.append(
            _table(
                ["object", "true impact (UTC)", "T+ s", "lat", "lon"],
                [
                    [_e(o), _e(format_time(t)), _num(t - t0), _num(lat, 3), _num(lon, 3)]
                    for o, t, lat, lon in impacts
                ],
            )
        )
    summary = alert_summary(run, impacts)
    parts.append(
        _table(
            [
                "node",
                "alerts issued",
                "versions",
                "first issued T+ s",
                "lead before first impact s",
                "first warning T+ s",
                "highest level",
                "regions",
                "partner alert versions received",
            ],
            [
                [
                    _e(s["node"]),
                    _num(s["alerts"]),
                    _num(s["versions"]),
                    _num(None if s["first_issued_s"] is None else s["first_issued_s"] - t0),
                    _num(s["lead_s"]),
                    _num(None if s["first_warning_s"] is None else s["first_warning_s"] - t0),
                    f"<span class={_e(s['highest'])}>{_e(s['highest'])}</span>"
                    if s["highest"]
                    else "-",
                    _e(", ".join(s["regions"]) or "-"),
                    _num(s["partner_versions"]),
                ]
                for s in summary
            ],
        )
    )
    if every_alert:
        parts.append(
            f"<img alt='alert timeline' src='{timeline_figure(every_alert, impacts, t0)}'>"
        )
    if alerts:
        parts.append(f"<h3>Alerts issued by {_e(primary)}</h3>")
        parts.append(
            _table(
                [
                    "issued (UTC)",
                    "T+ s",
                    "alert",
                    "track",
                    "level",
                    "status",
                    "regions",
                    "impact time",
                    "message",
                ],
                [
                    [
                        _e(a["time"]),
                        _num(parse_time(a["time"]) - t0),
                        _e(a["alert_id"]),
                        _e(a["track_id"]),
                        f"<span class={_e(a['level'])}>{_e(a['level'])}</span>",
                        _e(a["status"]),
                        _e(", ".join(r["code"] for r in a.get("regions", []))),
                        _e(a.get("impact_time") or "-"),
                        _e(a.get("message", {}).get("en", "")),
                    ]
                    for a in alerts
                ],
            )
        )
        if impacts:
            first_issue = (
                min(parse_time(a["time"]) for a in alerts if a["status"] == "issued")
                if any(a["status"] == "issued" for a in alerts)
                else None
            )
            if first_issue is not None:
                lead = min(t for _, t, _, _ in impacts) - first_issue
                parts.append(
                    f"<p>First alert issued {lead:,.0f} s before the first true impact.</p>"
                )
    else:
        parts.append(f"<p class=note>Node {_e(primary)} recorded no alerts.</p>")

    parts.append(f"<h2>Accuracy ({_e(primary)})</h2>")
    figures, why_not = accuracy(run, primary)
    if figures is None:
        parts.append(f"<p class=note>Not computed: {_e(why_not)}.</p>")
    else:
        headers = list(figures["objects"][0]) if figures["objects"] else ["object"]
        parts.append(
            _table(headers, [[_num(row[h]) for h in headers] for row in figures["objects"]])
        )
        parts.append(
            _table(
                ["figure", "value"], [[_e(k), _num(v, 2)] for k, v in figures["summary"].items()]
            )
        )
    if run.extra_accuracy:
        parts.append("<h3>accuracy.json</h3>")
        parts.append(
            _table(
                ["figure", "value"],
                [[_e(k), _e(json.dumps(v))] for k, v in run.extra_accuracy.items()],
            )
        )

    parts.append("<h2>Per node: own, received and released</h2>")
    table = counts(run)
    has_released = any(v["released"] is not None for v in table.values())
    headers = ["node", *[f"own {k}s" for k in KINDS], *[f"received {k}s" for k in KINDS]]
    if has_released:
        headers += [f"released {k}s" for k in KINDS]
    headers.append("unreadable lines")
    rows = []
    for node_id in sorted(table):
        entry = table[node_id]
        row = [
            _e(node_id),
            *[_num(entry["own"][k]) for k in KINDS],
            *[_num(entry["received"][k]) for k in KINDS],
        ]
        if has_released:
            row += [_num(entry["released"][k]) for k in KINDS]
        row.append(_num(entry["bad_lines"]))
        rows.append(row)
    parts.append(_table(headers, rows))
    parts.append(
        "<p class=note>Own = its own sensors' reports and the products it derived; received = "
        "from partners; released = held by another node's record from this one (one count per "
        "receiving node)."
        if has_released
        else "<p class=note>The records carry no <code>origin_node</code>: every line counts "
        "as the node's own, and what each node released cannot be attributed."
    )
    parts.append("</p></body></html>")
    return "".join(parts)


def write_report(run_dir: str | Path, out: str | Path, *, node: str | None = None) -> Path:
    """Write the report; returns its path."""
    text = build_report(run_dir, node=node)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


__all__ = [
    "Run",
    "alert_summary",
    "build_report",
    "counts",
    "load_run",
    "origin_of",
    "own_rows",
    "truth_impacts",
    "write_report",
]
