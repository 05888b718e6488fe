"""The after-action report: one self-contained HTML page about a recorded run.

``kizuna report RUNDIR --out report.html`` reads what ``kizuna run --record RUNDIR`` and
``kizuna simulate --truth`` leave behind:

* ``RUNDIR/<NODE>.jsonl``: everything that node received, one product per line with a
  ``product`` field (``report|track|prediction|alert``) and, when the recorder adds it,
  ``origin_node`` (DESIGN.md section 4, ``kizuna run --record``);
* ``RUNDIR/truth.jsonl`` (optional): the simulator's truth;
* ``RUNDIR/scenario.yaml`` (or ``.yml``/``.json``, optional): the scenario that was run;
* ``RUNDIR/accuracy.json`` (optional): extra figures to show as they are.

It writes the scenario, a map of the tracks against the truth, the alert timeline against the
true impact times, the accuracy figures of :mod:`kizuna.prediction.evaluation` (what
``kizuna evaluate`` prints) for one node's picture, and per node what it received and what
other nodes received from it. Figures are PNGs drawn with matplotlib and embedded as base64,
so the page needs nothing else to open.
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
    last_prediction: dict[str, dict[str, Any]] = {}
    for row in run.records.get(node, []):
        key = f"{row.get('origin_node', '')}/{row.get('track_id')}".lstrip("/")
        if row["product"] == "track":
            tracks[key].append((parse_time(row["time"]), float(row["lon"]), float(row["lat"])))
        elif row["product"] == "prediction" and row.get("impact"):
            last_prediction[key] = row
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


def timeline_figure(
    alerts: list[dict[str, Any]], impacts: list[tuple[str, float, float, float]], t0: float
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.0, 2.6))
    ids = sorted({str(a["alert_id"]) for a in alerts})
    rows = {alert_id: i for i, alert_id in enumerate(ids)}
    for a in alerts:
        x = parse_time(a["time"]) - t0
        marker = {"issued": "o", "updated": "s", "cancelled": "x"}.get(a["status"], "^")
        ax.plot(
            x,
            rows[str(a["alert_id"])],
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
    ax.set_yticks(range(len(ids)), ids)
    ax.set_ylim(-0.6, max(len(ids), 1) - 0.4)
    ax.set_xlabel("seconds after the first launch")
    ax.set_title("Alerts (o issued, s updated, x cancelled, ^ over) against true impacts")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


# --- figures of merit ------------------------------------------------------------------------


def counts(run: Run) -> dict[str, dict[str, Any]]:
    """Per node: received by kind, and released (received elsewhere from it) by kind."""
    out: dict[str, dict[str, Any]] = {}
    has_origin = any("origin_node" in r for rows in run.records.values() for r in rows)
    released: dict[str, Counter[str]] = defaultdict(Counter)
    for node, rows in run.records.items():
        for row in rows:
            origin = row.get("origin_node")
            if origin and origin != node:
                released[str(origin)][row["product"]] += 1
    for node, rows in run.records.items():
        received = Counter(r["product"] for r in rows)
        out[node] = {
            "received": {k: received.get(k, 0) for k in KINDS},
            "released": {k: released[node].get(k, 0) for k in KINDS} if has_origin else None,
            "bad_lines": run.bad_lines.get(node, 0),
        }
    return out


def accuracy(run: Run, node: str) -> tuple[dict[str, Any] | None, str | None]:
    """``kizuna evaluate``'s figures for ``node``'s tracks and predictions, or why not."""
    if not run.truth:
        return None, "no truth.jsonl in the run directory"
    rows = run.records.get(node, [])
    tracks = [r for r in rows if r["product"] == "track"]
    if not tracks:
        return None, f"node {node} recorded no tracks"
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
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in run.records.get(node, []):
        if row["product"] == "alert":
            seen.setdefault((str(row["alert_id"]), row["time"], row["status"]), row)
    return sorted(seen.values(), key=lambda a: parse_time(a["time"]))


def _primary_node(run: Run) -> str:
    return max(
        run.records,
        key=lambda n: (
            sum(r["product"] == "track" for r in run.records[n]),
            len(run.records[n]),
            n,
        ),
    )


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

    parts.append("<h2>Tracks against truth</h2>")
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
    if alerts:
        parts.append(f"<img alt='alert timeline' src='{timeline_figure(alerts, impacts, t0)}'>")
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

    parts.append("<h2>Per node: received and released</h2>")
    table = counts(run)
    has_released = any(v["released"] is not None for v in table.values())
    headers = ["node", *[f"received {k}s" for k in KINDS]]
    if has_released:
        headers += [f"released {k}s" for k in KINDS]
    headers.append("unreadable lines")
    rows = []
    for node_id in sorted(table):
        entry = table[node_id]
        row = [_e(node_id), *[_num(entry["received"][k]) for k in KINDS]]
        if has_released:
            row += [_num(entry["released"][k]) for k in KINDS]
        row.append(_num(entry["bad_lines"]))
        rows.append(row)
    parts.append(_table(headers, rows))
    parts.append(
        "<p class=note>Released = received by another node from this one (records "
        "carry <code>origin_node</code>)."
        if has_released
        else "<p class=note>The records carry no <code>origin_node</code>, so what each "
        "node released cannot be attributed."
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


__all__ = ["Run", "build_report", "counts", "load_run", "truth_impacts", "write_report"]
