"""Counting as each platform counts: X's twitter-text conformance cases, Bluesky graphemes/bytes, facets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO
from publisher.platforms import rules_for
from publisher.platforms.bluesky import build_facets
from publisher.platforms.x import post_cost, weighted_length

CONFORMANCE = REPO.parent / "shared" / "conformance" / "twitter-text-validate.yml"
LOCAL_COPY = REPO / "tests" / "data" / "twitter-text-validate.yml"


def conformance_cases(section: str) -> list[dict]:  # type: ignore[type-arg]
    path = CONFORMANCE if CONFORMANCE.exists() else LOCAL_COPY
    cases: list[dict] = yaml.safe_load(path.read_text("utf-8"))["tests"][section]  # type: ignore[type-arg]
    return cases


WEIGHTED = conformance_cases("WeightedTweetsCounterTest")
DISCOUNTED = conformance_cases("WeightedTweetsWithDiscountedEmojiCounterTest")


def test_local_copy_of_the_conformance_file_is_current() -> None:
    if not CONFORMANCE.exists():
        pytest.skip("no shared/ beside this checkout")
    assert LOCAL_COPY.read_bytes() == CONFORMANCE.read_bytes()


@pytest.mark.parametrize("case", WEIGHTED, ids=[c["description"] for c in WEIGHTED])
def test_weighted_tweets_counter(case: dict) -> None:  # type: ignore[type-arg]
    """The WeightedTweetsCounterTest cases use twitter-text config v2 (every emoji code point weighs 2)."""
    assert weighted_length(case["text"], emoji_parsing=False) == case["expected"]["weightedLength"]
    assert (weighted_length(case["text"], emoji_parsing=False) <= 280) == case["expected"]["valid"]


@pytest.mark.parametrize("case", DISCOUNTED, ids=[c["description"] for c in DISCOUNTED])
def test_weighted_tweets_with_discounted_emoji(case: dict) -> None:  # type: ignore[type-arg]
    """Config v3, what X counts today (an emoji sequence weighs 2): the counter the X adapter uses."""
    assert weighted_length(case["text"]) == case["expected"]["weightedLength"]
    assert rules_for("x").measure(case["text"]).fits == case["expected"]["valid"]


def test_x_counting_basics() -> None:
    x = rules_for("x")
    assert x.measure("a" * 280).fits and not x.measure("a" * 281).fits
    assert x.measure("…").length == 2  # outside the weight-1 ranges
    assert x.measure("“quoted”").length == 8  # U+201C/D are in the weight-1 range
    assert x.measure("see https://example.com/a/very/long/path/that/goes/on/and/on").length == 4 + 23
    assert x.measure("漢字").length == 4


@pytest.mark.parametrize(("text", "graphemes", "utf8_bytes"), [
    ("👨‍👩‍👧‍👦", 1, 25),  # ZWJ family
    ("🇬🇧", 1, 8),  # flag: two regional indicators
    ("👍🏽", 1, 8),  # skin tone modifier
    ("e\u0301", 1, 3),  # combining acute accent
    ("हिन्दी", 2, 18),  # Hindi: conjuncts are one grapheme each
    ("क्षत्रिय", 3, 24),
    ("Café", 4, 5),
])
def test_bluesky_counts_graphemes_and_bytes(text: str, graphemes: int, utf8_bytes: int) -> None:
    measure = rules_for("bluesky").measure(text)
    assert (measure.length, measure.bytes) == (graphemes, utf8_bytes)


def test_bluesky_limits_are_graphemes_and_bytes() -> None:
    bluesky = rules_for("bluesky")
    assert bluesky.measure("a" * 300).fits and not bluesky.measure("a" * 301).fits
    assert bluesky.measure("👨‍👩‍👧‍👦" * 120).fits  # 120 graphemes, 3000 bytes: both limits exactly
    over_bytes = bluesky.measure("👨‍👩‍👧‍👦" * 121)
    assert over_bytes.length == 121 and not over_bytes.fits
    assert str(over_bytes) == "121/300 graphemes, 3025/3000 bytes"


def test_facet_byte_offsets_after_multibyte_text() -> None:
    text = "Café 👨‍👩‍👧‍👦 “quote” #CaseyReview see https://example.org/x and @someone.bsky.social ok"
    built, facets = build_facets(text, {"someone.bsky.social": "did:plc:abc123"})
    assert built == text
    raw = text.encode("utf-8")
    found = {}
    for facet in facets:
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        feature = facet["features"][0]
        found[feature["$type"].split("#")[1]] = (raw[start:end].decode("utf-8"), feature)
    assert found["tag"] == ("#CaseyReview", {"tag": "CaseyReview", "$type": "app.bsky.richtext.facet#tag"})
    assert found["link"][0] == "https://example.org/x"
    assert found["mention"] == ("@someone.bsky.social",
                                {"did": "did:plc:abc123", "$type": "app.bsky.richtext.facet#mention"})


def test_unresolved_mentions_stay_plain_text() -> None:
    text = "Ask @nobody.example about it #tag"
    built, facets = build_facets(text, {})
    assert built == text
    assert [f["features"][0]["$type"] for f in facets] == ["app.bsky.richtext.facet#tag"]


def test_x_cost() -> None:
    assert post_cost("no link here", images=0) == pytest.approx(0.015)
    assert post_cost("a link https://example.org", images=1) == pytest.approx(0.205)


def test_conformance_file_has_the_cases() -> None:
    assert len(WEIGHTED) >= 20 and len(DISCOUNTED) >= 20
    assert Path(CONFORMANCE if CONFORMANCE.exists() else LOCAL_COPY).exists()
