"""The queue under real processes: many `queue add` at once, the daemon's slot racing manual adds, and a cancel
while a real `publisher post` is between two parts."""

from __future__ import annotations

import json
import os
import signal
import time
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from forkserver import ForkedProcess, ForkServer

from conftest import MINIMAL_SCHEDULE, REPO, wait_for
from conftest import store_rows as rows

pytestmark = pytest.mark.heavy

QUOTES = tomllib.loads((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"]


FORKS: list[ForkServer] = []  # this worker's fork server, set for every test by ``_forks``
START_UP = 0.05  # seconds from asking for a forked command to its running (a fresh interpreter: about 1 s)


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


def posted_quotes(root: Path) -> list[str]:
    """The quote of every post in the outbox, by its id (each post carries one quote, or none)."""
    texts = [json.loads(p.read_text("utf-8"))["text"] for p in (root / "outbox" / "local" / "posts").glob("*.json")]
    return [q["id"] for text in texts for q in QUOTES if q["text"][:60] in text]


def test_many_adds_at_once_queue_every_quote_exactly_once(project: Path) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + "quotes_per_thread = 3\n", encoding="utf-8")
    adds = [publisher(project, "queue", "add", "--now") for _ in range(8)]  # 20 quotes: room for 7 threads
    results = [finished(p) for p in adds]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] * 7 + [10], [err for _, _, err in results]
    refused = next(err for code, _, err in results if code == 10)
    assert refused.startswith("campaign daily has run out: all 20 quotes of caseyreview have been used (queued, "
                              "posted or cancelled)")
    assert finished(publisher(project, "queue", "add", "--now"))[0] == 10  # and the next one too
    queued = [q for (ids,) in rows(project, "SELECT quote_ids FROM threads") for q in json.loads(ids)]
    assert sorted(queued) == sorted(q["id"] for q in QUOTES)  # every quote, none twice
    code, _, err = finished(publisher(project, "post"))
    assert code == 0, err
    posted = posted_quotes(project)
    assert sorted(posted) == sorted(q["id"] for q in QUOTES)
    print(f"\n8 concurrent queue add: 7 queued, 1 refused (run out); {len(posted)} quotes posted, each once")


@pytest.mark.parametrize("by_hand", [False, True], ids=["daemon-fills-the-slot", "slot-queued-by-hand"])
def test_a_daemon_slot_racing_manual_adds_never_queues_a_quote_twice(project: Path, by_hand: bool) -> None:
    slot = datetime.now(ZoneInfo("Europe/London")).replace(microsecond=0, tzinfo=None) + timedelta(seconds=12)
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + f"quotes_per_thread = 2\nonce = [{slot.isoformat()}]\n",
                                           encoding="utf-8")
    daemon = publisher(project, "run")
    try:
        assert wait_for(lambda: (project / "state" / "publisher.lock").exists(), 30)
        slot_at = slot.replace(tzinfo=ZoneInfo("Europe/London")).timestamp()
        adds = []
        for offset in (-1.0, -0.5, -0.2, 0.0, 0.1, 0.3, 0.6):  # around the slot, while the daemon fills it
            time.sleep(max(0.0, slot_at + offset - START_UP - time.time()))
            by_slot = by_hand and offset == -0.5  # without --now: takes the slot if it runs before it
            adds.append(publisher(project, "queue", "add", "--campaign=daily" if by_slot else "--now"))
        results = [finished(p) for p in adds]
        # the add without --now takes the slot if it runs before it, and is refused (no slot left) after it
        assert all(code == 0 or (code == 2 and "has no free slot" in err) for code, _, err in results), results
        added = sum(code == 0 for code, _, _ in results)
        total = added + (0 if any("for the slot" in out for _, out, _ in results) else 1)
        assert by_hand or total == added + 1
        slot_threads = "SELECT thread_ids FROM slot_firings"
        assert wait_for(lambda: bool(rows(project, slot_threads)), 30)
        (slot_ids,) = rows(project, slot_threads)[0]
        posted_slot = f"SELECT COUNT(*) FROM threads WHERE state = 'posted' AND id IN ({slot_ids[1:-1]})"
        assert wait_for(lambda: rows(project, posted_slot)[0][0] == 1, 30)  # the daemon posts the slot's thread
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, _, log = finished(daemon, 30)
    assert code == 0, log
    assert finished(publisher(project, "post"))[0] == 0  # the rest, due now
    assert rows(project, "SELECT COUNT(*) FROM threads WHERE state = 'posted'") == [(total,)]
    queued = [q for (ids,) in rows(project, "SELECT quote_ids FROM threads") for q in json.loads(ids)]
    assert len(queued) == len(set(queued)) == 2 * total
    assert rows(project, "SELECT outcome FROM slot_firings") == [("queued",)]
    posted = posted_quotes(project)
    assert sorted(posted) == sorted(queued)  # everything queued was posted, nothing twice
    print(f"\ndaemon slot + {len(results)} manual adds around it ({added} queued): {total} threads, "
          f"{len(posted)} quotes posted, none twice")


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
    time.sleep(1.5)  # the cancel is recorded, and waits for part 3, which is in flight
    assert rows(project, "SELECT state FROM threads") == [("cancelled",)]
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
