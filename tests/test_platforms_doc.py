"""docs/platforms.md's worked example, taken from the page as it is: the module and its entry point installed as a
separate package, its accounts validated, logged in by ``doctor --online`` and a thread posted through it to a
local fake of the board, exactly once."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import REPO
from posting_project import USED_SECRETS

pytestmark = pytest.mark.heavy

PAGE = REPO / "docs" / "platforms.md"
TOKEN = "board-token-for-the-doc-example"


def example() -> tuple[str, str]:
    """The worked example's module and pyproject.toml: the first python and toml blocks of its section."""
    section = PAGE.read_text("utf-8").split("## A worked example", 1)[1]
    module = re.search(r"```python\n(.*?)```", section, re.S)
    pyproject = re.search(r"```toml\n(.*?)```", section, re.S)
    assert module and pyproject, "docs/platforms.md has no worked example"
    return module[1], pyproject[1]


class FakeBoard:
    """The board's API as the example describes it, with one bearer token."""

    def __init__(self) -> None:
        self.notices: list[dict[str, Any]] = []
        self.media: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        board = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                url = urlsplit(self.path)
                board.requests.append((self.command, url.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"error": "bad token"})
                status, answer = board.answer(self.command, url.path, parse_qs(url.query), body,
                                              self.headers.get("Idempotency-Key"))
                self._reply(status, answer)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any],
               key: str | None) -> tuple[int, object]:
        if (method, path) == ("GET", "/api/me"):
            return 200, {"name": "campaigners"}
        if (method, path) == ("POST", "/api/media"):
            if not body.get("alt") or not body.get("png"):
                return 422, {"error": "an image needs its alt text"}
            self.media.append(body)
            return 200, {"id": f"m{len(self.media)}"}
        if (method, path) == ("POST", "/api/notices"):
            if not key:
                return 422, {"error": "Idempotency-Key missing"}
            for notice in self.notices:
                if notice["key"] == key:
                    return 200, notice
            if body["reply_to"] is not None and body["reply_to"] not in [n["id"] for n in self.notices]:
                return 422, {"error": "no such notice to reply to"}
            notice = {"id": f"n{len(self.notices) + 1}", "url": f"{self.url}/n{len(self.notices) + 1}", "key": key,
                      **body}
            self.notices.append(notice)
            return 200, notice
        if (method, path) == ("GET", "/api/notices"):
            return 200, {"notices": [n for n in self.notices if n["key"] in query.get("key", [])]}
        return 404, {"error": "not found"}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def board() -> Iterator[FakeBoard]:
    fake = FakeBoard()
    try:
        yield fake
    finally:
        fake.stop()


def install(site: Path) -> None:
    """The example as an installed distribution: its module, and metadata with its entry points."""
    module, pyproject = example()
    project = tomllib.loads(pyproject)["project"]
    site.mkdir(parents=True)
    (site / "publisher_noticeboard.py").write_text(module, encoding="utf-8")
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
                                   encoding="utf-8")
    points = "".join(f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items())
                     for group, entries in project["entry-points"].items())
    (info / "entry_points.txt").write_text(points, encoding="utf-8")


def test_the_worked_example_is_a_platform_that_posts_exactly_once(tmp_path: Path, board: FakeBoard) -> None:
    install(tmp_path / "site")
    project = tmp_path / "project"
    (project / "quotes").mkdir(parents=True)
    shutil.copy(REPO / "quotes" / "caseyreview.toml", project / "quotes" / "caseyreview.toml")
    (project / "schedule.toml").write_text(f"""\
[defaults]
timezone = "Europe/London"

[accounts.hall]
platform = "noticeboard"
board = "{board.url}"

[[campaigns]]
name = "daily"
collection = "caseyreview"
accounts = ["hall"]
quotes_per_thread = 2
intro = "From the #CaseyReview, thread {{thread_number}}"
""", encoding="utf-8")
    USED_SECRETS.append(TOKEN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
           "NOTICEBOARD_TOKEN": TOKEN}

    def publisher(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "publisher", *args], cwd=project, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    checked = publisher("validate")
    assert checked.returncode == 0, checked.stderr
    doctor = publisher("doctor", "--online")
    assert "✓ login hall (noticeboard): @campaigners" in doctor.stdout.splitlines(), doctor.stdout
    assert publisher("queue", "add", "--now").returncode == 0
    shown = publisher("queue", "show", "1")
    assert f"hall → Noticeboard {board.url}" in shown.stdout and "/400 characters" in shown.stdout, shown.stdout
    posted = publisher("post")
    assert posted.returncode == 0, posted.stdout + posted.stderr
    assert [(n["text"].split(",")[0], n["reply_to"]) for n in board.notices] == [
        ("From the #CaseyReview", None), (board.notices[1]["text"].split(",")[0], "n1"),
        (board.notices[2]["text"].split(",")[0], "n2")]
    assert len(board.media) == 2 and all(m["alt"] for m in board.media)
    assert publisher("post").returncode == 0 and len(board.notices) == 3  # nothing sent twice

    (project / "schedule.toml").write_text((project / "schedule.toml").read_text("utf-8").replace(
        "board = ", 'token = "pasted-by-mistake"\nboard = '), encoding="utf-8")
    refused = publisher("validate")
    assert refused.returncode == 3 and 'token_env = "NOTICEBOARD_TOKEN"' in refused.stderr, refused.stderr
