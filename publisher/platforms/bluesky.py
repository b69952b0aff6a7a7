"""Bluesky: counting (graphemes and bytes) and facets; the posting adapter joins in a later step."""

from __future__ import annotations

from typing import Any

from publisher.platforms.base import Limits, Measure
from publisher.richtext import segments
from publisher.text import grapheme_count

LIMITS = Limits(max_length=300, unit="graphemes", max_bytes=3000, max_alt=2000)


class BlueskyRules:
    name = "bluesky"
    label = "Bluesky"
    limits = LIMITS

    def measure(self, text: str) -> Measure:
        return Measure(grapheme_count(text), LIMITS.max_length, LIMITS.unit, len(text.encode("utf-8")),
                       LIMITS.max_bytes)


def build_facets(text: str, dids: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """The text and its facets (UTF-8 byte offsets) for hashtags, links and mentions, built with atproto's
    TextBuilder. A mention whose handle has no DID in ``dids`` stays plain text."""
    from atproto import client_utils

    builder = client_utils.TextBuilder()
    for segment in segments(text):
        if segment.kind == "tag" and len(segment.value) <= 64:
            builder.tag(segment.text, segment.value)
        elif segment.kind == "link":
            builder.link(segment.text, segment.value)
        elif segment.kind == "mention" and segment.value.lower() in dids:
            builder.mention(segment.text, dids[segment.value.lower()])
        else:
            builder.text(segment.text)
    facets = [f.model_dump(exclude_none=True, by_alias=True) for f in builder.build_facets()]
    return builder.build_text(), facets
