"""Compose and draw one quote card: brand, quote, attribution and footer in zones that never overlap."""

from __future__ import annotations

import functools
import io
import math
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from publisher.assets import Assets
from publisher.errors import ExitStatus, PublisherError
from publisher.quotes import Collection, Quote
from publisher.render import FORMAT_NAMES
from publisher.render.fonts import EMOJI_FONT, EMOJI_PIXEL_SIZE, FontBook, font_errors, load_font
from publisher.render.layout import (
    HYPHEN_MARK,
    WIDTH_SAFETY,
    Atom,
    BreakableText,
    Measured,
    Piece,
    Setting,
    atoms_of,
    greedy_line_count,
    highlight_mask,
    is_rtl,
    line_text,
    measure,
    set_text,
    split_lines,
    total_fit,
    typeset,
)
from publisher.themes import RGB, Theme, rgb

MAX_PNG_BYTES = 1_000_000  # the blob limit every Bluesky server accepts
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class CardFormat:
    name: str
    width: int
    height: int
    margin_scale: float
    brand_size: int
    attribution_size: int
    footer_size: int
    safe_top: int = 0  # bands that story viewers cover with their own controls
    safe_bottom: int = 0
    quote_scale: float = 1.0

    @property
    def scale(self) -> float:
        return self.width / 1080


FORMATS: dict[str, CardFormat] = {
    "square": CardFormat("square", 1080, 1080, 1.0, 32, 34, 27),
    "portrait": CardFormat("portrait", 1080, 1350, 1.0, 34, 35, 28, quote_scale=1.05),
    "story": CardFormat("story", 1080, 1920, 1.0, 38, 38, 30, safe_top=190, safe_bottom=230, quote_scale=1.1),
    "landscape": CardFormat("landscape", 1200, 675, 0.72, 27, 35, 23, quote_scale=0.8),
}
# The smallest attribution on a 1080 px-wide card: 31 px is 11.2 pt when the card fills a 390 pt phone screen.
MIN_ATTRIBUTION_PX = 31
assert tuple(FORMATS) == FORMAT_NAMES


class TextDoesNotFit(PublisherError):
    """The quote would need type below the theme's readable minimum."""

    exit_status = ExitStatus.CONFIG

    def __init__(self, quote_id: str, format_name: str, minimum: int):
        super().__init__(quote_id, format_name, minimum)  # plain args, so it crosses process boundaries
        self.quote_id, self.format_name, self.minimum = quote_id, format_name, minimum

    def __str__(self) -> str:
        # which other format fits is known only by laying it out: validate does, for each quote of a campaign
        fix = ("shorten it, or split it into two quotes" if self.format_name == "story" else
               "shorten it, or use a taller format; publisher validate says which fit")
        return (f'quote "{self.quote_id}" does not fit the {self.format_name} card at the theme\'s minimum of '
                f"{self.minimum} px ({fix})")


class CardTooLarge(PublisherError):
    exit_status = ExitStatus.CONFIG


@dataclass
class RenderedCard:
    """What the posting layer needs (PNG bytes, alt text, pixel size) and what tests inspect (the layout)."""

    quote_id: str
    format: str
    png: bytes
    alt: str
    width: int
    height: int
    quote_size: int
    lines: list[str]
    line_widths: list[float] = field(default_factory=list)  # px, as set
    rules_broken: int = 0  # line-breaking rules the quote's setting could not keep (see render.layout)
    attribution_size: int = 0
    attribution_lines: list[str] = field(default_factory=list)
    thumbnail: tuple[bytes, tuple[int, int]] | None = None  # raw RGB and its size, when asked for
    boxes: dict[str, Box] = field(default_factory=dict)
    pieces: list[DrawnPiece] = field(default_factory=list)  # everything drawn, in drawing order


@dataclass(frozen=True)
class DrawnPiece:
    font: str
    text: str
    layer: str  # text, accent, mark, brand, attribution, footer
    line: int = 0  # line number within its layer


def alt_text(collection: Collection, quote: Quote) -> str:
    """The full quote and attribution, after the quote's own description of the card where it has one."""
    described = f"{quote.alt.strip()} " if quote.alt.strip() else ""
    return f"{described}Quote: “{quote.text}” — {collection.attribution_for(quote)}"


@functools.cache
def _background(stops: tuple[RGB, ...], width: int, height: int) -> Image.Image:
    if len(stops) == 1:
        return Image.new("RGB", (width, height), stops[0])
    ramp = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", (width, height), stops[1]),
                           Image.new("RGB", (width, height), stops[0]), ramp)


@functools.lru_cache(maxsize=128)  # lines that repeat are few; a big batch must not hoard masks
def _text_mask(font_path: Path, size: int, text: str, direction: str,
               language: str | None) -> tuple[Image.Image, int, int]:
    """Text drawn once as a coverage mask, placed by its baseline: lines that repeat from card to card
    (brand, attribution, hashtags) are rasterised once per process."""
    with font_errors(font_path):
        font = load_font(font_path, size)
        # One shaping pass: the mask comes back cut to the ink, with its offset from the baseline origin
        # (measuring first and then drawing would shape the text twice).
        core, (left, top) = font.getmask2(text, "L", anchor="ls", direction=direction, language=language)
    if 0 in core.size:
        return Image.new("L", (1, 1), 0), left, top
    return Image.Image()._new(core), left, top


@functools.cache
def _space_width(font_path: Path, size: int) -> float:
    with font_errors(font_path):
        return float(load_font(font_path, size).getlength(" "))


@functools.cache
def _logo(path: Path, size: int, colour: RGB | None) -> Image.Image:
    logo = Image.open(path).convert("RGBA")
    logo = logo.resize((round(logo.width * size / logo.height), size), Image.Resampling.LANCZOS)
    if colour is None:
        return logo
    tinted = Image.new("RGBA", logo.size, (*colour, 0))
    tinted.putalpha(logo.getchannel("A"))
    return tinted


@functools.cache
def _emoji(font_path: Path, text: str, size: int) -> tuple[Image.Image, int]:
    """The emoji drawn at the font's only size, scaled to ``size``; returns it and its baseline offset."""
    with font_errors(font_path):
        font = load_font(font_path, EMOJI_PIXEL_SIZE)
        ascent, descent = font.getmetrics()
        width = max(1, round(font.getlength(text)))
        image = Image.new("RGBA", (width, ascent + descent), (0, 0, 0, 0))
        ImageDraw.Draw(image).text((0, ascent), text, font=font, embedded_color=True, anchor="ls")
    factor = size / EMOJI_PIXEL_SIZE
    scaled = image.resize((max(1, round(width * factor)), max(1, round((ascent + descent) * factor))),
                          Image.Resampling.LANCZOS)
    return scaled, round(ascent * factor)


@dataclass
class _Run:
    text: str
    font: str
    accent: bool
    gap_before: float
    width: float = 0.0


class CardRenderer:
    """Renders the quotes of any collection in one theme. Fonts and measurements are cached per process."""

    def __init__(self, theme: Theme, assets: Assets):
        self.theme = theme
        self.assets = assets
        fallback = theme.fonts.fallback
        self.quote_book = FontBook(assets, theme.fonts.quote, fallback)
        self.accent_book = FontBook(assets, theme.fonts.highlight or theme.fonts.quote, fallback)
        self.books = {name: FontBook(assets, getattr(theme.fonts, name), fallback)
                      for name in ("brand", "attribution", "footer")}
        colours = theme.colours
        self.colour = {"text": rgb(colours.text), "accent": rgb(colours.accent), "brand": rgb(colours.brand),
                       "attribution": rgb(colours.attribution), "footer": rgb(colours.footer)}
        self._quotes: dict[tuple[str, tuple[str, ...], str], tuple[Callable[[int], Measured | None], bool]] = {}
        self._attributions: dict[tuple[str, str, int, str], tuple[int, list[str]]] = {}
        self._widths: dict[tuple[str, int, int], float] = {}

    def _measure_quote(self, quote: Quote, language: str) -> tuple[Callable[[int], Measured | None], bool]:
        """The quote measured in each setting of its break points (see ``BreakableText``; made on demand), and
        whether it reads right to left. Kept per renderer: four formats and every run measure a quote once."""
        key = (quote.text, tuple(quote.highlight), language)
        found = self._quotes.get(key)
        if found is None:
            text = typeset(quote.text)
            rtl = is_rtl(text)
            breakable = BreakableText(text, highlight_mask(text, quote.highlight), self.quote_book,
                                      self.accent_book, language)
            measured: dict[int, Measured | None] = {}

            def variant(setting: int) -> Measured | None:
                if setting not in measured:
                    measured[setting] = measure(breakable.atoms(setting), self.quote_book, rtl, language,
                                                breakable.spaced) if breakable.changes(setting) else None
                return measured[setting]

            found = self._quotes[key] = (variant, rtl)
        return found

    def warm(self, quotes: Sequence[Quote], language: str = "en") -> None:
        """Measure every word of these quotes now, so that forked workers share the measurements."""
        for quote in quotes:
            try:
                self._measure_quote(quote, language)[0](0)
            except PublisherError:
                continue  # its card fails on its own, with the quote named, when rendered

    def render(self, collection: Collection, quote: Quote, format_name: str, encode: bool = True,
               thumbnail_width: int | None = None) -> RenderedCard:
        """The card, laid out and drawn, and (unless ``encode`` is False: a check that it can be made) as PNG;
        with ``thumbnail_width``, also a small copy of it (raw RGB, for a contact sheet)."""
        fmt = FORMATS[format_name]
        width, height = fmt.width, fmt.height
        language = collection.collection.language
        canvas = _background(tuple(self.theme.background_stops), width, height).copy()
        draw = ImageDraw.Draw(canvas)
        card = RenderedCard(quote.id, format_name, b"", alt_text(collection, quote), width, height, 0, [])
        layout = self.theme.layout
        margin = round(layout.margin * fmt.margin_scale)
        left, right = margin, width - margin
        top, bottom = margin + fmt.safe_top, height - margin - fmt.safe_bottom

        brand_at_top = self.theme.brand.position.startswith("top")
        if brand_at_top:
            brand_height = self._draw_brand(canvas, draw, card, collection, fmt, left, right, top)
            top += brand_height + round(fmt.brand_size * 1.5)
        footer_height = round(fmt.footer_size * 1.5)
        self._draw_footer(canvas, draw, card, collection, quote, fmt, left, right, bottom - footer_height,
                          brand_in_row=not brand_at_top and self.theme.brand.position != "none")
        bottom -= footer_height + round(fmt.footer_size * 1.5)

        self._draw_body(canvas, draw, card, collection, quote, fmt, left, right, top, bottom, language)
        card.png = encode_png(canvas) if encode else b""
        if thumbnail_width:
            size = (thumbnail_width, round(height * thumbnail_width / width))
            # a box filter down to just over the size (a fifth of a card: quick), then Lanczos for the last step
            small = canvas.reduce(max(1, width // thumbnail_width)).resize(size, Image.Resampling.LANCZOS)
            card.thumbnail = (small.tobytes(), size)
        return card

    # -- zones ---------------------------------------------------------------------------------------------

    def _draw_brand(self, canvas: Image.Image, draw: ImageDraw.ImageDraw, card: RenderedCard,
                    collection: Collection, fmt: CardFormat, left: int, right: int, top: int,
                    align_right: bool | None = None) -> int:
        brand = self.theme.brand
        size = fmt.brand_size
        row_height = round(size * 1.45)
        if align_right is None:
            align_right = brand.position.endswith("right")
        x = left
        logo_width = 0
        if brand.logo:
            tint = self.colour["brand"] if brand.tint_logo else None
            logo = _logo(self.assets.find(brand.logo) or Path(brand.logo), row_height, tint)
            logo_width = logo.width + round(size * 0.5)
            x = right - logo.width if align_right else left
            canvas.paste(logo, (x, top), logo)
        text = brand.text.replace("{title}", collection.collection.title)
        text_left, text_right = (left, right - logo_width) if align_right else (left + logo_width, right)
        if text:
            baseline = top + round(row_height / 2 + size * 0.36)
            self._draw_single_line(draw, canvas, card, text, self.books["brand"], size, text_left, text_right,
                                   baseline, "right" if align_right else "left", "brand",
                                   language=collection.collection.language)
        card.boxes["brand"] = (left, top, right, top + row_height)
        return row_height

    def _draw_footer(self, canvas: Image.Image, draw: ImageDraw.ImageDraw, card: RenderedCard,
                     collection: Collection, quote: Quote, fmt: CardFormat, left: int, right: int, top: int,
                     brand_in_row: bool) -> None:
        size = fmt.footer_size
        baseline = top + round(size * 1.1)
        right_text = self.theme.footer.text
        if brand_in_row:
            on_right = self.theme.brand.position.endswith("right")
            self._draw_brand(canvas, draw, card, collection, fmt, left, right, top - round(size * 0.2),
                             align_right=on_right)
            right_text = ""
        reserved = 0.0
        if right_text:
            reserved = self._draw_single_line(draw, canvas, card, right_text, self.books["footer"], size, left,
                                              right, baseline, "right", "footer") + size
        if self.theme.footer.hashtags:
            tags = ["#" + tag for tag in collection.hashtags_for(quote)]
            book = self.books["footer"]
            while tags:
                text = " ".join(tags)
                if self._text_width(text, book, size) <= (right - left - reserved) * WIDTH_SAFETY:
                    self._draw_single_line(draw, canvas, card, text, book, size, left, right, baseline, "left",
                                           "footer")
                    break
                tags.pop()  # drop trailing tags rather than collide
        card.boxes["footer"] = (left, top, right, top + round(size * 1.5))

    def _mark_ratio(self) -> float:
        """The opening quote mark's advance, per px of its size."""
        path = self.quote_book.path(self.theme.fonts.highlight or self.theme.fonts.quote)
        with font_errors(path):
            return float(load_font(path, 100).getlength("“")) / 100

    def _draw_body(self, canvas: Image.Image, draw: ImageDraw.ImageDraw, card: RenderedCard,
                   collection: Collection, quote: Quote, fmt: CardFormat, left: int, right: int, top: int,
                   bottom: int, language: str) -> None:
        layout = self.theme.layout
        attribution = "— " + collection.attribution_for(quote)
        attr_size, attr_lines = self._fit_attribution(attribution, fmt, right - left, language)
        card.attribution_size, card.attribution_lines = attr_size, attr_lines
        attr_line_height = round(attr_size * 1.3)
        attr_height = len(attr_lines) * attr_line_height
        variants, rtl = self._measure_quote(quote, language)
        minimum = round(layout.min_quote_size * fmt.scale)
        maximum = max(minimum, round(layout.max_quote_size * fmt.scale * fmt.quote_scale))
        # The theme's spacing first; where the quote cannot fit so, a compact one: no accent rule, tighter gaps,
        # and the mark hung in the margin rather than set above (a landscape card is short of height).
        for compact in (False, True):
            mark = "hanging" if compact and layout.quote_mark == "above" else layout.quote_mark
            rule_height = round(6 * fmt.scale) if layout.accent_rule and not compact else 0
            gap = round(fmt.attribution_size * (0.75 if compact else 1.3))
            quote_height_available = bottom - top - attr_height - gap - (rule_height + gap if rule_height else 0)

            def box(size: int, mark: str = mark, available: int = quote_height_available) -> tuple[float, float]:
                # A hanging mark sits in the margin: the text keeps the full width, one left edge with the brand.
                return float(right - left), float(available) - (size * 1.15 if mark == "above" else 0.0)

            setting = set_text(variants, minimum, maximum, box, layout.line_height, layout.align == "center")
            if setting is not None:
                break
        if setting is None:
            raise TextDoesNotFit(quote.id, fmt.name, minimum)
        assert setting.measured is not None
        size = setting.size
        lines = split_lines(setting.measured.atoms, setting.breaks)
        card.quote_size = size
        card.lines = [line_text(line, hyphen) for line, hyphen in zip(lines, setting.hyphenated, strict=True)]
        card.line_widths = [round(w, 1) for w in setting.widths]
        card.rules_broken = setting.rules_broken

        line_height = size * layout.line_height
        mark_space = size * 1.15 if mark == "above" else 0.0
        block_height = mark_space + len(lines) * line_height
        group_height = block_height + gap + (rule_height + gap if rule_height else 0) + attr_height
        group_top = top + max(0.0, (bottom - top - group_height) / 2)

        with font_errors(self.quote_book.path(self.theme.fonts.quote)):
            ascent, descent = load_font(self.quote_book.path(self.theme.fonts.quote), size).getmetrics()
        first_baseline = group_top + mark_space + (line_height - ascent - descent) / 2 + ascent
        align = "center" if layout.align == "center" else ("right" if rtl else "left")
        if mark != "none":
            first_width = setting.widths[0] if setting.widths else 0.0
            self._draw_quote_mark(draw, card, mark, size, first_baseline, left, right, rtl, group_top,
                                  margin=left, first_width=first_width)
        for index, line in enumerate(lines):
            if setting.hyphenated[index]:
                tail = line[-1].pieces[-1]
                line = [*line, Atom((Piece(HYPHEN_MARK, tail.font, tail.accent),), False)]
            self._draw_atoms(draw, canvas, card, line, self.quote_book, size, float(left), float(right),
                             first_baseline + index * line_height, align, rtl, layer="text", line=index,
                             language=language)
        quote_bottom = group_top + block_height
        card.boxes["quote"] = (left, round(group_top), right, round(quote_bottom))

        y = quote_bottom + gap
        if rule_height:
            rule_width = round(72 * fmt.scale)
            x0 = right - rule_width if rtl and layout.align != "center" else (
                left + (right - left - rule_width) // 2 if layout.align == "center" else left)
            draw.rectangle((x0, round(y), x0 + rule_width - 1, round(y) + rule_height - 1), fill=self.colour["accent"])
            y += rule_height + gap
        attr_top = y
        attr_align = "center" if layout.align == "center" else ("right" if is_rtl(attribution) else "left")
        for index, line_text_ in enumerate(attr_lines):
            baseline = attr_top + index * attr_line_height + attr_size * 1.0
            self._draw_single_line(draw, canvas, card, line_text_, self.books["attribution"], attr_size, left,
                                   right, baseline, attr_align, "attribution", line=index, language=language)
        card.boxes["attribution"] = (left, round(attr_top), right, round(attr_top + attr_height))

    def _draw_quote_mark(self, draw: ImageDraw.ImageDraw, card: RenderedCard, placement: str, size: int,
                         first_baseline: float, left: int, right: int, rtl: bool, group_top: float, margin: int,
                         first_width: float) -> None:
        """The opening mark: hanging in the margin beside the first line (so the text keeps one left edge), or
        above the text."""
        layout = self.theme.layout
        font_name = self.theme.fonts.highlight or self.theme.fonts.quote
        mark = "“"
        if placement == "hanging":
            gap = size * 0.12
            fits = (margin * 0.9 - gap) / self._mark_ratio()  # the largest mark the margin holds
            mark_size = max(8, round(min(size * 1.9, fits)))
        else:
            mark_size = round(size * 2.2)
        with font_errors(self.quote_book.path(font_name)):
            font = load_font(self.quote_book.path(font_name), mark_size)
            advance = float(font.getlength(mark))
            _, mark_top, _, _ = font.getbbox(mark, anchor="ls")
        if placement == "hanging":
            cap_top = first_baseline - size * 0.72
            baseline = cap_top - mark_top
            if layout.align == "center":
                start = left + (right - left - first_width) / 2
                x = start + first_width + gap if rtl else start - gap - advance
            else:
                x = right + gap if rtl else left - gap - advance
        else:
            baseline = group_top - mark_top
            x = (left + right - advance) / 2 if layout.align == "center" else right - advance if rtl else left
        with font_errors(self.quote_book.path(font_name)):
            draw.text((x, baseline), mark, font=font, fill=self.colour["accent"], anchor="ls")
        card.pieces.append(DrawnPiece(font_name, mark, "mark"))

    # -- text ----------------------------------------------------------------------------------------------

    def _set_plain(self, text: str, book: FontBook, size: int, limit: float, max_lines: int,
                   language: str) -> list[str] | None:
        """Short text (an attribution) in at most ``max_lines`` balanced lines at ``size``, or None."""
        rtl = is_rtl(text)
        atoms = atoms_of(text, [False] * len(text), book, book)
        measured = measure(atoms, book, rtl, language)
        widths, spaces = measured.scaled(size)
        count = greedy_line_count(widths, spaces, limit)
        if count is None or count > max_lines:
            return None
        setting: Setting | None = None
        for lines in (count, count + 1):
            if lines <= max_lines:
                setting = setting or total_fit(measured, size, limit, lines, balance=True)
        setting = setting or total_fit(measured, size, limit, count, balance=True, keep_rules=False)
        assert setting is not None
        return [line_text(line) for line in split_lines(atoms, setting.breaks)]

    def _fit_attribution(self, text: str, fmt: CardFormat, width: int, language: str) -> tuple[int, list[str]]:
        """The attribution's size and lines: on one line if it fits, else the speaker's name whole on the first
        line (up to the first comma) and the source on its own balanced lines; never smaller than 31 px on a
        1080 px-wide card."""
        key = (text, fmt.name, width, language)
        if key not in self._attributions:  # the same on every card of a collection
            self._attributions[key] = self._set_attribution(text, fmt, width, language)
        return self._attributions[key]

    def _set_attribution(self, text: str, fmt: CardFormat, width: int, language: str) -> tuple[int, list[str]]:
        book = self.books["attribution"]
        floor = math.ceil(MIN_ATTRIBUTION_PX * fmt.width / 1080)
        limit = width * WIDTH_SAFETY
        name, comma, source = text.partition(", ")
        for size in range(max(fmt.attribution_size, floor), floor - 1, -1):
            whole = self._set_plain(text, book, size, limit, 1, language)
            if whole:
                return size, whole
            if comma:
                first = self._set_plain(name + ",", book, size, limit, 1, language)
                rest = self._set_plain(source, book, size, limit, 3, language)
                if first and rest:
                    return size, first + rest
            else:
                lines = self._set_plain(text, book, size, limit, 3, language)
                if lines:
                    return size, lines
        lines = self._set_plain(text, book, floor, limit, 5, language)  # a name too long for one line
        if lines:
            return floor, lines
        raise TextDoesNotFit(f"attribution {text!r}", fmt.name, floor)

    def _text_width(self, text: str, book: FontBook, size: int) -> float:
        key = (text, id(book), size)
        if key not in self._widths:  # footers repeat from card to card
            atoms = atoms_of(text, [False] * len(text), book, book)
            widths, spaces = measure(atoms, book, is_rtl(text)).scaled(size)
            self._widths[key] = sum(widths) + sum(spaces)
        return self._widths[key]

    def _draw_single_line(self, draw: ImageDraw.ImageDraw, canvas: Image.Image, card: RenderedCard, text: str,
                          book: FontBook, size: int, left: float, right: float, baseline: float, align: str,
                          layer: str, line: int = 0, language: str | None = None) -> float:
        atoms = atoms_of(text, [False] * len(text), book, book)
        return self._draw_atoms(draw, canvas, card, atoms, book, size, left, right, baseline, align,
                                is_rtl(text), layer=layer, line=line, language=language)

    def _draw_atoms(self, draw: ImageDraw.ImageDraw, canvas: Image.Image, card: RenderedCard,
                    atoms: Sequence[Atom], book: FontBook, size: int, left: float, right: float, baseline: float,
                    align: str, rtl: bool, layer: str, line: int = 0, language: str | None = None) -> float:
        """Draw one line; pieces in the same font and colour are drawn together so they keep their kerning."""
        space = _space_width(book.path(book.chain[0]), size)
        runs: list[_Run] = []
        for index, atom in enumerate(atoms):
            gap = space if index and atom.space_before else 0.0
            for piece in atom.pieces:
                last = runs[-1] if runs else None
                if (last and last.font == piece.font and last.accent == piece.accent and piece.font != EMOJI_FONT
                        and (gap == 0.0 or last.font != EMOJI_FONT)):
                    last.text += (" " if gap else "") + piece.text
                else:
                    runs.append(_Run(piece.text, piece.font, piece.accent, gap))
                gap = 0.0
        direction = "rtl" if rtl else "ltr"
        # Left-aligned left-to-right text needs no widths but those of runs followed by another run.
        needs_width = align != "left" or rtl
        for index, run in enumerate(runs):
            if run.font == EMOJI_FONT:
                run.width = _emoji(book.path(EMOJI_FONT), run.text, size)[0].width
            elif needs_width or index < len(runs) - 1:
                with font_errors(book.path(run.font)):
                    run.width = load_font(book.path(run.font), size).getlength(run.text, direction=direction,
                                                                               language=language)
        total = sum(run.gap_before + run.width for run in runs)
        if align == "center":
            start = left + (right - left - total) / 2
        elif align == "right":
            start = right - total
        else:
            start = left
        x = start + total if rtl else start
        for run in runs:
            if rtl:
                x -= run.gap_before + run.width
                position = x
            else:
                x += run.gap_before
                position = x
                x += run.width
            run_layer = "accent" if run.accent and layer == "text" else layer
            fill = self.colour[run_layer]
            if run.font == EMOJI_FONT:
                image, ascent = _emoji(book.path(EMOJI_FONT), run.text, size)
                canvas.paste(image, (round(position), round(baseline - ascent)), image)
            else:
                mask, left_offset, top_offset = _text_mask(book.path(run.font), size, run.text, direction, language)
                canvas.paste(fill, (round(position) + left_offset, round(baseline) + top_offset), mask)
            card.pieces.append(DrawnPiece(run.font, run.text, run_layer, line))
        return total


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


def _deflated_scanlines(image: Image.Image) -> bytes:
    """The image's PNG scanlines, each after its filter byte 0 ("None"), deflated at level 1 by zlib-ng (a third
    of zlib's time, the same bytes in every run and process).

    Every byte is written here: the rows are copied into a zeroed buffer, leaving each filter byte 0. (Pillow's
    raw encoder with a wider stride leaves the gaps as whatever memory held: zero in fresh pages, anything in a
    reused buffer; that, not the deflater, made cards differ between runs.)"""
    from zlib_ng import zlib_ng

    row = image.width * 3
    pixels = memoryview(_rgb_bytes(image))
    lines = _scanline_buffer(image.width, image.height)  # filter bytes stay 0; every other byte is written below
    rows = memoryview(lines)  # a slice of the wrong length raises instead of resizing the kept buffer
    for y in range(image.height):
        start = y * (row + 1) + 1
        rows[start:start + row] = pixels[y * row:(y + 1) * row]
    return zlib_ng.compress(lines, 1)


def _rgb_bytes(image: Image.Image) -> bytes:
    """``image.tobytes()`` in one call of the encoder (tobytes joins 64 KiB pieces: a copy of the whole card)."""
    encoder = Image._getencoder("RGB", "raw", ("RGB", 0, 1))
    try:
        encoder.setimage(image.im, (0, 0, *image.size))
        _, status, data = encoder.encode(image.width * image.height * 3 + 16)
    finally:
        encoder.cleanup()
    return data if status == 1 else image.tobytes()  # 1: all of it


_SCANLINES = threading.local()

# Pillow frees each card's image memory and asks the system for fresh pages for the next: keeping a few freed
# blocks for reuse took a warm card from about 16 ms to 12 when other images come and go between cards.
IMAGE_BLOCKS_KEPT = 8
_PILLOW_CORE: Any = Image.core  # type: ignore[attr-defined]
_PILLOW_CORE.set_blocks_max(max(_PILLOW_CORE.get_blocks_max(), IMAGE_BLOCKS_KEPT))


def _scanline_buffer(width: int, height: int) -> bytearray:
    """A zeroed buffer for an RGB image's PNG rows, kept for the thread's next card of that size (one per format):
    a fresh 3.5 MB buffer costs a page fault per 4 KiB, about as long as the deflate itself."""
    kept: dict[tuple[int, int], bytearray] = _SCANLINES.__dict__.setdefault("by_size", {})
    if (width, height) not in kept:
        kept[width, height] = bytearray(height * (width * 3 + 1))
    return kept[width, height]


def encode_png(image: Image.Image) -> bytes:
    """PNG with no metadata chunks, within the byte limit.

    Written directly: cards are flat colour and vertical gradients, so unfiltered rows at deflate level 1 come out
    smaller than Pillow's adaptive filtering and take a fraction of the time. Harder compression, then a
    palette, only when a card would exceed the limit.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")  # the rows below are 3 bytes a pixel
    width, height = image.size
    png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + _chunk(b"IDAT", _deflated_scanlines(image)) + _chunk(b"IEND", b""))
    if len(png) <= MAX_PNG_BYTES:
        return png
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=9)
    if buffer.tell() <= MAX_PNG_BYTES:
        return buffer.getvalue()
    buffer = io.BytesIO()
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buffer, "PNG", optimize=True)
    if buffer.tell() <= MAX_PNG_BYTES:
        return buffer.getvalue()
    raise CardTooLarge(f"a card is {buffer.tell():,} bytes even with 256 colours, over the {MAX_PNG_BYTES:,}-byte "
                       "limit (simplify the theme's background or logo)")
