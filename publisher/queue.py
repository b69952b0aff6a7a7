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
import json
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from publisher.budget import Budgets, month_start, spent, x_accounts
from publisher.compose import compose_thread, next_quotes, remaining_quotes
from publisher.config import Campaign, Schedule, parse_duration, secret_set
from publisher.errors import (
    BadArgument,
    ConfigError,
    Conflict,
    MissingCredentials,
    NotFound,
    NothingToQueue,
    Problem,
    PublisherError,
    StoreBusy,
    WrongState,
)
from publisher.faults import checkpoint
from publisher.fileio import file_stamp
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
from publisher.text import BIDI_CONTROLS, terminal_safe, trim_alt, unsafe_character
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
MAX_RACES = 20  # times a thread is made again because other processes queued threads while it was being made


@dataclass(frozen=True)
class _Plan:
    """What the next thread would be: when, for which slot place, its quotes and number; or, for a slot place
    another process filled, the thread holding it."""

    due: datetime
    slot_at: datetime | None
    key: str | None
    quote_ids: tuple[str, ...]
    number: int
    holder: int | None = None


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
    revision: str | None = None  # what was approved
    quotes_changed: list[str] = field(default_factory=list)  # its quotes that changed in the collection since


@dataclass
class Recomposed:
    thread: ThreadRow
    changed: list[str]
    dropped: list[str]  # quotes no longer in the collection
    sent_back: bool = False  # it had been approved: it needs sign-off again


class Queue:
    """The queue of one project's store."""

    def __init__(self, files: ProjectFiles, store: Store, now: Callable[[], datetime]):
        self.files = files
        self.store = store
        self.now = now
        self.config_problem: PublisherError | None = None  # why schedule.toml cannot be read, if it cannot
        self.loaded: Schedule | None = None
        try:
            self.loaded = files.schedule()
        except PublisherError as exc:  # the queue itself (list, show, cancel, hold, status) still works
            self.config_problem = exc
        self.passed_over: list[str] = []  # quotes passed over while queueing, as messages
        self.unserved: dict[tuple[str, datetime], str] = {}  # slots whose thread a broken file kept from being made

    @property
    def schedule(self) -> Schedule:
        """schedule.toml as read; what needs it fails with the file:line problem when it cannot be read."""
        if self.loaded is None:
            assert self.config_problem is not None
            raise self.config_problem
        return self.loaded

    @schedule.setter
    def schedule(self, schedule: Schedule) -> None:
        self.loaded, self.config_problem = schedule, None

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
        if self.loaded is None:
            return self.files.fallback_zone(campaign_name)
        campaign = self.loaded.campaign(campaign_name)
        return self.loaded.zone_of(campaign) if campaign else self.loaded.zone

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
        def plan() -> _Plan:
            if now:
                return self._plan(campaign, collection, moment, None, None)
            if at is not None:
                slot_at, key = place_at(self.store, campaign, zone, at)
                return self._plan(campaign, collection, at, slot_at, key)
            slot_at, key = self._next_place(campaign, collection, zone, moment)
            return self._plan(campaign, collection, slot_at, slot_at, key)

        thread_id, planned = self._queue(campaign, collection, theme, plan)
        slot_at = planned.slot_at
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
        for key in keys:
            def plan(key: str = key) -> _Plan:
                holder = self.store.slot_holders(campaign.name).get(key)
                return _Plan(slot_at, slot_at, key, (), 0, holder) if holder is not None else \
                    self._plan(campaign, collection, slot_at, slot_at, key)

            try:
                thread_ids.append(self._queue(campaign, collection, theme, plan)[0])
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

    def _plan(self, campaign: Campaign, collection: Collection, due: datetime, slot_at: datetime | None,
              key: str | None) -> _Plan:
        """The quotes and number the campaign's next thread, due then, would have (NothingToQueue if none)."""
        batch = next_quotes(campaign, collection, quotes_used(self.store, campaign, collection), [due])
        quotes = batch[0] if batch else []
        if not quotes:
            raise self._nothing_to_queue(campaign, collection)
        return _Plan(due, slot_at, key, tuple(q.id for q in quotes), self.store.next_number(campaign.name))

    def _queue(self, campaign: Campaign, collection: Collection, theme: Theme,
               plan: Callable[[], _Plan]) -> tuple[int, _Plan]:
        """Store the thread ``plan`` says comes next (its quotes, number and slot place), its cards made first,
        outside the write lock, so the poster never waits for a renderer. Under the lock the plan is made again:
        if another process queued meanwhile it differs, and the thread is made again for the new plan. A quote
        whose card cannot be made is passed over (until it is edited), and the next one taken instead."""
        from publisher.render.batch import CardFailed

        races = 0
        while True:  # each quote passed over leaves one fewer, and races are counted: it ends
            with self.store.reading():
                planned = plan()
            if planned.holder is not None:
                return planned.holder, planned  # the place was filled by another process
            quotes = [q for q in (collection.quote(i) for i in planned.quote_ids) if q is not None]
            try:
                parts, images = self._compose(campaign, collection, theme, quotes, planned.due, planned.number)
            except CardFailed as failed:
                self._pass_over(campaign, collection, failed)
                continue
            checkpoint("queue:add:composed")
            with self.store.transaction():
                checkpoint("queue:add:locked")
                again = plan()
                if again.holder is not None:
                    return again.holder, again
                if again != planned:  # another thread was queued meanwhile: make this one again for what is left
                    races += 1
                    if races >= MAX_RACES:
                        raise StoreBusy(f"campaign {campaign.name}: other publisher processes kept queueing threads "
                                        f"while this one was made ({MAX_RACES} tries): run the command again")
                    continue
                self._refuse_repeats(campaign, parts)
                thread_id = self.store.add_thread(
                    campaign.name, planned.number, planned.due, list(planned.quote_ids),
                    {q.id: quote_digest(collection, q) for q in quotes}, parts, images, slot=planned.key,
                    state="awaiting_approval" if campaign.approval else "queued")
                self._remember(thread_id)
                return thread_id, planned

    def _pass_over(self, campaign: Campaign, collection: Collection, failed: Any) -> None:
        """A quote whose card cannot be made: skipped until it is edited, and said (output, log, status)."""
        quote = collection.quote(failed.quote_id)
        assert quote is not None
        self.store.skip_quote(campaign.name, quote.id, quote_digest(collection, quote), failed.reason)
        message = (f"campaign {campaign.name}: quote {quote.id} is passed over: {failed.reason} (publisher "
                   "validate lists such quotes; once it is edited it is used again)")
        self.store.add_event("warning", message)
        self.passed_over.append(message)

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
                self._refuse_repeats(campaign, parts, thread_id)
                self.store.replace_parts(thread_id, [q.id for q in quotes],
                                         {q.id: quote_digest(collection, q) for q in quotes}, parts, images)
                sent_back = self.store.approved(thread_id)
                if sent_back:  # whatever approval says now: the approval was for other text
                    self.store.record_signoff(thread_id, "sent_back", who, "recomposed")
                if now.state != "held":  # a held thread stays held; released, it needs sign-off if approval is on
                    self.store.transition(thread_id, "awaiting_approval" if campaign.approval else "queued",
                                          RECOMPOSABLE, "recomposed: needs sign-off again" if campaign.approval
                                          else None)
                self._remember(thread_id)
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

    # -- revisions: what an approval is for ----------------------------------------------------------------

    def manifest(self, thread_id: int) -> dict[str, Any] | None:
        """Everything of the thread that leaves the machine: per account, where it goes (the account's settings
        in schedule.toml: platform, handle, service, directory, like ...) and each part's text and cards (image
        digest, alt text, size). None while schedule.toml cannot be read."""
        if self.loaded is None:
            return None
        accounts: dict[str, Any] = {}
        for part in self.store.parts(thread_id):
            account = self.loaded.accounts.get(part.account)
            entry = accounts.setdefault(part.account, {
                "destination": account.model_dump(mode="json") if account is not None else None, "parts": []})
            entry["parts"].append({"text": part.text, "cards": [
                {key: image.get(key) for key in ("sha256", "alt", "width", "height")} for image in part.images]})
        return accounts

    def revision(self, thread_id: int) -> str | None:
        """A fingerprint of the thread's manifest: what an approval is for. None while schedule.toml cannot be
        read (where the thread would go is then unknown)."""
        manifest = self.manifest(thread_id)
        return fingerprint(manifest) if manifest is not None else None

    def _remember(self, thread_id: int) -> str | None:
        """The thread's revision, with what it stands for kept in the store (to say later what changed)."""
        manifest = self.manifest(thread_id)
        if manifest is None:
            return None
        revision = fingerprint(manifest)
        self.store.remember_revision(thread_id, revision, manifest)
        return revision

    def shown(self, thread_id: int) -> None:
        """A person is being shown the thread: keep its revision, so an approval of it can later be told what
        changed. Best effort: showing never fails for it."""
        with suppress(PublisherError):
            self._remember(thread_id)

    def stale_approval(self, thread_id: int) -> str | None:
        """Why the thread's sign-off does not cover what it would post now (never approved, sent back, or
        approved at another revision), or None when its approval stands for exactly its current revision."""
        approved = self.store.approved_revision(thread_id)
        if approved is None:
            decisions = self.store.signoffs(thread_id)
            if decisions and decisions[-1]["decision"] == "approved":
                return "it was approved before publisher kept what an approval was for"
            if decisions and decisions[-1]["decision"] == "sent_back":
                return f"it was sent back for sign-off ({decisions[-1]['reason'] or 'changed'})"
            return "nobody has approved it"
        current = self.revision(thread_id)
        if approved == current:
            return None
        return f"it changed since it was approved: {self._what_changed(thread_id, approved)}"

    def _what_changed(self, thread_id: int, revision: str) -> str:
        """How the thread differs now from an earlier revision of it, in a few words."""
        before = self.store.revision_manifest(thread_id, revision)
        now = self.manifest(thread_id)
        if before is None or now is None:
            return f"revision {revision} is not one publisher showed for this thread"
        return describe_changes(before, now) or "it was composed again with the same result"

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

    def post_due(self, platforms: dict[str, Platform], should_stop: Callable[[], bool | str] = lambda: False,
                 on_done: Callable[[ThreadOutcome], None] = lambda outcome: None) -> list[ThreadOutcome]:
        """Post every thread that is due (the caller holds the store's posting lock); ``on_done`` hears of each
        thread as it finishes. Where a campaign needs sign-off, only what was approved, at exactly its revision,
        is posted."""
        self.follow_pauses()
        enabled = frozenset(c.name for c in self.schedule.campaigns if c.enabled)
        signing = frozenset(c.name for c in self.schedule.campaigns if c.approval)
        poster = Poster(self.store, platforms, self.now, should_stop=should_stop,
                        budgets=Budgets.from_schedule(self.schedule), campaigns=enabled, needs_signoff=signing,
                        stale_approval=self.stale_approval, on_done=on_done)
        outcomes = poster.post_due()
        self.store.drop_old_cards(self.now() - parse_duration(self.schedule.defaults.keep_cards))
        return outcomes

    def refuse_missing_secrets(self, env: dict[str, str]) -> None:
        """Before anything is posted: every account of every thread due now has its credentials, or nothing is
        posted at all (never one account's half of a thread)."""
        enabled = {c.name for c in self.schedule.campaigns if c.enabled}
        due = [t for t in self.store.due_threads(self.now()) if t.campaign in enabled]
        accounts = dict.fromkeys(p.account for t in due for p in self.store.parts(t.id))
        unset = {name: [v for v in self.schedule.accounts[name].secret_variables if not secret_set(env, v)]
                 for name in accounts if name in self.schedule.accounts}
        unset = {name: variables for name, variables in unset.items() if variables}
        if unset:
            threads = ", ".join(str(t.id) for t in due if any(p.account in unset for p in self.store.parts(t.id)))
            raise MissingCredentials(
                "nothing was posted: the threads due now need the credentials of every account they post to: "
                + "; ".join(f"account {name}: {', '.join(variables)} not set" for name, variables in unset.items()),
                f"export them and run publisher post again (or publisher queue hold {threads} to post the others)")

    def follow_pauses(self) -> list[tuple[int, str]]:
        """Campaigns disabled (``enabled = false``) and then enabled again: the threads of their slots that fell
        in between, not started, are skipped (their quotes go to the next thread), and the scheduler watches the
        campaign afresh from now, so nothing is burst-posted after a pause. A pause is taken to start when
        schedule.toml was saved with it, if that is earlier than when it is first seen (a campaign disabled just
        before its slot is seen so only at the next pass). Returns the threads skipped, and why."""
        moment = self.now()
        saved = file_stamp(self.files.config_path)
        edited = datetime.fromtimestamp(saved[0] / 1e9, UTC) if saved else moment
        skipped = []
        for campaign in self.schedule.campaigns:
            if not campaign.enabled:
                self.store.seen_disabled(campaign.name, min(moment, edited))
                continue
            zone = self.schedule.zone_of(campaign)
            with self.store.transaction():
                since = self.store.seen_enabled(campaign.name, moment)
                if since is None:
                    continue
                for thread in self.store.threads(("queued", "awaiting_approval"), campaign.name):
                    if thread.slot is None or not since <= thread.due_at <= moment or any(
                            p.state != "pending" for p in self.store.parts(thread.id)):
                        continue  # only a slot's thread: one queued to post now (--now) still does
                    why = (f"it was due {when_label(thread.due_at, zone)}, while the campaign was disabled; its "
                           "quotes go to the next thread")
                    if self.store.transition(thread.id, "skipped", ("queued", "awaiting_approval"), why):
                        skipped.append((thread.id, why))
                        self.store.add_event("warning", f"campaign {campaign.name}: thread {thread.id} skipped: {why}")
        return skipped

    def waiting_because(self, thread: ThreadRow) -> str | None:
        """Why a live thread will not post although it may be due: schedule.toml cannot be read, it awaits
        sign-off, or its campaign is disabled or gone."""
        if thread.state == "awaiting_approval":
            since = self.store.changed_at(thread.id) or thread.created_at
            zone = self.zone(thread.campaign)
            why = f": {thread.reason}" if thread.reason else ""  # sent back: what changed
            return (f"waiting for sign-off since {when_label(since, zone)}{why} (publisher queue approve "
                    f'{thread.id}, or publisher queue reject {thread.id} --reason "...")')
        if thread.state not in ("queued", "posting"):
            return None
        if self.loaded is None:
            return "nothing is posted while schedule.toml cannot be read (publisher validate says what to fix)"
        campaign = self.loaded.campaign(thread.campaign)
        stale = self.stale_approval(thread.id) if campaign is not None and campaign.approval else None
        if stale is not None:
            return (f"its campaign needs sign-off and {stale}: it goes back for sign-off instead of posting "
                    f"(publisher queue show {thread.id}, then publisher queue approve {thread.id})")
        if campaign is None:
            return (f"campaign {thread.campaign} is no longer in {self.loaded.path.name}, so it waits (give the "
                    f"campaign its name back, or publisher queue cancel {thread.id})")
        if not campaign.enabled:
            return (f"campaign {thread.campaign} is disabled (enabled = false), so it waits (set enabled = true, "
                    f"or publisher queue cancel {thread.id})")
        return None

    def off_slot(self, thread: ThreadRow) -> str | None:
        """A thread queued for a future slot the campaign no longer has (its times, timezone or threads_per_slot
        changed since): it still posts at that time, beside the new slots."""
        campaign = self.loaded.campaign(thread.campaign) if self.loaded is not None else None
        if campaign is None or not campaign.enabled or thread.slot is None or thread.state not in (
                "awaiting_approval", "queued", "held", "over_budget"):
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
        for campaign in self.loaded.campaigns if self.loaded is not None else []:
            try:
                loaded[campaign.name] = self.files.collection(campaign.collection)
            except PublisherError:
                loaded[campaign.name] = None
        return loaded

    def part_view(self, part: PartRow) -> dict[str, Any]:
        """One part as people and scripts see it: where it goes, its text measured by that platform's rules,
        its cards with their alt text, and its state."""
        account = self.loaded.accounts.get(part.account) if self.loaded is not None else None
        measure = rules_for(account.rules_name).measure(part.text) if account is not None else None
        return {"account": part.account, "position": part.position, "state": part.state, "text": part.text,
                "length": measure.length if measure else None, "limit": measure.limit if measure else None,
                "unit": measure.unit if measure else None,
                "images": len(part.images), "cards": [
                    {"sha256": i.get("sha256"), "alt": i.get("alt"), "width": i.get("width"),
                     "height": i.get("height")} for i in part.images],
                "post_id": part.post_id, "url": part.url,
                "posted_at": part.posted_at.isoformat() if part.posted_at else None,
                "error": part.last_error, "fix": part.fix,
                "next_try_at": part.not_before.isoformat() if part.not_before and part.state != "posted" else None,
                "attempts": part.attempts, "cost_usd": part.cost}

    def destination(self, account_name: str) -> str | None:
        """Where an account's posts go, in words (None while schedule.toml cannot be read)."""
        if self.loaded is None:
            return None
        account = self.loaded.accounts.get(account_name)
        return account.destination if account is not None else f"nowhere: no account {account_name} in " \
            f"{self.loaded.path.name}"

    def thread_json(self, thread: ThreadRow, collection: Collection | None = None,
                    shown: bool = False) -> dict[str, Any]:
        """A thread as scripts see it (``queue show --json``, ``queue list --json``, ``status --json``).
        ``shown``: a person is looking at this one thread (its revision is kept, see ``shown``)."""
        if shown:
            self.shown(thread.id)
        zone = self.zone(thread.campaign)
        parts = self.store.parts(thread.id)
        accounts: dict[str, dict[str, Any]] = {}
        for part in parts:
            entry = accounts.setdefault(part.account, {"posted": 0, "total": 0,
                                                       "destination": self.destination(part.account)})
            entry["total"] += 1
            entry["posted"] += part.state == "posted"
        approved = self.store.approved_revision(thread.id)
        campaign = self.loaded.campaign(thread.campaign) if self.loaded is not None else None
        needs_signoff = thread.state == "awaiting_approval" or (
            thread.state in ("queued", "posting") and campaign is not None and campaign.approval
            and self.stale_approval(thread.id) is not None)
        return {
            "id": thread.id, "campaign": thread.campaign, "number": thread.number, "state": thread.state,
            "reason": thread.reason, "due_at": thread.due_at.astimezone(zone).isoformat(),
            "slot_at": slot_of(thread.slot)[0].astimezone(zone).isoformat() if thread.slot else None,
            "quote_ids": thread.quote_ids, "quotes_changed": self.changed_quotes(thread, collection),
            "waiting": self.waiting_because(thread), "off_slot": self.off_slot(thread),
            "created_at": thread.created_at.isoformat(), "accounts": accounts,
            "signoffs": self.store.signoffs(thread.id), "revision": self.revision(thread.id),
            "approved_revision": approved, "needs_signoff": needs_signoff,
            "parts": [self.part_view(p) for p in parts],
        }

    def spend(self) -> dict[str, dict[str, Any]]:
        """Each account counted as X: what it spent this calendar month, and the budgets of its campaigns."""
        if self.loaded is None:
            return {}
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
        for campaign in self.loaded.campaigns if self.loaded is not None else []:
            zone = self.schedule.zone_of(campaign)
            upcoming = next_slots(campaign, zone, now, count=3) if is_scheduled(campaign) else []
            collection = collections.get(campaign.name)
            problem = None
            if collection is None:  # said, so a broken collection is not just a missing line
                try:
                    self.files.collection(campaign.collection)
                except PublisherError as exc:
                    problem = exc.lines()
            campaigns.append({
                "campaign": campaign.name, "enabled": campaign.enabled, "timezone": str(zone),
                "catch_up": campaign.catch_up, "collection_problem": problem,
                "next_slots": [{"local": s.astimezone(zone).isoformat(), "utc": s.astimezone(UTC).isoformat()}
                               for s in upcoming],
                "run_out": self.run_out(campaign, collection).as_json() if collection else None})
        counts: dict[str, int] = {}
        for thread in self.store.threads():
            counts[thread.state] = counts.get(thread.state, 0) + 1
        return {
            "now": now.isoformat(), "daemon": lock.holder() if lock else None,
            "config_problem": self.config_problem.lines() if self.config_problem else None, "campaigns": campaigns,
            "queue": counts,
            "store": {**self.store.size(), "keep_cards": self.loaded.defaults.keep_cards if self.loaded else None},
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


def fingerprint(manifest: dict[str, Any]) -> str:
    """A revision: 16 hex digits of the SHA-256 of the manifest's canonical JSON."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def describe_changes(before: dict[str, Any], now: dict[str, Any]) -> str:
    """What differs between two manifests of a thread, as a person would say it ("local part 2's text changed")."""
    changes = []
    for account in [*before, *(a for a in now if a not in before)]:
        old, new = before.get(account), now.get(account)
        if new is None:
            changes.append(f"account {account} is no longer in it")
            continue
        if old is None:
            changes.append(f"account {account} was added")
            continue
        was, goes = old["destination"] or {}, new["destination"] or {}
        if new["destination"] is None:
            changes.append(f"account {account} is no longer in schedule.toml")
        for key in sorted({*was, *goes}):
            if was.get(key) != goes.get(key):
                changes.append(f"{account}'s {key} changed from {was.get(key)!r} to {goes.get(key)!r}")
        if len(old["parts"]) != len(new["parts"]):
            changes.append(f"{account} has {len(new['parts'])} parts, not {len(old['parts'])}")
            continue
        for position, (a, b) in enumerate(zip(old["parts"], new["parts"], strict=True), start=1):
            if a["text"] != b["text"]:
                changes.append(f"{account} part {position}'s text changed")
            if [c.get("alt") for c in a["cards"]] != [c.get("alt") for c in b["cards"]]:
                changes.append(f"{account} part {position}'s alt text changed")
            if [(c.get("sha256"), c.get("width"), c.get("height")) for c in a["cards"]] != \
                    [(c.get("sha256"), c.get("width"), c.get("height")) for c in b["cards"]]:
                changes.append(f"{account} part {position}'s card changed")
    return "; ".join(changes)
