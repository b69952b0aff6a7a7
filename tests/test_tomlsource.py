"""Key lines: the locator must agree with tomllib on where every key is, including awkward layouts."""

from __future__ import annotations

import tomllib

from publisher.text import normalise_for_dedupe, unique_slug
from publisher.tomlsource import format_key, locate_keys

AWKWARD = '''\
# [not.a.table]
title = """
[looks.like.a.table]
id = "not a key"
"""
"quoted key" = 'say "hi" # not a comment' # comment with "quotes"
[servers."eu west"]
ip = "10.0.0.1"
dotted.key = 1
[[campaigns]]
name = "a"
slots = { days = ["mon"], times = ["08:30", "25:00"] }
accounts = [
  "local",  # first
  "bsky",
]
[campaigns.extra]
q = 1979-05-27 07:32:00
[[campaigns]]
name = "b"
[[campaigns.oneoffs]]
at = "x"
'''


def test_locate_keys_in_awkward_layouts() -> None:
    tomllib.loads(AWKWARD)  # the fixture itself is valid TOML
    lines = locate_keys(AWKWARD)
    assert lines[("title",)] == 2
    assert ("looks",) not in lines and ("id",) not in lines
    assert lines[("quoted key",)] == 6
    assert lines[("servers", "eu west")] == 7
    assert lines[("servers", "eu west", "dotted", "key")] == 9
    assert lines[("campaigns", 0)] == 10
    assert lines[("campaigns", 0, "slots", "times", 1)] == 12
    assert lines[("campaigns", 0, "accounts", 1)] == 15
    assert lines[("campaigns", 0, "extra", "q")] == 18
    assert lines[("campaigns", 1, "name")] == 20
    assert lines[("campaigns", 1, "oneoffs", 0, "at")] == 22


def test_format_key() -> None:
    assert format_key(("campaigns", 0, "slots", "times", 1)) == "campaigns[0].slots.times[1]"
    assert format_key(("accounts", "my bsky", "handle")) == 'accounts."my bsky".handle'


def test_unique_slug_lengthens_then_numbers() -> None:
    taken: set[str] = set()
    first = unique_slug("Key measures to test [Met] reforms: fewer cases", taken)
    taken.add(first)
    second = unique_slug("Key measures to test [Met] reforms: more charges", taken)
    taken.add(second)
    taken.add("key-measures-test-met-reforms-fewer")
    third = unique_slug("Key measures to test [Met] reforms: fewer cases!", taken)
    assert (first, second) == ("key-measures-test-met-reforms", "key-measures-test-met-reforms-more")
    assert third == "key-measures-test-met-reforms-fewer-cases"
    assert unique_slug("Café… naïve “déjà vu”", set()) == "cafe-naive-deja-vu"
    assert unique_slug("!!!", {"quote"}) == "quote-2"


def test_long_words_never_cut_mid_word() -> None:
    slug = unique_slug("Tackling discrimination is a legal and operational imperative for the Met", set())
    assert slug == "tackling-discrimination-legal-operational"


def test_normalise_for_dedupe() -> None:
    assert normalise_for_dedupe("The Met’s  “response”…") == normalise_for_dedupe("the met's \"RESPONSE\"...")
    assert normalise_for_dedupe("a b") != normalise_for_dedupe("a c")
