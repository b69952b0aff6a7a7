"""The kill matrix: `publisher post` of a 5-part image thread to Bluesky (the reference PDS) and X (the fake) is
SIGKILLed at every step boundary in turn, then restarted until done. Every time: exactly 5 posts per platform,
correctly chained, no duplicates, and the store says posted.

One test case per kill point (tests/data/kill-points.txt, which a clean run must pass in exactly that order), so
one failure never hides the rest; the cases share one PDS, one fake X and one queued store, copied for each, and
run in parallel (pytest-xdist). Each case's runs are children of a fork server (tests/forkserver.py) that has
imported publisher once: real processes, really killed, without 2 s of imports each; the coverage test runs
`python -m publisher` itself. Refresh the list after changing the engine's checkpoints:
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
from pathlib import Path
from typing import Any

import pytest
from forkserver import ForkServer

from conftest import DATA
from fakes.x_api import FakeXAPI
from posting_project import environment, make_project
from publisher.app import Project
from test_posting import check_bluesky_thread, check_x_thread

KILL_POINTS_FILE = DATA / "kill-points.txt"
KILL_POINTS = KILL_POINTS_FILE.read_text("utf-8").split()
TEMPLATE_HANDLE = "template-handle.test"
MARKER = "(kill)"

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="session")
def x_api() -> Iterator[FakeXAPI]:
    api = FakeXAPI()
    api.url = api.start()  # type: ignore[attr-defined]
    yield api
    api.stop()


@pytest.fixture(scope="session")
def queued_template(tmp_path_factory: pytest.TempPathFactory, pds: Any) -> Path:
    """A project with the thread already queued (cards rendered once): each case copies it."""
    root = tmp_path_factory.mktemp("kill-template") / "project"
    make_project(root, bluesky=(pds.url, TEMPLATE_HANDLE), x=True, campaign="kill")
    Project(root / "schedule.toml").queue_add("kill", now=True)
    return root


def setup_run(root: Path, template: Path, pds: Any, x_api: FakeXAPI, name: str) -> tuple[dict[str, str], str, Any]:
    handle, did, password = pds.create_account(name)
    user = x_api.add_user(name.replace("-", "_"))
    shutil.copytree(template, root, symlinks=True)
    schedule = root / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace(TEMPLATE_HANDLE, handle), encoding="utf-8")
    env = {**os.environ, **environment(bluesky_password=password, fake_x=x_api, x_user=user)}
    for key in ("PUBLISHER_KILL_AT", "PUBLISHER_CHECKPOINT_LOG", "PUBLISHER_PAUSE_AT"):
        env.pop(key, None)
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
    with (root / "runs.log").open("a", encoding="utf-8") as log:  # kept for the secrets scan (conftest.py)
        log.write(done.stdout + done.stderr)
    return done


def store_states(root: Path) -> tuple[str, list[str]]:
    db = sqlite3.connect(root / "state" / "publisher.db")
    thread = db.execute("SELECT state FROM threads").fetchone()[0]
    parts = [row[0] for row in db.execute("SELECT state FROM parts ORDER BY account, position")]
    db.close()
    return thread, parts


def test_the_matrix_covers_every_boundary(tmp_path: Path, pds: Any, x_api: FakeXAPI,
                                          queued_template: Path) -> None:
    """A clean run passes exactly the listed kill points, in order, and they cover every kind of step."""
    env, did, user = setup_run(tmp_path / "reference", queued_template, pds, x_api, "reference")
    log = tmp_path / "checkpoints.log"
    done = run_post(tmp_path / "reference", {**env, "PUBLISHER_CHECKPOINT_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    check_bluesky_thread(pds, did, MARKER)
    check_x_thread(user, MARKER)
    reached = log.read_text().split()
    if os.environ.get("REFRESH_KILL_POINTS"):
        KILL_POINTS_FILE.write_text("\n".join(reached) + "\n", encoding="utf-8")
    assert reached == KILL_POINTS, "the engine's checkpoints changed: refresh tests/data/kill-points.txt"
    names = {point.split("#")[0] for point in KILL_POINTS}
    assert {"bluesky:upload:before", "bluesky:upload:after", "bluesky:create:before", "bluesky:create:after",
            "x:upload:before", "x:upload:after", "x:create:before", "x:create:after", "store:begin:before",
            "store:begin:after", "store:posted:before", "store:posted:after", "store:thread:before",
            "store:thread:after"} <= names
    creates = [p for p in KILL_POINTS if p.startswith(("bluesky:create:before", "x:create:before"))]
    assert len(creates) == 10  # 5 parts on each platform


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_at_this_point_then_restarted(point: str, tmp_path: Path, pds: Any, x_api: FakeXAPI,
                                             queued_template: Path, forks: ForkServer) -> None:
    root = tmp_path / "project"
    env, did, user = setup_run(root, queued_template, pds, x_api, f"k{KILL_POINTS.index(point)}")
    killed = run_post(root, {**env, "PUBLISHER_KILL_AT": point}, forks)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-500:])
    for _ in range(4):
        done = run_post(root, env, forks)
        if done.returncode == 0:
            break
    assert done.returncode == 0, (done.stdout, done.stderr)
    check_bluesky_thread(pds, did, MARKER)
    check_x_thread(user, MARKER)
    assert store_states(root) == ("posted", ["posted"] * 10)
