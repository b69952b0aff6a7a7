"""Promises at the edges: an approval is for exactly what goes out (its revision), the daemon fails closed on a
broken schedule.toml, the emergency stop works from the store alone, nothing is burst-posted after a pause, and
`post` never sends half a thread for want of a secret."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from test_queue import IDS, Clock, schedule, utc
from test_queue_processes import stopped
from test_signoff import approval_project, outbox_posts

from conftest import store_rows, wait_for
from publisher.app import Project
from publisher.errors import Conflict, ExitStatus
from publisher.scheduler import Daemon, handle_slots

COLLECTION = "quotes/caseyreview.toml"


def edit(project: Path, path: str, old: str, new: str) -> None:
    target = project / path
    text = target.read_text("utf-8")
    assert old in text, f"{old!r} is not in {path}"
    target.write_text(text.replace(old, new, 1), encoding="utf-8")


def first_quote_text(project: Path) -> str:
    import tomllib

    return str(tomllib.loads((project / COLLECTION).read_text("utf-8"))["quotes"][0]["text"])


def reword(project: Path) -> None:
    """Change the words of the collection's first quote (the first quote of the first thread)."""
    text = first_quote_text(project)
    edit(project, COLLECTION, text, text.replace("imperative", "necessity"))


def decisions(proj: Project, thread_id: int) -> list[str]:
    with proj.queue() as queue:
        return [s["decision"] for s in queue.store.signoffs(thread_id)]


def state(proj: Project, thread_id: int) -> str:
    with proj.queue() as queue:
        return queue.thread(thread_id).state


# -- 1. an approval is for one revision ---------------------------------------------------------------------

def test_approval_off_edit_recompose_approval_on_never_posts_the_unseen_text(project: Path) -> None:
    proj, clock = approval_project(project)
    added = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        approved = queue.approve(added.thread.id, by="amira")
    assert approved.revision is not None
    edit(project, "schedule.toml", "approval = true\n", "")
    reword(project)
    with Project(project / "schedule.toml", now=clock).queue() as queue:
        queue.recompose(added.thread.id, by="sam")  # approval is off now: no sign-off asked, but it is sent back
    assert decisions(proj, added.thread.id) == ["approved", "sent_back"]
    edit(project, "schedule.toml", 'accounts = ["local"]\n', 'accounts = ["local"]\napproval = true\n')
    report = Project(project / "schedule.toml", now=clock).post_due()
    assert outbox_posts(project) == 0 and [o.state for o in report.outcomes] == ["awaiting_approval"]
    assert state(proj, added.thread.id) == "awaiting_approval"


def test_hold_recompose_release_needs_sign_off_again(project: Path) -> None:
    proj, _ = approval_project(project)
    added = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        queue.approve(added.thread.id, by="amira")
        queue.hold(added.thread.id, by="amira")
    reword(project)
    with proj.queue() as queue:
        assert queue.recompose(added.thread.id).thread.state == "held"  # a held thread stays held
        released, _ = queue.release(added.thread.id)
        assert released.state == "awaiting_approval"
        assert released.reason is not None and "sent back for sign-off (recomposed)" in released.reason
    assert proj.post_due().outcomes == [] and outbox_posts(project) == 0


# -- 2. the revision covers everything that leaves the machine -----------------------------------------------

def test_alt_text_is_part_of_the_revision(project: Path) -> None:
    proj, _ = approval_project(project)
    added = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        before = queue.revision(added.thread.id)
        queue.approve(added.thread.id, by="amira", revision=before)
    edit(project, COLLECTION, f'id = "{IDS[0]}"\n', f'id = "{IDS[0]}"\nalt = "A card about leadership."\n')
    with proj.queue() as queue:
        queue.recompose(added.thread.id)
        after = queue.revision(added.thread.id)
        assert after != before
        assert queue.stale_approval(added.thread.id) == "it was sent back for sign-off (recomposed)"
        with pytest.raises(Conflict, match=r"alt text changed.*approve revision " + str(after)):
            queue.approve(added.thread.id, by="amira", revision=before)


@pytest.mark.parametrize(("old", "new", "changed"), [
    ('platform = "outbox"\n', 'platform = "outbox"\ndirectory = "elsewhere"\n', "local's directory changed"),
    ('platform = "outbox"\n', 'platform = "outbox"\nlike = "x"\n', "local's like changed"),
], ids=["directory", "like"])
def test_moving_the_destination_after_approval_posts_nowhere(project: Path, old: str, new: str,
                                                              changed: str) -> None:
    proj, clock = approval_project(project)
    added = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        queue.approve(added.thread.id, by="amira")
    edit(project, "schedule.toml", old, new)
    report = Project(project / "schedule.toml", now=clock).post_due()
    assert [o.state for o in report.outcomes] == ["awaiting_approval"]
    assert outbox_posts(project) == 0 and not (project / "elsewhere").exists()
    with Project(project / "schedule.toml", now=clock).queue() as queue:
        signoffs = queue.store.signoffs(added.thread.id)
        assert [s["decision"] for s in signoffs] == ["approved", "sent_back"]
        assert changed in signoffs[-1]["reason"]
        queue.approve(added.thread.id, by="amira")  # approved again, for where it goes now
    assert [o.state for o in Project(project / "schedule.toml", now=clock).post_due().outcomes] == ["posted"]


def test_a_destination_moved_mid_thread_stops_before_the_next_part(project: Path) -> None:
    """A thread under way whose account is pointed elsewhere: the part in flight lands, the rest waits for a
    new sign-off, and once approved goes on where the approver saw it go (no part twice)."""
    proj, clock = approval_project(project)
    added = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        queue.approve(added.thread.id, by="amira")
        store = queue.store
        assert store.transition(added.thread.id, "posting", ("queued",))
        first = store.parts(added.thread.id)[0]
        store.mark_posted(first.id, "earlier-post", None, None)  # part 1 went out before the edit
    edit(project, "schedule.toml", 'platform = "outbox"\n', 'platform = "outbox"\ndirectory = "elsewhere"\n')
    report = Project(project / "schedule.toml", now=clock).post_due()
    assert [o.state for o in report.outcomes] == ["awaiting_approval"]
    assert not (project / "elsewhere").exists()
    with Project(project / "schedule.toml", now=clock).queue() as queue:
        approved = queue.approve(added.thread.id, by="amira")
        assert approved.outcome == "now"  # a thread under way is never skipped
        assert approved.thread.state == "posting"  # and goes on as one (no budget check as if new)
    assert [o.state for o in Project(project / "schedule.toml", now=clock).post_due().outcomes] == ["posted"]
    assert len(list((project / "elsewhere" / "local" / "posts").glob("*.json"))) == 2  # parts 2 and 3 only


# -- 3. the CLI approver sees what they approve ---------------------------------------------------------------

def test_queue_show_prints_what_would_go_out_and_approve_refuses_a_stale_revision(
        project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    edit(project, COLLECTION, f'id = "{IDS[0]}"\n', f'id = "{IDS[0]}"\nalt = "Leaders, in white on blue."\n')
    assert run_cli("queue", "add", "--now").exit_code == 0
    shown = run_cli("queue", "show", "1")
    assert shown.exit_code == 0, shown.stderr
    revision = json.loads(run_cli("queue", "show", "1", "--json").stdout)["revision"]
    lines = shown.stdout.splitlines()
    assert lines[0].endswith(f"awaiting_approval · revision {revision}")
    assert "  local → the local outbox outbox/ (counted as Bluesky): 0/3 posted" in lines
    assert any(line.startswith("    1/3  pending") and "/300 graphemes" in line for line in lines)
    assert any(line.startswith("          card 1080×1080, alt text: Leaders, in white on blue. Quote: “")
               for line in lines)
    assert first_quote_text(project).splitlines()[0] in shown.stdout

    reword(project)
    listed = run_cli("queue", "list").stdout
    assert f"quotes changed since it was queued: {IDS[0]} (publisher queue recompose 1)" in listed
    approved = run_cli("queue", "approve", "1", "--revision", revision, "--as", "sam")
    assert approved.exit_code == 0
    assert f"warning: its quotes changed in the collection since it was queued: {IDS[0]}" in approved.stderr

    assert run_cli("queue", "recompose", "1").exit_code == 0
    stale = run_cli("queue", "approve", "1", "--revision", revision, "--as", "sam")
    assert stale.exit_code == ExitStatus.WRONG_STATE
    assert stale.stderr.startswith(f"thread 1 changed since revision {revision} was shown to you: local part 1's "
                                   "text changed; local part 1's alt text changed; local part 1's card changed; "
                                   "look at it again (publisher queue show 1) and approve revision ")
    current = json.loads(run_cli("queue", "show", "1", "--json").stdout)["revision"]
    assert run_cli("queue", "approve", "1", "--revision", current, "--as", "sam").exit_code == 0


# -- 4. fail closed -------------------------------------------------------------------------------------------

def test_the_daemon_posts_nothing_while_schedule_toml_cannot_be_read(project: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    clock = Clock(utc("2026-12-02 08:00"))
    proj = Project(project / "schedule.toml", now=clock)
    proj.queue_add("daily", now=True)
    daemon = Daemon(proj.files, now=clock, env={})
    try:
        good = (project / "schedule.toml").read_text("utf-8")
        # the edit meant to turn sign-off on, with a typo: nothing may go out until it is fixed
        (project / "schedule.toml").write_text(good.replace('accounts = ["local"]\n',
                                                            'accounts = ["local"]\napproval = ture\n'), "utf-8")
        assert daemon.tick() == [] and outbox_posts(project) == 0
        for minutes in (31, 32, 60 * 24 + 31):  # the 08:30 slot (said once), then the next day's
            clock.moment = utc("2026-12-02 08:00") + timedelta(minutes=minutes)
            assert daemon.tick() == [] and outbox_posts(project) == 0
        unserved = [r.message for r in caplog.records if "is not served" in r.message]
        assert unserved == [
            f"campaign daily: slot {day} 08:30 GMT is not served: schedule.toml cannot be read (schedule.toml:11: "
            "invalid TOML: invalid value (column 12) (values need quotes for text, [ ] for lists, or "
            "true/false/numbers)); nothing is posted until it is fixed"
            for day in ("2026-12-02", "2026-12-03")], unserved
        with proj.queue() as queue:
            assert queue.status()["config_problem"] is None  # this status reads the good copy it was given
        (project / "schedule.toml").write_text(good, encoding="utf-8")
        assert [o.state for o in daemon.tick()] == ["posted"]
    finally:
        daemon.close()


# -- 5. the emergency stop never depends on the config -------------------------------------------------------

@pytest.mark.parametrize("broken", ["schedule", "collection"])
def test_list_show_status_cancel_and_hold_work_from_the_store_alone(project: Path, run_cli: Callable[..., Result],
                                                                    broken: str) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert run_cli("queue", "add").exit_code == 0
    path = project / ("schedule.toml" if broken == "schedule" else COLLECTION)
    path.write_text(path.read_text("utf-8") + "\nthis is [ not toml\n", encoding="utf-8")
    listed = run_cli("queue", "list")
    assert listed.exit_code == 0 and "   1  " in listed.stdout and "   2  " in listed.stdout
    shown = run_cli("queue", "show", "1")
    assert shown.exit_code == 0 and shown.stdout.startswith("Thread 1 · daily #1")
    if broken == "schedule":
        assert "schedule.toml cannot be read, so where it goes and its revision are unknown" in shown.stdout
        assert "nothing is posted while schedule.toml cannot be read" in listed.stdout
    status = run_cli("status")
    assert status.exit_code == 0
    if broken == "schedule":
        assert "schedule.toml cannot be read, so nothing is posted until it is fixed" in status.stdout
        assert json.loads(run_cli("status", "--json").stdout)["config_problem"][0].startswith("schedule.toml:")
    held = run_cli("queue", "hold", "2")
    assert held.exit_code == 0 and held.stdout.startswith("Held thread 2")
    cancelled = run_cli("queue", "cancel", "1")
    assert cancelled.exit_code == 0 and cancelled.stdout.startswith("Cancelled thread 1 (daily)")
    post = run_cli("post")
    assert post.exit_code == (ExitStatus.CONFIG if broken == "schedule" else 0)
    assert outbox_posts(project) == 0


# -- 6. nothing is burst-posted after a pause ----------------------------------------------------------------

def test_re_enabling_a_campaign_posts_nothing_for_slots_that_fell_while_it_was_disabled(project: Path) -> None:
    (project / "schedule.toml").write_text(schedule().replace('times = ["08:30"]', 'times = ["08:30", "08:32", '
                                                              '"08:34"]'), encoding="utf-8")
    clock = Clock(utc("2026-12-02 08:00"))
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        handle_slots(queue, clock())  # the daemon watches
    queued = proj.queue_add("daily")  # for 08:30, in advance
    assert queued.slot_at == utc("2026-12-02 08:30")
    edit(project, "schedule.toml", 'accounts = ["local"]\n', 'accounts = ["local"]\nenabled = false\n')
    with Project(project / "schedule.toml", now=clock).queue() as queue:
        handle_slots(queue, clock())  # seen disabled at 08:00
    edit(project, "schedule.toml", "enabled = false\n", "")
    clock.moment = utc("2026-12-02 08:35")  # 08:30, 08:32 and 08:34 fell while it was disabled
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        assert handle_slots(queue, clock()) == []
        assert queue.thread(queued.thread.id).state == "skipped"
    assert proj.post_due().outcomes == [] and outbox_posts(project) == 0
    assert proj.queue_add("daily", now=True).thread.quote_ids == IDS[0:3]  # its quotes went back


# -- 16. no half-posted threads for a missing secret ------------------------------------------------------------

def test_post_sends_nothing_when_one_account_of_a_due_thread_has_no_secret(
        project: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLISHER_X_API_KEY", raising=False)
    (project / "schedule.toml").write_text(schedule(accounts='[accounts.x]\nplatform = "x"\nhandle = "@campaign"\n')
                                           .replace('accounts = ["local"]', 'accounts = ["local", "x"]')
                                           .replace("quotes_per_thread = 3", 'quotes_per_thread = 1\n'
                                                    'intro = "Thread {thread_number}"'), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    posted = run_cli("post")
    assert posted.exit_code == ExitStatus.NO_CREDENTIALS
    assert "account x: PUBLISHER_X_API_KEY, " in posted.stderr
    assert outbox_posts(project) == 0, "the outbox half of the thread was posted"


# -- 17. cards are made outside the write lock ----------------------------------------------------------------

@pytest.mark.heavy
def test_a_poster_never_waits_for_a_ten_card_thread_being_added(project: Path, forks: Any) -> None:
    """While `queue add` renders a 10-card thread, another process's write transactions (the poster marking a
    part in flight, say) go through at once: the cards are made before the add takes the write lock."""
    (project / "schedule.toml").write_text(schedule().replace("quotes_per_thread = 3", "quotes_per_thread = 10"),
                                           encoding="utf-8")
    Project(project / "schedule.toml").queue_add("daily", now=True)  # the store exists, with a thread
    db = sqlite3.connect(project / "state" / "publisher.db", timeout=30, isolation_level=None)
    add = forks.start(["--config", str(project / "schedule.toml"), "queue", "add", "--now"], dict(os.environ),
                      project)
    waits = []
    try:
        while add.poll() is None:
            began = time.monotonic()
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE threads SET reason = reason WHERE id = 1")
            db.execute("COMMIT")
            waits.append(time.monotonic() - began)
            time.sleep(0.002)
    finally:
        db.close()
    assert add.wait(60) == 0, add.communicate()[1]
    assert len(waits) > 20, "the add finished before the poster could write: nothing was measured"
    print(f"\n10-card queue add: {len(waits)} writes beside it, longest wait {max(waits) * 1000:.1f} ms")
    assert max(waits) < 0.1


@pytest.mark.heavy
def test_the_write_lock_is_free_while_the_cards_are_made(project: Path, forks: Any) -> None:
    """The same, forced: an add paused after making its cards holds no lock (a write goes through with no
    waiting at all), and an add that finds the queue changed meanwhile makes its thread again, for what is left."""
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    argv = ["--config", str(project / "schedule.toml"), "queue", "add", "--now"]
    paused = forks.start(argv, {**os.environ, "PUBLISHER_PAUSE_AT": "queue:add:composed#1"}, project)
    assert wait_for(lambda: stopped(paused.pid), 60)
    Project(project / "schedule.toml").queue_add("daily", now=True)  # takes the same quotes, meanwhile
    db = sqlite3.connect(project / "state" / "publisher.db", timeout=0, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")  # timeout 0: refused at once if anyone held the write lock
    db.execute("COMMIT")
    db.close()
    os.kill(paused.pid, signal.SIGCONT)
    assert paused.wait(60) == 0, paused.communicate()[1]
    queued = store_rows(project, "SELECT quote_ids FROM threads ORDER BY id")
    assert [json.loads(ids) for (ids,) in queued] == [IDS[0:3], IDS[3:6]]  # the paused add took what was left


# -- 9. text, not commands --------------------------------------------------------------------------------------

def test_names_and_reasons_refuse_control_characters(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    for args in (["queue", "reject", "1", "--reason", "fine\x1b[2J"], ["queue", "approve", "1", "--as", "sam\x00"],
                 ["queue", "approve", "1", "--as", "\u202eevil"], ["queue", "approve", "1", "--as", "a\u200bb"],
                 ["queue", "approve", "1", "--as", "x" * 101], ["queue", "reject", "1", "--reason", "a\u2028b"]):
        refused = run_cli(*args)
        assert refused.exit_code == ExitStatus.USAGE, (args, refused.output)
        assert ("control or invisible character" in refused.stderr or "control character" in refused.stderr
                or "at most 100" in refused.stderr), refused.stderr
        assert "\x1b" not in refused.stderr
    assert store_rows(project, "SELECT state FROM threads") == [("awaiting_approval",)]


def test_the_emergency_stop_never_fails_for_a_name(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert run_cli("queue", "add", "--now").exit_code == 0
    held = run_cli("queue", "hold", "1", "--as", "\u202eevil\x1b[2J")
    assert held.exit_code == 0, held.output
    cancelled = run_cli("queue", "cancel", "2", "--as", "a\x9bb")
    assert cancelled.exit_code == 0, cancelled.output
    assert store_rows(project, "SELECT reason FROM threads ORDER BY id")[0] == (
        "held by <U+202E>evil<U+001B>[2J",)
    assert store_rows(project, "SELECT state FROM threads ORDER BY id") == [("held",), ("cancelled",)]


def test_what_the_store_holds_is_printed_without_acting_on_the_terminal(project: Path,
                                                                        run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    hostile = "refused \x1b[2J\x1b]0;pwned\x07 \u202e\x9b31m"  # a server's answer, or a row written by hand
    db = sqlite3.connect(project / "state" / "publisher.db")
    db.execute("UPDATE parts SET state = 'failed', last_error = ?, fix = ? WHERE position = 1", (hostile, hostile))
    db.execute("UPDATE threads SET state = 'needs_attention', reason = ?", (hostile,))
    db.commit()
    db.close()
    for args in (["queue", "show", "1"], ["queue", "list", "--all"], ["status"], ["queue", "show", "1", "--json"],
                 ["status", "--json"], ["queue", "list", "--json"]):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.output)
        for char in ("\x1b", "\x07", "\u202e", "\x9b"):
            assert char not in result.output, (args, char)
    shown = run_cli("queue", "show", "1").stdout
    assert "error: refused <U+001B>[2J<U+001B>]0;pwned<U+0007> <U+202E><U+009B>31m" in shown
    assert json.loads(run_cli("queue", "show", "1", "--json").stdout)["parts"][0]["error"] == hostile


def test_log_lines_never_act_on_the_terminal(capfd: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from publisher import logs

    root, ours = logging.getLogger(), logging.getLogger("publisher")
    monkeypatch.setattr(logs, "_format", logs.current_format())  # put back afterwards, as the handlers below
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(ours, "handlers", list(ours.handlers))
    for log_format in ("human", "json"):
        logs.setup(log_format)
        ours.error("a server said %s", "x\x1b[2J\x9by\u202e")
    logs.setup_command(debug=False)
    ours.error("a server said %s", "x\x1b[2J")
    err = capfd.readouterr().err
    for char in ("\x1b", "\x9b", "\u202e"):
        assert char not in err
    assert "a server said x<U+001B>[2J<U+009B>y<U+202E>" in err and "\\u001b[2J\\u009by\\u202e" in err


# -- 21. the store keeps card images for keep_cards -------------------------------------------------------------

def test_card_images_of_finished_threads_are_dropped_after_keep_cards(project: Path,
                                                                       run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(top='[defaults]\nkeep_cards = "30d"\n').replace(
        '[defaults]\ntimezone = "Europe/London"\n', 'timezone = "Europe/London"\n'), encoding="utf-8")
    clock = Clock(utc("2026-12-01 10:00"))
    proj = Project(project / "schedule.toml", now=clock)
    posted = proj.queue_add("daily", now=True)
    assert [o.state for o in proj.post_due().outcomes] == ["posted"]
    clock.moment = utc("2026-12-20 10:00")
    waiting = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        queue.hold(waiting.thread.id)
    cards = store_rows(project, "SELECT COUNT(*) FROM images")[0][0]
    assert cards == 6
    clock.moment = utc("2026-12-31 09:59")  # not yet 30 days
    proj.post_due()
    assert store_rows(project, "SELECT COUNT(*) FROM images") == [(6,)]
    clock.moment = utc("2026-12-31 10:01")
    proj.post_due()
    assert store_rows(project, "SELECT COUNT(*) FROM images") == [(3,)]  # the held thread's cards stay
    with proj.queue() as queue:
        kept = queue.thread_json(queue.thread(posted.thread.id))
        assert [len(p["cards"]) for p in kept["parts"]] == [1, 1, 1]
        assert all(c["sha256"] and c["alt"].startswith("Quote: ") for p in kept["parts"] for c in p["cards"])
        assert all(p["url"] for p in kept["parts"])
        assert queue.status()["store"]["cards"] == 3
    status = run_cli("status").stdout
    assert "Store: " in status and "(3 card images, " in status


# -- found by trying it: the edges of the edges ---------------------------------------------------------------

def test_a_campaign_disabled_just_before_its_slot_and_seen_after_it_skips_that_slot(project: Path) -> None:
    """The daemon reads schedule.toml at its passes: a pause saved at 08:29:40 and first seen at 08:30:05 still
    counts from 08:29:40, so the 08:30 thread is skipped when the campaign is enabled again."""
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    clock = Clock(utc("2026-12-02 08:00"))
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        handle_slots(queue, clock())
    queued = proj.queue_add("daily")
    edit(project, "schedule.toml", 'accounts = ["local"]\n', 'accounts = ["local"]\nenabled = false\n')
    saved = utc("2026-12-02 08:29:40").timestamp()
    os.utime(project / "schedule.toml", (saved, saved))
    clock.moment = utc("2026-12-02 08:30:05")
    with Project(project / "schedule.toml", now=clock).queue() as queue:
        handle_slots(queue, clock())
    edit(project, "schedule.toml", "enabled = false\n", "")
    clock.moment = utc("2026-12-02 08:37")
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        handle_slots(queue, clock())
        assert queue.thread(queued.thread.id).state == "skipped"
    assert proj.post_due().outcomes == [] and outbox_posts(project) == 0


def test_secrets_of_only_spaces_are_not_secrets(project: Path, run_cli: Callable[..., Result],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PUBLISHER_X_API_KEY", "PUBLISHER_X_API_SECRET", "PUBLISHER_X_ACCESS_TOKEN",
                     "PUBLISHER_X_ACCESS_TOKEN_SECRET"):
        monkeypatch.setenv(variable, " ")
    (project / "schedule.toml").write_text(schedule(accounts='[accounts.x]\nplatform = "x"\nhandle = "@campaign"\n')
                                           .replace('accounts = ["local"]', 'accounts = ["local", "x"]')
                                           .replace("quotes_per_thread = 3", 'quotes_per_thread = 1\n'
                                                    'intro = "Thread {thread_number}"'), encoding="utf-8")
    assert run_cli("validate", "--strict").exit_code == ExitStatus.NO_CREDENTIALS
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert run_cli("post").exit_code == ExitStatus.NO_CREDENTIALS
    assert outbox_posts(project) == 0


def test_after_schedule_toml_was_unreadable_only_the_latest_missed_slot_posts(
        project: Path, caplog: pytest.LogCaptureFixture) -> None:
    (project / "schedule.toml").write_text(schedule().replace('times = ["08:30"]', 'times = ["08:30", "08:31", '
                                                              '"08:32", "08:33"]'), encoding="utf-8")
    clock = Clock(utc("2026-12-02 08:29"))
    daemon = Daemon(Project(project / "schedule.toml", now=clock).files, now=clock, env={})
    good = (project / "schedule.toml").read_text("utf-8")
    try:
        daemon.tick()
        (project / "schedule.toml").write_text(good.replace("quotes_per_thread = 3", 'quotes_per_thread = "one"'),
                                               encoding="utf-8")
        saved = utc("2026-12-02 08:29:50").timestamp()  # broken before the 08:30 slot, seen at its pass
        os.utime(project / "schedule.toml", (saved, saved))
        for minute in (30, 31, 32):
            clock.moment = utc(f"2026-12-02 08:{minute}:05")
            assert daemon.tick() == []
        (project / "schedule.toml").write_text(good.replace("quotes_per_thread = 3", "quotes_per_thread = 0\n"
                                                            "# still wrong, another way"), encoding="utf-8")
        clock.moment = utc("2026-12-02 08:32:40")
        daemon.tick()
        unserved = [m for m in caplog.messages if "is not served" in m]
        assert [m.split(" is not served")[0] for m in unserved] == [
            f"campaign daily: slot 2026-12-02 08:{minute} GMT" for minute in (30, 31, 32)]  # each once
        (project / "schedule.toml").write_text(good, encoding="utf-8")
        clock.moment = utc("2026-12-02 08:33:30")
        with caplog.at_level("INFO", logger="publisher"):
            assert [o.state for o in daemon.tick()] == ["posted"]  # one thread, not four
        assert outbox_posts(project) == 3
        skipped = [m for m in caplog.messages if " skipped" in m and "fell while schedule.toml could not be read" in m]
        assert len(skipped) == 3, caplog.messages
    finally:
        daemon.close()


def test_a_queued_thread_whose_approval_went_stale_can_be_approved_again_before_it_is_due(
        project: Path, run_cli: Callable[..., Result]) -> None:
    proj, _ = approval_project(project)
    added = proj.queue_add("daily")  # for tomorrow's slot
    with proj.queue() as queue:
        queue.approve(added.thread.id, by="amira")
    edit(project, "schedule.toml", 'platform = "outbox"\n', 'platform = "outbox"\ndirectory = "elsewhere"\n')
    listed = run_cli("queue", "list").stdout
    assert "its campaign needs sign-off and it changed since it was approved: local's directory changed" in listed
    shown = json.loads(run_cli("queue", "show", "1", "--json").stdout)
    assert shown["needs_signoff"] is True and shown["approved_revision"] != shown["revision"]
    assert run_cli("queue", "approve", "1", "--revision", shown["revision"].upper(), "--as", "amira").exit_code == 0
    assert json.loads(run_cli("queue", "show", "1", "--json").stdout)["needs_signoff"] is False
    bad = run_cli("queue", "approve", "1", "--revision", "zzz")
    assert bad.exit_code == ExitStatus.USAGE and "'zzz' is not a revision" in bad.stderr


def test_why_a_thread_went_back_for_sign_off_is_said(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    assert run_cli("queue", "approve", "1", "--as", "amira").exit_code == 0
    edit(project, "schedule.toml", 'platform = "outbox"\n', 'platform = "outbox"\ndirectory = "elsewhere"\n')
    posted = run_cli("post")
    assert "local's directory changed from 'outbox' to 'elsewhere'" in posted.stdout
    assert "local's directory changed from 'outbox' to 'elsewhere'" in run_cli("queue", "list").stdout


def test_the_emergency_stop_works_beside_a_schedule_toml_that_is_gone(project: Path,
                                                                      run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule(), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    (project / "schedule.toml").unlink()
    assert run_cli("queue", "list").exit_code == 0
    assert run_cli("status").exit_code == 0
    assert run_cli("queue", "cancel", "1").exit_code == 0
    assert run_cli("post").exit_code == ExitStatus.CONFIG


def test_many_quotes_passed_over_in_a_row_are_not_taken_for_racing_processes(project: Path,
                                                                             run_cli: Callable[..., Result]) -> None:
    """Each quote whose card cannot be made is passed over and the next taken, however many (the retries for
    other processes' adds are counted apart): here the first 22 quotes, more than MAX_RACES."""
    from publisher.queue import MAX_RACES

    long_text = " ".join(["accountability"] * 120)
    quotes = "".join(f'[[quotes]]\nid = "long-{n:02d}"\ntext = "{long_text} {n}"\n\n' for n in range(22))
    (project / "quotes" / "caseyreview.toml").write_text(
        '[collection]\nname = "caseyreview"\ntitle = "Long"\nattribution = "Someone"\n\n' + quotes
        + '[[quotes]]\nid = "short"\ntext = "A short quote that fits."\n', encoding="utf-8")
    (project / "schedule.toml").write_text(schedule().replace("quotes_per_thread = 3", "quotes_per_thread = 1\n"
                                                              'format = "landscape"'), encoding="utf-8")
    assert MAX_RACES < 22
    added = run_cli("queue", "add", "--now")
    assert added.exit_code == 0, added.output
    assert added.stderr.count("is passed over: ") == 22
    assert json.loads(store_rows(project, "SELECT quote_ids FROM threads")[0][0]) == ["short"]


def test_the_emergency_stop_finds_the_store_paths_names_in_a_schedule_that_is_not_toml(
        project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text('[paths]\nstate = "var"\n\n' + schedule(), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    edit(project, "schedule.toml", '[[campaigns]]', '[[campaigns]')  # a bracket lost: not TOML at all
    listed = run_cli("queue", "list")
    assert listed.exit_code == 0 and "   1  " in listed.stdout
    assert run_cli("queue", "hold", "1").exit_code == 0
    assert not (project / "state").exists()  # no empty store made where the state is not
    with sqlite3.connect(project / "var" / "publisher.db") as db:
        assert db.execute("SELECT state FROM threads").fetchall() == [("held",)]
    # [paths] written in a way a line cannot be read for sure: no guess at all
    (project / "schedule.toml").write_text('paths = { state = "var" }\n[[campaigns]\n', encoding="utf-8")
    refused = run_cli("queue", "cancel", "1")
    assert refused.exit_code == ExitStatus.CONFIG and refused.stderr.startswith("schedule.toml:")


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "with-a-byte-order-mark"])
def test_paths_are_the_schedules_own_as_every_command_reads_them(tmp_path: Path, bom: bytes) -> None:
    """[paths] is read on its own (a command that only renders does not check the whole schedule): read as the
    schedule is, a byte-order mark included, so every command finds the same store and quotes."""
    from publisher.project import ProjectFiles

    config = tmp_path / "schedule.toml"
    config.write_bytes(bom + b'[paths]\nstate = "data"\nquotes = "words"\n\n[accounts.local]\nplatform = "outbox"\n')
    files = ProjectFiles(config)
    assert files.store_path() == tmp_path / "data" / "publisher.db"
    assert files.quotes_dir == tmp_path / "words"
    assert (files.schedule().paths.state, files.schedule().paths.quotes) == ("data", "words")
