"""The kill matrix: `publisher post` of a 5-part image thread to Bluesky (the reference PDS) and X (the fake) is
SIGKILLed at every step boundary in turn, then restarted until done. Every time: exactly 5 posts per platform,
correctly chained, no duplicates, and the store says posted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.x_api import FakeXAPI
from posting_project import environment, make_project
from publisher.app import Project
from test_posting import check_bluesky_thread, check_x_thread


@pytest.fixture(scope="module")
def x_api() -> Iterator[FakeXAPI]:
    api = FakeXAPI()
    api.url = api.start()  # type: ignore[attr-defined]
    yield api
    api.stop()


def setup_run(root: Path, pds: Any, x_api: FakeXAPI, name: str) -> tuple[dict[str, str], str, Any]:
    handle, did, password = pds.create_account(name)
    user = x_api.add_user(name.replace("-", "_"))
    make_project(root, bluesky=(pds.url, handle), x=True, campaign=name)
    env = {**os.environ, **environment(bluesky_password=password, fake_x=x_api, x_user=user)}
    for key in ("PUBLISHER_KILL_AT", "PUBLISHER_CHECKPOINT_LOG"):
        env.pop(key, None)
    Project(root / "schedule.toml").queue_add(name, now=True)
    return env, did, user


def run_post(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "publisher", "--config", str(root / "schedule.toml"), "post"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    with (root / "runs.log").open("a", encoding="utf-8") as log:  # kept for tests/test_zz_secrets.py to scan
        log.write(done.stdout + done.stderr)
    return done


def store_states(root: Path) -> tuple[str, list[str]]:
    db = sqlite3.connect(root / "state" / "publisher.db")
    thread = db.execute("SELECT state FROM threads").fetchone()[0]
    parts = [row[0] for row in db.execute("SELECT state FROM parts ORDER BY account, position")]
    db.close()
    return thread, parts


@pytest.fixture(scope="module")
def kill_points(tmp_path_factory: pytest.TempPathFactory, pds: Any, x_api: FakeXAPI) -> list[str]:
    """Every checkpoint a clean run passes, in order (``name#n`` is the n-th visit to ``name``)."""
    root = tmp_path_factory.mktemp("reference")
    env, did, user = setup_run(root, pds, x_api, "reference")
    log = root / "checkpoints.log"
    done = run_post(root, {**env, "PUBLISHER_CHECKPOINT_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    check_bluesky_thread(pds, did, "(reference)")
    check_x_thread(user, "(reference)")
    return log.read_text().split()


def test_the_matrix_covers_every_boundary(kill_points: list[str]) -> None:
    names = {point.split("#")[0] for point in kill_points}
    assert {"bluesky:upload:before", "bluesky:upload:after", "bluesky:create:before", "bluesky:create:after",
            "x:upload:before", "x:upload:after", "x:create:before", "x:create:after", "store:begin:before",
            "store:begin:after", "store:posted:before",
            "store:posted:after", "store:thread:before", "store:thread:after"} <= names
    creates = [p for p in kill_points if p.startswith(("bluesky:create:before", "x:create:before"))]
    assert len(creates) == 10  # 5 parts on each platform


def test_kill_at_every_point_then_restart(tmp_path: Path, pds: Any, x_api: FakeXAPI,
                                          kill_points: list[str]) -> None:
    results = []
    for index, point in enumerate(kill_points):
        name = f"k{index}"
        root = tmp_path / name
        env, did, user = setup_run(root, pds, x_api, name)
        killed = run_post(root, {**env, "PUBLISHER_KILL_AT": point})
        assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr[-500:])
        for _ in range(4):
            done = run_post(root, env)
            if done.returncode == 0:
                break
        assert done.returncode == 0, (point, done.stdout, done.stderr)
        check_bluesky_thread(pds, did, f"({name})")
        check_x_thread(user, f"({name})")
        assert store_states(root) == ("posted", ["posted"] * 10), point
        results.append(point)
    assert results == kill_points
    print(f"\nkill matrix: {len(results)} kill points, each followed by a restart; all threads complete, "
          "0 duplicates")
