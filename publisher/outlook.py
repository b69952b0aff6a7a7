"""What comes next for a campaign: its free slot places, the threads it would queue next, and when it runs out.

Read from the store and the schedule, never written: the queue service (``queue.Queue``) uses it to choose a new
thread's slot, and the preview, ``status`` and ``validate`` to say what is coming.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from publisher.compose import next_quotes, remaining_quotes
from publisher.config import Campaign, Schedule
from publisher.errors import BadArgument
from publisher.quotes import Collection, Quote
from publisher.slots import iter_slots, slot_key, when_label
from publisher.store import USES_QUOTES, Store, ThreadRow
from publisher.text import counted, normalise_for_dedupe


def quote_digest(collection: Collection, quote: Quote) -> str:
    """A fingerprint of a quote as posted: of everything that goes into its posts and card, then of its text
    alone (``content.text``), so an edit is noticed and the same words under a new id are known again."""
    content = {"text": quote.text, "highlight": quote.highlight, "hashtags": collection.hashtags_for(quote),
               "mentions": [*collection.collection.mentions, *quote.mentions], "alt": quote.alt,
               "attribution": collection.attribution_for(quote), "title": collection.collection.title}
    whole = hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
    words = hashlib.sha256(normalise_for_dedupe(quote.text).encode()).hexdigest()[:16]
    return f"{whole}.{words}"


def quotes_used(store: Store, campaign: Campaign, collection: Collection) -> list[tuple[str, datetime]]:
    """Every (quote id, when) the campaign has used, counting a quote whose id was changed since as used too:
    the words matter, not the id."""
    digests = {q.id: quote_digest(collection, q) for q in collection.quotes}
    by_words = {digest.split(".")[-1]: quote_id for quote_id, digest in digests.items()}
    used = []
    for quote_id, when, digest in store.used_quotes(campaign.name):
        used.append((quote_id, when))
        same = by_words.get(digest.split(".")[-1]) if digest and "." in digest else None
        if same is not None and same != quote_id:
            used.append((same, when))
    # a quote passed over because its card could not be made counts as used until it is edited
    used += [(quote_id, when) for quote_id, digest, when in store.skipped_quotes(campaign.name)
             if digests.get(quote_id) == digest]
    return used


def has_slots(campaign: Campaign) -> bool:
    return bool(campaign.slots or campaign.cron or campaign.once)


def free_places(store: Store, campaign: Campaign, zone: ZoneInfo, after: datetime) -> Iterator[tuple[datetime, str]]:
    """The campaign's slot places after ``after`` that no live thread holds, in order: (slot instant, key)."""
    holders = store.slot_holders(campaign.name)
    for slot_at in iter_slots(campaign, zone, after):
        for place in range(1, campaign.threads_per_slot + 1):
            key = slot_key(slot_at, place)
            if key not in holders:
                yield slot_at, key


def place_at(store: Store, campaign: Campaign, zone: ZoneInfo, at: datetime) -> tuple[datetime | None, str | None]:
    """The free place of the slot at exactly ``at``, if ``at`` is one of the campaign's slots; a full slot is
    refused."""
    if next(iter_slots(campaign, zone, at - timedelta(microseconds=1)), None) != at:
        return None, None
    holders = store.slot_holders(campaign.name)
    for place in range(1, campaign.threads_per_slot + 1):
        if slot_key(at, place) not in holders:
            return at, slot_key(at, place)
    held = ", ".join(str(holders[slot_key(at, p)]) for p in range(1, campaign.threads_per_slot + 1))
    raise BadArgument(f"the slot {when_label(at, zone)} of campaign {campaign.name} already has thread {held}: "
                      "give another time, or leave out --at to take the next free slot")


@dataclass
class Upcoming:
    """A thread the campaign would queue next: its number, when, and its quotes."""

    number: int
    due: datetime
    slot_at: datetime | None
    quotes: list[Quote]
    repeats: dict[str, datetime]  # evergreen: quote id -> when it was last used


WAITING = ("queued", "awaiting_approval")  # with no part sent: a thread whose number may still change


def unstarted(store: Store, campaign: str) -> list[ThreadRow]:
    """The campaign's threads whose numbers may still change: waiting, nothing of them sent."""
    return [t for t in store.threads(WAITING, campaign) if not store.started(t.id)]


def in_number_order(store: Store, campaign: str, dues: list[datetime],
                    now: datetime) -> tuple[list[int], dict[int, int]]:
    """A campaign's threads are numbered in the order they go out: the numbers of its threads not started yet,
    and the next ones, go to them and to new threads due at ``dues`` in the order of their times (a new one after
    any due at the same moment; every time already past counts as now, so threads due already keep the order they
    were queued in). Returns the new threads' numbers, and the waiting threads' that change (thread id -> number)."""
    waiting = unstarted(store, campaign)
    first_new = store.next_number(campaign)
    numbers = sorted([t.number for t in waiting] + [first_new + i for i in range(len(dues))])
    in_order = sorted([(max(t.due_at, now), 0, t.number, t.id) for t in waiting]
                      + [(max(due, now), 1, index, -1) for index, due in enumerate(dues)])
    new_numbers = [0] * len(dues)
    changed = {}
    for number, (_, new, index_or_number, thread_id) in zip(numbers, in_order, strict=True):
        if new:
            new_numbers[index_or_number] = number
        elif index_or_number != number:
            changed[thread_id] = number
    return new_numbers, changed


def upcoming(store: Store, schedule: Schedule, campaign: Campaign, collection: Collection, now: datetime,
             count: int) -> tuple[list[Upcoming], list[datetime]]:
    """The next ``count`` threads the campaign would queue (none of their quotes queued or posted yet), at the
    free slot places they would take (due now for a campaign without slots); fewer when it runs out. Also the
    slots passed over on the way because no quote was out of its cooldown (evergreen)."""
    if has_slots(campaign):
        places: Iterator[datetime | None] = (slot for slot, _ in islice(
            free_places(store, campaign, schedule.zone_of(campaign), now), count * 20))
    else:
        places = iter([None] * count)
    used = quotes_used(store, campaign, collection)
    out: list[Upcoming] = []
    empty: list[datetime] = []
    for place in places:
        if len(out) == count:
            break
        due = place or now
        quotes = next_quotes(campaign, collection, used, [due], scores_for(store, campaign))
        if not quotes:
            break  # sequential or shuffle: every quote is used
        if not quotes[0]:
            empty += [due] if place else []
            continue  # an evergreen slot with every quote in its cooldown posts nothing
        last_use = {quote_id: when for quote_id, when in used}  # in time order: the latest use wins
        out.append(Upcoming(0, due, place, quotes[0], {q.id: last_use[q.id] for q in quotes[0] if q.id in last_use}))
        used += [(q.id, due) for q in quotes[0]]
    numbers, _ = in_number_order(store, campaign.name, [u.due for u in out], now)  # as queueing them would number
    for thread, number in zip(out, numbers, strict=True):
        thread.number = number
    return out, empty


@dataclass
class RunOut:
    """When a campaign runs out of quotes (sequential and shuffle use each quote once)."""

    campaign: str
    order: str
    total: int
    remaining: int  # quotes not queued yet
    threads_left: int  # threads still to queue for them
    last_at: datetime | None  # when the last thread is (or will be) due; None when that depends on manual adds
    unreached: int = 0  # quotes the campaign's slots never reach (it ends first)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    enabled: bool = True

    def __str__(self) -> str:
        when = when_label(self.last_at, self.zone) if self.last_at else None
        if self.order in ("evergreen", "best"):
            return f"{self.order}: quotes repeat after cooldown_days" + (
                ", the best first" if self.order == "best" else "")
        if self.threads_left == 0:
            return f"every quote is queued; last thread {when}" if when else "every quote is queued"
        if not self.enabled:
            return (f"{self.remaining} of {counted(self.total, 'quote')} not queued yet; the campaign is disabled "
                    "(enabled = false), so its slots post nothing")
        if self.unreached:
            return (f"{self.remaining} of {counted(self.total, 'quote')} not queued yet, but its slots end first: "
                    f"{self.unreached} would never be posted (last thread {when})" if when else
                    f"{self.remaining} of {counted(self.total, 'quote')} not queued yet and no slots left for them")
        if when is None:
            return (f"{self.remaining} of {counted(self.total, 'quote')} not queued yet: "
                    f"{counted(self.threads_left, 'more thread')}, queued by hand (the campaign has no slots)")
        return (f"{self.remaining} of {counted(self.total, 'quote')} not queued yet: runs out after "
                f"{counted(self.threads_left, 'more thread')}, last thread {when}")

    def as_json(self) -> dict[str, Any]:
        return {"order": self.order, "quotes": self.total, "not_queued": self.remaining,
                "threads_left": self.threads_left, "last_thread_at": self.last_at.isoformat() if self.last_at else None,
                "never_reached": self.unreached, "summary": str(self)}


def run_out(store: Store, schedule: Schedule, campaign: Campaign, collection: Collection, now: datetime) -> RunOut:
    """When the campaign runs out of quotes, at the slots it has left."""
    zone = schedule.zone_of(campaign)
    used = quotes_used(store, campaign, collection)
    total = len(collection.quotes)
    remaining = len(remaining_quotes(campaign, collection, used))
    if campaign.repeats:
        return RunOut(campaign.name, campaign.order, total, remaining, 0, None, zone=zone)
    threads_left = math.ceil(remaining / campaign.quotes_per_thread)
    queued = [t.due_at for t in store.threads(USES_QUOTES, campaign.name) if t.state != "cancelled"]
    if threads_left and not (has_slots(campaign) and campaign.enabled):
        return RunOut(campaign.name, campaign.order, total, remaining, threads_left, None, zone=zone,
                      enabled=campaign.enabled)
    places = [slot for slot, _ in islice(free_places(store, campaign, zone, now), threads_left)]
    unreached = max(0, remaining - len(places) * campaign.quotes_per_thread) if len(places) < threads_left else 0
    return RunOut(campaign.name, campaign.order, total, remaining, threads_left, max([*queued, *places], default=None),
                  unreached, zone)


def scores_for(store: Store, campaign: Campaign) -> dict[str, float] | None:
    """What orders a "best" campaign's quotes: each quote's engagement per post (None for other orders)."""
    return store.engagement_per_post(campaign.name) if campaign.order == "best" else None
