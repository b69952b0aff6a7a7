"""Planning and making threads: which quotes, number and slot place the next thread of a campaign gets, its
texts and cards made, and storing it.

- choosing a thread's quotes, its number and its slot and inserting it are one transaction, so any number of
  ``queue add`` processes and the daemon never queue one quote twice;
- a thread is queued for a *slot place* (``threads_per_slot`` places per slot instant), the same key the daemon
  fills, so a thread queued by hand for the next slot is the one the daemon posts there;
- its cards are made outside the write lock (the poster never waits for a renderer), and the plan made again
  under it: if another process queued meanwhile, the thread is made again for what is left;
- a campaign's threads are numbered in the order they go out: a thread due before others not started yet takes
  the first of their numbers and they move up one, each keeping its time, in the transaction that stores it; a
  renumbered thread whose text says its number (``{thread_number}``) is made again.

A queued thread is self-contained (texts, card PNGs, alt text, cost), so posting needs neither the collection nor
the renderer, and what was queued is exactly what is posted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from publisher.compose import next_quotes, remaining_quotes
from publisher.config import Campaign
from publisher.errors import (
    BadArgument,
    ConfigError,
    NothingToQueue,
    Problem,
    PublisherError,
    StoreBusy,
    display_path,
)
from publisher.faults import checkpoint
from publisher.outlook import (
    RunOut,
    free_places,
    has_slots,
    in_number_order,
    place_at,
    quote_digest,
    quotes_used,
    scores_for,
    unstarted,
)
from publisher.queue_composing import Remade, ThreadComposing, says
from publisher.quotes import Collection
from publisher.slots import slot_key, slot_of, when_label
from publisher.store import USES_QUOTES, PartRow, ThreadRow
from publisher.themes import Theme

MAX_SLOTS_AHEAD = 1000  # how far an evergreen campaign looks for a slot with a quote out of its cooldown
MAX_RACES = 20  # times a thread is made again because other processes queued threads while it was being made
RENUMBERED_WHY = "recomposed for its new number"  # why a renumbered thread was made again, as recorded


@dataclass(frozen=True)
class _Renumber:
    """A thread not started yet, due after a new one, that takes the next number up so that the campaign's threads
    are numbered in the order they go out; its quotes too, so a plan is made again if it was recomposed meanwhile."""

    thread_id: int
    number: int
    quote_ids: tuple[str, ...]
    due: datetime
    to_number: int


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
    renumbered: tuple[_Renumber, ...] = ()


@dataclass
class Renumbered:
    """A thread not started yet that took the next number up when a thread due before it was queued."""

    thread: ThreadRow  # as it is now
    was_number: int
    recomposed: bool = False  # its text says its number: made again
    sent_back: bool = False  # it had been approved for the text with the old number: it needs sign-off again
    not_recomposed: str | None = None  # why its text still says its old number


@dataclass
class Added:
    thread: ThreadRow
    parts: list[PartRow]
    slot_at: datetime | None  # the slot it fills; None for --now, or an --at time off the campaign's slots
    last: bool  # every quote of the campaign is now queued
    unset: dict[str, list[str]] = field(default_factory=dict)  # its accounts' secret variables not set yet
    passed_over: list[str] = field(default_factory=list)  # quotes whose card could not be made, why
    renumbered: list[Renumbered] = field(default_factory=list)  # threads due after it, which took the next numbers


class ThreadMaking(ThreadComposing):
    """Queueing threads: by hand (``add``) and for the slots the daemon reaches (``Queue`` is one)."""

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
        collection = self._postable(campaign, self.files.collection(campaign.collection))
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
                return self._plan(campaign, collection, moment, None)
            if at is not None:
                _, key = place_at(self.store, campaign, zone, at)
                return self._plan(campaign, collection, at, key)
            slot_at, key = self._next_place(campaign, collection, zone, moment)
            return self._plan(campaign, collection, slot_at, key)

        thread_id, planned, renumbered = self._queue(campaign, collection, theme, plan)
        slot_at = planned.slot_at
        last = not self._more_to_queue(campaign, collection)
        thread = self.store.thread(thread_id)
        assert thread is not None
        unset = {name: variables for name, variables in self.schedule.unset_secrets(dict(os.environ)).items()
                 if name in campaign.accounts}
        return Added(thread, self.store.parts(thread_id), slot_at, last, unset, list(self.passed_over), renumbered)

    def _next_place(self, campaign: Campaign, collection: Collection, zone: ZoneInfo,
                    moment: datetime) -> tuple[datetime, str]:
        """The next free slot place; for an evergreen campaign, the next one with a quote ready by then."""
        used = quotes_used(self.store, campaign, collection)
        scores = scores_for(self.store, campaign)
        for slot_at, key in islice(free_places(self.store, campaign, zone, moment), MAX_SLOTS_AHEAD):
            if not campaign.repeats or next_quotes(campaign, collection, used, [slot_at], scores)[0]:
                return slot_at, key
        if campaign.repeats and has_slots(campaign) and next(free_places(
                self.store, campaign, zone, moment), None) is not None:
            raise self.nothing_to_queue(campaign, collection)
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
        collection = self._postable(campaign, self.files.collection(campaign.collection))
        theme = self.files.theme_for(campaign, collection)
        check_text_shaping()
        thread_ids: list[int] = []
        errors: list[PublisherError] = []
        for key in keys:
            def plan(key: str = key) -> _Plan:
                holder = self.store.slot_holders(campaign.name).get(key)
                return _Plan(slot_at, slot_at, key, (), 0, holder) if holder is not None else \
                    self._plan(campaign, collection, slot_at, key)

            try:
                thread_id, _, renumbered = self._queue(campaign, collection, theme, plan)
            except NothingToQueue as exc:
                if not thread_ids:
                    errors.append(exc)
                break
            except PublisherError as exc:
                errors.append(exc)
                continue
            thread_ids.append(thread_id)
            self._log_renumbered(campaign, thread_id, renumbered)
        if not thread_ids and errors:
            raise errors[0]
        return thread_ids, errors

    def _log_renumbered(self, campaign: Campaign, thread_id: int, renumbered: list[Renumbered]) -> None:
        """The daemon's renumbering, kept as events (a person queueing by hand is told by the command)."""
        for move in renumbered:
            thread = move.thread
            redone = (" (its text says its number: made again" +
                      (", and it needs sign-off again)" if move.sent_back else ")") if move.recomposed else
                      f" (its text still says #{move.was_number}: {move.not_recomposed})" if move.not_recomposed
                      else "")
            self.store.add_event(
                "warning" if move.sent_back or move.not_recomposed else "info",
                f"campaign {campaign.name}: thread {thread.id} is now #{thread.number}, not #{move.was_number}: "
                f"thread {thread_id}, queued for a slot, goes out before it{redone}")

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

    def _plan(self, campaign: Campaign, collection: Collection, due: datetime, key: str | None) -> _Plan:
        """The quotes and number the campaign's next thread, due then, would have (NothingToQueue if none): its
        number the first of those of the threads not started yet that are due after it (``_in_number_order``)."""
        number, renumbered = self._in_number_order(campaign, due)
        slot_at = slot_of(key)[0] if key is not None else None
        batch = next_quotes(campaign, collection, quotes_used(self.store, campaign, collection), [due],
                            scores_for(self.store, campaign))
        quotes = batch[0] if batch else []
        if not quotes:
            raise self.nothing_to_queue(campaign, collection)
        return _Plan(due, slot_at, key, tuple(q.id for q in quotes), number, renumbered=renumbered)

    def _in_number_order(self, campaign: Campaign, due: datetime) -> tuple[int, tuple[_Renumber, ...]]:
        """The new thread's number and the renumbering of the threads not started yet due after it
        (``outlook.in_number_order``): each keeps its time, as one a person set (--at, --now) must."""
        (number,), changed = in_number_order(self.store, campaign.name, [due], self.now())
        threads = {t.id: t for t in unstarted(self.store, campaign.name)}
        return number, tuple(_Renumber(i, threads[i].number, tuple(threads[i].quote_ids), threads[i].due_at, n)
                             for i, n in sorted(changed.items()))

    def _queue(self, campaign: Campaign, collection: Collection, theme: Theme,
               plan: Callable[[], _Plan]) -> tuple[int, _Plan, list[Renumbered]]:
        """Store the thread ``plan`` says comes next (its quotes, number and slot place), its cards made first,
        outside the write lock, so the poster never waits for a renderer. Under the lock the plan is made again:
        if another process queued meanwhile it differs, and the thread is made again for the new plan. A quote
        whose card cannot be made is passed over (until it is edited), and the next one taken instead. The
        threads due after it take the next numbers up in the same transaction (those whose text says their number
        made again, outside the lock too); returns them as renumbered."""
        from publisher.render.batch import CardFailed

        races = 0
        while True:  # each quote passed over leaves one fewer, and races are counted: it ends
            with self.store.reading():
                planned = plan()
            if planned.holder is not None:
                return planned.holder, planned, []  # the place was filled by another process
            quotes = [q for q in (collection.quote(i) for i in planned.quote_ids) if q is not None]
            try:
                parts, images = self._compose(campaign, collection, theme, quotes, planned.due, planned.number)
            except CardFailed as failed:
                self._pass_over(campaign, collection, failed)
                continue
            remade = {move.thread_id: self._remade_for_number(campaign, collection, theme, move)
                      for move in planned.renumbered if says(campaign, "thread_number")}
            checkpoint("queue:add:composed")
            with self.store.transaction():
                checkpoint("queue:add:locked")
                again = plan()
                if again.holder is not None:
                    return again.holder, again, []
                if again != planned:  # another thread was queued meanwhile: make this one again for what is left
                    races += 1
                    if races >= MAX_RACES:
                        raise StoreBusy(f"campaign {campaign.name}: other publisher processes kept queueing threads "
                                        f"while this one was made ({MAX_RACES} tries): run the command again")
                    continue
                renumbered = self._renumber(campaign, collection, planned.renumbered, remade)
                self._refuse_repeats(campaign, parts)
                thread_id = self.store.add_thread(
                    campaign.name, planned.number, planned.due, list(planned.quote_ids),
                    {q.id: quote_digest(collection, q) for q in quotes}, parts, images, slot=planned.key,
                    state="awaiting_approval" if campaign.approval else "queued",
                    language=collection.collection.language)
                self._remember(thread_id)
            return thread_id, planned, renumbered

    def _thread_now(self, thread_id: int) -> ThreadRow:
        thread = self.store.thread(thread_id)
        assert thread is not None
        return thread

    def _remade_for_number(self, campaign: Campaign, collection: Collection, theme: Theme,
                           move: _Renumber) -> Remade:
        """A renumbered thread's parts made again for its new number, as ``recompose`` makes them; or why they
        cannot be (it then keeps its text: renumbering never stops a thread being queued)."""
        from publisher.render.batch import CardFailed

        quotes = [q for q in (collection.quote(i) for i in move.quote_ids) if q is not None]
        if not quotes:
            return Remade(quotes, failed=f"none of its quotes is in {collection.name}.toml any more")
        try:
            parts, images = self._compose(campaign, collection, theme, quotes, move.due, move.to_number)
        except CardFailed as failed:
            return Remade(quotes, failed=f"quote {failed.quote_id}: {failed.reason}")
        except PublisherError as exc:
            return Remade(quotes, failed="; ".join(exc.lines()))
        return Remade(quotes, parts, images)

    def _renumber(self, campaign: Campaign, collection: Collection, renumbered: tuple[_Renumber, ...],
                  remade: dict[int, Remade]) -> list[Renumbered]:
        """Under the write lock: the new numbers, and the threads whose text says their number made again. Each
        keeps its sign-off but one whose text changed, which is sent back as ``recompose`` does."""
        self.store.renumber_threads([(move.thread_id, move.to_number) for move in renumbered])
        done = []
        for move in renumbered:
            made = remade.get(move.thread_id)
            recomposed, sent_back = made is not None and made.failed is None, False
            if made is not None and made.failed is None:
                sent_back = self._store_remade(campaign, collection, move.thread_id, made, "publisher",
                                               RENUMBERED_WHY)
            done.append(Renumbered(self._thread_now(move.thread_id), move.number, recomposed, sent_back,
                                   made.failed if made is not None else None))
        return done

    def _pass_over(self, campaign: Campaign, collection: Collection, failed: Any) -> None:
        """A quote whose card cannot be made: skipped until it is edited, and said (output, log, status)."""
        quote = collection.quote(failed.quote_id)
        assert quote is not None
        self.store.skip_quote(campaign.name, quote.id, quote_digest(collection, quote), failed.reason)
        message = (f"campaign {campaign.name}: quote {quote.id} is passed over: {failed.reason} (publisher "
                   "validate lists such quotes; once it is edited it is used again)")
        self.store.add_event("warning", message)
        self.passed_over.append(message)

    def _postable(self, campaign: Campaign, collection: Collection) -> Collection:
        """The quotes the campaign may post: with require_verified, those verified in their source (each left out
        is said once, as a warning)."""
        from publisher.verification import verified_only

        if collection.quotes and not collection.without_drafts().quotes:
            raise NothingToQueue(f"campaign {campaign.name}: every quote of {collection.name} is a draft (draft = "
                                 "true): review each one, then delete its draft line")
        kept, left_out = verified_only(self.files, campaign, collection.without_drafts(), self.store)
        for line in left_out:  # said with the outcome (queue add's warnings, the daemon's log); not stored
            self.passed_over.append(f"campaign {campaign.name}: {line}: not queued (require_verified; publisher "
                                    "verify says why)")
        return kept

    def nothing_to_preview(self, campaign: Campaign, collection: Collection, run_out: RunOut) -> NothingToQueue:
        """Why a preview of the campaign would show no thread, with the fix."""
        if campaign.repeats or run_out.threads_left == 0:
            return self.nothing_to_queue(campaign, collection)
        return NothingToQueue(f"campaign {campaign.name}: no thread to preview: {run_out} (add slots = or once = "
                              "times to it in schedule.toml, or publisher queue add --now posts one by hand)")

    def nothing_to_queue(self, campaign: Campaign, collection: Collection) -> NothingToQueue:
        zone = self.schedule.zone_of(campaign)
        used = quotes_used(self.store, campaign, collection)
        if campaign.repeats:
            last_use: dict[str, datetime] = {}
            for quote_id, when in used:
                last_use[quote_id] = max(when, last_use.get(quote_id, when))
            free = min(last_use.values(), default=self.now()) + timedelta(days=campaign.cooldown_days)
            return NothingToQueue(f"campaign {campaign.name}: every quote has been used in the last "
                                  f"{campaign.cooldown_days} days (cooldown_days); the first is free again "
                                  f"{when_label(free, zone)}")
        last = max(self.store.threads(USES_QUOTES, campaign.name), key=lambda t: (t.due_at, t.id), default=None)
        latest = f"; the last is thread {last.id}, due {when_label(last.due_at, zone)}" if last else ""
        every = "its one quote" if len(collection.quotes) == 1 else f"all {len(collection.quotes)} quotes"
        return NothingToQueue(f"campaign {campaign.name} has run out: {every} of {collection.name} have been used "
                              f"(queued, posted or cancelled){latest}; add quotes to "
                              f"{display_path(self.files.collection_path(collection.name))}, or set order = "
                              '"evergreen" on the campaign in schedule.toml to repeat them')

    def _more_to_queue(self, campaign: Campaign, collection: Collection) -> bool:
        return campaign.repeats or bool(
            remaining_quotes(campaign, collection, quotes_used(self.store, campaign, collection)))

def _within_dates(campaign: Campaign, zone: ZoneInfo, due: datetime, option: str) -> None:
    """A thread given a time by hand still keeps to the campaign's start and end dates."""
    day = due.astimezone(zone).date()
    if campaign.start and day < campaign.start:
        raise BadArgument(f"campaign {campaign.name} starts on {campaign.start} (start in schedule.toml): give "
                          f"{'a time from then' if option == '--at' else '--at a time from then'}, or change start")
    if campaign.end and day > campaign.end:
        raise BadArgument(f"campaign {campaign.name} ended on {campaign.end} (end in schedule.toml): change end "
                          "to post more")
