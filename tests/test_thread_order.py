"""A campaign's threads go out in their number order (issue 26, point 19): a thread queued after another (--now,
--at, or by the daemon at a slot) never posts before it. The threads not started yet take their due times and slot
places in number order; one whose text says its date is made again for its new one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from click.testing import Result
from test_queue import LONDON, Clock, schedule, utc

from publisher import messages
from publisher.app import Project
from publisher.scheduler import handle_slots
from publisher.slots import next_slots, when_label

WHY = "(a campaign's threads go out in their number order)"


def outbox_texts(project: Path) -> list[str]:
    """What the local outbox has posted, oldest first."""
    posts = sorted((project / "outbox" / "local" / "posts").glob("*.json"))
    return [json.loads(post.read_text("utf-8"))["text"] for post in posts]


def watched_project(project: Path, campaign: str) -> tuple[Project, Clock]:
    """The weekday 08:30 campaign with ``campaign`` added to it, on a Tuesday evening, the daemon watching."""
    (project / "schedule.toml").write_text(schedule(campaign), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))  # Tue 1 Dec; the next slot is Wed 2 Dec 08:30
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        handle_slots(queue, clock())
    return proj, clock


def test_now_after_a_slot_queued_thread_posts_part_1_first(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule('intro = "Part {thread_number}"\n'), encoding="utf-8")
    slot = next_slots(Project(project / "schedule.toml").campaign("daily"), LONDON, datetime.now(UTC), count=1)[0]
    label = f"{when_label(slot, LONDON)} {slot.astimezone(LONDON):%Z}"
    assert run_cli("queue", "add").stdout.startswith(f"Queued thread 1 (daily #1) for the slot {label}: ")
    added = run_cli("queue", "add", "--now")
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines() == [
        f"Queued thread 2 (daily #2) for the slot {label}: 3 quotes, 4 posts to local.",
        f"Thread 1 (daily #1) goes first {WHY}: it is due now instead of for the slot {label}."]
    assert run_cli("post").exit_code == 0
    posted = outbox_texts(project)
    assert len(posted) == 4 and posted[0].startswith("Part 1")  # thread 1, all of it, and nothing of thread 2
    assert not any("Part 2" in text for text in posted)
    listed = {t["id"]: t for t in json.loads(run_cli("queue", "list", "--all", "--json").stdout)}
    assert listed[1]["state"] == "posted"
    assert (listed[2]["state"], datetime.fromisoformat(listed[2]["due_at"])) == ("queued", slot)  # it kept the slot


def test_at_earlier_than_a_queued_thread_swaps_their_times(project: Path) -> None:
    proj, clock = watched_project(project, "")
    first = proj.queue_add("daily")
    second = proj.queue_add("daily", at=utc("2026-12-02 07:00"))  # before thread 1's slot, off the slots
    assert (second.thread.number, second.thread.due_at, second.slot_at) == (2, utc("2026-12-02 08:30"),
                                                                            utc("2026-12-02 08:30"))
    assert [(m.thread.id, m.thread.due_at, m.thread.slot) for m in second.moved] == [
        (first.thread.id, utc("2026-12-02 07:00"), None)]
    assert messages.queued(second, LONDON).lines[1] == (
        f"Thread 1 (daily #1) goes first {WHY}: it is due Wed 2 Dec 07:00 GMT (not one of its slots) instead of "
        "for the slot Wed 2 Dec 08:30 GMT.")
    clock.moment = utc("2026-12-02 07:01")
    assert [(o.thread_id, o.state) for o in proj.post_due().outcomes] == [(first.thread.id, "posted")]
    clock.moment = utc("2026-12-02 08:30:02")
    with proj.queue() as queue:  # the slot's thread is now thread 2: the daemon adds none
        assert [d.thread_ids for d in handle_slots(queue, clock())] == [[second.thread.id]]
    assert [(o.thread_id, o.state) for o in proj.post_due().outcomes] == [(second.thread.id, "posted")]


def test_the_daemon_s_slot_thread_goes_after_one_queued_by_hand_for_later(project: Path) -> None:
    proj, clock = watched_project(project, "")
    by_hand = proj.queue_add("daily", at=utc("2026-12-03 10:00"))  # Thursday, after Wednesday's slot
    clock.moment = utc("2026-12-02 08:30:02")
    with proj.queue() as queue:
        decisions = handle_slots(queue, clock())
        assert [d.thread_ids for d in decisions] == [[by_hand.thread.id]]  # thread 1 took the slot, first
        made = queue.store.threads(campaign="daily")[-1]
        assert (made.number, made.due_at, made.slot) == (2, utc("2026-12-03 10:00"), None)
        events = [e["message"] for e in queue.store.events(("info",))]
        assert any("thread 1 (#1) is now due Wed 2 Dec 08:30, not Thu 3 Dec 10:00: it goes before thread 2" in e
                   for e in events)
    assert [(o.thread_id, o.state) for o in proj.post_due().outcomes] == [(by_hand.thread.id, "posted")]


def test_a_thread_that_says_its_date_is_made_again_for_its_new_one(project: Path) -> None:
    proj, _ = watched_project(project, 'approval = true\nintro = "Part {thread_number} of {date}"\n')
    first = proj.queue_add("daily")
    with proj.queue() as queue:
        queue.approve(first.thread.id, by="amira")
    second = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        intro = queue.store.parts(first.thread.id)[0].text
        assert intro.startswith("Part 1 of 1 Dec 2026")  # its new date, not Wednesday's
        assert queue.store.parts(second.thread.id)[0].text.startswith("Part 2 of 2 Dec 2026")
        # its approval was for the text with the old date: sent back, as queue recompose does
        assert queue.thread(first.thread.id).state == "awaiting_approval"
        signoffs = queue.store.signoffs(first.thread.id)
        assert [(s["decision"], s["reason"]) for s in signoffs] == [("approved", None),
                                                                   ("sent_back", "recomposed for its new date")]
    assert messages.queued(second, LONDON, now=True).lines[1] == (
        f"Thread 1 (daily #1) goes first {WHY}: it is due now instead of for the slot Wed 2 Dec 08:30 GMT. Its text "
        "says its date, so it was made again for the new one; it needs sign-off again: publisher queue approve 1.")


def test_an_approved_thread_only_moved_stays_approved(project: Path) -> None:
    proj, clock = watched_project(project, 'approval = true\nintro = "Part {thread_number} of {date}"\n')
    first = proj.queue_add("daily")
    with proj.queue() as queue:
        revision = queue.approve(first.thread.id, by="amira").revision
    second = proj.queue_add("daily", at=utc("2026-12-02 07:00"))  # the same day: its text does not change
    with proj.queue() as queue:
        assert queue.thread(first.thread.id).due_at == utc("2026-12-02 07:00")
        assert queue.thread(first.thread.id).state == "queued"
        assert queue.stale_approval(first.thread.id) is None and queue.revision(first.thread.id) == revision
        assert [s["decision"] for s in queue.store.signoffs(first.thread.id)] == ["approved"]
    assert [(m.thread.id, m.recomposed) for m in second.moved] == [(first.thread.id, False)]
    clock.moment = utc("2026-12-02 07:01")
    assert [(o.thread_id, o.state) for o in proj.post_due().outcomes] == [(first.thread.id, "posted")]


def test_a_thread_already_started_is_never_moved(project: Path) -> None:
    proj, _ = watched_project(project, "")
    first = proj.queue_add("daily")
    with proj.queue() as queue:
        queue.hold(first.thread.id, by="amira")  # held, it keeps its slot while thread 2 is queued
    second = proj.queue_add("daily", now=True)
    with proj.queue() as queue:  # thread 2 sent its intro, then was sent back for sign-off: started, not done
        store = queue.store
        intro = store.parts(second.thread.id)[0]
        assert store.transition(second.thread.id, "posting", ("queued",)) and store.begin_attempt(intro.id, {})
        store.mark_posted(intro.id, "local-000001", None, None)
        assert store.transition(second.thread.id, "awaiting_approval", ("posting",), "sent back")
        queue.release(first.thread.id)
    third = proj.queue_add("daily", at=utc("2026-12-02 07:00"))
    with proj.queue() as queue:
        # thread 1 and 3 take their turns; thread 2, under way, keeps its time though it is out of number order
        assert queue.thread(first.thread.id).due_at == utc("2026-12-02 07:00")
        assert queue.thread(third.thread.id).due_at == utc("2026-12-02 08:30")
        assert queue.thread(second.thread.id).due_at == second.thread.due_at == utc("2026-12-01 19:50")
    assert [m.thread.id for m in third.moved] == [first.thread.id]
