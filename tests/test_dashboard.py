"""The dashboard through HTTP against a real ``publisher serve`` (and ``run --serve``) process: the token and
CSRF rules, every action's state change, and sign-off before anything is posted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from test_queue import schedule

pytestmark = pytest.mark.heavy


class Served:
    def __init__(self, process: subprocess.Popen[str], url: str):
        self.process = process
        self.url = url
        self.base, _, self.token = url.partition("/?token=")
        self.bearer = {"Authorization": f"Bearer {self.token}"}

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=headers, follow_redirects=False, timeout=30)

    def api(self) -> httpx.Client:
        return self.client(**self.bearer)


def start(project: Path, *args: str) -> Served:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")} | {"PUBLISHER_USER": "amira"}
    process = subprocess.Popen([sys.executable, "-m", "publisher", *args, "--no-open", "--port", "0"], cwd=project,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("Dashboard: "):
            return Served(process, line.split(" ", 1)[1].strip())
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"no dashboard link: {process.stderr.read() if process.stderr else ''}")


def stop(served: Served) -> str:
    served.process.terminate()
    try:
        _, err = served.process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        _, err = served.process.communicate()
    return err


@pytest.fixture
def approval(project: Path) -> Path:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    return project


@pytest.fixture
def dashboard(approval: Path) -> Iterator[Served]:
    served = start(approval, "serve")
    yield served
    err = stop(served)
    assert "Traceback" not in err, err


def outbox_posts(project: Path) -> int:
    return len(list((project / "outbox" / "local" / "posts").glob("*.json")))


def test_every_request_needs_the_token(dashboard: Served) -> None:
    with dashboard.client(Accept="text/html") as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 401 and "publisher serve printed" in page.text
        assert anonymous.get("/api/threads").status_code == 401
        assert anonymous.get("/?token=not-the-token").status_code == 401
        assert anonymous.get("/?token=%C3%A9t%C3%A9").status_code == 401  # not ASCII: refused, not a crash
        assert anonymous.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert anonymous.get("/images/" + "0" * 64 + ".png").status_code == 401
        first = anonymous.get(f"/queue?token={dashboard.token}&all=1")
        assert first.status_code == 303 and first.headers["location"] == "/queue?all=1"  # the token leaves the URL
        cookie = first.headers["set-cookie"]
        assert f"publisher_token={dashboard.token}" in cookie and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        assert anonymous.get("/queue").status_code == 200  # the cookie now carries it
    with dashboard.api() as api:
        answer = api.get("/api/threads")
        assert answer.status_code == 200 and answer.json() == []
        assert api.get("/", headers={"Host": "evil.example:80"}).status_code == 403  # DNS rebinding


def test_changes_need_a_csrf_token_or_the_bearer_header_and_never_come_from_another_site(
        dashboard: Served, approval: Path) -> None:
    with dashboard.api() as api:
        assert api.post("/api/queue", json={}).status_code == 201
    with dashboard.client(Accept="text/html") as browser:
        browser.get(f"/?token={dashboard.token}")
        page = browser.get("/threads/1").text
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert browser.post("/api/threads/1/hold", data={}).status_code == 403  # the cookie alone: refused
        assert browser.post("/api/threads/1/approve", data={"csrf": "x" * 64}).status_code == 403
        cross = browser.post("/api/threads/1/approve", data={"csrf": csrf},
                             headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and "another site" in cross.text
        assert browser.post("/api/threads/1/approve", data={"csrf": csrf},
                            headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        with dashboard.api() as api:
            assert api.get("/api/threads/1").json()["state"] == "awaiting_approval"  # nothing changed
            assert api.post("/api/threads/1/hold", headers={"Origin": "http://evil.example"}).status_code == 403
        done = browser.post("/api/threads/1/approve", data={"csrf": csrf},
                            headers={"Origin": dashboard.base, "Sec-Fetch-Site": "same-origin"})
        assert done.status_code == 303 and done.headers["location"].startswith("/threads/1?message=Approved")
    with dashboard.api() as api:
        thread = api.get("/api/threads/1").json()
        assert thread["state"] == "queued"
        assert [(s["decision"], s["by"]) for s in thread["signoffs"]] == [("approved", "amira")]


def test_every_action_changes_the_state_or_says_why_not(dashboard: Served, approval: Path,
                                                        run_cli: Callable[..., Result]) -> None:
    with dashboard.api() as api:
        queued = api.post("/api/queue", json={"campaign": "daily"})
        assert queued.status_code == 201, queued.text
        thread = queued.json()
        assert thread["state"] == "awaiting_approval" and thread["message"].startswith("Queued thread 1 (daily #1)")
        shown = json.loads(run_cli("queue", "show", "1", "--json").stdout)
        assert api.get("/api/threads/1").json() == shown  # the same shape as queue show --json

        def act(action: str, status: int = 200, **body: str) -> dict[str, object]:
            answer = api.post(f"/api/threads/1/{action}", json=body)
            assert answer.status_code == status, (action, answer.text)
            return dict(answer.json())

        refused = act("hold", 409)
        assert refused == {"error": "thread 1 is awaiting_approval: only a queued, posting or needs_attention "
                                    "thread can be held"}
        assert "(--reason TEXT)" in str(act("reject", 400)["error"])
        assert act("approve")["state"] == "queued"
        assert act("hold")["state"] == "held"
        assert act("release")["state"] == "queued"
        assert "nothing to retry" in str(act("retry", 409)["error"])
        recomposed = act("recompose")
        assert recomposed["state"] == "awaiting_approval" and "sign-off again" in str(recomposed["message"])
        assert act("reject", reason="the wrong week")["state"] == "cancelled"
        assert act("cancel", 409)["error"] == "thread 1 is cancelled: there is nothing to cancel"
        assert api.post("/api/threads/1/explode").status_code == 404
        missing = api.post("/api/threads/99/approve")
        assert missing.status_code == 404 and missing.json()["error"].startswith("no thread 99 in the queue")
        second = api.post("/api/queue", json={}).json()
        assert act_on(api, second["id"], "cancel")["state"] == "cancelled"


def act_on(api: httpx.Client, thread_id: int, action: str) -> dict[str, object]:
    answer = api.post(f"/api/threads/{thread_id}/{action}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_an_unapproved_thread_is_not_posted_until_approved_from_the_dashboard(
        dashboard: Served, approval: Path, run_cli: Callable[..., Result]) -> None:
    with dashboard.api() as api:
        assert api.post("/api/queue", json={"now": True}).status_code == 201
        posted = run_cli("post")
        assert "Thread 1 is due but waits: waiting for sign-off" in posted.stdout and outbox_posts(approval) == 0
        assert act_on(api, 1, "approve")["state"] == "queued"
    assert run_cli("post").exit_code == 0 and outbox_posts(approval) == 3
    with dashboard.api() as api:
        thread = api.get("/api/threads/1").json()
        assert thread["state"] == "posted" and thread["accounts"] == {"local": {"posted": 3, "total": 3}}
        for page in ("/", "/queue?all=1", "/threads/1", "/log", "/cards", "/packs"):
            assert api.get(page).status_code == 200, page
        card = api.get(f"/images/{thread_image(api)}.png")
        assert card.status_code == 200 and card.content.startswith(b"\x89PNG")


def thread_image(api: httpx.Client) -> str:
    page = api.get("/threads/1").text
    return page.split('src="/images/', 1)[1].split(".png", 1)[0]


def test_run_serve_posts_a_thread_once_it_is_approved(approval: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("queue", "add", "--now").exit_code == 0
    served = start(approval, "run", "--serve")
    try:
        time.sleep(3)  # the daemon's first pass has run: it must not have posted
        assert outbox_posts(approval) == 0
        with served.api() as api:
            assert api.get("/api/threads/1").json()["state"] == "awaiting_approval"
            assert act_on(api, 1, "approve")["state"] == "queued"
            deadline = time.monotonic() + 30
            while api.get("/api/threads/1").json()["state"] != "posted" and time.monotonic() < deadline:
                time.sleep(0.3)
            assert api.get("/api/threads/1").json()["state"] == "posted", "the daemon did not post it"
            assert outbox_posts(approval) == 3
    finally:
        err = stop(served)
    assert "Traceback" not in err, err
    assert served.process.returncode == 0


def test_serve_refuses_another_host_without_allow_remote(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--no-open", "--port", "0")
    assert result.exit_code == 2
    assert result.stderr.startswith("--host 0.0.0.0 would let other machines reach the dashboard")


def test_the_dashboard_follows_edits_to_the_schedule(project: Path) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    served = start(project, "serve")
    try:
        with served.api() as api:
            assert api.post("/api/queue", json={"now": True}).json()["state"] == "queued"
            time.sleep(0.05)  # a new modification time even on coarse clocks
            (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
            added = api.post("/api/queue", json={}).json()
            assert added["state"] == "awaiting_approval" and "needs sign-off" in added["message"]
    finally:
        assert "Traceback" not in stop(served)


def test_a_thread_queued_before_approval_was_turned_on_waits_for_it(project: Path,
                                                                     run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    assert run_cli("post").exit_code == 0 and outbox_posts(project) == 0
    shown = json.loads(run_cli("queue", "show", "1", "--json").stdout)
    assert shown["state"] == "awaiting_approval" and "nobody has approved it" in shown["reason"]
    assert run_cli("queue", "approve", "1").exit_code == 0
    assert run_cli("post").exit_code == 0 and outbox_posts(project) == 3


def test_an_approval_is_of_what_the_approver_saw(dashboard: Served, approval: Path,
                                                 run_cli: Callable[..., Result]) -> None:
    with dashboard.api() as api:
        seen = api.post("/api/queue", json={}).json()
        quotes = approval / "quotes" / "caseyreview.toml"
        quotes.write_text(quotes.read_text("utf-8").replace("Tackling discrimination", "Tackling bias"), "utf-8")
        assert run_cli("queue", "recompose", "1").exit_code == 0  # the words changed after the page was read
        stale = api.post("/api/threads/1/approve", json={"revision": seen["revision"]})
        assert stale.status_code == 409 and "changed since it was shown to you" in stale.json()["error"]
        fresh = api.get("/api/threads/1").json()
        assert api.post("/api/threads/1/approve", json={"revision": fresh["revision"]}).json()["state"] == "queued"
        assert act_on(api, 1, "hold")["reason"] == "held by amira"  # the dashboard's user, not the OS user


def test_answers_to_odd_requests(dashboard: Served) -> None:
    with dashboard.api() as api:
        assert api.get("/api/nothing").json() == {"error": "no such page"}
        assert api.get("/api/threads/1/approve").status_code == 405
        assert api.get("/preview/daily/%00").status_code == 404
        assert api.get("/images/" + "a" * 64 + ".png").status_code == 404
        bad = api.post("/api/queue", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
        assert api.post("/api/threads/1/reject", json={"reason": "x" * 501}).status_code in (400, 404)
    with dashboard.client(Accept="text/html") as browser:
        away = browser.get(f"//evil.example/?token={dashboard.token}")
        assert away.status_code == 303 and away.headers["location"] == "/"
        browser.cookies.set("publisher_token", "from-an-earlier-start")
        assert "was restarted" in browser.get("/").text
        assert "signed in as" not in browser.get("/").text  # a refusal names nobody


def test_sigterm_while_a_pack_is_made_stops_cleanly(dashboard: Served, approval: Path) -> None:
    with dashboard.api() as api:
        job = api.post("/api/packs", json={"collection": "caseyreview"}).json()
        deadline = time.monotonic() + 30
        while api.get(f"/api/packs/{job['id']}").json()["done"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    workers = children(dashboard.process.pid)
    assert workers, "no render worker to stop: the test would prove nothing"
    dashboard.process.terminate()
    out, err = dashboard.process.communicate(timeout=30)
    assert dashboard.process.returncode == 0 and "Dashboard stopped." in out, err
    time.sleep(0.5)
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == [], "render workers outlived the server"
    assert list((approval / "state" / "dashboard").rglob("*.tmp")) == []


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found
