"""The queue's records: threads with their parts and cards, as queued or recomposed; the quotes each campaign
used or passed over; sign-offs and the revisions they were given for; every attempt to send a part. Written when a
thread is queued, read by everything that shows or posts the queue (its state changes are in ``store_states``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from publisher.errors import display_path
from publisher.redact import redact
from publisher.store_base import StoreConnection, iso, parse_time
from publisher.store_problems import StoreUnusable
from publisher.store_states import POSTABLE, SENT, THREAD_STATES, USES_QUOTES


@dataclass
class PartRow:
    id: int
    thread_id: int
    account: str
    position: int
    text: str
    images: list[dict[str, Any]]
    state: str
    not_before: datetime | None
    prepared: dict[str, Any] | None
    post_id: str | None
    cid: str | None
    url: str | None
    last_error: str | None
    fix: str | None
    attempts: int
    cost: float | None
    posted_at: datetime | None


@dataclass
class ThreadRow:
    id: int
    campaign: str
    number: int
    due_at: datetime
    state: str
    reason: str | None
    quote_ids: list[str]
    quote_digests: dict[str, str]
    slot: str | None
    created_at: datetime
    language: str | None = None  # its words' language (its collection's), for platforms that label posts with it


@dataclass
class NewPart:
    """One part of a thread about to be queued: its text, its cards ({sha256, alt, width, height}) and, on
    accounts counted as X, what posting it costs."""

    text: str
    images: list[dict[str, Any]]
    cost: float | None = None


def _part(row: sqlite3.Row) -> PartRow:
    return PartRow(row["id"], row["thread_id"], row["account"], row["position"], row["text"],
                   json.loads(row["images"]), row["state"], parse_time(row["not_before"]),
                   json.loads(row["prepared"]) if row["prepared"] else None, row["post_id"], row["cid"], row["url"],
                   row["last_error"], row["fix"], row["attempts"], row["cost"], parse_time(row["posted_at"]))


def _thread(row: sqlite3.Row) -> ThreadRow:
    return ThreadRow(row["id"], row["campaign"], row["number"], datetime.fromisoformat(row["due_at"]),
                     row["state"], row["reason"], json.loads(row["quote_ids"]), json.loads(row["quote_digests"]),
                     row["slot"], datetime.fromisoformat(row["created_at"]), row["language"])


class ThreadRecords(StoreConnection):
    """Adding and reading threads, parts, cards, sign-offs and attempts (``Store`` is one)."""

    # -- queueing ------------------------------------------------------------------------------------------

    def add_thread(self, campaign: str, number: int, due_at: datetime, quote_ids: list[str],
                   digests: dict[str, str], parts: dict[str, list[NewPart]],
                   images: dict[str, tuple[bytes, int, int]], slot: str | None = None,
                   state: str = "queued", language: str | None = None) -> int:
        """Queue a thread: its parts per account and their images (call inside the transaction in which its
        quotes, number and slot were chosen). ``state``: awaiting_approval for a campaign that needs sign-off."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO threads (campaign, number, due_at, state, quote_ids, quote_digests, slot, created_at, "
                "language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (campaign, number, iso(due_at), state, json.dumps(quote_ids), json.dumps(digests), slot,
                 iso(self.now()), language))
            thread_id = int(cursor.lastrowid or 0)
            self._insert_parts(thread_id, parts, images)
        return thread_id

    def _insert_parts(self, thread_id: int, parts: dict[str, list[NewPart]],
                      images: dict[str, tuple[bytes, int, int]]) -> None:
        for sha, (png, width, height) in images.items():
            self.db.execute("INSERT OR IGNORE INTO images (sha256, png, width, height) VALUES (?, ?, ?, ?)",
                            (sha, png, width, height))
        for account, account_parts in parts.items():
            for position, part in enumerate(account_parts, start=1):
                self.db.execute("INSERT INTO parts (thread_id, account, position, text, images, state, cost) "
                                "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                                (thread_id, account, position, part.text, json.dumps(part.images), part.cost))

    def replace_parts(self, thread_id: int, quote_ids: list[str], digests: dict[str, str],
                      parts: dict[str, list[NewPart]], images: dict[str, tuple[bytes, int, int]]) -> None:
        """Recompose: new parts for a thread none of whose parts has been sent."""
        with self.transaction():
            self.db.execute("DELETE FROM parts WHERE thread_id = ?", (thread_id,))
            self.db.execute("UPDATE threads SET quote_ids = ?, quote_digests = ?, changed_at = ? WHERE id = ?",
                            (json.dumps(quote_ids), json.dumps(digests), iso(self.now()), thread_id))
            self._insert_parts(thread_id, parts, images)

    def renumber_threads(self, numbers: list[tuple[int, int]]) -> None:
        """Give threads not started yet other numbers, (thread id, number) each (call inside the transaction in
        which they were chosen)."""
        with self.transaction():
            for thread_id, number in numbers:
                self.db.execute("UPDATE threads SET number = ? WHERE id = ?", (number, thread_id))

    def used_quotes(self, campaign: str) -> list[tuple[str, datetime, str | None]]:
        """Every quote the campaign has used (queued, posted, cancelled ...), with when its thread was due and
        the quote's fingerprint then (None for threads queued before fingerprints were kept)."""
        marks = ",".join("?" for _ in USES_QUOTES)
        rows = self.db.execute(f"SELECT quote_ids, quote_digests, due_at FROM threads WHERE campaign = ? "
                               f"AND state IN ({marks}) ORDER BY due_at, id", (campaign, *USES_QUOTES))
        used = []
        for row in rows:
            digests = json.loads(row["quote_digests"])
            due = datetime.fromisoformat(row["due_at"])
            used += [(quote_id, due, digests.get(quote_id)) for quote_id in json.loads(row["quote_ids"])]
        return used

    def skip_quote(self, campaign: str, quote_id: str, digest: str, reason: str) -> None:
        """A quote the campaign passes over (its card cannot be made) until it is edited."""
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO skipped_quotes (campaign, quote_id, digest, reason, at) "
                            "VALUES (?, ?, ?, ?, ?)", (campaign, quote_id, digest, redact(reason), iso(self.now())))

    def skipped_quotes(self, campaign: str) -> list[tuple[str, str, datetime]]:
        """(quote id, fingerprint, when) of every quote the campaign passed over."""
        rows = self.db.execute("SELECT quote_id, digest, at FROM skipped_quotes WHERE campaign = ?", (campaign,))
        return [(row["quote_id"], row["digest"], datetime.fromisoformat(row["at"])) for row in rows]

    def next_number(self, campaign: str) -> int:
        """The next thread's number in the campaign: one more than any thread that may have posted has (a
        skipped thread, or one cancelled before anything was sent, never showed its number)."""
        row = self.db.execute(
            "SELECT MAX(number) FROM threads WHERE campaign = ? AND state != 'skipped' AND NOT (state = 'cancelled' "
            "AND NOT EXISTS (SELECT 1 FROM parts WHERE thread_id = threads.id AND state != 'pending'))",
            (campaign,)).fetchone()
        return int(row[0] or 0) + 1

    def slot_holders(self, campaign: str) -> dict[str, int]:
        """The slot places held by live threads: slot key -> thread id."""
        rows = self.db.execute("SELECT slot, id FROM threads WHERE campaign = ? AND slot IS NOT NULL "
                               "AND state NOT IN ('cancelled', 'skipped')", (campaign,))
        return {row["slot"]: row["id"] for row in rows}

    def live_texts(self, account: str) -> dict[str, int]:
        """Texts this account has posted, or will post from a live thread: text -> thread id."""
        rows = self.db.execute(
            "SELECT parts.text, parts.thread_id FROM parts JOIN threads ON threads.id = parts.thread_id "
            "WHERE parts.account = ? AND (parts.state IN ('posted', 'in_flight', 'unknown') "
            "OR threads.state IN ('queued', 'posting', 'needs_attention', 'held', 'over_budget'))", (account,))
        return {row["text"]: row["thread_id"] for row in rows}

    # -- reading -------------------------------------------------------------------------------------------

    def thread(self, thread_id: int) -> ThreadRow | None:
        row = self.db.execute("SELECT * FROM threads WHERE id = ?", (thread_id,)).fetchone()
        return _thread(row) if row else None

    def threads(self, states: tuple[str, ...] = THREAD_STATES, campaign: str | None = None) -> list[ThreadRow]:
        marks = ",".join("?" for _ in states)
        sql = f"SELECT * FROM threads WHERE state IN ({marks})"
        params: list[Any] = list(states)
        if campaign:
            sql += " AND campaign = ?"
            params.append(campaign)
        return [_thread(r) for r in self.db.execute(sql + " ORDER BY due_at, id", params)]

    def record_signoff(self, thread_id: int, decision: str, by: str, reason: str | None = None,
                       revision: str | None = None) -> None:
        """A sign-off decision; an approval carries the revision it was given for."""
        with self.transaction():
            self.db.execute("INSERT INTO signoffs (thread_id, decision, by_user, at, reason, revision) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (thread_id, decision, by, iso(self.now()), reason, revision))

    def signoffs(self, thread_id: int) -> list[dict[str, Any]]:
        """Every sign-off decision on a thread, oldest first: decision, by, at, reason, revision."""
        rows = self.db.execute("SELECT decision, by_user, at, reason, revision FROM signoffs WHERE thread_id = ? "
                               "ORDER BY id", (thread_id,))
        return [{"decision": r["decision"], "by": r["by_user"], "at": r["at"], "reason": r["reason"],
                 "revision": r["revision"]} for r in rows]

    def approved(self, thread_id: int) -> bool:
        """Whether the thread's latest sign-off decision is an approval."""
        row = self.db.execute("SELECT decision FROM signoffs WHERE thread_id = ? ORDER BY id DESC LIMIT 1",
                              (thread_id,)).fetchone()
        return bool(row and row["decision"] == "approved")

    def approved_revision(self, thread_id: int) -> str | None:
        """The revision the thread's standing approval was given for; None if its latest decision is not an
        approval (or is one given before revisions were kept, which stands for nothing now)."""
        row = self.db.execute("SELECT decision, revision FROM signoffs WHERE thread_id = ? ORDER BY id DESC LIMIT 1",
                              (thread_id,)).fetchone()
        return str(row["revision"]) if row and row["decision"] == "approved" and row["revision"] else None

    def remember_revision(self, thread_id: int, revision: str, manifest: dict[str, Any]) -> None:
        """Keep what a revision stood for, so a stale approval can be told what changed since."""
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO revisions (thread_id, revision, manifest, seen_at) "
                            "VALUES (?, ?, ?, ?)", (thread_id, revision, json.dumps(manifest), iso(self.now())))

    def revision_manifest(self, thread_id: int, revision: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT manifest FROM revisions WHERE thread_id = ? AND revision = ?",
                              (thread_id, revision)).fetchone()
        return dict(json.loads(row["manifest"])) if row else None

    def has_image(self, sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM images WHERE sha256 = ?", (sha256,)).fetchone() is not None

    def changed_at(self, thread_id: int) -> datetime | None:
        row = self.db.execute("SELECT changed_at, created_at FROM threads WHERE id = ?", (thread_id,)).fetchone()
        return parse_time(row["changed_at"] or row["created_at"]) if row else None

    def due_threads(self, now: datetime) -> list[ThreadRow]:
        return [t for t in self.threads(POSTABLE) if t.due_at <= now]

    def parts(self, thread_id: int, account: str | None = None) -> list[PartRow]:
        sql = "SELECT * FROM parts WHERE thread_id = ?"
        params: list[Any] = [thread_id]
        if account:
            sql += " AND account = ?"
            params.append(account)
        return [_part(r) for r in self.db.execute(sql + " ORDER BY account, position", params)]

    def started(self, thread_id: int, besides: int | None = None) -> bool:
        """Whether a part of the thread (other than part ``besides``) is live, or may be (``SENT``)."""
        return self.db.execute(
            f"SELECT 1 FROM parts WHERE thread_id = ? AND id != ? AND state IN ({', '.join('?' * len(SENT))}) LIMIT 1",
            (thread_id, besides or 0, *SENT)).fetchone() is not None

    def image(self, sha256: str) -> tuple[bytes, int, int]:
        """A stored card, checked against its digest: a card damaged on disk is never posted."""
        row = self.db.execute("SELECT png, width, height FROM images WHERE sha256 = ?", (sha256,)).fetchone()
        png = bytes(row["png"]) if row else b""
        if hashlib.sha256(png).hexdigest() != sha256:
            where = display_path(self.path) if self.path else "the store"
            raise StoreUnusable(f"{where}: a card stored for posting is damaged or missing (image {sha256[:12]}): "
                                "publisher queue recompose the thread (publisher queue list shows which), or "
                                "restore a backup")
        return png, row["width"], row["height"]

    def drop_old_cards(self, finished_before: datetime) -> int:
        """Drop the card images of threads finished (posted, cancelled, skipped) before then, unless a thread
        still to post uses the same card; each part keeps the card's digest, alt text and size, and its links.
        Returns how many cards were dropped."""
        with self.transaction():
            dropped = self.db.execute(
                "DELETE FROM images WHERE sha256 NOT IN (SELECT json_extract(card.value, '$.sha256') FROM parts "
                "JOIN threads ON threads.id = parts.thread_id, json_each(parts.images) AS card "
                "WHERE threads.state NOT IN ('posted', 'cancelled', 'skipped') "
                "OR COALESCE(threads.changed_at, threads.created_at) >= ?)", (iso(finished_before),)).rowcount
        return int(dropped)

    def size(self) -> dict[str, Any]:
        """How big the store is on disk (with its write-ahead log), how much of that is free pages SQLite reuses,
        and how many card images it holds."""
        page_size = int(self.db.execute("PRAGMA page_size").fetchone()[0])
        free = int(self.db.execute("PRAGMA freelist_count").fetchone()[0]) * page_size
        cards, card_bytes = self.db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(png)), 0) FROM images").fetchone()
        on_disk = 0
        if self.path is not None:
            for file in (self.path, self.path.with_name(self.path.name + "-wal")):
                with suppress(OSError):
                    on_disk += file.stat().st_size
        return {"path": str(self.path) if self.path else None, "bytes": on_disk, "free_bytes": free,
                "cards": int(cards), "card_bytes": int(card_bytes)}

    def attempts_of(self, part_id: int) -> int:
        """How many times the part was tried, as the store has it now."""
        row = self.db.execute("SELECT attempts FROM parts WHERE id = ?", (part_id,)).fetchone()
        return int(row["attempts"]) if row else 0

    def attempts(self, part_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM attempts WHERE part_id = ? ORDER BY id", (part_id,))]

    def charged_parts(self, account: str, since: datetime) -> list[PartRow]:
        """The account's parts posted since ``since``, and those sent since then with no answer yet (in_flight,
        unknown): the platform may have taken, and charged for, them whatever becomes of their thread."""
        return [_part(r) for r in self.db.execute(
            "SELECT * FROM parts WHERE account = ? AND ((state = 'posted' AND posted_at >= ?) OR "
            "(state IN ('in_flight', 'unknown') AND "
            "(SELECT max(started_at) FROM attempts WHERE attempts.part_id = parts.id) >= ?))",
            (account, iso(since), iso(since)))]

    def unsent_parts(self, account: str, since: datetime | None = None, until: datetime | None = None,
                     started_only: bool = False, exclude_thread: int | None = None) -> list[PartRow]:
        """The account's parts not sent yet (pending, failed: those sent are charged_parts), of threads that will
        post them (queued, posting, held, needs_attention): all, those due in [since, until), or only of threads
        already under way."""
        sql = ("SELECT parts.* FROM parts JOIN threads ON threads.id = parts.thread_id WHERE parts.account = ? "
               "AND parts.state IN ('pending', 'failed') "
               "AND threads.state IN ('queued', 'posting', 'held', 'needs_attention') AND threads.id != ?")
        params: list[Any] = [account, exclude_thread or 0]
        if since is not None and until is not None:
            sql += " AND threads.due_at >= ? AND threads.due_at < ?"
            params += [iso(since), iso(until)]
        if started_only:
            sql += (" AND EXISTS (SELECT 1 FROM parts AS sent WHERE sent.thread_id = threads.id "
                    "AND sent.state != 'pending')")
        return [_part(r) for r in self.db.execute(sql, params)]

    def _with_threads(self, rows: list[sqlite3.Row]) -> list[tuple[PartRow, ThreadRow]]:
        threads = {t.id: t for t in self.threads()}
        return [(part, threads[part.thread_id]) for part in map(_part, rows)]

    def recent_attempts(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest attempts to send a part, newest first, with the part's thread, account and position."""
        return [dict(r) for r in self.db.execute(
            "SELECT attempts.*, parts.thread_id, parts.account, parts.position FROM attempts "
            "JOIN parts ON parts.id = attempts.part_id ORDER BY attempts.id DESC LIMIT ?", (limit,))]

    def recent_posts(self, limit: int = 10) -> list[tuple[PartRow, ThreadRow]]:
        return self._with_threads(self.db.execute(
            "SELECT * FROM parts WHERE state = 'posted' ORDER BY posted_at DESC, id DESC LIMIT ?",
            (limit,)).fetchall())

    def problem_parts(self) -> list[tuple[PartRow, ThreadRow]]:
        """Parts that need a person: failed, or of unknown outcome (but for one only waiting to be looked for
        again, once the platform has had time to show it)."""
        return self._with_threads(self.db.execute(
            "SELECT * FROM parts WHERE state IN ('failed', 'unknown') "
            "AND NOT (state = 'unknown' AND not_before IS NOT NULL AND not_before > ?) "
            "AND thread_id IN (SELECT id FROM threads WHERE state NOT IN ('cancelled', 'skipped')) "
            "ORDER BY thread_id, account, position", (iso(self.now()),)).fetchall())
