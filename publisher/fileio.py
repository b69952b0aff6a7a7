"""Writing files so that a reader never sees half of one, and nothing is lost: the one helper every writer uses.

A new file is written beside its target under a temporary name and renamed over it at the end (or removed, on an
error or Ctrl-C). The target keeps its mode (a collection you made 0644 stays 0644); a new file gets the usual
mode from the umask, or 0600 when it holds something private. A symlink is written through, not replaced.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path


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


@contextmanager
def replacing(path: Path, private: bool = False) -> Iterator[Path]:
    """A temporary file to write in place of ``path``: renamed over it when the block ends, removed if the
    block fails. ``private``: a new file is created 0600."""
    target = path.resolve() if path.is_symlink() else path
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, _mode_for(target, private))
        os.close(handle)
        yield Path(temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes, private: bool = False) -> None:
    """Replace ``path`` with ``data`` in one step (see ``replacing``)."""
    with replacing(path, private) as temp:
        temp.write_bytes(data)
