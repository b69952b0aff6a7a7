"""Bundled fonts: loading at a size (cached), glyph coverage, and the fallback choice for each character."""

from __future__ import annotations

import functools
import struct
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from PIL import ImageFont

from publisher.assets import Assets
from publisher.errors import ExitStatus, PublisherError, display_path

EMOJI_FONT = "NotoColorEmoji.ttf"
EMOJI_PIXEL_SIZE = 109  # the only size Noto Color Emoji's bitmaps load at in FreeType
# Joiners and selectors shape with their neighbours; no font needs its own glyph for them.
_INVISIBLE = {0x200C, 0x200D, 0xFE0E, 0xFE0F, 0x20E3}
# Characters below U+1F300 that Unicode shows as colour emoji by default (Emoji_Presentation=Yes).
_EMOJI_PRESENTATION_BMP = frozenset(
    [0x231A, 0x231B, 0x23E9, 0x23EA, 0x23EB, 0x23EC, 0x23F0, 0x23F3, 0x25FD, 0x25FE, 0x2614, 0x2615, 0x267F,
     0x2693, 0x26A1, 0x26AA, 0x26AB, 0x26BD, 0x26BE, 0x26C4, 0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2, 0x26F3,
     0x26F5, 0x26FA, 0x26FD, 0x2705, 0x270A, 0x270B, 0x2728, 0x274C, 0x274E, 0x2753, 0x2754, 0x2755, 0x2757,
     0x2795, 0x2796, 0x2797, 0x27B0, 0x27BF, 0x2B1B, 0x2B1C, 0x2B50, 0x2B55, *range(0x2648, 0x2654)]
)


T = TypeVar("T")


class MissingGlyph(PublisherError):
    """No bundled font can draw a character: refuse rather than print a tofu box."""

    exit_status = ExitStatus.CONFIG


class BrokenFont(PublisherError):
    """A font file that FreeType or fontTools cannot read (cut short, damaged, or not a font)."""

    exit_status = ExitStatus.CONFIG

    def __init__(self, path: Path):  # what the font library said is in the traceback (--debug)
        super().__init__(f"{display_path(path)} cannot be read as a font: it is cut short, damaged or not a font "
                         "file (replace it with a good copy, or name another font in the theme; a damaged font of "
                         "publisher's own means reinstalling publisher)")


@contextmanager
def font_errors(path: Path) -> Iterator[None]:
    """FreeType's errors while drawing with a damaged font (bad hinting code, a broken table) as ``BrokenFont``."""
    try:
        yield
    except OSError as exc:
        raise BrokenFont(path) from exc


@functools.cache
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)
    except Exception as exc:  # FreeType reports a damaged file in many ways
        raise BrokenFont(path) from exc


@functools.cache
def coverage(path: Path) -> frozenset[int]:
    """The code points a font has glyphs for (read once per process from its character map)."""
    from publisher.render import sfnt

    try:
        return sfnt.characters(path)
    except (OSError, ValueError, struct.error):
        return _with_fonttools(path, lambda font: frozenset(font.getBestCmap() or {}))


def _with_fonttools(path: Path, read: Callable[[Any], T]) -> T:
    """What the quick reader (``sfnt``) does not understand, read by fontTools; a damaged file is ``BrokenFont``."""
    import logging

    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # its warnings about odd tables are not the user's
    try:
        with TTFont(str(path), lazy=True, fontNumber=0) as font:
            return read(font)
    except Exception as exc:  # fontTools meets a damaged table as any of a dozen exception types
        raise BrokenFont(path) from exc


def is_emoji_cluster(cluster: str) -> bool:
    """A grapheme cluster that should be drawn as a colour emoji."""
    first = ord(cluster[0])
    if 0x1F1E6 <= first <= 0x1F1FF:  # regional indicators: flags
        return True
    if "\ufe0f" in cluster or "\u20e3" in cluster:
        return True
    if "\ufe0e" in cluster:  # text presentation asked for
        return False
    return (0x1F300 <= first <= 0x1FAFF) or first in _EMOJI_PRESENTATION_BMP


def needs_glyphs(cluster: str) -> list[int]:
    return [ord(ch) for ch in cluster if ord(ch) not in _INVISIBLE]


@functools.cache
def weight_of(path: Path) -> int:
    """The font's weight class (400 regular, 700 bold), from its OS/2 table."""
    from publisher.render import sfnt

    try:
        return sfnt.weight_class(path)
    except (OSError, ValueError, struct.error):
        return _with_fonttools(path, lambda font: int(font["OS/2"].usWeightClass) if "OS/2" in font else 400)


BOLD_FROM = 600  # a main font this heavy (SemiBold and up) takes the bold face of each fallback
FONTCONFIG_TIMEOUT = 5.0  # seconds; a slow or broken fontconfig is skipped, not waited for


@functools.cache
def installed_font_for(codepoints: tuple[int, ...]) -> Path | None:
    """A font installed on this machine that draws every one of ``codepoints``, found with fontconfig
    (``fc-match``, then ``fc-list``) and checked against its own character map; None without fontconfig."""
    import shutil
    import subprocess

    charset = ":charset=" + " ".join(f"{cp:x}" for cp in codepoints)
    commands = [["fc-match", "--sort", "--format=%{file}\n", charset], ["fc-list", charset, "file"]]
    for command in commands:
        if shutil.which(command[0]) is None:
            return None
        try:
            found = subprocess.run(command, capture_output=True, text=True, timeout=FONTCONFIG_TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        for line in found.stdout.splitlines()[:40]:
            candidate = Path(line.strip().rstrip(":"))
            if candidate.suffix.lower() not in (".ttf", ".otf", ".ttc") or not candidate.is_file():
                continue
            try:
                if all(cp in coverage(candidate) for cp in codepoints):
                    return candidate
            except BrokenFont:
                continue  # fontconfig lists fonts fontTools cannot read: try the next
    return None


class FontBook:
    """The fonts of one theme's text layer: a main font, then the fallbacks in order (their bold faces when the
    main font is bold), then any font installed on the machine (fontconfig) for what none of them draws."""

    def __init__(self, assets: Assets, main: str, fallback: list[str]):
        self.assets = assets
        self._paths: dict[str, Path] = {}
        bold = weight_of(self.path(main)) >= BOLD_FROM
        chain = [self._bold_face(f) if bold else f for f in fallback if f != EMOJI_FONT]
        self.chain = list(dict.fromkeys([main, *[f for f in chain if f != main]]))
        self.has_emoji = EMOJI_FONT in fallback
        self._chosen: dict[str, str] = {}

    def _bold_face(self, name: str) -> str:
        bold = name.replace("-Regular.", "-Bold.")
        return bold if bold != name and self.path(bold).is_file() else name

    def path(self, name: str) -> Path:
        """A bundled font by file name, or an installed one by its absolute path."""
        found = self._paths.get(name)
        if found is None:
            found = self._paths[name] = Path(name) if Path(name).is_absolute() else self.assets.font(name)
        return found

    def font_for(self, cluster: str) -> str:
        """The first font that can draw the whole cluster; raises MissingGlyph when none can."""
        chosen = self._chosen.get(cluster)
        if chosen is None:
            chosen = self._chosen[cluster] = self._choose(cluster)
        return chosen

    def _choose(self, cluster: str) -> str:
        if self.has_emoji and is_emoji_cluster(cluster) and ord(cluster[0]) in coverage(self.path(EMOJI_FONT)):
            return EMOJI_FONT
        wanted = needs_glyphs(cluster)
        for name in self.chain:
            if all(cp in coverage(self.path(name)) for cp in wanted):
                return name
        if self.has_emoji and all(cp in coverage(self.path(EMOJI_FONT)) for cp in wanted):
            return EMOJI_FONT
        installed = installed_font_for(tuple(wanted))
        if installed is not None:
            self.chain.append(str(installed))  # the rest of that script is likely there too: look there first
            return str(installed)
        missing = next(cp for cp in wanted if not any(cp in coverage(self.path(n)) for n in self.chain))
        name = unicodedata.name(chr(missing), "unnamed character")
        raise MissingGlyph(f"no bundled or installed font draws {chr(missing)!r} (U+{missing:04X} {name}); add a "
                           "font that has it to assets/fonts/ and to the theme's fonts.fallback, or install one")
