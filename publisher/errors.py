"""The project's own exceptions and exit statuses.

Library code raises these; only the CLI (``publisher.cli``) turns them into messages and exit statuses.

    PublisherError
    ├── ConfigError          one or more Problems in a file the user wrote (schedule, collection, theme, import)
    ├── NotFound             a named collection, quote, campaign or account does not exist
    ├── BadArgument          a command-line value that cannot be used (a time in the past, a full slot, ...)
    ├── TextDoesNotFit       a quote needs type below the theme's minimum on some format (render.card)
    ├── MissingGlyph         no bundled font can draw a character (render.fonts)
    ├── BrokenFont           a font file cannot be read: cut short, damaged, or not a font (render.fonts)
    ├── TextShapingUnavailable  Pillow lacks libraqm/FriBiDi (render)
    ├── BatchFailed          some items of a batch failed (the rest were done), one line each
    ├── PlatformError        a platform call failed; adapters map every SDK error to one of these
    │   ├── RateLimited      wait until retry_at, then try again (not a failure)
    │   ├── AuthError        the credentials were refused
    │   ├── Rejected         the platform refused this post (reason, and the fix when known)
    │   ├── Transient        it did not go through (network, 5xx before sending); safe to retry later
    │   └── OutcomeUnknown   it may or may not have been posted (timeout after sending): reconcile first
    │       └── NotYetVisible  not found, but sent too recently to show yet (X): look again at retry_at
    ├── MissingCredentials   an environment variable an account needs is not set
    ├── StoreBusy            another publisher process holds the store's lock
    ├── StoreUnusable        the store is damaged, read-only, on a full disk or too new (store)
    ├── NothingToQueue       a campaign has no quote left to queue (ran out), or none out of its cooldown
    ├── WrongState           a thread's state does not allow what was asked (cancel a posted thread, ...)
    │   └── Conflict         it changed since it was shown (an approval of a stale revision)
    ├── Interrupted          the user pressed Ctrl-C
    └── Terminated           SIGTERM: stopped after the part in flight

Errors that belong to one step are defined beside it and derive from these: ``compose.TooLongToSplit``,
``render.TextShapingUnavailable``, ``render.fonts.MissingGlyph`` and ``BrokenFont``, ``render.card.TextDoesNotFit`` and
``CardTooLarge``, ``render.batch.CardFailed``, ``cli.posting.PostingIncomplete``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from publisher.redact import redact


class ExitStatus(enum.IntEnum):
    """Exit statuses of the ``publisher`` command; documented in docs/cli.md."""

    OK = 0
    ERROR = 1  # an unexpected failure: a bug, reported with --debug for the traceback
    USAGE = 2  # wrong command-line arguments
    CONFIG = 3  # a file the user wrote is invalid, or names something that does not exist
    NETWORK = 4  # a platform could not be reached
    RATE_LIMITED = 5  # a platform asked us to wait
    AUTH = 6  # a platform refused the credentials
    PARTIAL_THREAD = 7  # some parts of a thread are live and the rest need attention
    ENVIRONMENT = 8  # this machine lacks something publisher needs (a system library)
    BUSY = 9  # another publisher process (the daemon) is posting from the same store
    NOTHING_TO_QUEUE = 10  # the campaign has run out of quotes, or every quote is in its cooldown
    WRONG_STATE = 11  # the thread's state does not allow the change (e.g. cancel a posted thread)
    OVER_BUDGET = 12  # a thread was held because it would take an X account over x_monthly_budget
    FILE = 13  # a file or folder cannot be read or written (missing, permissions, disk full, name too long)
    STORE = 14  # the store cannot be used: damaged, not a store, read-only, disk full, or from a newer publisher
    NO_CREDENTIALS = 15  # an account's secret is not set in the environment
    NOTHING_CREATED = 16  # publisher init found every file it writes already there, and changed nothing
    CHECK_FAILED = 17  # publisher doctor found something to fix (each failed check says what)
    UNVERIFIED = 18  # publisher verify: a quote that names a source is not verified in it (differs, not found)
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM: stopped after the part in flight


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when inside it."""
    try:  # as written first (a link keeps its own name), then with links resolved on both sides
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except (ValueError, OSError):
        pass
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError, OSError):  # outside it, a symlink loop, or no working directory
        return str(path)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file, located as precisely as we can, with the fix when we know it."""

    path: Path
    message: str
    line: int | None = None
    key: str | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = display_path(self.path) + (f":{self.line}" if self.line else "")
        what = f"{self.key}: {self.message}" if self.key else self.message
        return f"{where}: {what}" + (f" ({self.fix})" if self.fix else "")


class PublisherError(Exception):
    """Base of every error the CLI presents without a traceback."""

    exit_status = ExitStatus.ERROR

    def lines(self) -> list[str]:
        fix = getattr(self, "fix", None)
        return [str(self) + (f" ({fix})" if fix else "")]


class ConfigError(PublisherError):
    """A file the user wrote has problems; carries all of them, not just the first."""

    exit_status = ExitStatus.CONFIG

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class NotFound(PublisherError):
    """A named thing (collection, quote, campaign, account) does not exist."""

    exit_status = ExitStatus.CONFIG


class BadArgument(PublisherError):
    """A value given on the command line that cannot be used; the message says what to give instead."""

    exit_status = ExitStatus.USAGE


class BatchFailed(PublisherError):
    """Some items of a batch failed (the rest were done); one line each, with the first one's exit status."""

    def __init__(self, failures: Sequence[PublisherError]):
        super().__init__(f"{len(failures)} failed")
        self.failures = list(failures)
        self.exit_status = failures[0].exit_status

    def lines(self) -> list[str]:
        return [line for failure in self.failures for line in failure.lines()]


class PlatformError(PublisherError):
    exit_status = ExitStatus.NETWORK

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(redact(message))  # it may quote what a server sent back
        self.fix = redact(fix) if fix else fix


class RateLimited(PlatformError):
    exit_status = ExitStatus.RATE_LIMITED

    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message, f"publisher waits and tries again after {retry_at:%H:%M:%S} UTC")
        self.retry_at = retry_at


class AuthError(PlatformError):
    exit_status = ExitStatus.AUTH


class Rejected(PlatformError):
    exit_status = ExitStatus.PARTIAL_THREAD


class DuplicateContent(Rejected):
    """X refuses a post identical to one already there: evidence the earlier attempt may have landed."""


class Transient(PlatformError):
    pass


class OutcomeUnknown(PlatformError):
    exit_status = ExitStatus.PARTIAL_THREAD


class NotYetVisible(OutcomeUnknown):
    """A post looked for is not there, but it was sent too recently for the platform to show it yet: not finding
    it proves nothing until ``retry_at``, when it is looked for again."""

    def __init__(self, message: str, retry_at: datetime):
        super().__init__(message, f"publisher looks for it again after {retry_at:%H:%M:%S} UTC")
        self.retry_at = retry_at


class MissingCredentials(PublisherError):
    """An account's secret is not in the environment; ``fix`` says which variable to set."""

    exit_status = ExitStatus.NO_CREDENTIALS

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


class StoreBusy(PublisherError):
    exit_status = ExitStatus.BUSY


class NothingToQueue(PublisherError):
    """The campaign cannot queue another thread: every quote has been queued (sequential, shuffle), or every
    quote is in its cooldown (evergreen)."""

    exit_status = ExitStatus.NOTHING_TO_QUEUE


class WrongState(PublisherError):
    """A thread's state does not allow the change asked for."""

    exit_status = ExitStatus.WRONG_STATE


class Conflict(WrongState):
    """The thread changed since the person acting on it was shown it (a stale revision): the dashboard's 409."""


class Interrupted(PublisherError):
    exit_status = ExitStatus.INTERRUPTED


class Terminated(PublisherError):
    """SIGTERM (a service manager stopping publisher): the part in flight was finished, nothing more started."""

    exit_status = ExitStatus.TERMINATED
