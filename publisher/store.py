"""The store: one SQLite file holding the queue, every attempt, where each part landed, and Bluesky sessions.

``Store`` opens it (creating it private, refusing one that is not a publisher store, migrating an older one) and
is made of one part a job, each in its module:

- ``store_threads``: the queue's records (threads, parts, cards, quotes used, sign-offs, attempts);
- ``store_states``: the states of threads and parts, and the conditional writes that change them;
- ``store_scheduler``: the scheduler's memory (watched campaigns, slots handled, events);
- ``store_sessions``: Bluesky's sessions, logins and resolved handles, and what was learnt of servers;
- ``store_results``: readings of what posted parts achieved;
- ``store_base``: the connection and its transactions; ``store_problems``: what is wrong, in one line with the fix.

Only these modules touch SQLite (the schema itself is in ``migrations``). Never holds a password or API secret
(the Bluesky session tokens it saves are what lets us avoid logging in).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from publisher.errors import display_path
from publisher.migrations import MIGRATIONS
from publisher.store_base import iso, parse_time
from publisher.store_problems import (
    APPLICATION_ID,
    StoreTooNew,
    StoreUnusable,
    closed_here,
    inspect_store,
    opened_here,
    path_problem,
    store_errors,
    store_problem,
)
from publisher.store_results import FIGURES, PostedPart, Reading, ResultRecords
from publisher.store_scheduler import SchedulerMemory
from publisher.store_sessions import BlueskySessions
from publisher.store_states import ACTIVE, POSTABLE, SENT, THREAD_STATES, USES_QUOTES, ThreadStates
from publisher.store_threads import NewPart, PartRow, ThreadRecords, ThreadRow

# What ``from publisher.store import ...`` gives: the rest of publisher imports its parts' names here.
__all__ = ["ACTIVE", "APPLICATION_ID", "FIGURES", "POSTABLE", "SENT", "THREAD_STATES", "USES_QUOTES", "NewPart",
           "PartRow", "PostedPart", "Reading", "Store", "StoreTooNew", "StoreUnusable", "ThreadRow", "inspect_store",
           "iso", "parse_time", "path_problem", "store_errors", "store_problem"]


class Store(ThreadRecords, ThreadStates, SchedulerMemory, BlueskySessions, ResultRecords):
    """The queue database: ``with Store.open(path) as store:``. Every method is one transaction, or joins the
    one already open (``with store.transaction():`` around several calls makes them one)."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None, now: Callable[[], datetime]):
        super().__init__(connection, path, now)
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
        except OSError as exc:
            raise store_problem(path, exc) from exc
        file = opened_here(path)
        try:
            with store_errors(path):
                # One thread uses a connection at a time (the daemon's passes); it may close from another.
                connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
                store = cls(connection, path, now or (lambda: datetime.now(UTC)))
                try:
                    store._configure()
                except BaseException:
                    connection.close()
                    raise
        except BaseException:
            closed_here(file)
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
            closed_here(self._file)
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
        with store_errors(backup):
            target = sqlite3.connect(backup)
            try:
                self.db.backup(target)
            finally:
                target.close()
