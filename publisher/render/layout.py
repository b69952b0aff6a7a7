"""Setting a quote: typographic punctuation, break opportunities, fallback fonts, size search, pretty lines.

Widths are measured once per word at a reference size and scaled (cached across cards, as words repeat); the
final lines are re-measured at the chosen size when drawn.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from publisher.render.fonts import EMOJI_FONT, EMOJI_PIXEL_SIZE, FontBook, load_font

REFERENCE_SIZE = 100
WIDTH_SAFETY = 0.985  # scaled widths can be a hair short of hinted ones at the final size

# Words a line should not end on when a better break exists (a dangling "a" or "of" reads badly).
_SHORT_WORDS = frozenset("a an and as at by for if in is it of on or so the to we".split())
_NO_LINE_START = set("、。，．・：；？！」』）〕］｝〉》】〗〙〛ー…‥ゝゞヽヾ々,.:;?!)]}%")
_NO_LINE_END = set("「『（〔［｛〈《【〖〘〚([{")


def typeset(text: str) -> str:
    """Typographic quotes, apostrophes and ellipses, as a typesetter would set the text on a card."""
    text = re.sub(r"\.\.\.", "…", text)
    text = re.sub(r'(^|[\s(\[{—–-])"', "\\1“", text)
    text = text.replace('"', "”")
    text = re.sub(r"(^|[\s(\[{—–-])'", "\\1‘", text)
    return text.replace("'", "’")


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (0x3040 <= cp <= 0x30FF or 0x3400 <= cp <= 0x4DBF or 0x4E00 <= cp <= 0x9FFF
            or 0xF900 <= cp <= 0xFAFF or 0x3000 <= cp <= 0x303F or 0xFF00 <= cp <= 0xFFEF or 0x20000 <= cp <= 0x2FFFF)


def is_rtl(text: str) -> bool:
    """The paragraph direction: that of the first strong character (the Unicode bidi rule P2)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


@dataclass(frozen=True)
class Piece:
    """Text in one font and one style, inside one unbreakable atom."""

    text: str
    font: str
    accent: bool


@dataclass(frozen=True)
class Atom:
    """The smallest unit a line may not break inside: a word, or one CJK character with its punctuation."""

    pieces: tuple[Piece, ...]
    space_before: bool

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)


def _clusters(text: str) -> list[str]:
    import regex

    return list(regex.findall(r"\X", text))


def highlight_mask(text: str, phrases: Sequence[str]) -> list[bool]:
    """Which characters of ``text`` fall inside a highlight phrase (phrases given as in the source)."""
    mask = [False] * len(text)
    for phrase in phrases:
        target = typeset(phrase)
        start = text.find(target)
        while start >= 0:
            mask[start : start + len(target)] = [True] * len(target)
            start = text.find(target, start + len(target))
    return mask


def atoms_of(text: str, mask: Sequence[bool], book: FontBook, accent_book: FontBook) -> list[Atom]:
    """Split typeset text into atoms, each piece in the first font of the chain that can draw it."""
    atoms: list[Atom] = []
    pieces: list[Piece] = []
    space_before = False
    previous = ""
    position = 0

    def close() -> None:
        nonlocal pieces, space_before
        if pieces:
            atoms.append(Atom(tuple(pieces), space_before))
        pieces, space_before = [], False

    for cluster in _clusters(text):
        accent = mask[position]
        position += len(cluster)
        if cluster.isspace():
            close()
            space_before, previous = True, ""
            continue
        if (pieces and (is_cjk(previous[-1]) or is_cjk(cluster[0]))
                and cluster[0] not in _NO_LINE_START and previous[-1] not in _NO_LINE_END):
            close()  # CJK breaks between characters, with no space
        font = (accent_book if accent else book).font_for(cluster)
        if pieces and pieces[-1].font == font and pieces[-1].accent == accent and font != EMOJI_FONT:
            pieces[-1] = Piece(pieces[-1].text + cluster, font, accent)
        else:
            pieces.append(Piece(cluster, font, accent))
        previous = cluster
    close()
    return atoms


@functools.cache
def _reference_width(font_path: Path, text: str, rtl: bool) -> float:
    if font_path.name == EMOJI_FONT:
        return float(load_font(font_path, EMOJI_PIXEL_SIZE).getlength(text)) * REFERENCE_SIZE / EMOJI_PIXEL_SIZE
    return float(load_font(font_path, REFERENCE_SIZE).getlength(text, direction="rtl" if rtl else "ltr"))


def piece_width(book: FontBook, piece: Piece, size: float, rtl: bool) -> float:
    return _reference_width(book.path(piece.font), piece.text, rtl) * size / REFERENCE_SIZE


@dataclass(frozen=True)
class Measured:
    """Atom widths and the spaces before them, at the reference size."""

    widths: list[float]
    spaces: list[float]
    short_end: list[bool]

    def scaled(self, size: float) -> tuple[list[float], list[float]]:
        factor = size / REFERENCE_SIZE
        return [w * factor for w in self.widths], [s * factor for s in self.spaces]


def measure(atoms: Sequence[Atom], book: FontBook, rtl: bool) -> Measured:
    space = _reference_width(book.path(book.chain[0]), " ", False)
    widths = [sum(piece_width(book, p, REFERENCE_SIZE, rtl) for p in atom.pieces) for atom in atoms]
    spaces = [space if atom.space_before and i else 0.0 for i, atom in enumerate(atoms)]
    short = [atom.text.casefold().strip("“”‘’\"'(") in _SHORT_WORDS for atom in atoms]
    return Measured(widths, spaces, short)


def greedy_line_count(widths: Sequence[float], spaces: Sequence[float], max_width: float) -> int | None:
    """Lines the simplest wrap needs; None when one atom alone is too wide."""
    lines, current = 1, 0.0
    for width, space in zip(widths, spaces, strict=True):
        if width > max_width:
            return None
        if current and current + space + width > max_width:
            lines += 1
            current = width
        else:
            current = current + space + width if current else width
    return lines


def pretty_breaks(measured: Measured, size: float, max_width: float, lines: int, balance: bool) -> list[int]:
    """Break points for exactly ``lines`` lines: even lengths, no orphan, no dangling short word.

    Dynamic programming over (line count, atom index); in the spirit of CSS ``text-wrap: pretty``.
    Returns the start index of every line after the first.
    """
    widths, spaces = measured.scaled(size)
    n = len(widths)
    prefix = [0.0]
    for i in range(n):
        prefix.append(prefix[-1] + widths[i] + (spaces[i] if i else 0.0))

    def line_width(i: int, j: int) -> float:  # atoms i..j-1 on one line
        return prefix[j] - prefix[i] - spaces[i] if i else prefix[j]

    def cost(i: int, j: int, last: bool) -> float:
        width = line_width(i, j)
        if width > max_width:
            return float("inf")
        slack = (max_width - width) / max_width
        if last:
            penalty = slack * slack * (1.0 if balance else 0.25)
            if j - i == 1 and n > lines:
                penalty += 4.0  # a one-word last line
            return penalty
        penalty = slack * slack
        if measured.short_end[j - 1] and j - i > 1:
            penalty += 0.12
        return penalty

    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(lines + 1)]
    back = [[0] * (n + 1) for _ in range(lines + 1)]
    best[0][0] = 0.0
    for k in range(1, lines + 1):
        last = k == lines
        for j in range(k, n + 1):
            if last and j != n:
                continue
            i = j - 1
            while i >= k - 1:
                if line_width(i, j) > max_width:
                    break
                if best[k - 1][i] < inf:
                    candidate = best[k - 1][i] + cost(i, j, last)
                    if candidate < best[k][j]:
                        best[k][j], back[k][j] = candidate, i
                i -= 1
    if best[lines][n] == inf:
        return _greedy_breaks(widths, spaces, max_width)
    breaks, j = [], n
    for k in range(lines, 0, -1):
        j = back[k][j]
        breaks.append(j)
    return sorted(breaks)[1:]


def _greedy_breaks(widths: Sequence[float], spaces: Sequence[float], max_width: float) -> list[int]:
    breaks, current = [], 0.0
    for i, (width, space) in enumerate(zip(widths, spaces, strict=True)):
        if current and current + space + width > max_width:
            breaks.append(i)
            current = width
        else:
            current = current + space + width if current else width
    return breaks


def largest_fitting_size(measured: Measured, low: int, high: int,
                         box: Callable[[int], tuple[float, float]], line_height: float) -> tuple[int, int] | None:
    """The largest size in [low, high] whose simplest wrap fits ``box(size)``, and its line count."""

    def fits(size: int) -> int | None:
        width, height = box(size)
        widths, spaces = measured.scaled(size)
        count = greedy_line_count(widths, spaces, width * WIDTH_SAFETY)
        if count is None or count * size * line_height > height:
            return None
        return count

    if fits(low) is None:
        return None
    while low < high:  # invariant: low fits
        middle = (low + high + 1) // 2
        if fits(middle) is not None:
            low = middle
        else:
            high = middle - 1
    count = fits(low)
    assert count is not None
    return low, count
