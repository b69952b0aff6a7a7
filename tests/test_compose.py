"""Threads: splitting, numbering, mentions per platform, quote order, and what validate reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from publisher.compose import compose_thread, next_quotes, remaining_quotes, split_to_fit
from publisher.config import Campaign, load_schedule
from publisher.errors import ExitStatus
from publisher.platforms import rules_for
from publisher.quotes import load_collection

CASEY = load_collection(REPO / "quotes" / "caseyreview.toml")
BASE = Campaign(name="test", collection="caseyreview", accounts=["local"])

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé", min_size=1, max_size=14)
token = st.one_of(
    word,
    word.map(lambda w: w + "."), word.map(lambda w: w + ","), word.map(lambda w: w + ";"),
    word.map(lambda w: "#" + w.replace("é", "e")),
    word.map(lambda w: "@" + w.replace("é", "e")[:15]),
    word.map(lambda w: f"https://example.org/{w.replace('é', 'e')}"),
    st.sampled_from(["👨‍👩‍👧‍👦", "🇬🇧", "漢字", "हिन्दी", "e\u0301", "—", "…"]),
)
texts = st.lists(st.tuples(token, st.sampled_from([" ", " ", " ", "\n", "\n\n"])), min_size=1, max_size=160)


@settings(max_examples=150, deadline=None)
@given(texts, st.sampled_from(["bluesky", "x"]))
def test_split_parts_fit_and_keep_every_word_in_order(pieces: list[tuple[str, str]], platform: str) -> None:
    text = "".join(t + gap for t, gap in pieces)
    rules = rules_for(platform)
    parts = split_to_fit(text, lambda t: rules.measure(t).fits)
    assert all(rules.measure(part).fits for part in parts)
    assert [w for part in parts for w in part.split()] == text.split()  # no word, tag or URL is broken
    assert all(part == part.strip() and part for part in parts)


def test_split_prefers_sentence_then_clause_ends() -> None:
    text = "First sentence here. Second part, with a clause; and then more words to the end."
    assert split_to_fit(text, lambda t: len(t) <= 40) == [
        "First sentence here.", "Second part, with a clause;", "and then more words to the end."]


def test_a_single_token_too_long_is_reported() -> None:
    long_url = "https://example.org/" + "a" * 400
    campaign = BASE.model_copy(update={"caption": long_url})
    thread = compose_thread(campaign, CASEY, CASEY.quotes[:1], "local", rules_for("bluesky"), "campaign")
    assert thread.problems and "too long for one post on its own on Bluesky" in thread.problems[0]


def test_thread_shape_numbering_and_cards() -> None:
    campaign = BASE.model_copy(update={"intro": "What the #CaseyReview found 🧵", "outro": "More: {hashtags}",
                                       "numbering": True, "quotes_per_thread": 3})
    quotes = CASEY.quotes[:3]
    for platform in ("bluesky", "x"):
        thread = compose_thread(campaign, CASEY, quotes, "local", rules_for(platform), "paper")
        assert [p.kind for p in thread.parts] == ["intro", "quote", "quote", "quote", "outro"]
        assert [p.text.rsplit(" ", 1)[1] for p in thread.parts] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
        assert [c.quote_id for p in thread.parts for c in p.cards] == [q.id for q in quotes]
        assert all(p.measure.fits for p in thread.parts) and not thread.problems
        assert thread.parts[-1].text == "More: #CaseyReview #accountability 5/5"


def test_long_caption_is_split_into_continuations_with_numbering() -> None:
    campaign = BASE.model_copy(update={"numbering": True, "caption": "{text} {text} {hashtags}"})
    thread = compose_thread(campaign, CASEY, CASEY.quotes[:1], "local", rules_for("bluesky"), "campaign")
    assert [p.kind for p in thread.parts] == ["quote", "continuation"]
    assert len(thread.parts[0].cards) == 1 and not thread.parts[1].cards
    assert all(p.measure.fits for p in thread.parts)
    assert thread.parts[1].text.endswith("2/2")


def test_without_splitting_the_overflow_is_reported_exactly() -> None:
    campaign = BASE.model_copy(update={"split": False, "caption": "{text} {text}"})
    quote = CASEY.quotes[0]
    thread = compose_thread(campaign, CASEY, [quote], "local", rules_for("bluesky"), "campaign")
    length = rules_for("bluesky").measure(f"{quote.text} {quote.text}").length
    assert thread.problems == [f'part 1 (quote "{quote.id}") is {length}/300 graphemes on Bluesky '
                               "(shorten it, or set split = true)"]


def test_mentions_per_platform() -> None:
    quote = CASEY.quotes[0]
    x_thread = compose_thread(BASE, CASEY, [quote], "x", rules_for("x"), "campaign")
    assert "@metpoliceuk" in x_thread.parts[0].text
    no_x = compose_thread(BASE.model_copy(update={"x_mentions": False}), CASEY, [quote], "x", rules_for("x"),
                          "campaign")
    assert "@metpoliceuk" not in no_x.parts[0].text
    bluesky = compose_thread(BASE, CASEY, [quote], "local", rules_for("bluesky"), "campaign")
    assert "@metpoliceuk" not in bluesky.parts[0].text and not bluesky.warnings  # mapped to "" in the collection
    info = CASEY.collection.model_copy(update={"bluesky_handles": {"@metpoliceuk": "met.example.social"}})
    mapped = CASEY.model_copy(update={"collection": info})
    assert "@met.example.social" in compose_thread(BASE, mapped, [quote], "local", rules_for("bluesky"),
                                                   "campaign").parts[0].text
    unmapped = CASEY.model_copy(update={"collection": CASEY.collection.model_copy(update={"bluesky_handles": {}})})
    warned = compose_thread(BASE, unmapped, [quote], "local", rules_for("bluesky"), "campaign")
    assert warned.warnings == ['@metpoliceuk has no Bluesky handle, so it is left out on Bluesky '
                               '(map it in [collection.bluesky_handles], or "" to silence this)']


def test_inline_hashtag_is_not_repeated() -> None:
    bundled = CASEY.quote("we-found-widespread-bullying-particularly")
    assert bundled is not None and bundled.hashtags == ["bullying"]
    quote = bundled.model_copy(update={"text": bundled.text.replace("widespread bullying", "widespread #bullying")})
    thread = compose_thread(BASE, CASEY, [quote], "local", rules_for("bluesky"), "campaign")
    assert thread.parts[0].text.lower().count("#bullying") == 1
    assert thread.parts[0].text.endswith("#CaseyReview #accountability")


def test_a_quote_in_its_own_quotation_marks_is_not_quoted_twice() -> None:
    first = CASEY.quotes[0]
    for text, caption in [("“We trusted them,” she said, “and they let us down.”",
                           "“We trusted them,” she said, “and they let us down.”"),
                          ('"We trusted them," she said.', '"We trusted them," she said.'),
                          ("We trusted them.", "“We trusted them.”")]:  # a quote without its own marks gets them
        quote = first.model_copy(update={"text": text})
        thread = compose_thread(BASE, CASEY, [quote], "local", rules_for("bluesky"), "campaign")
        assert thread.parts[0].text.startswith(caption + "\n\n#"), thread.parts[0].text


NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def used(ids: list[str], when: datetime = NOW) -> list[tuple[str, datetime]]:
    return [(quote_id, when) for quote_id in ids]


def test_sequential_order_continues_then_ends_without_wrapping() -> None:
    campaign = BASE.model_copy(update={"quotes_per_thread": 3})
    ids = [q.id for q in CASEY.quotes]
    batches = next_quotes(campaign, CASEY, used(ids[:15]), [NOW] * 4)
    assert [[q.id for q in b] for b in batches] == [ids[15:18], ids[18:20]]  # the last takes what is left
    assert next_quotes(campaign, CASEY, used(ids), [NOW]) == []  # then nothing: no quote comes round again


def test_sequential_skips_quotes_used_out_of_order() -> None:
    campaign = BASE.model_copy(update={"quotes_per_thread": 2})
    ids = [q.id for q in CASEY.quotes]
    batches = next_quotes(campaign, CASEY, used([ids[0], ids[2], ids[5]]), [NOW, NOW])
    assert [[q.id for q in b] for b in batches] == [[ids[1], ids[3]], [ids[4], ids[6]]]


def test_shuffle_uses_every_quote_once_in_a_stable_order() -> None:
    campaign = BASE.model_copy(update={"order": "shuffle", "quotes_per_thread": 4})
    first = [q.id for b in next_quotes(campaign, CASEY, [], [NOW] * 6) for q in b]
    assert sorted(first) == sorted(q.id for q in CASEY.quotes)  # 5 threads of 4: all 20, each once
    assert first != [q.id for q in CASEY.quotes]
    assert [q.id for b in next_quotes(campaign, CASEY, [], [NOW] * 5) for q in b] == first
    rest = [q.id for b in next_quotes(campaign, CASEY, used(first[:8]), [NOW] * 5) for q in b]
    assert rest == first[8:]
    assert [q.id for q in remaining_quotes(campaign, CASEY, used(first))] == []


def test_evergreen_repeats_only_after_the_cooldown() -> None:
    campaign = BASE.model_copy(update={"order": "evergreen", "quotes_per_thread": 5, "cooldown_days": 10})
    ids = [q.id for q in CASEY.quotes]
    days = [NOW + timedelta(days=d) for d in range(6)]
    batches = [[q.id for q in b] for b in next_quotes(campaign, CASEY, [], days)]
    assert batches[:4] == [ids[0:5], ids[5:10], ids[10:15], ids[15:20]]
    assert batches[4:] == [[], []]  # every quote used within 10 days
    later = next_quotes(campaign, CASEY, used(ids[:5], NOW) + used(ids[5:], NOW + timedelta(days=3)),
                        [NOW + timedelta(days=10)])
    assert [q.id for q in later[0]] == ids[:5]  # the longest rested come back first


def test_bundled_schedule_composes_cleanly() -> None:
    schedule = load_schedule(REPO / "schedule.toml")
    campaign = schedule.campaigns[0]
    for number, batch in enumerate(next_quotes(campaign, CASEY, [], [NOW] * 7), start=1):
        for platform in ("bluesky", "x"):
            thread = compose_thread(campaign, CASEY, batch, "local", rules_for(platform), "campaign",
                                    date="30 Sep 2026", thread_number=number)
            assert not thread.problems and all(p.measure.fits for p in thread.parts)


def test_validate_reports_overflow_with_splitting_off(project: Path, run_cli: Callable[..., Result]) -> None:
    schedule = project / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8") + 'split = false\ncaption = "{text} {text}"\n', encoding="utf-8")
    result = run_cli("validate")
    assert result.exit_code == ExitStatus.CONFIG
    lines = result.stderr.splitlines()
    import regex

    too_long = [q for q in CASEY.quotes if len(regex.findall(r"\X", f"{q.text} {q.text}")) > 300]
    assert 0 < len(too_long) < 20 and len(lines) == len(too_long)
    assert lines[0].startswith('schedule.toml:7: campaigns[0]: daily: part 1 (quote "tackling-discrimination-legal-'
                               'operational") is ')
    assert lines[0].endswith("/300 graphemes on Bluesky (shorten it, or set split = true)")


def test_unknown_placeholder_is_a_config_error(project: Path, run_cli: Callable[..., Result]) -> None:
    schedule = project / "schedule.toml"
    schedule.write_text(schedule.read_text("utf-8") + 'intro = "Thread on {titel}"\n', encoding="utf-8")
    result = run_cli("validate")
    assert result.stderr == ("schedule.toml:11: campaigns[0].intro: unknown placeholder {titel} "
                             "(use {title}, {count}, {hashtags}, {campaign}, {date}, {thread_number})\n")
