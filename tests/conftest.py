from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from publisher.cli import cli

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "publisher" / "bundled"  # the fonts, logo and themes that ship inside the package
SHARED_SEEDS = REPO.parent / "shared" / "seeds"  # beside the checkout in CI; tests/data has a copy
DATA = REPO / "tests" / "data"
MINIMAL_SCHEDULE = """\
[defaults]
timezone = "Europe/London"

[accounts.local]
platform = "outbox"

[[campaigns]]
name = "daily"
collection = "caseyreview"
accounts = ["local"]
"""


def files_containing(base: Path, secrets: list[str]) -> tuple[int, list[str]]:
    """How many files under ``base`` were read, and those holding any of ``secrets``."""
    scanned, hits = 0, []
    wanted = [s.encode() for s in secrets]
    for path in base.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        scanned += 1
        hits += [str(path) for secret in wanted if secret in data]
    return scanned, hits


# Modules of slow tests (real processes racing, signals, the dashboard's server, the kill matrix): heavy, but for
# one test each that the quick suite (-m 'not heavy') keeps, so it runs every kind of test at least once.
HEAVY_BUT_A_TASTE = {
    "test_stop.py": "test_a_signal_mid_render_leaves_only_whole_cards_and_no_worker[SIGTERM]",
    "test_dashboard.py": "test_forwarded_headers_from_a_local_process_are_not_trusted",
    "test_queue_processes.py": "test_cancel_between_parts_stops_a_real_posting_process",
    "test_kill_matrix_mastodon.py": "test_killed_at_this_point_then_restarted[store:posted:after#1]",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the reference PDS (a Node server, started once per worker) is heavy; so is every test of
    a module in HEAVY_BUT_A_TASTE but its one."""
    collected: dict[str, set[str]] = {}
    for item in items:
        collected.setdefault(item.path.name, set()).add(item.name)
    for module, taste in HEAVY_BUT_A_TASTE.items():  # a taste renamed away would make its module heavy unsaid
        if len(collected.get(module, ())) > 1 and taste not in collected[module]:
            raise pytest.UsageError(f"tests/{module} has no test {taste} (HEAVY_BUT_A_TASTE in conftest.py)")
    for item in items:
        module = item.path.name
        needs_pds = "pds" in getattr(item, "fixturenames", ())
        if needs_pds or (module in HEAVY_BUT_A_TASTE and item.name != HEAVY_BUT_A_TASTE[module]):
            item.add_marker(pytest.mark.heavy)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_file_written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """When the session (or, in parallel, each worker's part of it) ends, no password or API secret a test handed
    to publisher may appear in any file it wrote: databases, outboxes, previews, logs of subprocess runs."""
    from posting_project import USED_SECRETS

    yield
    if USED_SECRETS:
        scanned, hits = files_containing(tmp_path_factory.getbasetemp(), USED_SECRETS)
        assert hits == [], f"secrets found in {len(hits)} of {scanned} files written: {hits[:5]}"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the bundled collection and themes and a minimal schedule, as the working directory.

    Themes are copied into assets/themes (tests may break them); fonts and the logo come from publisher's bundle.
    """
    (tmp_path / "quotes").mkdir()
    shutil.copy(REPO / "quotes" / "caseyreview.toml", tmp_path / "quotes" / "caseyreview.toml")
    (tmp_path / "schedule.toml").write_text(MINIMAL_SCHEDULE, encoding="utf-8")
    (tmp_path / "assets").mkdir()
    shutil.copytree(BUNDLED / "themes", tmp_path / "assets" / "themes")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Run the publisher command in-process; returns click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def forks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Real `publisher` processes without the imports' start-up cost each time (tests/forkserver.py)."""
    from forkserver import ForkServer

    server = ForkServer(tmp_path_factory.mktemp("forks"))
    yield server
    server.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Real headless Chromium (Debian's), driven by chromedriver; browser console messages are kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1300,1800", "--allow-file-access-from-files"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The reference Bluesky PDS on 127.0.0.1 (installed by scripts/install-pds); one per test session."""
    from fakes.local_pds import LAUNCHER, LocalPDS

    if not (LAUNCHER.parent / "node_modules" / "@atproto" / "pds").exists():
        if os.environ.get("CI"):
            pytest.fail("the PDS is not installed: scripts/test runs scripts/install-pds first")
        pytest.skip("the PDS is not installed: run scripts/install-pds")
    server = LocalPDS(tmp_path_factory.mktemp("pds"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def appview() -> Iterator[Any]:
    """The reference Bluesky AppView with its own PDS and PLC on 127.0.0.1, indexing into a fresh Postgres cluster
    (installed by scripts/install-appview); one per test session."""
    from fakes.appview_network import INSTALL_HINT, AppViewNetwork, missing

    if (absent := missing()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{absent}: scripts/test runs scripts/install-appview first")
        pytest.skip(f"{absent}: {INSTALL_HINT}")
    network = AppViewNetwork()
    network.start()
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture
def fake_x() -> Iterator[Any]:
    """A fresh local fake of the X API."""
    from fakes.x_api import FakeXAPI

    api = FakeXAPI()
    api.url = api.start()  # type: ignore[attr-defined]
    try:
        yield api
    finally:
        api.stop()


def load_all_images(browser: Any, timeout: float = 30) -> list[int]:
    """Make lazy images load now, wait until every image has loaded (or the timeout, on a loaded machine), and
    return their natural widths (0 for one that did not load)."""
    import time

    browser.execute_script("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; "
                           "i.scrollIntoView({block: 'nearest'}); })")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if browser.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth > 0)"):
            break
        time.sleep(0.1)
    browser.execute_script("window.scrollTo(0, 0)")
    widths: list[int] = browser.execute_script("return [...document.images].map(i => i.naturalWidth)")
    return widths


AXE = REPO / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(browser: Any) -> list[dict[str, Any]]:
    """Check the page open in ``browser`` with axe-core (installed by scripts/install-axe) against WCAG 2.2 AA;
    every violation as {id, impact, help, nodes (CSS selectors of the elements)}."""
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail("axe-core is not installed: scripts/test runs scripts/install-axe first")
        pytest.skip("axe-core is not installed: run scripts/install-axe")
    browser.execute_script(AXE.read_text("utf-8"))
    result: dict[str, Any] = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done({violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))}), e => done({error: String(e)}))", WCAG_22_AA)
    assert "error" not in result, result
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def page_width_at(browser: Any, width: int) -> int:
    """How wide the page open in ``browser`` is, in CSS px, on a screen ``width`` px wide (WCAG 2.2's reflow
    criterion: at 320 px, nothing but wide content such as images may need scrolling sideways)."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    try:
        scroll_width: int = browser.execute_script("return document.documentElement.scrollWidth")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return scroll_width


def fonts_drawing(browser: Any, selector: str) -> dict[str, int]:
    """The fonts Chromium drew the text directly inside the first element matching ``selector`` with, as
    {PostScript name: glyphs}; a web font is marked "(web font)" (e.g. "NotoColorEmoji (web font)")."""
    # fonts still loading, or a layout pending after a resize, report nothing drawn yet: wait for both first
    browser.execute_script("return document.fonts.ready.then(() => document.body.getBoundingClientRect().height)")
    root = browser.execute_cdp_cmd("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    browser.execute_cdp_cmd("CSS.enable", {})
    node = browser.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = browser.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return {f["postScriptName"] + (" (web font)" if f["isCustomFont"] else ""): f["glyphCount"] for f in fonts}


def colour_pixels(browser: Any, selector: str, text: str) -> int:
    """How many strongly coloured pixels Chromium draws for ``text`` inside the element matching ``selector``: a
    colour emoji has hundreds at 15 px; a tofu box or a black-and-white glyph has none."""
    import io

    from PIL import Image

    box = browser.execute_script(
        "const element = document.querySelector(arguments[0]); element.scrollIntoView({block: 'center'});"
        "const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);"
        "for (let node = walker.nextNode(); node; node = walker.nextNode()) {"
        "  const at = node.data.indexOf(arguments[1]); if (at < 0) continue;"
        "  const range = document.createRange();"
        "  range.setStart(node, at); range.setEnd(node, at + arguments[1].length);"
        "  const r = range.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, devicePixelRatio]; }"
        "return null;", selector, text)
    assert box is not None, f"{text!r} is not in {selector}"
    *edges, ratio = box
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    glyph = shot.crop(tuple(round(edge * ratio) for edge in edges))
    return sum(1 for pixel in glyph.get_flattened_data() if max(pixel) - min(pixel) > 80)


def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    """Poll until ``condition()`` holds (True) or ``timeout`` seconds pass (False)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def store_rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on a project's store, read straight from its SQLite file."""
    import sqlite3

    db = sqlite3.connect(root / "state" / "publisher.db")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()
