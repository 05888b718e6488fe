"""The after-action report on a synthetic run directory."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from kizuna.geo.frames import lla_to_ecef
from kizuna.interfaces.api.samples import T0, alert, prediction, track
from kizuna.interfaces.cli.main import main
from kizuna.interfaces.report import alert_summary, build_report, counts, load_run
from kizuna.timefmt import format_time

FLIGHT_S = 600


def _truth(rng: np.random.Generator) -> tuple[list[dict], np.ndarray]:
    """One missile from near Pyongyang to off Aomori: lat/lon linear, altitude a parabola."""
    t = np.arange(0.0, FLIGHT_S + 1.0)
    s = t / FLIGHT_S
    lat = 39.0 + s * (40.8 - 39.0)
    lon = 125.7 + s * (141.0 - 125.7)
    alt = 4.0 * 900_000.0 * s * (1.0 - s)
    r = lla_to_ecef(lat, lon, alt)
    v = np.gradient(r, t, axis=0)
    rows = []
    for i, ti in enumerate(t):
        row = {
            "object_id": "L1-M1",
            "launch_id": "L1",
            "kind": "missile",
            "time": format_time(T0 + ti),
            "lat": float(lat[i]),
            "lon": float(lon[i]),
            "alt_m": float(alt[i]),
            "r_ecef_m": r[i].tolist(),
            "v_ecef_mps": v[i].tolist(),
            "powered": bool(ti < 60),
        }
        if i == 0:
            row["event"] = "launch"
        if i == len(t) - 1:
            row["event"] = "impact"
        rows.append(row)
    return rows, np.column_stack([t, lat, lon, alt, v])


def _record(product, origin: str) -> dict:
    return {**product.model_dump(mode="json"), "origin_node": origin}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    truth, samples = _truth(rng)
    with (tmp_path / "truth.jsonl").open("w") as f:
        for row in truth:
            f.write(json.dumps(row) + "\n")
    jjoc, usfk = [], []
    for t, lat, lon, alt, *v in samples[60:590:5]:
        item = track(
            "T1",
            t=T0 + t,
            lat=lat + rng.normal(0, 1e-3),
            lon=lon + rng.normal(0, 1e-3),
            alt_m=alt + rng.normal(0, 100.0),
        )
        item = item.model_copy(update={"velocity_ecef_mps": tuple(v), "position_sigma_m": 150.0})
        jjoc.append(_record(item, "JJOC"))
        usfk.append(_record(item, "JJOC"))
    for k, t in enumerate(range(90, 580, 30)):
        p = prediction(
            "T1",
            t=T0 + t,
            impact_lat=40.8 + 0.05 / (k + 1),
            impact_lon=141.0,
            impact_in_s=FLIGHT_S - t,
        )
        jjoc.append(_record(p, "JJOC"))
    for t, status in ((100, "issued"), (300, "updated"), (600, "impacted")):
        a = alert("A1", "T1", t=T0 + t, status=status, impact_in_s=FLIGHT_S - t)
        jjoc.append(_record(a, "JJOC"))
        usfk.append(_record(a, "JJOC"))
    usfk.append({"product": "report", "id": "USA-TPY2-1:1", "origin_node": "USFK"})
    jjoc.append(_record(track("U1", t=T0 + 200), "USFK"))
    for name, rows in (("JJOC", jjoc), ("USFK", usfk)):
        with (tmp_path / f"{name}.jsonl").open("w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
            f.write("not json\n")
    (tmp_path / "scenario.yaml").write_text(
        "name: irbm-test\ndescription: One IRBM over Tohoku <script>x</script>\nexercise: true\n"
    )
    return tmp_path


def test_counts_own_received_and_released_per_node(run_dir):
    table = counts(load_run(run_dir))
    # JJOC derived 106 tracks, 17 predictions and 3 alert versions and got one track of USFK's;
    # USFK's only own line is its sensor's report, the rest came from JJOC.
    assert table["JJOC"]["own"] == {"report": 0, "track": 106, "prediction": 17, "alert": 3}
    assert table["JJOC"]["received"] == {"report": 0, "track": 1, "prediction": 0, "alert": 0}
    assert table["USFK"]["own"] == {"report": 1, "track": 0, "prediction": 0, "alert": 0}
    assert table["USFK"]["received"] == {"report": 0, "track": 106, "prediction": 0, "alert": 3}
    # USFK received 106 tracks and 3 alerts from JJOC; JJOC received one track from USFK.
    assert table["JJOC"]["released"] == {"report": 0, "track": 106, "prediction": 0, "alert": 3}
    assert table["USFK"]["released"]["track"] == 1
    assert table["JJOC"]["bad_lines"] == 1


def test_cli_writes_a_self_contained_report(run_dir, tmp_path):
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    assert "irbm-test" in text and "EXERCISE" in text
    assert "<script>x</script>" not in text and "&lt;script&gt;" in text  # escaped
    # Self-contained: no external resource of any kind.
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", text)
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) == 2  # map and alert timeline
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    # Alert timeline: three versions, and the lead time before the true impact.
    assert text.count("<td>A1</td>") == 3
    assert "First alert issued 500 s before the first true impact." in text
    # Accuracy of JJOC's picture from kizuna.prediction.evaluation.
    accuracy = text.split("<h2>Accuracy (JJOC)</h2>")[1].split("<h2>")[0]
    assert "L1-M1" in accuracy and "Not computed" not in accuracy
    rmse = re.search(
        r"<td>L1-M1</td><td>missile</td><td>T1</td><td>[^<]*</td><td>[^<]*</td>"
        r"<td>([\d,.]+)</td>",
        accuracy,
    )
    assert rmse is not None
    assert 50.0 < float(rmse.group(1).replace(",", "")) < 400.0  # ~0.001 deg + 100 m noise
    assert "released tracks" in text


def test_partner_products_are_not_scored_or_listed_as_the_nodes_own(run_dir):
    # A partner's tracker may name its track T1 too (the node runtime keeps both): a USFK
    # track T1 far from the truth in JJOC's record must not enter JJOC's figures.
    with (run_dir / "JJOC.jsonl").open("a") as f:
        for k in range(20):
            far = track("T1", t=T0 + 100 + 10 * k, lat=30.0, lon=150.0, alt_m=1e5)
            f.write(json.dumps(_record(far, "USFK")) + "\n")
        other = alert("B7", "T1", t=T0 + 50, status="issued", impact_in_s=FLIGHT_S - 50)
        f.write(json.dumps(_record(other, "USFK")) + "\n")
    text = build_report(run_dir)
    accuracy = text.split("<h2>Accuracy (JJOC)</h2>")[1].split("<h2>")[0]
    rmse = re.search(
        r"<td>L1-M1</td><td>missile</td><td>T1</td><td>[^<]*</td><td>[^<]*</td>"
        r"<td>([\d,.]+)</td>",
        accuracy,
    )
    assert rmse is not None and float(rmse.group(1).replace(",", "")) < 400.0
    # Every node's own alerts, with the lead of its first one before the true impact.
    rows = {
        row["node"]: row for row in alert_summary(load_run(run_dir), [("L1-M1", T0 + 600, 0, 0)])
    }
    assert rows["JJOC"]["alerts"] == 1 and rows["JJOC"]["lead_s"] == pytest.approx(500.0)
    assert rows["JJOC"]["first_warning_s"] == pytest.approx(T0 + 100)
    assert rows["JJOC"]["partner_versions"] == 1  # USFK's B7
    assert rows["USFK"]["alerts"] == 0 and rows["USFK"]["partner_versions"] == 3
    assert "<td>B7</td>" not in text  # JJOC's alert table lists JJOC's alerts only


def test_report_without_truth_or_scenario_and_bad_dirs(tmp_path):
    (tmp_path / "JJOC.jsonl").write_text(
        json.dumps(_record(track("T1"), "JJOC")) + "\n", encoding="utf-8"
    )
    text = build_report(tmp_path)
    assert "No scenario file" in text and "no truth.jsonl" in text
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "r.html")]) == 2
    assert main(["report", str(tmp_path), "--node", "USFK", "--out", str(tmp_path / "r.html")]) == 2
