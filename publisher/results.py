"""Results: what each posted part achieved (likes, reposts, replies, quotes), read from its platform and kept in
the store as a time series; the figures per post, quote, thread or account, best first.

- The daemon reads each post at the offsets of ``results_at`` after it was posted (1 h, 24 h, 7 d, 30 d), in
  batches; a reading that fails is tried again at the next offset, and only the latest reading due is made (a
  daemon that was down does not make the ones it missed). ``publisher results --refresh`` reads on request.
- Each batch is stored in one transaction as soon as it is read: a kill loses at most the batch in hand.
- Reading X costs money: an account reads only with ``x_results = true``, each reading is priced (once a post
  a UTC day) and counted in its campaign's ``x_monthly_budget``; a reading that would go over is skipped, and
  recorded as skipped, rather than made.
- A platform that gives no figure gives None, never 0; an account whose posts have no audience (an outbox) has
  no reader, and its figures are None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from publisher.budget import month_start, spent
from publisher.config import Schedule, parse_duration
from publisher.errors import PublisherError
from publisher.faults import checkpoint
from publisher.platforms.base import ResultsReader
from publisher.store import FIGURES, PostedPart, Reading, Store
from publisher.text import counted

REFRESH = "refresh"  # the ``due`` of a reading made on request
BY = ("post", "quote", "thread", "account")


@dataclass
class CollectReport:
    """What one round of readings did."""

    read: int = 0  # readings stored with figures
    failed: int = 0  # readings tried and failed (tried again at the next offset)
    skipped: int = 0  # readings skipped: over a budget
    calls: int = 0  # calls to the platforms
    notes: list[str] = field(default_factory=list)  # one line per account that could not be read, or was skipped


def offsets(schedule: Schedule) -> list[tuple[str, timedelta]]:
    """``results_at`` as (label, offset), shortest first."""
    return sorted(((label, parse_duration(label)) for label in schedule.defaults.results_at), key=lambda o: o[1])


def due_readings(store: Store, schedule: Schedule, now: datetime) -> list[tuple[PostedPart, str]]:
    """Each posted part whose latest offset reached has no reading yet, with that offset's label."""
    marks = offsets(schedule)
    if not marks:
        return []
    horizon = now - marks[-1][1] - timedelta(days=30)  # a month past its last reading, a part is done with
    taken = store.readings_taken(horizon)
    due = []
    for part in store.posted_for_results(since=horizon):
        reached = [label for label, offset in marks if part.posted_at + offset <= now]
        if reached and (part.part_id, reached[-1]) not in taken:
            due.append((part, reached[-1]))
    return due


def collect(store: Store, schedule: Schedule, readers: Mapping[str, ResultsReader | None],
            wanted: list[tuple[PostedPart, str]], now: Callable[[], datetime]) -> CollectReport:
    """Read the figures of ``wanted`` (part, label), account by account in each reader's batches, storing each
    batch as soon as it is read."""
    report = CollectReport()
    by_account: dict[str, list[tuple[PostedPart, str]]] = {}
    for part, label in wanted:
        by_account.setdefault(part.account, []).append((part, label))
    for account, items in by_account.items():
        reader = readers.get(account)
        if reader is None:
            continue  # no audience (an outbox), reading turned off, or no longer in schedule.toml
        for start in range(0, len(items), max(1, reader.batch)):
            batch = items[start: start + max(1, reader.batch)]
            batch, skipped = _within_budget(store, schedule, account, reader, batch, now())
            if skipped:
                store.add_readings(skipped)
                report.skipped += len(skipped)
                report.notes.append(f"{account}: {counted(len(skipped), 'reading')} skipped: {skipped[0].error}")
            if not batch:
                continue
            report.calls += 1
            checkpoint("results:read:before")
            try:
                figures = reader.read([part.post_id for part, _ in batch])
            except PublisherError as exc:
                moment = now()
                store.add_readings(Reading(part.part_id, label, moment, error=str(exc)) for part, label in batch)
                report.failed += len(batch)
                report.notes.append(f"{account}: could not read {counted(len(batch), 'post')}: {exc}")
                continue
            checkpoint("results:read:after")
            moment = now()
            charged = _charged(store, reader, [part for part, _ in batch], moment)
            readings = []
            for part, label in batch:
                found = figures.get(part.post_id)
                if found is None:
                    readings.append(Reading(part.part_id, label, moment, error="not found: deleted, or hidden"))
                    report.failed += 1
                    continue
                readings.append(Reading(part.part_id, label, moment, found.likes, found.reposts, found.replies,
                                        found.quotes, cost=charged.get(part.part_id)))
                report.read += 1
            store.add_readings(readings)
            checkpoint("results:stored")
    return report


def _charged(store: Store, reader: ResultsReader, parts: list[PostedPart], moment: datetime) -> dict[int, float]:
    """What reading each part costs now: the platform's price, once a post a UTC day."""
    if not reader.price_per_post:
        return {}
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    already = store.read_today([p.part_id for p in parts], day)
    return {p.part_id: reader.price_per_post for p in parts if p.part_id not in already}


def _within_budget(store: Store, schedule: Schedule, account: str, reader: ResultsReader,
                   batch: list[tuple[PostedPart, str]], moment: datetime
                   ) -> tuple[list[tuple[PostedPart, str]], list[Reading]]:
    """The part of a priced batch its campaigns' budgets allow this month; the rest as skipped readings."""
    if not reader.price_per_post:
        return batch, []
    budgets = {c.name: c.x_monthly_budget for c in schedule.campaigns if c.x_monthly_budget is not None}
    since = month_start(moment, schedule.zone)
    total = spent(store, account, since)
    charged = _charged(store, reader, [part for part, _ in batch], moment)
    allowed, skipped = [], []
    for part, label in batch:
        cost = charged.get(part.part_id, 0.0)
        budget = budgets.get(part.campaign)
        if budget is not None and total + cost > budget + 1e-9:
            skipped.append(Reading(part.part_id, label, moment, error=(
                f"skipped: reading it would take {account} over campaign {part.campaign}'s x_monthly_budget "
                f"of ${budget:.2f} this month")))
            continue
        total += cost
        allowed.append((part, label))
    return allowed, skipped


# -- the figures, as publisher results shows them -----------------------------------------------------------

def _total(values: list[int | None]) -> int | None:
    """A sum of figures: None only when no post gave the figure."""
    given = [v for v in values if v is not None]
    return sum(given) if given else None


def engagement(row: Mapping[str, Any]) -> int:
    """What sorts results, best first: every figure together."""
    return sum(row.get(name) or 0 for name in FIGURES)


def figures_by(store: Store, by: str = "post", campaign: str | None = None, since: datetime | None = None,
               platform_of: Callable[[str], str | None] = lambda account: None,
               quote_texts: Mapping[str, str] | None = None, parts: list[PostedPart] | None = None
               ) -> list[dict[str, Any]]:
    """The latest figures of every posted part (``by="post"``), or their totals per quote, thread or account,
    best first. ``platform_of``: an account's platform (None for one no longer in schedule.toml); ``parts``: the
    posted parts, if already read."""
    if parts is None:
        parts = store.posted_for_results(since=since, campaign=campaign)
    latest = store.latest_figures(p.part_id for p in parts)
    posts: list[dict[str, Any]] = []
    for part in parts:
        reading = latest.get(part.part_id)
        figures = {name: getattr(reading, name) if reading else None for name in FIGURES}
        figures["replies"] = part.people_replies(figures["replies"])
        posts.append({
            "thread_id": part.thread_id, "part": part.position, "account": part.account,
            "platform": platform_of(part.account), "url": part.url, "quote_ids": part.quote_ids, **figures,
            "fetched_at": reading.fetched_at.isoformat() if reading else None,
            "posted_at": part.posted_at.isoformat(), "text": part.text})
    if by == "post":
        rows: list[dict[str, Any]] = posts
    else:
        groups: dict[Any, list[dict[str, Any]]] = {}
        for post in posts:
            keys = post["quote_ids"] if by == "quote" else [post["thread_id" if by == "thread" else "account"]]
            for key in keys:
                groups.setdefault(key, []).append(post)
        rows = []
        for key, members in groups.items():
            row: dict[str, Any] = {f"{by}_id" if by in ("quote", "thread") else by: key, "posts": len(members)}
            if by == "account":
                row["platform"] = members[0]["platform"]
            if by == "quote" and quote_texts is not None:
                row["text"] = quote_texts.get(key)
            row.update({name: _total([m[name] for m in members]) for name in FIGURES})
            fetched = [m["fetched_at"] for m in members if m["fetched_at"]]
            row["fetched_at"] = max(fetched) if fetched else None
            rows.append(row)
    rows.sort(key=lambda r: -engagement(r))  # stable: equal rows keep the order they were posted in
    return rows



@dataclass
class ResultsReport:
    """What ``publisher results`` shows: the rows, how old their figures are, and what the command must say."""

    by: str
    rows: list[dict[str, Any]]
    newest: datetime | None  # the latest reading among the rows
    read: CollectReport | None  # what a refresh did
    no_audience: list[str]  # accounts whose posts have no audience (outboxes): their figures are None
    not_read: dict[str, str]  # accounts whose figures are not read (X without x_results), and why


def results_report(queue: Any, by: str, campaign: str | None, since: datetime | None, refresh: bool,
                   env: dict[str, str]) -> ResultsReport:
    """``publisher results``: the figures from the store, read afresh first with ``refresh``."""
    from publisher.platforms import kind
    from publisher.platforms.factory import readers_for

    schedule: Schedule = queue.schedule
    if campaign is not None:
        queue.files.campaign(campaign)  # an unknown one is said, with the names there are
    read = None
    if refresh:
        readers = readers_for(schedule, queue.store, env, queue.now)
        wanted = [(part, REFRESH) for part in queue.store.posted_for_results(since=since, campaign=campaign)]
        read = collect(queue.store, schedule, readers, wanted, queue.now)
    accounts = schedule.accounts
    parts = queue.store.posted_for_results(since=since, campaign=campaign)
    used = {p.account for p in parts}
    no_audience = sorted(a for a in used if a in accounts and not kind(accounts[a].platform).has_audience)
    not_read = {a: kind(accounts[a].platform).reading_off for a in sorted(used)
                if a in accounts and a not in no_audience and not kind(accounts[a].platform).reads_results(accounts[a])}
    quotes: dict[str, str] = {}
    for collection_campaign in schedule.campaigns:
        try:
            collection = queue.files.collection(collection_campaign.collection)
        except PublisherError:
            continue
        quotes.update({q.id: q.text for q in collection.quotes})
    rows = figures_by(queue.store, by, campaign, since,
                      platform_of=lambda a: accounts[a].platform if a in accounts else None, quote_texts=quotes,
                      parts=parts)
    fetched = [row["fetched_at"] for row in rows if row.get("fetched_at")]
    return ResultsReport(by, rows, datetime.fromisoformat(max(fetched)) if fetched else None, read, no_audience,
                         not_read)


def read_due(store_path: Path, schedule: Schedule, env: dict[str, str], now: Callable[[], datetime]
             ) -> CollectReport | None:
    """One round of the daemon's readings: every post whose reading is due, on a connection of its own (the
    daemon's posting never waits for a platform's figures). None when nothing was due."""
    from publisher.platforms.factory import readers_for

    if not schedule.defaults.results_at or not store_path.exists():
        return None
    with Store.open(store_path, now) as store:
        wanted = due_readings(store, schedule, now())
        if not wanted:
            return None
        return collect(store, schedule, readers_for(schedule, store, env, now), wanted, now)
