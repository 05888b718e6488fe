"""The map of a live ``kizuna demo`` run in real headless Chromium (Debian's, via Playwright).

The page is opened from the link the demo prints (a token per node in the fragment) before the
run starts, so the track it then draws arrived over the WebSocket while the run went on. The
screenshot goes to ``artifacts/web/demo-live.png``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_support import LiveDemo
from test_web import CHROMIUM, CHROMIUM_ARGS, Page, playwright_api

from kizuna.sharing import load_agreement

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason=f"no chromium at {CHROMIUM} (make test installs it)"
)
AGREEMENT = load_agreement("trilateral")


def test_map_shows_a_track_from_the_live_demo(tmp_path: Path):
    demo = LiveDemo(tmp_path / "run", speed=50.0)
    serving = demo.start()
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        holder = Page(browser, serving.url)
        page = holder.page
        try:
            page.goto(serving.page_url)
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            # The tokens left the address bar; the first node's picture is shown, and the
            # selector offers every node of the agreement.
            assert "token" not in page.url
            assert page.text_content("#node-name").startswith("JJOC")
            options = page.eval_on_selector_all("#node-select option", "o => o.map(x => x.value)")
            assert set(options) == set(AGREEMENT.node_ids)
            assert page.locator("path.kz-track").count() == 0  # nothing yet: the run is held

            demo.go()
            page.wait_for_selector("path.kz-track", state="attached", timeout=180_000)
            # Selectors, not wait_for_function: under the page's CSP (no 'unsafe-eval') a string
            # predicate that is not true at once is re-evaluated with eval and refused
            # (microsoft/playwright#7395); selectors run in Playwright's own isolated world.
            page.wait_for_selector("#run-clock:has-text('T+')", timeout=30_000)
            assert page.is_visible("#run-clock")
            assert page.is_visible("#exercise-banner")
            holder.shot("demo-live")

            assert holder.errors == []
            # Switching node reloads the page as that node's operator; the reload aborts the
            # old page's requests in flight (its clock poll), which is no error.
            aborted: list[str] = []
            page.on(
                "requestfailed",
                lambda r: "ERR_ABORTED" in (r.failure or "") and aborted.append(r.url),
            )
            page.select_option("#node-select", "ROK-JCS")
            page.wait_for_selector("#node-name:text-matches('^ROK-JCS')", timeout=30_000)
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            assert [e for e in holder.errors if e[len("failed: ") :] not in aborted] == []
        finally:
            holder.close()
            browser.close()
    result = demo.wait()
    assert not result.stopped and result.report is not None and result.report.is_file()
