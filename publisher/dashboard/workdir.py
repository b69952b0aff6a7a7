"""Each dashboard process's own work folder, ``<state>/dashboard/serve-XXXX/`` (0700): its packs, its previews and
the owner-only file the browser is opened on.

Only the project's files: a folder below ``<state>/`` that is a symbolic link is refused, never followed (``state/``
itself may be a link an admin set up), and a name from a request is one plain name, never a path. Two dashboards
on one project never touch each other's folder: a folder is in use while its process holds the lock on its
``.in-use`` file, and only a folder nobody holds is removed; a pack is removed once it is ``PACK_KEEP`` old.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from publisher.errors import ExitStatus, NotFound, PublisherError, display_path

PACK_KEEP = 24 * 3600  # seconds a pack can be downloaded; then it is removed
FRESH = 60  # seconds a folder nobody holds is left alone (its process may be between making and locking it)
IN_USE = ".in-use"
FORWARD = "open.html"
SERVE_FOLDER = re.compile(r"serve-[a-z0-9_]{8,}")
LEGACY = ("packs", "preview")  # shared folders of earlier versions, which every start cleared


class UnsafeFolder(PublisherError):
    """A folder the dashboard writes in is a symbolic link (or not a folder): it is refused, never followed."""

    exit_status = ExitStatus.FILE


def plain_name(name: str) -> bool:
    """One path component a request may name: no separators, no dot-only names, nothing unprintable."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and name.isprintable()


def real_folder(path: Path, make: bool = True) -> Path:
    """``path`` when it is a folder and not a link (made, 0700, when missing and ``make``); else UnsafeFolder."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not make:
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        raise UnsafeFolder(f"{display_path(path)} is a symbolic link: the dashboard writes only in its own folders "
                           "under the state folder, and never follows a link there (remove the link)")
    if not stat.S_ISDIR(mode):
        raise UnsafeFolder(f"{display_path(path)} is not a folder: the dashboard needs it for its work files "
                           "(move it away)")
    return path


class WorkFolder:
    """This process's folder under ``<state>/dashboard/``, held (locked) until ``close``."""

    def __init__(self, state_dir: Path):
        state_dir = Path(os.path.abspath(state_dir))  # absolute, its links kept: the browser is sent a file URL
        state_dir.mkdir(parents=True, exist_ok=True)  # it may be a link an admin set up: the folders below may not
        self.parent = real_folder(state_dir / "dashboard")
        self.path = Path(tempfile.mkdtemp(prefix="serve-", dir=self.parent))  # a new name, 0700: never a link
        self._lock = os.open(self.path / IN_USE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        clear_abandoned(self.parent)

    def folder(self, *names: str) -> Path:
        """A folder below this one (made when missing), each name plain and none of them a link."""
        path = real_folder(self.path, make=False)
        for name in names:
            if not plain_name(name):
                raise NotFound(f'"{name[:40]}" is not a name the dashboard uses')
            path = real_folder(path / name)
        return path

    def file(self, folder: Path, relative: str) -> Path:
        """The regular file at ``relative`` (``cards/x.png``) inside ``folder``, reached without following a link;
        NotFound otherwise."""
        path = folder
        parts = relative.split("/")
        for index, name in enumerate(parts):
            if not plain_name(name):
                raise NotFound("no such file")
            path = path / name
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                raise NotFound("no such file") from None
            last = index == len(parts) - 1
            if not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):  # a link is neither
                raise NotFound("no such file")
        return path

    def forward(self, url: str) -> Path:
        """An owner-only page that sends the browser on to ``url`` (which holds a one-time code): the browser is
        opened on this file, so the code never appears on a command line other users can read."""
        path = self.path / FORWARD
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        link = html.escape(url, quote=True)
        with os.fdopen(fd, "w", encoding="utf-8") as page:
            page.write('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>publisher</title>'
                       f'<meta http-equiv="refresh" content="0; url={link}"></head>'
                       f'<body><p><a href="{link}">Open the dashboard</a></p></body></html>\n')
        return path

    def forget_forward(self) -> None:
        """The browser has come: its way in is not left lying around."""
        with contextlib.suppress(FileNotFoundError):
            (self.path / FORWARD).unlink()

    def clear_old_packs(self, now: float | None = None) -> None:
        """Remove this process's packs older than PACK_KEEP."""
        moment = time.time() if now is None else now
        packs = self.path / "packs"
        if not packs.is_dir() or packs.is_symlink():
            return
        for job in packs.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if job.is_dir() and not job.is_symlink() and moment - job.stat().st_mtime > PACK_KEEP:
                    shutil.rmtree(job, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def clear_abandoned(parent: Path, now: float | None = None) -> list[str]:
    """Remove the work folders of dashboards that have stopped (nobody holds their lock), and the shared folders
    of earlier versions; the names removed."""
    moment = time.time() if now is None else now
    removed = []
    for entry in parent.iterdir():
        try:
            info = os.lstat(entry)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(info.st_mode) or moment - info.st_mtime < FRESH:
            continue
        if entry.name in LEGACY or (SERVE_FOLDER.fullmatch(entry.name) and not _held(entry)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _held(folder: Path) -> bool:
    """Whether a running dashboard holds ``folder`` (its lock file is locked)."""
    try:
        fd = os.open(folder / IN_USE, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # a link or unreadable: not ours to judge, so left alone
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
