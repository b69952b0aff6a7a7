"""Rendering many cards to files, on every core, with progress; each file written whole or not at all."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.assets import Assets
from publisher.errors import BadArgument, ExitStatus, PublisherError
from publisher.faults import checkpoint
from publisher.fileio import refuse_foreign, write_atomically
from publisher.quotes import Collection
from publisher.render.card import CardRenderer, RenderedCard
from publisher.themes import Theme

PARALLEL_FROM = 8  # below this many cards, starting a second process costs more than it saves
AHEAD_PER_WORKER = 4  # jobs handed out ahead of the cards written, per worker


class CardFailed(PublisherError):
    """One card that could not be made, and why (keeps the quote and format for whoever collects them)."""

    def __init__(self, quote_id: str, format_name: str, reason: str, exit_status: ExitStatus):
        super().__init__(quote_id, format_name, reason, exit_status)  # plain args: it crosses processes
        self.quote_id, self.format_name, self.reason = quote_id, format_name, reason
        self.exit_status = exit_status

    def __str__(self) -> str:
        return self.reason if f'"{self.quote_id}"' in self.reason else f'quote "{self.quote_id}": {self.reason}'


@dataclass(frozen=True)
class CardLayout:
    """How one written card was set: what ``publisher render --json`` reports (docs/json.md)."""

    file: Path
    quote_id: str
    format: str
    width: int
    height: int
    text_px: int
    lines: list[str]
    line_widths: list[float]
    rules_broken: int
    attribution_px: int
    attribution_lines: list[str]

    @classmethod
    def of(cls, card: RenderedCard, file: Path) -> CardLayout:
        return cls(file, card.quote_id, card.format, card.width, card.height, card.quote_size, card.lines,
                   card.line_widths, card.rules_broken, card.attribution_size, card.attribution_lines)


@dataclass
class RenderReport:
    written: list[Path] = field(default_factory=list)
    failures: list[CardFailed] = field(default_factory=list)
    layouts: list[CardLayout] = field(default_factory=list)
    theme: str = ""


def _is_png(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(8) == b"\x89PNG\r\n\x1a\n"


def guard_card_files(out_dir: Path, quote_id: str, format_name: str, force: bool) -> None:
    """Refuse (``BadArgument``) to write a card over files that are not an earlier card and its alt text."""
    png, alt = card_files(out_dir, quote_id, format_name)
    fix = "choose another folder with -o"
    refuse_foreign(png, "a card", _is_png, force, fix)
    refuse_foreign(alt, "a card's alt text", lambda _: png.is_file() and _is_png(png), force, fix)


def card_files(out_dir: Path, quote_id: str, format_name: str) -> tuple[Path, Path]:
    """Where a card and its alt text are written: QUOTE-FORMAT.png and QUOTE-FORMAT.txt."""
    stem = f"{quote_id}-{format_name}"
    return out_dir / f"{stem}.png", out_dir / f"{stem}.txt"


@dataclass(frozen=True)
class MadeCard:
    """One card as a worker hands it back: its PNG, alt text, layout and (for a contact sheet) thumbnail."""

    png: bytes
    alt: str
    layout: CardLayout
    thumbnail: tuple[bytes, tuple[int, int]] | None = None


@dataclass
class _Worker:
    renderer: CardRenderer
    collection: Collection
    thumbnail_width: int | None = None


_workers: list[_Worker] = []  # this process's one worker state; set by _start_worker in each process


def _start_worker(theme: Theme, assets: Assets, collection: Collection, thumbnail_width: int | None = None,
                  in_pool: bool = False) -> None:
    if in_pool:  # the parent decides when a batch stops (Ctrl-C, SIGTERM) and ends its workers itself
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _workers[:] = [_Worker(CardRenderer(theme, assets), collection, thumbnail_width)]


def _render_job(job: tuple[str, str]) -> MadeCard | CardFailed:
    worker = _workers[0]
    quote = worker.collection.quote(job[0])
    assert quote is not None
    try:
        card = worker.renderer.render(worker.collection, quote, job[1], thumbnail_width=worker.thumbnail_width)
    except PublisherError as exc:
        return CardFailed(job[0], job[1], str(exc), exc.exit_status)
    return MadeCard(card.png, card.alt, CardLayout.of(card, Path()), card.thumbnail)


# How this thread starts render workers: None is multiprocessing's default (fork on Linux: fast, the parent's fonts
# come along), which a threaded server must not use: a fork copies other threads' locks as they are at that moment.
START_METHOD: ContextVar[str | None] = ContextVar("render_workers_start_method", default=None)


@contextlib.contextmanager
def workers_started_by(method: str) -> Iterator[None]:
    """Render workers started in this block, in this thread, use ``method`` ("forkserver" or "spawn")."""
    token = START_METHOD.set(method)
    try:
        yield
    finally:
        START_METHOD.reset(token)


NO_ANSWER_AFTER = 120.0  # seconds without a card from any worker: something is wrong, fail rather than hang
WORKERS_ENV = "PUBLISHER_WORKERS"  # how many processes render a batch (default: one per core, at most eight)


def _workers_wanted() -> int | None:
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 64:
        raise BadArgument(f"{WORKERS_ENV}={value!r} is not a number of processes from 1 to 64 (unset it for one "
                          "per core)")
    return int(value)


def render_cards(collection: Collection, theme: Theme, assets: Assets, jobs: Sequence[tuple[str, str]],
                 workers: int | None = None, thumbnail_width: int | None = None) -> Iterator[MadeCard | CardFailed]:
    """Every (quote id, format) job rendered, on every core, handed back in the order of ``jobs`` as it is
    made, so the caller can write each card away at once (memory stays flat however many there are). A card
    that cannot be made comes back as ``CardFailed``; the rest go on. Stopping early (an error, Ctrl-C, SIGTERM)
    ends the workers at once."""
    workers = workers or _workers_wanted() or (min(os.cpu_count() or 1, 8) if len(jobs) >= PARALLEL_FROM else 1)
    # The first card is rendered here: it loads fonts and glyph maps that forked workers then inherit.
    _start_worker(theme, assets, collection, thumbnail_width)
    if workers <= 1 or len(jobs) < 2:
        for job in jobs:
            yield _render_job(job)
        return
    wanted = {quote_id for quote_id, _ in jobs}
    _workers[0].renderer.warm([q for q in collection.quotes if q.id in wanted], collection.collection.language)
    yield _render_job(jobs[0])
    with _WorkerProcesses(min(workers, len(jobs) - 1), (theme, assets, collection, thumbnail_width)) as pool:
        yield from pool.run(jobs[1:])


def _serve_jobs(connection: Any, initargs: tuple[Any, ...]) -> None:
    """A worker process: render each job sent until the parent closes its end (or sends None)."""
    # The parent decides when a batch stops and kills its workers itself: a signal sent to the whole process
    # group (a service manager, Ctrl-C) must not kill one halfway through answering.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import faulthandler
    import sys

    if sys.__stderr__ is not None:  # the process's own standard error, even where sys.stderr is no file
        with contextlib.suppress(AttributeError, ValueError, OSError):
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)  # where it is, if asked
    _start_worker(*initargs)
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        index, work = job
        try:
            connection.send((index, _render_job(work)))
        except OSError:  # the parent stopped the batch meanwhile (a failed card, a signal): nothing to say
            return


class _WorkerProcesses:
    """Render workers, each with its own pipe: nothing is shared between processes (no lock a killed process
    could leave held), so stopping is always just killing them. Jobs go out a few ahead per worker; results come
    back in job order."""

    def __init__(self, count: int, initargs: tuple[Any, ...]):
        import multiprocessing

        context: Any = multiprocessing.get_context(START_METHOD.get())
        if context.get_start_method() == "forkserver":  # its server imports the renderer once, for every worker
            context.set_forkserver_preload([__name__])
        self.connections: list[Any] = []
        self.processes: list[Any] = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve_jobs, args=(theirs, initargs), daemon=True)
            process.start()
            theirs.close()
            self.connections.append(ours)
            self.processes.append(process)

    def __enter__(self) -> _WorkerProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        for connection in self.connections:
            if exc[0] is None:  # done: say so (a later worker holds a copy of this pipe's end, so no EOF comes)
                with contextlib.suppress(OSError):
                    connection.send(None)
            connection.close()
        for process in self.processes:
            process.join(timeout=0 if exc[0] else 5)
            if process.is_alive():
                process.kill()
                process.join()

    def run(self, jobs: Sequence[tuple[str, str]]) -> Iterator[MadeCard | CardFailed]:
        from multiprocessing.connection import wait

        made: dict[int, MadeCard | CardFailed] = {}
        owner: dict[Any, Any] = {c: p for c, p in zip(self.connections, self.processes, strict=True)}

        def answers() -> list[tuple[Any, int]]:
            ready_now = wait(list(owner), timeout=NO_ANSWER_AFTER)
            if not ready_now:
                self._no_answer()
            answered = []
            for ready in ready_now:
                answer: Any = ready
                try:
                    index, result = answer.recv()
                except (EOFError, OSError):
                    process = owner[answer]
                    process.join(timeout=1)
                    raise RuntimeError(f"a render worker stopped unexpectedly (exit code {process.exitcode})") \
                        from None
                made[index] = result
                answered.append((answer, index))
            return answered

        def send(connection: Any, index: int) -> None:
            connection.send((index, jobs[index]))

        for index in dispatch(len(jobs), self.connections, send, answers):
            yield made.pop(index)

    def _no_answer(self) -> None:
        alive = [p for p in self.processes if p.exitcode is None]
        for process in alive:  # each prints where it is stuck to standard error
            with contextlib.suppress(OSError, ValueError):
                os.kill(process.pid, signal.SIGUSR1)
        if alive:
            time.sleep(1)  # for the stacks to be written before the workers are killed
        states = ", ".join(f"pid {p.pid} {'alive' if p.exitcode is None else f'exited {p.exitcode}'}"
                           for p in self.processes)
        raise RuntimeError(f"the render workers gave no card for {NO_ANSWER_AFTER:.0f} s ({states})")


def dispatch(jobs: int, workers: Sequence[Any], send: Callable[[Any, int], None],
             answers: Callable[[], list[tuple[Any, int]]], ahead: int = AHEAD_PER_WORKER) -> Iterator[int]:
    """Hand out jobs 0..jobs-1 to workers and yield each job's index once it and every earlier one are answered.
    Jobs go out in order, each worker topped up to ``ahead`` jobs while the jobs sent and not yet yielded are
    fewer than ``ahead`` per worker (so cards waiting for an earlier one stay few). ``answers()`` waits for at
    least one answer and says which worker answered which job.

    The workers are topped up before every wait: topped up only when one answered, a full window whose oldest job
    came back last emptied with nothing sent, and the batch waited for ever (tests/test_render.py drives this with
    every order of answers hypothesis finds)."""
    sent = handed = 0
    answered: set[int] = set()

    def top_up(to: Sequence[Any]) -> None:
        nonlocal sent
        for worker in to:
            if sent < jobs and sent - handed < ahead * len(workers):
                send(worker, sent)
                sent += 1

    for _ in range(ahead):
        top_up(workers)
    while handed < jobs:
        while handed in answered:
            answered.discard(handed)
            yield handed
            handed += 1
        if handed == jobs:
            break
        top_up(workers)
        if sent == handed + len(answered):  # nothing on its way: waiting would be for ever
            raise RuntimeError(f"render batch: no job in flight with {jobs - handed} to go (a bug in publisher)")
        for worker, index in answers():
            answered.add(index)
            top_up([worker])


def render_to_files(collection: Collection, theme: Theme, assets: Assets, quote_ids: Sequence[str],
                    formats: Sequence[str], out_dir: Path, workers: int | None = None,
                    progress: Callable[[int], None] | None = None) -> RenderReport:
    """Render every (quote, format) pair into ``out_dir`` (QUOTE-FORMAT.png and its alt text, each written whole
    or not at all); failures are collected, not fatal to the rest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = RenderReport(theme=theme.name)
    jobs = [(quote_id, fmt) for quote_id in quote_ids for fmt in formats]
    for result in render_cards(collection, theme, assets, jobs, workers):
        if isinstance(result, MadeCard):
            png_path, alt_path = card_files(out_dir, result.layout.quote_id, result.layout.format)
            write_atomically(png_path, result.png)
            write_atomically(alt_path, (result.alt + "\n").encode("utf-8"))
            checkpoint("render:written")  # a test may stop the command here, between two whole cards
            report.written.append(png_path)
            report.layouts.append(dataclasses.replace(result.layout, file=png_path))
        else:
            report.failures.append(result)
        if progress:
            progress(1)
    return report
