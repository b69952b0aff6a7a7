"""Every mistake, fault and missing secret gets a one-line answer with a specific exit status, through the real
command in a subprocess; nothing is lost or overwritten, and no secret leaks."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import MINIMAL_SCHEDULE, REPO, store_rows
from fakes.x_api import XFault
from posting_project import environment, make_project
from publisher.errors import ExitStatus


def run(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
        config: bool = True) -> subprocess.CompletedProcess[str]:
    """The publisher command, in ``root``, as a user runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    command = [sys.executable, "-m", "publisher", *(["--config", "schedule.toml"] if config else []), *args]
    return subprocess.run(command, cwd=root, env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, check=False)


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
    assert line.startswith("state/publisher.db is damaged or is not a publisher store (file is not a database): "
                           "move it aside and restore a backup")
    (project / "state" / "publisher.db").unlink()
    assert run(project, "queue", "add", "--now").returncode == 0
    with sqlite3.connect(project / "state" / "publisher.db") as db:
        db.execute("PRAGMA user_version = 99")
    line = one_line(run(project, "status"), ExitStatus.STORE)
    assert line == ("state/publisher.db was written by a newer publisher (schema 99; this one knows up to 3): "
                    "upgrade publisher")


def test_a_state_folder_that_is_a_file(project: Path) -> None:
    (project / "state").write_text("oops", encoding="utf-8")
    line = one_line(run(project, "queue", "add", "--now"), ExitStatus.STORE)
    assert line == ("state is a file, where publisher keeps its state folder: move it aside, or set [paths] state "
                    "in schedule.toml to another folder")
    assert one_line(run(project, "post"), ExitStatus.STORE) == line


def test_bad_values_on_the_command_line_and_in_the_environment(project: Path, tmp_path: Path) -> None:
    assert one_line(run(project, "queue", "show", "99999999999999999999"), ExitStatus.USAGE).startswith(
        "Error: Invalid value for 'THREAD_ID': 99999999999999999999 is not in the range")
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
                "schedule.toml), or give --config PATH")
    for command in (["validate"], ["quotes"], ["render"], ["preview"], ["pack"], ["queue", "list"], ["post"],
                    ["status"], ["run", "--once"], ["login", "x", "x"], ["import", "f.txt", "--collection", "c"]):
        assert one_line(run(tmp_path, *command, config=False), ExitStatus.CONFIG) == expected, command
    line = one_line(run(tmp_path.parent, "--config", str(tmp_path), "validate", config=False), ExitStatus.CONFIG)
    assert line.startswith(f"{tmp_path} is a folder, not a schedule:")


# -- never overwrite what isn't ours ----------------------------------------------------------------------------

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
    assert checked.stderr == ("warning: account bsky: PUBLISHER_BSKY_APP_PASSWORD not set in the environment (names "
                              "only; posting to it fails until it is)\n")
    assert one_line(run(project, "validate", "--strict"), ExitStatus.NO_CREDENTIALS).startswith(
        "account bsky: PUBLISHER_BSKY_APP_PASSWORD not set in the environment")
    line = one_line(run(project, "run", "--once"), ExitStatus.NO_CREDENTIALS)
    assert line.startswith("publisher run needs the credentials of every enabled campaign's accounts: account bsky: "
                           "PUBLISHER_BSKY_APP_PASSWORD not set (export them")
    added = run(project, "queue", "add", "--now")
    assert added.returncode == 0 and added.stderr == (
        "warning: account bsky: PUBLISHER_BSKY_APP_PASSWORD not set in the environment: its posts will fail until "
        "it is (then publisher queue retry 1)\n")
    posted = run(project, "post")
    assert posted.returncode == ExitStatus.PARTIAL_THREAD
    shown = run(project, "queue", "show", "1").stdout
    assert "error: account bsky: PUBLISHER_BSKY_APP_PASSWORD is not set in the environment" in shown
    assert ("fix: export PUBLISHER_BSKY_APP_PASSWORD with an app password of me.example.org; then publisher queue "
            "retry 1") in shown
    # with the secret set, a server that cannot be reached is told apart from a wrong password, and not counted
    line = one_line(run(project, "login", "bluesky", "bsky", env={"PUBLISHER_BSKY_APP_PASSWORD": "pw-abcdef-123"}),
                    ExitStatus.NETWORK)
    assert line.startswith("could not connect to Bluesky at 127.0.0.1:9 (ConnectError: ")
    assert line.endswith("(check the service URL in schedule.toml and the network)")
    assert store_rows(project, "SELECT COUNT(*) FROM logins") == [(0,)]
    assert one_line(run(project, "login", "x", "bsky"), ExitStatus.USAGE) == (
        'account "bsky" is a bluesky account, not x (publisher login bluesky bsky)')


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
    long_text = " ".join(["accountability"] * 160)
    path.write_text(path.read_text("utf-8").replace(
        'text = "Londoners see and rely on frontline officers the most day to day, but these officers feel '
        'demoralised and let down by their leaders."', f'text = "{long_text}"'), encoding="utf-8")
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + 'format = "landscape"\nsplit = true\n',
                                           encoding="utf-8")
    line = one_line(run(project, "validate"), ExitStatus.CONFIG)
    assert line.startswith("schedule.toml:11: campaigns[0].format: daily: quote \"londoners-see-rely-frontline-"
                           "officers\" does not fit the landscape card at the theme's minimum")
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
