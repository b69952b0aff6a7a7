"""The kill matrix: a 5-part image thread to Bluesky (the reference PDS) and X (the fake), its poster SIGKILLed at
a step boundary, then restarted until done. Every time: exactly 5 posts per platform, correctly chained, no
duplicates, and the store says posted.

Three lists of kill points, each what a reference run passes, in that order:

- tests/data/kill-points.txt: every checkpoint of a clean `publisher post`;
- tests/data/kill-points-errors.txt: the error and reconciliation paths, which a clean run never takes. The
  reference run meets faults (``arm_faults``): Bluesky drops its answer to a record it wrote, and answers 500 to
  one it did not; X resets the connection after making a post, and answers 500 to one it did not make, so the
  search finds nothing too soon to trust it and the part waits (the store records the outcome). The points are
  each search and what follows it up to the store's next record (found, waiting, or another attempt begun); a
  line's first field is the run (1: the run with the faults; 2: the next, which searches again once the wait is
  over and sends the part again);
- tests/data/kill-points-daemon.txt: `publisher run` (the daemon, with the thread due now) with the same faults,
  killed at the first visit of every checkpoint name its poster passes, restarted as `publisher run` until the
  thread is posted, then stopped with SIGTERM (exit 0).

One test case per kill point, so one failure never hides the rest; the cases share one PDS, one fake X, one
fault proxy in front of the PDS and one queued store, copied for each (new accounts each), and run in parallel
(pytest-xdist). The faults are armed afresh for each case, relative to the requests the servers have seen, and
only for the run that is killed (and, for a run-2 point, the run before it): restarts meet healthy servers.
Runs are children of a fork server (tests/forkserver.py) that has imported publisher once: real processes,
really killed, without 2 s of imports each; the clean coverage test runs `python -m publisher` itself. Refresh
the lists after changing the engine's checkpoints:
``REFRESH_KILL_POINTS=1 .venv/bin/python -m pytest tests/test_kill_matrix.py -k covers``.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from forkserver import ForkedProcess, ForkServer

from conftest import DATA, wait_for
from fakes.fault_proxy import Fault, FaultProxy
from fakes.x_api import FakeXAPI, XFault
from posting_project import environment, make_project
from publisher.app import Project
from publisher.errors import ExitStatus
from test_posting import check_bluesky_thread, check_x_thread

KILL_POINTS_FILE = DATA / "kill-points.txt"
ERROR_POINTS_FILE = DATA / "kill-points-errors.txt"
DAEMON_POINTS_FILE = DATA / "kill-points-daemon.txt"


def kill_points(path: Path) -> list[list[str]]:
    """Each line's fields (empty before the first refresh)."""
    return [line.split() for line in path.read_text("utf-8").splitlines()] if path.exists() else []


KILL_POINTS = [point for (point,) in kill_points(KILL_POINTS_FILE)]
ERROR_POINTS = [(run, point) for run, point in kill_points(ERROR_POINTS_FILE)]
DAEMON_POINTS = [point for (point,) in kill_points(DAEMON_POINTS_FILE)]
TEMPLATE_HANDLE = "template-handle.test"
MARKER = "(kill)"
PUT_RECORD, TWEETS = "/xrpc/com.atproto.repo.putRecord", "/2/tweets"
# X shows a post at once here; publisher is told it may take 2 s, so a search that misses a post waits that long
SLOW_TIMELINE = {"PUBLISHER_X_TIMELINE_LAG": "2"}
POSTER_STEPS = {"bluesky": ("upload", "create", "find"), "x": ("upload", "create", "find"),
                "store": ("thread", "begin", "posted", "outcome")}
POSTER_NAMES = {f"{where}:{step}:{when}" for where, steps in POSTER_STEPS.items() for step in steps
                for when in ("before", "after")}  # every checkpoint the poster has (the outbox's aside)

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="session")
def x_api() -> Iterator[FakeXAPI]:
    api = FakeXAPI()
    api.url = api.start()  # type: ignore[attr-defined]
    yield api
    api.stop()


@pytest.fixture(scope="session")
def bluesky_proxy(pds: Any) -> Iterator[FaultProxy]:
    """The PDS behind a proxy that can drop or refuse a request (tests/fakes/fault_proxy.py)."""
    proxy = FaultProxy(pds.url)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def queued_template(tmp_path_factory: pytest.TempPathFactory, pds: Any) -> Path:
    """A project with the thread already queued (cards rendered once): each case copies it."""
    root = tmp_path_factory.mktemp("kill-template") / "project"
    make_project(root, bluesky=(pds.url, TEMPLATE_HANDLE), x=True, campaign="kill")
    Project(root / "schedule.toml").queue_add("kill", now=True)
    return root


@pytest.fixture
def faults(bluesky_proxy: FaultProxy, x_api: FakeXAPI) -> Iterator[None]:
    """Whatever a case armed is disarmed when it ends, so it can never fire in the next case."""
    yield
    disarm(bluesky_proxy, x_api)


def arm_faults(proxy: FaultProxy, x_api: FakeXAPI) -> None:
    """The next thread's Bluesky part 2 is written but its answer dropped, part 3 is refused with a 500 before
    it reaches the PDS; its X part 2 is made but the connection reset, part 4 refused with a 500 unmade."""
    put, tweets = proxy.counts.get(PUT_RECORD, 0), x_api.counts.get(TWEETS, 0)
    proxy.faults[:] = [Fault(PUT_RECORD, put + 2, "drop_after"), Fault(PUT_RECORD, put + 3, "500")]
    x_api.faults[:] = [XFault(TWEETS, tweets + 2, "accept_then_reset"), XFault(TWEETS, tweets + 4, "500")]


def disarm(proxy: FaultProxy, x_api: FakeXAPI) -> None:
    proxy.faults.clear()
    x_api.faults.clear()


def setup_run(root: Path, template: Path, pds: Any, x_api: FakeXAPI, name: str,
              service: str | None = None) -> tuple[dict[str, str], str, Any]:
    """A copy of the queued template for new accounts (Bluesky through ``service``, if given); its environment,
    the Bluesky DID and the X user."""
    handle, did, password = pds.create_account(name)
    user = x_api.add_user(name.replace("-", "_"))
    shutil.copytree(template, root, symlinks=True)
    schedule = root / "schedule.toml"
    text = schedule.read_text("utf-8").replace(TEMPLATE_HANDLE, handle)
    schedule.write_text(text.replace(pds.url, service) if service else text, encoding="utf-8")
    env = {**os.environ, **environment(bluesky_password=password, fake_x=x_api, x_user=user)}
    for key in ("PUBLISHER_KILL_AT", "PUBLISHER_CHECKPOINT_LOG", "PUBLISHER_PAUSE_AT"):
        env.pop(key, None)
    env["PUBLISHER_X_TIMELINE_LAG"] = "0"  # the fake shows a post at once: a search that misses it is final
    return env, did, user


def run_post(root: Path, env: dict[str, str], forks: ForkServer | None = None) -> subprocess.CompletedProcess[str]:
    """`publisher post` in a new process: a fresh interpreter, or a child of the fork server (the same but for
    the imports, which are most of its start-up)."""
    argv = ["--config", str(root / "schedule.toml"), "post"]
    if forks is not None:
        done = forks.run(argv, env, root)
    else:
        done = subprocess.run([sys.executable, "-m", "publisher", *argv], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    keep_output(root, done.stdout + done.stderr)
    return done


def keep_output(root: Path, output: str) -> None:
    with (root / "runs.log").open("a", encoding="utf-8") as log:  # kept for the secrets scan (conftest.py)
        log.write(output)


def store_states(root: Path) -> tuple[str, list[str]]:
    db = sqlite3.connect(root / "state" / "publisher.db")
    thread = db.execute("SELECT state FROM threads").fetchone()[0]
    parts = [row[0] for row in db.execute("SELECT state FROM parts ORDER BY account, position")]
    db.close()
    return thread, parts


def nothing_waits(root: Path) -> bool:
    """No part still to post waits for a time to come (after a search too soon to trust, say)."""
    db = sqlite3.connect(root / "state" / "publisher.db")
    waits = [row[0] for row in db.execute("SELECT not_before FROM parts WHERE state != 'posted' AND not_before "
                                          "IS NOT NULL")]
    db.close()
    return all(datetime.fromisoformat(moment) <= datetime.now(UTC) for moment in waits)


def post_until_done(root: Path, env: dict[str, str], forks: ForkServer) -> subprocess.CompletedProcess[str]:
    """`publisher post` again, each time once nothing waits, until it has posted the thread (at most 4 runs)."""
    for _ in range(4):
        assert wait_for(lambda: nothing_waits(root), 30)
        done = run_post(root, env, forks)
        if done.returncode == 0:
            break
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done


def posted_exactly_once(root: Path, pds: Any, did: str, user: Any) -> None:
    check_bluesky_thread(pds, did, MARKER)
    check_x_thread(user, MARKER)
    assert store_states(root) == ("posted", ["posted"] * 10)


def reconciliation(log: list[str]) -> list[str]:
    """The checkpoints from each search for a post whose outcome was unknown to what the store records next (the
    post found, the part waiting, or another attempt begun)."""
    chosen, inside = [], False
    for label in log:
        name = label.split("#")[0]
        inside = inside or name.endswith(":find:before")
        if inside:
            chosen.append(label)
        if name.startswith("store:") and name.endswith(":after"):
            inside = False
    return chosen


def first_visits(log: list[str]) -> list[str]:
    return [label for label in log if label.endswith("#1")]


# -- a clean `publisher post` ----------------------------------------------------------------------------------

def test_the_matrix_covers_every_boundary(tmp_path: Path, pds: Any, x_api: FakeXAPI,
                                          queued_template: Path) -> None:
    """A clean run passes exactly the listed kill points, in order, and they cover every kind of step."""
    env, did, user = setup_run(tmp_path / "reference", queued_template, pds, x_api, "reference")
    log = tmp_path / "checkpoints.log"
    done = run_post(tmp_path / "reference", {**env, "PUBLISHER_CHECKPOINT_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    posted_exactly_once(tmp_path / "reference", pds, did, user)
    reached = log.read_text().split()
    if os.environ.get("REFRESH_KILL_POINTS"):
        KILL_POINTS_FILE.write_text("\n".join(reached) + "\n", encoding="utf-8")
    assert reached == KILL_POINTS, "the engine's checkpoints changed: refresh tests/data/kill-points.txt"
    names = {point.split("#")[0] for point in KILL_POINTS}
    assert POSTER_NAMES - names == {"bluesky:find:before", "bluesky:find:after", "x:find:before", "x:find:after",
                                    "store:outcome:before", "store:outcome:after"}  # never on the clean path
    creates = [p for p in KILL_POINTS if p.startswith(("bluesky:create:before", "x:create:before"))]
    assert len(creates) == 10  # 5 parts on each platform


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_at_this_point_then_restarted(point: str, tmp_path: Path, pds: Any, x_api: FakeXAPI,
                                             queued_template: Path, forks: ForkServer) -> None:
    root = tmp_path / "project"
    env, did, user = setup_run(root, queued_template, pds, x_api, f"k{KILL_POINTS.index(point)}")
    killed = run_post(root, {**env, "PUBLISHER_KILL_AT": point}, forks)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-500:])
    post_until_done(root, env, forks)
    posted_exactly_once(root, pds, did, user)


# -- the error and reconciliation paths -----------------------------------------------------------------------

def test_the_error_matrix_covers_every_search_and_stored_outcome(
        tmp_path: Path, pds: Any, x_api: FakeXAPI, bluesky_proxy: FaultProxy, queued_template: Path,
        forks: ForkServer, faults: None) -> None:
    """A run that meets the faults, then the next run, pass the listed points of their error and reconciliation
    paths, in order: Bluesky's search finds a post once and misses one once (then sends it again), X's finds
    one and misses one too soon to trust (the part waits; the next run searches again and sends it)."""
    root = tmp_path / "reference"
    env, did, user = setup_run(root, queued_template, pds, x_api, "errors", bluesky_proxy.url)
    logs = [tmp_path / "run1.log", tmp_path / "run2.log"]
    arm_faults(bluesky_proxy, x_api)
    first = run_post(root, {**env, **SLOW_TIMELINE, "PUBLISHER_CHECKPOINT_LOG": str(logs[0])}, forks)
    disarm(bluesky_proxy, x_api)
    assert first.returncode == ExitStatus.RATE_LIMITED, first.stderr
    assert "bsky: 5/5 posted" in first.stdout and "x: 3/5 posted · waiting: part 4" in first.stdout, first.stdout
    assert store_states(root)[1][5:] == ["posted"] * 3 + ["unknown", "pending"]
    post_until_done(root, {**env, "PUBLISHER_CHECKPOINT_LOG": str(logs[1])}, forks)
    posted_exactly_once(root, pds, did, user)
    reached = [(str(run), label) for run, log in enumerate(logs, 1)
               for label in reconciliation(log.read_text().split())]
    if os.environ.get("REFRESH_KILL_POINTS"):
        ERROR_POINTS_FILE.write_text("".join(f"{run} {label}\n" for run, label in reached), encoding="utf-8")
    assert reached == ERROR_POINTS, "the engine's checkpoints changed: refresh tests/data/kill-points-errors.txt"
    names = {label.split("#")[0] for _, label in reached}
    assert {"bluesky:find:before", "bluesky:find:after", "x:find:before", "x:find:after", "store:outcome:before",
            "store:outcome:after"} <= names
    assert [(run, label) for run, label in reached if label.startswith("x:find:before")] == [
        ("1", "x:find:before#1"), ("1", "x:find:before#2"), ("2", "x:find:before#1")]  # found, missed; missed, sent


@pytest.mark.parametrize(("run", "point"), [pytest.param(run, point, id=f"run{run}-{point}")
                                            for run, point in ERROR_POINTS])
def test_killed_on_an_error_path_then_restarted(run: str, point: str, tmp_path: Path, pds: Any, x_api: FakeXAPI,
                                                bluesky_proxy: FaultProxy, queued_template: Path,
                                                forks: ForkServer, faults: None) -> None:
    root = tmp_path / "project"
    env, did, user = setup_run(root, queued_template, pds, x_api, f"e{ERROR_POINTS.index((run, point))}",
                               bluesky_proxy.url)
    arm_faults(bluesky_proxy, x_api)
    if run == "2":  # the run that meets the faults, then the one that searches again
        first = run_post(root, {**env, **SLOW_TIMELINE}, forks)
        assert first.returncode == ExitStatus.RATE_LIMITED, first.stderr
        disarm(bluesky_proxy, x_api)
        assert wait_for(lambda: nothing_waits(root), 30)
    killed = run_post(root, {**env, **SLOW_TIMELINE, "PUBLISHER_KILL_AT": point}, forks)
    disarm(bluesky_proxy, x_api)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr[-500:])
    post_until_done(root, env, forks)
    posted_exactly_once(root, pds, did, user)


# -- the daemon ---------------------------------------------------------------------------------------------

def start_daemon(root: Path, env: dict[str, str], forks: ForkServer) -> ForkedProcess:
    return forks.start(["--config", str(root / "schedule.toml"), "run"], env, root)


def stop_daemon(root: Path, daemon: ForkedProcess) -> int:
    """SIGTERM, and its exit status (its output kept for the secrets scan)."""
    daemon.terminate()
    code = daemon.wait(30)
    out, err = daemon.communicate()
    keep_output(root, out + err)
    return code


def daemon_until_posted(root: Path, env: dict[str, str], forks: ForkServer) -> None:
    """`publisher run`, once nothing waits, until the thread is posted; then SIGTERM, which exits 0."""
    assert wait_for(lambda: nothing_waits(root), 30)
    daemon = start_daemon(root, env, forks)
    try:
        posted = wait_for(lambda: store_states(root)[0] == "posted", 60)
    finally:
        code = stop_daemon(root, daemon)
    assert posted, store_states(root)
    assert code == 0, daemon.err.read_text("utf-8")[-2000:]


def test_the_daemon_matrix_covers_every_checkpoint_name(
        tmp_path: Path, pds: Any, x_api: FakeXAPI, bluesky_proxy: FaultProxy, queued_template: Path,
        forks: ForkServer, faults: None) -> None:
    """The daemon, meeting the faults, passes every checkpoint name the poster has before its X part 4 waits;
    the listed points are the first visit of each. A daemon started again once the wait is over posts the rest."""
    root = tmp_path / "reference"
    env, did, user = setup_run(root, queued_template, pds, x_api, "daemon", bluesky_proxy.url)
    log = tmp_path / "checkpoints.log"
    arm_faults(bluesky_proxy, x_api)
    daemon = start_daemon(root, {**env, **SLOW_TIMELINE, "PUBLISHER_CHECKPOINT_LOG": str(log)}, forks)
    try:
        waits = wait_for(lambda: "store:outcome:after#1" in (log.read_text() if log.exists() else ""), 60)
    finally:
        code = stop_daemon(root, daemon)
    disarm(bluesky_proxy, x_api)
    assert waits and code == 0, (code, daemon.err.read_text("utf-8")[-2000:])
    assert store_states(root)[1][5:] == ["posted"] * 3 + ["unknown", "pending"]
    daemon_until_posted(root, env, forks)
    posted_exactly_once(root, pds, did, user)
    reached = first_visits(log.read_text().split())
    if os.environ.get("REFRESH_KILL_POINTS"):
        DAEMON_POINTS_FILE.write_text("\n".join(reached) + "\n", encoding="utf-8")
    assert reached == DAEMON_POINTS, "the engine's checkpoints changed: refresh tests/data/kill-points-daemon.txt"
    assert {point.split("#")[0] for point in reached} == POSTER_NAMES


@pytest.mark.parametrize("point", DAEMON_POINTS)
def test_the_daemon_killed_at_this_point_then_restarted(point: str, tmp_path: Path, pds: Any, x_api: FakeXAPI,
                                                        bluesky_proxy: FaultProxy, queued_template: Path,
                                                        forks: ForkServer, faults: None) -> None:
    root = tmp_path / "project"
    env, did, user = setup_run(root, queued_template, pds, x_api, f"d{DAEMON_POINTS.index(point)}",
                               bluesky_proxy.url)
    arm_faults(bluesky_proxy, x_api)
    killed = start_daemon(root, {**env, **SLOW_TIMELINE, "PUBLISHER_KILL_AT": point}, forks)
    try:
        code = killed.wait(60)
    finally:
        disarm(bluesky_proxy, x_api)
        if killed.poll() is None:  # it never reached the point: stop it rather than leave it running
            stop_daemon(root, killed)
    out, err = killed.communicate()
    keep_output(root, out + err)
    assert code == -signal.SIGKILL, (code, err[-2000:])
    daemon_until_posted(root, env, forks)
    posted_exactly_once(root, pds, did, user)
