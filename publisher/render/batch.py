"""Rendering many cards to files, on every core, with progress; each file written whole or not at all."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from publisher.errors import ExitStatus, PublisherError
from publisher.fileio import refuse_foreign, write_atomically
from publisher.quotes import Collection
from publisher.render.card import CardRenderer, RenderedCard
from publisher.themes import Theme

PARALLEL_FROM = 8  # below this many cards, starting a second process costs more than it saves


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


@dataclass
class _Worker:
    renderer: CardRenderer
    collection: Collection
    out_dir: Path
    thumbnail_width: int | None = None


_workers: list[_Worker] = []  # this process's one worker state; set by _start_worker in each process


def _start_worker(theme: Theme, assets_dir: Path, collection: Collection, out_dir: Path,
                  thumbnail_width: int | None = None) -> None:
    _workers[:] = [_Worker(CardRenderer(theme, assets_dir), collection, out_dir, thumbnail_width)]


def _render_job(job: tuple[str, str]) -> CardLayout | CardFailed:
    renderer, collection, out_dir = _workers[0].renderer, _workers[0].collection, _workers[0].out_dir
    quote = collection.quote(job[0])
    assert quote is not None
    try:
        card = renderer.render(collection, quote, job[1])
    except PublisherError as exc:
        return CardFailed(job[0], job[1], str(exc), exc.exit_status)
    png_path, alt_path = card_files(out_dir, card.quote_id, card.format)
    write_atomically(png_path, card.png)
    write_atomically(alt_path, (card.alt + "\n").encode("utf-8"))
    width = _workers[0].thumbnail_width
    if width:  # made here, on the worker's core, while the card is still in memory
        from PIL import Image

        with Image.open(io.BytesIO(card.png)) as image:
            image.reduce(max(1, card.width // (width * 2))).resize(
                (width, round(card.height * width / card.width)), Image.Resampling.LANCZOS
            ).save(png_path.with_suffix(".thumb.png"), compress_level=1)
    return CardLayout.of(card, png_path)


def render_to_files(collection: Collection, theme: Theme, assets_dir: Path, quote_ids: Sequence[str],
                    formats: Sequence[str], out_dir: Path, workers: int | None = None,
                    progress: Callable[[int], None] | None = None,
                    thumbnail_width: int | None = None) -> RenderReport:
    """Render every (quote, format) pair into ``out_dir``; failures are collected, not fatal to the rest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(quote_id, fmt) for quote_id in quote_ids for fmt in formats]
    workers = workers or min(os.cpu_count() or 1, 2 if len(jobs) >= PARALLEL_FROM else 1)
    report = RenderReport(theme=theme.name)

    def collect(result: CardLayout | CardFailed) -> None:
        if isinstance(result, CardLayout):
            report.written.append(result.file)
            report.layouts.append(result)
        else:
            report.failures.append(result)
        if progress:
            progress(1)

    # The first card is rendered here: it loads fonts and glyph maps that forked workers then inherit.
    _start_worker(theme, assets_dir, collection, out_dir, thumbnail_width)
    if workers <= 1:
        for job in jobs:
            collect(_render_job(job))
    elif jobs:
        wanted = set(quote_ids)
        _workers[0].renderer.warm([q for q in collection.quotes if q.id in wanted], collection.collection.language)
        collect(_render_job(jobs[0]))
        rest = jobs[1:]
        with ProcessPoolExecutor(workers, initializer=_start_worker,
                                 initargs=(theme, assets_dir, collection, out_dir, thumbnail_width)) as pool:
            for result in pool.map(_render_job, rest, chunksize=2):
                collect(result)
    return report
