"""The queue under real processes: many `queue add` at once, the daemon's slot racing manual adds, an add that
must make its thread again, and a cancel while a real `publisher post` is between two parts.

Interleavings are forced, never timed: a process is paused at a named checkpoint (PUBLISHER_PAUSE_AT stops it
there with SIGSTOP) while the others are shown to reach theirs (each one's PUBLISHER_CHECKPOINT_LOG), then let go.
`queue:add:composed` is reached with a thread's cards made, before the write transaction; `queue:add:locked`
inside it (BEGIN IMMEDIATE held), before the thread is inserted; the daemon's slot filling passes both too."""

from __future__ import annotations

import json
import os
import signal
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from forkserver import ForkedProcess, ForkServer

from conftest import MINIMAL_SCHEDULE, REPO, wait_for
from conftest import store_rows as rows
from publisher.errors import ExitStatus

# heavy but for one test the quick suite keeps: HEAVY_BUT_A_TASTE in conftest.py

QUOTES = tomllib.loads((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"]
COMPOSED, LOCKED = "queue:add:composed", "queue:add:locked"
SLOT_AHEAD = 4  # seconds from writing the schedule to the daemon's slot: room to start it (and a paused add) first


FORKS: list[ForkServer] = []  # this worker's fork server, set for every test by ``_forks``


@pytest.fixture(autouse=True)
def _forks(forks: ForkServer) -> None:
    FORKS[:] = [forks]


def publisher(root: Path, *args: str, env: dict[str, str] | None = None) -> ForkedProcess:
    """A real publisher process (forked from one that has done the imports: tests/forkserver.py)."""
    return FORKS[0].start(["--config", str(root / "schedule.toml"), *args], {**os.environ, **(env or {})}, root)


def finished(process: ForkedProcess, timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def stopped(pid: int) -> bool:
    """The process has stopped itself (SIGSTOP at a checkpoint)."""
    try:
        return "T (stopped)" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@contextmanager
def paused(root: Path, point: str, *args: str, env: dict[str, str] | None = None) -> Iterator[ForkedProcess]:
    """A publisher command stopped at checkpoint ``point`` for the block; it goes on when the block ends."""
    process = publisher(root, *args, env={**(env or {}), "PUBLISHER_PAUSE_AT": point})
    try:
        assert wait_for(lambda: stopped(process.pid), 60), f"{' '.join(args)} never reached {point}"
        yield process
    finally:
        process.send_signal(signal.SIGCONT)


@contextmanager
def daemon(root: Path, env: dict[str, str]) -> Iterator[ForkedProcess]:
    """`publisher run` for the block; stopped (SIGTERM) at its end if the test has not stopped it."""
    process = publisher(root, "run", env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def reached(log: Path) -> list[str]:
    """The checkpoints a process has passed, in order (its PUBLISHER_CHECKPOINT_LOG)."""
    return log.read_text("utf-8").split() if log.exists() else []


def logged(root: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A checkpoint log for one process, and the environment that makes it write there."""
    log = root / f"{name}.checkpoints"
    return log, {"PUBLISHER_CHECKPOINT_LOG": str(log)}


def adds_now(root: Path, count: int) -> tuple[list[Path], list[ForkedProcess]]:
    """``count`` `queue add --now` processes, each logging its checkpoints."""
    logs, processes = [], []
    for index in range(count):
        log, env = logged(root, f"add{index}")
        logs.append(log)
        processes.append(publisher(root, "queue", "add", "--now", env=env))
    return logs, processes


def waiting_at_the_lock(root: Path, logs: list[Path], processes: list[ForkedProcess]) -> None:
    """Every process has made its cards and asked for the write lock, which a paused one holds: none has got
    it, and a reader is not blocked (`queue list` answers while they wait)."""
    assert wait_for(lambda: all(f"{COMPOSED}#1" in reached(log) for log in logs), 60), [reached(x) for x in logs]
    code, out, err = finished(publisher(root, "queue", "list"))
    assert (code, out) == (0, "The queue is empty.\n"), err
    assert [[p for p in reached(log) if p.startswith(LOCKED)] for log in logs] == [[]] * len(logs)
    assert [p.poll() for p in processes] == [None] * len(processes)


def queued_quotes(root: Path) -> list[str]:
    return [q for (ids,) in rows(root, "SELECT quote_ids FROM threads ORDER BY id") for q in json.loads(ids)]


def posted_quotes(root: Path) -> list[str]:
    """The quote of every post in the outbox, by its id (each post carries one quote, or none)."""
    texts = [json.loads(p.read_text("utf-8"))["text"] for p in (root / "outbox" / "local" / "posts").glob("*.json")]
    return [q["id"] for text in texts for q in QUOTES if q["text"][:60] in text]


def test_adds_wait_for_the_one_holding_the_write_lock_and_queue_every_quote_once(project: Path) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + "quotes_per_thread = 3\n", encoding="utf-8")
    with paused(project, f"{LOCKED}#1", "queue", "add", "--now") as holder:
        logs, others = adds_now(project, 7)  # 20 quotes: 7 threads of 3 (the last has 2), so 1 of 8 is refused
        waiting_at_the_lock(project, logs, others)
    code, out, err = finished(holder)
    assert code == 0, err
    assert out.startswith("Queued thread 1 (daily #1) due now: 3 quotes")  # the others had waited for it
    results = [finished(p) for p in others]
    assert sorted(code for code, _, _ in results) == [0] * 6 + [10], [err for _, _, err in results]
    refused = next(err for code, _, err in results if code == 10)
    assert refused.startswith("campaign daily has run out: all 20 quotes of caseyreview have been used (queued, "
                              "posted or cancelled)")
    assert rows(project, "SELECT id, number FROM threads ORDER BY id") == [(n, n) for n in range(1, 8)]
    assert sorted(queued_quotes(project)) == sorted(q["id"] for q in QUOTES)  # every quote, none twice
    assert finished(publisher(project, "queue", "add", "--now"))[0] == 10  # and the next one is refused too
    code, _, err = finished(publisher(project, "post"))
    assert code == 0, err
    assert sorted(posted_quotes(project)) == sorted(q["id"] for q in QUOTES)


def test_an_add_that_made_its_cards_while_another_committed_makes_its_thread_again(project: Path) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + "quotes_per_thread = 3\n", encoding="utf-8")
    log, env = logged(project, "late")
    with paused(project, f"{COMPOSED}#1", "queue", "add", "--now", env=env) as late:  # planned: quotes 1-3, #1
        code, out, err = finished(publisher(project, "queue", "add", "--now"))
        assert code == 0, err
        assert out.startswith("Queued thread 1 (daily #1) due now: 3 quotes")  # the same plan, committed first
    code, out, err = finished(late)
    assert code == 0, err
    assert out.startswith("Queued thread 2 (daily #2) due now: 3 quotes")
    assert reached(log) == [f"{COMPOSED}#1", f"{LOCKED}#1", f"{COMPOSED}#2", f"{LOCKED}#2"]  # noticed; made again
    first, second = (json.loads(ids) for (ids,) in rows(project, "SELECT quote_ids FROM threads ORDER BY id"))
    assert first + second == [q["id"] for q in QUOTES[:6]]  # the collection's order, each quote once
    code, _, err = finished(publisher(project, "post"))
    assert code == 0, err
    assert sorted(posted_quotes(project)) == sorted(first + second)


def slot_schedule(root: Path) -> None:
    """A campaign of 2-quote threads with one slot a few seconds from now."""
    slot = datetime.now(ZoneInfo("Europe/London")).replace(microsecond=0, tzinfo=None) + timedelta(seconds=SLOT_AHEAD)
    (root / "schedule.toml").write_text(MINIMAL_SCHEDULE + f"quotes_per_thread = 2\nonce = [{slot.isoformat()}]\n",
                                        encoding="utf-8")


def stop_then_post_the_rest(root: Path, running: ForkedProcess) -> None:
    """Once the daemon has posted the slot's thread: SIGTERM (exit 0), then `post` the threads due now; every
    queued quote is posted exactly once."""
    posted_slot = ("SELECT COUNT(*) FROM threads WHERE state = 'posted' AND id IN "
                   "(SELECT value FROM slot_firings, json_each(slot_firings.thread_ids))")
    assert wait_for(lambda: rows(root, posted_slot)[0][0] == 1, 60)  # the daemon posts the slot's thread
    running.send_signal(signal.SIGTERM)
    code, _, log = finished(running, 30)
    assert code == 0, log
    code, _, err = finished(publisher(root, "post"))
    assert code == 0, err
    assert rows(root, "SELECT COUNT(*) FROM threads WHERE state != 'posted'") == [(0,)]
    assert sorted(posted_quotes(root)) == sorted(queued_quotes(root))  # everything queued posted, nothing twice


def test_manual_adds_wait_while_the_daemon_fills_its_slot_under_the_lock(project: Path) -> None:
    slot_schedule(project)
    daemon_log, env = logged(project, "daemon")
    with daemon(project, {**env, "PUBLISHER_PAUSE_AT": f"{LOCKED}#1"}) as running:
        try:
            assert wait_for(lambda: stopped(running.pid), SLOT_AHEAD + 60)  # at its slot, holding the write lock
            logs, adds = adds_now(project, 3)
            waiting_at_the_lock(project, logs, adds)
        finally:
            running.send_signal(signal.SIGCONT)
        results = [finished(p) for p in adds]
        assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
        assert rows(project, "SELECT outcome, thread_ids FROM slot_firings") == [("queued", "[1]")]  # it went first
        assert reached(daemon_log)[:2] == [f"{COMPOSED}#1", f"{LOCKED}#1"]
        assert rows(project, "SELECT COUNT(*) FROM threads") == [(4,)]
        queued = queued_quotes(project)
        assert len(queued) == len(set(queued)) == 8
        stop_then_post_the_rest(project, running)


def test_a_slot_queued_by_hand_while_the_daemon_makes_its_thread_is_the_one_the_daemon_posts(project: Path) -> None:
    slot_schedule(project)
    daemon_log, env = logged(project, "daemon")
    with (paused(project, f"{COMPOSED}#1", "queue", "add", "--campaign", "daily") as by_hand,  # planned before
          daemon(project, {**env, "PUBLISHER_PAUSE_AT": f"{COMPOSED}#1"}) as running):
        try:
            assert wait_for(lambda: stopped(running.pid), SLOT_AHEAD + 60)  # at its slot: the place looked free
            os.kill(by_hand.pid, signal.SIGCONT)
            code, out, err = finished(by_hand)
            assert code == 0, err
            assert out.startswith("Queued thread 1 (daily #1) for the slot ")
        finally:
            running.send_signal(signal.SIGCONT)
        assert wait_for(lambda: bool(rows(project, "SELECT 1 FROM slot_firings")), 30)
        assert rows(project, "SELECT outcome, thread_ids FROM slot_firings") == [("queued", "[1]")]
        assert reached(daemon_log)[:2] == [f"{COMPOSED}#1", f"{LOCKED}#1"]
        assert f"{COMPOSED}#2" not in reached(daemon_log)  # under the lock it found the place taken
        assert rows(project, "SELECT COUNT(*) FROM threads") == [(1,)]
        stop_then_post_the_rest(project, running)


def five_part_project(root: Path) -> None:
    (root / "schedule.toml").write_text(MINIMAL_SCHEDULE + 'quotes_per_thread = 3\nintro = "Thread {thread_number}"\n'
                                        'outro = "More on {date}"\n', encoding="utf-8")
    assert finished(publisher(root, "queue", "add", "--now"))[0] == 0


def test_cancel_between_parts_stops_a_real_posting_process(project: Path) -> None:
    five_part_project(project)
    poster = publisher(project, "post", env={"PUBLISHER_PAUSE_AT": "store:posted:after#2"})
    assert wait_for(lambda: stopped(poster.pid), 60)
    code, out, err = finished(publisher(project, "queue", "cancel", "1"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Cancelled thread 1 (daily): 2 of 5 posts were already live and stay up; nothing more is posted."
    assert [line.split(": ")[0] for line in lines[1:]] == ["  local part 1", "  local part 2"]
    assert lines[1].endswith("timeline.html#local-000001")
    os.kill(poster.pid, signal.SIGCONT)
    code, out, err = finished(poster)
    assert code == 0, err
    assert out.splitlines() == ["Thread 1 (daily): cancelled",
                                "  local: 2/5 posted · stopped: the thread was cancelled before part 3; nothing more "
                                "is sent"]
    assert rows(project, "SELECT state FROM threads") == [("cancelled",)]
    assert rows(project, "SELECT state FROM parts ORDER BY position") == [("posted",)] * 2 + [("pending",)] * 3
    assert len(list((project / "outbox" / "local" / "posts").glob("*.json"))) == 2


def test_cancel_while_a_part_is_being_sent_waits_for_it_and_stops_the_rest(project: Path) -> None:
    five_part_project(project)
    poster = publisher(project, "post", env={"PUBLISHER_PAUSE_AT": "outbox:create:before#3"})
    assert wait_for(lambda: stopped(poster.pid), 60)
    cancel = publisher(project, "queue", "cancel", "1")
    assert wait_for(lambda: rows(project, "SELECT state FROM threads") == [("cancelled",)], 60)
    assert cancel.poll() is None  # recorded, and waiting for part 3, which is in flight in the stopped poster
    os.kill(poster.pid, signal.SIGCONT)
    code, out, err = finished(cancel)
    assert code == 0, err
    assert out.splitlines()[0] == ("Cancelled thread 1 (daily): 3 of 5 posts were already live and stay up; nothing "
                                   "more is posted.")
    code, out, err = finished(poster)
    assert code == 0, err
    assert "  local: 3/5 posted · stopped: the thread was cancelled before part 4" in out
    assert rows(project, "SELECT state FROM threads") == [("cancelled",)]
    assert len(list((project / "outbox" / "local" / "posts").glob("*.json"))) == 3


def test_a_real_posting_process_holds_a_thread_over_the_x_budget(project: Path) -> None:
    from test_queue import BUDGET

    (project / "schedule.toml").write_text(BUDGET.replace("BUDGET", "0.10"), encoding="utf-8")
    for campaign in ("paid", "paid", "free"):
        assert finished(publisher(project, "queue", "add", "--now", "--campaign", campaign))[0] == 0
    code, out, err = finished(publisher(project, "post"))
    assert code == 12, err  # OVER_BUDGET
    assert "Thread 1 (paid): posted" in out and "Thread 3 (free): posted" in out
    assert "Thread 2 (paid): over_budget · xish has spent $0.08 on X this month" in out
    assert err.startswith("thread 2 held over budget: ")
    assert rows(project, "SELECT id, state FROM threads ORDER BY id") == [(1, "posted"), (2, "over_budget"),
                                                                          (3, "posted")]
    assert rows(project, "SELECT COUNT(*) FROM parts WHERE thread_id = 2 AND state != 'pending'") == [(0,)]
    assert len(list((project / "outbox" / "xish" / "posts").glob("*.json"))) == 4  # thread 1's four posts only
    code, out, _ = finished(publisher(project, "post"))
    assert (code, out) == (0, "Nothing is due.\n")  # held until released, not retried


def test_recompose_while_a_part_is_being_prepared_never_posts_the_old_text(project: Path) -> None:
    five_part_project(project)
    path = project / "quotes" / "caseyreview.toml"
    poster = publisher(project, "post", env={"PUBLISHER_PAUSE_AT": "store:begin:before#1"})  # part 1 prepared
    assert wait_for(lambda: stopped(poster.pid), 60)
    path.write_text(path.read_text("utf-8").replace("let down by their leaders.", "let down by their leaders, "
                                                    "the review found."), encoding="utf-8")
    code, out, err = finished(publisher(project, "queue", "recompose", "1"))
    assert code == 0, err
    os.kill(poster.pid, signal.SIGCONT)
    code, out, err = finished(poster)
    assert code == 0, err
    assert "stopped: the thread changed (recomposed, or held and released) before part 1" in out
    assert not (project / "outbox" / "local" / "posts").exists() or not list(
        (project / "outbox" / "local" / "posts").glob("*.json"))  # nothing of the old thread went out
    assert finished(publisher(project, "post"))[0] == 0
    texts = [json.loads(p.read_text("utf-8"))["text"] for p in (project / "outbox" / "local" / "posts").glob("*")]
    assert len(texts) == 5 and any("the review found." in t for t in texts)
    assert not any(t.rstrip().endswith("let down by their leaders.”") for t in texts)


def test_a_recompose_that_made_its_cards_while_the_thread_went_live_changes_nothing(project: Path) -> None:
    five_part_project(project)
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace("let down by their leaders.", "let down by their leaders, "
                                                    "the review found."), encoding="utf-8")
    with paused(project, "queue:recompose:composed#1", "queue", "recompose", "1") as recompose:  # nothing sent yet
        poster = publisher(project, "post", env={"PUBLISHER_PAUSE_AT": "store:posted:after#1"})
        assert wait_for(lambda: stopped(poster.pid), 60)  # part 1 is live
    code, out, err = finished(recompose)
    assert (code, out) == (ExitStatus.WRONG_STATE, ""), err
    assert "1 of its parts is live" in err  # checked again under the lock, after its cards were made
    os.kill(poster.pid, signal.SIGCONT)
    code, out, err = finished(poster)
    assert code == 0, err
    texts = [json.loads(p.read_text("utf-8"))["text"] for p in (project / "outbox" / "local" / "posts").glob("*")]
    assert len(texts) == 5 and not any("the review found." in t for t in texts)  # the thread as it was queued
