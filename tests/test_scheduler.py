"""Slots on the wall clock (DST included), catch-up after downtime, and the daemon as a real process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result

from conftest import wait_for
from posting_project import environment, make_project
from publisher.app import Project
from publisher.config import Campaign, Slots
from publisher.scheduler import SlotTrigger, handle_slots
from publisher.slots import local_instant, next_slots, slot_instants
from test_posting import check_bluesky_thread

LONDON = ZoneInfo("Europe/London")


def campaign(**keys: Any) -> Campaign:
    return Campaign(name="c", collection="caseyreview", accounts=["local"], **keys)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def instants(c: Campaign, start: str, end: str) -> list[str]:
    return [i.strftime("%Y-%m-%d %H:%M") for i in slot_instants(c, LONDON, utc(start), utc(end))]


def test_weekday_slots() -> None:
    c = campaign(slots=Slots(days=["mon", "tue", "wed", "thu", "fri"], times=["08:30"]))
    assert instants(c, "2026-11-20 00:00", "2026-11-24 23:59") == [
        "2026-11-20 08:30", "2026-11-23 08:30", "2026-11-24 08:30"]  # Friday, then Monday and Tuesday (GMT)


def test_morning_slot_keeps_its_local_time_across_fall_back() -> None:
    c = campaign(slots=Slots(days=["sat", "sun", "mon"], times=["08:30"]))
    found = slot_instants(c, LONDON, utc("2026-10-24 00:00"), utc("2026-10-26 23:00"))
    assert [i.strftime("%Y-%m-%d %H:%M") for i in found] == [
        "2026-10-24 07:30", "2026-10-25 08:30", "2026-10-26 08:30"]  # BST, then GMT from the 25th
    assert {i.astimezone(LONDON).strftime("%H:%M") for i in found} == {"08:30"}


def test_ambiguous_slot_fires_once_on_fall_back_day() -> None:
    c = campaign(slots=Slots(days=["sun"], times=["01:30"]))
    found = slot_instants(c, LONDON, utc("2026-10-24 12:00"), utc("2026-10-25 12:00"))
    assert [i.isoformat() for i in found] == ["2026-10-25T00:30:00+00:00"]  # 01:30 BST, the first of the two
    assert found[0].astimezone(LONDON).strftime("%H:%M %Z") == "01:30 BST"


def test_morning_slot_keeps_its_local_time_across_spring_forward() -> None:
    c = campaign(slots=Slots(days=["sat", "sun"], times=["08:30"]))
    assert instants(c, "2027-03-27 00:00", "2027-03-28 23:00") == ["2027-03-27 08:30", "2027-03-28 07:30"]


def test_missing_slot_is_shifted_on_spring_forward_day() -> None:
    c = campaign(slots=Slots(days=["sat", "sun", "mon"], times=["01:30"]))
    found = slot_instants(c, LONDON, utc("2027-03-27 00:00"), utc("2027-03-29 12:00"))
    local = [i.astimezone(LONDON).strftime("%Y-%m-%d %H:%M %Z") for i in found]
    assert local == ["2027-03-27 01:30 GMT", "2027-03-28 02:30 BST", "2027-03-29 01:30 BST"]  # shifted one hour
    assert [i.strftime("%H:%M") for i in found] == ["01:30", "01:30", "00:30"]


def test_local_instant_rules() -> None:
    assert local_instant(datetime(2026, 10, 25, 1, 30), LONDON) == utc("2026-10-25 00:30")
    assert local_instant(datetime(2027, 3, 28, 1, 30), LONDON) == utc("2027-03-28 01:30")
    assert local_instant(datetime(2027, 3, 28, 2, 0), LONDON) == utc("2027-03-28 01:00")


def test_start_and_end_dates_are_inclusive() -> None:
    c = campaign(slots=Slots(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], times=["09:00"]),
                 start=date(2026, 12, 2), end=date(2026, 12, 4))
    assert instants(c, "2026-11-30 00:00", "2026-12-10 00:00") == [
        "2026-12-02 09:00", "2026-12-03 09:00", "2026-12-04 09:00"]
    assert next_slots(c, LONDON, utc("2026-12-05 00:00")) == []


def test_one_offs_and_cron() -> None:
    c = campaign(once=[datetime(2026, 12, 1, 9, 0), datetime(2027, 6, 1, 9, 0)])
    assert instants(c, "2026-11-01 00:00", "2027-12-01 00:00") == ["2026-12-01 09:00", "2027-06-01 08:00"]
    weekend = campaign(cron="0 9,17 * * sat,sun")
    assert instants(weekend, "2026-11-20 00:00", "2026-11-22 23:00") == [
        "2026-11-21 09:00", "2026-11-21 17:00", "2026-11-22 09:00", "2026-11-22 17:00"]
    both = campaign(cron="0 9 * * *", once=[datetime(2026, 11, 21, 12, 0)])
    assert instants(both, "2026-11-21 00:00", "2026-11-21 23:00") == ["2026-11-21 09:00", "2026-11-21 12:00"]


def test_slot_trigger_for_apscheduler() -> None:
    c = campaign(slots=Slots(days=["sun"], times=["01:30"]))
    trigger = SlotTrigger(c, LONDON)
    first = trigger.get_next_fire_time(None, utc("2026-10-24 12:00"))
    assert first == utc("2026-10-25 00:30")
    assert trigger.get_next_fire_time(first, first) == utc("2026-11-01 01:30")  # once on the fall-back day


# -- catch-up after downtime ---------------------------------------------------------------------------------

class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def slot_project(tmp_path: Path, clock: Clock, extra: str) -> Project:
    root = make_project(tmp_path / "p")
    schedule = root / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace("accounts = []", 'accounts = ["local"]')
                        + 'slots = { days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], '
                          'times = ["08:30", "12:30", "18:30"] }\n' + extra
                        + '\n[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
    return Project(schedule, now=clock)


def decide(project: Project) -> list[tuple[str, str]]:
    with project.queue() as queue:
        return [(d.slot_at.strftime("%H:%M"), d.outcome) for d in handle_slots(queue, project.now())]


def all_threads(project: Project) -> list[Any]:
    with project.queue() as queue:
        return queue.store.threads()


@pytest.mark.parametrize(("extra", "expected"), [
    ("", [("08:30", "skipped"), ("12:30", "skipped"), ("18:30", "late")]),  # default: post the latest, late
    ('catch_up = "skip"\n', [("08:30", "skipped"), ("12:30", "skipped"), ("18:30", "skipped")]),
    ('max_lateness = "1h"\n', [("08:30", "skipped"), ("12:30", "skipped"), ("18:30", "skipped")]),
    ('max_lateness = "2h"\n', [("08:30", "skipped"), ("12:30", "skipped"), ("18:30", "late")]),
], ids=["post-late-default", "skip", "too-late", "within-max-lateness"])
def test_catch_up_after_downtime(tmp_path: Path, extra: str, expected: list[tuple[str, str]]) -> None:
    clock = Clock(utc("2026-11-23 07:00"))
    project = slot_project(tmp_path, clock, extra)
    assert decide(project) == []  # first start: watched from now, nothing before it is caught up
    clock.moment = utc("2026-11-23 20:00")  # down all day: three slots missed, the last 1 h 30 late
    assert decide(project) == expected
    assert decide(project) == []  # decided once, never again
    threads = all_threads(project)
    assert len(threads) == sum(1 for _, outcome in expected if outcome == "late")
    if threads:
        assert threads[0].due_at == utc("2026-11-23 18:30")


def test_on_time_slots_and_no_double_queueing(tmp_path: Path) -> None:
    clock = Clock(utc("2026-11-23 08:00"))
    project = slot_project(tmp_path, clock, "threads_per_slot = 2\n")
    decide(project)
    clock.moment = utc("2026-11-23 08:31")
    assert decide(project) == [("08:30", "queued")]
    clock.moment = utc("2026-11-23 08:32")
    assert decide(project) == []
    threads = all_threads(project)
    assert [len(t.quote_ids) for t in threads] == [3, 3] and threads[0].quote_ids != threads[1].quote_ids


def test_evergreen_respects_the_cooldown(tmp_path: Path) -> None:
    clock = Clock(utc("2026-11-23 08:00"))
    project = slot_project(tmp_path, clock, 'order = "evergreen"\ncooldown_days = 10\n')
    decide(project)
    outcomes = []
    for day in range(8):
        clock.moment = utc("2026-11-23 08:31") + timedelta(days=day)
        outcomes += [o for slot, o in decide(project) if slot == "08:30"]  # 12:30 and 18:30 were missed
    assert outcomes == ["queued"] * 7 + ["no_quotes"]  # 20 quotes, 3 a day: 6 full threads, 1 of 2, then none
    sizes = [len(t.quote_ids) for t in all_threads(project)]
    assert sizes == [3, 3, 3, 3, 3, 3, 2]
    clock.moment = utc("2026-12-03 08:31")  # ten days after the first: its quotes are free again
    assert decide(project)[-1] == ("08:30", "queued")


# -- the daemon as a real process ----------------------------------------------------------------------------

def daemon_project(tmp_path: Path, pds: Any, slot_offsets: list[int]) -> tuple[Path, dict[str, str], str]:
    handle, did, password = pds.create_account("daemon")
    root = make_project(tmp_path / "d", bluesky=(pds.url, handle))
    now = datetime.now(LONDON).replace(microsecond=0, tzinfo=None)
    once = ", ".join((now + timedelta(seconds=s)).isoformat() for s in slot_offsets)
    schedule = root / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace('accounts = ["bsky"]', 'accounts = ["bsky", "local"]')
                        + f"once = [{once}]\n"
                        + '\n[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
    env = {**os.environ, **environment(bluesky_password=password)}
    return root, env, did


def start_daemon(root: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    log = (root / "daemon.log").open("a", encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "publisher", "--config", str(root / "schedule.toml"), "run",
                             *extra], env=env, stdout=log, stderr=log, text=True)


def posted_threads(root: Path) -> int:
    path = root / "state" / "publisher.db"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM threads WHERE state = 'posted'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_daemon_posts_at_slots_refuses_a_second_and_stops_on_sigterm(tmp_path: Path, pds: Any,
                                                                     run_cli: Callable[..., Result]) -> None:
    root, env, did = daemon_project(tmp_path, pds, [4, 9])
    daemon = start_daemon(root, env, "--log-format", "json")
    try:
        assert wait_for(lambda: (root / "state" / "publisher.lock").exists(), 20)
        time.sleep(1)
        second = subprocess.run([sys.executable, "-m", "publisher", "--config", str(root / "schedule.toml"), "run"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 9
        assert "is already posting from" in second.stderr and str(daemon.pid) in second.stderr
        assert wait_for(lambda: posted_threads(root) == 2, 90), (root / "daemon.log").read_text()
        status = subprocess.run([sys.executable, "-m", "publisher", "--config", str(root / "schedule.toml"),
                                 "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        report = json.loads(status.stdout)
        assert report["daemon"]["pid"] == daemon.pid and report["queue"] == {"posted": 2}
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
        assert time.monotonic() - started < 5
    finally:
        if daemon.poll() is None:
            daemon.kill()
    posts = pds.posts(did)
    assert len(posts) == 10  # two threads of 5: the same intro and outro, different quotes
    roots = [p for p in posts if "reply" not in p["value"]]
    assert len(roots) == 2
    assert len({p["value"]["text"] for p in posts if "reply" in p["value"] and "“" in p["value"]["text"]}) == 6
    assert len(list((root / "outbox" / "local" / "posts").glob("*.json"))) == 10
    lines = [json.loads(line) for line in (root / "daemon.log").read_text().splitlines() if line.startswith("{")]
    assert any("queued thread(s)" in line["message"] for line in lines)
    assert {line["level"] for line in lines} <= {"info", "warning"}


def test_daemon_killed_mid_thread_completes_it_on_restart(tmp_path: Path, pds: Any) -> None:
    root, env, did = daemon_project(tmp_path, pds, [3])
    killed = start_daemon(root, {**env, "PUBLISHER_KILL_AT": "bluesky:create:after#3"})
    assert killed.wait(timeout=90) == -signal.SIGKILL
    assert len(pds.posts(did)) == 3
    daemon = start_daemon(root, env)
    try:
        assert wait_for(lambda: posted_threads(root) == 1, 60), (root / "daemon.log").read_text()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    check_bluesky_thread(pds, did, "(thread)")
    assert "thread 1 (thread) bsky: 5/5 posted" in (root / "daemon.log").read_text()


def test_run_once_for_cron(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    clock_start = datetime.now(LONDON).replace(microsecond=0, tzinfo=None)
    root = make_project(tmp_path / "p")
    schedule = root / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace("accounts = []", 'accounts = ["local"]')
                        + f"once = [{(clock_start + timedelta(days=1)).isoformat()}]\n"
                        + '\n[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
    result = run_cli("--config", str(schedule), "run", "--once")
    assert result.exit_code == 0, result.output
    result = run_cli("--config", str(schedule), "status")
    assert "Daemon: not running" in result.stdout
    assert "next: " in result.stdout and "UTC)" in result.stdout


class TickingClock:
    """A clock that moves a second on every reading: a pass that posts takes time."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment


def test_a_slot_reached_while_a_pass_posts_is_taken_by_that_pass(tmp_path: Path) -> None:
    """APScheduler skips a job's wake-up while the job still runs (stop 18's CI failure): the pass that is posting
    must itself look again for slots reached meanwhile."""
    from publisher.project import ProjectFiles
    from publisher.scheduler import Daemon

    root = make_project(tmp_path / "p")
    schedule = root / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8").replace("accounts = []", 'accounts = ["local"]')
                        + "once = [2026-11-23T08:30:00, 2026-11-23T08:30:20]\n"
                        + '\n[accounts.local]\nplatform = "outbox"\n', encoding="utf-8")
    clock = TickingClock(utc("2026-11-23 08:29:55"))
    daemon = Daemon(ProjectFiles(schedule), now=clock, env={})
    try:
        clock.moment = utc("2026-11-23 08:30:01")  # the first slot's wake-up
        outcomes = daemon.tick()
    finally:
        daemon.close()
    assert clock.moment > utc("2026-11-23 08:30:20")  # the second slot came while the first thread was posted
    assert [o.state for o in outcomes] == ["posted", "posted"]
