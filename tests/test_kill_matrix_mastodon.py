"""The kill matrix for Mastodon: a 5-part thread (intro, 3 quote cards, outro) to the fake Mastodon server, its
poster SIGKILLed at a step boundary, then restarted until done. Every time: exactly 5 statuses, each replying to
the one before, none twice, and the store says posted.

Two lists of kill points, each what a reference run passes, in that order:

- tests/data/kill-points-mastodon.txt: every checkpoint of a clean `publisher post`;
- tests/data/kill-points-mastodon-errors.txt: the reconciliation paths a clean run never takes. The reference run
  meets faults (``arm_faults``): the server makes part 2 and resets the connection before answering (the search
  finds it), and answers 500 to part 4 without making it (the search finds nothing, and it is sent again with
  the same Idempotency-Key), and answers part 5 with a 429 whose reset is 2 s on (the part waits). The points
  are each search and what follows it up to the store's next record, and the record of the wait.

One test case per kill point, so one failure never hides the rest; cases share one fake server and one queued
store, copied for each (a new account each). Faults are armed only for the run that is killed: restarts meet a
healthy server. Runs are children of the fork server (tests/forkserver.py). Refresh the lists after changing the
engine's checkpoints:
``REFRESH_KILL_POINTS=1 .venv/bin/python -m pytest tests/test_kill_matrix_mastodon.py -k covers``.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from forkserver import ForkServer
from test_kill_matrix import kill_points, post_until_done, reconciliation, run_post, store_states

from conftest import DATA
from fakes.mastodon_api import FakeMastodonAPI, MastodonFault, MastodonUser
from posting_project import environment, make_project
from publisher.app import Project
from publisher.errors import ExitStatus

KILL_POINTS_FILE = DATA / "kill-points-mastodon.txt"
ERROR_POINTS_FILE = DATA / "kill-points-mastodon-errors.txt"
KILL_POINTS = [point for (point,) in kill_points(KILL_POINTS_FILE)]
ERROR_POINTS = [point for (point,) in kill_points(ERROR_POINTS_FILE)]
MARKER = "(kill)"
STATUSES = "/api/v1/statuses"
STEPS = {"mastodon": ("upload", "create", "find"), "store": ("thread", "begin", "posted", "outcome")}
NAMES = {f"{where}:{step}:{when}" for where, steps in STEPS.items() for step in steps for when in ("before", "after")}

# heavy but for one test the quick suite keeps: HEAVY_BUT_A_TASTE in conftest.py


@pytest.fixture(scope="session")
def mastodon() -> Iterator[FakeMastodonAPI]:
    api = FakeMastodonAPI(async_media_over=10_000, processing_polls=0)  # each card 202, then ready at its first poll
    api.start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def queued_mastodon(tmp_path_factory: pytest.TempPathFactory, mastodon: FakeMastodonAPI) -> Path:
    """A project with the thread already queued (cards rendered, the instance's limits learnt): each case copies
    it."""
    root = tmp_path_factory.mktemp("kill-mastodon") / "project"
    make_project(root, mastodon=mastodon.url, campaign="kill")
    Project(root / "schedule.toml").queue_add("kill", now=True)
    return root


@pytest.fixture
def faults(mastodon: FakeMastodonAPI) -> Iterator[None]:
    """Whatever a case armed is disarmed when it ends, so it can never fire in the next case."""
    yield
    mastodon.faults.clear()


def arm_faults(api: FakeMastodonAPI) -> None:
    """The next thread's part 2 is made but the connection reset unanswered; part 4 is refused with a 500 unmade
    (then sent again); part 5 meets a rate limit that resets 2 s later (the part waits)."""
    api.faults[:] = [MastodonFault(STATUSES, 2, "accept_then_reset"), MastodonFault(STATUSES, 4, "500"),
                     MastodonFault(STATUSES, 6, "429")]


def error_paths(log: list[str]) -> list[str]:
    """Each search and what follows it up to the store's next record, and the record of the rate limit."""
    searched = reconciliation(log)
    return searched + [label for label in log if label.startswith("store:outcome:") and label not in searched]


def setup_run(root: Path, template: Path, api: FakeMastodonAPI, name: str) -> tuple[dict[str, str], MastodonUser]:
    user = api.add_user(name.replace("-", "_"))
    shutil.copytree(template, root, symlinks=True)
    env = {**os.environ, **environment(mastodon_token=user.token, timeout=5)}
    for key in ("PUBLISHER_KILL_AT", "PUBLISHER_CHECKPOINT_LOG", "PUBLISHER_PAUSE_AT"):
        env.pop(key, None)
    return env, user


def posted_exactly_once(root: Path, api: FakeMastodonAPI, user: MastodonUser) -> None:
    statuses = user.statuses
    assert len(statuses) == 5, [s.text[:40] for s in statuses]
    assert MARKER in statuses[0].text and statuses[0].in_reply_to_id is None
    assert api.thread(statuses[-1].id) == statuses  # each replies to the one before
    assert len({s.text for s in statuses}) == 5
    assert [s.text.endswith(f"{n}/5") for n, s in enumerate(statuses, 1)] == [True] * 5
    assert [len(s.media_ids) for s in statuses] == [0, 1, 1, 1, 0]
    assert all(api.media[m].description for s in statuses for m in s.media_ids)
    assert store_states(root) == ("posted", ["posted"] * 5)


def test_the_mastodon_matrix_covers_every_boundary(tmp_path: Path, mastodon: FakeMastodonAPI,
                                                   queued_mastodon: Path, forks: ForkServer, faults: None) -> None:
    """A clean run, and a run meeting the faults, pass exactly the listed points, in order; together they cover
    every checkpoint name the poster has for Mastodon and the store."""
    env, user = setup_run(tmp_path / "clean", queued_mastodon, mastodon, "m-clean")
    log = tmp_path / "clean.log"
    done = run_post(tmp_path / "clean", {**env, "PUBLISHER_CHECKPOINT_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    posted_exactly_once(tmp_path / "clean", mastodon, user)
    reached = log.read_text().split()

    env, user = setup_run(tmp_path / "errors", queued_mastodon, mastodon, "m-errors")
    log = tmp_path / "errors.log"
    arm_faults(mastodon)
    done = run_post(tmp_path / "errors", {**env, "PUBLISHER_CHECKPOINT_LOG": str(log)}, forks)
    mastodon.faults.clear()
    assert done.returncode == ExitStatus.RATE_LIMITED, done.stderr
    assert "masto: 4/5 posted · waiting: part 5" in done.stdout, done.stdout
    searched = error_paths(log.read_text().split())
    post_until_done(tmp_path / "errors", env, forks)
    posted_exactly_once(tmp_path / "errors", mastodon, user)
    if os.environ.get("REFRESH_KILL_POINTS"):
        KILL_POINTS_FILE.write_text("\n".join(reached) + "\n", encoding="utf-8")
        ERROR_POINTS_FILE.write_text("\n".join(searched) + "\n", encoding="utf-8")
    assert reached == KILL_POINTS, "the engine's checkpoints changed: refresh tests/data/kill-points-mastodon.txt"
    assert searched == ERROR_POINTS, "refresh tests/data/kill-points-mastodon-errors.txt"
    clean = {point.split("#")[0] for point in reached}
    assert NAMES - clean == {"mastodon:find:before", "mastodon:find:after", "store:outcome:before",
                             "store:outcome:after"}  # never on the clean path
    assert {point.split("#")[0] for point in reached + searched} == NAMES
    assert [p for p in searched if p.startswith("mastodon:find:before")] == ["mastodon:find:before#1",
                                                                             "mastodon:find:before#2"]
    assert len([p for p in reached if p.startswith("mastodon:create:before")]) == 5


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_at_this_point_then_restarted(point: str, tmp_path: Path, mastodon: FakeMastodonAPI,
                                             queued_mastodon: Path, forks: ForkServer) -> None:
    root = tmp_path / "project"
    env, user = setup_run(root, queued_mastodon, mastodon, f"mk{KILL_POINTS.index(point)}")
    killed = run_post(root, {**env, "PUBLISHER_KILL_AT": point}, forks)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-500:])
    post_until_done(root, env, forks)
    posted_exactly_once(root, mastodon, user)


@pytest.mark.parametrize("point", ERROR_POINTS)
def test_killed_on_a_search_then_restarted(point: str, tmp_path: Path, mastodon: FakeMastodonAPI,
                                           queued_mastodon: Path, forks: ForkServer, faults: None) -> None:
    root = tmp_path / "project"
    env, user = setup_run(root, queued_mastodon, mastodon, f"me{ERROR_POINTS.index(point)}")
    arm_faults(mastodon)
    killed = run_post(root, {**env, "PUBLISHER_KILL_AT": point}, forks)
    mastodon.faults.clear()
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr[-500:])
    post_until_done(root, env, forks)
    posted_exactly_once(root, mastodon, user)


def test_the_lists_are_not_empty() -> None:
    """A missing or emptied points file would make the matrix pass by running nothing."""
    assert len(KILL_POINTS) >= 20 and len(ERROR_POINTS) >= 4
    assert len(set(KILL_POINTS)) == len(KILL_POINTS) and len(set(ERROR_POINTS)) == len(ERROR_POINTS)
