"""Setting a quote: typographic punctuation, atoms and their fonts, the size search and the line breaker.

The breaker chooses all of a quote's breaks together (total fit, in the manner of Knuth and Plass): it minimises
the raggedness of the lines plus the price of each break (``breaks``: a space costs nothing, a hyphen something),
under hard rules a typesetter keeps:

- no line opens with closing punctuation, an ellipsis or a dash (they stay with the word before);
- no line but the last ends on "a", "an" or "the";
- no line of a multi-line quote is a single word;
- no line is shorter than half the longest (the last line: a third).

When no setting of the lines keeps every rule, the measure is narrowed, then a line added, then the type made
smaller (down to 80 %); only then are the rules weighed rather than kept, and the card reports how many it broke.
Widths are measured once per piece of text at a reference size and scaled (cached across cards, as words repeat).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from publisher.render import breaks
from publisher.render.breaks import (
    CUT,
    FREE,
    GRAPHEME,
    HYPHEN,
    SOFT,
    SPACE,
    SYLLABLE,
    ZERO_WIDTH_SPACE,
    clusters,
)
from publisher.render.fonts import EMOJI_FONT, EMOJI_PIXEL_SIZE, FontBook, font_errors, load_font

REFERENCE_SIZE = 100
WIDTH_SAFETY = 0.985  # scaled widths can be a hair short of hinted ones at the final size
HYPHEN_MARK = "-"

_CJK_NO_LINE_START = set("、。，．・：；？！」』）〕］｝〉》】〗〙〛ー…‥ゝゞヽヾ々,.:;?!)]}%")
_CJK_NO_LINE_END = set("「『（〔［｛〈《【〖〘〚([{")

# What each kind of break costs the line breaker (a line's raggedness costs up to 1).
JOINT_COST = {SPACE: 0.0, FREE: 0.0, SYLLABLE: 0.02, SOFT: 0.06, HYPHEN: 0.35, GRAPHEME: 3.0, CUT: 3.0}
SHORT_END_COST = 0.12  # ending a line on "of", "to", "in" ... when another break is nearly as good
RULE_COST = 25.0  # a broken rule, when no setting keeps them all
NARROWER_MEASURES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)
SMALLEST_SIZE_FOR_RULES = 0.8  # the type may shrink this far to keep the rules
HYPHENATE_IF_LARGER = 1.1  # hyphenate a long word only if that sets the type a tenth larger (or it cannot fit)


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
    """The smallest unit a line may not break inside: a word, a piece of one (between its break points), or one
    CJK character with its punctuation. ``joint`` says what kind of break comes before it; ``word`` numbers the
    space-separated word it belongs to."""

    pieces: tuple[Piece, ...]
    space_before: bool
    joint: str = SPACE
    word: int = 0

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)


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


@dataclass
class _Word:
    """A run of clusters between break opportunities of the text itself (spaces, CJK, U+200B)."""

    clusters: list[str]
    accents: list[bool]
    joint: str
    number: int


def _words(text: str, mask: Sequence[bool]) -> list[_Word]:
    words: list[_Word] = []
    current: _Word | None = None
    joint, number, position, previous = SPACE, 0, 0, ""
    for cluster in clusters(text):
        accent = mask[position] if position < len(mask) else False
        position += len(cluster)
        if cluster.isspace() or cluster == ZERO_WIDTH_SPACE:
            if current is not None:
                words.append(current)
                current = None
            if cluster.isspace():
                joint, number = SPACE, number + 1
            elif joint != SPACE:
                joint = FREE
            previous = ""
            continue
        if (current is not None and (is_cjk(previous[-1]) or is_cjk(cluster[0]))
                and cluster[0] not in _CJK_NO_LINE_START and previous[-1] not in _CJK_NO_LINE_END):
            words.append(current)  # CJK breaks between characters, with no space
            current, joint = None, FREE
        if current is None:
            current = _Word([], [], joint if words else SPACE, number)
            joint = FREE
        current.clusters.append(cluster)
        current.accents.append(accent)
        previous = cluster
    if current is not None:
        words.append(current)
    return words


def _atom(word: _Word, start: int, end: int, joint: str, book: FontBook, accent_book: FontBook) -> Atom:
    pieces: list[Piece] = []
    for cluster, accent in zip(word.clusters[start:end], word.accents[start:end], strict=True):
        font = (accent_book if accent else book).font_for(cluster)
        if pieces and pieces[-1].font == font and pieces[-1].accent == accent and font != EMOJI_FONT:
            pieces[-1] = Piece(pieces[-1].text + cluster, font, accent)
        else:
            pieces.append(Piece(cluster, font, accent))
    return Atom(tuple(pieces), joint == SPACE, joint, word.number)


def _word_atoms(word: _Word, splits: list[tuple[int, str]], book: FontBook, accent_book: FontBook) -> list[Atom]:
    edges = [(0, word.joint), *sorted(splits)]
    return [_atom(word, start, end, joint, book, accent_book)
            for (start, joint), (end, _) in zip(edges, [*edges[1:], (len(word.clusters), "")], strict=True)
            if end > start]


def _cut(words: Sequence[_Word], splits: Callable[[_Word], list[tuple[int, str]]], book: FontBook,
         accent_book: FontBook) -> list[Atom]:
    return [atom for word in words for atom in _word_atoms(word, splits(word), book, accent_book)]


def atoms_of(text: str, mask: Sequence[bool], book: FontBook, accent_book: FontBook) -> list[Atom]:
    """Typeset text as atoms, each piece in the first font of the chain that can draw it: words, and CJK
    characters and Thai/Lao/Khmer/Myanmar syllables (which need no space to break between)."""
    return _cut(_words(text, mask), lambda w: [(i, SYLLABLE) for i in breaks.syllable_breaks(w.clusters)],
                book, accent_book)


class BreakableText:
    """A quote's atoms in three settings of its break points: the text's own (spaces, CJK, syllables, URLs and
    compounds), plus hyphenation of long words, plus cuts between any grapheme clusters as the last resort.
    Each setting is made only when the size search asks for it, from the words it changes."""

    SETTINGS = 3

    def __init__(self, text: str, mask: Sequence[bool], book: FontBook, accent_book: FontBook, language: str):
        self._words = _words(text, mask)
        self._book, self._accent_book, self._language = book, accent_book, language
        self.spaced = breaks.is_spaced(text)
        self._splits: list[list[list[tuple[int, str]]]] = []
        self._atoms: list[list[list[Atom]]] = []

    def _more_splits(self, word: _Word, setting: int, before: list[tuple[int, str]]) -> list[tuple[int, str]]:
        if setting == 0:
            found = {i: SYLLABLE for i in breaks.syllable_breaks(word.clusters)}
            found.update({i: SOFT for i in breaks.soft_breaks(word.clusters)})
            return list(found.items())
        found = dict(before)
        if setting == 1:
            for index in breaks.hyphenation_breaks(word.clusters, self._language):
                found.setdefault(index, HYPHEN)
        else:
            for index in breaks.grapheme_breaks(word.clusters):
                found.setdefault(index, breaks.last_resort_joint(word.clusters, index))
        return list(found.items())

    def atoms(self, setting: int) -> list[Atom]:
        """The atoms with the break points of ``setting`` (0: the text's own; 1: and hyphenation; 2: and any)."""
        while len(self._atoms) <= setting:
            level = len(self._atoms)
            splits, atoms = [], []
            for index, word in enumerate(self._words):
                before = self._splits[level - 1][index] if level else []
                found = self._more_splits(word, level, before)
                splits.append(found)
                same = level and len(found) == len(before)
                atoms.append(self._atoms[level - 1][index] if same else
                             _word_atoms(word, found, self._book, self._accent_book))
            self._splits.append(splits)
            self._atoms.append(atoms)
        return [atom for word_atoms in self._atoms[setting] for atom in word_atoms]

    def changes(self, setting: int) -> bool:
        """Whether ``setting`` adds any break point to the one before it."""
        self.atoms(setting)
        return setting == 0 or self._splits[setting] != self._splits[setting - 1]


@functools.cache
def _reference_width(font_path: Path, text: str, rtl: bool, language: str | None) -> float:
    with font_errors(font_path):
        if font_path.name == EMOJI_FONT:
            return float(load_font(font_path, EMOJI_PIXEL_SIZE).getlength(text)) * REFERENCE_SIZE / EMOJI_PIXEL_SIZE
        return float(load_font(font_path, REFERENCE_SIZE).getlength(text, direction="rtl" if rtl else "ltr",
                                                                     language=language))


def piece_width(book: FontBook, piece: Piece, size: float, rtl: bool, language: str | None = None) -> float:
    return _reference_width(book.path(piece.font), piece.text, rtl, language) * size / REFERENCE_SIZE


@dataclass(frozen=True)
class Measured:
    """Atom widths, the spaces before them and what the rules need to know of each, at the reference size."""

    atoms: tuple[Atom, ...]
    widths: list[float]
    spaces: list[float]
    hyphens: list[float]  # the width a hyphen adds when a line ends before this atom at a HYPHEN or GRAPHEME joint
    costs: list[float]  # the price of breaking before each atom
    no_start: list[bool]  # a line may not begin with this atom
    article_end: list[bool]  # a line ending with this atom ends on a/an/the
    short_end: list[bool]  # ... on another short word
    spaced: bool = True

    def scaled(self, size: float) -> tuple[list[float], list[float]]:
        factor = size / REFERENCE_SIZE
        return [w * factor for w in self.widths], [s * factor for s in self.spaces]


def measure(atoms: Sequence[Atom], book: FontBook, rtl: bool, language: str | None = None,
            spaced: bool = True) -> Measured:
    space = _reference_width(book.path(book.chain[0]), " ", False, None)
    hyphen = _reference_width(book.path(book.chain[0]), HYPHEN_MARK, False, None)
    widths = [sum(piece_width(book, p, REFERENCE_SIZE, rtl, language) for p in atom.pieces) for atom in atoms]
    spaces = [space if atom.space_before and i else 0.0 for i, atom in enumerate(atoms)]
    last = len(atoms) - 1
    hyphens, costs, no_start, article_end, short_end = [], [], [], [], []
    for i, atom in enumerate(atoms):
        hyphens.append(hyphen if atom.joint in (HYPHEN, GRAPHEME) else 0.0)
        costs.append(JOINT_COST[atom.joint])
        no_start.append(atom.joint == SPACE and atom.text[:1] in breaks.NO_LINE_START)
        ends_word = i == last or atoms[i + 1].joint == SPACE
        word = breaks.bare_word(atom.text) if ends_word and atom.joint == SPACE else ""
        article_end.append(word in breaks.ARTICLES)
        short_end.append(word in breaks.SHORT_WORDS)
    return Measured(tuple(atoms), widths, spaces, hyphens, costs, no_start, article_end, short_end, spaced)


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


@dataclass
class Setting:
    """How a text is set: its size, where each line after the first starts, each line's width at that size
    (with the hyphen added where a line ends inside a word), and how many rules it had to break."""

    size: int
    breaks: list[int]
    widths: list[float]
    hyphenated: list[bool] = field(default_factory=list)
    rules_broken: int = 0
    measured: Measured | None = None


def total_fit(measured: Measured, size: float, measure_width: float, lines: int, balance: bool,
              keep_rules: bool = True) -> Setting | None:
    """The best breaks into exactly ``lines`` lines no wider than ``measure_width``: least raggedness plus the
    price of the breaks; the rules kept (else None), or with ``keep_rules=False`` weighed and counted."""
    widths, spaces = measured.scaled(size)
    factor = size / REFERENCE_SIZE
    hyphens = [h * factor for h in measured.hyphens]
    n = len(widths)
    if n == 0:
        return Setting(int(size), [], [])
    prefix = [0.0]
    for i in range(n):
        prefix.append(prefix[-1] + widths[i] + spaces[i])
    multi = lines > 1
    shortest, shortest_last = measure_width / 2, measure_width / 3
    word_width: dict[int, float] = {}
    for atom, width, space in zip(measured.atoms, widths, spaces, strict=True):
        word_width[atom.word] = word_width.get(atom.word, -space) + width + space
    # a word wider than the measure must leave some line holding only part of it: not a broken rule
    fits_a_line = {word: width <= measure_width for word, width in word_width.items()}

    def line_width(i: int, j: int) -> float:  # atoms i..j-1 on one line
        return prefix[j] - prefix[i] - spaces[i] + (hyphens[j] if j < n else 0.0)

    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(lines + 1)]
    back = [[0] * (n + 1) for _ in range(lines + 1)]
    broken = [[0] * (n + 1) for _ in range(lines + 1)]
    best[0][0] = 0.0
    for k in range(1, lines + 1):
        last = k == lines
        for j in ([n] if last else range(k, n - (lines - k) + 1)):
            end_rules = 0
            if not last:
                end_rules += measured.no_start[j] + measured.article_end[j - 1]
                if keep_rules and end_rules:
                    continue
            end_cost = (measured.costs[j] + (SHORT_END_COST if measured.short_end[j - 1] else 0.0)) if not last \
                else 0.0
            for i in range(j - 1, k - 2, -1):
                if best[k - 1][i] == inf:
                    continue
                width = line_width(i, j)
                if width > measure_width:
                    break
                rules = end_rules
                if multi:
                    rules += width < (shortest_last if last else shortest)
                    word = measured.atoms[i].word
                    rules += measured.spaced and word == measured.atoms[j - 1].word and fits_a_line[word]
                if keep_rules and rules:
                    continue
                slack = (measure_width - width) / measure_width
                cost = slack * slack * (1.0 if balance or not last else 0.25) + end_cost + RULE_COST * rules
                candidate = best[k - 1][i] + cost
                if candidate < best[k][j]:
                    best[k][j], back[k][j], broken[k][j] = candidate, i, broken[k - 1][i] + rules
    if best[lines][n] == inf:
        return None
    starts, j = [], n
    for k in range(lines, 0, -1):
        j = back[k][j]
        starts.append(j)
    starts.reverse()
    edges = [*starts, n]
    line_widths = [line_width(a, b) for a, b in itertools.pairwise(edges)]
    hyphenated = [b < n and hyphens[b] > 0 for b in edges[1:]]
    return Setting(int(size), starts[1:], line_widths, hyphenated, broken[lines][n], measured)


def _largest_greedy_size(measured: Measured, low: int, high: int, box: Callable[[int], tuple[float, float]],
                         line_height: float) -> tuple[int, int] | None:
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


def set_text(variants: Callable[[int], Measured | None], low: int, high: int,
             box: Callable[[int], tuple[float, float]], line_height: float, balance: bool) -> Setting | None:
    """The largest size at which the text fits ``box(size)`` (width, height) between ``low`` and ``high``, its
    lines broken by ``total_fit``. ``variants(i)`` is the text measured with the break points of setting ``i``
    (see ``BreakableText``), or None when that setting adds none. Hyphenation is used only where it sets the type
    a tenth larger or is needed to fit; cuts anywhere only when nothing else fits. None when the text cannot fit
    at ``low``."""
    natural = variants(0)
    assert natural is not None
    found = _largest_greedy_size(natural, low, high, box, line_height)
    measured, best_size = natural, found[0] if found else 0
    for level in (1, 2):
        if best_size and (level == 2 or not _word_holds_down(natural, best_size, high, box)):
            break  # hyphenation would not set it a tenth larger; cuts are only for what cannot fit otherwise
        candidate = variants(level)
        if candidate is None:
            continue
        larger = _largest_greedy_size(candidate, low, high, box, line_height)
        if larger and (not best_size or larger[0] >= best_size * HYPHENATE_IF_LARGER):
            measured, best_size = candidate, larger[0]
    if not best_size:
        return None
    kept = _keeping_rules(measured, best_size, low, box, line_height, balance)
    if kept is None and measured is natural:  # hyphenating a long word may keep the rules where nothing else can
        hyphenated = variants(1)
        larger = _largest_greedy_size(hyphenated, low, high, box, line_height) if hyphenated else None
        if hyphenated and larger:
            kept = _keeping_rules(hyphenated, larger[0], low, box, line_height, balance)
    if kept is not None:
        return kept
    # The rules cannot all be kept: the fewest broken. The simplest wrap's line count nearly always has such a
    # setting, but a line it ends at a hyphenation point may be too wide once the hyphen is added: then more
    # lines, or a smaller size.
    for size, width, height, count in _simplest_wraps(measured, best_size, low, box):
        while count * size * line_height <= height:
            setting = total_fit(measured, size, width * WIDTH_SAFETY, count, balance, keep_rules=False)
            if setting is not None:
                return setting
            count += 1
    return None


def _simplest_wraps(measured: Measured, largest: int, smallest: int, box: Callable[[int], tuple[float, float]]
                    ) -> Iterator[tuple[int, float, float, int]]:
    """From ``largest`` down to ``smallest``: each size whose simplest wrap exists, with its box (width, height)
    and that wrap's line count."""
    for size in range(largest, smallest - 1, -1):
        width, height = box(size)
        widths, spaces = measured.scaled(size)
        count = greedy_line_count(widths, spaces, width * WIDTH_SAFETY)
        if count is not None:
            yield size, width, height, count


def _word_holds_down(measured: Measured, size: int, high: int, box: Callable[[int], tuple[float, float]]) -> bool:
    """Whether a word too wide for the line is what keeps the type from a tenth larger: then hyphenating it may
    help; otherwise it cannot (and its dictionary is not even loaded)."""
    larger = math.ceil(size * HYPHENATE_IF_LARGER)
    if larger > high:
        return False
    limit = box(larger)[0] * WIDTH_SAFETY * REFERENCE_SIZE / larger
    return any(width > limit for width in measured.widths)


def _keeping_rules(measured: Measured, best_size: int, low: int, box: Callable[[int], tuple[float, float]],
                   line_height: float, balance: bool) -> Setting | None:
    """The first setting that keeps every rule: at the largest size, with the measure narrowed step by step,
    then with one line more, then at smaller sizes down to 80 %."""
    smallest = max(low, math.floor(best_size * SMALLEST_SIZE_FOR_RULES))
    for size, width, height, count in _simplest_wraps(measured, best_size, smallest, box):
        for lines in (count, count + 1):
            if lines * size * line_height > height:
                break
            for narrower in NARROWER_MEASURES:
                setting = total_fit(measured, size, width * WIDTH_SAFETY * narrower, lines, balance)
                if setting is not None:
                    return setting
    return None


def split_lines(atoms: Sequence[Atom], breaks_at: Sequence[int]) -> list[list[Atom]]:
    edges = [0, *breaks_at, len(atoms)]
    return [list(atoms[a:b]) for a, b in itertools.pairwise(edges) if b > a]


def line_text(atoms: Sequence[Atom], hyphenated: bool = False) -> str:
    return "".join((" " if i and atom.space_before else "") + atom.text for i, atom in enumerate(atoms)) \
        + (HYPHEN_MARK if hyphenated else "")
