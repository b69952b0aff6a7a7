"""Sign-off: a campaign with ``approval = true`` queues threads as awaiting_approval; nothing of them is posted,
by ``post``, ``run --once`` or the daemon's slots, until a person approves; a late approval follows catch_up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from test_queue import IDS, Clock, schedule, utc

from publisher.app import Project
from publisher.errors import WrongState
from publisher.scheduler import handle_slots


def outbox_posts(project: Path) -> int:
    return len(list((project / "outbox" / "local" / "posts").glob("*.json")))


def approval_project(project: Path, extra: str = "") -> tuple[Project, Clock]:
    (project / "schedule.toml").write_text(schedule("approval = true\n" + extra), encoding="utf-8")
    clock = Clock(utc("2026-12-01 19:50"))  # a Tuesday evening
    proj = Project(project / "schedule.toml", now=clock)
    with proj.queue() as queue:
        handle_slots(queue, clock())  # the daemon starts watching
    return proj, clock


def test_an_unapproved_thread_is_never_posted_then_posts_once_approved(project: Path) -> None:
    proj, clock = approval_project(project)
    added = proj.queue_add("daily")
    assert added.thread.state == "awaiting_approval" and added.slot_at == utc("2026-12-02 08:30")

    clock.moment = utc("2026-12-02 08:30:02")  # its slot: the daemon reports it and posts nothing
    with proj.queue() as queue:
        decisions = handle_slots(queue, clock())
        assert [(d.outcome, d.thread_ids) for d in decisions] == [("queued", [added.thread.id])]
        assert queue.thread(added.thread.id).state == "awaiting_approval"
        events = [e["message"] for e in queue.store.events(limit=5)]
        assert any(f"thread {added.thread.id} is not posted: waiting for sign-off since" in e for e in events)
    report = proj.post_due()
    assert report.outcomes == [] and outbox_posts(project) == 0
    assert [(i, why.split(" since ")[0]) for i, why in report.waiting] == [(added.thread.id, "waiting for sign-off")]

    clock.moment = utc("2026-12-02 08:40")  # ten minutes late, no later slot yet: post_late posts it now
    with proj.queue() as queue:
        approved = queue.approve(added.thread.id, by="amira")
        assert (approved.outcome, approved.thread.state) == ("now", "queued")
        assert "posts now, late (catch_up = post_late)" in approved.why
        signoffs = queue.store.signoffs(added.thread.id)
        assert [(s["decision"], s["by"], s["at"][:16]) for s in signoffs] == [("approved", "amira", "2026-12-02T08:40")]
    report = proj.post_due()
    assert [o.state for o in report.outcomes] == ["posted"] and outbox_posts(project) == 3


def test_run_once_posts_nothing_awaiting_approval(project: Path, run_cli: Callable[..., Result]) -> None:
    (project / "schedule.toml").write_text(schedule("approval = true\n"), encoding="utf-8")
    assert run_cli("queue", "add", "--now").exit_code == 0
    result = run_cli("post")
    assert result.exit_code == 0, result.output
    assert "Thread 1 is due but waits: waiting for sign-off since" in result.stdout
    assert run_cli("run", "--once").exit_code == 0
    assert outbox_posts(project) == 0
    assert run_cli("queue", "approve", "1", "--as", "sam").stdout.startswith(
        "Approved thread 1 (daily #1) as sam: it is due, so it posts at the next publisher post or daemon pass")
    assert run_cli("run", "--once").exit_code == 0 and outbox_posts(project) == 3


@pytest.mark.parametrize(("extra", "late", "outcome"), [
    ('catch_up = "skip"\n', "2026-12-02 08:40", "skipped"),
    ('max_lateness = "30m"\n', "2026-12-02 09:10", "skipped"),
    ('max_lateness = "30m"\n', "2026-12-02 08:50", "now"),
    ("", "2026-12-03 08:31", "skipped"),  # the next slot has passed too: only the latest may post late
], ids=["skip", "beyond-max-lateness", "within-max-lateness", "a-later-slot-passed"])
def test_a_late_approval_follows_catch_up(project: Path, extra: str, late: str, outcome: str) -> None:
    proj, clock = approval_project(project, extra)
    added = proj.queue_add("daily")
    clock.moment = utc(late)
    with proj.queue() as queue:
        approved = queue.approve(added.thread.id, by="amira")
        assert approved.outcome == outcome, approved
        assert approved.thread.state == ("skipped" if outcome == "skipped" else "queued")
    if outcome == "skipped":  # its quotes go to the next thread
        assert proj.queue_add("daily", now=True).thread.quote_ids == IDS[0:3]


def test_reject_keeps_who_and_why_and_only_awaiting_threads_are_signed_off(project: Path,
                                                                          run_cli: Callable[..., Result]) -> None:
    proj, _ = approval_project(project)
    first = proj.queue_add("daily")
    result = run_cli("queue", "reject", str(first.thread.id), "--reason", "  wrong   tone ", "--as", "lee")
    assert result.stdout == f"Rejected thread {first.thread.id} (daily #1) as lee: wrong tone.\n"
    with proj.queue() as queue:
        assert queue.thread(first.thread.id).state == "cancelled"
        assert queue.store.signoffs(first.thread.id)[0]["reason"] == "wrong tone"
        with pytest.raises(WrongState, match=r"only a thread awaiting approval \(or one whose approval no longer "):
            queue.approve(first.thread.id)
    refused = run_cli("queue", "reject", str(first.thread.id), "--reason", "again")
    assert refused.exit_code == 11 and "only a thread awaiting approval can be rejected" in refused.stderr
    second = proj.queue_add("daily")
    assert second.thread.quote_ids == IDS[3:6], "a rejected thread's quotes are not queued again"


def test_recomposing_an_approved_thread_sends_it_back_for_sign_off(project: Path,
                                                                    run_cli: Callable[..., Result]) -> None:
    proj, _ = approval_project(project)
    added = proj.queue_add("daily")
    with proj.queue() as queue:
        queue.approve(added.thread.id, by="amira")
        assert queue.thread(added.thread.id).state == "queued"
    result = run_cli("queue", "recompose", str(added.thread.id))
    assert result.exit_code == 0 and "sign it off again: publisher queue approve" in result.stdout
    with proj.queue() as queue:
        assert queue.thread(added.thread.id).state == "awaiting_approval"
        shown = queue.thread_json(queue.thread(added.thread.id))
        assert [s["decision"] for s in shown["signoffs"]] == ["approved", "sent_back"]
        assert shown["waiting"].startswith("waiting for sign-off since")
