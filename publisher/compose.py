"""Composing threads: which quotes come next, and each account's parts as that platform will accept them.

Pure: a campaign, its collection and a platform's counting rules in; parts, counts and warnings out.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from publisher.config import Campaign
from publisher.errors import PublisherError
from publisher.platforms import PlatformRules
from publisher.platforms import kind as platform_named
from publisher.platforms.base import Measure
from publisher.quotes import Collection, Quote
from publisher.richtext import hashtags_in

# Longest numbering suffix reserved while splitting, so that adding " 12/12" later never overflows a part.
NUMBERING_RESERVE = " 99/99"
_SENTENCE_END = re.compile(r"[.!?…]['’\"”)\]]*$")
_CLAUSE_END = re.compile(r"[,;:–—]$|^[–—]$")


class TooLongToSplit(PublisherError):
    """A single word, hashtag or link is longer than the platform allows on its own."""


@dataclass(frozen=True)
class CardSpec:
    """The card a part carries; rendered by the render step, attached by the poster."""

    quote_id: str
    format: str
    theme: str


@dataclass
class ThreadPart:
    text: str
    kind: str  # intro, quote, continuation, outro
    measure: Measure
    quote_id: str | None = None
    cards: tuple[CardSpec, ...] = ()


@dataclass
class Thread:
    """One account's thread: the parts in order, and what a person should know before it is posted."""

    campaign: str
    account: str
    platform: str  # the platform whose rules it was composed by
    quote_ids: list[str]
    parts: list[ThreadPart] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what stops it being posted at all


def campaign_order(campaign: Campaign, collection: Collection) -> list[Quote]:
    """The order the campaign uses the collection's quotes in: as written, or (shuffle) one fixed random
    permutation, the same every time it is computed, so preview, queue and scheduler agree."""
    quotes = list(collection.quotes)
    if campaign.order == "shuffle":
        random.Random(f"{campaign.name}:0").shuffle(quotes)
    return quotes


def remaining_quotes(campaign: Campaign, collection: Collection, used: Sequence[tuple[str, datetime]]) -> list[Quote]:
    """Sequential and shuffle campaigns use each quote once: the quotes not used yet, in the campaign's order."""
    taken = {quote_id for quote_id, _ in used}
    return [q for q in campaign_order(campaign, collection) if q.id not in taken]


def next_quotes(campaign: Campaign, collection: Collection, used: Sequence[tuple[str, datetime]],
                moments: Sequence[datetime], scores: Mapping[str, float] | None = None) -> list[list[Quote]]:
    """The quotes of the next threads, one list per thread, given every (quote id, when) the campaign has used
    and when each next thread is due.

    Sequential and shuffle: the quotes not used yet, ``quotes_per_thread`` at a time; the last thread takes what
    is left and then the campaign has ended (fewer lists than moments). Evergreen: quotes never used first, then
    the longest unused, skipping any used within ``cooldown_days`` of the thread's time (a list may be short or
    empty). Best: round by round, each quote once a round (the fewest times used first), and within a round the
    best first (``scores``: engagement per post; ties to the longest unused, then the collection's order): so the
    same figures give the same order, and no quote waits more than two rounds (cooldown_days aside)."""
    per_thread = campaign.quotes_per_thread
    if not campaign.repeats:
        remaining = remaining_quotes(campaign, collection, used)
        return [remaining[i : i + per_thread] for i in range(0, len(remaining), per_thread)][: len(moments)]
    last_use: dict[str, datetime] = {}
    times_used: dict[str, int] = {}
    for quote_id, moment in used:
        last_use[quote_id] = max(moment, last_use.get(quote_id, moment))
        times_used[quote_id] = times_used.get(quote_id, 0) + 1
    order = {q.id: index for index, q in enumerate(collection.quotes)}
    batches = []
    for moment in moments:
        cutoff = moment - timedelta(days=campaign.cooldown_days)
        fresh = [q for q in collection.quotes if q.id not in last_use]
        rested = [q for q in collection.quotes if q.id in last_use and last_use[q.id] <= cutoff]
        if campaign.order == "best":
            rested.sort(key=lambda q: (times_used[q.id], -(scores or {}).get(q.id, 0.0), last_use[q.id], order[q.id]))
        else:
            rested.sort(key=lambda q: last_use[q.id])
        batch = (fresh + rested)[:per_thread]
        batches.append(batch)
        for quote in batch:
            last_use[quote.id] = moment
            times_used[quote.id] = times_used.get(quote.id, 0) + 1
    return batches


def _tokens(text: str) -> list[tuple[str, str]]:
    """Words with the whitespace after them; a word is never split, so neither is a hashtag, mention or URL."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"(\S+)(\s*)", text)]


def split_to_fit(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Split text that does not fit into parts that do: at a sentence end, else a clause end, else a word.

    A break point is only used if it keeps at least a third of what would fit, so parts stay substantial.
    """
    tokens = _tokens(text.strip())
    parts: list[str] = []

    def joined(count: int) -> str:
        return "".join(word + gap for word, gap in tokens[:count]).rstrip()

    while tokens:
        if fits(joined(len(tokens))):
            parts.append(joined(len(tokens)))
            break
        low, high = 0, len(tokens)  # the most tokens that fit, by bisection
        while low < high:
            middle = (low + high + 1) // 2
            if fits(joined(middle)):
                low = middle
            else:
                high = middle - 1
        if low == 0:
            raise TooLongToSplit(f'"{tokens[0][0][:40]}" is too long for one post on its own')
        cut = low
        for pattern in (_SENTENCE_END, _CLAUSE_END):
            found = next((i for i in range(low, 0, -1) if pattern.search(tokens[i - 1][0])), 0)
            if found * 3 >= low:
                cut = found
                break
        parts.append(joined(cut))
        tokens = tokens[cut:]
    return parts


_AROUND_TEXT = re.compile(r"[“\"‘«]\{text\}[”\"’»]")


def _marks_not_doubled(template: str, text: str) -> str:
    """The template less the quotation marks it puts around {text} when the quote opens with its own:
    “{text}” around “We trusted them,” she said would print ““We trusted them,” she said”."""
    if text[:1] in ("“", '"', "‘", "«") and (around := _AROUND_TEXT.search(template)):
        return template[:around.start()] + "{text}" + template[around.end():]
    return template


def _tidy(text: str) -> str:
    """Template output without the gaps empty placeholders leave."""
    lines = [re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def compose_thread(campaign: Campaign, collection: Collection, quotes: Sequence[Quote], account_name: str,
                   rules: PlatformRules, theme: str, *, date: str = "", thread_number: int = 1) -> Thread:
    """One account's thread for these quotes: intro, one part per quote with its card, outro; split and
    numbered as the campaign says, every part measured by the platform's own rules. ``date`` ("9 Dec 2026")
    and ``thread_number`` fill the templates' {date} and {thread_number}."""
    thread = Thread(campaign.name, account_name, rules.name, [q.id for q in quotes])
    collection_tags = " ".join("#" + t for t in collection.collection.hashtags)
    intro_values = {"title": collection.collection.title, "count": str(len(quotes)), "hashtags": collection_tags,
                    "campaign": campaign.name, "date": date, "thread_number": str(thread_number)}
    drafts: list[tuple[str, str, Quote | None]] = []  # (text, kind, quote)
    if campaign.intro:
        drafts.append((_tidy(campaign.intro.format_map(intro_values)), "intro", None))
    for quote in quotes:
        present = hashtags_in(quote.text)
        tags = " ".join("#" + t for t in collection.hashtags_for(quote) if t.casefold() not in present)
        mentions = " ".join(platform_named(rules.name).mentions(campaign, collection, quote, thread.warnings))
        known = {name: value or "" for name, value in collection.source_values(quote).items()}
        values = {**known, "text": quote.text,
                  "attribution": collection.attribution_for(quote), "hashtags": tags,
                  "mentions": mentions, "title": collection.collection.title, "id": quote.id, "date": date,
                  "thread_number": str(thread_number)}
        # a part of the caption with a {source} or {page} not known is left out, as in an attribution
        caption = _marks_not_doubled(collection.without_unknown(campaign.caption, quote), quote.text)
        drafts.append((_tidy(caption.format_map(values)), "quote", quote))
    if campaign.outro:
        drafts.append((_tidy(campaign.outro.format_map(intro_values)), "outro", None))
    thread.warnings[:] = list(dict.fromkeys(thread.warnings))

    reserve = NUMBERING_RESERVE if campaign.numbering else ""

    def fits(text: str) -> bool:
        return rules.measure(text + reserve).fits

    pieces: list[tuple[str, str, Quote | None]] = []
    for text, kind, source in drafts:
        if fits(text) or not campaign.split:
            pieces.append((text, kind, source))
            continue
        try:
            chunks = split_to_fit(text, fits)
        except TooLongToSplit as exc:
            thread.problems.append(f"{_describe(kind, source)}: {exc} on {rules.label} (shorten it)")
            continue
        for index, chunk in enumerate(chunks):
            pieces.append((chunk, kind if index == 0 else "continuation", source))
    for number, (text, kind, source) in enumerate(pieces, start=1):
        final = f"{text} {number}/{len(pieces)}" if campaign.numbering else text
        cards = (CardSpec(source.id, campaign.format, theme),) if source and kind == "quote" else ()
        measure = rules.measure(final)
        thread.parts.append(ThreadPart(final, kind, measure, source.id if source else None, cards))
        if not measure.fits:
            thread.problems.append(f"part {number} ({_describe(kind, source)}) is {measure} on {rules.label} "
                                   + ("(shorten it)" if campaign.split else "(shorten it, or set split = true)"))
    return thread


def _describe(kind: str, quote: Quote | None) -> str:
    return f'quote "{quote.id}"' if quote else kind

