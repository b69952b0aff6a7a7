"""X: weighted counting by the twitter-text rules, and the posting cost; the adapter joins in a later step."""

from __future__ import annotations

from publisher.platforms.base import Limits, Measure
from publisher.richtext import has_link

LIMITS = Limits(max_length=280, unit="weighted characters", max_alt=1000, max_image_bytes=5_000_000)
# Pay-per-use prices (April 2026), US dollars.
PRICE_PER_POST = 0.015
PRICE_PER_POST_WITH_URL = 0.20
PRICE_PER_ALT_TEXT = 0.005


def weighted_length(text: str, emoji_parsing: bool = True) -> int:
    """twitter-text's weighted length: config v3 (emoji count 2 each) by default; v2 counts every code point."""
    from twitter_text import parse_tweet
    from twitter_text.config import config

    options = config["version3"] if emoji_parsing else {**config["version2"], "emoji_parsing_enabled": False}
    return int(parse_tweet(text, options).weightedLength)


class XRules:
    name = "x"
    label = "X"
    limits = LIMITS

    def measure(self, text: str) -> Measure:
        return Measure(weighted_length(text), LIMITS.max_length, LIMITS.unit)


def post_cost(text: str, images: int) -> float:
    """What one post costs on X's pay-per-use API: the post, plus one metadata call per image's alt text."""
    return (PRICE_PER_POST_WITH_URL if has_link(text) else PRICE_PER_POST) + images * PRICE_PER_ALT_TEXT
