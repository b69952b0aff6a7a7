"""The daemon's log is the record: one line per thread as it finishes (so a SIGKILL later in the pass loses
none), no line twice after SIGTERM, no APScheduler "skipped" warning for a slot the daemon does serve, a held
thread said to be held at its slot, and a slot whose collection was broken posted once the file is fixed."""

from __future__ import annotations

import logging
import os
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from forkserver import ForkedProcess, ForkServer
from test_queue import IDS, Clock, schedule, utc
from test_queue_processes import stopped

from conftest import MINIMAL_SCHEDULE, store_rows, wait_for
from publisher.app import Project
from publisher.scheduler import Daemon, handle_slots


def daemon(forks: ForkServer, root: Path, env: dict[str, str] | None = None) -> ForkedProcess:
    return forks.start(["--config", str(root / "schedule.toml"), "run"], {**os.environ, **(env or {})}, root)


def log_lines(process: ForkedProcess) -> list[str]:
    """The daemon's log so far, without the time stamps."""
    return [line.split(" ", 2)[2] for line in process.err.read_text("utf-8").splitlines() if line.count(" ") >= 2]


@pytest.mark.heavy
def test_each_thread_is_logged_as_it_finishes_so_a_sigkill_loses_no_line(project: Path, forks: ForkServer) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + "quotes_per_thread = 2\n", encoding="utf-8")
    for _ in range(2):
        Project(project / "schedule.toml").queue_add("daily", now=True)
    # thread 1: queued -> posting (#1), posting -> posted (#2); thread 2: queued -> posting (#3), killed there
    process = daemon(forks, project, {"PUBLISHER_KILL_AT": "store:thread:after#3"})
    assert process.wait(60) == -signal.SIGKILL
    assert store_rows(project, "SELECT id, state FROM threads ORDER BY id") == [(1, "posted"), (2, "posting")]
    assert "INFO thread 1 (daily) local: 2/2 posted" in log_lines(process)


@pytest.mark.heavy
def test_no_line_twice_after_sigterm_mid_thread(project: Path, forks: ForkServer) -> None:
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + "quotes_per_thread = 3\n", encoding="utf-8")
    Project(project / "schedule.toml").queue_add("daily", now=True)
    process = daemon(forks, project, {"PUBLISHER_PAUSE_AT": "store:posted:after#1"})
    assert wait_for(lambda: stopped(process.pid), 60)
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGCONT)
    assert process.wait(60) == 0
    lines = log_lines(process)
    assert len(lines) == len(set(lines)), lines
    # the handler runs in the main thread, so the posting thread may finish more parts before it sees the stop
    said = [line for line in lines if line.startswith("INFO thread 1 (daily) local: ")]
    assert said in [[f"INFO thread 1 (daily) local: {n}/3 posted; waiting: publisher is stopping; the rest goes at "
                     "the next run"] for n in (1, 2)] + [["INFO thread 1 (daily) local: 3/3 posted"]], said
    assert lines[-1] == "INFO publisher run stopped"


@pytest.mark.heavy
def test_a_slot_reached_during_a_long_pass_is_served_without_a_skipped_warning(project: Path,
                                                                               forks: ForkServer) -> None:
    zone = ZoneInfo("Europe/London")
    first = datetime.now(zone).replace(microsecond=0, tzinfo=None) + timedelta(seconds=4)
    second = first + timedelta(seconds=2)
    (project / "schedule.toml").write_text(
        MINIMAL_SCHEDULE + f"quotes_per_thread = 2\nonce = [{first.isoformat()}, {second.isoformat()}]\n",
        encoding="utf-8")
    Project(project / "schedule.toml").queue_add("daily")  # by hand, for the first slot
    process = daemon(forks, project, {"PUBLISHER_PAUSE_AT": "store:posted:after#1"})
    try:
        assert wait_for(lambda: stopped(process.pid), 60)  # the first slot's pass, between its two parts
        time.sleep(max(0.0, second.replace(tzinfo=zone).timestamp() + 1 - time.time()))  # the second slot passes
        process.send_signal(signal.SIGCONT)
        assert wait_for(lambda: store_rows(project, "SELECT COUNT(*) FROM threads WHERE state = 'posted'") == [(2,)],
                        60), log_lines(process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)
        process.wait(60)
    lines = log_lines(process)
    assert not [line for line in lines if "skipped" in line or "maximum number of running instances" in line], lines
    assert store_rows(project, "SELECT outcome, thread_ids FROM slot_firings ORDER BY slot_at") == [
        ("queued", "[1]"), ("queued", "[2]")]


def test_a_held_thread_is_said_to_be_held_at_its_slot(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        handle_slots(queue, clock())
    added = proj.queue_add("daily")
    with proj.queue() as queue:
        queue.hold(added.thread.id, by="amira")
    clock.moment = utc("2026-12-02 08:30:05")
    with caplog.at_level(logging.INFO, logger="publisher"), proj.queue() as queue:
        handle_slots(queue, clock())
    assert (f"campaign daily: slot 2026-12-02 08:30 GMT: thread {added.thread.id} is not posted: it is held (held by "
            f"amira; publisher queue release {added.thread.id})") in caplog.messages


def test_a_slot_lost_to_a_broken_collection_is_posted_once_the_file_is_fixed(
        project: Path, caplog: pytest.LogCaptureFixture) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))
    proj = Project(project / "schedule.toml", now=clock)
    daemon = Daemon(proj.files, now=clock, env={})
    collection = project / "quotes" / "caseyreview.toml"
    good = collection.read_text("utf-8")
    try:
        daemon.tick()
        collection.write_text(good + "\nthis is [ not toml\n", encoding="utf-8")
        with caplog.at_level(logging.INFO, logger="publisher"):
            for seconds in (5, 65, 125):  # the slot, then two retry passes: said once
                clock.moment = utc("2026-12-02 08:30") + timedelta(seconds=seconds)
                assert daemon.tick() == []
        said = [m for m in caplog.messages if "its thread cannot be made" in m]
        assert len(said) == 1 and said[0].startswith("campaign daily: slot 2026-12-02 08:30 GMT: its thread cannot be "
                                                     "made: quotes/caseyreview.toml:")
        assert "publisher queue add --now --campaign daily" in said[0]
        collection.write_text(good, encoding="utf-8")
        clock.moment = utc("2026-12-02 08:33")
        assert [o.state for o in daemon.tick()] == ["posted"]  # within 5 minutes: on time
        with proj.queue() as queue:
            assert [t.quote_ids for t in queue.threads(show_all=True)] == [IDS[0:3]]
    finally:
        daemon.close()


def test_a_slot_still_broken_when_the_next_one_passes_is_skipped_saying_why(
        project: Path, caplog: pytest.LogCaptureFixture) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))
    daemon = Daemon(Project(project / "schedule.toml", now=clock).files, now=clock, env={})
    collection = project / "quotes" / "caseyreview.toml"
    good = collection.read_text("utf-8")
    try:
        daemon.tick()
        collection.write_text(good + "\nthis is [ not toml\n", encoding="utf-8")
        clock.moment = utc("2026-12-02 08:30:05")
        daemon.tick()
        collection.write_text(good, encoding="utf-8")
        clock.moment = utc("2026-12-03 08:31")
        with caplog.at_level(logging.INFO, logger="publisher"):
            assert [o.state for o in daemon.tick()] == ["posted"]  # the latest slot only
        skipped = "campaign daily: slot 2026-12-02 08:30 GMT could not be served (quotes/caseyreview.toml:"
        assert any(m.startswith(skipped) for m in caplog.messages), caplog.messages
    finally:
        daemon.close()


@pytest.mark.heavy
def test_an_edit_to_schedule_toml_mid_thread_pauses_it_only_for_the_reload(project: Path,
                                                                          forks: ForkServer) -> None:
    """The pass stops between parts when schedule.toml changes, reads it again, and goes straight on: not at the
    next retry minute."""
    (project / "schedule.toml").write_text(MINIMAL_SCHEDULE + "quotes_per_thread = 4\n", encoding="utf-8")
    Project(project / "schedule.toml").queue_add("daily", now=True)
    process = daemon(forks, project, {"PUBLISHER_PAUSE_AT": "outbox:create:after#2"})
    try:
        assert wait_for(lambda: stopped(process.pid), 60)
        with (project / "schedule.toml").open("a", encoding="utf-8") as schedule_file:
            schedule_file.write("# an edit while the thread is under way\n")
        process.send_signal(signal.SIGCONT)
        assert wait_for(lambda: store_rows(project, "SELECT state FROM threads") == [("posted",)], 20), \
            log_lines(process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    lines = log_lines(process)
    assert "INFO schedule.toml changed: publisher now follows the new one" in lines
    assert "INFO thread 1 (daily) local: 4/4 posted" in lines
