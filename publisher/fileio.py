"""Writing files so that a reader never sees half of one, and nothing is lost: the one helper every writer uses.

A new file is written beside its target under a temporary name and renamed over it at the end (or removed, on an
error or Ctrl-C). The target keeps its mode (a collection you made 0644 stays 0644); a new file gets the usual
mode from the umask, or 0600 when it holds something private. A symlink is written through, not replaced. Only
regular files are ever replaced: never a folder, a device or a pipe.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from publisher.errors import BadArgument, display_path


@cache
def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _mode_for(target: Path, private: bool) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o600 if private else 0o666 & ~_umask()


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_unless_regular(path: Path) -> None:
    """Raise ``BadArgument`` when ``path`` exists and is not a regular file (which no writer may replace)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISREG(mode):
        raise BadArgument(f"{display_path(path)} is {_kind_of(mode)}, not a file: publisher only ever replaces "
                          "files (give another path)")


def refuse_unless_folder(path: Path, option: str = "-o ") -> None:
    """Raise ``BadArgument`` when ``path`` exists and is not a folder (an output folder cannot be made there)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        if path.is_symlink():
            raise BadArgument(f"{option}{display_path(path)} is a link to {os.readlink(path)}, which is not there: "
                              "give a folder") from None
        return
    if not stat.S_ISDIR(mode):
        what = "a file" if stat.S_ISREG(mode) else _kind_of(mode)
        raise BadArgument(f"{option}{display_path(path)} is {what}, not a folder: give a folder")


def refuse_foreign(path: Path, kind: str, is_ours: Callable[[Path], bool], force: bool, fix: str) -> None:
    """Raise ``BadArgument`` unless ``path`` is free, or a file of publisher's own ``kind`` (or ``force``).

    ``fix`` says where else to write, e.g. "choose another folder with -o"."""
    refuse_unless_regular(path)
    if force or not path.exists() or is_ours(path):
        return
    raise BadArgument(f"{display_path(path)} exists and is not {kind}: publisher will not replace it ({fix}, or "
                      "--force to replace it)")


@contextmanager
def replacing(path: Path, private: bool = False) -> Iterator[Path]:
    """A temporary file to write in place of ``path``: renamed over it when the block ends, removed if the
    block fails. ``private``: a new file is created 0600. An error names ``path``, never the temporary file."""
    target = path.resolve() if path.is_symlink() else path
    refuse_unless_regular(target)
    if target != path and not target.parent.is_dir():
        raise BadArgument(f"{display_path(path)} is a link to {os.readlink(path)}, whose folder is not there: "
                          "give another path, or make that folder")
    if target.exists() and not os.access(target, os.W_OK):
        raise PermissionError(errno.EACCES, "it is read-only", str(path))
    # Ctrl-C or SIGTERM (raised by their handlers between any two steps) must not land between creating the
    # temporary file and the block that removes it: they wait, blocked, until it is in place.
    stops = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    blocked, temp = True, None
    try:
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(handle)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        blocked = False
        yield Path(temp)
        os.chmod(temp, _mode_for(target, private))  # after writing: a read-only mode must not stop our own write
        os.replace(temp, target)
    except OSError as exc:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        if temp is None or exc.filename in (None, temp):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        raise
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_atomically(path: Path, data: bytes, private: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step (see ``replacing``)."""
    with replacing(path, private) as temp:
        temp.write_bytes(data)


def file_stamp(path: Path) -> tuple[int, int] | None:
    """When a file was last changed, and its size: enough to notice an edit (None if it cannot be read)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size
