"""The store: one SQLite file holding the queue, every attempt, where each part landed, and Bluesky sessions.

Only this module touches SQLite (the schema itself is in ``migrations``). A part's state is written before the
network call it describes and its result right after, so after a crash at any instant the record says what might
have happened:

    thread  awaiting_approval -> (approved) queued | skipped;  queued | posting -> awaiting_approval (sent back)
            queued -> posting -> posted | needs_attention -> (retried) queued | posting
            queued | posting | needs_attention -> held -> (released) queued | posting | awaiting_approval
            queued -> over_budget -> (released) queued;  queued -> skipped (its slot was missed)
            any but posted and skipped -> cancelled
    part    pending -> in_flight -> posted | unknown | failed

A state change is one conditional write (``transition``): it happens only from the states allowed, so a cancel
and the poster's own bookkeeping can never overwrite each other.

Never holds a password or API secret (the Bluesky session tokens it saves are what lets us avoid logging in).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.errors import ExitStatus, PublisherError, StoreBusy, display_path
from publisher.faults import checkpoint
from publisher.migrations import MIGRATIONS
from publisher.redact import redact

THREAD_STATES = ("awaiting_approval", "queued", "posting", "posted", "needs_attention", "cancelled", "held",
                 "over_budget", "skipped")
POSTABLE = ("queued", "posting")  # the states in which the poster may send a thread's parts
# Not finished: shown in the queue.
ACTIVE = ("awaiting_approval", "queued", "posting", "needs_attention", "held", "over_budget")
# A thread that uses its quotes: everything but a skipped one (a cancelled thread's quotes stay used, so a
# cancelled quote is never queued again behind the user's back).
USES_QUOTES = ("awaiting_approval", "queued", "posting", "posted", "needs_attention", "cancelled", "held",
               "over_budget")


class StoreUnusable(PublisherError):
    """The store cannot be used: damaged, not a store, locked, read-only, on a full disk, or too new."""

    exit_status = ExitStatus.STORE


class StoreTooNew(StoreUnusable):
    """The store was written by a newer publisher, whose schema this one does not know."""


def store_problem(path: Path | None, exc: sqlite3.Error | OSError) -> PublisherError:
    """What an SQLite or file error on the store means for the user, and what to do (one line)."""
    where = display_path(path) if path else "the store"
    text = str(exc).lower()
    if isinstance(exc, OSError):
        misplaced = path_problem(path) if path else None
        if misplaced:
            return misplaced
        if path is not None and path.exists():  # the file is there: its own permissions are in the way
            return StoreUnusable(f"{where}: cannot open it: {exc.strerror or exc} (check its permissions: publisher "
                                 "needs to read and write it, and its -wal and -shm files beside it)")
        return StoreUnusable(f"{where}: cannot create or open it: {exc.strerror or exc} (check that its folder, "
                             "[paths] state in schedule.toml, is a folder you can write to)")
    if "locked" in text or "busy" in text:
        return StoreBusy(f"{where} is locked by another publisher process (waited 30 s): try again when it has "
                         "finished (publisher status shows a running daemon)")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreUnusable(f"{where} is damaged or is not a publisher store ({exc}): move it aside and restore a "
                             f"backup ({path.name if path else 'publisher.db'}.v*.bak beside it, kept before each "
                             "upgrade), or start afresh")
    if "readonly" in text or "read-only" in text:
        # SQLite writes two files beside the store; one left read-only by an earlier failure blocks it too
        companions = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), path.parent] \
            if path else []
        blocked = next((c for c in companions if c.exists() and not os.access(c, os.W_OK)), path)
        return StoreUnusable(f"{display_path(blocked) if blocked else where} is read-only: publisher needs to "
                             f"write it{'' if blocked == path else f' to use {where}'} (check the permissions of "
                             "the store's files, publisher.db, publisher.db-wal and publisher.db-shm, and of their "
                             "folder)")
    if "full" in text:
        return StoreUnusable(f"{where}: the disk is full ({exc}): free some space and run the command again; "
                             "nothing already recorded is lost")
    if "unable to open" in text:
        return StoreUnusable(f"{where}: cannot open it (check that its folder exists and that you can write to "
                             "it)")
    return StoreUnusable(f"{where} cannot be used: {exc} (check the file and the disk, or restore a backup)")


APPLICATION_ID = 0x5075624C  # "PubL" in the SQLite header: this file is a publisher store
_OUR_TABLES = {"threads", "parts", "images"}


def _refuse_foreign(path: Path) -> None:
    """Refuse, before SQLite opens it (and so before it replays a journal or changes a byte), a file that is
    not a publisher store: another program's database, or something that is not SQLite at all."""
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise store_problem(path, exc) from exc
    if not header:
        return  # a new store (or one whose pages are all still in its write-ahead log)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise StoreUnusable(f"{display_path(path)} is damaged or is not a publisher store (it is not an SQLite "
                            "file): move it aside and restore a backup (publisher.db.v*.bak beside it, kept before "
                            "each upgrade), or start afresh")
    if int.from_bytes(header[68:72], "big") == APPLICATION_ID:
        return
    tables: set[str] = set()
    # Read-only (a read-only connection never checkpoints its write-ahead log into the file); where even that
    # cannot open it, ignoring the log altogether. Looking must not change the file.
    for mode in ("mode=ro", "immutable=1"):
        try:
            probe = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
            try:
                tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                probe.close()
            break
        except sqlite3.OperationalError:
            continue
        except sqlite3.DatabaseError as exc:
            raise store_problem(path, exc) from exc
    if tables and not tables >= _OUR_TABLES:
        raise StoreUnusable(f"{display_path(path)} is an SQLite database of another program: publisher will not "
                            "change it (move it aside, or set [paths] state in schedule.toml to another folder)")


# Store files this process has open, by (device, inode), and how many times. Closing *any* descriptor of a file
# drops every POSIX lock the process holds on it, SQLite's included: a file open here is never read raw again (the
# daemon's connection would lose its locks, and another process could then delete the write-ahead log under it).
_OPEN_HERE: dict[tuple[int, int], int] = {}
_OPEN_HERE_LOCK = threading.Lock()


def _file_id(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino


def _forget(file: tuple[int, int]) -> None:
    with _OPEN_HERE_LOCK:
        left = _OPEN_HERE.get(file, 1) - 1
        if left > 0:
            _OPEN_HERE[file] = left
        else:
            _OPEN_HERE.pop(file, None)


def inspect_store(path: Path) -> str:
    """What a healthy store holds (``schema 4, 12 threads``), read only and changing nothing; raises the store
    error that says what is wrong with an unhealthy one (``publisher doctor``)."""
    misplaced = path_problem(path)
    if misplaced:
        raise misplaced
    _refuse_foreign(path)
    with _mapped(path):
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            verdict = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            version = int(connection.execute("PRAGMA user_version").fetchone()[0])
            threads = connection.execute("SELECT count(*) FROM threads").fetchone()[0] if version else 0
        finally:
            connection.close()
    if verdict != ["ok"]:
        raise StoreUnusable(f"{display_path(path)} fails SQLite's integrity check ({verdict[0]}): stop publisher, "
                            "move it aside and restore a backup (publisher.db.v*.bak beside it), or start afresh")
    if version > len(MIGRATIONS):
        raise StoreTooNew(f"{display_path(path)} was written by a newer publisher (schema {version}; this one "
                          f"knows up to {len(MIGRATIONS)}): upgrade publisher")
    return f"schema {version}, {threads} thread{'' if threads == 1 else 's'}"


def path_problem(path: Path) -> StoreUnusable | None:
    """Why the store cannot be at ``path`` at all (a file where its folder should be, a folder or a dangling
    link where the file should be), or None."""
    dangling = next((p for p in path.parents if p.is_symlink() and not p.exists()), None)
    if dangling is not None:
        return StoreUnusable(f"{display_path(dangling)} is a link to {os.readlink(dangling)}, which is not there: "
                             "restore the folder it pointed to, or remove the link")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return StoreUnusable(f"{display_path(blocker)} is a file, where publisher keeps its state folder: move it "
                             "aside, or set [paths] state in schedule.toml to another folder")
    if path.is_dir():
        return StoreUnusable(f"{display_path(path)} is a folder, where publisher keeps its store (a file): move it "
                             "aside")
    if path.is_symlink() and not path.exists():
        return StoreUnusable(f"{display_path(path)} is a link to {os.readlink(path)}, which is not there: restore "
                             "the store it pointed to, or remove the link to start afresh")
    return None


@contextmanager
def store_errors(path: Path | None) -> Iterator[None]:
    """Errors of the store in a block of queue work, however deep, as one line naming the store and the fix."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise  # a bug, not something the user can fix
    except sqlite3.DatabaseError as exc:
        raise store_problem(path, exc) from exc


@contextmanager
def _mapped(path: Path | None) -> Iterator[None]:
    """SQLite errors become one-line errors naming the store and the fix, here and only here."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise  # a bug, not something the user can fix
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
        raise store_problem(path, exc) from exc


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
                     row["slot"], datetime.fromisoformat(row["created_at"]))


class Store:
    """The queue database: ``with Store.open(path) as store:``. Every method is one transaction, or joins the
    one already open (``with store.transaction():`` around several calls makes them one)."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None, now: Callable[[], datetime]):
        self.db = connection
        self.path = path
        self.now = now
        self._file: tuple[int, int] | None = None  # the store file's (device, inode), while open

    @classmethod
    def open(cls, path: Path, now: Callable[[], datetime] | None = None) -> Store:
        misplaced = path_problem(path)
        if misplaced:
            raise misplaced
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # created private, before SQLite opens it
            file = _file_id(path)
        except OSError as exc:
            raise store_problem(path, exc) from exc
        with _OPEN_HERE_LOCK:
            if not _OPEN_HERE.get(file):  # checked when it was first opened here; reading it raw now would not be safe
                _refuse_foreign(path)
            _OPEN_HERE[file] = _OPEN_HERE.get(file, 0) + 1
        try:
            with _mapped(path):
                # One thread uses a connection at a time (the daemon's passes); it may close from another.
                connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
                store = cls(connection, path, now or (lambda: datetime.now(UTC)))
                try:
                    store._configure()
                except BaseException:
                    connection.close()
                    raise
        except BaseException:
            _forget(file)
            raise
        store._file = file
        return store

    @classmethod
    def empty(cls, now: Callable[[], datetime] | None = None) -> Store:
        """An empty store in memory: what reading commands see before the first thread is queued, without
        creating a file."""
        store = cls(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False), None,
                    now or (lambda: datetime.now(UTC)))
        store._configure()
        return store

    def _configure(self) -> None:
        self.db.row_factory = sqlite3.Row
        if self.path is not None:
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")  # a posted part's record survives power loss
        self.migrate()
        if self.path is not None and self.db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")  # marks the file as publisher's
        self.db.execute("PRAGMA foreign_keys = ON")

    def copy_to(self, path: Path) -> Store:
        """A copy of this store at ``path`` (replacing what is there), opened: the dry run's private queue. Saved
        Bluesky sessions are left out; a dry run never logs in."""
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        target = sqlite3.connect(path)
        try:
            self.db.backup(target)
        finally:
            target.close()
        copy = Store.open(path, self.now)
        with copy.transaction():
            copy.db.execute("DELETE FROM sessions")
        return copy

    def close(self) -> None:
        self.db.close()
        if self._file is not None:
            _forget(self._file)
            self._file = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this file has not had yet, in order, in one transaction. Foreign keys are off
        meanwhile, so that rebuilding a table does not cascade into the rows that refer to it."""
        if self.schema_version > len(MIGRATIONS):
            where = display_path(self.path) if self.path else "the store"
            raise StoreTooNew(f"{where} was written by a newer publisher (schema {self.schema_version}; this one "
                              f"knows up to {len(MIGRATIONS)}): upgrade publisher")
        if self.schema_version == len(MIGRATIONS):
            return
        self._back_up(self.schema_version)
        self.db.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before it
        with self.transaction():
            done = self.schema_version  # read again under the write lock: another process may just have migrated
            for version, script in enumerate(MIGRATIONS[done:], start=done + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version}")
            broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise AssertionError(f"migration left {len(broken)} rows with broken references")

    def _back_up(self, version: int) -> None:
        """A copy of the store as it is, before a migration changes it: ``publisher.db.v2.bak`` (kept if there)."""
        if self.path is None or version == 0:
            return
        backup = self.path.with_name(f"{self.path.name}.v{version}.bak")
        if backup.exists():
            return
        try:
            os.close(os.open(backup, os.O_CREAT | os.O_WRONLY, 0o600))  # it holds the saved sessions: private
        except OSError as exc:
            raise store_problem(backup, exc) from exc
        with _mapped(backup):
            target = sqlite3.connect(backup)
            try:
                self.db.backup(target)
            finally:
                target.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: the write lock is taken at once, so what is read inside it is
        still true when written). Inside another transaction it simply joins it."""
        if self.db.in_transaction:
            yield self.db
            return
        with _mapped(self.path):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read transaction: every query inside sees the store as it was at its first one, while other
        processes go on writing (write-ahead log). Inside another transaction it simply joins it."""
        if self.db.in_transaction:
            yield
            return
        with _mapped(self.path):
            self.db.execute("BEGIN DEFERRED")
            try:
                yield
            finally:
                if self.db.in_transaction:
                    self.db.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo only what this block wrote if it fails."""
        self.db.execute("SAVEPOINT part_of_transaction")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO part_of_transaction")
            self.db.execute("RELEASE part_of_transaction")
            raise
        self.db.execute("RELEASE part_of_transaction")

    # -- queueing ------------------------------------------------------------------------------------------

    def add_thread(self, campaign: str, number: int, due_at: datetime, quote_ids: list[str],
                   digests: dict[str, str], parts: dict[str, list[NewPart]],
                   images: dict[str, tuple[bytes, int, int]], slot: str | None = None,
                   state: str = "queued") -> int:
        """Queue a thread: its parts per account and their images (call inside the transaction in which its
        quotes, number and slot were chosen). ``state``: awaiting_approval for a campaign that needs sign-off."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO threads (campaign, number, due_at, state, quote_ids, quote_digests, slot, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (campaign, number, iso(due_at), state, json.dumps(quote_ids), json.dumps(digests), slot,
                 iso(self.now())))
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

    # -- state changes -------------------------------------------------------------------------------------

    def transition(self, thread_id: int, state: str, allowed_from: tuple[str, ...],
                   reason: str | None = None) -> bool:
        """Move a thread to ``state`` if it is in one of ``allowed_from``; False (and nothing written) if not."""
        marks = ",".join("?" for _ in allowed_from)
        checkpoint("store:thread:before")
        with self.transaction():
            changed = self.db.execute(
                f"UPDATE threads SET state = ?, reason = ?, changed_at = ? WHERE id = ? AND state IN ({marks})",
                (state, reason, iso(self.now()), thread_id, *allowed_from)).rowcount
        checkpoint("store:thread:after")
        return bool(changed)

    def begin_attempt(self, part_id: int, prepared: dict[str, Any]) -> bool:
        """The part is about to be sent, exactly as ``prepared`` (stored with the mark): from now until its result
        is written, its outcome is unknown. Preparing (uploads) is safe to repeat and needs no mark of its own.

        Only while its thread is being posted: False (nothing written) if it was cancelled, held or recomposed
        meanwhile, so a part is never sent after its thread was stopped."""
        checkpoint("store:begin:before")
        with self.transaction():
            begun = self.db.execute(
                "UPDATE parts SET state = 'in_flight', attempts = attempts + 1, prepared = ? WHERE id = ? "
                "AND state != 'posted' AND (SELECT state FROM threads WHERE id = parts.thread_id) = 'posting'",
                (json.dumps(prepared), part_id)).rowcount
            if begun:
                self.db.execute("INSERT INTO attempts (part_id, started_at) VALUES (?, ?)",
                                (part_id, iso(self.now())))
        checkpoint("store:begin:after")
        return bool(begun)

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
                            "fix = NULL, not_before = NULL, posted_at = ? WHERE id = ?",
                            (post_id, cid, url, iso(self.now()), part_id))
            self._finish_attempt(part_id, "posted", None, None)
        checkpoint("store:posted:after")

    def mark_part(self, part_id: int, state: str, error: str, fix: str | None = None,
                  not_before: datetime | None = None, outcome: str | None = None, count: bool = False) -> None:
        """Record a part that did not post: back to pending until ``not_before``, or unknown, or failed.
        ``count``: a failure before anything was sent (an upload, a login) counts as an attempt too."""
        error, fix = redact(error), redact(fix) if fix else fix
        checkpoint("store:outcome:before")
        with self.transaction():
            self.db.execute("UPDATE parts SET state = ?, last_error = ?, fix = ?, not_before = ?, "
                            "attempts = attempts + ? WHERE id = ?",
                            (state, error, fix, iso(not_before) if not_before else None, int(count), part_id))
            self._finish_attempt(part_id, outcome or state, error, not_before)
        checkpoint("store:outcome:after")

    def reset_parts(self, thread_id: int, thread_from: tuple[str, ...]) -> int | None:
        """Put the parts known not to be posted that failed or wait for a retry back to pending, now (clearing
        what an earlier attempt prepared), and the thread back to posting; None if the thread is not in one of
        ``thread_from``. Parts never tried are left as they are."""
        from_marks = ",".join("?" for _ in thread_from)
        with self.transaction():
            state = self.thread_state(thread_id)
            if state not in thread_from:
                return None
            changed = self.db.execute(
                "UPDATE parts SET state = 'pending', not_before = NULL, prepared = NULL, last_error = NULL, "
                "fix = NULL, attempts = 0 WHERE thread_id = ? AND (state = 'failed' OR (state = 'pending' AND "
                "(attempts > 0 OR not_before IS NOT NULL OR last_error IS NOT NULL)))", (thread_id,)).rowcount
            if changed:
                started = self.db.execute("SELECT 1 FROM parts WHERE thread_id = ? AND state != 'pending'",
                                          (thread_id,)).fetchone()
                self.db.execute(f"UPDATE threads SET state = ?, reason = NULL, changed_at = ? WHERE id = ? "
                                f"AND state IN ({from_marks})",
                                ("posting" if started else "queued", iso(self.now()), thread_id, *thread_from))
        return int(changed)

    # -- reading -------------------------------------------------------------------------------------------

    def thread(self, thread_id: int) -> ThreadRow | None:
        row = self.db.execute("SELECT * FROM threads WHERE id = ?", (thread_id,)).fetchone()
        return _thread(row) if row else None

    def thread_state(self, thread_id: int) -> str | None:
        row = self.db.execute("SELECT state FROM threads WHERE id = ?", (thread_id,)).fetchone()
        return str(row["state"]) if row else None

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

    def posted_parts(self, account: str, since: datetime) -> list[PartRow]:
        """The account's parts posted since ``since``."""
        return [_part(r) for r in self.db.execute(
            "SELECT * FROM parts WHERE account = ? AND state = 'posted' AND posted_at >= ?", (account, iso(since)))]

    def unsent_parts(self, account: str, since: datetime | None = None, until: datetime | None = None,
                     started_only: bool = False, exclude_thread: int | None = None) -> list[PartRow]:
        """The account's parts not posted yet, of threads that will post them (queued, posting, held,
        needs_attention): all, those due in [since, until), or only of threads already under way."""
        sql = ("SELECT parts.* FROM parts JOIN threads ON threads.id = parts.thread_id WHERE parts.account = ? "
               "AND parts.state != 'posted' AND threads.state IN ('queued', 'posting', 'held', 'needs_attention') "
               "AND threads.id != ?")
        params: list[Any] = [account, exclude_thread or 0]
        if since is not None and until is not None:
            sql += " AND threads.due_at >= ? AND threads.due_at < ?"
            params += [iso(since), iso(until)]
        if started_only:
            sql += (" AND EXISTS (SELECT 1 FROM parts AS sent WHERE sent.thread_id = threads.id "
                    "AND sent.state != 'pending')")
        return [_part(r) for r in self.db.execute(sql, params)]

    # -- the scheduler's memory ----------------------------------------------------------------------------

    def watched_since(self, campaign: str, now: datetime) -> datetime:
        """When the scheduler first saw this campaign (slots before that are never caught up)."""
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO watched (campaign, since) VALUES (?, ?)", (campaign, iso(now)))
            row = self.db.execute("SELECT since FROM watched WHERE campaign = ?", (campaign,)).fetchone()
        return datetime.fromisoformat(row["since"])

    def seen_disabled(self, campaign: str, now: datetime) -> None:
        """The campaign is disabled (enabled = false) now: remember since when, once."""
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO watched (campaign, since) VALUES (?, ?)", (campaign, iso(now)))
            self.db.execute("UPDATE watched SET disabled_since = ? WHERE campaign = ? AND disabled_since IS NULL",
                            (iso(now), campaign))

    def seen_enabled(self, campaign: str, now: datetime) -> datetime | None:
        """The campaign is enabled now: if it was seen disabled, it is watched afresh from now (its slots that
        fell meanwhile are never caught up); returns since when it was disabled, or None."""
        with self.transaction():
            row = self.db.execute("SELECT disabled_since FROM watched WHERE campaign = ?", (campaign,)).fetchone()
            if row is None or row["disabled_since"] is None:
                return None
            self.db.execute("UPDATE watched SET since = ?, disabled_since = NULL WHERE campaign = ?",
                            (iso(now), campaign))
        return datetime.fromisoformat(row["disabled_since"])

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
                            (iso(self.now()), level, redact(message)))

    def events(self, levels: tuple[str, ...] = ("error", "warning"), limit: int = 10) -> list[dict[str, Any]]:
        marks = ",".join("?" for _ in levels)
        return [dict(r) for r in self.db.execute(
            f"SELECT * FROM events WHERE level IN ({marks}) ORDER BY id DESC LIMIT ?", (*levels, limit))]

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

    def first_login_last_day(self, account: str) -> datetime | None:
        """The oldest login of the last 24 hours: when it leaves the window, another login is allowed."""
        from datetime import timedelta

        since = iso(self.now() - timedelta(days=1))
        row = self.db.execute("SELECT MIN(at) FROM logins WHERE account = ? AND at > ?", (account, since)).fetchone()
        return parse_time(row[0])

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
