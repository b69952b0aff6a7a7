"""The dashboard in real headless Chromium: every page (error pages and the banner for a schedule.toml that
cannot be read included) loads with no console error, passes axe-core's WCAG 2.2 AA checks and reflows at 320 px;
the owner-only file the browser is opened on signs it in; approving from the Thread page changes the state; a pack
is made with its progress and downloaded.

With PUBLISHER_SCREENSHOTS=DIR set, each page's screenshot is saved there to be looked at."""

from __future__ import annotations

import json
import os
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_dashboard import Served, start, stop
from test_queue import schedule

from conftest import axe_violations, load_all_images, page_width_at
from conftest import wait_for as wait_until

pytestmark = pytest.mark.heavy


@pytest.fixture
def served(project: Path) -> Iterator[Served]:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    served = start(project, "serve")
    with served.api() as api:
        assert api.post("/api/queue", json={"campaign": "daily"}).status_code == 201
    yield served
    err = stop(served)
    assert "Traceback" not in err, err


def console_errors(browser: Any) -> list[dict[str, Any]]:
    return [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(browser: Any, name: str) -> None:
    folder = os.environ.get("PUBLISHER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / f"dashboard-{name}.png"))


def wait_for(browser: Any, script: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")


PAGES = {"upcoming": "/", "queue": "/queue?all=1", "thread": "/threads/1", "log": "/log", "packs": "/packs",
         "cards": "/cards?quote=caseyreview:met-yet-free-itself-institutional&theme=paper&format=portrait",
         "preview": "/preview/daily/", "results": "/results", "not-found": "/threads/99999999999999999999"}
STATUS = {"not-found": 404}


def check_page(browser: Any, name: str, status: int = 200) -> None:
    """No console error (but the page's own status, when it is an error page), every image loaded, a heading, no
    axe-core violation, and it reflows at 320 px."""
    widths = load_all_images(browser)
    assert all(widths), (name, widths)  # every image loaded
    own = f"{browser.current_url} - Failed to load resource: the server responded with a status of {status} "
    assert [e for e in console_errors(browser) if not e["message"].startswith(own)] == [], name
    assert browser.find_element("css selector", "h1").text, name
    screenshot(browser, name)
    assert axe_violations(browser) == [], name
    assert page_width_at(browser, 320) <= 320, name  # reflows on a narrow phone


def test_every_page_loads_cleanly_and_passes_axe(served: Served, browser: Any) -> None:
    console_errors(browser)  # start from a clean log
    browser.get(served.url)  # the printed link: sets the cookie, then drops the token from the address
    wait_for(browser, f"return location.href === {served.base + '/'!r}")
    for name, path in PAGES.items():
        browser.get(served.base + path)
        check_page(browser, name, STATUS.get(name, 200))
    browser.delete_all_cookies()
    browser.get(served.base + "/queue")
    assert "This dashboard needs its link" in browser.find_element("css selector", "h1").text
    check_page(browser, "refused", 401)
    browser.get(served.url)
    wait_for(browser, "return document.querySelector('.who')")
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: no script can read the token


def test_pages_say_when_the_schedule_cannot_be_read(served: Served, browser: Any, project: Path) -> None:
    (project / "schedule.toml").write_text(schedule("approval = maybe\n"), encoding="utf-8")
    browser.get(served.url)
    wait_for(browser, "return document.querySelector('h1') && location.search === ''")
    assert "schedule.toml:13" in browser.find_element("css selector", "main").text  # Upcoming: 503, with why
    check_page(browser, "upcoming-broken-schedule", 503)
    browser.get(served.base + "/queue")
    assert "schedule.toml:13" in browser.find_element("css selector", ".banner").text  # the store still answers
    assert browser.find_element("css selector", 'a[href="/threads/1"]')
    check_page(browser, "queue-broken-schedule")


RECORD_ARGV = """import json, os, sys
with open(os.environ["BROWSER_RECORD"], "w") as out:
    json.dump(sys.argv[1:], out)
"""


def test_the_file_the_browser_is_opened_on_signs_it_in(project: Path, browser: Any, tmp_path: Path) -> None:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    opener = tmp_path / "opener"
    opener.write_text(f"#!{sys.executable}\n{RECORD_ARGV}", encoding="utf-8")
    opener.chmod(0o755)
    record = tmp_path / "argv.json"
    served = start(project, "serve", open_browser=True, env={"BROWSER": str(opener), "BROWSER_RECORD": str(record)})
    try:
        assert wait_until(record.exists, timeout=30)
        time.sleep(0.2)  # written whole before the opener ends
        [forward] = json.loads(record.read_text("utf-8"))
        browser.delete_all_cookies()
        browser.get(forward)  # the file forwards to a one-time link, which moves on to the dashboard
        wait_for(browser, f"return location.href === {served.base + '/'!r} && document.querySelector('.who')")
        assert "signed in as amira" in browser.find_element("css selector", ".who").text
        check_page(browser, "signed-in-from-the-file")
        assert not Path(forward.removeprefix("file://")).exists()  # used: gone
    finally:
        assert "Traceback" not in stop(served)


def test_approving_from_the_thread_page_changes_the_state(served: Served, browser: Any) -> None:
    browser.get(served.url)
    browser.get(served.base + "/threads/1")
    assert "awaiting approval" in browser.find_element("css selector", ".lead .state").text
    browser.find_element("css selector", 'form[data-action="approve"] button').click()
    wait_for(browser, "return document.querySelector('.flash.ok')")
    assert browser.find_element("css selector", ".flash.ok").text.startswith("Approved thread 1")
    assert browser.find_element("css selector", ".lead .state").text == "queued"
    assert "approved by amira" in browser.find_element("css selector", "body").text
    with served.api() as api:
        assert api.get("/api/threads/1").json()["state"] == "queued"
    assert console_errors(browser) == []


def test_a_pack_is_made_with_a_progress_bar_and_downloaded(served: Served, browser: Any, tmp_path: Path) -> None:
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get(served.url)
    browser.get(served.base + "/packs")
    wait_for(browser, "return document.readyState === 'complete'")
    # A click lost on a loaded machine would make the pack of every format (CI saw it twice): click each box that
    # is not as wanted, then look again, until only square is chosen.
    script = "return [...document.querySelectorAll('input[type=checkbox]:checked')].map(b => b.name)"
    for _ in range(20):
        if browser.execute_script(script) == ["format_square"]:
            break
        for box in browser.find_elements("css selector", 'input[type="checkbox"]'):
            if box.is_selected() != (box.get_attribute("name") == "format_square"):
                box.click()
        time.sleep(0.1)
    chosen = browser.execute_script(script)
    assert chosen == ["format_square"], chosen
    browser.find_element("css selector", 'form[action="/api/packs"] button').click()
    wait_for(browser, "return document.querySelector('progress')")
    assert browser.execute_script("return document.querySelector('progress').max") == 20
    link = wait_for(browser, "return document.querySelector('.job-status a')", timeout=60)
    screenshot(browser, "pack-done")
    link.click()
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("*.zip")) and time.monotonic() < deadline:
        time.sleep(0.2)
    [pack] = list(tmp_path.glob("*.zip"))
    with zipfile.ZipFile(pack) as archive:
        cards = [n for n in archive.namelist() if n.startswith("square/") and n.endswith(".png")]
        assert len(cards) == 20 and "captions.csv" in " ".join(archive.namelist())
    assert axe_violations(browser) == []
    assert console_errors(browser) == []
