"""What every part of the store stands on: its connection, with the transactions each of its methods runs in,
and how times are written in it (UTC, ISO 8601, to the microsecond).

``Store`` (``store``) opens the file; the parts of the store, one job each, build on ``StoreConnection``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from publisher.store_problems import store_errors


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class StoreConnection:
    """The store's connection and its transactions, in which each part of the store runs its SQL (``Store`` is
    one)."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None, now: Callable[[], datetime]):
        self.db = connection
        self.path = path
        self.now = now

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: the write lock is taken at once, so what is read inside it is
        still true when written). Inside another transaction it simply joins it."""
        if self.db.in_transaction:
            yield self.db
            return
        with store_errors(self.path):
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
        with store_errors(self.path):
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
