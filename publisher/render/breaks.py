"""Where text may break between lines, as a typesetter would allow: pure text rules, no fonts.

Between words a line breaks at a space. Inside a word it may break only where readers expect it:

- scripts written without spaces (Thai, Lao, Khmer, Myanmar) between syllables, never inside a grapheme cluster
  nor between a leading vowel and its consonant; CJK between characters (the caller's rule); U+200B anywhere;
- a URL, domain or e-mail address after ``/ . - ? & =``, and a compound after its own hyphen, with no mark added;
- a long word at its hyphenation points (pyphen, in the collection's language), with a hyphen added;
- as a last resort, between any two grapheme clusters (never inside Arabic, whose letters join).

Each kind has a joint name (``SPACE``, ``FREE``, ``SYLLABLE``, ``SOFT``, ``HYPHEN``, ``GRAPHEME``, ``CUT``) that the
line breaker prices: the cheaper a joint, the more readily it is used.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

SPACE = "space"  # between words
FREE = "free"  # between CJK characters, or at U+200B: as good as a space, but no space is drawn
SYLLABLE = "syllable"  # between syllables of a script written without spaces
SOFT = "soft"  # after / . - ? & = in a URL, or after a compound's own hyphen: no mark added
HYPHEN = "hyphen"  # at a hyphenation point: a hyphen is added at the end of the line
GRAPHEME = "grapheme"  # anywhere between letters, with a hyphen added: the last resort
CUT = "cut"  # anywhere between grapheme clusters with no mark (URLs, scripts that do not hyphenate): the last resort

# Lines should not begin with these: they belong to the word before (closing punctuation, ellipsis, dashes).
NO_LINE_START = frozenset(",.:;?!)]}%»”’…—–-‐、。，．・：；？！」』）〕］｝〉》】〗〙〛ー‥ゝゞヽヾ々")
# Lines should not end with these: they belong to the word after (opening brackets and quotes).
NO_LINE_END = frozenset("([{«“‘「『（〔［｛〈《【〖〘〚")
# Small words a line (but the last) must not end on; they bind to what follows.
ARTICLES = frozenset({"a", "an", "the"})
# Other short words a line ends on only when that is clearly better.
SHORT_WORDS = frozenset("and as at by for if in is it of on or so to we".split())

MIN_HYPHENATED_LETTERS = 10  # shorter words are never hyphenated
ZERO_WIDTH_SPACE = "\u200b"

_URL_LIKE = re.compile(r"(?i)^(?:[a-z][a-z0-9+.-]*://|www\.)|^[^\s@]+@[^\s@]+\.[a-z]{2,}|^[a-z0-9-]+(?:\.[a-z0-9-]+)+/")
_URL_BREAK_AFTER = frozenset("/.-?&=")
_LETTERS = re.compile(r"^(\W*)([^\W\d_]+)(\W*)$")

# Leading vowels are written before the consonant they follow in speech: never break after one.
_LEADING_VOWELS = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44\u0ec0\u0ec1\u0ec2\u0ec3\u0ec4")
# Vowels and marks that end a syllable: never break before one.
_FOLLOWING = frozenset("\u0e30\u0e32\u0e33\u0e45\u0e46\u0e2f\u0eb0\u0eb2\u0eb3\u0ec6\u0eaf\u17d4\u17d5\u104a\u104b")
_STACKERS = frozenset("\u17d2\u1039")  # Khmer coeng, Myanmar virama: the next consonant is stacked below
_KILLERS = frozenset("\u103a\u0e4c")  # Myanmar asat, Thai thanthakhat: that consonant closes the syllable before


def script_of(char: str) -> str:
    """The Unicode script family of a character, as far as line breaking needs it."""
    code = ord(char)
    for low, high, name in _SCRIPT_RANGES:
        if low <= code <= high:
            return name
    return "latin" if char.isalpha() else "common"


_SCRIPT_RANGES = (
    (0x0041, 0x024F, "latin"), (0x1E00, 0x1EFF, "latin"), (0x0370, 0x03FF, "greek"), (0x1F00, 0x1FFF, "greek"),
    (0x0400, 0x052F, "cyrillic"), (0x0530, 0x058F, "armenian"), (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"), (0x0750, 0x077F, "arabic"), (0x08A0, 0x08FF, "arabic"), (0xFB50, 0xFDFF, "arabic"),
    (0xFE70, 0xFEFF, "arabic"), (0x0E00, 0x0E7F, "thai"), (0x0E80, 0x0EFF, "lao"), (0x1000, 0x109F, "myanmar"),
    (0x1780, 0x17FF, "khmer"), (0x19E0, 0x19FF, "khmer"), (0x10A0, 0x10FF, "georgian"),
    (0x1200, 0x139F, "ethiopic"),
)
UNSPACED_SCRIPTS = frozenset({"thai", "lao", "khmer", "myanmar"})
HYPHENATED_SCRIPTS = frozenset({"latin", "greek", "cyrillic"})
_NEVER_CUT = frozenset({"arabic"})


@functools.cache
def _cluster_pattern() -> Any:
    import regex

    return regex.compile(r"\X")


def clusters(text: str) -> list[str]:
    """Grapheme clusters (user-perceived characters), as Bluesky counts them too."""
    found: list[str] = _cluster_pattern().findall(text)
    return found


def syllable_breaks(word: Sequence[str]) -> list[int]:
    """Indexes of the clusters of a Thai, Lao, Khmer or Myanmar word before which a line may break."""
    found = []
    for index in range(1, len(word)):
        before, after = word[index - 1], word[index]
        if script_of(before[0]) not in UNSPACED_SCRIPTS or script_of(after[0]) not in UNSPACED_SCRIPTS:
            continue
        if before[-1] in _LEADING_VOWELS or before[-1] in _STACKERS or after[0] in _FOLLOWING:
            continue
        if any(k in after for k in _KILLERS):  # a closing consonant belongs to the syllable before
            continue
        if index + 1 < len(word) and any(k in word[index + 1] for k in _KILLERS) and len(after) == 1:
            continue  # Thai ทร์: both letters are silent, and stay with the syllable before
        found.append(index)
    return found


def soft_breaks(word: Sequence[str]) -> list[int]:
    """Indexes of the clusters before which a URL, domain, e-mail address or hyphenated compound may break
    with no mark added: after ``/ . - ? & =`` in a URL, after the hyphen of a compound."""
    found = []
    if is_url_like(word):
        for index in range(1, len(word) - 1):
            if word[index - 1] in _URL_BREAK_AFTER and word[index] not in _URL_BREAK_AFTER:
                found.append(index)
        return found
    for index in range(2, len(word) - 1):  # a compound: "long-standing" breaks after its hyphen
        if word[index - 1] in ("-", "‐") and word[index - 2].isalpha() and word[index].isalpha():
            found.append(index)
    return found


@functools.cache
def _hyphenator(language: str) -> object | None:
    import pyphen

    chosen = pyphen.language_fallback(language.replace("-", "_"))
    return pyphen.Pyphen(lang=chosen, left=2, right=3) if chosen else None


def hyphenation_breaks(word: Sequence[str], language: str) -> list[int]:
    """Indexes of the clusters of a long word before which it may be hyphenated (in ``language``; English for
    a Latin word when that language has no dictionary). Only whole letters-only words of 10 letters or more."""
    text = "".join(word)
    match = _LETTERS.match(text)
    if not match or len(match.group(2)) < MIN_HYPHENATED_LETTERS or len(word) != len(text):
        return []  # combining marks or punctuation inside: leave it to the last resort
    scripts = {script_of(c) for c in match.group(2)}
    if not scripts <= HYPHENATED_SCRIPTS:
        return []
    dictionary = _hyphenator(language) or (_hyphenator("en_GB") if scripts == {"latin"} else None)
    if dictionary is None:
        return []
    offset = len(match.group(1))
    positions: list[int] = dictionary.positions(match.group(2))  # type: ignore[attr-defined]
    return [offset + p for p in positions]


def grapheme_breaks(word: Sequence[str]) -> list[int]:
    """Every cluster boundary of a word that may be cut at all (not Arabic, not inside a syllable's glue)."""
    if any(script_of(c[0]) in _NEVER_CUT for c in word):
        return []
    found = []
    for index in range(1, len(word)):
        before, after = word[index - 1], word[index]
        if before[-1] in _LEADING_VOWELS or before[-1] in _STACKERS or after[0] in _FOLLOWING:
            continue
        if any(k in after for k in _KILLERS) or after[0] in NO_LINE_START or before[-1] in NO_LINE_END:
            continue
        found.append(index)
    return found


def last_resort_joint(word: Sequence[str], index: int) -> str:
    """How a word cut before cluster ``index`` as a last resort shows it: with a hyphen between letters of a
    script that hyphenates (``GRAPHEME``), else with no mark (``CUT``: a URL, Indic or Ethiopic text)."""
    before, after = word[index - 1], word[index]
    hyphenates = (before[0].isalpha() and after[0].isalpha() and not is_url_like(word)
                  and script_of(before[0]) in HYPHENATED_SCRIPTS | {"armenian", "georgian"})
    return GRAPHEME if hyphenates else CUT


def is_url_like(word: Sequence[str]) -> bool:
    return bool(_URL_LIKE.search("".join(word)))


def bare_word(text: str) -> str:
    """The word without the punctuation around it, case-folded: what the short-word rules look at."""
    return text.casefold().strip("“”‘’\"'()[]«»,.;:!?…—–")


def is_spaced(text: str) -> bool:
    """Whether the text separates its words with spaces (else a one-word line means nothing)."""
    return any(ch.isspace() for ch in text.strip()) and not all(
        script_of(ch) in UNSPACED_SCRIPTS or unicodedata.east_asian_width(ch) in ("W", "F")
        for ch in text if ch.isalpha())
