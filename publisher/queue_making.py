"""Planning and making threads: which quotes, number and slot place the next thread of a campaign gets, its
texts and cards made, and storing it.

- choosing a thread's quotes, its number and its slot and inserting it are one transaction, so any number of
  ``queue add`` processes and the daemon never queue one quote twice;
- a thread is queued for a *slot place* (``threads_per_slot`` places per slot instant), the same key the daemon
  fills, so a thread queued by hand for the next slot is the one the daemon posts there;
- its cards are made outside the write lock (the poster never waits for a renderer), and the plan made again
  under it: if another process queued meanwhile, the thread is made again for what is left;
- a campaign's threads go out in their number order: the threads not started yet take their due times (and slot
  places) in number order, the new one (numbered last) the latest, in the transaction that stores it; a thread
  whose text says its date (``{date}``) is made again for its new one.

A queued thread is self-contained (texts, card PNGs, alt text, cost), so posting needs neither the collection nor
the renderer, and what was queued is exactly what is posted.
"""

from __future__ import annotations

import hashlib
import os
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from publisher.compose import compose_thread, next_quotes, remaining_quotes
from publisher.config import Campaign
from publisher.errors import BadArgument, ConfigError, NothingToQueue, Problem, PublisherError, StoreBusy
from publisher.faults import checkpoint
from publisher.outlook import RunOut, free_places, has_slots, place_at, quote_digest, quotes_used, scores_for
from publisher.platforms import counted_as, learn, rules_of
from publisher.queue_revisions import Revisions
from publisher.quotes import Collection, Quote
from publisher.slots import date_label, slot_key, slot_of, when_label
from publisher.store import SENT, USES_QUOTES, NewPart, PartRow, ThreadRow
from publisher.text import trim_alt
from publisher.themes import Theme

MAX_SLOTS_AHEAD = 1000  # how far an evergreen campaign looks for a slot with a quote out of its cooldown
MAX_RACES = 20  # times a thread is made again because other processes queued threads while it was being made
RECOMPOSABLE = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")
WAITING = ("queued", "awaiting_approval")  # with no part sent: a thread that takes its turn in number order
MOVED_WHY = "recomposed for its new date"  # why a thread moved to another day was made again, as recorded


@dataclass(frozen=True)
class _Move:
    """A thread not started yet that takes another due time (and slot place) so that the campaign's threads go
    out in their number order; its quotes too, so a plan is made again if it was recomposed meanwhile."""

    thread_id: int
    number: int
    quote_ids: tuple[str, ...]
    due: datetime
    slot: str | None
    to_due: datetime
    to_slot: str | None


@dataclass
class Remade:
    """A thread's parts made again from the current collection (``recompose``, or a move to another date), or
    why they could not be."""

    quotes: list[Quote]
    parts: dict[str, list[NewPart]] = field(default_factory=dict)
    images: dict[str, tuple[bytes, int, int]] = field(default_factory=dict)
    failed: str | None = None


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
    moves: tuple[_Move, ...] = ()


@dataclass
class Moved:
    """A thread not started yet that took another due time (and slot place) when a thread was queued after it."""

    thread: ThreadRow  # as it is now
    was_due: datetime
    was_slot: bool  # it was due at a slot place
    recomposed: bool = False  # its text says its date: made again for its new one
    sent_back: bool = False  # it had been approved for the text with the old date: it needs sign-off again
    not_recomposed: str | None = None  # why its text still says its old date


@dataclass
class Added:
    thread: ThreadRow
    parts: list[PartRow]
    slot_at: datetime | None  # the slot it fills; None for --now, or an --at time off the campaign's slots
    last: bool  # every quote of the campaign is now queued
    unset: dict[str, list[str]] = field(default_factory=dict)  # its accounts' secret variables not set yet
    passed_over: list[str] = field(default_factory=list)  # quotes whose card could not be made, why
    moved: list[Moved] = field(default_factory=list)  # threads that go before it and took earlier times


class ThreadMaking(Revisions):
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

        thread_id, planned, moved = self._queue(campaign, collection, theme, plan)
        slot_at = planned.slot_at
        last = not self._more_to_queue(campaign, collection)
        thread = self.store.thread(thread_id)
        assert thread is not None
        unset = {name: variables for name, variables in self.schedule.unset_secrets(dict(os.environ)).items()
                 if name in campaign.accounts}
        return Added(thread, self.store.parts(thread_id), slot_at, last, unset, list(self.passed_over), moved)

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
                thread_id, _, moved = self._queue(campaign, collection, theme, plan)
            except NothingToQueue as exc:
                if not thread_ids:
                    errors.append(exc)
                break
            except PublisherError as exc:
                errors.append(exc)
                continue
            # the place's thread: the new one, or one queued earlier that goes before it and took the place
            thread_ids.append(next((m.thread.id for m in moved if m.thread.slot == key), thread_id))
            self._log_moves(campaign, thread_id, moved)
        if not thread_ids and errors:
            raise errors[0]
        return thread_ids, errors

    def _log_moves(self, campaign: Campaign, thread_id: int, moved: list[Moved]) -> None:
        """The daemon's moves, kept as events (a person queueing by hand is told by the command)."""
        zone = self.schedule.zone_of(campaign)
        for move in moved:
            thread = move.thread
            redone = (" (its text says its date: made again for the new one" +
                      (", and it needs sign-off again)" if move.sent_back else ")") if move.recomposed else
                      f" (its text still says its old date: {move.not_recomposed})" if move.not_recomposed else "")
            self.store.add_event(
                "warning" if move.sent_back or move.not_recomposed else "info",
                f"campaign {campaign.name}: thread {thread.id} (#{thread.number}) is now due "
                f"{when_label(thread.due_at, zone)}, not {when_label(move.was_due, zone)}: it goes before thread "
                f"{thread_id}, queued for a slot, as a campaign's threads go out in their number order{redone}")

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
        """The quotes and number the campaign's next thread, asked for then, would have (NothingToQueue if none),
        and where it goes: the latest of the times of the threads not started yet, which take the others in
        their number order (``_in_number_order``)."""
        due, key, moves = self._in_number_order(campaign, due, key)
        slot_at = slot_of(key)[0] if key is not None else None
        batch = next_quotes(campaign, collection, quotes_used(self.store, campaign, collection), [due],
                            scores_for(self.store, campaign))
        quotes = batch[0] if batch else []
        if not quotes:
            raise self.nothing_to_queue(campaign, collection)
        return _Plan(due, slot_at, key, tuple(q.id for q in quotes), self.store.next_number(campaign.name),
                     moves=moves)

    def _in_number_order(self, campaign: Campaign, due: datetime,
                         key: str | None) -> tuple[datetime, str | None, tuple[_Move, ...]]:
        """A campaign's threads go out in their number order: the due times (and slot places) of its threads not
        started yet and the new thread's, sorted, go to the threads sorted by number. The new thread, numbered
        after every one of them, takes the latest; returns its time and place, and the others' moves."""
        waiting = sorted((t for t in self.store.threads(WAITING, campaign.name)
                          if not any(p.state in SENT for p in self.store.parts(t.id))),
                         key=lambda t: (t.number, t.id))
        places = sorted([(t.due_at, t.slot) for t in waiting] + [(due, key)],
                        key=lambda place: (place[0], place[1] or ""))
        moves = tuple(_Move(t.id, t.number, tuple(t.quote_ids), t.due_at, t.slot, *place)
                      for t, place in zip(waiting, places, strict=False) if (t.due_at, t.slot) != place)
        return *places[-1], moves

    def _queue(self, campaign: Campaign, collection: Collection, theme: Theme,
               plan: Callable[[], _Plan]) -> tuple[int, _Plan, list[Moved]]:
        """Store the thread ``plan`` says comes next (its quotes, number and slot place), its cards made first,
        outside the write lock, so the poster never waits for a renderer. Under the lock the plan is made again:
        if another process queued meanwhile it differs, and the thread is made again for the new plan. A quote
        whose card cannot be made is passed over (until it is edited), and the next one taken instead. The
        threads that go before it take their turns in the same transaction (those whose text says their date
        made again, outside the lock too); returns them as moved."""
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
            remade = {move.thread_id: self._remade_for_move(campaign, collection, theme, move)
                      for move in planned.moves if self._redated(campaign, move)}
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
                moved = self._take_turns(campaign, collection, planned.moves, remade)
                self._refuse_repeats(campaign, parts)
                thread_id = self.store.add_thread(
                    campaign.name, planned.number, planned.due, list(planned.quote_ids),
                    {q.id: quote_digest(collection, q) for q in quotes}, parts, images, slot=planned.key,
                    state="awaiting_approval" if campaign.approval else "queued",
                    language=collection.collection.language)
                self._remember(thread_id)
            return thread_id, planned, moved

    def _thread_now(self, thread_id: int) -> ThreadRow:
        thread = self.store.thread(thread_id)
        assert thread is not None
        return thread

    def _redated(self, campaign: Campaign, move: _Move) -> bool:
        """Whether the move changes what the thread's text says: its date ({date}), if it says it."""
        zone = self.schedule.zone_of(campaign)
        return _says_its_date(campaign) and date_label(move.due, zone) != date_label(move.to_due, zone)

    def _remade_for_move(self, campaign: Campaign, collection: Collection, theme: Theme, move: _Move) -> Remade:
        """A moved thread's parts made again for its new date, as ``recompose`` makes them; or why they cannot be
        (it then keeps its text: moving it never stops a thread being queued)."""
        from publisher.render.batch import CardFailed

        quotes = [q for q in (collection.quote(i) for i in move.quote_ids) if q is not None]
        if not quotes:
            return Remade(quotes, failed=f"none of its quotes is in {collection.name}.toml any more")
        try:
            parts, images = self._compose(campaign, collection, theme, quotes, move.to_due, move.number)
        except CardFailed as failed:
            return Remade(quotes, failed=f"quote {failed.quote_id}: {failed.reason}")
        except PublisherError as exc:
            return Remade(quotes, failed="; ".join(exc.lines()))
        return Remade(quotes, parts, images)

    def _take_turns(self, campaign: Campaign, collection: Collection, moves: tuple[_Move, ...],
                    remade: dict[int, Remade]) -> list[Moved]:
        """Under the write lock: the moves, and the moved threads whose text says their date made again for the
        new one. Each keeps its sign-off but one whose text changed, which is sent back as ``recompose`` does."""
        self.store.move_threads([(move.thread_id, move.to_due, move.to_slot) for move in moves])
        moved = []
        for move in moves:
            made = remade.get(move.thread_id)
            recomposed, sent_back = made is not None and made.failed is None, False
            if made is not None and made.failed is None:
                sent_back = self._store_remade(campaign, collection, move.thread_id, made, "publisher", MOVED_WHY)
            moved.append(Moved(self._thread_now(move.thread_id), move.due, move.slot is not None, recomposed,
                               sent_back, made.failed if made is not None else None))
        return moved

    def _store_remade(self, campaign: Campaign, collection: Collection, thread_id: int, made: Remade, who: str,
                      why: str) -> bool:
        """Under the write lock, the thread checked unchanged since it was made again: store its new parts. An
        approved thread is sent back for sign-off (the approval was for other text), a held one stays held.
        Returns whether it was sent back."""
        self._refuse_repeats(campaign, made.parts, thread_id)
        self.store.replace_parts(thread_id, [q.id for q in made.quotes],
                                 {q.id: quote_digest(collection, q) for q in made.quotes}, made.parts, made.images)
        sent_back = self.store.approved(thread_id)
        if sent_back:  # whatever approval says now: the approval was for other text
            self.store.record_signoff(thread_id, "sent_back", who, why)
        if self.store.thread_state(thread_id) != "held":  # a held thread stays held; released, it needs sign-off
            # if approval is on
            self.store.transition(thread_id, "awaiting_approval" if campaign.approval else "queued", RECOMPOSABLE,
                                  f"{why}: needs sign-off again" if campaign.approval else None)
        self._remember(thread_id)
        return sent_back

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
        latest = f" (the last is thread {last.id}, due {when_label(last.due_at, zone)})" if last else ""
        return NothingToQueue(f"campaign {campaign.name} has run out: all {len(collection.quotes)} quotes of "
                              f"{collection.name} have been used (queued, posted or cancelled){latest}; add quotes "
                              f'to {collection.name}.toml, or set order = "evergreen" to repeat them')

    def _more_to_queue(self, campaign: Campaign, collection: Collection) -> bool:
        return campaign.repeats or bool(
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
            if self.asks_servers:
                learn(account, self.store, timeout=5.0)
            rules = rules_of(account, self.store)
            pricing = counted_as(account)
            thread = compose_thread(campaign, collection, quotes, name, rules, theme.name, date=date,
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
                cost = pricing.cost(part.text, len(part_images)) if pricing.costs_money else None
                account_parts.append(NewPart(part.text, part_images, cost))
            parts[name] = account_parts
        if problems:
            raise ConfigError([Problem(self.schedule.path, f"campaign {campaign.name} cannot be queued: {p}")
                               for p in problems])
        return parts, images

    def _refuse_repeats(self, campaign: Campaign, parts: dict[str, list[NewPart]],
                        thread_id: int | None = None) -> None:
        """Some platforms (X) refuse a post identical to an earlier one: never queue one."""
        for account in sorted(parts):
            platform = counted_as(self.schedule.accounts[account])
            if not platform.refuses_repeats:
                continue
            earlier = self.store.live_texts(account)
            for position, part in enumerate(parts[account], start=1):
                other = earlier.get(part.text)
                if other is not None and other != thread_id:
                    raise ConfigError([Problem(
                        self.schedule.path,
                        f"campaign {campaign.name}: {account} part {position} would be the same text as a post of "
                        f"thread {other}, and {platform.label} refuses a repeated post as duplicate content",
                        fix="put {thread_number} in the campaign's intro, outro or caption, whichever repeats "
                            "({date} alone repeats for two threads on one day)")])


def _says_its_date(campaign: Campaign) -> bool:
    """Whether the campaign's threads say their date: {date} in its intro, outro or caption."""
    templates = [template for template in (campaign.intro, campaign.outro, campaign.caption) if template]
    return any(name == "date" for template in templates for _, name, _, _ in string.Formatter().parse(template))


def _within_dates(campaign: Campaign, zone: ZoneInfo, due: datetime, option: str) -> None:
    """A thread given a time by hand still keeps to the campaign's start and end dates."""
    day = due.astimezone(zone).date()
    if campaign.start and day < campaign.start:
        raise BadArgument(f"campaign {campaign.name} starts on {campaign.start} (start in schedule.toml): give "
                          f"{'a time from then' if option == '--at' else '--at a time from then'}, or change start")
    if campaign.end and day > campaign.end:
        raise BadArgument(f"campaign {campaign.name} ended on {campaign.end} (end in schedule.toml): change end "
                          "to post more")
