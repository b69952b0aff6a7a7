"""The dashboard as real ``publisher serve`` and ``run --serve`` processes: what only a real server, real processes
and signals show. (Its rules, action by action, are tested in process in test_dashboard_app.py.)

- the browser's way in cannot be taken by a process watching the process list;
- uvicorn never takes forwarded headers from a local process as the truth; --public-url is the way behind a proxy;
- a pack made from the dashboard starts its workers from a fork server, and a second dashboard leaves it alone;
- SIGTERM while a pack is made stops every worker; sign-off before the daemon (or publisher post) posts anything.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from test_queue import schedule

from conftest import wait_for

# heavy but for one test the quick suite keeps: HEAVY_BUT_A_TASTE in conftest.py


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


def start(project: Path, *args: str, env: dict[str, str] | None = None, open_browser: bool = False) -> Served:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")} | {"PUBLISHER_USER": "amira"}
    command = [sys.executable, "-m", "publisher", *args, "--port", "0", *([] if open_browser else ["--no-open"])]
    process = subprocess.Popen(command, cwd=project, env=clean | (env or {}), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
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


def test_a_real_server_signs_a_browser_in_and_takes_its_form(dashboard: Served) -> None:
    with dashboard.client(Accept="text/html") as browser:
        refused = browser.get("/")
        assert refused.status_code == 401 and refused.headers["x-frame-options"] == "DENY"
        entered = browser.get(f"/?token={dashboard.token}")
        assert entered.status_code == 200 and "publisher_token=" in entered.headers["set-cookie"]
        page = browser.get("/")
        assert page.status_code == 200 and "signed in as amira" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        queued = browser.post("/api/queue", data={"csrf": csrf, "campaign": "daily", "next": "/"},
                              headers={"Origin": dashboard.base, "Sec-Fetch-Site": "same-origin"})
        assert queued.status_code == 303 and queued.headers["location"].startswith("/?notice=")
        assert "Queued thread 1 (daily #1)" in browser.get(queued.headers["location"]).text
        broken = browser.get("/threads/99999999999999999999")
        assert broken.status_code == 404 and "no thread 99999999999999999999" in broken.text
        preview = browser.get("/preview/daily/")  # 9 cards: rendered by workers, which a fork server starts
        assert preview.status_code == 200 and "script-src 'none'" in preview.headers["content-security-policy"]
    assert [pid for pid in descendants(dashboard.process.pid) if "multiprocessing.forkserver" in cmdline(pid)]


# -- the browser's way in --------------------------------------------------------------------------------------

FAKE_BROWSER = '''\
import html, json, os, re, stat, sys, time, urllib.parse, urllib.request
record = {"argv": sys.argv[1:], "modes": [], "forward_left": None}
time.sleep(0.5)  # a real browser takes this long to start: time enough for a watcher to act first
link = forward = sys.argv[1]
if link.startswith("file://"):  # it follows the file's forward, as a browser does
    forward = urllib.parse.unquote(urllib.parse.urlsplit(link).path)
    record["modes"] = [oct(stat.S_IMODE(os.stat(p).st_mode)) for p in (forward, os.path.dirname(forward))]
    link = html.unescape(re.search(r'url=([^"]+)"', open(forward, encoding="utf-8").read()).group(1))
def fetch(url, cookie=""):
    request = urllib.request.Request(url, headers={"Accept": "text/html", "Cookie": cookie})
    try:
        return urllib.request.urlopen(request)
    except urllib.error.HTTPError as answer:
        return answer
entered = fetch(link)
record["entered"] = entered.status
cookie = (entered.headers.get("Set-Cookie") or "").split(";")[0]
page = fetch(link.split("/?token=")[0] + "/", cookie)
record["page"] = page.status
record["signed_in"] = "signed in as" in page.read().decode()
if record["modes"]:
    record["forward_left"] = os.path.exists(forward)
with open(os.environ["BROWSER_RECORD"], "w") as out:
    json.dump(record, out)
'''

WATCHER = '''\
import json, os, re, sys, time, urllib.request
found, used = set(), []
while not os.path.exists(sys.argv[1]):
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as source:
                line = source.read().replace(b"\\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for url in re.findall(r"(https?://[^ ]+[?&]token=[A-Za-z0-9_-]{16,})", line):
            if url in found:
                continue
            found.add(url)
            try:
                answer = urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/html"}))
                used.append([url, answer.status, answer.headers.get("Set-Cookie") is not None])
            except Exception as exc:
                used.append([url, str(exc), False])
    time.sleep(0.002)
with open(sys.argv[2], "w") as out:
    json.dump({"found": sorted(found), "used": used}, out)
'''


def test_no_process_watching_the_process_list_can_take_the_browsers_way_in(approval: Path, tmp_path: Path) -> None:
    browser = tmp_path / "browser"
    browser.write_text(f"#!{sys.executable}\n{FAKE_BROWSER}", encoding="utf-8")
    browser.chmod(0o755)
    (tmp_path / "watcher.py").write_text(WATCHER, encoding="utf-8")
    record, watched, done = tmp_path / "browser.json", tmp_path / "watcher.json", tmp_path / "stop-watching"
    watcher = subprocess.Popen([sys.executable, str(tmp_path / "watcher.py"), str(done), str(watched)])
    served = start(approval, "serve", open_browser=True,
                   env={"BROWSER": str(browser), "BROWSER_RECORD": str(record)})
    try:
        assert wait_for(record.exists, timeout=60), "the browser was not opened"
        time.sleep(0.2)  # the record is written whole before the browser process ends
        opened = json.loads(record.read_text("utf-8"))
    finally:
        done.touch()
        watcher.wait(timeout=30)
        err = stop(served)
    assert "Traceback" not in err, err
    seen = json.loads(watched.read_text("utf-8"))
    assert seen == {"found": [], "used": []}, seen  # no way in ever showed on a command line
    [argument] = opened["argv"]
    assert argument.startswith("file://") and argument.endswith("/open.html") and "token" not in argument
    assert opened["modes"] == ["0o600", "0o700"]  # only the user can read it
    assert (opened["entered"], opened["page"], opened["signed_in"]) == (200, 200, True)
    assert opened["forward_left"] is False  # used, so removed
    assert not Path(argument.removeprefix("file://")).parent.exists()  # the work folder goes with the server


# -- behind a proxy ------------------------------------------------------------------------------------------------

def test_forwarded_headers_from_a_local_process_are_not_trusted(dashboard: Served) -> None:
    faked = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example"}
    as_https = dashboard.base.replace("http://", "https://")
    with dashboard.api() as api:
        refused = api.post("/api/queue", json={}, headers={**faked, "Origin": as_https})
        assert refused.status_code == 403 and refused.json() == {"error": "a request from another site is refused"}
        assert api.post("/api/queue", json={}, headers={**faked, "Origin": dashboard.base}).status_code == 201
    with dashboard.client(Accept="text/html", **faked) as browser:
        cookie = browser.get(f"/?token={dashboard.token}").headers["set-cookie"]
        assert "secure" not in cookie.lower()  # the request came over plain HTTP, whatever a header claims


def test_behind_an_https_proxy_the_public_url_is_the_link_and_the_origin(approval: Path) -> None:
    served = start(approval, "serve", "--public-url", "https://board.example.org")
    try:
        assert served.base == "https://board.example.org"
        local = _listening_port(served.process.pid)  # the proxy's side: the link shows only the public address
        proxied = {"Host": "board.example.org", "Origin": "https://board.example.org", **served.bearer}
        with httpx.Client(base_url=f"http://127.0.0.1:{local}", timeout=30) as proxy:
            assert proxy.post("/api/queue", json={}, headers=proxied).status_code == 201
            entered = proxy.get(f"/?token={served.token}", headers={"Host": "board.example.org",
                                                                    "Accept": "text/html"})
            assert "; secure" in entered.headers["set-cookie"].lower()
            plain = proxy.post("/api/queue", json={}, headers={**proxied, "Origin": "http://board.example.org"})
            assert plain.status_code == 403
    finally:
        assert "Traceback" not in stop(served)


def _listening_port(pid: int) -> int:
    """The TCP port a process listens on (from /proc: the dashboard prints only its public address)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed since it was listed: the process goes on opening and closing files
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                return int(fields[1].rsplit(":", 1)[1], 16)
    raise AssertionError("the dashboard listens on no port")


# -- packs ---------------------------------------------------------------------------------------------------------

def test_a_pack_is_made_by_forkserver_workers_and_a_second_dashboard_leaves_it(dashboard: Served,
                                                                               approval: Path) -> None:
    with dashboard.api() as api:
        job = api.post("/api/packs", json={"collection": "caseyreview", "format_square": "1"}).json()
        assert job["start_method"] == "forkserver" and job["total"] == 20
        assert wait_for(lambda: api.get(f"/api/packs/{job['id']}").json()["state"] != "running", timeout=120)
        job = api.get(f"/api/packs/{job['id']}").json()
        assert job["state"] == "done", job
        # the workers came from a fork server, a process of its own, not from forking the threaded server
        servers = [pid for pid in descendants(dashboard.process.pid) if "multiprocessing.forkserver" in cmdline(pid)]
        assert servers, [cmdline(pid) for pid in descendants(dashboard.process.pid)]
        second = start(approval, "serve")  # a second dashboard on the same project: it must not clear the first's
        try:
            assert second.base != dashboard.base
            pack = api.get(job["download"])
            assert pack.status_code == 200 and pack.headers["content-type"] == "application/zip"
        finally:
            assert "Traceback" not in stop(second)
        assert api.get(job["download"]).status_code == 200  # nor when it stops
    archive = zipfile.ZipFile(io.BytesIO(pack.content))
    assert len([n for n in archive.namelist() if n.startswith("square/") and n.endswith(".png")]) == 20


def test_sigterm_while_a_pack_is_made_stops_cleanly(dashboard: Served, approval: Path) -> None:
    with dashboard.api() as api:
        job = api.post("/api/packs", json={"collection": "caseyreview"}).json()
        assert wait_for(lambda: api.get(f"/api/packs/{job['id']}").json()["done"] >= 2, timeout=60)
    workers = descendants(dashboard.process.pid)
    assert any("multiprocessing.forkserver" in cmdline(pid) for pid in workers), "no render worker to stop"
    dashboard.process.terminate()
    out, err = dashboard.process.communicate(timeout=30)
    assert dashboard.process.returncode == 0 and "Dashboard stopped." in out, err
    assert wait_for(lambda: not [pid for pid in workers if running(pid)], timeout=10), \
        f"render workers outlived the server: {[cmdline(pid) for pid in workers if running(pid)]}"
    assert list((approval / "state" / "dashboard").rglob("*.tmp")) == []
    assert list((approval / "state" / "dashboard").iterdir()) == []  # its work folder went with it


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        parents[int(status.parent.name)] = int(fields.get("PPid", "0").strip() or 0)
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        found += children
        frontier += children
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running(pid: int) -> bool:
    """Alive and not a zombie (a process whose parent ended is reaped by init, which here may never do it)."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


# -- sign-off before posting ---------------------------------------------------------------------------------------

def test_an_unapproved_thread_is_not_posted_until_approved_from_the_dashboard(
        dashboard: Served, approval: Path, run_cli: Callable[..., Result]) -> None:
    with dashboard.api() as api:
        assert api.post("/api/queue", json={"now": True}).status_code == 201
        posted = run_cli("post")
        assert "Thread 1 is due but waits: waiting for sign-off" in posted.stdout and outbox_posts(approval) == 0
        assert api.post("/api/threads/1/approve").json()["state"] == "queued"
    assert run_cli("post").exit_code == 0 and outbox_posts(approval) == 3
    with dashboard.api() as api:
        thread = api.get("/api/threads/1").json()
        assert thread["state"] == "posted"
        assert (thread["accounts"]["local"]["posted"], thread["accounts"]["local"]["total"]) == (3, 3)
        for page in ("/", "/queue?all=1", "/threads/1", "/log", "/cards", "/packs"):
            assert api.get(page).status_code == 200, page
        image = api.get("/threads/1").text.split('src="/images/', 1)[1].split(".png", 1)[0]
        card = api.get(f"/images/{image}.png")
        assert card.status_code == 200 and card.content.startswith(b"\x89PNG")


def test_run_serve_posts_a_thread_only_once_it_is_approved(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0  # due now, queued before sign-off was turned on
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    served = start(project, "run", "--serve")
    try:
        with served.api() as api:
            # The daemon's first pass has run when it has sent the thread back for sign-off: it posted nothing.
            assert wait_for(lambda: api.get("/api/threads/1").json()["state"] == "awaiting_approval", timeout=30)
            assert "nobody has approved it" in api.get("/api/threads/1").json()["reason"]
            assert outbox_posts(project) == 0
            # the approval wakes the daemon, which may already be posting it when the answer is made
            assert api.post("/api/threads/1/approve").json()["state"] in ("queued", "posting", "posted")
            assert wait_for(lambda: api.get("/api/threads/1").json()["state"] == "posted", timeout=30), \
                "the daemon did not post it"
            assert outbox_posts(project) == 3
    finally:
        err = stop(served)
    assert "Traceback" not in err, err
    assert served.process.returncode == 0


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
