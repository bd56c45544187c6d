"""The weekly report in a real headless browser (Debian's chromium driven by Playwright).

Asserts what a reader would notice: the page loads without console errors, fetches nothing but itself, shows
every chart, is not blank, prints to a multi-page PDF, and a post carrying ``<script>alert(1)</script>`` is
shown as text without any dialog firing. The summary comes first and its links jump to their sections, the
alerts table lists the week's alerts, the cascade drawings are decoded images, and a permalink is a link a
click follows (the request is caught, nothing leaves the machine).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.report import render_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)",
    ),
]


def _builder() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "unit" / "test_report_warehouse.py"
    spec = importlib.util.spec_from_file_location("report_warehouse_builder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_report_in_a_headless_browser(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    builder = _builder()
    settings = builder.fixture_settings(tmp_path / "data")
    builder.build_warehouse(settings, xss=True)
    report = render_report(settings, week=builder.REPORT_WEEK, now=datetime(2026, 3, 10, tzinfo=UTC))
    url = report.as_uri()

    requests: list[str] = []
    problems: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on(
                "console",
                lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
            )
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))

            def on_dialog(dialog: object) -> None:
                dialogs.append(dialog.message)  # type: ignore[attr-defined]
                dialog.dismiss()  # type: ignore[attr-defined]

            page.on("dialog", on_dialog)
            page.goto(url, wait_until="load")
            page.wait_for_timeout(300)

            assert requests == [url], f"the page made requests besides itself: {requests}"
            assert problems == [], problems
            assert dialogs == [], f"a script ran: {dialogs}"
            assert page.evaluate("document.scripts.length") == 0
            n_images = page.evaluate("document.images.length")
            assert n_images >= 8
            assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 300)")
            assert page.title() == f"ripple weekly report {builder.REPORT_WEEK}"
            # the hostile title is on the page as text
            assert page.get_by_text(f"{builder.XSS} headline").count() >= 1
            assert page.locator("section").count() == 10
            _new_parts(page, settings, builder.REPORT_WEEK)
            assert "not available in this warehouse" not in page.inner_text("body").lower()

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            page.emulate_media(media="print")
            pdf = tmp_path / "report.pdf"
            page.pdf(path=str(pdf), format="A4", print_background=True)
            _permalink_click(browser, url)
        finally:
            browser.close()

    with image.open(shot) as im:
        width, height = im.size
        assert width == 1366 and height > 5000  # the whole report, not an error page
        grey = im.convert("L")
        hist = grey.histogram()
        n = sum(hist)
        mean = sum(i * c for i, c in enumerate(hist)) / n
        variance = sum(c * (i - mean) ** 2 for i, c in enumerate(hist)) / n
        dark = sum(hist[:200]) / n
    assert variance > 200, f"screenshot looks blank (variance {variance:.1f})"
    assert dark > 0.02, f"screenshot has almost no ink ({dark:.3%} non-white pixels)"

    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 6, f"print layout gave {pages} pages; sections should start on new pages"


def _new_parts(page: object, settings: object, week: str) -> None:
    from pipeline.db import connect_readonly

    first = page.evaluate("document.querySelector('section').id")  # type: ignore[attr-defined]
    assert first == "summary"
    claims = page.locator("ul.summary li")  # type: ignore[attr-defined]
    assert 3 <= claims.count() <= 6
    page.locator('ul.summary a.cite[href="#drivers"]').click()  # type: ignore[attr-defined]
    page.wait_for_timeout(200)  # type: ignore[attr-defined]
    assert page.evaluate("location.hash") == "#drivers"  # type: ignore[attr-defined]
    top = page.evaluate("document.getElementById('drivers').getBoundingClientRect().top")  # type: ignore[attr-defined]
    assert abs(top) < 5, f"the summary link did not scroll to its section (top {top})"
    con = connect_readonly(settings.warehouse_path)  # type: ignore[attr-defined]
    try:
        n_alerts = con.execute("select count(*) from fct_alerts where iso_week = ?", [week]).fetchone()[0]
    finally:
        con.close()
    assert n_alerts > 0
    assert page.locator("#table-alerts tbody tr").count() == n_alerts  # type: ignore[attr-defined]
    trees = "Array.from(document.querySelectorAll('figure.tree img'))"
    assert page.evaluate(f"{trees}.length") == 5  # type: ignore[attr-defined]
    assert page.evaluate(f"{trees}.every(i => i.complete && i.naturalWidth > 300)")  # type: ignore[attr-defined]
    links = page.locator("a.permalink")  # type: ignore[attr-defined]
    assert links.count() > 0 and links.first.is_visible()


def _permalink_click(browser: object, url: str) -> None:
    """A reader's click on a permalink navigates to it (caught by a route: nothing leaves the machine)."""
    page = browser.new_page()  # type: ignore[attr-defined]
    caught: list[str] = []

    def block(route: object) -> None:
        caught.append(route.request.url)  # type: ignore[attr-defined]
        route.abort()  # type: ignore[attr-defined]

    page.route(re.compile(r"^https?://"), block)
    page.goto(url, wait_until="load")
    link = page.locator("a.permalink").first
    href = link.get_attribute("href")
    link.scroll_into_view_if_needed()
    link.click(no_wait_after=True)
    page.wait_for_timeout(500)
    assert href in caught, f"clicking the permalink did not follow it: {caught}"
    page.close()
