"""What is wrong with a store, said once: an SQLite or file error, a store file misplaced, foreign or damaged,
each as one line naming the file and the fix (``StoreUnusable``); and which store files this process has open,
so that one open here is never read raw (that would drop SQLite's locks on it).

``publisher doctor`` reads a store through ``inspect_store``; ``Store.open`` refuses what ``path_problem`` and
``opened_here`` find, and every query runs inside ``store_errors``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from publisher.errors import ExitStatus, PublisherError, StoreBusy, display_path
from publisher.migrations import MIGRATIONS


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


def opened_here(path: Path) -> tuple[int, int]:
    """Count the store file at ``path`` as open in this process, after refusing a file that is not a publisher
    store (checked when it is first opened here: reading it raw later would not be safe). Returns its id, for
    ``closed_here``."""
    try:
        file = _file_id(path)
    except OSError as exc:
        raise store_problem(path, exc) from exc
    with _OPEN_HERE_LOCK:
        if not _OPEN_HERE.get(file):
            _refuse_foreign(path)
        _OPEN_HERE[file] = _OPEN_HERE.get(file, 0) + 1
    return file


def closed_here(file: tuple[int, int]) -> None:
    """The store file ``opened_here`` returned ``file`` for is closed again (once)."""
    with _OPEN_HERE_LOCK:
        left = _OPEN_HERE.get(file, 1) - 1
        if left > 0:
            _OPEN_HERE[file] = left
        else:
            _OPEN_HERE.pop(file, None)


def _file_id(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino


def inspect_store(path: Path) -> str:
    """What a healthy store holds (``schema 4, 12 threads``), read only and changing nothing; raises the store
    error that says what is wrong with an unhealthy one (``publisher doctor``)."""
    misplaced = path_problem(path)
    if misplaced:
        raise misplaced
    _refuse_foreign(path)
    with store_errors(path):
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
    """SQLite errors in a block of store work, however deep, as one line naming the store and the fix."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise  # a bug, not something the user can fix
    except sqlite3.DatabaseError as exc:
        raise store_problem(path, exc) from exc
