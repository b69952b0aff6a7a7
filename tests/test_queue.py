"""The queue as a campaign runs it for weeks: slots not "now", each quote once and in order, running out, cancel
and hold, recompose after an edit, the X budget, one dry run, JSON for scripts."""

from __future__ import annotations

import json
import re
import sqlite3
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result

from conftest import REPO, store_rows
from publisher.app import Project
from publisher.errors import BadArgument, ExitStatus, NothingToQueue
from publisher.scheduler import handle_slots
from publisher.slots import next_slots, when_label
from publisher.store import NewPart

LONDON = ZoneInfo("Europe/London")
IDS = [q["id"] for q in tomllib.loads((REPO / "quotes" / "caseyreview.toml").read_text("utf-8"))["quotes"]]


def schedule(campaign: str = "", accounts: str = "", top: str = "") -> str:
    """A schedule with a local outbox account and one weekday campaign of 3 quotes a thread."""
    return f"""{top}[defaults]
timezone = "Europe/London"

[accounts.local]
platform = "outbox"
{accounts}
[[campaigns]]
name = "daily"
collection = "caseyreview"
accounts = ["local"]
quotes_per_thread = 3
slots = {{ days = ["mon", "tue", "wed", "thu", "fri"], times = ["08:30"] }}
{campaign}"""


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- slots, not "now" ---------------------------------------------------------------------------------------

def test_add_takes_the_next_free_slot_and_the_daemon_posts_that_thread_there(project: Path) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))  # a Tuesday evening
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        assert handle_slots(queue, clock()) == []  # the daemon starts watching
    first, second = proj.queue_add("daily"), proj.queue_add("daily")
    assert (first.slot_at, second.slot_at) == (utc("2026-12-02 08:30"), utc("2026-12-03 08:30"))
    assert first.thread.due_at == first.slot_at
    assert (first.thread.quote_ids, second.thread.quote_ids) == (IDS[0:3], IDS[3:6])
    assert (first.thread.number, second.thread.number) == (1, 2)
    clock.moment = utc("2026-12-02 08:30:02")
    with proj.queue() as queue:
        decisions = handle_slots(queue, clock())
        assert [(d.outcome, d.thread_ids) for d in decisions] == [("queued", [first.thread.id])]
        assert len(queue.store.threads()) == 2  # the slot was filled: the daemon added nothing
    clock.moment = utc("2026-12-04 08:30:01")  # Thursday's slot was never handled: it was missed
    with proj.queue() as queue:
        decisions = handle_slots(queue, clock())
        assert [(d.slot_at, d.outcome) for d in decisions] == [(utc("2026-12-03 08:30"), "skipped"),
                                                                (utc("2026-12-04 08:30"), "queued")]
        # the thread queued for the skipped slot is skipped with it, and its quotes go to Friday's thread
        assert queue.thread(second.thread.id).state == "skipped"
        friday = queue.thread(decisions[1].thread_ids[0])
        assert friday.quote_ids == IDS[3:6] and friday.number == 2


def test_cli_add_names_the_slot_and_refuses_past_or_full_times(project: Path,
                                                               run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    now = datetime.now(UTC)
    slots = next_slots(Project(project / "schedule.toml").campaign("daily"), LONDON, now, count=3)
    added = run_cli("queue", "add")
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith(f"Queued thread 1 (daily #1) for the slot {when_label(slots[0], LONDON)} ")
    assert added.stdout.rstrip().endswith(": 3 quotes, 3 posts to local.")

    past = run_cli("queue", "add", "--at", "2020-01-06 08:30")
    assert past.exit_code == ExitStatus.USAGE
    assert past.stderr.startswith("--at 2020-01-06 08:30 is in the past (it is now ")
    assert past.stderr.rstrip().endswith("give a future time, or --now to post it at once")

    taken = slots[0].astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    full = run_cli("queue", "add", "--at", taken)
    assert full.exit_code == ExitStatus.USAGE and "already has thread 1" in full.stderr
    third = slots[2].astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    at_slot = run_cli("queue", "add", "--at", third)
    assert f"for the slot {when_label(slots[2], LONDON)}" in at_slot.stdout
    off_slot = (slots[0] + timedelta(hours=2)).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    assert "(not one of its slots)" in run_cli("queue", "add", "--at", off_slot).stdout
    assert "due now" in run_cli("queue", "add", "--now").stdout
    both = run_cli("queue", "add", "--now", "--at", third)
    assert both.exit_code == ExitStatus.USAGE
    listed = json.loads(run_cli("queue", "list", "--json").stdout)
    queued = [q for t in listed for q in t["quote_ids"]]
    assert len(listed) == 4 and sorted(queued) == sorted(IDS[:12])  # 4 threads, each quote once


def test_a_campaign_without_slots_needs_at_or_now(project: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("queue", "add")  # the minimal schedule's campaign has no slots
    assert result.exit_code == ExitStatus.USAGE
    assert result.stderr == ("campaign daily has no free slot to queue for: it has no slots, cron or once in "
                             'schedule.toml; say when with --at "YYYY-MM-DD HH:MM", or post at once with --now\n')


# -- each quote once, then the campaign ends -----------------------------------------------------------------

def test_sequential_campaign_runs_out_and_says_when(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue(create=False) as queue:
        campaign, collection = proj.campaign("daily"), proj.collection("caseyreview")
        assert str(queue.run_out(campaign, collection)) == (
            "20 of 20 quotes not queued yet: runs out after 7 more threads, last thread Thu 10 Dec 08:30")
    for _ in range(2):
        proj.queue_add("daily")
    with proj.queue() as queue:
        assert str(queue.run_out(campaign, collection)).endswith("after 5 more threads, last thread Thu 10 Dec 08:30")
        ends_early = campaign.model_copy(update={"end": datetime(2026, 12, 7).date()})
        assert str(queue.run_out(ends_early, collection)) == (
            "14 of 20 quotes not queued yet, but its slots end first: 8 would never be posted "
            "(last thread Mon 7 Dec 08:30)")

    for count in range(3, 8):
        added = proj.queue_add("daily")
        assert added.last == (count == 7)
    assert added.thread.quote_ids == IDS[18:20]  # the last thread takes what is left
    with pytest.raises(NothingToQueue, match="campaign daily has run out: all 20 quotes of caseyreview have "
                                             "been used"):
        proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        used = [q for t in queue.store.threads() for q in t.quote_ids]
        assert used == IDS  # each quote once, in order
        assert str(queue.run_out(campaign, collection)) == "every quote is queued; last thread Thu 10 Dec 08:30"

    refused = run_cli("queue", "add")
    assert refused.exit_code == ExitStatus.NOTHING_TO_QUEUE
    assert refused.stderr.startswith("campaign daily has run out: all 20 quotes of caseyreview have been used "
                                     "(queued, posted or cancelled)")
    assert refused.stderr.rstrip().endswith('add quotes to quotes/caseyreview.toml, or set order = "evergreen" on '
                                            "the campaign in schedule.toml to repeat them")
    assert "  quotes: every quote is queued; last thread Thu 10 Dec 08:30" in run_cli("status").stdout
    assert run_cli("validate").stdout.splitlines()[1] == ("  daily: every quote is queued; last thread Thu 10 Dec "
                                                          "08:30")
    preview = run_cli("preview", "-o", "out")  # nothing to show: said as queue add says it, and no empty page
    assert (preview.exit_code, preview.stderr) == (ExitStatus.NOTHING_TO_QUEUE, refused.stderr), preview.output
    assert not (project / "out").exists()


def test_preview_starts_after_the_queue_and_marks_evergreen_repeats(project: Path,
                                                                     run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add").exit_code == 0
    assert run_cli("queue", "add").exit_code == 0
    assert run_cli("preview", "--threads", "2", "-o", "out").exit_code == 0
    document = json.loads((project / "out" / "thread.json").read_text("utf-8"))
    assert [t["quote_ids"] for t in document["threads"]] == [IDS[6:9], IDS[9:12]]
    assert [t["number"] for t in document["threads"]] == [3, 4]
    assert all(t["slot_at"] and not t["repeats"] for t in document["threads"])
    assert document["notes"][0].startswith("Campaign daily: 14 of 20 quotes not queued yet: runs out after 5 more")

    (project / "schedule.toml").write_text(schedule('order = "evergreen"\ncooldown_days = 1\n')
                                           .replace("quotes_per_thread = 3", "quotes_per_thread = 8"),
                                           encoding="utf-8")
    assert run_cli("preview", "--threads", "3", "-o", "ever").exit_code == 0
    document = json.loads((project / "ever" / "thread.json").read_text("utf-8"))
    threads = document["threads"]
    # queued: 0-5; then the 14 never used, then the longest rested (queued earlier, more than a day before)
    assert threads[0]["quote_ids"] == IDS[6:14] and threads[1]["quote_ids"] == IDS[14:20] + IDS[0:2]
    assert not threads[0]["repeats"] and sorted(threads[1]["repeats"]) == sorted(IDS[0:2])
    page = (project / "ever" / "index.html").read_text("utf-8")
    assert f"Repeat: {IDS[0]} was last used" in page


# -- states: hold, release, cancel, retry, recompose ---------------------------------------------------------

def test_state_changes_and_the_ones_refused(project: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("queue", "add", "--now").exit_code == 0
    held = run_cli("queue", "hold", "1")
    assert held.stdout == "Held thread 1 (daily): it will not post until publisher queue release 1.\n"
    assert run_cli("post").stdout == "Nothing is due.\n"
    assert "held: held by" in run_cli("queue", "list").stdout
    released = run_cli("queue", "release", "1")
    assert released.stdout.startswith("Released thread 1 (daily): it posts at the next publisher post")
    assert run_cli("post").exit_code == 0
    for args, message in [(("cancel", "1"), "thread 1 is posted: there is nothing to cancel"),
                          (("hold", "1"), "thread 1 is posted: only a queued, posting or needs_attention thread "
                                          "can be held"),
                          (("release", "1"), "thread 1 is posted: only a held or over_budget thread can be released"),
                          (("recompose", "1"), "thread 1 is posted: there is nothing to recompose")]:
        result = run_cli("queue", *args)
        assert result.exit_code == ExitStatus.WRONG_STATE, args
        assert result.stderr.startswith(message), result.stderr
    assert run_cli("queue", "add", "--now").exit_code == 0
    cancelled = run_cli("queue", "cancel", "2")
    assert cancelled.stdout == "Cancelled thread 2 (daily): nothing of it had been posted.\n"
    assert run_cli("queue", "retry", "2").exit_code == ExitStatus.WRONG_STATE
    assert run_cli("queue", "show", "99999999999999999999").exit_code == ExitStatus.USAGE
    missing = run_cli("queue", "show", "7")
    assert (missing.exit_code, missing.stderr) == (ExitStatus.CONFIG, "no thread 7 in the queue (publisher queue "
                                                                      "list --all shows them)\n")
    # a cancelled thread's quotes stay used: the next thread goes on from there
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert json.loads(run_cli("queue", "show", "3", "--json").stdout)["quote_ids"] == [IDS[2]]


def test_a_thread_with_live_parts_is_never_told_to_recompose(project: Path, run_cli: Callable[..., Result]) -> None:
    """Recompose refuses a thread with a part live: list and status offer a cancel instead, and so does a part
    whose account has gone once another part of the thread is live."""
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add").exit_code == 0
    with Project(project / "schedule.toml").queue() as queue:
        intro = queue.store.parts(1)[0]
        assert queue.store.transition(1, "posting", ("queued",)) and queue.store.begin_attempt(intro.id, {"r": 1})
        queue.store.mark_posted(intro.id, "post-1", None, None)
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace("let down by their leaders.", "let down, the review found."),
                    encoding="utf-8")
    fix = "its posts so far stay as they are; publisher queue cancel 1 stops the rest"
    assert f"quotes changed since it was queued: {IDS[1]} ({fix})" in run_cli("queue", "list").stdout
    assert f"quotes changed since queued: {IDS[1]} ({fix})" in run_cli("status").stdout
    assert run_cli("queue", "recompose", "1").exit_code == ExitStatus.WRONG_STATE  # as the fix foresaw


def test_changed_quotes_are_flagged_and_recompose_rebuilds_the_thread(project: Path,
                                                                      run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add").exit_code == 0
    before = json.loads(run_cli("queue", "show", "1", "--json").stdout)
    assert before["quotes_changed"] == []
    path = project / "quotes" / "caseyreview.toml"
    text = path.read_text("utf-8")
    assert text.count("let down by their leaders.") == 1
    path.write_text(text.replace("let down by their leaders.", "let down by their leaders, the review found."),
                    encoding="utf-8")
    listed = run_cli("queue", "list").stdout
    assert f"quotes changed since it was queued: {IDS[1]} (publisher queue recompose 1)" in listed
    assert f"quotes changed since queued: {IDS[1]} (publisher queue recompose 1)" in run_cli("status").stdout
    assert json.loads(run_cli("status", "--json").stdout)["threads"][0]["quotes_changed"] == [IDS[1]]
    done = run_cli("queue", "recompose", "1")
    assert done.stdout == (f"Recomposed thread 1 (daily) from the current files; changed quotes: {IDS[1]}. Check "
                           "it with publisher queue show 1.\n")
    after = json.loads(run_cli("queue", "show", "1", "--json").stdout)
    assert after["quotes_changed"] == [] and after["due_at"] == before["due_at"]
    assert "the review found." in after["parts"][1]["text"]
    assert after["parts"][1]["text"] != before["parts"][1]["text"]


def test_json_for_scripts(project: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert run_cli("post").exit_code == 0
    assert run_cli("queue", "add", "--now").exit_code == 0
    listed = json.loads(run_cli("queue", "list", "--all", "--json").stdout)
    assert [t["id"] for t in listed] == [1, 2]
    shown = json.loads(run_cli("queue", "show", "1", "--json").stdout)
    assert shown == listed[0]
    for key in ("id", "campaign", "state", "due_at", "quote_ids", "parts"):
        assert key in shown
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d", shown["due_at"])
    assert shown["state"] == "posted" and shown["campaign"] == "daily"
    part = shown["parts"][0]
    assert part["account"] == "local" and part["state"] == "posted" and part["post_id"] == "local-000001"
    assert part["url"].startswith("file://") and part["url"].endswith("#local-000001")
    status = json.loads(run_cli("status", "--json").stdout)
    assert [t["id"] for t in status["threads"]] == [2]  # the threads still to do
    assert status["threads"][0]["parts"][0]["state"] == "pending"


# -- one dry run ---------------------------------------------------------------------------------------------

def test_post_and_run_dry_runs_are_one_and_the_same(project: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("queue", "add", "--now").exit_code == 0
    posted = run_cli("post", "--dry-run")
    assert posted.exit_code == 0, posted.output
    assert posted.stdout.splitlines() == ["Thread 1 (daily): posted",
                                          "  local: 1/1 posted: state/dry-run/local/timeline.html#local-000001",
                                          "Dry run: nothing was sent; see state/dry-run/local/timeline.html"]
    outbox = project / "state" / "dry-run" / "local" / "posts"
    first = sorted(p.read_text("utf-8") for p in outbox.glob("*.json"))
    assert len(first) == 1

    ran = run_cli("run", "--once", "--dry-run")
    assert ran.exit_code == 0, ran.output
    assert "Dry run: nothing was sent; see state/dry-run/local/timeline.html" in ran.stdout
    assert "thread 1 (daily) local: 1/1 posted" in ran.stderr and "run --once: 1 thread due, 1 posted" in ran.stderr
    again = [json.loads(p.read_text("utf-8")) for p in sorted(outbox.glob("*.json"))]
    assert [r["text"] for r in again] == [json.loads(r)["text"] for r in first]  # the same, made afresh
    assert store_rows(project, "SELECT state FROM threads") == [("queued",)]  # the real queue is untouched
    assert not (project / "outbox").exists()
    assert run_cli("run", "--once", "--dry-run").exit_code == 0  # nothing due in real terms


# -- the X budget, on an outbox counted as X ----------------------------------------------------------------

BUDGET = """[defaults]
timezone = "Europe/London"

[accounts.xish]
platform = "outbox"
like = "x"

[accounts.local]
platform = "outbox"

[[campaigns]]
name = "paid"
collection = "caseyreview"
accounts = ["xish"]
quotes_per_thread = 3
intro = "Thread {thread_number} of the #CaseyReview quotes"
x_monthly_budget = BUDGET

[[campaigns]]
name = "free"
collection = "caseyreview"
accounts = ["local"]
"""


def test_budget_holds_a_thread_that_would_overspend(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(BUDGET.replace("BUDGET", "0.10"), encoding="utf-8")
    preview = run_cli("preview", "--campaign", "paid", "--threads", "2", "-o", "out")
    assert preview.exit_code == 0, preview.output
    costs = [t["accounts"][0]["x_cost"] for t in json.loads((project / "out" / "thread.json").read_text())["threads"]]
    assert costs[0]["thread_usd"] == pytest.approx(4 * 0.015 + 3 * 0.005)  # intro + 3 quotes, 3 alt texts
    assert [c["over_budget"] for c in costs] == [False, True]
    assert "Over budget: $0.15 this month with it" in (project / "out" / "index.html").read_text("utf-8")

    for campaign in ("paid", "paid", "free"):
        assert run_cli("queue", "add", "--now", "--campaign", campaign).exit_code == 0
    result = run_cli("post")
    assert result.exit_code == ExitStatus.OVER_BUDGET, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Thread 1 (paid): posted"
    assert lines[2].startswith("Thread 2 (paid): over_budget · xish has spent $0.08 on X this month and this "
                               "thread costs $0.08: over the campaign's x_monthly_budget of $0.10; nothing was "
                               "posted (raise x_monthly_budget in schedule.toml, or wait for next month, then "
                               "publisher queue release 2)")
    assert "Thread 3 (free): posted" in lines  # other threads go on
    assert result.stderr.startswith("thread 2 held over budget: xish has spent $0.08")
    assert len(list((project / "outbox" / "xish" / "posts").glob("*.json"))) == 4  # thread 1 only
    assert store_rows(project, "SELECT state FROM parts WHERE thread_id = 2") == [("pending",)] * 4

    status = run_cli("status")
    month = datetime.now(LONDON).strftime("%Y-%m")
    assert f"X spend {month}: xish $0.08 of budget $0.10 (outbox, counted as X: nothing is spent)" in status.stdout
    assert "thread 2 (paid): over_budget: xish has spent $0.08" in status.stdout
    spend = json.loads(run_cli("status", "--json").stdout)["x_spend"]["xish"]
    assert spend["spent_usd"] == pytest.approx(0.075) and spend["budgets_usd"] == [0.1]

    (project / "schedule.toml").write_text(BUDGET.replace("BUDGET", "1.00"), encoding="utf-8")
    assert run_cli("queue", "release", "2").exit_code == 0
    assert run_cli("post").exit_code == 0
    assert json.loads(run_cli("status", "--json").stdout)["x_spend"]["xish"]["spent_usd"] == pytest.approx(0.15)


def test_a_store_from_version_0_1_is_upgraded_in_place(tmp_path: Path) -> None:
    from publisher.migrations import MIGRATIONS
    from publisher.store import Store

    path = tmp_path / "publisher.db"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:  # the schema 0.1 wrote
        old.executescript(script)
    old.execute("PRAGMA user_version = 2")
    old.executescript("""
        INSERT INTO threads VALUES (1, 'daily', '2026-11-23T08:30:00+00:00', 'posted', '["a", "b"]',
                                    '2026-11-23T08:30:00+00:00#1', '2026-11-22T10:00:00+00:00');
        INSERT INTO threads VALUES (2, 'daily', '2026-11-24T08:30:00+00:00', 'queued', '["c"]',
                                    '2026-11-24T08:30:00+00:00#1', '2026-11-22T10:01:00+00:00');
        INSERT INTO parts (id, thread_id, account, position, text, images, state, post_id)
            VALUES (1, 1, 'x', 1, 'hello', '[]', 'posted', '19');
        INSERT INTO parts (id, thread_id, account, position, text, images, state) VALUES (2, 2, 'x', 1, 'hi', '[]',
                                                                                          'pending');
        INSERT INTO attempts (part_id, started_at, finished_at, outcome)
            VALUES (1, '2026-11-23T08:30:01+00:00', '2026-11-23T08:30:02+00:00', 'posted');
        INSERT INTO cursors VALUES ('daily', 3);
        INSERT INTO slot_firings VALUES ('daily', '2026-11-23T08:30:00+00:00', 'queued', '[1]', '2026-11-23T08:30:00');
    """)
    old.commit()
    old.close()
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS) == 7
        threads = store.threads()
        assert [(t.id, t.number, t.state, t.quote_ids, t.slot) for t in threads] == [
            (1, 1, "posted", ["a", "b"], "2026-11-23T08:30:00+00:00#1"),
            (2, 2, "queued", ["c"], "2026-11-24T08:30:00+00:00#1")]
        assert [p.state for p in store.parts(1)] == ["posted"] and store.parts(2)[0].text == "hi"
        assert store.parts(1)[0].posted_at == datetime(2026, 11, 23, 8, 30, 2, tzinfo=UTC)
        assert store.used_quotes("daily") == [("a", threads[0].due_at, None), ("b", threads[0].due_at, None),
                                              ("c", threads[1].due_at, None)]
        assert store.last_slot("daily") == utc("2026-11-23 08:30")
        assert store.db.execute("SELECT name FROM sqlite_master WHERE name = 'cursors'").fetchall() == []
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    backup = tmp_path / "publisher.db.v2.bak"  # the store as it was, kept before the upgrade
    assert backup.exists() and backup.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(backup) as kept:
        assert kept.execute("PRAGMA user_version").fetchone()[0] == 2
        assert kept.execute("SELECT used FROM cursors").fetchone()[0] == 3
    with Store.open(path) as again:  # opening again changes nothing
        assert again.schema_version == 7 and len(again.threads()) == 2
        again.db.execute("DELETE FROM parts WHERE id = 2")
        again.db.execute("INSERT INTO parts (thread_id, account, position, text, images, state) "
                         "VALUES (2, 'x', 1, 'hi again', '[]', 'pending')")
        assert again.db.execute("SELECT MAX(id) FROM parts").fetchone()[0] == 3  # a part id is never reused


def test_a_part_is_armed_with_exactly_what_is_sent(project: Path) -> None:
    """What begin_attempt stores is what the poster sends, even if a retry cleared the part meanwhile: after a
    crash the part is looked for as it was sent, never prepared and sent afresh."""
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    proj = Project(project / "schedule.toml")
    added = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        store, (first, second, _) = queue.store, added.parts
        assert not store.begin_attempt(first.id, {"n": 0})  # the thread is not being posted yet: refused
        assert store.transition(added.thread.id, "posting", ("queued",))
        assert store.begin_attempt(first.id, {"n": 0})
        store.mark_posted(first.id, "local-000001", None, None)
        store.mark_part(second.id, "pending", "X answered 503", not_before=datetime.now(UTC))
        assert queue.retry(added.thread.id)[0] == 1  # a person hurries it along, clearing what was prepared
        assert store.thread_state(added.thread.id) == "posting"
        assert store.begin_attempt(second.id, {"n": 1, "text": "as sent"})  # the poster, which had read it before
        part = store.parts(added.thread.id)[1]
        assert (part.state, part.prepared) == ("in_flight", {"n": 1, "text": "as sent"})


def test_a_slot_place_that_fails_leaves_the_others(project: Path) -> None:
    (project / "schedule.toml").write_text(
        schedule('threads_per_slot = 2\nintro = "The same every time"\n')
        .replace('accounts = ["local"]', 'accounts = ["xish"]'),
        encoding="utf-8")
    (project / "schedule.toml").write_text((project / "schedule.toml").read_text("utf-8").replace(
        "[[campaigns]]", '[accounts.xish]\nplatform = "outbox"\nlike = "x"\n\n[[campaigns]]'), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        handle_slots(queue, clock())
    clock.moment = utc("2026-12-02 08:30:01")
    with proj.queue() as queue:
        (decision,) = handle_slots(queue, clock())
        assert (decision.outcome, decision.thread_ids) == ("queued", [1])  # place 1 queued, place 2 refused
        assert "xish part 1 would be the same text as a post of thread 1" in decision.errors[0]
        assert [t.quote_ids for t in queue.store.threads()] == [IDS[0:3]]
        assert "a thread could not be queued" in queue.store.events()[0]["message"]


def test_cancelling_a_future_thread_frees_its_slot(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    first = run_cli("queue", "add").stdout
    slot = re.search(r"for the slot (\w{3} \d+ \w{3} \d\d:\d\d)", first)
    assert slot
    cancelled = run_cli("queue", "cancel", "1").stdout
    assert f"Its slot, {slot.group(1)}, is free again" in cancelled
    again = run_cli("queue", "add").stdout
    assert f"Queued thread 2 (daily #1) for the slot {slot.group(1)}" in again  # its number was never posted
    assert json.loads(run_cli("queue", "show", "2", "--json").stdout)["quote_ids"] == IDS[3:6]


def test_the_budget_counts_what_threads_under_way_still_have_to_post(project: Path,
                                                                     run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(BUDGET.replace("BUDGET", "0.12"), encoding="utf-8")
    for _ in range(2):
        assert run_cli("queue", "add", "--now", "--campaign", "paid").exit_code == 0
    with Project(project / "schedule.toml").queue() as queue:  # thread 1 is under way, waiting for a rate limit
        store = queue.store
        intro, second, *_ = store.parts(1)
        assert store.transition(1, "posting", ("queued",)) and store.begin_attempt(intro.id, {"record": 1})
        store.mark_posted(intro.id, "xish-000001", None, None)
        store.mark_part(second.id, "pending", "X rate limit reached", not_before=datetime.now(UTC) + timedelta(hours=1))
    result = run_cli("post")
    assert result.exit_code == ExitStatus.OVER_BUDGET
    # $0.015 spent + $0.06 still to come from thread 1 + $0.075 for thread 2 = $0.15, over $0.12 (without
    # counting thread 1's remaining posts it would have been $0.09, and both threads would overspend)
    assert ("Thread 2 (paid): over_budget · xish has spent $0.02 on X this month (and $0.06 more is due from "
            "threads already under way) and this thread costs $0.08: over the campaign's x_monthly_budget of "
            "$0.12") in result.stdout
    assert "Thread 1 (paid): posting" in result.stdout
    refused = run_cli("queue", "recompose", "1")
    assert (refused.exit_code, refused.stderr) == (ExitStatus.WRONG_STATE, (
        "thread 1 cannot be recomposed: 1 of its parts is live (only a thread none of whose parts has been sent "
        "can be; publisher queue cancel 1 stops the rest)\n"))


def test_a_part_sent_with_no_answer_counts_as_spent_even_once_its_thread_is_cancelled(
        project: Path, run_cli: Callable[..., Result]) -> None:
    """X may have taken (and charged for) a part whose answer never came: cancelling its thread does not give the
    money back. Found by the queue model: killed after the send, cancelled, and two more threads went over."""
    (project / "schedule.toml").write_text(BUDGET.replace("BUDGET", "0.15"), encoding="utf-8")
    for _ in range(2):
        assert run_cli("queue", "add", "--now", "--campaign", "paid").exit_code == 0
    with Project(project / "schedule.toml").queue() as queue:  # thread 1 sent its intro, and the answer was lost
        store = queue.store
        intro = store.parts(1)[0]
        assert store.transition(1, "posting", ("queued",)) and store.begin_attempt(intro.id, {"record": 1})
    assert run_cli("queue", "cancel", "1").exit_code == 0
    spend = json.loads(run_cli("status", "--json").stdout)["x_spend"]["xish"]
    assert spend["spent_usd"] == pytest.approx(0.015)
    result = run_cli("post")  # $0.015 + $0.075 for thread 2 fits $0.15; counted at $0 it would as well
    assert result.exit_code == 0 and "Thread 2 (paid): posted" in result.stdout
    assert run_cli("queue", "add", "--now", "--campaign", "paid").exit_code == 0
    result = run_cli("post")  # $0.09 + $0.075 does not fit; without the lost intro it would ($0.15 exactly)
    assert result.exit_code == ExitStatus.OVER_BUDGET, result.output
    assert "xish has spent $0.09 on X this month" in result.stdout


def test_at_is_read_to_the_minute_and_finds_a_slot_in_a_dst_gap(project: Path) -> None:
    (project / "schedule.toml").write_text(schedule().replace(
        'slots = { days = ["mon", "tue", "wed", "thu", "fri"], times = ["08:30"] }', "once = [2027-03-28T01:30:00]"),
        encoding="utf-8")
    proj = Project(project / "schedule.toml", now=Clock(utc("2026-12-01 19:50")))
    first = proj.queue_add("daily")
    assert first.slot_at == utc("2027-03-28 01:30")  # 01:30 does not exist that day: 02:30 BST
    for local in ("2027-03-28 01:30", "2027-03-28 02:30:45"):  # the same slot, written two ways
        with pytest.raises(BadArgument, match=r"the slot Sun 28 Mar 2027 02:30 of campaign daily already has thread 1"):
            proj.queue_add("daily", at=datetime.fromisoformat(local).replace(tzinfo=LONDON))
    far = proj.queue_add("daily", at=datetime(9999, 12, 31, 23, 59, tzinfo=LONDON))
    assert far.slot_at is None  # not a slot, and no overflow looking for one


def test_disabled_and_vanished_campaigns_wait(project: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("queue", "add", "--now").exit_code == 0
    schedule_path = project / "schedule.toml"
    original = schedule_path.read_text("utf-8")
    schedule_path.write_text(original + "enabled = false\n", encoding="utf-8")
    refused = run_cli("queue", "add", "--now", "--campaign", "daily")
    assert (refused.exit_code, refused.stderr) == (ExitStatus.CONFIG, "schedule.toml: enabled: campaign daily is "
                                                                      "disabled (set enabled = true to queue threads "
                                                                      "for it)\n")
    assert run_cli("queue", "add", "--now").stderr == ("schedule.toml has no enabled campaign (set enabled = true "
                                                       "on one of: daily)\n")
    assert run_cli("post").stdout == ("Nothing was posted.\nThread 1 is due but waits: campaign daily is disabled "
                                      "(enabled = false), so it waits (set enabled = true, or publisher queue cancel "
                                      "1)\n")  # its queued thread waits too
    assert "campaign daily is disabled (enabled = false), so it waits" in run_cli("queue", "list").stdout
    schedule_path.write_text(original.replace('name = "daily"', 'name = "renamed"'), encoding="utf-8")
    notes = run_cli("validate").stdout.splitlines()
    assert ("  thread(s) 1 belong to campaign daily, which schedule.toml no longer has: they wait (give the campaign "
            "its name back, or publisher queue cancel them)") in notes
    assert run_cli("post").stdout.startswith("Nothing was posted.\nThread 1 is due but waits: campaign daily is no "
                                             "longer in schedule.toml")
    assert "campaign daily is no longer in schedule.toml, so it waits" in run_cli("status").stdout
    schedule_path.write_text(original, encoding="utf-8")
    assert run_cli("post").stdout.startswith("Thread 1 (daily): posted")


def test_retry_with_nothing_to_retry_and_an_account_gone(project: Path, run_cli: Callable[..., Result]) -> None:
    assert run_cli("queue", "add", "--now").exit_code == 0
    nothing = run_cli("queue", "retry", "1")
    assert nothing.exit_code == ExitStatus.WRONG_STATE
    assert nothing.stderr.startswith("thread 1 has nothing to retry: none of its parts failed or waits for a retry")
    schedule_path = project / "schedule.toml"
    original = schedule_path.read_text("utf-8")
    schedule_path.write_text(original.replace("[accounts.local]", "[accounts.elsewhere]")
                             .replace('accounts = ["local"]', 'accounts = ["elsewhere"]'), encoding="utf-8")
    result = run_cli("post")
    assert result.exit_code == ExitStatus.PARTIAL_THREAD
    shown = run_cli("queue", "show", "1").stdout
    assert "error: no account local in schedule.toml" in shown
    assert ("fix: add [accounts.local] back to schedule.toml, then publisher queue retry 1; or publisher queue "
            "recompose 1 to make it for the campaign's accounts now") in shown
    assert run_cli("queue", "recompose", "1").exit_code == 0
    assert run_cli("post").stdout.startswith("Thread 1 (daily): posted")
    assert json.loads(run_cli("queue", "show", "1", "--json").stdout)["parts"][0]["account"] == "elsewhere"


def test_evergreen_add_takes_the_next_slot_with_a_quote_ready(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule('order = "evergreen"\ncooldown_days = 3\n')
                                           .replace("quotes_per_thread = 3", "quotes_per_thread = 10"),
                                           encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))  # Tuesday; slots on weekdays
    proj = Project(project / "schedule.toml", now=clock)
    slots = [proj.queue_add("daily").slot_at for _ in range(3)]
    # Wed and Thu take all 20 quotes; on Fri every quote was used within 3 days; Mon has Wed's quotes back
    assert slots == [utc("2026-12-02 08:30"), utc("2026-12-03 08:30"), utc("2026-12-07 08:30")]
    with proj.queue() as queue:
        upcoming, empty = queue.upcoming(proj.campaign("daily"), proj.collection("caseyreview"), 2)
    assert [u.due for u in upcoming] == [utc("2026-12-08 08:30"), utc("2026-12-10 08:30")]
    assert empty == [utc("2026-12-04 08:30"), utc("2026-12-09 08:30")]  # passed over: nothing ready
    assert sorted(upcoming[0].repeats) == sorted(IDS[10:20]) and sorted(upcoming[1].repeats) == sorted(IDS[0:10])


def test_releasing_a_thread_still_over_budget_warns(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(BUDGET.replace("BUDGET", "0.05"), encoding="utf-8")
    assert run_cli("queue", "add", "--now", "--campaign", "paid").exit_code == 0
    assert run_cli("post").exit_code == ExitStatus.OVER_BUDGET
    released = run_cli("queue", "release", "1")
    assert released.exit_code == 0 and released.stdout.startswith("Released thread 1 (paid)")
    assert released.stderr.startswith("warning: it is still over budget (xish has spent $0.00 on X this month and "
                                      "this thread costs $0.08: over the campaign's x_monthly_budget of $0.05)")


def test_a_running_daemon_follows_edits_to_the_schedule(project: Path) -> None:
    """Disabling a campaign, renaming it, or raising its budget takes effect in a daemon that is already running."""
    schedule_path = project / "schedule.toml"
    schedule_path.write_text(BUDGET.replace("BUDGET", "0.05"), encoding="utf-8")
    clock = Clock(datetime.now(UTC))
    proj = Project(schedule_path, now=clock)
    daemon = proj.daemon()
    try:
        proj.queue_add("paid", now=True)
        assert [o.state for o in daemon.tick()] == ["over_budget"]
        text = schedule_path.read_text("utf-8")
        schedule_path.write_text(text.replace("x_monthly_budget = 0.05", "x_monthly_budget = 5.00"),
                                 encoding="utf-8")
        with proj.queue() as queue:
            queue.release(1)
        assert [o.state for o in daemon.tick()] == ["posted"]  # the new budget, without a restart

        free = 'name = "free"\ncollection = "caseyreview"\naccounts = ["local"]\n'
        schedule_path.write_text(schedule_path.read_text("utf-8").replace(free, free + "enabled = false\n"),
                                 encoding="utf-8")
        clock.moment += timedelta(seconds=1)
        with proj.queue() as queue:  # queued for it before it was disabled
            queue.store.add_thread("free", 1, clock(), [IDS[0]], {}, {"local": [NewPart("a post", [])]}, {})
        assert daemon.tick() == []  # it waits
        schedule_path.write_text(schedule_path.read_text("utf-8").replace("enabled = false\n", ""), encoding="utf-8")
        assert [o.state for o in daemon.tick()] == ["posted"]
        schedule_path.write_text("this is not toml [", encoding="utf-8")
        assert daemon.tick() == []  # a broken edit: it posts nothing until it is fixed, and says why
        with proj.queue() as queue:
            assert queue.store.events()[0]["message"].startswith(
                "schedule.toml cannot be read, so publisher posts nothing until it is fixed (publisher validate): "
                "schedule.toml:1: invalid TOML")
    finally:
        daemon.close()


def test_renamed_quote_ids_moved_slots_and_renamed_campaigns(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add").exit_code == 0
    path = project / "quotes" / "caseyreview.toml"
    path.write_text(path.read_text("utf-8").replace(f'id = "{IDS[0]}"', 'id = "a-new-id-for-the-same-words"'),
                    encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert json.loads(run_cli("queue", "show", "2", "--json").stdout)["quote_ids"] == IDS[3:6]  # not its words again
    schedule_path = project / "schedule.toml"
    schedule_path.write_text(schedule_path.read_text("utf-8").replace('"08:30"', '"09:15"'), encoding="utf-8")
    listed = run_cli("queue", "list").stdout
    assert "which is no longer one of the campaign's slots; it still posts then (publisher queue cancel 1" in listed
    schedule_path.write_text(schedule_path.read_text("utf-8").replace('name = "daily"', 'name = "renamed"'),
                             encoding="utf-8")
    cancelled = run_cli("queue", "cancel", "1")
    assert cancelled.exit_code == 0 and cancelled.stdout.startswith("Cancelled thread 1 (daily)")
    bad = run_cli("queue", "add", "--at", "0001-01-01 00:00")
    assert bad.exit_code == ExitStatus.USAGE and "is not a time publisher can post at" in bad.stderr


def test_a_time_in_another_year_than_now_says_its_year() -> None:
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert when_label(datetime(2027, 1, 4, 8, 30, tzinfo=UTC), LONDON, now) == "Mon 4 Jan 2027 08:30"
    assert when_label(datetime(2026, 12, 9, 8, 30, tzinfo=UTC), LONDON, now) == "Wed 9 Dec 08:30"
    assert when_label(datetime(2025, 12, 31, 23, 30, tzinfo=UTC), LONDON, now) == "Wed 31 Dec 2025 23:30"
