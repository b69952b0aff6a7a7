"""Mastodon's counting (``MastodonRules.measure``) against cases taken from Mastodon's own documentation and the
server's specification of its counter (mastodon/mastodon spec/validators/status_length_validator_spec.rb, whose
examples are relative to a limit of 500), then against the fake server's counter on random texts."""

from __future__ import annotations

import random

import pytest

from fakes.mastodon_api import status_length
from publisher.platforms.mastodon import MastodonRules, ServerLimits

RULES = MastodonRules()
LINK = "http://" + "b" * 30 + ".com/example"  # the spec's example_link: 44 characters, counted as 23


@pytest.mark.parametrize(("text", "counted", "fits"), [
    # docs.joinmastodon.org/user/posting/#text: "URLs in text always count for 23 characters"; the spec's
    # 'reduces calculated length of auto-linkable space-separated URLs'
    ("a" * 476 + " " + LINK, 500, True),
    # the spec's 'does not reduce calculated length of non-autolinkable URLs': a URL glued to a word is text
    ("a" * 476 + LINK, 476 + len(LINK), False),
    # the spec's 'does not reduce calculated length of count overly long URLs'
    ("http://example.com/valid?" + "#foo?" * 1000, 25 + 5000, False),
    # user/posting/#mentions and the spec's 'counts only the front part of remote usernames': @alice@domain is
    # @alice
    ("a" * 475 + " @alice@" + "b" * 30 + ".com", 475 + 1 + 6, True),
    ("a" * 493 + " @alice@" + "b" * 30 + ".com", 500, True),
    # the spec's 'does count both parts of remote usernames for overly long domains' (Extractor::MAX_DOMAIN_LENGTH)
    ("@alice@" + "b" * 500 + ".com", 7 + 500 + 4, False),
    # the spec's 'counts multi byte emoji as single character' and 'counts ZWJ sequence emoji as single character'
    ("✨" * 500, 500, True),
    ("🏳️‍⚧️" * 500, 500, True),
    # the spec's 'adds an error when text is over character limit'
    ("a" * 520, 520, False),
    ("a" * 500, 500, True),
    # a local mention counts in full; an e-mail address is no mention (Account::MENTION_RE's look-behind)
    ("hi @alice", 9, True),
    ("write to alice@example.org", 26, True),
])
def test_counting_follows_the_servers_specification(text: str, counted: int, fits: bool) -> None:
    measure = RULES.measure(text)
    assert (measure.length, measure.limit, measure.fits) == (counted, 500, fits)
    assert status_length(text) == counted  # the fake counts as the server does, or its 422s would lie


def test_the_instance_sets_the_limit_and_what_a_url_counts() -> None:
    """entities/Instance: configuration.statuses.max_characters and characters_reserved_per_url."""
    text = "a" * 976 + " " + LINK
    assert not RULES.measure(text).fits
    roomy = MastodonRules(ServerLimits(max_characters=1000, characters_reserved_per_url=23))
    assert (roomy.measure(text).length, roomy.measure(text).fits) == (1000, True)
    short_links = MastodonRules(ServerLimits(characters_reserved_per_url=10))
    assert short_links.measure("see " + LINK).length == 4 + 10
    assert status_length("see " + LINK, characters_reserved_per_url=10) == 14


def test_defaults_when_the_instance_says_nothing() -> None:
    """500 characters, 23 a URL, 4 images: Mastodon's own defaults (entities/Instance examples)."""
    assert ServerLimits.from_instance({}) == ServerLimits()
    assert (RULES.limits.max_length, RULES.server.characters_reserved_per_url, RULES.limits.max_images) == (500, 23, 4)
    odd = ServerLimits.from_instance({"configuration": {"statuses": {"max_characters": "lots", "max_media_attachments":
                                                                     0, "characters_reserved_per_url": True}}})
    assert odd == ServerLimits()


PIECES = ["word", " ", "  ", "\n", "@alice", "@bob@example.social", "@carol@mastodon.example.org", "me@x.org",
          "https://example.org/a?b=c", "http://example.com/path.", "www.example.com", "example.com",
          "#CaseyReview", "✨", "🏳️‍⚧️", "👩🏽‍💻", "é", "e\u0301", "日本語", "(", ")", ".", ",", "=", "/", "://",
          "@", "＠", "https://", "née", "@élan", "@a.b", "@under_score", "—"]


def test_counting_agrees_with_the_fake_server_on_random_texts() -> None:
    rng = random.Random(22)
    for _ in range(3000):
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14)))
        assert RULES.measure(text).length == status_length(text), text
