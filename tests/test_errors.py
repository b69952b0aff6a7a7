"""Every mistake, fault and missing secret gets a one-line answer with a specific exit status, through the real
command in a subprocess; nothing is lost or overwritten, and no secret leaks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from forkserver import ForkServer

from conftest import BUNDLED, MINIMAL_SCHEDULE, REPO, store_rows
from fakes.x_api import XFault
from posting_project import USED_SECRETS, environment, make_project
from publisher.errors import ExitStatus

FORKS: list[ForkServer] = []  # this worker's fork server, set for every test by ``_forks``


@pytest.fixture(autouse=True)
def _forks(forks: ForkServer) -> None:
    FORKS[:] = [forks]


def run(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
        config: bool = True, fresh: bool = False) -> subprocess.CompletedProcess[str]:
    """The publisher command, in ``root``, as a user runs it: in a new process forked from one that has done the
    imports (tests/forkserver.py), or with ``fresh``, a new interpreter."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    argv = [*(["--config", "schedule.toml"] if config else []), *args]
    if FORKS and not fresh:
        return FORKS[0].run(argv, {**base, **(env or {})}, root, timeout)
    return subprocess.run([sys.executable, "-m", "publisher", *argv], cwd=root, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)


def one_line(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The command failed with ``status`` and said so in exactly one line, with no traceback."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr and "unexpected" not in done.stderr, done.stderr
    return lines[0]


# -- one error path ------------------------------------------------------------------------------------------

def test_a_damaged_or_too_new_store(project: Path) -> None:
    (project / "state").mkdir()
    (project / "state" / "publisher.db").write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    line = one_line(run(project, "queue", "list"), ExitStatus.STORE)
    assert line.startswith("state/publisher.db is damaged or is not a publisher store (it is not an SQLite file): "
                           "move it aside and restore a backup")
    (project / "state" / "publisher.db").unlink()
    assert run(project, "queue", "add", "--now").returncode == 0
    with sqlite3.connect(project / "state" / "publisher.db") as db:
        db.execute("PRAGMA user_version = 99")
    line = one_line(run(project, "status"), ExitStatus.STORE)
    assert line == ("state/publisher.db was written by a newer publisher (schema 99; this one knows up to 7): "
                    "upgrade publisher")


def test_a_state_folder_that_is_a_file(project: Path) -> None:
    (project / "state").write_text("oops", encoding="utf-8")
    line = one_line(run(project, "queue", "add", "--now"), ExitStatus.STORE)
    assert line == ("state is a file, where publisher keeps its state folder: move it aside, or set [paths] state "
                    "in schedule.toml to another folder")
    assert one_line(run(project, "post"), ExitStatus.STORE) == line


def test_bad_values_on_the_command_line_and_in_the_environment(project: Path, tmp_path: Path) -> None:
    assert one_line(run(project, "queue", "show", "99999999999999999999"), ExitStatus.USAGE).startswith(
        "Invalid value for 'THREAD_ID': 99999999999999999999 is not in the range")
    line = one_line(run(project, "render", "-o", "/proc/nope"), ExitStatus.FILE)
    assert line.startswith("/proc/nope")
    csv = tmp_path / "quotes.csv"
    csv.write_text("text\n" + '"' + "x" * 200_000 + '"\n', encoding="utf-8")
    assert one_line(run(project, "import", str(csv), "--collection", "big", "--title", "T", "--attribution", "A"),
                    ExitStatus.CONFIG).startswith("quotes.csv:2: cannot read this CSV: field larger than field limit")
    long_name = "a" * 300
    line = one_line(run(project, "import", str(csv), "--collection", long_name), ExitStatus.USAGE)
    assert "is not a collection name (use at most 64 lowercase letters, digits and hyphens)" in line
    assert run(project, "queue", "add", "--now").returncode == 0
    line = one_line(run(project, "post", env={"PUBLISHER_HTTP_TIMEOUT": "abc"}), ExitStatus.USAGE)
    assert line == ("PUBLISHER_HTTP_TIMEOUT='abc' is not a number of seconds from 0 to 600 (unset it for the "
                    "default, 30, or give e.g. 60)")


def test_outside_a_project_every_command_says_the_same(tmp_path: Path) -> None:
    expected = (f"no schedule.toml in {tmp_path}: run publisher in your project folder (the one holding "
                "schedule.toml), give --config PATH, or start a project with publisher init")
    for command in (["validate"], ["quotes"], ["render"], ["preview"], ["pack"], ["queue", "list"], ["post"],
                    ["status"], ["run", "--once"], ["login", "x", "x"], ["import", "f.txt", "--collection", "c"]):
        assert one_line(run(tmp_path, *command, config=False), ExitStatus.CONFIG) == expected, command
    line = one_line(run(tmp_path.parent, "--config", str(tmp_path), "validate", config=False), ExitStatus.CONFIG)
    assert line.startswith(f"{tmp_path} is a folder, not a schedule:")


# -- never overwrite what isn't ours ----------------------------------------------------------------------------

@pytest.mark.heavy  # several whole packs
def test_outputs_never_replace_what_is_not_theirs(project: Path, tmp_path: Path) -> None:
    before = (project / "schedule.toml").read_bytes()
    line = one_line(run(project, "pack", "-o", "schedule.toml", "--formats", "square"), ExitStatus.USAGE)
    assert line == ("schedule.toml exists and is not an image pack: publisher will not replace it (give another "
                    "name with -o, or --force to replace it)")
    assert (project / "schedule.toml").read_bytes() == before
    (project / "cards").mkdir()
    (project / "cards" / "notes.txt").write_text("mine", encoding="utf-8")
    first = run(project, "pack", "-o", "out/pack.zip", "--formats", "square")
    assert first.returncode == 0 and "created the folder out" in first.stdout
    mode = stat.S_IMODE((project / "out" / "pack.zip").stat().st_mode)
    assert mode == 0o666 & ~current_umask()  # for sharing, like any file the user makes
    assert run(project, "pack", "-o", "out/pack.zip", "--formats", "square").returncode == 0  # its own: replaced
    quote_id = "tackling-discrimination-legal-operational"
    (project / "cards" / f"{quote_id}-square.png").write_bytes(b"a drawing of mine")
    line = one_line(run(project, "render", quote_id, "-o", "cards"), ExitStatus.USAGE)
    assert line.startswith(f"cards/{quote_id}-square.png exists and is not a card: publisher will not replace it")
    assert run(project, "render", quote_id, "-o", "cards", "--force").returncode == 0
    assert (project / "cards" / "notes.txt").read_text("utf-8") == "mine"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_import_keeps_the_collection_mode_and_writes_through_a_symlink(project: Path, tmp_path: Path) -> None:
    real = tmp_path / "shared-quotes" / "caseyreview.toml"
    real.parent.mkdir()
    real.write_bytes((project / "quotes" / "caseyreview.toml").read_bytes())
    real.chmod(0o664)
    link = project / "quotes" / "caseyreview.toml"
    link.unlink()
    link.symlink_to(real)
    lines = tmp_path / "more.txt"
    lines.write_text('"A new quote about the Met and its culture" #CaseyReview\n', encoding="utf-8")
    done = run(project, "import", str(lines), "--collection", "caseyreview")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o664
    assert "A new quote about the Met" in real.read_text("utf-8")


def test_captions_csv_neutralises_spreadsheet_formulas(project: Path) -> None:
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace(
        'text = "Londoners see and rely on frontline officers',
        'text = "=HYPERLINK(\\"http://evil.example\\") Londoners see and rely on frontline officers'),
        encoding="utf-8")
    assert run(project, "pack", "-o", "p.zip", "--formats", "square").returncode == 0
    captions = zipfile.ZipFile(project / "p.zip").read("captions.csv").decode("utf-8-sig")
    assert "'=HYPERLINK(" in captions and ',=HYPERLINK' not in captions


# -- secrets checked before posting ---------------------------------------------------------------------------

BLUESKY = """[defaults]
timezone = "Europe/London"

[accounts.bsky]
platform = "bluesky"
handle = "me.example.org"
service = "SERVICE"

[[campaigns]]
name = "daily"
collection = "caseyreview"
accounts = ["bsky"]
"""


def test_missing_secrets_are_found_before_posting(project: Path) -> None:
    (project / "schedule.toml").write_text(BLUESKY.replace("SERVICE", "http://127.0.0.1:9"), encoding="utf-8")
    checked = run(project, "validate")
    assert checked.returncode == 0 and checked.stdout.startswith("OK: ")
    assert checked.stderr == ("warning: account bsky: PUBLISHER_BSKY_APP_PASSWORD not set in the environment, so "
                              "posting to it fails until it is\n")
    assert one_line(run(project, "validate", "--strict"), ExitStatus.NO_CREDENTIALS).startswith(
        "account bsky: PUBLISHER_BSKY_APP_PASSWORD not set in the environment")
    line = one_line(run(project, "run", "--once"), ExitStatus.NO_CREDENTIALS)
    assert line.startswith("publisher run needs the credentials of every enabled campaign's accounts: account bsky: "
                           "PUBLISHER_BSKY_APP_PASSWORD not set (export them")
    added = run(project, "queue", "add", "--now")
    assert added.returncode == 0 and added.stderr == (
        "warning: account bsky: PUBLISHER_BSKY_APP_PASSWORD not set in the environment: nothing of thread 1 is "
        "posted until it is\n")
    line = one_line(run(project, "post"), ExitStatus.NO_CREDENTIALS)  # checked before anything is sent
    assert line == ("nothing was posted: the threads due now need the credentials of every account they post to: "
                    "account bsky: PUBLISHER_BSKY_APP_PASSWORD not set (export them, then run publisher post again; or "
                    "publisher queue hold 1 to post the others)")
    assert store_rows(project, "SELECT state FROM parts") == [("pending",)]
    # with the secret set, a server that cannot be reached is told apart from a wrong password, and not counted
    line = one_line(run(project, "login", "bluesky", "bsky", env={"PUBLISHER_BSKY_APP_PASSWORD": "pw-abcdef-123"}),
                    ExitStatus.NETWORK)
    assert line.startswith("could not connect to Bluesky at 127.0.0.1:9 (ConnectError: ")
    assert line.endswith("(check the service URL in schedule.toml and the network)")
    assert store_rows(project, "SELECT COUNT(*) FROM logins") == [(0,)]
    assert one_line(run(project, "login", "x", "bsky"), ExitStatus.USAGE) == (
        'account "bsky" is a Bluesky account, not x (publisher login bluesky bsky)')


def test_wrong_password_and_the_daily_login_cap(project: Path, pds: Any) -> None:
    handle, _, _ = pds.create_account("wrongpw")
    (project / "schedule.toml").write_text(BLUESKY.replace("SERVICE", pds.url).replace("me.example.org", handle),
                                           encoding="utf-8")
    env = {"PUBLISHER_BSKY_APP_PASSWORD": "not-the-password-1"}
    line = one_line(run(project, "login", "bluesky", "bsky", env=env), ExitStatus.AUTH)
    assert line.startswith(f"Bluesky at {pds.url.removeprefix('http://')} refused the app password")
    assert store_rows(project, "SELECT COUNT(*) FROM logins") == [(1,)]  # the server saw it: it counts
    with sqlite3.connect(project / "state" / "publisher.db") as db:
        db.executemany("INSERT INTO logins (account, at) VALUES ('bsky', ?)",
                       [("2099-01-01T00:00:00+00:00",)] * 9)  # ten in the last day (and then some)
    line = one_line(run(project, "login", "bluesky", "bsky", env=env), ExitStatus.AUTH)
    assert "has logged in 10 times in 24 hours" in line and "the next login is possible after " in line


# -- validate means postable; text hygiene; remote http ---------------------------------------------------------

def test_validate_finds_a_quote_that_cannot_be_made(project: Path) -> None:
    path = project / "quotes" / "caseyreview.toml"
    long_text = " ".join(["accountability"] * 120)  # within the 2,000 characters a quote may have
    path.write_text(path.read_text("utf-8").replace(
        'text = "Londoners see and rely on frontline officers the most day to day, but these officers feel '
        'demoralised and let down by their leaders."', f'text = "{long_text}"'), encoding="utf-8")
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + 'format = "landscape"\nsplit = true\n',
                                           encoding="utf-8")
    line = one_line(run(project, "validate"), ExitStatus.CONFIG)
    assert line.startswith("quotes/caseyreview.toml:24: quotes[1].text: does not fit the landscape card of campaign "
                           "\"daily\" at the theme's minimum of 40 px (shorten it by more than ")
    # queued anyway: that quote is passed over, with a line saying so, and the campaign moves on
    first = run(project, "queue", "add", "--now")
    assert first.returncode == 0 and first.stderr == ""
    second = run(project, "queue", "add", "--now")
    assert second.returncode == 0
    assert second.stderr.startswith("warning: campaign daily: quote londoners-see-rely-frontline-officers is passed "
                                    'over: quote "londoners-see-rely-frontline-officers" does not fit the landscape')
    assert [json.loads(ids) for (ids,) in store_rows(project, "SELECT quote_ids FROM threads ORDER BY id")] == [
        ["tackling-discrimination-legal-operational"], ["misconduct-process-not-fit-purpose"]]
    assert "passed over" in run(project, "status").stdout


@pytest.mark.parametrize(("text", "message"), [
    ("\\u200b\\u200c\\u2060", "has only invisible characters"),
    ("A quote with a NUL \\u0000 in it", "contains the control character U+0000"),
    ("Reversed \\u202eevil text", "contains the bidi control character U+202E"),
    ("Isolated \\u2066text\\u2069", "contains the bidi control character U+2066"),
], ids=["invisible", "nul", "bidi-override", "bidi-isolate"])
def test_text_that_would_mislead_is_refused(project: Path, text: str, message: str) -> None:
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace(
        'text = "Londoners see and rely on frontline officers the most day to day, but these officers feel '
        'demoralised and let down by their leaders."', f'text = "{text}"'), encoding="utf-8")
    line = one_line(run(project, "validate"), ExitStatus.CONFIG)
    assert line.startswith("quotes/caseyreview.toml:") and "quotes[1].text: " + message in line


def test_handles_and_remote_http_are_checked(project: Path) -> None:
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace('"@metpoliceuk" = ""', '"@metpoliceuk" = "not a handle"'),
                    encoding="utf-8")
    assert "collection.bluesky_handles.\"@metpoliceuk\": \"not a handle\" is not a Bluesky handle" in one_line(
        run(project, "validate", "quotes/caseyreview.toml"), ExitStatus.CONFIG)
    (project / "schedule.toml").write_text(BLUESKY.replace("SERVICE", "http://pds.example.org"), encoding="utf-8")
    line = one_line(run(project, "validate", "schedule.toml"), ExitStatus.CONFIG)
    assert "is plain http:// to another machine" in line and "use https://" in line


def test_an_escaped_quote_in_a_multiline_string_does_not_hang(project: Path) -> None:
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace('title = "The Casey Review"', 'title = """The \\""" Casey"""'),
                    encoding="utf-8")
    done = run(project, "validate", timeout=30)
    assert done.returncode == 0, done.stderr


# -- logs, secrets, exit statuses, network errors ---------------------------------------------------------------

def test_every_log_line_is_json(project: Path) -> None:
    script = ("import logging, warnings\nfrom publisher import logs\nlogs.setup('json')\n"
              "logging.getLogger('publisher').info('hello')\n"
              "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
              "    logging.getLogger('apscheduler.executors.default').exception('Job \"tick\" raised an exception')\n"
              "warnings.warn('something old')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [e["logger"] for e in entries] == ["publisher", "apscheduler.executors.default", "py.warnings"]
    assert "ZeroDivisionError" in entries[1]["error"]


def x_project(root: Path, fake_x: Any, user: Any) -> dict[str, str]:
    make_project(root, x=True)
    return {**environment(fake_x=fake_x, x_user=user, timeout=2)}


def test_a_secret_echoed_by_a_server_is_never_shown_or_kept(tmp_path: Path, fake_x: Any) -> None:
    user = fake_x.add_user("echo")
    fake_x.faults.append(XFault("/2/tweets", 1, "echo_auth"))
    root = tmp_path / "p"
    env = x_project(root, fake_x, user)
    assert run(root, "queue", "add", "--now", env=env).returncode == 0
    done = run(root, "post", env=env)
    assert done.returncode == ExitStatus.PARTIAL_THREAD
    shown = run(root, "queue", "show", "1", env=env).stdout
    secrets = [env["PUBLISHER_X_ACCESS_TOKEN"], env["PUBLISHER_X_API_KEY"]]
    assert "[secret]" in shown
    everything = done.stdout + done.stderr + shown + (root / "state" / "publisher.db").read_bytes().decode("latin-1")
    assert not any(secret in everything for secret in secrets)


def test_waiting_parts_and_unreadable_answers(tmp_path: Path, fake_x: Any) -> None:
    user = fake_x.add_user("waits")
    fake_x.posts_per_window = 2  # the third post waits for X's rate limit
    root = tmp_path / "p"
    env = x_project(root, fake_x, user)
    assert run(root, "queue", "add", "--now", env=env).returncode == 0
    assert run(root, "run", "--once", env=env).returncode == ExitStatus.RATE_LIMITED
    assert run(root, "post", env=env).returncode == ExitStatus.RATE_LIMITED
    fake_x.posts_per_window = 300
    for kind in ("accept_then_garbage", "accept_then_broken_chunks"):
        other = tmp_path / kind
        other_user = fake_x.add_user(kind[:15])
        other_env = x_project(other, fake_x, other_user)
        fake_x.faults.append(XFault("/2/tweets", fake_x.counts.get("/2/tweets", 0) + 1, kind))
        assert run(other, "queue", "add", "--now", env=other_env).returncode == 0
        done = run(other, "post", env=other_env)
        assert "unexpected" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 0, done.stdout + done.stderr  # the answer landed: found, not sent twice
        assert len(other_user.tweets) == 5


def test_store_errors_name_the_store_and_the_fix(tmp_path: Path) -> None:
    from publisher.errors import StoreBusy
    from publisher.store import Store, StoreUnusable, store_problem

    path = tmp_path / "state" / "publisher.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("INSERT INTO events (at, level, message) VALUES ('x', 'info', 'y')")
    holder.execute("ROLLBACK")
    problem = store_problem(path, locked.value)
    assert isinstance(problem, StoreBusy) and "is locked by another publisher process" in str(problem)
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as written:
        readonly.execute("INSERT INTO events (at, level, message) VALUES ('x', 'info', 'y')")
    problem = store_problem(path, written.value)
    assert isinstance(problem, StoreUnusable) and "is read-only: publisher needs to write it" in str(problem)
    full = store_problem(path, sqlite3.OperationalError("database or disk is full"))
    assert "the disk is full" in str(full) and full.exit_status == ExitStatus.STORE
    denied = store_problem(path, PermissionError(13, "Permission denied"))  # the file is there: its mode
    assert "cannot open it: Permission denied (check its permissions" in str(denied)
    missing = store_problem(tmp_path / "gone" / "publisher.db", PermissionError(13, "Permission denied"))
    assert "check that its folder" in str(missing)


# -- what a probe as a new user found: each case through the real command ----------------------------------------

def test_outputs_are_only_ever_regular_files(project: Path) -> None:
    fifo = project / "pipe.zip"
    os.mkfifo(fifo)
    for args in (["pack", "-o", "pipe.zip"], ["pack", "-o", "pipe.zip", "--force"]):
        line = one_line(run(project, *args, "--formats", "square", timeout=60), ExitStatus.USAGE)
        assert line == ("pipe.zip is a named pipe, not a file: publisher only ever replaces files (give another "
                        "path)")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    (project / "packs").mkdir()
    done = run(project, "pack", "-o", "packs", "--formats", "square")  # a folder: the pack goes in it
    assert done.returncode == 0 and (project / "packs" / "caseyreview-pack.zip").is_file()
    done = run(project, "pack", "-o", "new/", "--formats", "square")  # a folder to be: made, the pack in it
    assert done.returncode == 0 and (project / "new" / "caseyreview-pack.zip").is_file(), done.stderr
    assert done.stdout.startswith("Wrote new/caseyreview-pack.zip: 20 cards; created the folder new."), done.stdout


def test_preview_open_says_when_no_browser_opened_it(project: Path) -> None:
    refused = run(project, "preview", "--open", env={"BROWSER": "false"})  # a browser that fails
    assert refused.returncode == 0 and refused.stderr == (
        "note: no web browser opened it: open preview/index.html in one\n")
    opened = run(project, "preview", "--open", env={"BROWSER": "true"})
    assert opened.returncode == 0 and opened.stderr == ""


def test_preview_and_render_keep_files_that_are_not_theirs(project: Path) -> None:
    site = project / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>my home page</p>", encoding="utf-8")
    line = one_line(run(project, "preview", "-o", "site"), ExitStatus.USAGE)
    assert line.startswith("site/index.html exists and is not a publisher preview: publisher will not replace it")
    assert (site / "index.html").read_text("utf-8") == "<p>my home page</p>"
    assert run(project, "preview", "-o", "fresh").returncode == 0
    assert run(project, "preview", "-o", "fresh").returncode == 0  # its own page: replaced
    quote_id = "tackling-discrimination-legal-operational"
    (project / "cards").mkdir()
    (project / "cards" / f"{quote_id}-square.txt").write_text("my notes", encoding="utf-8")
    line = one_line(run(project, "render", quote_id), ExitStatus.USAGE)
    assert line.startswith(f"cards/{quote_id}-square.txt exists and is not a card's alt text")
    assert (project / "cards" / f"{quote_id}-square.txt").read_text("utf-8") == "my notes"


def test_a_store_of_another_program_or_damaged_mid_file(project: Path) -> None:
    (project / "state").mkdir()
    with sqlite3.connect(project / "state" / "publisher.db") as db:
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance REAL)")
    before = (project / "state" / "publisher.db").read_bytes()
    for command in (["queue", "list"], ["queue", "add", "--now"], ["status"]):
        line = one_line(run(project, *command), ExitStatus.STORE)
        assert line.startswith("state/publisher.db is an SQLite database of another program: publisher will not "
                               "change it"), command
    assert (project / "state" / "publisher.db").read_bytes() == before
    (project / "state" / "publisher.db").unlink()
    assert run(project, "queue", "add", "--now").returncode == 0
    assert run(project, "queue", "add", "--now").returncode == 0
    path = project / "state" / "publisher.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    data = bytearray(path.read_bytes())
    for page in range(1, pages):  # every page but the first (the header), so the file still opens
        data[page * page_size:(page + 1) * page_size] = b"\xde\xad\xbe\xef" * (page_size // 4)
    path.write_bytes(bytes(data))
    for command in (["queue", "list"], ["status"], ["post"]):
        line = one_line(run(project, *command), ExitStatus.STORE)
        assert line.startswith("state/publisher.db is damaged or is not a publisher store"), (command, line)


def test_a_broken_state_path_is_said_by_reading_commands_too(project: Path) -> None:
    (project / "state").write_text("oops", encoding="utf-8")
    for command in (["queue", "list"], ["status"]):
        assert one_line(run(project, *command), ExitStatus.STORE).startswith("state is a file"), command
    (project / "state").unlink()
    (project / "state").mkdir()
    (project / "state" / "publisher.db").symlink_to(project / "elsewhere.db")
    assert one_line(run(project, "queue", "list"), ExitStatus.STORE).startswith(
        "state/publisher.db is a link to ")


def test_pipes_never_hang_a_command(project: Path) -> None:
    os.mkfifo(project / "fifo.toml")
    line = one_line(run(project, "--config", "fifo.toml", "validate", config=False, timeout=20), ExitStatus.CONFIG)
    assert line == "fifo.toml: is not a regular file (a named pipe or a device) (give the path of a TOML file)"
    os.mkfifo(project / "quotes" / "more.toml")
    done = run(project, "validate", timeout=20)
    assert done.returncode == ExitStatus.CONFIG and "quotes/more.toml: is not a regular file" in done.stderr


def test_output_closed_early_or_full(project: Path) -> None:
    head = subprocess.run(f"{sys.executable} -m publisher quotes | head -1; exit ${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", cwd=project, capture_output=True, text=True,
                          timeout=60, check=False)
    assert head.returncode == 0 and head.stderr == "" and head.stdout.startswith("caseyreview:")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "publisher", "quotes"], cwd=project, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert done.returncode == ExitStatus.FILE
    assert done.stderr == "standard output: No space left on device (free some space and run it again)\n"


def test_debug_after_the_command_and_json_error_lines(project: Path) -> None:
    done = run(project, "render", "no-such-quote", "--debug")
    assert done.returncode == ExitStatus.CONFIG and "Traceback" in done.stderr
    assert done.stderr.splitlines()[-1].startswith('no quote "no-such-quote"')
    (project / "schedule.toml").write_text(BLUESKY.replace("SERVICE", "http://127.0.0.1:9"), encoding="utf-8")
    for args in (["run", "--once", "--log-format", "json"], ["--debug", "run", "--once", "--log-format", "json"]):
        failed = run(project, *args)
        assert failed.returncode == ExitStatus.NO_CREDENTIALS
        records = [json.loads(line) for line in failed.stderr.splitlines()]
        assert records[-1]["level"] == "error" and "PUBLISHER_BSKY_APP_PASSWORD" in records[-1]["message"]
        assert ("Traceback" in records[-1].get("error", "")) == ("--debug" in args)


@pytest.mark.parametrize(("edit", "message"), [
    ('background = [1, "#ffffff"]', "colours.background[0]: expected text, got a whole number"),
    ('quote = "Cut.otf"', "assets/fonts/Cut.otf cannot be read as a font: it is cut short, damaged or not a font"),
    ('quote = "NotAFont.ttf"', 'fonts.quote: "NotAFont.ttf" is not a font file FreeType can read'),
    ('quote = "../../schedule.toml"', 'fonts.quote: no font "../../schedule.toml" in assets/fonts/ or '
                                       'publisher\'s bundled fonts (put the file'),
    ('logo = "cut.png"', 'brand.logo: "cut.png" (assets/cut.png) is cut short or damaged'),
    ('logo = "wide.png"', 'brand.logo: "wide.png" (assets/wide.png) is 5000×10 px, more than a logo needs'),
    ('logo = "../schedule.toml"', 'brand.logo: no file "../schedule.toml" in assets/'),
    ('text = "\\u202e{title}"        # {title}', "brand.text: contains the bidi control character U+202E"),
], ids=["numbers-for-colours", "cut-font", "not-a-font", "font-outside", "cut-logo", "huge-logo", "logo-outside",
        "bidi-brand"])
def test_broken_themes_give_one_line(project: Path, edit: str, message: str) -> None:
    from PIL import Image

    fonts = project / "assets" / "fonts"
    shutil.copytree(BUNDLED / "fonts", fonts)
    (fonts / "Cut.otf").write_bytes((BUNDLED / "fonts" / "InterDisplay-SemiBold.otf").read_bytes()[:100_000])
    (fonts / "NotAFont.ttf").write_text("hello", encoding="utf-8")
    (project / "assets" / "cut.png").write_bytes((BUNDLED / "logos" / "mark.png").read_bytes()[:300])
    Image.new("RGBA", (5000, 10)).save(project / "assets" / "wide.png")
    theme = project / "assets" / "themes" / "campaign.toml"
    key = edit.split(" = ")[0]
    lines = theme.read_text("utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = ") and (key != "text" or "{" in line))
    lines[index] = edit
    theme.write_text("\n".join(lines) + "\n", encoding="utf-8")
    line = one_line(run(project, "validate"), ExitStatus.CONFIG)
    assert message in line, line
    render = run(project, "render", "tackling-discrimination-legal-operational", "-o", "out")
    assert render.returncode == ExitStatus.CONFIG and "unexpected" not in render.stderr, render.stderr


def test_import_problems_name_the_import_file(project: Path, tmp_path: Path) -> None:
    source = tmp_path / "incoming" / "new.txt"
    source.parent.mkdir()
    source.write_text('"A fine quote about policing"\n"Reversed \u202eevil text" #tag\n', encoding="utf-8")
    before = (project / "quotes" / "caseyreview.toml").read_bytes()
    line = one_line(run(project, "import", str(source), "--collection", "caseyreview"), ExitStatus.CONFIG)
    assert line.startswith("incoming/new.txt:2: the quote contains the bidi control character U+202E")
    assert (project / "quotes" / "caseyreview.toml").read_bytes() == before
    source.write_text('"A fine quote about policing"\n', encoding="utf-8")
    line = one_line(run(project, "import", str(source), "--collection", "fresh", "--title", "T\u202ex",
                        "--attribution", "A"), ExitStatus.USAGE)
    assert line.startswith("--title contains the bidi control character U+202E")
    assert not (project / "quotes" / "fresh.toml").exists()


def test_templates_and_services_that_mislead(project: Path) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + 'intro = "\\u200b"\n', encoding="utf-8")
    assert "campaigns[0].intro: shows nothing: it would post an empty-looking part" in one_line(
        run(project, "validate"), ExitStatus.CONFIG)
    (project / "schedule.toml").write_text(BLUESKY.replace("SERVICE", "https://me:hunter22@pds.example.org"),
                                           encoding="utf-8")
    line = one_line(run(project, "validate", "schedule.toml"), ExitStatus.CONFIG)
    assert "has a user name or password in it" in line and "hunter22" not in line
    (project / "schedule.toml").write_text(BLUESKY.replace("SERVICE", "HTTPS://pds.example.org"), encoding="utf-8")
    assert run(project, "validate", "schedule.toml").returncode == 0
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE.replace('platform = "outbox"',
                                                                    'platform = "outbox"\napi_key = "x"'),
                                           encoding="utf-8")
    assert one_line(run(project, "validate", "schedule.toml"), ExitStatus.CONFIG).endswith(
        "(delete it: no secret belongs here; an account's secrets go in environment variables that its *_env keys "
        "name, as publisher help schedule says)")


def test_a_bidi_control_in_a_message_is_shown_as_its_code_point(project: Path) -> None:
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace('"@metpoliceuk" = ""', '"@met\\u202epoliceuk" = ""'),
                    encoding="utf-8")
    line = one_line(run(project, "validate", "quotes/caseyreview.toml"), ExitStatus.CONFIG)
    assert "\u202e" not in line and "<U+202E>" in line


# -- a second probe: stores, signals, schedules and paths ----------------------------------------------------------

def test_a_foreign_database_in_wal_mode_or_with_a_version_is_left_byte_for_byte(project: Path) -> None:
    path = project / "state" / "publisher.db"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA user_version = 2")
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    # the -wal holds the rows (the connection stays open); the -shm is only an index of it, shared in memory
    before = {p.name: p.read_bytes() for p in path.parent.iterdir() if not p.name.endswith("-shm")}
    for command in (["queue", "list"], ["queue", "add", "--now"], ["post"], ["run", "--once"]):
        assert one_line(run(project, *command), ExitStatus.STORE).startswith(
            "state/publisher.db is an SQLite database of another program"), command
    assert {p.name: p.read_bytes() for p in path.parent.iterdir() if p.name in before} == before
    assert sorted(p.name for p in path.parent.iterdir() if p.suffix == ".db" or p.name.endswith("-wal")) == \
        sorted(before)
    db.close()


def test_a_damaged_store_stops_run_once_and_a_damaged_card_is_never_posted(project: Path) -> None:
    assert run(project, "queue", "add", "--now").returncode == 0
    path = project / "state" / "publisher.db"
    with sqlite3.connect(path) as db:
        db.execute("UPDATE images SET png = substr(png, 1, 2000)")  # a card cut short on disk
    line = one_line(run(project, "post"), ExitStatus.STORE)
    assert "a card stored for posting is damaged or missing" in line
    assert not (project / "outbox").exists() or not list((project / "outbox").rglob("*.json"))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size, pages = (db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_size", "page_count"))
    data = bytearray(path.read_bytes())
    for page in range(1, pages):
        data[page * page_size:(page + 1) * page_size] = b"\xde\xad\xbe\xef" * (page_size // 4)
    path.write_bytes(bytes(data))
    assert one_line(run(project, "run", "--once"), ExitStatus.STORE).startswith(
        "state/publisher.db is damaged or is not a publisher store")


def test_sigterm_finishes_the_part_in_flight_and_exits_143(project: Path) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + 'quotes_per_thread = 3\nintro = "Thread {thread_number}"'
                                           '\noutro = "The end of {thread_number}"\n', encoding="utf-8")
    assert run(project, "queue", "add", "--now").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    poster = subprocess.Popen([sys.executable, "-m", "publisher", "post"], cwd=project, text=True,
                              env={**env, "PUBLISHER_PAUSE_AT": "outbox:create:after#2"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    posts = project / "outbox" / "local" / "posts"
    deadline = time.monotonic() + 60
    while len(list(posts.glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # stopped (SIGSTOP) just after writing the second post
    poster.send_signal(signal.SIGTERM)
    poster.send_signal(signal.SIGCONT)
    out, err = poster.communicate(timeout=60)
    assert poster.returncode == ExitStatus.TERMINATED, (out, err)
    assert err.strip().splitlines() == ["stopped by SIGTERM after the part in flight: publisher post goes on from "
                                        "there when run again"]
    assert len(list(posts.glob("*.json"))) == 2
    assert run(project, "post").returncode == 0
    assert len(list(posts.glob("*.json"))) == 5  # the rest, and nothing twice


@pytest.mark.parametrize(("line", "message"), [
    ('outro = "Read it ({date:%Y})"', "campaigns[0].outro: {date:%Y} has a format or conversion"),
    ('intro = "{thread_number:>3999999999}"', "campaigns[0].intro: {thread_number:>3999999999} has a format"),
    ("end = 9999-12-31", "campaigns[0].end: 9999-12-31 is outside the years publisher schedules"),
    ("once = [9999-12-31T23:59:59]", "campaigns[0].once[0]: 9999-12-31 is outside the years"),
    ('max_lateness = "900d"', 'campaigns[0].max_lateness: "900d" is longer than a year'),
    ('cron = "30 8 31 2 *"', 'campaigns[0].cron: "30 8 31 2 *" never fires: no month has that day'),
], ids=["format-spec", "huge-width", "end-9999", "once-9999", "lateness", "never-fires"])
def test_schedule_values_that_would_fail_or_hang_later(project: Path, line: str, message: str) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + line + "\n", encoding="utf-8")
    assert message in one_line(run(project, "validate", timeout=60), ExitStatus.CONFIG)


def test_service_urls_that_cannot_be_used(project: Path) -> None:
    for service, message in (("https://127.0.0.1:99999", "Port out of range"),
                             ("https://xn--.com", "Malformed A-label"),
                             ("https://[::1", "Invalid IPv6 URL")):
        (project / "schedule.toml").write_text(BLUESKY.replace("SERVICE", service), encoding="utf-8")
        line = one_line(run(project, "validate", "schedule.toml"), ExitStatus.CONFIG)
        assert "is not a usable URL" in line and message in line and line.endswith('(e.g. "https://bsky.social")')


def test_an_outbox_that_cannot_be_written_is_the_parts_problem(project: Path) -> None:
    (project / "outbox").write_text("a file where the outbox folder goes", encoding="utf-8")
    assert run(project, "queue", "add", "--now").returncode == 0
    done = run(project, "post")
    assert done.returncode == ExitStatus.PARTIAL_THREAD and "unexpected" not in done.stderr + done.stdout
    shown = run(project, "queue", "show", "1").stdout
    assert "the outbox cannot write" in shown and "check the directory of [accounts.local]" in shown


def test_editor_files_and_odd_names_beside_collections(project: Path) -> None:
    (project / "quotes" / ".#caseyreview.toml").symlink_to("root@host.1234:1700000000")  # Emacs's lock
    (project / "assets" / "themes" / ".campaign.toml.swp").write_bytes(b"\x00vim swap")
    assert run(project, "validate").returncode == 0
    assert run(project, "quotes").returncode == 0
    (project / "quotes" / "Café.toml").write_text('[collection]\nname = "cafe"\ntitle = "T"\nattribution = "A"\n\n'
                                                 '[[quotes]]\nid = "q"\ntext = "A quote"\n', encoding="utf-8")
    line = one_line(run(project, "validate"), ExitStatus.CONFIG)
    assert line == ('quotes/Café.toml: "Café.toml" is not a collection file name (rename it to cafe.toml: lowercase '
                    "letters, digits and hyphens, as the collection's name)")


def test_output_paths_that_are_not_folders(project: Path) -> None:
    os.mkfifo(project / "pipe")
    assert one_line(run(project, "preview", "-o", "pipe"), ExitStatus.USAGE) == (
        "-o pipe is a named pipe, not a folder: give a folder")
    assert one_line(run(project, "render", "-o", "pipe"), ExitStatus.USAGE) == (
        "-o pipe is a named pipe, not a folder: give a folder")
    (project / "site").mkdir()
    (project / "site" / "cards").write_text("x", encoding="utf-8")
    assert one_line(run(project, "preview", "-o", "site"), ExitStatus.USAGE) == (
        "site/cards is a file, not a folder: give a folder")
    (project / "dangling.zip").symlink_to(project / "nowhere" / "p.zip")
    assert "whose folder is not there" in one_line(run(project, "pack", "-o", "dangling.zip", "--formats",
                                                       "square", "--force"), ExitStatus.USAGE)


def test_a_secret_echoed_in_another_case_is_masked_too() -> None:
    from publisher.redact import redact, register

    register("Sup3rSecretPw-xyz1")
    assert redact("login failed for SUP3RSECRETPW-XYZ1 and sup3rsecretpw-xyz1") == \
        "login failed for [secret] and [secret]"


def test_a_bluesky_server_answering_what_is_not_json(tmp_path: Path) -> None:
    """A server (or a captive portal in front of it) that answers 200 with a body that is not JSON: one line,
    the part waits, and the thread's other account posts regardless."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotJson(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"{not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotJson)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = make_project(tmp_path / "p", bluesky=(f"http://127.0.0.1:{server.server_address[1]}", "a.test"))
        schedule = root / "schedule.toml"
        schedule.write_text(schedule.read_text("utf-8").replace('accounts = ["bsky"]', 'accounts = ["bsky", "local"]')
                            + '\n[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
        env = environment(bluesky_password="not-json-pass-1234")
        line = one_line(run(root, "login", "bluesky", "bsky", env=env), ExitStatus.NETWORK)
        assert "gave an answer publisher could not read" in line
        assert run(root, "queue", "add", "--now", env=env).returncode == 0
        done = run(root, "post", env=env)
        assert "unexpected" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert done.returncode == ExitStatus.RATE_LIMITED, done.stdout + done.stderr  # its parts wait
        assert len(list((root / "outbox" / "local" / "posts").glob("*.json"))) == 5  # the other account posted
    finally:
        server.shutdown()
        server.server_close()


def test_an_x_server_that_cannot_be_reached_is_named(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", x=True)
    secrets = {f"PUBLISHER_X_{key}": f"closed-port-{key.lower()}" for key in
               ("API_KEY", "API_SECRET", "ACCESS_TOKEN", "ACCESS_TOKEN_SECRET")}
    USED_SECRETS.extend([secrets["PUBLISHER_X_API_SECRET"], secrets["PUBLISHER_X_ACCESS_TOKEN_SECRET"]])
    line = one_line(run(root, "login", "x", "x", env={**secrets, "PUBLISHER_X_API_BASE": "http://127.0.0.1:9"}),
                    ExitStatus.NETWORK)
    assert line.startswith("could not reach X at 127.0.0.1:9 (ConnectionError)"), line
    assert "PUBLISHER_X_API_BASE" in line


def test_a_bluesky_server_that_hangs_up_is_not_called_unreachable(tmp_path: Path) -> None:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:  # accept, read the request, close without a word
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(65536)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        root = make_project(tmp_path / "p", bluesky=(f"http://127.0.0.1:{port}", "a.test"))
        line = one_line(run(root, "login", "bluesky", "bsky", env=environment(bluesky_password="hang-up-pass-5678")),
                        ExitStatus.NETWORK)
        assert line.startswith(f"the connection to Bluesky at 127.0.0.1:{port} broke off (RemoteProtocolError"), line
    finally:
        listener.close()


def test_packs_refuse_a_users_zip_an_empty_pack_and_odd_worker_counts(project: Path) -> None:
    import zipfile

    with zipfile.ZipFile(project / "mine.zip", "w") as mine:  # a user's ZIP that happens to hold a captions.csv
        mine.writestr("captions.csv", "a,b\n")
        mine.writestr("thesis.docx", "years of work")
    before = (project / "mine.zip").read_bytes()
    line = one_line(run(project, "pack", "--formats", "square", "-o", "mine.zip"), ExitStatus.USAGE)
    assert "mine.zip exists and is not an image pack" in line and (project / "mine.zip").read_bytes() == before
    long_text = " ".join(["Accountability requires sustained scrutiny of every part of the organisation."] * 12)
    (project / "quotes" / "caseyreview.toml").write_text(
        (project / "quotes" / "caseyreview.toml").read_text("utf-8").split("[[quotes]]")[0]
        + f'[[quotes]]\nid = "far-too-long"\ntext = "{long_text}"\n', encoding="utf-8")
    done = run(project, "pack", "--formats", "landscape", "--skip-failing", "-o", "empty.zip")
    assert done.returncode == ExitStatus.CONFIG and "no card could be made, so no pack was written" in done.stderr
    assert not (project / "empty.zip").exists()
    line = one_line(run(project, "pack", "-o", "w.zip", env={"PUBLISHER_WORKERS": "²"}), ExitStatus.USAGE)
    assert line.startswith("PUBLISHER_WORKERS='²' is not a number of processes")
