"""Finding hashtags, mentions and links in post text: for Bluesky facets, X's URL pricing and the preview."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_HASHTAG = re.compile(r"(?<![\w#&])#(\w*[^\W\d_]\w*)")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)")


@dataclass(frozen=True)
class Segment:
    """A run of post text: plain, or a hashtag, mention or link with its value (tag without #, handle, URL)."""

    kind: Literal["text", "tag", "mention", "link"]
    text: str
    value: str = ""


def _links(text: str) -> list[tuple[int, int, str]]:
    from publisher.compat import import_twitter_text

    import_twitter_text()
    from twitter_text import extract_urls_with_indices

    found = []
    for url in extract_urls_with_indices(text):
        start, end = url["indices"]
        target = url["url"] if re.match(r"https?://", url["url"], re.IGNORECASE) else "https://" + url["url"]
        found.append((start, end, target))
    return found


def segments(text: str) -> list[Segment]:
    """The text cut into plain runs and entities, in order; joined, the segments give back the text exactly."""
    spans: list[tuple[int, int, str, str]] = [(s, e, "link", v) for s, e, v in _links(text)]

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _, _ in spans)

    for match in _HASHTAG.finditer(text):
        if free(match.start(), match.end()):
            spans.append((match.start(), match.end(), "tag", match.group(1)))
    for match in _MENTION.finditer(text):
        if free(match.start(), match.end()):
            spans.append((match.start(), match.end(), "mention", match.group(1)))
    out: list[Segment] = []
    position = 0
    for start, end, kind, value in sorted(spans):
        if start > position:
            out.append(Segment("text", text[position:start]))
        out.append(Segment(kind, text[start:end], value))  # type: ignore[arg-type]
        position = end
    if position < len(text):
        out.append(Segment("text", text[position:]))
    return out


def has_link(text: str) -> bool:
    return bool(_links(text))


def written_links(text: str) -> list[tuple[int, int]]:
    """Where the text has links written with their http(s):// (the only ones Mastodon counts as links)."""
    return [(start, end) for start, end, _ in _links(text) if re.match(r"https?://", text[start:end], re.IGNORECASE)]


def hashtags_in(text: str) -> set[str]:
    """Hashtags already written in the text, case-folded (so captions do not repeat them)."""
    return {s.value.casefold() for s in segments(text) if s.kind == "tag"}
