"""One posting process per store: an exclusive lock on a file beside it, released when the process ends
(even by SIGKILL), holding who took it and when, so a second daemon refuses instead of double-posting."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.errors import StoreBusy, display_path


class StoreLock:
    def __init__(self, store_path: Path):
        self.path = store_path.with_suffix(".lock")
        self.store_path = store_path
        self._fd: int | None = None

    def acquire(self, command: str) -> None:
        from publisher.store import path_problem, store_problem

        misplaced = path_problem(self.store_path)
        if misplaced:
            raise misplaced
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise store_problem(self.path, exc) from exc  # the lock file, beside the store, is what failed
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.holder() or {}
            who = (f"{holder.get('command', 'publisher')} (pid {holder.get('pid', '?')}, "
                   f"since {holder.get('since', '?')})")
            wait = ("wait for it to finish" if holder.get("command", "").startswith("publisher post")
                    or "--once" in holder.get("command", "") else "stop it first")
            raise StoreBusy(f"{who} is already posting from {display_path(self.store_path)} ({wait}; "
                            "publisher status shows it)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds"),
                                 "command": command}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock, or None when nobody does."""
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    info: dict[str, Any] = json.loads(self.path.read_text() or "{}")
                except ValueError:
                    info = {}
                return info
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
