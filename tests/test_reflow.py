"""Every HTML page publisher writes reflows, in real headless Chromium, at 1280, 360 and 320 px wide: nothing to
scroll sideways, and no word broken across lines (issue 26: the outbox timeline's header drew "poste d").

A word may be broken only when it is wider than the line it is set in (a long URL, an environment variable's
name): nothing else would keep it on the page."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from test_dashboard import Served
from test_dashboard_browser import PAGES as DASHBOARD_PAGES
from test_dashboard_browser import served  # noqa: F401  (a fixture: serve with a thread awaiting sign-off)
from test_preview import SCHEDULE as THREE_ACCOUNTS
from test_queue import schedule

from conftest import wait_for

WIDTHS = (1280, 360, 320)  # a laptop, a common phone, WCAG 2.2's reflow width

# Each word (split at white space, and after the hyphens and dashes a browser may end a line at) drawn on two lines
# or more, though the line its text is set in is wide enough for it whole, as "word (element: width/room px)".
# The line's room is the content width of the nearest box the text's lines are laid in: not an inline, and not a
# flex or grid item (one squeezed by its row, as the header's "posted" was, is the fault being looked for).
BROKEN_WORDS = r"""
const insideFlexOrGrid = box => box.parentElement !== null
  && /flex|grid/.test(getComputedStyle(box.parentElement).display);
const lineRoom = element => {
  for (let box = element; box; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (!['inline', 'contents'].includes(style.display) && !insideFlexOrGrid(box))
      return box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  }
  return window.innerWidth;
};
const broken = [];
const texts = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let text = texts.nextNode(); text; text = texts.nextNode()) {
  const element = text.parentElement;
  if (element.closest('script, style')) continue;
  for (const word of text.data.matchAll(/[^\s\-‐–—]+[\-‐–—]*|[\-‐–—]+/g)) {
    const range = document.createRange();
    range.setStart(text, word.index);
    range.setEnd(text, word.index + word[0].length);
    const pieces = [...range.getClientRects()].filter(rect => rect.width > 0);
    if (pieces.length < 2) continue;
    const width = pieces.reduce((sum, rect) => sum + rect.width, 0);
    const room = lineRoom(element);
    const where = `${element.localName}.${element.className}`;
    if (width <= room) broken.push(`${word[0]} (${where}: ${Math.round(width)}/${Math.round(room)} px)`);
  }
}
return broken;
"""


def reflow_faults(browser: Any) -> dict[int, list[str]]:
    """For the page open in ``browser``, at each of WIDTHS: its scroll width if wider than the screen, and every
    word broken though it would fit on its line; only the widths with a fault."""
    # the web fonts set the words' widths: measure with them, not the fallback they replace
    browser.execute_async_script("const done = arguments[0]; document.fonts.ready.then(() => done())")
    faults = {}
    for width in WIDTHS:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        try:
            scroll_width, screen_width = browser.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            found = [f"scrolls sideways: {scroll_width} px wide"] if scroll_width > screen_width else []
            found += browser.execute_script(BROKEN_WORDS)
        finally:
            browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        if found:
            faults[width] = found
    return faults


def test_the_check_finds_a_word_squeezed_apart_and_passes_a_url_too_long_for_its_line(
        tmp_path: Path, browser: Any) -> None:
    (tmp_path / "faults.html").write_text(
        '<!doctype html><html lang="en"><head><title>t</title></head><body style="margin: 0">'
        '<header style="display: flex; width: 120px; overflow-wrap: anywhere"><span>posted</span>'
        "<span>2026-11-23 08:30:00 UTC · reply to local-000001</span></header>"
        '<p style="width: 100px; overflow-wrap: anywhere">https://example.org/a-long-path-with-no-space</p>'
        '<p style="width: 100px">multi-disciplinary work-in-progress</p>'
        '<div style="width: 2000px">wide</div></body></html>', encoding="utf-8")
    browser.get((tmp_path / "faults.html").as_uri())
    faults = reflow_faults(browser)
    assert set(faults) == set(WIDTHS)
    for found in faults.values():
        assert found[0] == "scrolls sideways: 2000 px wide"
        assert any(fault.startswith("posted (span.: ") for fault in found), found  # squeezed apart by its row
        assert not any("example.org" in fault for fault in found)  # wider than its line: it has to break
        assert not any(fault.startswith(("multi", "disciplinary", "work")) for fault in found)  # at its hyphens


def test_the_preview_reflows(project: Path, run_cli: Callable[..., Result], browser: Any) -> None:
    # three accounts: X's cost lines, warnings naming long environment variables, a URL in the outro
    (project / "schedule.toml").write_text(THREE_ACCOUNTS, encoding="utf-8")
    assert run_cli("preview", "-o", "out").exit_code == 0
    browser.get((project / "out" / "index.html").as_uri())
    assert reflow_faults(browser) == {}


def test_the_outbox_timeline_reflows(project: Path, run_cli: Callable[..., Result], browser: Any) -> None:
    # replies carry the longest header: "2/5 posted 2026-… UTC · reply to local-000001 236/300 graphemes"
    thread = 'intro = "What the #CaseyReview found 🧵"\noutro = "Read more: https://example.org/casey"\n'
    (project / "schedule.toml").write_text(schedule(thread + "numbering = true\n"), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    posted = run_cli("post")
    assert posted.exit_code == 0, posted.output
    browser.get((project / "outbox" / "local" / "timeline.html").as_uri())
    assert browser.execute_script("return document.querySelectorAll('.post').length") == 5
    assert reflow_faults(browser) == {}


def test_the_image_packs_index_reflows(project: Path, run_cli: Callable[..., Result], browser: Any,
                                      tmp_path: Path) -> None:
    assert run_cli("pack", "-f", "square", "-o", "pack.zip").exit_code == 0
    with zipfile.ZipFile(project / "pack.zip") as archive:
        archive.extractall(tmp_path / "pack")
    browser.get((tmp_path / "pack" / "index.html").as_uri())
    assert reflow_faults(browser) == {}


@pytest.mark.heavy  # a real server process, as tests/test_dashboard_browser.py
def test_the_dashboards_pages_reflow(served: Served, browser: Any) -> None:  # noqa: F811 (the fixture)
    browser.get(served.url)  # the printed link signs the browser in, then moves on to the dashboard
    assert wait_for(lambda: browser.execute_script("return location.href") == served.base + "/", timeout=30)
    faults = {}
    try:
        for name, path in DASHBOARD_PAGES.items():
            browser.get(served.base + path)
            if found := reflow_faults(browser):
                faults[name] = found
    finally:
        browser.get_log("browser")  # the not-found page's 404 is a console error: leave none for later tests
    assert faults == {}
