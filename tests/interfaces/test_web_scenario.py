"""The map during the Tohoku overflight scenario, from the real pipeline (slow).

Simulates ``irbm-overflight``, tracks it, predicts and warns (as a US node would), re-marks
the products under the trilateral agreement as the node runtime does, hands them to JJOC's
view up to a moment of the flight, and screenshots the map in Chromium:
``artifacts/web/tohoku-overflight.png`` (the README's screenshot).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_web import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _serve

from kizuna.interfaces.api import MemoryNodeView, create_app, issue_token
from kizuna.sharing import Envelope, load_agreement, remark
from kizuna.timefmt import parse_time

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no chromium at {CHROMIUM}"),
]
AGREEMENT = load_agreement("trilateral")
KEY = bytes(range(64, 96))
PRODUCER = "USFJ-JFHQ"  # the US node whose picture JJOC receives


def _pipeline(tmp: Path) -> list[tuple[str, object]]:
    from kizuna.prediction.predictor import Predictor
    from kizuna.prediction.predictor import TrackUpdate as PredictorUpdate
    from kizuna.sensors.scenario import load_scenario
    from kizuna.sensors.simulate import simulate, write_reports
    from kizuna.tracking.run import track_file
    from kizuna.warning import AlertEngine

    reports = tmp / "reports.jsonl"
    write_reports(simulate(load_scenario("irbm-overflight")), reports)
    predictor, engine = Predictor(min_interval_s=5.0), AlertEngine()
    out: list[tuple[str, object]] = []

    def on_updates(batch) -> None:
        out.extend(("track", u.to_product()) for u in batch)
        now = max(u.time_s for u in batch)
        for p in predictor.update([PredictorUpdate.from_track(u) for u in batch]):
            out.append(("prediction", p.product))
            out.extend(("alert", a) for a in engine.consume(p, now))

    track_file(reports, tmp / "tracks", on_updates=on_updates)
    return out


def test_tohoku_overflight_screenshot(tmp_path):
    from playwright.sync_api import sync_playwright

    products = _pipeline(tmp_path)
    alerts = [p for kind, p in products if kind == "alert" and p.level == "warning"]
    assert alerts, "the overflight raised no warning"
    cutoff = parse_time(alerts[0].time) + 60.0
    view = MemoryNodeView("JJOC")
    for kind, product in products:
        t = parse_time(product.time)
        if t > cutoff:
            continue
        marked = remark(kind, product.marking, "USA", AGREEMENT, t)
        product = product.model_copy(update={"marking": marked})
        view.publish(Envelope.of(product, origin_node=PRODUCER, agreement=AGREEMENT))
    token = issue_token(KEY, node="JJOC", role="viewer", agreement=AGREEMENT.name)
    with _serve(create_app(view, AGREEMENT, token_key=KEY)) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(f"{url}/#token={token}")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        page.wait_for_selector(".kz-alert", timeout=10_000)
        assert page.locator("path.kz-track").count() >= 1
        assert page.locator("path.kz-at-risk").count() >= 1
        assert page.is_visible("#exercise-banner")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "tohoku-overflight.png"))
        browser.close()
        assert errors == []
