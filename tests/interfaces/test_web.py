"""The web map in real headless Chromium (Debian's), driven by Playwright for Python.

The node's app runs under uvicorn on a free loopback port in a thread; products are published
into its view from the test. Screenshots go to ``artifacts/web/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kizuna.interfaces.api import MemoryNodeView, create_app, issue_token
from kizuna.interfaces.api.samples import T0, alert, marking, prediction, track, wrap
from kizuna.sharing import load_agreement

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"
AGREEMENT = load_agreement("trilateral")
KEY = bytes(range(32, 64))
NODE = "JJOC"

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason=f"no chromium at {CHROMIUM} (make test installs it)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(app) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
        http="h11",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[MemoryNodeView, str]]:
    view = MemoryNodeView(NODE)
    with _serve(create_app(view, AGREEMENT, token_key=KEY)) as url:
        yield view, url


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


class Page:
    """A page with its console errors and failed requests collected."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 860}, locale="en-US")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))
        self.url = url

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser, node):
    holder = Page(browser, node[1])
    yield holder
    holder.close()


def _token(role: str = "viewer", node_id: str = NODE) -> str:
    return issue_token(KEY, node=node_id, role=role, agreement=AGREEMENT.name)


def _open(page: Page) -> None:
    page.page.goto(f"{page.url}/#token={_token()}")
    page.page.wait_for_selector("body[data-ready='1'][data-ws='open']", timeout=15_000)


def test_unauthenticated_visitor_sees_only_the_sign_in_form(page):
    page.page.goto(page.url + "/")
    page.page.wait_for_selector("#login-form", state="visible")
    assert page.page.is_hidden("#app")
    assert page.page.locator(".kz-track, .kz-region, .kz-alert").count() == 0
    assert page.errors == []  # and it made no API request at all
    # A bad token is refused with the API's message, and still nothing is shown.
    page.page.fill("#token-input", _token(node_id="USFK"))
    page.page.click("#login-form button")
    page.page.wait_for_selector("#login-error:not(:empty)")
    assert "USFK" in page.page.text_content("#login-error")
    assert page.page.is_hidden("#app")
    page.shot("unauthenticated")
    # The only errors are the refused requests the form caused (401/403 from /api/v1/whoami).
    assert all("403" in e or "401" in e for e in page.errors), page.errors


def test_page_loads_offline_map_without_console_errors(page, node):
    _open(page)
    regions = int(page.page.get_attribute("#map", "data-regions"))
    assert regions > 60  # 47 prefectures + 17 provinces + seas and bases
    assert page.page.locator("path.kz-region-JP-02").count() == 1
    assert page.page.locator("path.kz-coast").count() > 10
    assert "JJOC" in page.page.text_content("#node-name")
    assert page.page.get_attribute("#conn", "data-state") == "open"
    # No request left the machine: the page and its map library come from the node.
    page.shot("loaded")
    assert page.errors == []


def test_track_appears_and_moves_when_products_are_published(page, node):
    view, _ = node
    _open(page)
    view.publish(wrap(track("TM", t=T0 + 100, lat=39.0, lon=128.0), NODE, AGREEMENT))
    marker = page.page.locator("path.kz-track[data-track='JJOC/TM']")
    marker.wait_for(timeout=10_000)
    first = marker.bounding_box()
    assert first is not None
    view.publish(wrap(track("TM", t=T0 + 110, lat=39.6, lon=130.5), NODE, AGREEMENT))
    # Selectors, not wait_for_function: the page's CSP forbids the eval a string predicate
    # needs when it is not true at once (tests/interfaces/test_web_demo.py).
    page.page.wait_for_selector(
        "path.kz-track[data-track='JJOC/TM'][data-lon='130.5']", timeout=10_000
    )
    second = marker.bounding_box()
    assert second["x"] > first["x"] + 50  # 2.5 degrees east at zoom 5 is ~110 px
    assert second["y"] < first["y"]  # and north
    assert page.page.locator("path.kz-trail").count() >= 1
    assert "TM" in page.page.text_content(".kz-label")
    assert page.page.locator("path.kz-track[data-track='JJOC/TM'].kz-stale").count() == 0
    # Once the data clock is 30 s past its last update, the track is drawn faded.
    view.publish(wrap(track("OTHER", t=T0 + 150), NODE, AGREEMENT))
    page.page.wait_for_selector("path.kz-track[data-track='JJOC/TM'].kz-stale", timeout=5_000)
    page.shot("track-moved")
    assert page.errors == []


def test_alert_shows_in_panel_in_each_language_with_exercise_banner(page, node):
    view, _ = node
    _open(page)
    view.publish(wrap(prediction("TX", t=T0 + 200, exercise=True), NODE, AGREEMENT))
    view.publish(wrap(track("TX", t=T0 + 200, lat=40.0, lon=136.0, exercise=True), NODE, AGREEMENT))
    view.publish(wrap(alert("AX", "TX", t=T0 + 201, exercise=True), NODE, AGREEMENT))
    card = page.page.locator(".kz-alert[data-alert='JJOC/AX']")
    card.wait_for(timeout=10_000)
    assert "Aomori" in card.text_content() and "Take shelter" in card.text_content()
    assert "WARNING" in card.text_content()
    assert page.page.is_visible("#exercise-banner")
    assert page.page.locator("path.kz-region-JP-02.kz-at-risk").count() == 1
    assert page.page.locator("path.kz-impact").count() >= 1
    assert page.page.locator(".kz-launch").count() >= 1
    assert page.page.text_content("#tti").startswith("Impact in")
    assert page.page.get_attribute("#classification-banner", "data-level") == "SECRET"
    page.shot("alert-en")
    page.page.click("#lang-switch button[data-lang='ja']")
    assert "青森" in card.text_content() and "警報" in card.text_content()
    page.shot("alert-ja")
    page.page.click("#lang-switch button[data-lang='ko']")
    assert "대피하십시오" in card.text_content() and "경보" in card.text_content()
    assert page.page.locator("#timeline li").count() >= 1
    page.shot("alert-ko")
    # Cancelling the alert clears the panel and the region.
    view.publish(
        wrap(alert("AX", "TX", t=T0 + 230, status="cancelled", exercise=True), NODE, AGREEMENT)
    )
    card.wait_for(state="detached", timeout=10_000)
    assert page.page.locator("path.kz-region-JP-02.kz-at-risk").count() == 0
    assert page.errors == []


def test_page_keeps_up_with_a_burst_of_300_tracks(page, node):
    view, _ = node
    _open(page)
    start = time.monotonic()
    for step in range(3):
        for i in range(300):
            lon = 126.0 + 0.04 * i + 0.5 * step
            view.publish(
                wrap(
                    track(f"S{i:03d}", t=T0 + 300 + step, lat=36.0 + 0.01 * i, lon=lon),
                    NODE,
                    AGREEMENT,
                )
            )
    # Python's repr and JavaScript's String() both print a double's shortest round trip.
    last = repr(126.0 + 0.04 * 299 + 0.5 * 2)
    page.page.wait_for_selector(
        f"path.kz-track[data-track='JJOC/S299'][data-lon='{last}']", timeout=20_000
    )
    elapsed = time.monotonic() - start
    assert page.page.locator("path.kz-track[data-track^='JJOC/S']").count() == 300
    page.page.wait_for_selector("#track-list li:nth-child(300)", timeout=5_000)
    page.shot("burst-300-tracks")
    assert page.errors == []
    assert elapsed < 15.0, f"900 updates took {elapsed:.1f} s to reach the map"


def test_time_to_impact_is_the_next_impact_ahead_and_cards_name_their_node(page, node):
    # A partner's alert with a stale impact estimate (its impact time already behind the data
    # clock, not yet closed) must not hide the countdown to an impact still to come.
    view, _ = node
    _open(page)
    base = T0 + 5000
    view.publish(wrap(track("TS", t=base, lat=40.0, lon=136.0), NODE, AGREEMENT))
    us = marking("JPN", "KOR", "USA", released_by="USA-ALERT-ALL")
    stale_alert = alert("STALE", "TS", t=base - 400, impact_in_s=300, mark=us)
    view.publish(wrap(stale_alert, "USFK", AGREEMENT))
    view.publish(wrap(alert("AHEAD", "TS", t=base - 10, impact_in_s=250), NODE, AGREEMENT))
    ahead = page.page.locator(".kz-alert[data-alert='JJOC/AHEAD']")
    ahead.wait_for(timeout=10_000)
    stale = page.page.locator(".kz-alert[data-alert='USFK/STALE']")
    assert "USFK" in stale.locator(".kz-origin").text_content()
    assert "JJOC" in ahead.locator(".kz-origin").text_content()
    page.page.wait_for_selector("#tti:text-matches('^Impact in 04:')", timeout=10_000)
    assert "Impact time passed" in stale.text_content()
    view.publish(wrap(alert("STALE", "TS", t=base, status="cancelled", mark=us), "USFK", AGREEMENT))
    view.publish(wrap(alert("AHEAD", "TS", t=base, status="cancelled"), NODE, AGREEMENT))
    assert page.errors == []
