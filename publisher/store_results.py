"""What posts achieved, in the store: each reading of a posted part's figures (likes, reposts, replies, quotes)
as a time series, the readings due and the latest figures of every post. Written by ``publisher results
--refresh`` and the daemon's readings, one transaction a batch, so a kill never loses a batch already stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from publisher.store_base import StoreConnection, iso, parse_time

FIGURES = ("likes", "reposts", "replies", "quotes")


@dataclass(frozen=True)
class Reading:
    """One reading of one part: its figures (None where the platform gives none), or why there are none."""

    part_id: int
    due: str  # which reading it is: a results_at offset ("24h"), or "refresh"
    fetched_at: datetime
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    cost: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class PostedPart:
    """A posted part, with what results need of its thread."""

    part_id: int
    thread_id: int
    campaign: str
    account: str
    position: int
    text: str
    post_id: str
    url: str | None
    posted_at: datetime
    quote_ids: list[str]  # the quotes whose cards it carries (none for an intro, outro or continuation)
    continued: bool = False  # the thread's next part (this account's) replies to it: one of its replies is ours

    def people_replies(self, replies: int | None) -> int | None:
        """A platform counts the thread's own next part among a part's replies: people's are the others."""
        return max(0, replies - 1) if replies is not None and self.continued else replies


class ResultRecords(StoreConnection):
    """Readings (``Store`` is one)."""

    def posted_for_results(self, since: datetime | None = None, campaign: str | None = None) -> list[PostedPart]:
        """Every posted part (since ``since``, of ``campaign``), oldest first, with the quotes it carries: its
        thread's quotes in order, one to each part with a card."""
        import json

        sql = ("SELECT parts.id, parts.thread_id, parts.account, parts.position, parts.text, "
               "parts.images != '[]' AS carded, "
               "parts.post_id, parts.url, parts.posted_at, threads.campaign, threads.quote_ids FROM parts "
               "JOIN threads ON threads.id = parts.thread_id WHERE parts.state = 'posted' AND parts.post_id IS NOT "
               "NULL AND parts.posted_at IS NOT NULL")
        params: list[Any] = []
        if since is not None:
            sql += " AND parts.posted_at >= ?"
            params.append(iso(since))
        if campaign is not None:
            sql += " AND threads.campaign = ?"
            params.append(campaign)
        sql += " ORDER BY parts.thread_id, parts.account, parts.position"
        found = []
        carded: dict[tuple[int, str], int] = {}  # (thread, account) -> cards met so far
        thread_quotes: dict[int, list[str]] = {}
        for row in self.db.execute(sql, params):
            quote_ids: list[str] = []
            if row["carded"]:
                key = (row["thread_id"], row["account"])
                index = carded.get(key, 0)
                carded[key] = index + 1
                if row["thread_id"] not in thread_quotes:
                    thread_quotes[row["thread_id"]] = json.loads(row["quote_ids"])
                quotes = thread_quotes[row["thread_id"]]
                quote_ids = [quotes[index]] if index < len(quotes) else []
            posted_at = parse_time(row["posted_at"])
            assert posted_at is not None
            found.append(PostedPart(row["id"], row["thread_id"], row["campaign"], row["account"], row["position"],
                                    row["text"], row["post_id"], row["url"], posted_at, quote_ids))
        following = {(p.thread_id, p.account, p.position - 1) for p in found}
        found = [replace(p, continued=(p.thread_id, p.account, p.position) in following) for p in found]
        found.sort(key=lambda p: (p.posted_at, p.part_id))
        return found

    def engagement_per_post(self, campaign: str) -> dict[str, float]:
        """Each quote's engagement per post in this campaign: the likes, reposts, people's replies and quotes of
        its posts' latest readings together, divided by how many of its posts have been read."""
        parts = self.posted_for_results(campaign=campaign)
        latest = self.latest_figures(p.part_id for p in parts)
        totals: dict[str, list[int]] = {}
        for part in parts:
            reading = latest.get(part.part_id)
            if reading is None:
                continue
            score = ((reading.likes or 0) + (reading.reposts or 0) + (part.people_replies(reading.replies) or 0)
                     + (reading.quotes or 0))
            for quote_id in part.quote_ids:
                totals.setdefault(quote_id, []).append(score)
        return {quote_id: sum(scores) / len(scores) for quote_id, scores in totals.items()}

    def readings_taken(self, since: datetime) -> set[tuple[int, str]]:
        """(part, due) of every reading made (or tried, or skipped) of parts posted since ``since``."""
        return {(row[0], row[1]) for row in self.db.execute(
            "SELECT readings.part_id, readings.due FROM readings JOIN parts ON parts.id = readings.part_id "
            "WHERE parts.posted_at >= ?", (iso(since),))}

    def add_readings(self, readings: Iterable[Reading]) -> None:
        """Store a batch of readings in one transaction."""
        with self.transaction():
            self.db.executemany(
                "INSERT INTO readings (part_id, due, fetched_at, likes, reposts, replies, quotes, cost, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.part_id, r.due, iso(r.fetched_at), r.likes, r.reposts, r.replies, r.quotes, r.cost, r.error)
                 for r in readings])

    def latest_figures(self, part_ids: Iterable[int] | None = None) -> dict[int, Reading]:
        """Each part's latest reading that has figures."""
        sql = ("SELECT r.* FROM readings r JOIN (SELECT part_id, MAX(fetched_at) AS latest FROM readings "
               "WHERE error IS NULL GROUP BY part_id) l ON l.part_id = r.part_id AND l.latest = r.fetched_at "
               "WHERE r.error IS NULL")
        wanted = set(part_ids) if part_ids is not None else None
        latest: dict[int, Reading] = {}
        for row in self.db.execute(sql):
            if wanted is None or row["part_id"] in wanted:
                latest[row["part_id"]] = _reading(row)
        return latest

    def reading_series(self, part_ids: Iterable[int]) -> list[Reading]:
        """Every reading with figures of these parts, oldest first (for charts)."""
        ids = list(part_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return [_reading(row) for row in self.db.execute(
            f"SELECT * FROM readings WHERE error IS NULL AND part_id IN ({marks}) ORDER BY fetched_at, id", ids)]

    def read_today(self, part_ids: Iterable[int], day_start: datetime) -> set[int]:
        """The parts read (with figures) since ``day_start``: X charges a post's reading once a UTC day."""
        ids = list(part_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {row[0] for row in self.db.execute(
            f"SELECT DISTINCT part_id FROM readings WHERE error IS NULL AND fetched_at >= ? AND part_id IN ({marks})",
            [iso(day_start), *ids])}

    def reading_spend(self, account: str, since: datetime) -> float:
        """What reading the account's posts has cost since ``since``."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(readings.cost), 0) FROM readings JOIN parts ON parts.id = readings.part_id "
            "WHERE parts.account = ? AND readings.fetched_at >= ?", (account, iso(since))).fetchone()
        return float(row[0])

    def skipped_readings(self, since: datetime) -> dict[str, int]:
        """Per account, the readings skipped since ``since`` (over a budget)."""
        return {row[0]: int(row[1]) for row in self.db.execute(
            "SELECT parts.account, COUNT(*) FROM readings JOIN parts ON parts.id = readings.part_id "
            "WHERE readings.error LIKE 'skipped:%' AND readings.fetched_at >= ? GROUP BY parts.account",
            (iso(since),))}


def _reading(row: Any) -> Reading:
    fetched = parse_time(row["fetched_at"])
    assert fetched is not None
    return Reading(row["part_id"], row["due"], fetched, row["likes"], row["reposts"], row["replies"],
                   row["quotes"], row["cost"], row["error"])
