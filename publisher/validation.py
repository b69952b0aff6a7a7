"""``publisher validate``: every file checked on its own, then what only the files together can say.

Each file is read and checked by its own module (``config``, ``quotes``, ``themes``); here the checks across
files: a collection's theme exists, every quote of every campaign composes for every account within the
platform's limits, and no campaign that posts to X would post the same text in two threads.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from annotated_types import Ge

from publisher.compose import compose_thread
from publisher.config import Campaign, Schedule, schedule_from_source
from publisher.errors import ConfigError, NotFound, Problem, PublisherError, display_path
from publisher.platforms import counted_as, rules_of
from publisher.platforms.base import LimitsCache
from publisher.project import DEFAULT_THEME, ProjectFiles
from publisher.quotes import Collection, Quote, collection_from_source
from publisher.render import FORMAT_NAMES
from publisher.schema import fixed_offset_note, suggest
from publisher.slots import is_scheduled, next_slots
from publisher.store import Store
from publisher.text import counted
from publisher.themes import Theme, theme_from_source
from publisher.tomlsource import TomlSource, in_file_order, read_toml, toml_files

if TYPE_CHECKING:
    from publisher.render.card import CardRenderer, TextDoesNotFit
    from publisher.render.fonts import MissingGlyph

# Template values long enough to measure a part at its longest: the widest date and a three-digit number.
WIDEST_DATE, LARGEST_NUMBER = "30 Sep 2026", 999


@dataclass
class ValidationSummary:
    schedules: list[Schedule] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    themes: list[Theme] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is fine but worth knowing (when campaigns run out)
    unset: dict[str, list[str]] = field(default_factory=dict)  # accounts whose secret variables are not set

    def __str__(self) -> str:
        parts = []
        for schedule in self.schedules:
            parts.append(f"{schedule.path.name} ({counted(len(schedule.campaigns), 'campaign')}, "
                         f"{counted(len(schedule.accounts), 'account')})")
        if self.collections:
            quotes = sum(len(c.quotes) for c in self.collections)
            parts.append(f"{counted(len(self.collections), 'collection')} ({counted(quotes, 'quote')})")
        if self.themes:
            parts.append(counted(len(self.themes), "theme"))
        return "OK: " + ", ".join(parts) if parts else "OK: nothing to check"


def validate(files: ProjectFiles, paths: list[Path] | None = None,
             learnt: LimitsCache | None = None) -> ValidationSummary:
    """Check the given files (default: schedule, collections and themes); every problem is reported. Posts are
    measured by each account's rules as ``learnt`` (default: the project's store, if it has one and it can be
    read) knows them, else by the platform's defaults. Never asks a server: it works offline."""
    if learnt is None:
        with _kept_store(files) as kept:
            return _validate(files, paths, kept)
    return _validate(files, paths, learnt)


@contextmanager
def _kept_store(files: ProjectFiles) -> Iterator[Store | None]:
    """The project's store, for what was learnt of servers; None when there is none or it cannot be read (the
    commands using the queue say why)."""
    try:
        path = files.store_path()
        store = Store.open(path) if path.exists() else None
    except PublisherError:
        store = None
    if store is None:
        yield None
        return
    with store:
        yield store


def _validate(files: ProjectFiles, paths: list[Path] | None, learnt: LimitsCache | None) -> ValidationSummary:
    if not paths:
        paths = [files.config_path, *toml_files(files.quotes_dir), *files.theme_paths()]
    chosen: list[Path] = []
    for path in paths:
        chosen.extend(toml_files(path) if path.is_dir() else [path])
    summary = ValidationSummary()
    problems: list[Problem] = []
    collection_sources: list[tuple[TomlSource, Collection]] = []
    schedule_sources: list[tuple[TomlSource, Schedule]] = []
    for path in chosen:
        try:
            source = read_toml(path)
            if "theme" in source.data:
                summary.themes.append(theme_from_source(source, files.assets))
            elif "collection" in source.data or "quotes" in source.data:
                collection = collection_from_source(source)
                summary.collections.append(collection)
                collection_sources.append((source, collection))
            else:
                schedule = schedule_from_source(source)
                files.remember(schedule)
                summary.schedules.append(schedule)
                schedule_sources.append((source, schedule))
        except ConfigError as exc:
            problems.extend(exc.problems)
    themes = files.theme_names()
    for source, collection in collection_sources:
        for index, entry in enumerate(collection.sources):
            if not (files.sources_dir / entry.file).is_file():
                problems.append(source.problem(("sources", index, "file"), f'no file "{entry.file}" in '
                                               f"{display_path(files.sources_dir)}/",
                                               "put the document there, or correct file"))
        wanted = collection.collection.theme
        if wanted and wanted not in themes:
            problems.append(source.problem(("collection", "theme"), f'no theme "{wanted}"',
                                           suggest(wanted, themes) or "themes: " + ", ".join(themes)))
    loaded = {c.name: c for c in summary.collections}
    quote_files = {collection.name: source for source, collection in collection_sources}
    for source, schedule in schedule_sources:
        problems += _thread_problems(files, source, schedule, loaded, learnt)
        problems += _repeat_problems(source, schedule)
        problems += _card_problems(files, source, schedule, loaded, quote_files)
    if problems:
        raise ConfigError(in_file_order(problems, chosen))
    for schedule in summary.schedules:
        summary.notes += _unverified_notes(files, schedule, loaded, learnt)
        zones = {"defaults.timezone": schedule.defaults.timezone,
                 **{f"campaign {c.name}: timezone": c.timezone for c in schedule.campaigns if c.timezone}}
        summary.notes += [f"{display_path(schedule.path)}: {key}: {note}" for key, zone in zones.items()
                          if (note := fixed_offset_note(zone))]
    for collection in summary.collections:
        if drafts := collection.drafts:
            summary.notes.append(f"{collection.name}: {counted(len(drafts), 'draft quote')}, never queued or packed "
                                 "until reviewed (check each against its source, then delete its draft line): "
                                 + ", ".join(q.id for q in drafts[:5]) + (" ..." if len(drafts) > 5 else ""))
    return summary


def _unverified_notes(files: ProjectFiles, schedule: Schedule, loaded: dict[str, Collection],
                      learnt: LimitsCache | None) -> list[str]:
    """Each quote a require_verified campaign will not post, and why (results kept in the store are reused)."""
    from publisher.store import Store
    from publisher.verification import verified_only

    notes = []
    for campaign in schedule.campaigns:
        collection = loaded.get(campaign.collection)
        if not campaign.require_verified or collection is None:
            continue
        try:
            _, left_out = verified_only(files, campaign, collection, learnt if isinstance(learnt, Store) else None)
        except PublisherError as exc:
            notes.append(f"{campaign.name}: {exc}")
            continue
        notes += [f"{campaign.name}: {line}: not posted (require_verified)" for line in left_out]
    return notes


def _thread_problems(files: ProjectFiles, source: TomlSource, schedule: Schedule,
                     loaded: dict[str, Collection], learnt: LimitsCache | None) -> list[Problem]:
    """Every quote of every campaign composed for every account: what no platform would accept."""
    problems = []
    for index, campaign in enumerate(schedule.campaigns):
        collection = loaded.get(campaign.collection)
        if collection is None:
            try:
                collection = files.collection(campaign.collection)
            except (ConfigError, NotFound):
                continue  # reported with the collection itself
        collection = collection.without_drafts()  # a draft is checked when it is reviewed and its line deleted
        if not collection.quotes:
            continue
        seen: set[str] = set()
        for name in campaign.accounts:
            account = schedule.accounts[name]
            quotes = [[q] for q in collection.quotes]
            if campaign.intro or campaign.outro:
                quotes[0] = collection.quotes[: campaign.quotes_per_thread]
            for batch in quotes:
                thread = compose_thread(campaign, collection, batch, name, rules_of(account, learnt), DEFAULT_THEME,
                                        date=WIDEST_DATE, thread_number=LARGEST_NUMBER)
                for problem in thread.problems:
                    if problem not in seen:
                        seen.add(problem)
                        problems.append(source.problem(("campaigns", index), f"{campaign.name}: {problem}"))
    return problems


def _card_problems(files: ProjectFiles, source: TomlSource, schedule: Schedule, loaded: dict[str, Collection],
                   quote_files: dict[str, TomlSource]) -> list[Problem]:
    """Every quote of every enabled campaign laid out on its card, in the campaign's format and theme: a quote
    that cannot be made is found now, not at its slot, and reported at its own line in its collection."""
    from publisher.render import check_text_shaping
    from publisher.render.card import CardRenderer, TextDoesNotFit
    from publisher.render.fonts import MissingGlyph

    cards: dict[tuple[str, str, str], _Cards] = {}
    for index, campaign in enumerate(schedule.campaigns):
        if not campaign.enabled:
            continue
        try:
            collection = loaded.get(campaign.collection) or files.collection(campaign.collection)
            theme = files.theme_for(campaign, collection)
        except (ConfigError, NotFound):
            continue  # reported with the file itself
        made = cards.setdefault((collection.name, theme.name, campaign.format),
                                _Cards(collection, theme, campaign.format))
        made.campaigns.append((index, campaign.name))
    problems = []
    for made in cards.values():
        check_text_shaping()
        renderer = CardRenderer(made.theme, files.assets)
        quote_file = quote_files.get(made.collection.name) or _quote_file(files, made.collection)
        for quote in made.collection.without_drafts().quotes:
            try:
                renderer.render(made.collection, quote, made.format, encode=False)
            except TextDoesNotFit as exc:
                problems.append(_unfit_problem(files, source, quote_file, made, renderer, quote, exc))
            except MissingGlyph as exc:
                problems.append(_glyph_problem(source, quote_file, made, quote, exc))
    return problems


@dataclass
class _Cards:
    """The cards one or more campaigns make alike: one collection, in one theme and format."""

    collection: Collection
    theme: Theme
    format: str
    campaigns: list[tuple[int, str]] = field(default_factory=list)  # index in the schedule, name

    def by(self) -> str:
        """The campaigns that make these cards, for a message: 'campaign "daily"', 'campaigns "a" and "b"'."""
        names = [f'"{name}"' for _, name in self.campaigns]
        if len(names) == 1:
            return f"campaign {names[0]}"
        return "campaigns " + ", ".join(names[:-1]) + " and " + names[-1]

    def key_of(self, quote: Quote, key: str) -> tuple[str | int, ...]:
        """Where a key of one of the collection's quotes is, drafts counted: the file's own numbering."""
        index = next(i for i, q in enumerate(self.collection.quotes) if q.id == quote.id)
        return ("quotes", index, key)


def _quote_file(files: ProjectFiles, collection: Collection) -> TomlSource | None:
    """The collection's file, for the lines of its quotes; None if it cannot be read again (then the campaign's
    line is given)."""
    try:
        return read_toml(files.collection_path(collection.name))
    except PublisherError:
        return None


def _unfit_problem(files: ProjectFiles, source: TomlSource, quote_file: TomlSource | None, made: _Cards,
                   renderer: CardRenderer, quote: Quote, exc: TextDoesNotFit) -> Problem:
    """A quote (or its attribution) too long for the card at the theme's smallest size, at its own line, with the
    fixes that would make it fit: another format only where it fits, by about how much to shorten it, and else the
    theme's minimum size that would take it."""
    card = f"the {made.format} card of {made.by()}"
    if exc.quote_id != quote.id:  # the attribution, already at its smallest size
        key = made.key_of(quote, "attribution") if quote.attribution else ("collection", "attribution")
        message = f"too long for {card}, even on five lines at {exc.minimum} px"
        if quote_file is None:
            return source.problem(("campaigns", made.campaigns[0][0], "format"), f'quote "{quote.id}": {message}',
                                  "shorten the attribution")
        return quote_file.problem(key, message, "shorten it")
    message = f"does not fit {card} at the theme's minimum of {exc.minimum} px"
    others = [name for name in FORMAT_NAMES if name != made.format and _fits(renderer, made, quote, name)]
    fitting = _fitting_size(files, made, quote)
    least = made.theme.layout.min_quote_size
    if fitting is None:  # not even at the smallest minimum a theme may have: by more than that would give
        shorten = f"by more than {_tens(len(quote.text) * (1 - (_min_quote_size_floor() / least) ** 2), up=False)}"
    else:
        shorten = _shorten_by(renderer, made, quote, fitting / exc.minimum)
    if others:
        formats = " or ".join(f'"{name}"' for name in others)
        fix = f"use format = {formats}, where it fits, or shorten it {shorten} characters"
    elif fitting is not None:
        scale = exc.minimum / least
        lower = max(size for size in range(least) if round(size * scale) <= fitting)
        fix = (f'shorten it {shorten} characters, or lower min_quote_size in theme "{made.theme.name}" from {least} '
               f"to {lower}; no other format fits it")
    else:
        fix = f"shorten it {shorten} characters, or split it into several quotes; no other format fits it"
    if quote_file is None:
        return source.problem(("campaigns", made.campaigns[0][0], "format"), f'quote "{quote.id}" {message}', fix)
    return quote_file.problem(made.key_of(quote, "text"), message, fix)


def _shorten_by(renderer: CardRenderer, made: _Cards, quote: Quote, ratio: float) -> str:
    """By about how many characters the quote must be cut to fit, as "by about N": first from the size at which it
    fits (its area goes with the square of the size, so it fits after losing 1 - ratio² of its text, or less, as
    that size may be a little under the largest that fits), then narrowed by laying out the quote cut so."""
    def fits_cut(count: int) -> bool:
        kept = quote.text[: len(quote.text) - count].rsplit(" ", 1)[0] if count else quote.text
        if not kept.strip():
            return False  # nothing left to lay out: cutting this much is no answer
        return _fits(renderer, made, quote.model_copy(update={"text": kept, "highlight": []}), made.format)

    high = max(1, round(len(quote.text) * (1 - ratio ** 2)))
    if not fits_cut(high):
        return f"by more than about {_tens(high, up=False)}"
    low = 0  # does not fit; high does
    for _ in range(2):  # each layout of a long quote near its fit is slow: two halvings are rough enough
        middle = (low + high) // 2
        low, high = (middle, high) if not fits_cut(middle) else (low, middle)
    return f"by about {_tens(high)}"


def _tens(count: float, up: bool = True) -> str:
    """A count of characters in tens, as the rough figure it is: rounded up for "about" (cut at least that), down
    for "more than"."""
    return f"{max(10, (-(-int(count) // 10) if up else int(count) // 10) * 10):,}"


def _fits(renderer: CardRenderer, made: _Cards, quote: Quote, format_name: str) -> bool:
    from publisher.render.card import TextDoesNotFit
    from publisher.render.fonts import MissingGlyph

    try:
        renderer.render(made.collection, quote, format_name, encode=False)
    except (TextDoesNotFit, MissingGlyph):
        return False
    return True


def _min_quote_size_floor() -> int:
    """The smallest min_quote_size a theme may have."""
    from publisher.themes import Layout

    return next(rule.ge for rule in Layout.model_fields["min_quote_size"].metadata
                if isinstance(rule, Ge) and isinstance(rule.ge, int))


def _fitting_size(files: ProjectFiles, made: _Cards, quote: Quote) -> int | None:
    """The largest size (px) at which the quote fits its card, were the theme's minimum as low as a theme may have
    it; None if it does not fit even then. One layout tells it: the largest size that fits is the one chosen."""
    from publisher.render.card import CardRenderer, TextDoesNotFit

    layout = made.theme.layout.model_copy(update={"min_quote_size": _min_quote_size_floor()})
    lowest = CardRenderer(made.theme.model_copy(update={"layout": layout}), files.assets)
    try:
        return lowest.render(made.collection, quote, made.format, encode=False).quote_size
    except TextDoesNotFit:
        return None


def _glyph_problem(source: TomlSource, quote_file: TomlSource | None, made: _Cards, quote: Quote,
                   exc: MissingGlyph) -> Problem:
    """A character no font draws, at the key of the collection that holds it (the quote's text, its attribution,
    a hashtag); at the campaign when it is in none of them (the theme's own text)."""
    message, _, fix = str(exc).partition("; ")
    found = re.search(r"U\+([0-9A-F]{4,6})", message)
    char = chr(int(found.group(1), 16)) if found else ""
    info = made.collection.collection
    holders: list[tuple[tuple[str | int, ...], str]] = [
        (made.key_of(quote, "text"), quote.text), (made.key_of(quote, "attribution"), quote.attribution or ""),
        (("collection", "attribution"), info.attribution), (made.key_of(quote, "hashtags"), " ".join(quote.hashtags)),
        (("collection", "hashtags"), " ".join(info.hashtags)), (("collection", "title"), info.title)]
    key = next((key for key, text in holders if char and char in text), None)
    if quote_file is None or key is None:
        return source.problem(("campaigns", made.campaigns[0][0], "format"),
                              f'{made.campaigns[0][1]}: quote "{quote.id}": {message}', fix or None)
    return quote_file.problem(key, message, fix or None)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def one_thread_a_day(schedule: Schedule, campaign: Campaign) -> bool:
    """Whether the campaign's slots give at most one thread on any day (so {date} alone tells threads apart)."""
    if campaign.threads_per_slot > 1 or not is_scheduled(campaign):
        return False
    zone = schedule.zone_of(campaign)
    days = [s.astimezone(zone).date() for s in next_slots(campaign, zone, _epoch(campaign), count=60)]
    return len(days) == len(set(days))


def _epoch(campaign: Campaign) -> datetime:
    """From when to look at a campaign's slots: its start, or now."""
    now = datetime.now(UTC)
    return max(now, datetime.combine(campaign.start, time(0), tzinfo=UTC)) if campaign.start else now


def refusing_repeats(schedule: Schedule, campaign: Campaign) -> list[str]:
    """The platforms among the campaign's accounts that refuse a post identical to an earlier one (X), by label."""
    labels = (counted_as(schedule.accounts[a]) for a in campaign.accounts if a in schedule.accounts)
    return list(dict.fromkeys(p.label for p in labels if p.refuses_repeats))


def repeating_templates(schedule: Schedule, campaign: Campaign) -> list[str]:
    """The campaign's templates (intro, outro, caption) that would give the same text in two of its threads on
    an account of a platform that refuses a repeated post as duplicate content (X)."""
    if not refusing_repeats(schedule, campaign):
        return []
    varying = {"thread_number"} | ({"date"} if one_thread_a_day(schedule, campaign) else set())
    per_quote = {"text", "id"} if not campaign.repeats else set()  # evergreen and best repeat their quotes
    keys = [key for key in ("intro", "outro") if getattr(campaign, key) and
            not _placeholders(getattr(campaign, key)) & varying]
    if not _placeholders(campaign.caption) & (varying | per_quote):
        keys.append("caption")
    return keys


def _repeat_problems(source: TomlSource, schedule: Schedule) -> list[Problem]:
    problems = []
    for index, campaign in enumerate(schedule.campaigns):
        for key in repeating_templates(schedule, campaign):
            quote_only = key == "caption" and _placeholders(campaign.caption) & {"text", "id"}
            why = "an evergreen campaign posts each quote again" if quote_only else "it does not change"
            date = "" if one_thread_a_day(schedule, campaign) else (
                "; {date} alone is not enough, as this campaign can post two threads on one day")
            written = (key,) in {k[2:] for k in source.lines if k[:2] == ("campaigns", index)}
            fix = (f"put {{thread_number}} or {{date}} in it{date}" if written else
                   f"write a {key} with {{thread_number}} or {{date}} in it{date}")
            problems.append(source.problem(
                ("campaigns", index, key),
                f"{campaign.name}: would be the same text in two threads ({why}), and "
                f"{' and '.join(refusing_repeats(schedule, campaign))} refuses a repeated post as duplicate content",
                fix))
    return problems
