"""Pure text helpers shared by the steps: normalising for comparison, slugs, grapheme counts."""

from __future__ import annotations

import re
import unicodedata

# Embeddings, overrides and isolates: they can make readers see text in another order than it is stored.
BIDI_CONTROLS = frozenset(chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_TYPOGRAPHIC = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})

# Small words dropped from ids so that they start with what the quote is about.
_STOP_WORDS = frozenset(
    """a an and are as at be been by for from has have in is it its of on or so that the their there these this
    to was were which who will with""".split()
)
_MAX_SLUG_WORDS = 5
_MAX_SLUG_LENGTH = 48


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """"1 card", "2 cards": a count and its noun, agreeing."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def normalise_for_dedupe(text: str) -> str:
    """Two quotes are the same if they differ only in case, spacing, quote style or ellipsis style."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC).replace("…", "...")
    return " ".join(text.casefold().split())


def slug_words(text: str) -> list[str]:
    """Lowercase ASCII words of the text, small words dropped when enough others remain."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text.replace("'", ""))
    content = [w for w in words if w not in _STOP_WORDS]
    return content if len(content) >= 2 else words


def unique_slug(text: str, taken: set[str]) -> str:
    """A readable id from the text, lengthened word by word (then numbered) until no other quote has it."""
    words = slug_words(text) or ["quote"]
    count = min(_MAX_SLUG_WORDS, len(words))
    while True:
        candidate = _join_within(words[:count], _MAX_SLUG_LENGTH)
        if candidate not in taken:
            return candidate
        if count >= len(words) or len(candidate) + len(words[count]) >= _MAX_SLUG_LENGTH:
            break
        count += 1
    number = 2
    while f"{candidate}-{number}" in taken:
        number += 1
    return f"{candidate}-{number}"


def _join_within(words: list[str], limit: int) -> str:
    """Hyphen-joined words, dropping whole words from the end to stay within ``limit``."""
    while len(words) > 1 and len("-".join(words)) > limit:
        words = words[:-1]
    return "-".join(words)[:limit]


def grapheme_count(text: str) -> int:
    """User-perceived characters, as Bluesky counts them."""
    import regex  # only commands that count pay for the import

    return len(regex.findall(r"\X", text))


def trim_alt(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:—–-") + "…"


def unsafe_character(text: str, line_breaks: bool = False) -> str | None:
    """The first character that would not show as itself (a control character, NUL or a bidi override), named
    as ``U+001B (character 4)``; None when there is none. ``line_breaks``: a line feed or tab is allowed."""
    for position, char in enumerate(text, start=1):
        if char in BIDI_CONTROLS or (unicodedata.category(char) == "Cc" and not (line_breaks and char in "\n\t")):
            return f"U+{ord(char):04X} (character {position})"
    return None


# json.dumps escapes U+0000-U+001F itself; these it would leave as they are.
_RAW_IN_JSON = re.compile("[\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "]")


def json_terminal_safe(encoded: str) -> str:
    """JSON text (from json.dumps) with the characters that act on a terminal escaped: the same value to any
    JSON reader."""
    return _RAW_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", encoded)


def terminal_safe(text: str, keep_line_breaks: bool = True) -> str:
    """Text fit for a terminal: control and bidi characters (an escape sequence in a reason or in a server's
    answer, say) are shown as ``<U+001B>`` instead of acting on the screen."""
    return "".join(f"<U+{ord(c):04X}>" if (unicodedata.category(c) == "Cc" and not (keep_line_breaks and c in "\n\t"))
                   or c in BIDI_CONTROLS else c for c in text)
