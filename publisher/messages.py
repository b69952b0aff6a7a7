"""What an action on the queue did, in words: the CLI and the dashboard say it the same way, from here.

The queue service returns outcomes (``Approved``, ``Stopped``, ...); each function here turns one into the lines a
person reads: ``lines`` say what happened, ``warnings`` what still needs looking at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from publisher.slots import when_label
from publisher.text import counted

if TYPE_CHECKING:
    from publisher.queue import Added, Approved, Recomposed, Stopped
    from publisher.queue_making import Renumbered
    from publisher.store import PartRow, ThreadRow


@dataclass
class Said:
    lines: list[str]
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Everything on one line (a dashboard banner)."""
        return " ".join([*self.lines, *(f"Note: {w}" for w in self.warnings)])


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{when_label(moment, zone)} {moment.astimezone(zone):%Z}"


def _named(thread: ThreadRow) -> str:
    return f"thread {thread.id} ({thread.campaign} #{thread.number})"


def approved(done: Approved, signer: str, zone: ZoneInfo) -> Said:
    thread = done.thread
    head = f"Approved {_named(thread)} as {signer}"
    warnings = [f"its quotes changed in the collection since it was queued: {', '.join(done.quotes_changed)}; what "
                f"you approved is the text as queued (publisher queue recompose {thread.id} makes it from the "
                "current collection, and it then needs sign-off again)"] if done.quotes_changed else []
    if done.outcome == "scheduled":
        return Said([f"{head}: it posts {_when(thread.due_at, zone)}."], warnings)
    if done.outcome == "now":
        return Said([f"{head}: it is due, so it posts at the next publisher post or daemon pass"
                     + (f" ({done.why})." if done.why else ".")], warnings)
    return Said([f"{head}, but it was skipped: {done.why}; its quotes go to the campaign's next thread."], warnings)


def queued(added: Added, zone: ZoneInfo, now: bool = False) -> Said:
    thread = added.thread
    if added.slot_at is not None:
        when = f"for the slot {_when(added.slot_at, zone)}"
    elif now:
        when = "due now"
    else:
        when = f"due {_when(thread.due_at, zone)} (not one of its slots)"
    accounts = sorted({p.account for p in added.parts})
    lines = [f"Queued {_named(thread)} {when}: {counted(len(thread.quote_ids), 'quote')}, "
             f"{counted(len(added.parts), 'post')} to {', '.join(accounts)}."]
    lines += [_renumbered(moved, thread, zone) for moved in added.renumbered]
    if thread.state == "awaiting_approval":
        lines.append(f"It needs sign-off before it posts: publisher queue approve {thread.id} (or publisher queue "
                     f'reject {thread.id} --reason "...").')
    if added.last:
        lines.append("That is the campaign's last thread: every quote is now queued.")
    warnings = list(added.passed_over) + [
        f"account {account}: {', '.join(variables)} not set in the environment: nothing of thread {thread.id} is "
        "posted until it is" for account, variables in added.unset.items()] + [
        f"thread {moved.thread.id}'s text still says #{moved.was_number}: it could not be made again: "
        f"{moved.not_recomposed}; publisher queue recompose {moved.thread.id} once that is fixed"
        for moved in added.renumbered if moved.not_recomposed]
    return Said(lines, warnings)


def _renumbered(moved: Renumbered, new: ThreadRow, zone: ZoneInfo) -> str:
    """A thread queued before the new one but due after it, which took the next number up."""
    thread = moved.thread
    line = (f"Thread {thread.id} ({thread.campaign}) is now #{thread.number}, not #{moved.was_number}: it is due "
            f"{_when(thread.due_at, zone)}, after thread {new.id}, and a campaign's threads are numbered in the "
            "order they go out.")
    if moved.recomposed:
        line += " Its text says its number, so it was made again" + (
            f"; it needs sign-off again: publisher queue approve {thread.id}." if moved.sent_back else ".")
    return line


def rejected(thread: ThreadRow, signer: str, reason: str) -> Said:
    return Said([f"Rejected {_named(thread)} as {signer}: {reason}."])


def cancelled(stopped: Stopped, zone: ZoneInfo) -> Said:
    thread = stopped.thread
    if not stopped.posted and not stopped.in_flight:
        lines = [f"Cancelled thread {thread.id} ({thread.campaign}): nothing of it had been posted."]
    else:
        lines = [f"Cancelled thread {thread.id} ({thread.campaign}): {len(stopped.posted)} of {stopped.total} posts "
                 "were already live and stay up; nothing more is posted."]
    lines += [f"  {part.account} part {part.position}: {part.url or part.post_id}" for part in stopped.posted]
    lines += [f"  {part.account} part {part.position} was being sent as you cancelled: it may be live (publisher "
              f"queue show {thread.id})" for part in stopped.in_flight]
    if stopped.freed_slot is not None:
        lines.append(f"Its slot, {when_label(stopped.freed_slot, zone)}, is free again: publisher queue add fills "
                     "it, or at that time the daemon queues the campaign's next quotes there.")
    return Said(lines)


def held(thread: ThreadRow) -> Said:
    return Said([f"Held thread {thread.id} ({thread.campaign}): it will not post until publisher queue release "
                 f"{thread.id}."])


def released(thread: ThreadRow, still_over: str | None, waiting: str | None, now: datetime,
             zone: ZoneInfo) -> Said:
    due = thread.due_at
    when = (f"at {due.astimezone(zone):%Y-%m-%d %H:%M %Z}" if due > now else
            f"at the next publisher post or daemon pass (it was due {due.astimezone(zone):%Y-%m-%d %H:%M %Z})")
    line = (f"Released thread {thread.id} ({thread.campaign}): it posts {when}." if not waiting else
            f"Released thread {thread.id} ({thread.campaign}), but {waiting}.")
    warnings = [f"it is still over budget ({still_over}): it will be held again unless x_monthly_budget is raised "
                "in schedule.toml"] if still_over else []
    return Said([line], warnings)


def retried(thread_id: int, changed: int, unknown: list[PartRow]) -> Said:
    lines = [f"Thread {thread_id}: {counted(changed, 'part')} will be tried again at the next publisher post or "
             "daemon pass."]
    lines += [f"  {part.account} part {part.position} is unknown: {part.fix or 'check the account first'}"
              for part in unknown]
    return Said(lines)


def recomposed(done: Recomposed) -> Said:
    thread = done.thread
    line = (f"Recomposed thread {thread.id} ({thread.campaign}) from the current files"
            + (f"; changed quotes: {', '.join(done.changed)}" if done.changed else "")
            + (f"; left out (no longer in the collection): {', '.join(done.dropped)}" if done.dropped else "")
            + f". Check it with publisher queue show {thread.id}"
            + (f", then sign it off again: publisher queue approve {thread.id}."
               if thread.state == "awaiting_approval" else
               "; it stays held, and needs sign-off again once released." if done.sent_back else "."))
    return Said([line])
