"""A campaign's threads are numbered in the order they go out (issue 26, point 19): a thread queued for a time
before threads not started yet (--now, --at, or by the daemon at a slot) takes the first of their numbers and they
move up one, each keeping its time; one whose text says its number is made again."""

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

WHY = "a campaign's threads are numbered in the order they go out."


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


def numbers(proj: Project) -> dict[int, tuple[int, datetime]]:
    with proj.queue() as queue:
        return {t.id: (t.number, t.due_at) for t in queue.store.threads(campaign="daily")}


def test_now_after_a_slot_queued_thread_is_part_1(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule('intro = "Part {thread_number}"\n'), encoding="utf-8")
    slot = next_slots(Project(project / "schedule.toml").campaign("daily"), LONDON, datetime.now(UTC), count=1)[0]
    label = f"{when_label(slot, LONDON)} {slot.astimezone(LONDON):%Z}"
    assert run_cli("queue", "add").stdout.startswith(f"Queued thread 1 (daily #1) for the slot {label}: ")
    added = run_cli("queue", "add", "--now")
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines() == [
        "Queued thread 2 (daily #1) due now: 3 quotes, 4 posts to local.",
        f"Thread 1 (daily) is now #2, not #1: it is due {label}, after thread 2, and {WHY} Its text says its "
        "number, so it was made again."]
    assert run_cli("post").exit_code == 0
    posted = outbox_texts(project)
    assert len(posted) == 4 and posted[0].startswith("Part 1")  # thread 2, all of it, and nothing of thread 1
    listed = {t["id"]: t for t in json.loads(run_cli("queue", "list", "--all", "--json").stdout)}
    assert (listed[2]["state"], listed[2]["number"]) == ("posted", 1)
    assert (listed[1]["state"], listed[1]["number"], datetime.fromisoformat(listed[1]["due_at"])) == (
        "queued", 2, slot)  # it kept its slot
    assert json.loads(run_cli("queue", "show", "1", "--json").stdout)["parts"][0]["text"].startswith("Part 2")


def test_a_time_set_by_hand_is_kept_and_the_numbers_follow_it(project: Path) -> None:
    """--at for January, then the next slot: the January thread stays in January and becomes #2 (a new user found
    the first rule, which moved times instead, taking it to the next morning)."""
    proj, _ = watched_project(project, "")
    january = proj.queue_add("daily", at=utc("2027-01-15 08:30"))
    slot = proj.queue_add("daily")
    assert numbers(proj) == {january.thread.id: (2, utc("2027-01-15 08:30")),
                             slot.thread.id: (1, utc("2026-12-02 08:30"))}
    assert [(m.thread.id, m.was_number, m.thread.number) for m in slot.renumbered] == [(january.thread.id, 1, 2)]
    assert messages.queued(slot, LONDON).lines[1] == (
        f"Thread 1 (daily) is now #2, not #1: it is due Fri 15 Jan 2027 08:30 GMT, after thread 2, and {WHY}")


def test_at_earlier_than_a_queued_thread_is_numbered_before_it(project: Path) -> None:
    proj, clock = watched_project(project, "")
    first = proj.queue_add("daily")
    second = proj.queue_add("daily", at=utc("2026-12-02 07:00"))  # before thread 1's slot, off the slots
    assert numbers(proj) == {first.thread.id: (2, utc("2026-12-02 08:30")),
                             second.thread.id: (1, utc("2026-12-02 07:00"))}
    clock.moment = utc("2026-12-02 07:01")
    assert [(o.thread_id, o.state) for o in proj.post_due().outcomes] == [(second.thread.id, "posted")]
    clock.moment = utc("2026-12-02 08:30:02")
    with proj.queue() as queue:  # the slot still has thread 1: the daemon adds none
        assert [d.thread_ids for d in handle_slots(queue, clock())] == [[first.thread.id]]
    assert [(o.thread_id, o.state) for o in proj.post_due().outcomes] == [(first.thread.id, "posted")]


def test_the_daemon_s_slot_thread_is_numbered_before_one_queued_by_hand_for_later(project: Path) -> None:
    proj, clock = watched_project(project, "")
    by_hand = proj.queue_add("daily", at=utc("2026-12-03 10:00"))  # Thursday, after Wednesday's slot
    clock.moment = utc("2026-12-02 08:30:02")
    with proj.queue() as queue:
        decisions = handle_slots(queue, clock())
        made = next(t for t in queue.store.threads(campaign="daily") if t.id != by_hand.thread.id)
        assert [d.thread_ids for d in decisions] == [[made.id]]
        assert (made.number, made.due_at) == (1, utc("2026-12-02 08:30"))
        events = [e["message"] for e in queue.store.events(("info",))]
        assert f"campaign daily: thread {by_hand.thread.id} is now #2, not #1: thread {made.id}, queued for a " \
               "slot, goes out before it" in events
    assert numbers(proj)[by_hand.thread.id] == (2, utc("2026-12-03 10:00"))


def test_a_renumbered_thread_that_says_its_number_is_made_again_and_signed_off_again(project: Path) -> None:
    proj, _ = watched_project(project, 'approval = true\nintro = "Part {thread_number}"\n')
    first = proj.queue_add("daily")
    with proj.queue() as queue:
        queue.approve(first.thread.id, by="amira")
    second = proj.queue_add("daily", now=True)
    with proj.queue() as queue:
        assert queue.store.parts(first.thread.id)[0].text.startswith("Part 2")
        assert queue.store.parts(second.thread.id)[0].text.startswith("Part 1")
        # its approval was for the text with the old number: sent back, as queue recompose does
        assert queue.thread(first.thread.id).state == "awaiting_approval"
        assert [(s["decision"], s["reason"]) for s in queue.store.signoffs(first.thread.id)] == [
            ("approved", None), ("sent_back", "recomposed for its new number")]
    assert messages.queued(second, LONDON, now=True).lines[1] == (
        f"Thread 1 (daily) is now #2, not #1: it is due Wed 2 Dec 08:30 GMT, after thread 2, and {WHY} Its text "
        "says its number, so it was made again; it needs sign-off again: publisher queue approve 1.")


def test_an_approved_thread_only_renumbered_stays_approved(project: Path) -> None:
    proj, clock = watched_project(project, 'approval = true\nintro = "From the Casey Review, {date}"\n')
    first = proj.queue_add("daily")
    with proj.queue() as queue:
        revision = queue.approve(first.thread.id, by="amira").revision
    second = proj.queue_add("daily", at=utc("2026-12-02 07:00"))  # its text has no number: it does not change
    with proj.queue() as queue:
        assert (queue.thread(first.thread.id).number, queue.thread(first.thread.id).state) == (2, "queued")
        assert queue.stale_approval(first.thread.id) is None and queue.revision(first.thread.id) == revision
        assert [s["decision"] for s in queue.store.signoffs(first.thread.id)] == ["approved"]
    assert [(m.thread.id, m.recomposed) for m in second.renumbered] == [(first.thread.id, False)]
    clock.moment = utc("2026-12-02 08:31")
    with proj.queue() as queue:
        queue.approve(second.thread.id, by="amira")
    assert [(o.thread_id, o.state) for o in proj.post_due().outcomes] == [(second.thread.id, "posted"),
                                                                          (first.thread.id, "posted")]


def test_a_thread_already_started_is_never_renumbered(project: Path) -> None:
    proj, _ = watched_project(project, "")
    first = proj.queue_add("daily", at=utc("2026-12-04 10:00"))
    with proj.queue() as queue:  # thread 1 sent its intro, then was sent back for sign-off: started, not done
        store = queue.store
        intro = store.parts(first.thread.id)[0]
        assert store.transition(first.thread.id, "posting", ("queued",)) and store.begin_attempt(intro.id, {})
        store.mark_posted(intro.id, "local-000001", None, None)
        assert store.transition(first.thread.id, "awaiting_approval", ("posting",), "sent back")
    second = proj.queue_add("daily")  # Wednesday's slot, before thread 1's Friday: but #1 has a post out
    assert numbers(proj) == {first.thread.id: (1, utc("2026-12-04 10:00")),
                             second.thread.id: (2, utc("2026-12-02 08:30"))}
    assert second.renumbered == []


def test_the_preview_numbers_the_next_threads_as_queueing_them_would(project: Path) -> None:
    proj, _ = watched_project(project, "")
    january = proj.queue_add("daily", at=utc("2027-01-15 08:30"))
    with proj.queue() as queue:
        campaign = proj.campaign("daily")
        coming, _ = queue.upcoming(campaign, proj.collection("caseyreview"), 2)
    assert [(u.number, u.due) for u in coming] == [(1, utc("2026-12-02 08:30")), (2, utc("2026-12-03 08:30"))]
    added = proj.queue_add("daily")  # as the preview said: #1, and January's thread is now #2
    assert (added.thread.number, added.thread.due_at) == (1, utc("2026-12-02 08:30"))
    assert numbers(proj)[january.thread.id] == (2, utc("2027-01-15 08:30"))
