"""Web fonts for the HTML pages (preview, outbox timeline, pack index): the card theme's own bundled fonts, cut
down to the characters a page shows, so its text and emoji look as on the cards on any machine, offline.

Each character goes to the font its card would draw it in (``render.fonts.FontBook``: the theme's text font, then
its fallbacks, colour emoji first for emoji), once for normal text and once for bold. The page gets one CSS family
whose faces are those cut-down fonts, each limited by ``unicode-range`` to its own characters, so the browser
picks the card's font for every character and falls back to the system's only where no bundled font has one.
"""

from __future__ import annotations

import functools
import html
import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.assets import Assets
from publisher.errors import PublisherError
from publisher.fileio import refuse_foreign, write_atomically
from publisher.themes import Theme

if TYPE_CHECKING:
    from publisher.config import Schedule

FAMILY = "card text"
FOLDER = "fonts"  # beside the page, so the page and its fonts move together
SYSTEM_FONTS = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'
# Faces in one family form one font only when their descriptors are equal, so each role has one weight range.
ROLE_WEIGHTS = {"regular": "1 599", "bold": "600 1000"}
# What most posts in Latin scripts use: printable ASCII, Latin-1, and dashes, quotes, bullets and ellipses.
COMMON_CHARACTERS = "".join(chr(c) for c in [*range(0x20, 0x7F), *range(0xA0, 0x100), *range(0x2010, 0x2028),
                                             *range(0x2030, 0x203B)])
_WOFF_SIGNATURE = b"wOFF"
CUT_VERSION = 1  # part of every cached cut's key: raise it when subset_font's options change


@dataclass(frozen=True)
class Face:
    """One @font-face of the page: a cut-down font, for one weight range, drawing only ``characters``."""

    file: str  # in the fonts folder, e.g. "Inter-Regular.woff"
    role: str  # a key of ROLE_WEIGHTS
    characters: str


@dataclass
class WebFont:
    """A bundled font, cut down to what the page needs from it, as a WOFF file in the page's fonts folder."""

    source: Path
    file: str
    characters: str
    data: bytes = b""


@dataclass
class PageFonts:
    """What a page needs to show its text in the card's fonts: the font files and the CSS that loads them."""

    fonts: list[WebFont] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)

    @property
    def css(self) -> str:
        if not self.faces:
            return ""
        rules = [f'@font-face {{ font-family: "{FAMILY}"; src: url("{FOLDER}/{face.file}") format("woff"); '
                 f"font-weight: {ROLE_WEIGHTS[face.role]}; unicode-range: {unicode_range(face.characters)}; }}"
                 for face in self.faces]
        return "\n".join([*rules, f'body {{ font-family: "{FAMILY}", {SYSTEM_FONTS}; }}', ""])

    @property
    def size(self) -> int:
        return sum(len(font.data) for font in self.fonts)

    def paths(self, page_dir: Path) -> list[Path]:
        return [page_dir / FOLDER / font.file for font in self.fonts]


@dataclass(frozen=True)
class ThemeFonts:
    """The bundled fonts a theme sets text in: its attribution font for normal text and its brand font for bold,
    each with the theme's fallback chain."""

    assets: Assets
    regular: str
    bold: str
    fallback: tuple[str, ...]

    @classmethod
    def of(cls, theme: Theme, assets: Assets) -> ThemeFonts:
        return cls(assets, theme.fonts.attribution, theme.fonts.brand, tuple(theme.fonts.fallback))

    def plan(self, text: str) -> PageFonts:
        """Which bundled font draws which of the characters of ``text`` (a page's HTML will do), without cutting
        any font yet: cheap, so a page can check where it will write before doing the work."""
        from publisher.render.fonts import FontBook, MissingGlyph

        clusters = sorted({c for c in _graphemes(html.unescape(text)) if _is_drawn(c)})
        fonts: dict[str, WebFont] = {}
        faces = []
        for role, main in (("regular", self.regular), ("bold", self.bold)):
            book = FontBook(self.assets, main, list(self.fallback))
            drawn: dict[str, set[str]] = {}
            for cluster in clusters:
                try:
                    name = book.font_for(cluster)
                except MissingGlyph:
                    continue  # the browser tries the system's fonts, as a card would refuse to
                if Path(name).is_absolute():
                    continue  # a font installed on this machine, not ours to copy into a page
                drawn.setdefault(name, set()).update(cluster)
            for name in sorted(drawn):
                font = fonts.get(name)
                if font is None:
                    font = fonts[name] = WebFont(book.path(name), _web_name(name, {f.file for f in fonts.values()}),
                                                 "")
                font.characters = "".join(sorted(set(font.characters) | drawn[name]))
                faces.append(Face(font.file, role, "".join(sorted(drawn[name]))))
        return PageFonts(list(fonts.values()), faces)

    def for_text(self, text: str, reuse_from: Path | None = None) -> PageFonts:
        """``plan`` and cut the fonts. ``reuse_from``: a page folder whose fonts, if they already have every
        character needed, are kept as they are (a page rewritten often, like the outbox's, then rarely cuts)."""
        return cut_fonts(self.plan(text), reuse_from)


def cut_fonts(planned: PageFonts, reuse_from: Path | None = None) -> PageFonts:
    """Cut every font of ``planned``, keeping as they are those in ``reuse_from`` that have the characters.
    Cutting a large font takes a second, so a page of common Latin text takes the font's ready-made cut
    (``web/`` beside the bundled fonts), and any other cut is kept in the user's cache for the next run."""
    for font in planned.fonts:
        earlier = reuse_from / FOLDER / font.file if reuse_from else None
        ready = prebuilt_path(font.source)
        if earlier is not None and _has_characters(earlier, font):
            font.data = earlier.read_bytes()
        elif set(font.characters) <= _COMMON and ready.is_file():
            font.data = ready.read_bytes()
        else:
            font.data = _cached_cut(font.source, font.characters)
    return planned


_COMMON = frozenset(COMMON_CHARACTERS)


def prebuilt_path(source: Path) -> Path:
    """Where the ready-made cut of a bundled font to ``COMMON_CHARACTERS`` lives (``scripts/build-webfonts``)."""
    return source.parent / "web" / f"{source.stem}.woff"


def _cached_cut(source: Path, characters: str) -> bytes:
    """``subset_font``, kept in ``$XDG_CACHE_HOME/publisher/webfonts`` (keyed by the font file and the
    characters); a cache that cannot be read or written is simply not used."""
    import hashlib
    import os

    try:
        stat = source.stat()
        key = hashlib.sha256(f"{CUT_VERSION}|{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{characters}"
                             .encode()).hexdigest()
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "publisher" / "webfonts"
        kept = cache / f"{key}.woff"
        if kept.is_file() and _is_woff(kept):
            return kept.read_bytes()
    except (OSError, RuntimeError):
        return subset_font(source, characters)
    data = subset_font(source, characters)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        write_atomically(kept, data)
    except (OSError, PublisherError):
        pass  # no cache: the next run cuts again
    return data



@functools.lru_cache(maxsize=32)  # a daemon or a test run writes the same timeline fonts again and again
def subset_font(path: Path, characters: str) -> bytes:
    """The font at ``path`` with only the glyphs for ``characters`` (and what shaping them needs: ligatures,
    kerning, marks; colour bitmaps kept), as WOFF. The same inputs give the same bytes."""
    import logging

    from fontTools import subset
    from fontTools.ttLib import TTFont

    from publisher.render.fonts import BrokenFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # its notes about dropped tables are not the user's
    options = subset.Options()
    options.layout_features.append("tnum")  # the pages set counts in tabular figures
    options.hinting = False  # browsers barely use TrueType hints today; without them fonts are about half
    try:
        font = TTFont(str(path), lazy=True, recalcTimestamp=False, fontNumber=0)
        names = font["name"]
        del font["name"]  # kept whole: trimming it walks every table, most of the time for a large font
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[ord(c) for c in characters])
        subsetter.subset(font)
        font["name"] = names
        font.flavor = "woff"  # zlib, which every browser reads; WOFF2 would need the brotli package
        buffer = io.BytesIO()
        font.save(buffer)
    except Exception as exc:  # fontTools meets a damaged table as any of a dozen exception types
        raise BrokenFont(path) from exc
    return buffer.getvalue()


def guard_page_fonts(page_dir: Path, fonts: PageFonts, force: bool, fix: str) -> None:
    """Refuse to write a page's fonts over files that are not fonts publisher wrote."""
    for path in fonts.paths(page_dir):
        refuse_foreign(path, "a web font", _is_woff, force, fix)


def write_page_fonts(page_dir: Path, fonts: PageFonts) -> None:
    for font, path in zip(fonts.fonts, fonts.paths(page_dir), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not (path.is_file() and path.read_bytes() == font.data):
            write_atomically(path, font.data)


def unicode_range(characters: Iterable[str]) -> str:
    """CSS ``unicode-range`` for the characters, runs of neighbours joined: ``U+20-7E, U+2019``."""
    points = sorted({ord(c) for c in characters})
    runs: list[list[int]] = []
    for point in points:
        if runs and point == runs[-1][1] + 1:
            runs[-1][1] = point
        else:
            runs.append([point, point])
    return ", ".join(f"U+{a:X}" if a == b else f"U+{a:X}-{b:X}" for a, b in runs)


def _graphemes(text: str) -> list[str]:
    import regex

    return list(regex.findall(r"\X", text))


def _is_drawn(cluster: str) -> bool:
    """Whether a cluster is drawn with a font: not line breaks, tabs and other control characters."""
    return not all(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in cluster)


def _web_name(source: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source).stem).strip("-.") or "font"
    name, number = f"{stem}.woff", 2
    while name in taken:
        name, number = f"{stem}-{number}.woff", number + 1
    return name


def _is_woff(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == _WOFF_SIGNATURE


def _has_characters(path: Path, font: WebFont) -> bool:
    """Whether a font file written earlier for the same source already draws every character ``font`` needs."""
    from fontTools.ttLib import TTFont

    from publisher.render.fonts import coverage

    try:
        if not _is_woff(path):
            return False
        with TTFont(str(path), lazy=True) as earlier:
            have = set(earlier.getBestCmap() or {})
    except Exception:  # a damaged or foreign file is simply cut again
        return False
    needed = {ord(c) for c in font.characters} & coverage(font.source)
    return needed <= have


def build_prebuilt(fonts: list[Path]) -> list[Path]:
    """Write the ready-made cuts (``prebuilt_path``) of these bundled fonts: ``scripts/build-webfonts``."""
    written = []
    for source in fonts:
        target = prebuilt_path(source)
        target.parent.mkdir(exist_ok=True)
        write_atomically(target, subset_font(source, COMMON_CHARACTERS))
        written.append(target)
    return written


def outbox_page_fonts(schedule: Schedule) -> Callable[[str], Callable[[str, Path], str] | None]:
    """For an account, how its outbox timeline page gets its fonts: those of the theme of the first campaign
    posting there (its cards'), else the default theme's, cut to the page's characters and written beside it;
    the system's fonts when the theme cannot be loaded. The theme is read when a page is first written, so an
    account that writes no page (any but an outbox) costs nothing."""
    from publisher.project import DEFAULT_THEME, ProjectFiles

    files = ProjectFiles(schedule.path)
    files.remember(schedule)

    def for_account(account: str) -> Callable[[str, Path], str] | None:
        campaign = next((c for c in schedule.campaigns if account in c.accounts), None)
        made: list[Callable[[str, Path], str] | None] = []

        def css(html: str, folder: Path) -> str:
            if not made:
                try:
                    theme = (files.theme_for(campaign, files.collection(campaign.collection)) if campaign
                             else files.theme(DEFAULT_THEME))
                    made.append(growing_page_fonts(ThemeFonts.of(theme, files.assets)))
                except PublisherError:  # validate and queue say what is wrong; the page shows what was posted
                    made.append(None)
            fonts = made[0]
            return fonts(html, folder) if fonts is not None else ""

        return css

    return for_account


def growing_page_fonts(fonts: ThemeFonts) -> Callable[[str, Path], str]:
    """A page's fonts as it grows a post at a time: fonts that already have its characters are kept, and the
    characters most posts use are cut in from the start. Gives the CSS; writes the fonts beside the page."""

    def css(html: str, folder: Path) -> str:
        try:
            cut = fonts.for_text(html + COMMON_CHARACTERS, reuse_from=folder)
        except PublisherError:  # a damaged font must not fail a post already written
            return ""
        write_page_fonts(folder, cut)
        return cut.css

    return css
