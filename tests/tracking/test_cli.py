"""``kizuna track``: contract outputs, and malformed lines reported and skipped."""

from __future__ import annotations

import json

from tracking_helpers import plots

from kizuna.contract import AlertProduct, PredictionProduct, TrackProduct, dumps
from kizuna.interfaces.cli.main import main


def test_track_verb_writes_contract_files_and_reports_bad_lines(tmp_path, capsys, mrbm_truth):
    reports = [r for r in plots(mrbm_truth, seed=21) if 130.0 <= r.t - mrbm_truth.start_s < 200.0]
    lines = [dumps(r) for r in reports]
    lines.insert(5, '{"id": "x", "kind": "radar"}')
    lines.insert(9, "not json at all")
    bad = json.loads(lines[20])
    bad["sigma"]["range_m"] = -1.0
    lines.insert(20, json.dumps(bad | {"id": "neg-sigma"}))
    source = tmp_path / "reports.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main(["track", "--in", str(source), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{source}:6: radar.time: Field required" in err
    assert f"{source}:10: (report): Invalid JSON" in err
    assert f"{source}:21: radar.sigma.range_m: Input should be greater than 0" in err
    assert "3 malformed" in err
    products = [
        TrackProduct.model_validate_json(line)
        for line in (out / "tracks.jsonl").read_text().splitlines()
    ]
    assert products and len({p.track_id for p in products}) == 1
    # The warning pipeline fills the other two files from the same track updates.
    predictions = [
        PredictionProduct.model_validate_json(line)
        for line in (out / "predictions.jsonl").read_text().splitlines()
    ]
    assert predictions and {p.track_id for p in predictions} == {products[0].track_id}
    assert any(p.category == "ballistic" and p.impact is not None for p in predictions)
    for line in (out / "alerts.jsonl").read_text().splitlines():
        AlertProduct.model_validate_json(line)  # whatever alerts there are follow the contract


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    assert main(["track", "--in", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]) == 2
    assert "cannot read reports" in capsys.readouterr().err
