"""The queue: one service over the store, and what the CLI, the daemon and any other front end call.

It owns its store (``with Queue.open(files) as queue:``) and does every change to the queue in one write
transaction that first reads what it depends on. The state changes, here (cancel, hold, release, retry, recompose,
approve, reject), are conditional writes, and the poster re-reads the state before every part, so a cancel stops a
thread before its next part and stays ``cancelled``.

``Queue`` is made of one part a job, each in its module:

- ``queue_making``: planning and making threads (``add``, ``fill_slot``, ``skip_slot``), their cards included;
- ``queue_revisions``: what an approval is for (manifests, revisions, whether an approval still stands);
- ``queue_views``: the JSON and status views, what comes next, and why a thread waits;
- ``queue_posting``: the poster's set-up (``post_due``) and what comes before posting;
- ``queue_base``: the project, store, clock and schedule.toml they all work on.
"""

from __future__ import annotations

import getpass
import re
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.budget import Budgets
from publisher.config import parse_duration
from publisher.errors import BadArgument, Conflict, NotFound, StoreBusy, WrongState
from publisher.faults import checkpoint
from publisher.lock import StoreLock
from publisher.project import ProjectFiles
from publisher.queue_composing import RECOMPOSABLE, Remade
from publisher.queue_making import MAX_RACES, MAX_SLOTS_AHEAD, Added, ThreadMaking
from publisher.queue_posting import PosterSetUp
from publisher.queue_revisions import describe_changes, fingerprint
from publisher.queue_views import QueueViews
from publisher.slots import iter_slots, slot_of, when_label
from publisher.store import ACTIVE, PartRow, Store, ThreadRow, path_problem, store_errors
from publisher.text import BIDI_CONTROLS, terminal_safe, unsafe_character

# What ``from publisher.queue import ...`` gives: the CLI, the daemon and the dashboard import its parts' names here.
__all__ = ["CANCELLABLE", "HOLDABLE", "MAX_RACES", "MAX_REASON", "MAX_SLOTS_AHEAD", "ON_TIME", "RECOMPOSABLE",
           "RELEASABLE", "RETRYABLE", "SETTLE_SECONDS", "Added", "Approved", "Queue", "Recomposed", "Stopped",
           "describe_changes", "fingerprint", "name_problem", "signer"]

CANCELLABLE = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")
HOLDABLE = ("queued", "posting", "needs_attention")
RELEASABLE = ("held", "over_budget")
RETRYABLE = ("queued", "posting", "needs_attention")
ON_TIME = timedelta(minutes=5)  # a thread approved this soon after its slot is on time, as the daemon counts it
MAX_REASON = 500  # characters of a rejection's reason
SETTLE_SECONDS = 15.0  # how long cancel waits for a part being sent to land before it reports


@dataclass
class Stopped:
    """What a cancel found: the parts already live, and any that were being sent at that moment."""

    thread: ThreadRow
    posted: list[PartRow]
    in_flight: list[PartRow]
    total: int
    freed_slot: datetime | None = None  # the future slot it held, now free for another thread


@dataclass
class Approved:
    thread: ThreadRow
    outcome: str  # "scheduled" (posts at its due time), "now" (due: posts at once), or "skipped" (catch_up)
    why: str = ""  # for late and skipped threads: how late, and what the campaign's catch_up said
    revision: str | None = None  # what was approved
    quotes_changed: list[str] = field(default_factory=list)  # its quotes that changed in the collection since


@dataclass
class Recomposed:
    thread: ThreadRow
    changed: list[str]
    dropped: list[str]  # quotes no longer in the collection
    sent_back: bool = False  # it had been approved: it needs sign-off again


class Queue(QueueViews, ThreadMaking, PosterSetUp):
    """The queue of one project's store."""

    @classmethod
    @contextmanager
    def open(cls, files: ProjectFiles, now: Callable[[], datetime] | None = None, dry_run: bool = False,
             create: bool = True) -> Iterator[Queue]:
        """The project's queue. ``create=False`` reads an empty queue rather than create the store file.

        ``dry_run``: a rehearsal queue in ``<state>/dry-run/``, made afresh from the real queue as it is now
        (its outbox folders emptied), so a dry run shows what would happen next and never touches the real one.
        The caller holds the dry-run lock."""
        clock = now or (lambda: datetime.now(UTC))
        path = files.store_path(dry_run)
        if dry_run:
            _clear_rehearsal(path.parent)
            real = files.store_path()
            with Store.open(real, clock) if real.exists() else Store.empty(clock) as source:
                store = source.copy_to(path)
        else:
            misplaced = path_problem(path)
            if misplaced:
                raise misplaced
            store = Store.open(path, clock) if create or path.exists() else Store.empty(clock)
        with store, store_errors(store.path):  # a page damaged mid-file is met by whichever query reads it
            queue = cls(files, store, clock)
            queue.asks_servers = not dry_run
            yield queue

    # -- one thread ----------------------------------------------------------------------------------------

    def thread(self, thread_id: int) -> ThreadRow:
        thread = self.store.thread(thread_id)
        if thread is None:
            raise NotFound(f"no thread {thread_id} in the queue (publisher queue list --all shows them)")
        return thread

    def threads(self, show_all: bool = False) -> list[ThreadRow]:
        return self.store.threads() if show_all else self.store.threads(ACTIVE)

    def cancel(self, thread_id: int, settle: float = SETTLE_SECONDS, by: str | None = None) -> Stopped:
        """Stop a thread for good: no part is sent after this. Waits (up to ``settle`` seconds) for a part
        that was being sent at that moment to land, so the report says what is live."""
        thread = self.thread(thread_id)
        who = signer(by, stopping=True)
        if not self.store.transition(thread_id, "cancelled", CANCELLABLE,
                                     f"cancelled by {who} at {self.now():%Y-%m-%d %H:%M} UTC"):
            raise WrongState(f"thread {thread_id} is {self.store.thread_state(thread_id)}: there is nothing to "
                             "cancel")
        deadline = time.monotonic() + settle
        while self._sending(thread_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        parts = self.store.parts(thread_id)
        slot_at = slot_of(thread.slot)[0] if thread.slot else None
        untouched = all(p.state == "pending" for p in parts)
        return Stopped(self.thread(thread.id), [p for p in parts if p.state == "posted"],
                       [p for p in parts if p.state in ("in_flight", "unknown")], len(parts),
                       slot_at if slot_at is not None and slot_at > self.now() and untouched else None)

    def _sending(self, thread_id: int) -> bool:
        """A part of the thread is in flight and a posting process is running (so it may still land)."""
        if not any(p.state == "in_flight" for p in self.store.parts(thread_id)) or self.store.path is None:
            return False
        return StoreLock(self.store.path).holder() is not None

    def hold(self, thread_id: int, by: str | None = None) -> ThreadRow:
        """Keep a thread from posting (after the part in flight, if any) until it is released."""
        self.thread(thread_id)
        if not self.store.transition(thread_id, "held", HOLDABLE, f"held by {signer(by, stopping=True)}"):
            raise WrongState(f"thread {thread_id} is {self.store.thread_state(thread_id)}: only a queued, posting "
                             "or needs_attention thread can be held")
        return self.thread(thread_id)

    def release(self, thread_id: int) -> tuple[ThreadRow, str | None]:
        """Let a held (or over-budget) thread post again: at its due time, or at once if that has passed.
        Returns it, and why it would be held again if it is still over the X budget."""
        thread = self.thread(thread_id)
        campaign = self.schedule.campaign(thread.campaign)
        with self.store.transaction():
            state = self.store.thread_state(thread_id)
            if state not in RELEASABLE:
                raise WrongState(f"thread {thread_id} is {state}: only a held or over_budget thread can be released")
            started = any(p.state != "pending" for p in self.store.parts(thread_id))
            stale = self.stale_approval(thread_id) if campaign is not None and campaign.approval else None
            if stale is not None:  # what would go out now is not what was signed off
                self.store.transition(thread_id, "awaiting_approval", RELEASABLE, f"released, but {stale}")
            else:
                self.store.transition(thread_id, "posting" if started else "queued", RELEASABLE)
        thread = self.thread(thread_id)
        over = Budgets.from_schedule(self.schedule).check(self.store, thread, self.now()) if not started else None
        return thread, str(over) if over else None

    def retry(self, thread_id: int) -> tuple[int, list[PartRow]]:
        """Try again, now, the parts known not to be posted that failed or wait for a retry; returns how many,
        and the parts whose outcome is unknown (those need a person to look first)."""
        thread = self.thread(thread_id)
        changed = self.store.reset_parts(thread_id, RETRYABLE)
        if changed is None:
            state = self.store.thread_state(thread_id)
            fix = {"held": "publisher queue release it instead", "over_budget": "publisher queue release it instead",
                   "awaiting_approval": f"it has not been sent: approve it first (publisher queue approve {thread_id})",
                   }.get(state or "", "queue a new one with publisher queue add")
            raise WrongState(f"thread {thread_id} is {state}: {fix}")
        unknown = [p for p in self.store.parts(thread_id) if p.state == "unknown"]
        if not changed and not unknown:
            zone = self.zone(thread.campaign)
            raise WrongState(f"thread {thread_id} has nothing to retry: none of its parts failed or waits for a "
                             f"retry (it is {thread.state}, due {when_label(thread.due_at, zone)})")
        return changed, unknown

    def recompose(self, thread_id: int, by: str | None = None) -> Recomposed:
        """Rebuild a thread none of whose parts has been sent from the current collection and schedule: new
        texts and cards, same slot, number and quotes (less any no longer in the collection). The cards are made
        before the write lock is taken; the thread is checked again under it. An approved thread is always sent
        back for sign-off: what was approved is not what it would post now."""
        from publisher.render import check_text_shaping

        who = signer(by)
        for _ in range(MAX_RACES):
            thread = self.thread(thread_id)
            self._refuse_recompose(thread)
            campaign = self.files.campaign(thread.campaign)
            collection = self.files.collection(campaign.collection)
            theme = self.files.theme_for(campaign, collection)
            check_text_shaping()
            quotes = [q for q in (collection.quote(i) for i in thread.quote_ids) if q is not None]
            dropped = [i for i in thread.quote_ids if collection.quote(i) is None]
            if not quotes:
                raise WrongState(f"thread {thread_id}: none of its quotes is in {collection.name}.toml any more; "
                                 f"cancel it (publisher queue cancel {thread_id})")
            changed = [q for q in self.changed_quotes(thread, collection) if q not in dropped]
            parts, images = self._compose(campaign, collection, theme, quotes, thread.due_at, thread.number)
            checkpoint("queue:recompose:composed")
            with self.store.transaction():
                now = self.thread(thread_id)
                self._refuse_recompose(now)
                if (now.quote_ids, now.number, now.due_at) != (thread.quote_ids, thread.number, thread.due_at):
                    continue  # changed meanwhile (another recompose): make it again from what it is now
                sent_back = self._store_remade(campaign, collection, thread_id, Remade(quotes, parts, images), who,
                                               "recomposed")
            return Recomposed(self.thread(thread_id), changed, dropped, sent_back)
        raise StoreBusy(f"thread {thread_id} kept changing while it was being recomposed: run the command again")

    def _refuse_recompose(self, thread: ThreadRow) -> None:
        current = self.store.parts(thread.id)
        live = sum(p.state == "posted" for p in current)
        maybe = sum(p.state in ("in_flight", "unknown") for p in current)
        if thread.state not in RECOMPOSABLE:
            raise WrongState(f"thread {thread.id} is {thread.state}: there is nothing to recompose")
        if live or maybe:
            what = " and ".join(filter(None, [f"{live} of its parts {'is' if live == 1 else 'are'} live" if live
                                              else "", f"{maybe} may be" if maybe else ""]))
            raise WrongState(f"thread {thread.id} cannot be recomposed: {what} (only a thread none of whose parts "
                             f"has been sent can be; publisher queue cancel {thread.id} stops the rest)")

    # -- sign-off ------------------------------------------------------------------------------------------

    def approve(self, thread_id: int, by: str | None = None, revision: str | None = None) -> Approved:
        """Sign a thread off, for exactly its current revision (what it would post, and where): it posts at its
        due time; one whose slot has passed goes by the campaign's catch_up (posted late if ``post_late`` allows
        it, else skipped, its quotes going to the next thread). ``revision`` (16 hex digits, either case): the one
        the approver was shown; refused (Conflict) if the thread is at another one now, saying what changed."""
        if revision is not None:
            revision = revision.strip().lower()
            if not re.fullmatch(r"[0-9a-f]{16}", revision):
                raise BadArgument(f"{revision[:40]!r} is not a revision (16 hex digits, as publisher queue show "
                                  "prints it)")
        who = signer(by)
        if self.config_problem is not None:  # an approval is for where the thread goes: unknown while unreadable
            raise self.config_problem
        with self.store.transaction():
            thread = self.thread(thread_id)
            campaign = self.schedule.campaign(thread.campaign)
            again = (thread.state in ("queued", "posting") and campaign is not None and campaign.approval
                     and self.stale_approval(thread_id) is not None)  # its approval went stale: approve it anew
            if thread.state != "awaiting_approval" and not again:
                raise WrongState(f"thread {thread_id} is {thread.state}: only a thread awaiting approval (or one "
                                 "whose approval no longer covers what it would post) can be approved")
            current = self._remember(thread_id)
            if revision is not None and revision != current:
                raise Conflict(f"thread {thread_id} changed since revision {revision} was shown to you: "
                               f"{self._what_changed(thread_id, revision)}; look at it again (publisher queue show "
                               f"{thread_id}) and approve revision {current} if it is right")
            late = self._approved_late(thread)
            if late is not None and late[0] == "skipped":
                self.store.transition(thread_id, "skipped", ("awaiting_approval", "queued"),
                                      f"approved by {who}, but {late[1]}; its quotes go to the next thread")
            elif not again:  # a thread sent back mid-thread goes on posting (never over the budget check again)
                started = any(p.state != "pending" for p in self.store.parts(thread_id))
                self.store.transition(thread_id, "posting" if started else "queued", ("awaiting_approval",),
                                      f"approved by {who}")
            self.store.record_signoff(thread_id, "approved", who, revision=current)
        changed = self.changed_quotes(thread, self.collections_by_campaign().get(thread.campaign))
        if late is None:
            return Approved(self.thread(thread_id), "scheduled" if thread.due_at > self.now() else "now",
                            revision=current, quotes_changed=changed)
        return Approved(self.thread(thread_id), late[0], late[1], current, changed)

    def _approved_late(self, thread: ThreadRow) -> tuple[str, str] | None:
        """For a thread whose slot has passed: ("now" | "skipped", why) under its campaign's catch_up."""
        moment = self.now()
        if thread.slot is None or moment - thread.due_at <= ON_TIME:
            return None  # on time, or a thread queued for a time (or now) rather than a slot: it posts when due
        if any(p.state != "pending" for p in self.store.parts(thread.id)):
            return None  # under way (sent back mid-thread): the rest follows, whenever it is approved
        campaign = self.schedule.campaign(thread.campaign)
        zone = self.zone(thread.campaign)
        lateness = str(moment - thread.due_at).split(".")[0]
        why = f"its slot {when_label(thread.due_at, zone)} passed {lateness} ago"
        if campaign is None or campaign.catch_up == "skip":
            return "skipped", f"{why} (catch_up = skip)"
        limit = parse_duration(campaign.max_lateness) if campaign.max_lateness else None
        later = next(iter_slots(campaign, zone, thread.due_at), None)
        if limit is not None and moment - thread.due_at > limit:
            return "skipped", f"{why}, more than max_lateness = {campaign.max_lateness}"
        if limit is None and later is not None and later <= moment:
            return "skipped", f"{why}, and the campaign's next slot has passed too (catch_up posts only the latest)"
        return "now", f"{why}: it posts now, late (catch_up = post_late)"

    def reject(self, thread_id: int, reason: str, by: str | None = None) -> ThreadRow:
        """Refuse a thread awaiting sign-off: it is cancelled, with who and why kept; its quotes stay used."""
        who = signer(by)
        unsafe = unsafe_character(reason, line_breaks=True) or next(
            (f"U+{ord(c):04X}" for c in reason if unicodedata.category(c) in ("Zl", "Zp")), None)
        if unsafe:
            raise BadArgument(f"the reason contains {unsafe}, a control character that would act on the screen of "
                              "whoever reads it: write it as plain text")
        reason = " ".join(reason.split())
        if not reason:
            raise BadArgument("say why the thread is rejected (--reason TEXT): the campaign team sees it")
        if len(reason) > MAX_REASON:
            raise BadArgument(f"the reason is {len(reason)} characters: say it in at most {MAX_REASON}")
        with self.store.transaction():
            self.thread(thread_id)
            if not self.store.transition(thread_id, "cancelled", ("awaiting_approval",),
                                         f"rejected by {who}: {reason}"):
                raise WrongState(f"thread {thread_id} is {self.store.thread_state(thread_id)}: only a thread "
                                 "awaiting approval can be rejected (publisher queue cancel stops any other)")
            self.store.record_signoff(thread_id, "rejected", who, reason)
        return self.thread(thread_id)


def _clear_rehearsal(folder: Path) -> None:
    """Empty a dry run's folder (its outboxes and queue), keeping the lock file the caller holds."""
    if not folder.exists():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.name.startswith("publisher.db"):
            entry.unlink()


MAX_NAME = 100  # characters of a name sign-offs and changes are recorded under


def signer(by: str | None, stopping: bool = False) -> str:
    """Who acts on a thread, as kept in the store: ``by`` (--as, $PUBLISHER_USER, the dashboard's --user), else
    the OS user. A name that would not show as itself (a control or format character: an escape, a bidi mark, a
    zero-width space; a line separator), an empty one or one over 100 characters is refused; but a stop (cancel,
    hold) never fails for its name: it is kept with such characters shown as code points."""
    if by is None:
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "someone"
    name = by.strip()
    problem = name_problem(name)
    if problem is None:
        return name
    if stopping:
        return terminal_safe(name, keep_line_breaks=False)[:MAX_NAME] or "someone"
    raise BadArgument(f"the name given with --as (or $PUBLISHER_USER) {problem}: give a plain name")


def name_problem(name: str) -> str | None:
    """What makes a name unfit to be recorded and shown, or None."""
    for position, char in enumerate(name, start=1):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char in BIDI_CONTROLS:
            return f"contains U+{ord(char):04X} (character {position}), a control or invisible character"
    if not name:
        return "is empty"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long (at most {MAX_NAME})"
    return None
