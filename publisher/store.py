"""The store: one SQLite file holding the queue, every attempt, where each part landed, and Bluesky sessions.

Only this module touches SQLite. A part's state is written before the network call it describes and its result
right after, so after a crash at any instant the record says what might have happened:

    thread  queued -> posting -> posted | needs_attention | cancelled
    part    pending -> in_flight -> posted | unknown | failed

Never holds a password or API secret (the Bluesky session tokens it saves are what lets us avoid logging in).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.faults import checkpoint

MIGRATIONS: list[str] = [
    # 1: the queue, attempts, sessions
    """
    CREATE TABLE threads (
        id INTEGER PRIMARY KEY,
        campaign TEXT NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'posting', 'posted', 'needs_attention', 'cancelled')),
        quote_ids TEXT NOT NULL,
        slot TEXT,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX threads_by_slot ON threads (campaign, slot) WHERE slot IS NOT NULL;
    CREATE TABLE images (
        sha256 TEXT PRIMARY KEY,
        png BLOB NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL
    );
    CREATE TABLE parts (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
        account TEXT NOT NULL,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        images TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'posted', 'unknown', 'failed')),
        not_before TEXT,
        prepared TEXT,
        post_id TEXT,
        cid TEXT,
        url TEXT,
        last_error TEXT,
        fix TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        UNIQUE (thread_id, account, position)
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        part_id INTEGER NOT NULL REFERENCES parts (id) ON DELETE CASCADE,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT,
        error TEXT,
        retry_at TEXT
    );
    CREATE TABLE sessions (
        account TEXT PRIMARY KEY,
        session TEXT NOT NULL,
        saved_at TEXT NOT NULL
    );
    CREATE TABLE logins (
        account TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE handles (
        handle TEXT PRIMARY KEY,
        did TEXT NOT NULL,
        resolved_at TEXT NOT NULL
    );
    CREATE TABLE cursors (
        campaign TEXT PRIMARY KEY,
        used INTEGER NOT NULL
    );
    """,
    # 2: the scheduler's memory: every slot instant handled, and since when each campaign is watched
    """
    CREATE TABLE slot_firings (
        campaign TEXT NOT NULL,
        slot_at TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('queued', 'late', 'skipped', 'no_quotes')),
        thread_ids TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (campaign, slot_at)
    );
    CREATE TABLE watched (
        campaign TEXT PRIMARY KEY,
        since TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
]

THREAD_STATES = ("queued", "posting", "posted", "needs_attention", "cancelled")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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


@dataclass
class ThreadRow:
    id: int
    campaign: str
    due_at: datetime
    state: str
    quote_ids: list[str]
    slot: str | None
    created_at: datetime


def _part(row: sqlite3.Row) -> PartRow:
    return PartRow(row["id"], row["thread_id"], row["account"], row["position"], row["text"],
                   json.loads(row["images"]), row["state"], parse_time(row["not_before"]),
                   json.loads(row["prepared"]) if row["prepared"] else None, row["post_id"], row["cid"], row["url"],
                   row["last_error"], row["fix"], row["attempts"])


def _thread(row: sqlite3.Row) -> ThreadRow:
    return ThreadRow(row["id"], row["campaign"], datetime.fromisoformat(row["due_at"]), row["state"],
                     json.loads(row["quote_ids"]), row["slot"], datetime.fromisoformat(row["created_at"]))


class Store:
    """The queue database. Open with ``Store.open(path)``; every method is one transaction."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None, now: Callable[[], datetime]):
        self.db = connection
        self.path = path
        self.now = now

    @classmethod
    def open(cls, path: Path, now: Callable[[], datetime] | None = None) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # created private, before SQLite opens it
        # One thread uses a connection at a time (the daemon runs jobs on one worker); it may close from another.
        connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        store = cls(connection, path, now or (lambda: datetime.now(UTC)))
        store._configure()
        return store

    def _configure(self) -> None:
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA synchronous = FULL")  # a posted part's record survives power loss
        self.migrate()

    def copy_in_memory(self) -> Store:
        """A private copy (for dry runs): the same data, and nothing done to it reaches the file."""
        memory = sqlite3.connect(":memory:", isolation_level=None)
        self.db.backup(memory)
        copy = Store(memory, None, self.now)
        copy.db.row_factory = sqlite3.Row
        copy.db.execute("PRAGMA foreign_keys = ON")
        return copy

    def close(self) -> None:
        self.db.close()

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this file has not had yet, in order, each in its own transaction."""
        for version, script in enumerate(MIGRATIONS, start=1):
            if self.schema_version >= version:
                continue
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- writing -------------------------------------------------------------------------------------------

    def _write(self, name: str, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> None:
        checkpoint(f"store:{name}:before")
        with self.transaction():
            self.db.execute(sql, params)
        checkpoint(f"store:{name}:after")

    def add_thread(self, campaign: str, due_at: datetime, quote_ids: list[str],
                   parts: dict[str, list[tuple[str, list[dict[str, Any]]]]],
                   images: dict[str, tuple[bytes, int, int]], slot: str | None = None,
                   advance_cursor: int = 0) -> int | None:
        """Queue a thread: its parts per account, their images, and the campaign's cursor, in one transaction.

        Returns None if a thread for this campaign and slot already exists (a slot is queued once)."""
        with self.transaction():
            if slot is not None and self.db.execute("SELECT 1 FROM threads WHERE campaign = ? AND slot = ?",
                                                    (campaign, slot)).fetchone():
                return None
            cursor = self.db.execute(
                "INSERT INTO threads (campaign, due_at, state, quote_ids, slot, created_at) "
                "VALUES (?, ?, 'queued', ?, ?, ?)",
                (campaign, iso(due_at), json.dumps(quote_ids), slot, iso(self.now())))
            thread_id = int(cursor.lastrowid or 0)
            for sha, (png, width, height) in images.items():
                self.db.execute("INSERT OR IGNORE INTO images (sha256, png, width, height) VALUES (?, ?, ?, ?)",
                                (sha, png, width, height))
            for account, account_parts in parts.items():
                for position, (text, part_images) in enumerate(account_parts, start=1):
                    self.db.execute("INSERT INTO parts (thread_id, account, position, text, images, state) "
                                    "VALUES (?, ?, ?, ?, ?, 'pending')",
                                    (thread_id, account, position, text, json.dumps(part_images)))
            if advance_cursor:
                self.db.execute("INSERT INTO cursors (campaign, used) VALUES (?, ?) ON CONFLICT (campaign) "
                                "DO UPDATE SET used = used + excluded.used", (campaign, advance_cursor))
        return thread_id

    def set_thread_state(self, thread_id: int, state: str) -> None:
        self._write("thread", "UPDATE threads SET state = ? WHERE id = ?", (state, thread_id))

    def begin_attempt(self, part_id: int, prepared: dict[str, Any] | None = None) -> None:
        """The part is about to be sent, as ``prepared`` (stored here if new): from now until its result is
        written, its outcome is unknown. Preparing (uploads) is safe to repeat and needs no mark of its own."""
        checkpoint("store:begin:before")
        with self.transaction():
            self.db.execute("UPDATE parts SET state = 'in_flight', attempts = attempts + 1, "
                            "prepared = COALESCE(?, prepared) WHERE id = ?",
                            (json.dumps(prepared) if prepared is not None else None, part_id))
            self.db.execute("INSERT INTO attempts (part_id, started_at) VALUES (?, ?)", (part_id, iso(self.now())))
        checkpoint("store:begin:after")

    def _finish_attempt(self, part_id: int, outcome: str, error: str | None, retry_at: datetime | None) -> None:
        """Close the open attempt, or record one that ended before anything was sent (e.g. a failed upload)."""
        values = (iso(self.now()), outcome, error, iso(retry_at) if retry_at else None)
        updated = self.db.execute("UPDATE attempts SET finished_at = ?, outcome = ?, error = ?, retry_at = ? "
                                  "WHERE part_id = ? AND finished_at IS NULL", (*values, part_id)).rowcount
        if not updated:
            self.db.execute("INSERT INTO attempts (part_id, started_at, finished_at, outcome, error, retry_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (part_id, values[0], *values))

    def mark_posted(self, part_id: int, post_id: str, cid: str | None, url: str | None) -> None:
        checkpoint("store:posted:before")
        with self.transaction():
            self.db.execute("UPDATE parts SET state = 'posted', post_id = ?, cid = ?, url = ?, last_error = NULL, "
                            "fix = NULL, not_before = NULL WHERE id = ?", (post_id, cid, url, part_id))
            self._finish_attempt(part_id, "posted", None, None)
        checkpoint("store:posted:after")

    def mark_part(self, part_id: int, state: str, error: str, fix: str | None = None,
                  not_before: datetime | None = None, outcome: str | None = None) -> None:
        """Record a part that did not post: back to pending until ``not_before``, or unknown, or failed."""
        checkpoint("store:outcome:before")
        with self.transaction():
            self.db.execute("UPDATE parts SET state = ?, last_error = ?, fix = ?, not_before = ? WHERE id = ?",
                            (state, error, fix, iso(not_before) if not_before else None, part_id))
            self._finish_attempt(part_id, outcome or state, error, not_before)
        checkpoint("store:outcome:after")

    def reset_parts(self, thread_id: int, states: tuple[str, ...]) -> int:
        """Put parts in these states back to pending (clearing what an earlier attempt prepared)."""
        marks = ",".join("?" for _ in states)
        with self.transaction():
            changed = self.db.execute(
                f"UPDATE parts SET state = 'pending', not_before = NULL, prepared = NULL, last_error = NULL, "
                f"fix = NULL, attempts = 0 WHERE thread_id = ? AND state IN ({marks})", (thread_id, *states)).rowcount
            if changed:
                self.db.execute("UPDATE threads SET state = 'queued' WHERE id = ?", (thread_id,))
        return int(changed)

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

    def due_threads(self, now: datetime) -> list[ThreadRow]:
        return [t for t in self.threads(("queued", "posting")) if t.due_at <= now]

    def parts(self, thread_id: int, account: str | None = None) -> list[PartRow]:
        sql = "SELECT * FROM parts WHERE thread_id = ?"
        params: list[Any] = [thread_id]
        if account:
            sql += " AND account = ?"
            params.append(account)
        return [_part(r) for r in self.db.execute(sql + " ORDER BY account, position", params)]

    def image(self, sha256: str) -> tuple[bytes, int, int]:
        row = self.db.execute("SELECT png, width, height FROM images WHERE sha256 = ?", (sha256,)).fetchone()
        return bytes(row["png"]), row["width"], row["height"]

    def attempts(self, part_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM attempts WHERE part_id = ? ORDER BY id", (part_id,))]

    def cursor(self, campaign: str) -> int:
        row = self.db.execute("SELECT used FROM cursors WHERE campaign = ?", (campaign,)).fetchone()
        return int(row["used"]) if row else 0

    # -- the scheduler's memory ----------------------------------------------------------------------------

    def watched_since(self, campaign: str, now: datetime) -> datetime:
        """When the scheduler first saw this campaign (slots before that are never caught up)."""
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO watched (campaign, since) VALUES (?, ?)", (campaign, iso(now)))
            row = self.db.execute("SELECT since FROM watched WHERE campaign = ?", (campaign,)).fetchone()
        return datetime.fromisoformat(row["since"])

    def last_slot(self, campaign: str) -> datetime | None:
        row = self.db.execute("SELECT MAX(slot_at) AS last FROM slot_firings WHERE campaign = ?",
                              (campaign,)).fetchone()
        return datetime.fromisoformat(row["last"]) if row["last"] else None

    def record_slot(self, campaign: str, slot_at: datetime, outcome: str, thread_ids: list[int]) -> bool:
        """Remember a slot instant as handled; False if it already was (a slot never posts twice)."""
        checkpoint("store:slot:before")
        with self.transaction():
            done = self.db.execute("INSERT OR IGNORE INTO slot_firings (campaign, slot_at, outcome, thread_ids, "
                                   "recorded_at) VALUES (?, ?, ?, ?, ?)",
                                   (campaign, iso(slot_at), outcome, json.dumps(thread_ids), iso(self.now())))
        checkpoint("store:slot:after")
        return bool(done.rowcount)

    def add_event(self, level: str, message: str) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO events (at, level, message) VALUES (?, ?, ?)",
                            (iso(self.now()), level, message))

    def events(self, levels: tuple[str, ...] = ("error", "warning"), limit: int = 10) -> list[dict[str, Any]]:
        marks = ",".join("?" for _ in levels)
        return [dict(r) for r in self.db.execute(
            f"SELECT * FROM events WHERE level IN ({marks}) ORDER BY id DESC LIMIT ?", (*levels, limit))]

    def quote_history(self, campaign: str) -> list[tuple[str, datetime]]:
        """Every quote the campaign has queued, with when it was due, oldest first."""
        history = []
        for thread in self.threads(("queued", "posting", "posted", "needs_attention"), campaign):
            history += [(quote_id, thread.due_at) for quote_id in thread.quote_ids]
        return history

    def _with_threads(self, rows: list[sqlite3.Row]) -> list[tuple[PartRow, ThreadRow]]:
        threads = {t.id: t for t in self.threads()}
        return [(part, threads[part.thread_id]) for part in map(_part, rows)]

    def recent_posts(self, limit: int = 10) -> list[tuple[PartRow, ThreadRow]]:
        return self._with_threads(self.db.execute(
            "SELECT parts.* FROM parts JOIN attempts ON attempts.part_id = parts.id "
            "WHERE parts.state = 'posted' AND attempts.outcome = 'posted' "
            "ORDER BY attempts.finished_at DESC LIMIT ?", (limit,)).fetchall())

    def problem_parts(self) -> list[tuple[PartRow, ThreadRow]]:
        return self._with_threads(self.db.execute(
            "SELECT * FROM parts WHERE state IN ('failed', 'unknown') "
            "AND thread_id IN (SELECT id FROM threads WHERE state != 'cancelled') "
            "ORDER BY thread_id, account, position").fetchall())

    # -- sessions and handles ------------------------------------------------------------------------------

    def session(self, account: str) -> str | None:
        row = self.db.execute("SELECT session FROM sessions WHERE account = ?", (account,)).fetchone()
        return str(row["session"]) if row else None

    def save_session(self, account: str, session: str) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO sessions (account, session, saved_at) VALUES (?, ?, ?) "
                            "ON CONFLICT (account) DO UPDATE SET session = excluded.session, "
                            "saved_at = excluded.saved_at",
                            (account, session, iso(self.now())))

    def record_login(self, account: str) -> int:
        """Count a password login; returns how many this account made in the last 24 hours."""
        now = self.now()
        with self.transaction():
            self.db.execute("INSERT INTO logins (account, at) VALUES (?, ?)", (account, iso(now)))
        return self.logins_last_day(account)

    def logins_last_day(self, account: str) -> int:
        from datetime import timedelta

        since = iso(self.now() - timedelta(days=1))
        row = self.db.execute("SELECT COUNT(*) FROM logins WHERE account = ? AND at > ?", (account, since)).fetchone()
        return int(row[0])

    def cached_did(self, handle: str) -> str | None:
        row = self.db.execute("SELECT did FROM handles WHERE handle = ?", (handle.lower(),)).fetchone()
        return str(row["did"]) if row else None

    def cache_did(self, handle: str, did: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO handles (handle, did, resolved_at) VALUES (?, ?, ?)",
                            (handle.lower(), did, iso(self.now())))
