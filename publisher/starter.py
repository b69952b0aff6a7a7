"""``publisher init``: a new project folder from one of the examples bundled with publisher, never overwriting."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from publisher.assets import bundled_dir
from publisher.errors import ExitStatus, PublisherError, display_path

EXAMPLES = {
    "caseyreview": "the Casey Review collection: 20 quotes on the Metropolitan Police",
    "blank": "one quote to replace with your own",
}

# What publisher writes in a project and git should not keep: the queue and its lock (state/), outputs.
GITIGNORE = """\
# publisher: the queue database and daemon lock, then what commands write (see publisher help cli)
/state/
/outbox/
/preview/
/cards/
*-pack.zip
"""


class NothingCreated(PublisherError):
    exit_status = ExitStatus.NOTHING_CREATED


class PartlyStarted(PublisherError):
    """A file could not be written after others were: the message names both, so nothing is left unsaid."""

    exit_status = ExitStatus.FILE


@dataclass
class Started:
    folder: Path
    example: str
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def example_files(example: str) -> list[tuple[Path, bytes]]:
    """The files ``init`` writes for an example, as (path relative to the project, content)."""
    source = bundled_dir() / "examples" / example
    found = sorted((p for p in source.rglob("*") if p.is_file()), key=lambda p: (len(p.parts), p))  # top first
    files = [(path.relative_to(source), path.read_bytes()) for path in found]
    return [*files, (Path(".gitignore"), GITIGNORE.encode())]


def start_project(folder: Path, example: str) -> Started:
    """Write the example's files into ``folder`` (created if missing); a file already there is left alone.
    Raises NothingCreated when every file was already there."""
    started = Started(folder, example)
    for relative, data in example_files(example):
        target = folder / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            created = _create(target, data)
        except OSError as exc:
            if not started.created:
                raise
            where = display_path(Path(exc.filename)) if exc.filename else display_path(target)
            made = ", ".join(p.as_posix() for p in started.created)
            raise PartlyStarted(f"{where}: {exc.strerror or exc} (fix that and run publisher init again: it keeps "
                                f"what it made before, {made})") from exc
        (started.created if created else started.kept).append(relative)
    if not started.created:
        names = ", ".join(p.as_posix() for p in started.kept)
        raise NothingCreated(f"{display_path(folder) if folder != Path('.') else 'this folder'} already has every "
                             f"file publisher init writes ({names}): nothing was changed (run publisher validate "
                             "there, or give init another folder)")
    return started


def _create(path: Path, data: bytes) -> bool:
    """Write a new file; False when something (a file, a link, even a dangling one) already has its name."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # exclusive: never replaces, even racing
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()  # ours, and cut short: leave nothing half-written
        raise
    return True
