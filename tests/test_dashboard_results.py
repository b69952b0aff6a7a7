"""The dashboard's Results page (issue 23): per campaign, a table of quotes (card, text, figures in total and per
platform) sorted by links in its headings, each quote's figures over time as a server-drawn SVG chart beside a
table of the same figures, the table as CSV, and each posted part's figures on its Thread page.

Threads are really posted (to the Mastodon fake, or an outbox); figures are real readings in a real store: read
from the fake by publisher's own reader after a fan's favourites and boosts, or stored with ``Store.add_readings``
at chosen times for a precise series. Pages are checked in process, and in real headless Chromium (axe-core,
reflow at 320 px, with JavaScript off, the CSV as the browser downloads it)."""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_dashboard import Served, start, stop
from test_dashboard_app import make_site
from test_dashboard_browser import screenshot
from test_results import Clock, fan_of, posted_thread

from conftest import axe_violations, load_all_images, page_width_at, store_rows
from fakes.mastodon_api import FakeMastodonAPI
from posting_project import environment, make_project
from publisher.app import Project
from publisher.dashboard.charts import line_chart, nice_top
from publisher.dashboard.results import quote_series, results_csv_text
from publisher.results import read_due
from publisher.store import PostedPart, Reading, Store

CSS = "css selector"


@pytest.fixture
def fake() -> Iterator[FakeMastodonAPI]:
    api = FakeMastodonAPI()
    api.start()
    yield api
    api.stop()


def stored_parts(root: Path) -> dict[int, PostedPart]:
    with Store.open(root / "state" / "publisher.db") as store:
        return {part.position: part for part in store.posted_for_results()}


# Each quote part's readings at 1 h, 24 h (and a refresh 3 minutes later: the same round) and 7 d after posting:
# (likes, reposts, replies, quotes). Mastodon gives no quotes (None); every quote part's replies count the
# thread's own next part, which the page leaves out.
SERIES = {
    2: [(timedelta(hours=1), (1, 0, 1)), (timedelta(hours=24), (3, 1, 2)),
        (timedelta(hours=24, minutes=3), (4, 1, 2)), (timedelta(days=7), (5, 1, 2))],
    3: [(timedelta(hours=1, seconds=2), (0, 0, 1)), (timedelta(hours=24, seconds=2), (2, 2, 1)),
        (timedelta(days=7, seconds=2), (2, 4, 1))],
    4: [(timedelta(hours=1, seconds=2), (0, 0, 1)), (timedelta(hours=24, seconds=2), (0, 0, 1)),
        (timedelta(days=7, seconds=2), (1, 0, 1))],
}
# their latest totals: likes, reposts, replies (people's), engagement
LATEST = {2: (5, 1, 1, 7), 3: (2, 4, 0, 6), 4: (1, 0, 0, 1)}


def with_series(root: Path) -> dict[int, str]:
    """Store SERIES for the posted thread's quote parts; each part's quote id, by position."""
    parts = stored_parts(root)
    readings = [Reading(parts[position].part_id, "7d", parts[position].posted_at + offset, likes, reposts, replies)
                for position, series in SERIES.items() for offset, (likes, reposts, replies) in series]
    with Store.open(root / "state" / "publisher.db") as store:
        store.add_readings(readings)
    return {position: parts[position].quote_ids[0] for position in SERIES}


@pytest.fixture
def posted(tmp_path: Path, fake: FakeMastodonAPI, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any, Clock]:
    """A 5-part thread posted to the Mastodon fake 8 days ago (intro, three quote cards, outro)."""
    clock = Clock()
    clock.advance(days=-8)
    root, user, _ = posted_thread(tmp_path, fake, monkeypatch, clock)
    return root, user, clock


def page(site: Any, path: str) -> str:
    answer = site.browser().get(path)
    assert answer.status_code == 200, answer.text
    return str(answer.text)


def table_order(html: str, quotes: dict[int, str]) -> list[int]:
    """The positions of the quote parts in the order the Results table lists their quotes."""
    body = html.split("<tbody>", 1)[1]
    found = {body.index(f"/results/quote/{quote_id}?"): position for position, quote_id in quotes.items()}
    return [found[at] for at in sorted(found)]


def first_row_figures(html: str) -> list[str]:
    """The first row's totals: posts, likes, reposts, replies, quotes, engagement."""
    row = html.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    return [cell.split("<", 1)[0] for cell in row.split('<td class="figure">')[1:]]


# -- in process --------------------------------------------------------------------------------------------

@pytest.mark.heavy
def test_the_table_sorts_by_its_headings_and_shows_people_s_figures(posted: tuple[Path, Any, Clock]) -> None:
    root, _, _ = posted
    quotes = with_series(root)
    site = make_site(root)
    html = page(site, "/results")
    assert table_order(html, quotes) == [2, 3, 4]  # engagement, most first
    assert 'aria-sort="descending"><a href="/results?campaign=thread&amp;sort=engagement&amp;order=asc"' in html
    assert table_order(page(site, "/results?campaign=thread&sort=reposts&order=desc"), quotes) == [3, 2, 4]
    assert table_order(page(site, "/results?campaign=thread&sort=likes&order=asc"), quotes) == [4, 3, 2]
    assert first_row_figures(html) == ["1", "5", "1", "1", "–", "7"]  # Mastodon gives no quotes: "–"
    assert "No figures yet" not in html and "The latest figures were read" in html
    with Store.open(root / "state" / "publisher.db") as store:
        thread = store.thread(1)
        card = store.parts(1, "masto")[1].images[0]
    assert thread is not None and quotes == {2: thread.quote_ids[0], 3: thread.quote_ids[1], 4: thread.quote_ids[2]}
    assert f'<img src="/images/{card["sha256"]}.png" alt="{card["alt"]}"' in html.replace("&#39;", "'")

    assert site.browser().get("/results?sort=shares").status_code == 400
    assert "not a column to sort by" in site.browser().get("/results?sort=shares").text
    assert site.browser().get("/results?campaign=nope").status_code == 404
    assert site.browser().get("/results/quote/nope?campaign=thread").status_code == 404


@pytest.mark.heavy
def test_the_csv_has_the_table_s_rows_in_its_order(posted: tuple[Path, Any, Clock]) -> None:
    root, _, _ = posted
    quotes = with_series(root)
    answer = make_site(root).browser().get("/results.csv?campaign=thread&sort=reposts&order=desc")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="results-thread.csv"'
    assert answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: spreadsheets read it as UTF-8
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r["quote_id"] for r in rows] == [quotes[3], quotes[2], quotes[4]]
    assert [(r["likes"], r["reposts"], r["replies"], r["quotes"], r["engagement"]) for r in rows] == [
        (str(LATEST[p][0]), str(LATEST[p][1]), str(LATEST[p][2]), "", str(LATEST[p][3])) for p in (3, 2, 4)]
    assert rows[0]["text"] and "…" not in rows[0]["text"]  # the whole quote


@pytest.mark.heavy
def test_a_refresh_s_figures_show_on_the_results_and_thread_pages(
        posted: tuple[Path, Any, Clock], fake: FakeMastodonAPI) -> None:
    root, user, clock = posted
    fans = fan_of(fake)
    fans.status_favourite(user.statuses[2].id), fans.status_reblog(user.statuses[2].id)  # the second quote's card
    site = make_site(root)
    before = page(site, "/results")
    assert "No figures yet: the daemon reads them at 1 h, 24 h, 7 d and 30 d after each post; " \
           "<code>publisher results --refresh</code> reads them now." in before
    assert page(site, "/threads/1").count("Figures: not read yet.") == 5
    clock.advance(days=8)
    schedule = Project(root / "schedule.toml").files.schedule()
    report = read_due(root / "state" / "publisher.db", schedule, dict(os.environ), clock)
    assert report is not None and report.read == 5
    after = page(site, "/results")
    assert "No figures yet" not in after
    first = after.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert stored_parts(root)[3].quote_ids[0] in first  # best first
    thread = page(site, "/threads/1")
    assert thread.count("Figures: not read yet.") == 0
    assert "Likes 1 · Reposts 1 · Replies 0 · Quotes 0" in thread  # the next part is no one's reply


@pytest.mark.heavy
def test_each_total_has_its_figure_per_platform_beneath(tmp_path: Path, fake: FakeMastodonAPI,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign posting to Mastodon and an outbox: each total, and the CSV, has each platform's figure."""
    clock = Clock()
    user = fake.add_user("campaign")
    root = make_project(tmp_path / "p", mastodon=fake.url)
    schedule = root / "schedule.toml"
    text = schedule.read_text("utf-8").replace('accounts = ["masto"]', 'accounts = ["masto", "local"]')
    schedule.write_text(text.replace("[[campaigns]]", '[accounts.local]\nplatform = "outbox"\n\n[[campaigns]]'),
                        encoding="utf-8")
    for key, value in environment(mastodon_token=user.token).items():
        monkeypatch.setenv(key, value)
    project = Project(schedule, now=clock)
    project.queue_add("thread", now=True)
    assert [o.state for o in project.post_due().outcomes] == ["posted"]
    fans = fan_of(fake)
    fans.status_favourite(user.statuses[1].id), fans.status_reblog(user.statuses[1].id)  # the first quote's card
    clock.advance(hours=1, minutes=1)
    assert read_due(root / "state" / "publisher.db", project.files.schedule(), dict(os.environ), clock)
    site = make_site(root)
    html = page(site, "/results")
    assert "under each total, its figure on each platform" in html
    assert "local is a local outbox" in html and "No figures yet" not in html
    row = html.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    beneath = [re.findall(r"<li>([^<]*)</li>", cell) for cell in row.split('<td class="figure">')[1:]]
    assert beneath == [["Mastodon 1", "outbox 1"], ["Mastodon 1", "outbox –"], ["Mastodon 1", "outbox –"],
                       ["Mastodon 0", "outbox –"], ["Mastodon 0", "outbox –"], ["Mastodon 2", "outbox –"]]
    assert first_row_figures(html) == ["2", "1", "1", "0", "0", "2"]
    rows = list(csv.DictReader(io.StringIO(site.browser().get("/results.csv").content.decode("utf-8-sig"))))
    assert (rows[0]["posts"], rows[0]["Mastodon likes"], rows[0]["outbox posts"], rows[0]["outbox likes"]) == (
        "2", "1", "1", "")


def test_an_outbox_s_posts_have_no_figures_and_the_pages_say_so(project: Path, run_cli: Any) -> None:
    site = make_site(project)
    assert "Nothing posted yet in daily" in page(site, "/results")
    assert run_cli("queue", "add", "--now").exit_code == 0 and run_cli("post").exit_code == 0
    html = page(site, "/results")
    assert "local is a local outbox: its posts have no audience, so it has no figures (shown as –)." in html
    assert "No figures yet" not in html  # they never come: the note says why
    assert first_row_figures(html) == ["1", "–", "–", "–", "–", "–"]  # none, never 0
    posted = len(store_rows(project, "SELECT id FROM parts WHERE state = 'posted'"))
    thread = page(site, "/threads/1").replace("&#39;", "'")
    assert posted and thread.count("No figures: a local outbox's posts have no audience.") == posted
    csv_text = site.browser().get("/results.csv").content.decode("utf-8-sig")
    assert csv_text.splitlines()[1].endswith(",1,,,,,")
    schedule = project / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace('platform = "outbox"', "platform = outbox"), "utf-8")
    assert site.browser().get("/results").status_code == 503  # which quotes and platforms: it cannot say
    assert "Figures: not read yet." in page(site, "/threads/1")  # the store's figures: none, as stored


def test_a_csv_cell_never_starts_a_formula() -> None:
    row = {"quote_id": "q", "text": "=HYPERLINK(\"http://evil.example\")", "posts": 1, "likes": None, "reposts": 2,
           "replies": 0, "quotes": None, "engagement": 2, "by_platform": {}}
    text = results_csv_text({"platforms": ["Bluesky"], "rows": [row]})
    assert text.startswith("\ufeffquote_id,text,posts,likes,reposts,replies,quotes,engagement\r\n")
    assert list(csv.reader(io.StringIO(text.splitlines()[1]))) == [
        ["q", "'=HYPERLINK(\"http://evil.example\")", "1", "", "2", "0", "", "2"]]


# -- the chart and its series --------------------------------------------------------------------------------

def test_a_quote_s_series_sums_its_posts_by_round_of_readings() -> None:
    start_at = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    one = PostedPart(1, 1, "c", "bsky", 2, "", "a", None, start_at, ["q"])
    two = PostedPart(2, 2, "c", "masto", 2, "", "b", None, start_at + timedelta(days=3), ["q"], continued=True)
    readings = [Reading(1, "1h", start_at + timedelta(hours=1), 2, 0, 1, 0),
                Reading(1, "24h", start_at + timedelta(hours=24), 5, 1, 1, 1),
                Reading(1, "refresh", start_at + timedelta(hours=24, minutes=9), 6, 1, 1, 1),  # the same round
                Reading(2, "1h", start_at + timedelta(days=3, hours=1), 3, 2, 4, None)]
    points = quote_series(readings, {1: one, 2: two})  # two's thread goes on: a reply less
    assert [(p["likes"], p["reposts"], p["replies"], p["quotes"], p["engagement"]) for p in points] == [
        (2, 0, 1, 0, 3), (6, 1, 1, 1, 9), (9, 3, 4, 1, 17)]
    assert points[1]["at"] == start_at + timedelta(hours=24, minutes=9)


def test_the_chart_is_one_accessible_escaped_svg_with_a_point_a_reading() -> None:
    moments = [datetime(2026, 12, 1, 9, 30, tzinfo=UTC) + timedelta(days=d) for d in (0, 1, 7)]
    svg = line_chart({"Likes": list(zip(moments, [1, 4, 9], strict=True)),
                      "Quotes <b>&": list(zip(moments, [None, 0, 2], strict=True))},
                     'A "title" <script>', "desc & more", id_prefix="c1")
    assert svg.startswith("<svg ") and svg.count("<svg") == 1 and 'role="img"' in svg
    assert 'aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">A &quot;title&quot; &lt;script&gt;</title>' in svg
    assert "<script" not in svg and "<b>" not in svg and "Quotes &lt;b&gt;&amp;" in svg
    assert svg.count('class="point"') == 5  # a None is no point
    assert "1 Dec 09:30" in svg and "8 Dec 09:30" in svg and ">Count</text>" in svg
    assert nice_top(9) == (10, 2) and nice_top(0) == (1, 1) and nice_top(1234) == (1500, 500)
    assert "No readings yet" in line_chart({}, "t", "d")


# -- in Chromium ---------------------------------------------------------------------------------------------

@pytest.fixture
def served(posted: tuple[Path, Any, Clock]) -> Iterator[tuple[Served, dict[int, str]]]:
    root = posted[0]
    quotes = with_series(root)
    served = start(root, "serve")
    yield served, quotes
    err = stop(served)
    assert "Traceback" not in err, err


def signed_in(browser: Any, served: Served) -> None:
    browser.get(served.url)
    deadline = time.monotonic() + 30
    while browser.current_url != served.base + "/" and time.monotonic() < deadline:
        time.sleep(0.1)


def shown_order(browser: Any, quotes: dict[int, str]) -> list[int]:
    links = [a.get_attribute("href") for a in browser.find_elements(CSS, "table.results tbody a")]
    return [next(p for p, q in quotes.items() if f"/results/quote/{q}?" in link) for link in links]


def clean(browser: Any, name: str) -> None:
    """Every image loaded, no console error, no axe-core violation, and it reflows at 320 px."""
    assert all(load_all_images(browser)), name
    screenshot(browser, name)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == [], name
    assert axe_violations(browser) == [], name
    assert page_width_at(browser, 320) <= 320, name


@pytest.mark.heavy
def test_in_chromium_the_results_sort_chart_and_pass_axe(served: tuple[Served, dict[int, str]], browser: Any,
                                                         tmp_path: Path) -> None:
    site, quotes = served
    browser.get_log("browser")
    signed_in(browser, site)
    browser.get(site.base + "/results")
    assert shown_order(browser, quotes) == [2, 3, 4]
    clean(browser, "results")
    browser.find_element(CSS, "th a[href*='sort=reposts']").click()
    assert shown_order(browser, quotes) == [3, 2, 4]
    assert browser.find_element(CSS, "th[aria-sort]").text.startswith("Reposts")

    browser.find_element(CSS, f"a[href^='/results/quote/{quotes[2]}?']").click()
    svg = browser.find_element(CSS, "figure.chart svg")
    assert svg.get_attribute("role") == "img"
    assert browser.execute_script("return arguments[0].querySelector('title').textContent", svg) \
        == f"Engagement with quote {quotes[2]} over time"
    counts = browser.execute_script(
        "return [...arguments[0].querySelectorAll('g.series')].map(g => [g.dataset.name, "
        "g.querySelectorAll('.point').length])", svg)
    assert counts == [["Likes", 3], ["Reposts", 3], ["Replies", 3]]  # 3 rounds; Mastodon gives no quotes
    rows = [[td.text for td in tr.find_elements(CSS, "td")] for tr in browser.find_elements(CSS, "table.series tr")]
    assert [r[1:] for r in rows if r] == [["1", "0", "0", "–", "1"], ["4", "1", "1", "–", "6"],
                                          ["5", "1", "1", "–", "7"]]
    clean(browser, "results-quote")
    browser.get(site.base + "/threads/1")
    assert "Likes 5 · Reposts 1 · Replies 1 · Quotes –" in browser.find_element(CSS, "main").text
    clean(browser, "thread-with-figures")

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        browser.get(site.base + "/results?campaign=thread&sort=likes&order=asc")
        shown = shown_order(browser, quotes)
        browser.find_element(CSS, "a[href^='/results.csv']").click()
        deadline = time.monotonic() + 30
        while not list(downloads.glob("*.csv")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})
    (saved,) = downloads.glob("*.csv")
    assert saved.name == "results-thread.csv"
    rows = list(csv.DictReader(io.StringIO(saved.read_text("utf-8-sig"))))
    assert [r["quote_id"] for r in rows] == [quotes[p] for p in shown] == [quotes[4], quotes[3], quotes[2]]


@pytest.mark.heavy
def test_in_chromium_without_javascript_the_sort_links_and_chart_work(served: tuple[Served, dict[int, str]],
                                                                      browser: Any) -> None:
    site, quotes = served
    signed_in(browser, site)
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get("data:text/html,<title>off</title><script>document.title = 'on'</script>")
        assert browser.title == "off"  # pages' scripts are off indeed
        browser.get(site.base + "/results?campaign=thread")
        assert shown_order(browser, quotes) == [2, 3, 4]
        browser.find_element(CSS, "th a[href*='sort=likes']").click()
        assert shown_order(browser, quotes) == [2, 3, 4]
        browser.find_element(CSS, "th a[href*='sort=likes']").click()  # again: the other way round
        assert shown_order(browser, quotes) == [4, 3, 2]
        browser.find_element(CSS, f"a[href^='/results/quote/{quotes[3]}?']").click()
        assert len(browser.find_elements(CSS, "figure.chart svg .point")) == 9
        assert browser.find_element(CSS, "figure.chart svg").size["width"] > 200  # drawn, not collapsed
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
