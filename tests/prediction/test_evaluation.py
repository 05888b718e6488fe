"""``kizuna evaluate`` on synthetic truth, tracks and predictions with known statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from prediction_truth import LAUNCH_TIME_S

from kizuna.contract import Marking, dumps
from kizuna.geo.frames import ecef_to_aer, ecef_to_lla
from kizuna.interfaces.cli.main import main
from kizuna.physics.propagate import propagate_fixed
from kizuna.prediction import evaluation
from kizuna.prediction.predictor import Predictor, TrackUpdate
from kizuna.timefmt import format_time

SIGMA_M = 40.0  # per-axis position noise of the synthetic tracks
MARK = Marking(classification="UNCLASSIFIED", releasable_to=["JPN", "KOR", "USA"])
RADAR = {"id": "JPN-FPS5-SADO", "nation": "JPN", "lat": 38.08, "lon": 138.43, "alt_m": 100.0}


def _truth_rows(object_id, flight):
    beta = flight.vehicle.ballistic_coefficient_kg_m2
    boost_t = np.array([float(e[0]) for e, _ in flight.boost_trace])
    boost_x = np.array([s[0] for _, s in flight.boost_trace])
    whole = boost_t == np.round(boost_t)
    coast_s = float(np.floor(flight.impact.time_s[0] - LAUNCH_TIME_S - flight.burn_s))
    _, coast = propagate_fixed(flight.burnout[None], coast_s, 1.0, beta)
    times = np.concatenate([boost_t[whole], flight.burn_s + np.arange(1, coast.shape[0])])
    states = np.vstack([boost_x[whole], coast[1:, 0]])
    rows = []
    for t, x in zip(times, states, strict=True):
        lat, lon, alt = ecef_to_lla(x[:3])
        rows.append(
            {
                "object_id": object_id,
                "launch_id": object_id[:2],
                "kind": "missile",
                "time": format_time(LAUNCH_TIME_S + t),
                "lat": float(lat),
                "lon": float(lon),
                "alt_m": float(alt),
                "r_ecef_m": x[:3].tolist(),
                "v_ecef_mps": x[3:].tolist(),
                "powered": bool(t < flight.burn_s),
            }
        )
    rows[0]["event"] = "launch"
    x = flight.impact.state[0]
    rows.append(
        {
            **rows[-1],
            "time": format_time(flight.impact.time_s[0]),
            "lat": float(flight.impact.lat_deg[0]),
            "lon": float(flight.impact.lon_deg[0]),
            "alt_m": 0.0,
            "r_ecef_m": x[:3].tolist(),
            "v_ecef_mps": x[3:].tolist(),
            "powered": False,
            "event": "impact",
        }
    )
    return rows, times, states


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, srbm):
    out = tmp_path_factory.mktemp("evaluate")
    rng = np.random.default_rng(3)
    rows, times, states = _truth_rows("L1-M1", srbm)
    (out / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    P = np.diag([SIGMA_M**2] * 3 + [2.0**2] * 3)
    predictor = Predictor(min_interval_s=15.0, with_ground_track=False)
    tracks, preds, reports = [], [], []
    for t, x in zip(times, states, strict=True):
        if t < srbm.burn_s + 10 or t > times[-1] - 5:
            continue
        noisy = x + rng.standard_normal(6) @ np.sqrt(P)
        lat, lon, alt = ecef_to_lla(noisy[:3])
        tracks.append(
            {
                "track_id": "T7",
                "time": format_time(LAUNCH_TIME_S + t),
                "lat": float(lat),
                "lon": float(lon),
                "alt_m": float(alt),
                "velocity_ecef_mps": noisy[3:].tolist(),
                "position_sigma_m": SIGMA_M,
                "sensors": [RADAR["id"]],
                "nations": ["JPN"],
                "phase": "midcourse",
                "marking": MARK.model_dump(),
                "exercise": False,
            }
        )
        for p in predictor.update(
            [TrackUpdate("T7", LAUNCH_TIME_S + t, noisy, P, MARK, 8000.0, "midcourse")]
        ):
            preds.append(dumps(p.product))
        az, el, rg = ecef_to_aer(x[:3], RADAR["lat"], RADAR["lon"], RADAR["alt_m"])
        reports.append(
            {
                "id": f"r{t}",
                "time": format_time(LAUNCH_TIME_S + t),
                "sensor": RADAR,
                "kind": "radar",
                "range_m": float(rg),
                "azimuth_deg": float(az),
                "elevation_deg": float(el),
                "sigma": {"range_m": 50.0, "azimuth_deg": 0.05, "elevation_deg": 0.05},
                "marking": MARK.model_dump(),
                "exercise": False,
            }
        )
    (out / "tracks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tracks))
    (out / "predictions.jsonl").write_text("".join(p + "\n" for p in preds))
    (out / "reports.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reports))
    return out


def test_scores_match_the_synthetic_statistics(run_dir, srbm):
    ev = evaluation.evaluate(
        evaluation.load_truth(run_dir / "truth.jsonl"),
        evaluation.load_tracks(run_dir / "tracks.jsonl"),
        evaluation.load_predictions(run_dir / "predictions.jsonl"),
        evaluation.load_radars(run_dir / "reports.jsonl"),
    )
    (obj,) = ev.objects
    assert obj.tracks == ["T7"]
    assert obj.first_track_s == pytest.approx(srbm.burn_s + 10.0, abs=1e-3)
    # Position RMSE of isotropic 40 m noise is 40 sqrt(3) = 69 m; ~290 samples: within 10 %.
    assert obj.rmse_m == pytest.approx(SIGMA_M * np.sqrt(3.0), rel=0.1)
    assert obj.nees == pytest.approx(3.0, rel=0.15)
    # GOSPA with one object and one track is just the position error.
    assert np.sqrt(np.mean(ev.gospa_m**2)) == pytest.approx(obj.rmse_m, rel=0.05)
    inside, total = obj.coverage
    assert total >= 15 and inside >= total - 3  # ~95 %: at most a few misses
    assert obj.final_impact_error_m < 200.0
    assert abs(obj.final_impact_time_error_s) < 0.5  # s (measured -0.008: same noise model)
    assert obj.categories == {"ballistic": total}
    _, bound = ev.pcrlb["L1-M1"]
    assert bound[-1] < bound[0] and 1.0 < bound[-1] < 500.0


def test_cli_writes_table_and_plots(run_dir, capsys):
    code = main(
        [
            "evaluate",
            "--truth",
            str(run_dir / "truth.jsonl"),
            "--out",
            str(run_dir),
            "--reports",
            str(run_dir / "reports.jsonl"),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "L1-M1" in text and "ellipse coverage" in text
    for name in ("position_rmse_vs_pcrlb", "nees", "gospa", "impact", "latency"):
        png = run_dir / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_missing_tracks_is_a_clear_error(tmp_path, run_dir, capsys):
    code = main(["evaluate", "--truth", str(run_dir / "truth.jsonl"), "--out", str(tmp_path)])
    assert code == 2
    assert "no tracks file" in capsys.readouterr().err


def test_a_track_riding_with_two_objects_is_scored_against_the_one_it_stays_on():
    """Two objects fly together for 100 s (a payload and its spent stage), then one draws
    away at 200 m/s. Each track is scored, for the ride too, against the object it stays on
    once they part; by majority of nearest matches (ties to the first object) the stage's
    track was scored against the payload after they parted, at kilometres of error."""
    t = np.arange(0.0, 201.0)
    r0, v = np.array([6.5e6, 0.0, 0.0]), np.array([0.0, 7000.0, 0.0])
    r_a = r0 + t[:, None] * v
    away = np.clip(t - 100.0, 0.0, None)[:, None] * np.array([0.0, 0.0, 200.0])
    r_b = r_a + away
    v_b = np.where(t[:, None] > 100.0, v + np.array([0.0, 0.0, 200.0]), v)

    def obj(oid, r, vel):
        return evaluation.TruthObject(
            oid, "L1", "stage", t + LAUNCH_TIME_S, r, vel, np.zeros(t.size, bool), None
        )

    def track(tid, r, vel):
        return evaluation.TrackPoints(
            tid, t + LAUNCH_TIME_S, r + 10.0, vel, np.full(t.size, SIGMA_M), None
        )

    truth = {"A": obj("A", r_a, np.broadcast_to(v, r_a.shape)), "B": obj("B", r_b, v_b)}
    tracks = {"T1": track("T1", r_a, truth["A"].v_ecef_mps), "T2": track("T2", r_b, v_b)}
    owners = evaluation.associate(truth, tracks)
    assert set(owners["T1"]) == {"A"} and set(owners["T2"]) == {"B"}
    ev = evaluation.evaluate(truth, tracks, [])
    scores = {o.object_id: o for o in ev.objects}
    assert scores["A"].tracks == ["T1"] and scores["B"].tracks == ["T2"]
    for o in scores.values():
        assert o.rmse_m == pytest.approx(10.0 * np.sqrt(3.0), rel=0.01)
