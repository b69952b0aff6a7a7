"""The queue: one service over the store, and what the CLI, the daemon and any other front end call.

It owns its store (``with Queue.open(files) as queue:``) and does every change to the queue in one write
transaction that first reads what it depends on:

- choosing a thread's quotes, its number and its slot and inserting it are one transaction, so any number of
  ``queue add`` processes and the daemon never queue one quote twice;
- a thread is queued for a *slot place* (``threads_per_slot`` places per slot instant), the same key the daemon
  fills, so a thread queued by hand for the next slot is the one the daemon posts there;
- state changes (cancel, hold, release, ...) are conditional writes, and the poster re-reads the state before
  every part, so a cancel stops a thread before its next part and stays ``cancelled``.

A queued thread is self-contained (texts, card PNGs, alt text, cost), so posting needs neither the collection nor
the renderer, and what was queued is exactly what is posted.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from publisher.budget import Budgets, month_start, spent, x_accounts
from publisher.compose import compose_thread, next_quotes, remaining_quotes
from publisher.config import Campaign
from publisher.errors import BadArgument, ConfigError, NotFound, NothingToQueue, Problem, PublisherError, WrongState
from publisher.lock import StoreLock
from publisher.outlook import (
    RunOut,
    Upcoming,
    free_places,
    has_slots,
    place_at,
    quote_digest,
    quotes_used,
    run_out,
    upcoming,
)
from publisher.platforms import rules_for
from publisher.platforms.base import Platform
from publisher.platforms.x import post_cost
from publisher.poster import Poster, ThreadOutcome
from publisher.project import ProjectFiles
from publisher.quotes import Collection, Quote
from publisher.slots import date_label, iter_slots, slot_key, slot_of, when_label
from publisher.store import ACTIVE, USES_QUOTES, NewPart, PartRow, Store, ThreadRow, path_problem, store_errors
from publisher.text import trim_alt
from publisher.themes import Theme

CANCELLABLE = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")
HOLDABLE = ("queued", "posting", "needs_attention")
RELEASABLE = ("held", "over_budget")
RETRYABLE = ("queued", "posting", "needs_attention")
RECOMPOSABLE = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")
ON_TIME = timedelta(minutes=5)  # a thread approved this soon after its slot is on time, as the daemon counts it
MAX_REASON = 500  # characters of a rejection's reason
SETTLE_SECONDS = 15.0  # how long cancel waits for a part being sent to land before it reports
MAX_SLOTS_AHEAD = 1000  # how far an evergreen campaign looks for a slot with a quote out of its cooldown


@dataclass
class Added:
    thread: ThreadRow
    parts: list[PartRow]
    slot_at: datetime | None  # the slot it fills; None for --now, or an --at time off the campaign's slots
    last: bool  # every quote of the campaign is now queued
    unset: dict[str, list[str]] = field(default_factory=dict)  # its accounts' secret variables not set yet
    passed_over: list[str] = field(default_factory=list)  # quotes whose card could not be made, why


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


@dataclass
class Recomposed:
    thread: ThreadRow
    changed: list[str]
    dropped: list[str]  # quotes no longer in the collection


class Queue:
    """The queue of one project's store."""

    def __init__(self, files: ProjectFiles, store: Store, now: Callable[[], datetime]):
        self.files = files
        self.store = store
        self.now = now
        self.schedule = files.schedule()
        self.passed_over: list[str] = []  # quotes passed over while queueing, as messages

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
            yield cls(files, store, clock)

    def zone(self, campaign_name: str) -> ZoneInfo:
        campaign = self.schedule.campaign(campaign_name)
        return self.schedule.zone_of(campaign) if campaign else self.schedule.zone

    # -- queueing ------------------------------------------------------------------------------------------

    def add(self, campaign_name: str | None = None, *, at: datetime | None = None, now: bool = False) -> Added:
        """Queue the campaign's next thread: for its next slot place that has no thread yet (for an evergreen
        campaign, the next one with a quote out of its cooldown), or due ``at`` a future time (to the minute;
        filling the slot there, if it is one), or due now."""
        from publisher.render import check_text_shaping

        self.passed_over.clear()
        campaign = self.files.campaign(campaign_name)
        if not campaign.enabled:
            raise ConfigError([Problem(self.schedule.path, f"campaign {campaign.name} is disabled",
                                       key="enabled", fix="set enabled = true to queue threads for it")])
        collection = self.files.collection(campaign.collection)
        theme = self.files.theme_for(campaign, collection)
        check_text_shaping()
        zone = self.schedule.zone_of(campaign)
        moment = self.now()
        if at is not None:
            # In UTC: a local time in a DST gap compares unequal to every instant in another zone.
            at = at.astimezone(UTC).replace(second=0, microsecond=0)
            if at <= moment:
                raise BadArgument(f"--at {at.astimezone(zone):%Y-%m-%d %H:%M} is in the past (it is now "
                                  f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}): give a future time, or --now to "
                                  "post it at once")
        _within_dates(campaign, zone, at or moment, "--at" if at else "--now")
        with self.store.transaction():
            slot_at: datetime | None = None
            key: str | None = None
            if now:
                due = moment
            elif at is not None:
                due = at
                slot_at, key = place_at(self.store, campaign, zone, at)
            else:
                place = self._next_place(campaign, collection, zone, moment)
                slot_at, key = place
                due = slot_at
            thread_id = self._queue(campaign, collection, theme, due, key)
            last = not self._more_to_queue(campaign, collection)
        thread = self.store.thread(thread_id)
        assert thread is not None
        unset = {name: variables for name, variables in self.schedule.unset_secrets(dict(os.environ)).items()
                 if name in campaign.accounts}
        return Added(thread, self.store.parts(thread_id), slot_at, last, unset, list(self.passed_over))

    def _next_place(self, campaign: Campaign, collection: Collection, zone: ZoneInfo,
                    moment: datetime) -> tuple[datetime, str]:
        """The next free slot place; for an evergreen campaign, the next one with a quote ready by then."""
        used = quotes_used(self.store, campaign, collection)
        for slot_at, key in islice(free_places(self.store, campaign, zone, moment), MAX_SLOTS_AHEAD):
            if campaign.order != "evergreen" or next_quotes(campaign, collection, used, [slot_at])[0]:
                return slot_at, key
        if campaign.order == "evergreen" and has_slots(campaign) and next(free_places(
                self.store, campaign, zone, moment), None) is not None:
            raise self._nothing_to_queue(campaign, collection)
        why = ("it has no slots, cron or once in schedule.toml" if not has_slots(campaign)
               else "none of its slots is left" + (f" (it ends on {campaign.end})" if campaign.end else ""))
        raise BadArgument(f"campaign {campaign.name} has no free slot to queue for: {why}; say when with --at "
                          '"YYYY-MM-DD HH:MM", or post at once with --now')

    def fill_slot(self, campaign: Campaign, slot_at: datetime) -> tuple[list[int], list[PublisherError]]:
        """The threads for each place of a slot the daemon has reached: those queued for it already, and new
        ones for the empty places; and why any place could not be filled. A place that fails (a quote that no
        longer fits ...) leaves the others alone. Raises NothingToQueue if the slot gets no thread at all."""
        from publisher.render import check_text_shaping

        keys = [slot_key(slot_at, place) for place in range(1, campaign.threads_per_slot + 1)]
        if all(key in self.store.slot_holders(campaign.name) for key in keys):
            return [self.store.slot_holders(campaign.name)[key] for key in keys], []  # filled by hand
        collection = self.files.collection(campaign.collection)
        theme = self.files.theme_for(campaign, collection)
        check_text_shaping()
        thread_ids: list[int] = []
        errors: list[PublisherError] = []
        with self.store.transaction():
            holders = self.store.slot_holders(campaign.name)
            for key in keys:
                if key in holders:
                    thread_ids.append(holders[key])
                    continue
                try:
                    with self.store.savepoint():
                        thread_ids.append(self._queue(campaign, collection, theme, slot_at, key))
                except NothingToQueue as exc:
                    if not thread_ids:
                        errors.append(exc)
                    break
                except PublisherError as exc:
                    errors.append(exc)
        if not thread_ids and errors:
            raise errors[0]
        return thread_ids, errors

    def skip_slot(self, campaign: Campaign, slot_at: datetime, why: str) -> list[int]:
        """A slot the catch-up policy skips: threads queued for it in advance are skipped too (nothing of them
        was sent), and their quotes go back to the campaign for its next thread."""
        skipped = []
        with self.store.transaction():
            holders = self.store.slot_holders(campaign.name)
            for place in range(1, campaign.threads_per_slot + 1):
                thread_id = holders.get(slot_key(slot_at, place))
                if thread_id is None or any(p.state != "pending" for p in self.store.parts(thread_id)):
                    continue  # a thread under way is never skipped
                if self.store.transition(thread_id, "skipped", ("queued", "awaiting_approval"), why):
                    skipped.append(thread_id)
        return skipped

    def _queue(self, campaign: Campaign, collection: Collection, theme: Theme, due: datetime,
               key: str | None) -> int:
        """Choose the next quotes and number and store the thread (inside the caller's transaction). A quote
        whose card cannot be made is passed over (until it is edited), and the next one taken instead."""
        from publisher.render.batch import CardFailed

        while True:
            batch = next_quotes(campaign, collection, quotes_used(self.store, campaign, collection), [due])
            quotes = batch[0] if batch else []
            if not quotes:
                raise self._nothing_to_queue(campaign, collection)
            number = self.store.next_number(campaign.name)
            try:
                parts, images = self._compose(campaign, collection, theme, quotes, due, number)
            except CardFailed as failed:
                quote = collection.quote(failed.quote_id)
                assert quote is not None
                self.store.skip_quote(campaign.name, quote.id, quote_digest(collection, quote), failed.reason)
                message = (f"campaign {campaign.name}: quote {quote.id} is passed over: {failed.reason} (publisher "
                           "validate lists such quotes; once it is edited it is used again)")
                self.store.add_event("warning", message)
                self.passed_over.append(message)
                continue
            self._refuse_repeats(campaign, parts)
            return self.store.add_thread(campaign.name, number, due, [q.id for q in quotes],
                                         {q.id: quote_digest(collection, q) for q in quotes}, parts, images,
                                         slot=key, state="awaiting_approval" if campaign.approval else "queued")

    def _nothing_to_queue(self, campaign: Campaign, collection: Collection) -> NothingToQueue:
        zone = self.schedule.zone_of(campaign)
        used = quotes_used(self.store, campaign, collection)
        if campaign.order == "evergreen":
            last_use: dict[str, datetime] = {}
            for quote_id, when in used:
                last_use[quote_id] = max(when, last_use.get(quote_id, when))
            free = min(last_use.values(), default=self.now()) + timedelta(days=campaign.cooldown_days)
            return NothingToQueue(f"campaign {campaign.name}: every quote has been used in the last "
                                  f"{campaign.cooldown_days} days (cooldown_days); the first is free again "
                                  f"{when_label(free, zone)}")
        last = max(self.store.threads(USES_QUOTES, campaign.name), key=lambda t: (t.due_at, t.id), default=None)
        latest = f" (the last is thread {last.id}, due {when_label(last.due_at, zone)})" if last else ""
        return NothingToQueue(f"campaign {campaign.name} has run out: all {len(collection.quotes)} quotes of "
                              f"{collection.name} have been used (queued, posted or cancelled){latest}; add quotes "
                              f'to {collection.name}.toml, or set order = "evergreen" to repeat them')

    def _more_to_queue(self, campaign: Campaign, collection: Collection) -> bool:
        return campaign.order == "evergreen" or bool(
            remaining_quotes(campaign, collection, quotes_used(self.store, campaign, collection)))

    def _compose(self, campaign: Campaign, collection: Collection, theme: Theme, quotes: Sequence[Quote],
                 due: datetime, number: int) -> tuple[dict[str, list[NewPart]], dict[str, tuple[bytes, int, int]]]:
        """Every account's parts, their cards rendered (each card once), and each part's cost on X."""
        from publisher.render.batch import CardFailed
        from publisher.render.card import CardRenderer, CardTooLarge, TextDoesNotFit
        from publisher.render.fonts import MissingGlyph

        renderer = CardRenderer(theme, self.files.assets)
        date = date_label(due, self.schedule.zone_of(campaign))
        images: dict[str, tuple[bytes, int, int]] = {}
        rendered: dict[tuple[str, str], tuple[str, str, int, int]] = {}
        parts: dict[str, list[NewPart]] = {}
        problems = []
        for name in campaign.accounts:
            account = self.schedule.accounts[name]
            rules = rules_for(account.rules_name)
            thread = compose_thread(campaign, collection, quotes, name, account, rules, theme.name, date=date,
                                    thread_number=number)
            problems += [f"{name}: {p}" for p in thread.problems]
            account_parts = []
            for part in thread.parts:
                part_images = []
                for card in part.cards:
                    key = (card.quote_id, card.format)
                    if key not in rendered:
                        quote = collection.quote(card.quote_id)
                        assert quote is not None
                        try:
                            made = renderer.render(collection, quote, card.format)
                        except (TextDoesNotFit, MissingGlyph, CardTooLarge) as exc:
                            raise CardFailed(quote.id, card.format, str(exc), exc.exit_status) from exc
                        sha = hashlib.sha256(made.png).hexdigest()
                        images[sha] = (made.png, made.width, made.height)
                        rendered[key] = (sha, made.alt, made.width, made.height)
                    sha, alt, width, height = rendered[key]
                    part_images.append({"sha256": sha, "alt": trim_alt(alt, rules.limits.max_alt), "width": width,
                                        "height": height})
                cost = post_cost(part.text, len(part_images)) if rules.name == "x" else None
                account_parts.append(NewPart(part.text, part_images, cost))
            parts[name] = account_parts
        if problems:
            raise ConfigError([Problem(self.schedule.path, f"campaign {campaign.name} cannot be queued: {p}")
                               for p in problems])
        return parts, images

    def _refuse_repeats(self, campaign: Campaign, parts: dict[str, list[NewPart]],
                        thread_id: int | None = None) -> None:
        """X refuses a post identical to an earlier one: never queue one."""
        for account in sorted(x_accounts(self.schedule) & set(parts)):
            earlier = self.store.live_texts(account)
            for position, part in enumerate(parts[account], start=1):
                other = earlier.get(part.text)
                if other is not None and other != thread_id:
                    raise ConfigError([Problem(
                        self.schedule.path,
                        f"campaign {campaign.name}: {account} part {position} would be the same text as a post of "
                        f"thread {other}, and X refuses a repeated post as duplicate content",
                        fix="put {thread_number} in the campaign's intro, outro or caption, whichever repeats "
                            "({date} alone repeats for two threads on one day)")])

    # -- what comes next -----------------------------------------------------------------------------------

    def upcoming(self, campaign: Campaign, collection: Collection,
                 count: int) -> tuple[list[Upcoming], list[datetime]]:
        """The next ``count`` threads the campaign would queue, and slots passed over (``outlook.upcoming``)."""
        return upcoming(self.store, self.schedule, campaign, collection, self.now(), count)

    def run_out(self, campaign: Campaign, collection: Collection) -> RunOut:
        """When the campaign runs out of quotes (see ``outlook.run_out``)."""
        return run_out(self.store, self.schedule, campaign, collection, self.now())

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
        who = by or _user()
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
        if not self.store.transition(thread_id, "held", HOLDABLE, f"held by {by or _user()}"):
            raise WrongState(f"thread {thread_id} is {self.store.thread_state(thread_id)}: only a queued, posting "
                             "or needs_attention thread can be held")
        return self.thread(thread_id)

    def release(self, thread_id: int) -> tuple[ThreadRow, str | None]:
        """Let a held (or over-budget) thread post again: at its due time, or at once if that has passed.
        Returns it, and why it would be held again if it is still over the X budget."""
        self.thread(thread_id)
        with self.store.transaction():
            state = self.store.thread_state(thread_id)
            if state not in RELEASABLE:
                raise WrongState(f"thread {thread_id} is {state}: only a held or over_budget thread can be released")
            started = any(p.state != "pending" for p in self.store.parts(thread_id))
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
        texts and cards, same slot, number and quotes (less any no longer in the collection)."""
        from publisher.render import check_text_shaping

        thread = self.thread(thread_id)
        campaign = self.files.campaign(thread.campaign)
        collection = self.files.collection(campaign.collection)
        theme = self.files.theme_for(campaign, collection)
        check_text_shaping()
        with self.store.transaction():
            thread = self.thread(thread_id)
            current = self.store.parts(thread_id)
            live = sum(p.state == "posted" for p in current)
            maybe = sum(p.state in ("in_flight", "unknown") for p in current)
            if thread.state not in RECOMPOSABLE:
                raise WrongState(f"thread {thread_id} is {thread.state}: there is nothing to recompose")
            if live or maybe:
                what = " and ".join(filter(None, [f"{live} of its parts {'is' if live == 1 else 'are'} live" if live
                                                  else "", f"{maybe} may be" if maybe else ""]))
                raise WrongState(f"thread {thread_id} cannot be recomposed: {what} (only a thread none of whose "
                                 f"parts has been sent can be; publisher queue cancel {thread_id} stops the rest)")
            quotes = [q for q in (collection.quote(i) for i in thread.quote_ids) if q is not None]
            dropped = [i for i in thread.quote_ids if collection.quote(i) is None]
            if not quotes:
                raise WrongState(f"thread {thread_id}: none of its quotes is in {collection.name}.toml any more; "
                                 f"cancel it (publisher queue cancel {thread_id})")
            changed = [q for q in self.changed_quotes(thread, collection) if q not in dropped]
            parts, images = self._compose(campaign, collection, theme, quotes, thread.due_at, thread.number)
            self._refuse_repeats(campaign, parts, thread_id)
            self.store.replace_parts(thread_id, [q.id for q in quotes],
                                     {q.id: quote_digest(collection, q) for q in quotes}, parts, images)
            if campaign.approval:  # what was signed off is not what will be posted now: sign it off again
                if self.store.approved(thread_id):
                    self.store.record_signoff(thread_id, "sent_back", by or _user(), "recomposed")
                if thread.state != "held":  # a held thread stays held; released, it still needs sign-off
                    self.store.transition(thread_id, "awaiting_approval", RECOMPOSABLE,
                                          "recomposed: needs sign-off again")
            elif thread.state != "held":
                self.store.transition(thread_id, "queued", RECOMPOSABLE)
        return Recomposed(self.thread(thread_id), changed, dropped)

    # -- sign-off ------------------------------------------------------------------------------------------

    def approve(self, thread_id: int, by: str | None = None, revision: str | None = None) -> Approved:
        """Sign a thread off: it posts at its due time; one whose slot has passed goes by the campaign's
        catch_up (posted late if ``post_late`` allows it, else skipped, its quotes going to the next thread).
        ``revision`` (``thread_json``'s): refused if the thread changed since the approver looked at it."""
        who = by or _user()
        with self.store.transaction():
            thread = self.thread(thread_id)
            if thread.state != "awaiting_approval":
                raise WrongState(f"thread {thread_id} is {thread.state}: only a thread awaiting approval can be "
                                 "approved")
            if revision is not None and revision != self.revision(thread_id):
                raise WrongState(f"thread {thread_id} changed since it was shown to you (it was recomposed): look "
                                 "at it again before approving it")
            late = self._approved_late(thread)
            if late is not None and late[0] == "skipped":
                self.store.transition(thread_id, "skipped", ("awaiting_approval",),
                                      f"approved by {who}, but {late[1]}; its quotes go to the next thread")
            else:
                self.store.transition(thread_id, "queued", ("awaiting_approval",), f"approved by {who}")
            self.store.record_signoff(thread_id, "approved", who)
        if late is None:
            return Approved(self.thread(thread_id), "scheduled" if thread.due_at > self.now() else "now")
        return Approved(self.thread(thread_id), late[0], late[1])

    def _approved_late(self, thread: ThreadRow) -> tuple[str, str] | None:
        """For a thread whose slot has passed: ("now" | "skipped", why) under its campaign's catch_up."""
        from publisher.config import parse_duration

        moment = self.now()
        if thread.slot is None or moment - thread.due_at <= ON_TIME:
            return None  # on time, or a thread queued for a time (or now) rather than a slot: it posts when due
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
        who = by or _user()
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

    def revision(self, thread_id: int) -> str:
        """A fingerprint of what the thread would post (every part's account, text and cards): what an approval
        is of."""
        parts = [(p.account, p.position, p.text, [i.get("sha256") for i in p.images])
                 for p in self.store.parts(thread_id)]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    def changed_quotes(self, thread: ThreadRow, collection: Collection | None) -> list[str]:
        """The thread's quotes that changed in (or left) the collection since it was queued. A thread queued
        before fingerprints were kept is only flagged for quotes that left."""
        if collection is None:
            return []
        changed = []
        for quote_id in thread.quote_ids:
            quote, digest = collection.quote(quote_id), thread.quote_digests.get(quote_id)
            if quote is None or (digest is not None and quote_digest(collection, quote) != digest):
                changed.append(quote_id)
        return changed

    # -- posting -------------------------------------------------------------------------------------------

    def post_due(self, platforms: dict[str, Platform], should_stop: Callable[[], bool] = lambda: False,
                 ) -> list[ThreadOutcome]:
        """Post every thread that is due (the caller holds the store's posting lock)."""
        enabled = frozenset(c.name for c in self.schedule.campaigns if c.enabled)
        signing = frozenset(c.name for c in self.schedule.campaigns if c.approval)
        poster = Poster(self.store, platforms, self.now, should_stop=should_stop,
                        budgets=Budgets.from_schedule(self.schedule), campaigns=enabled, needs_signoff=signing)
        return poster.post_due()

    def waiting_because(self, thread: ThreadRow) -> str | None:
        """Why a live thread will not post although it may be due: it awaits sign-off, or its campaign is
        disabled or gone."""
        if thread.state == "awaiting_approval":
            since = self.store.changed_at(thread.id) or thread.created_at
            zone = self.zone(thread.campaign)
            return (f"waiting for sign-off since {when_label(since, zone)} (publisher queue approve {thread.id}, or "
                    f'publisher queue reject {thread.id} --reason "...")')
        if thread.state not in ("queued", "posting"):
            return None
        campaign = self.schedule.campaign(thread.campaign)
        if campaign is None:
            return (f"campaign {thread.campaign} is no longer in {self.schedule.path.name}, so it waits (give the "
                    f"campaign its name back, or publisher queue cancel {thread.id})")
        if not campaign.enabled:
            return (f"campaign {thread.campaign} is disabled (enabled = false), so it waits (set enabled = true, "
                    f"or publisher queue cancel {thread.id})")
        return None

    def off_slot(self, thread: ThreadRow) -> str | None:
        """A thread queued for a future slot the campaign no longer has (its times, timezone or threads_per_slot
        changed since): it still posts at that time, beside the new slots."""
        campaign = self.schedule.campaign(thread.campaign)
        if campaign is None or thread.slot is None or thread.state not in ("awaiting_approval", "queued", "held",
                                                                            "over_budget"):
            return None
        slot_at, place = slot_of(thread.slot)
        zone = self.schedule.zone_of(campaign)
        if slot_at <= self.now() or (place <= campaign.threads_per_slot and next(
                iter_slots(campaign, zone, slot_at - timedelta(microseconds=1)), None) == slot_at):
            return None
        return (f"it was queued for {when_label(slot_at, zone)}, which is no longer one of the campaign's slots; it "
                f"still posts then (publisher queue cancel {thread.id} if it should not)")

    def orphans(self) -> dict[str, list[int]]:
        """Live threads of campaigns schedule.toml no longer has, by campaign name."""
        found: dict[str, list[int]] = {}
        for thread in self.store.threads(ACTIVE):
            if self.schedule.campaign(thread.campaign) is None:
                found.setdefault(thread.campaign, []).append(thread.id)
        return found

    def needing_attention(self) -> list[int]:
        return [t.id for t in self.store.threads(("needs_attention",))]

    # -- for people and scripts ----------------------------------------------------------------------------

    def collections_by_campaign(self) -> dict[str, Collection | None]:
        """Each campaign's collection as it is now (None if it cannot be read), for change flags."""
        loaded: dict[str, Collection | None] = {}
        for campaign in self.schedule.campaigns:
            try:
                loaded[campaign.name] = self.files.collection(campaign.collection)
            except PublisherError:
                loaded[campaign.name] = None
        return loaded

    def thread_json(self, thread: ThreadRow, collection: Collection | None = None) -> dict[str, Any]:
        """A thread as scripts see it (``queue show --json``, ``queue list --json``, ``status --json``)."""
        zone = self.zone(thread.campaign)
        parts = self.store.parts(thread.id)
        accounts: dict[str, dict[str, int]] = {}
        for part in parts:
            entry = accounts.setdefault(part.account, {"posted": 0, "total": 0})
            entry["total"] += 1
            entry["posted"] += part.state == "posted"
        return {
            "id": thread.id, "campaign": thread.campaign, "number": thread.number, "state": thread.state,
            "reason": thread.reason, "due_at": thread.due_at.astimezone(zone).isoformat(),
            "slot_at": slot_of(thread.slot)[0].astimezone(zone).isoformat() if thread.slot else None,
            "quote_ids": thread.quote_ids, "quotes_changed": self.changed_quotes(thread, collection),
            "waiting": self.waiting_because(thread), "off_slot": self.off_slot(thread),
            "created_at": thread.created_at.isoformat(), "accounts": accounts,
            "signoffs": self.store.signoffs(thread.id), "revision": self.revision(thread.id),
            "parts": [{"account": p.account, "position": p.position, "state": p.state, "text": p.text,
                       "images": len(p.images), "post_id": p.post_id, "url": p.url,
                       "posted_at": p.posted_at.isoformat() if p.posted_at else None,
                       "error": p.last_error, "fix": p.fix,
                       "next_try_at": p.not_before.isoformat() if p.not_before and p.state != "posted" else None,
                       "attempts": p.attempts, "cost_usd": p.cost} for p in parts],
        }

    def spend(self) -> dict[str, dict[str, Any]]:
        """Each account counted as X: what it spent this calendar month, and the budgets of its campaigns."""
        since = month_start(self.now(), self.schedule.zone)
        out = {}
        for account in sorted(x_accounts(self.schedule)):
            budgets = sorted({c.x_monthly_budget for c in self.schedule.campaigns
                              if account in c.accounts and c.x_monthly_budget is not None})
            out[account] = {"platform": self.schedule.accounts[account].platform,
                            "spent_usd": round(spent(self.store, account, since), 4),
                            "month": since.astimezone(self.schedule.zone).strftime("%Y-%m"),
                            "budgets_usd": budgets}
        return out

    def status(self) -> dict[str, Any]:
        """Everything ``publisher status`` shows, as JSON-able data."""
        from publisher.slots import is_scheduled, next_slots

        now = self.now()
        collections = self.collections_by_campaign()
        lock = StoreLock(self.store.path) if self.store.path else None
        campaigns = []
        for campaign in self.schedule.campaigns:
            zone = self.schedule.zone_of(campaign)
            upcoming = next_slots(campaign, zone, now, count=3) if is_scheduled(campaign) else []
            collection = collections.get(campaign.name)
            campaigns.append({
                "campaign": campaign.name, "enabled": campaign.enabled, "timezone": str(zone),
                "catch_up": campaign.catch_up,
                "next_slots": [{"local": s.astimezone(zone).isoformat(), "utc": s.astimezone(UTC).isoformat()}
                               for s in upcoming],
                "run_out": self.run_out(campaign, collection).as_json() if collection else None})
        counts: dict[str, int] = {}
        for thread in self.store.threads():
            counts[thread.state] = counts.get(thread.state, 0) + 1
        return {
            "now": now.isoformat(), "daemon": lock.holder() if lock else None, "campaigns": campaigns,
            "queue": counts,
            "threads": [self.thread_json(t, collections.get(t.campaign)) for t in self.store.threads(ACTIVE)],
            "x_spend": self.spend(),
            "recent_posts": [{"thread": t.id, "account": p.account, "part": p.position, "url": p.url}
                             for p, t in self.store.recent_posts(10)],
            "failures": [{"thread": t.id, "account": p.account, "part": p.position, "state": p.state,
                          "error": p.last_error, "fix": p.fix} for p, t in self.store.problem_parts()],
            "recent_errors": self.store.events(limit=5),
        }


def _within_dates(campaign: Campaign, zone: ZoneInfo, due: datetime, option: str) -> None:
    """A thread given a time by hand still keeps to the campaign's start and end dates."""
    day = due.astimezone(zone).date()
    if campaign.start and day < campaign.start:
        raise BadArgument(f"campaign {campaign.name} starts on {campaign.start} (start in schedule.toml): give "
                          f"{'a time from then' if option == '--at' else '--at a time from then'}, or change start")
    if campaign.end and day > campaign.end:
        raise BadArgument(f"campaign {campaign.name} ended on {campaign.end} (end in schedule.toml): change end "
                          "to post more")


def _clear_rehearsal(folder: Path) -> None:
    """Empty a dry run's folder (its outboxes and queue), keeping the lock file the caller holds."""
    if not folder.exists():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.name.startswith("publisher.db"):
            entry.unlink()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "someone"
