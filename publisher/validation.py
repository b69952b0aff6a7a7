"""``publisher validate``: every file checked on its own, then what only the files together can say.

Each file is read and checked by its own module (``config``, ``quotes``, ``themes``); here the checks across
files: a collection's theme exists, every quote of every campaign composes for every account within the
platform's limits, and no campaign that posts to X would post the same text in two threads.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path

from publisher.compose import compose_thread
from publisher.config import Campaign, Schedule, schedule_from_source
from publisher.errors import ConfigError, NotFound, Problem, PublisherError, display_path
from publisher.platforms import counted_as, rules_of
from publisher.platforms.base import LimitsCache
from publisher.project import DEFAULT_THEME, ProjectFiles
from publisher.quotes import Collection, collection_from_source
from publisher.schema import suggest
from publisher.slots import is_scheduled, next_slots
from publisher.store import Store
from publisher.themes import Theme, theme_from_source
from publisher.tomlsource import TomlSource, read_toml, toml_files

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
            parts.append(f"{schedule.path.name} ({_plural(len(schedule.campaigns), 'campaign')}, "
                         f"{_plural(len(schedule.accounts), 'account')})")
        if self.collections:
            quotes = sum(len(c.quotes) for c in self.collections)
            parts.append(f"{_plural(len(self.collections), 'collection')} ({_plural(quotes, 'quote')})")
        if self.themes:
            parts.append(_plural(len(self.themes), "theme"))
        return "OK: " + ", ".join(parts) if parts else "OK: nothing to check"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


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
    for source, schedule in schedule_sources:
        problems += _thread_problems(files, source, schedule, loaded, learnt)
        problems += _repeat_problems(source, schedule)
        problems += _card_problems(files, source, schedule, loaded)
    if problems:
        raise ConfigError(problems)
    for schedule in summary.schedules:
        summary.notes += _unverified_notes(files, schedule, loaded, learnt)
    for collection in summary.collections:
        if drafts := collection.drafts:
            summary.notes.append(f"{collection.name}: {len(drafts)} draft quote(s), never queued or packed until "
                                 "reviewed (check each against its source, then delete its draft line): "
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


def _card_problems(files: ProjectFiles, source: TomlSource, schedule: Schedule,
                   loaded: dict[str, Collection]) -> list[Problem]:
    """Every quote of every enabled campaign laid out on its card, in the campaign's format and theme: a quote
    that cannot be made is found now, not at its slot."""
    from publisher.render import check_text_shaping
    from publisher.render.card import CardRenderer, TextDoesNotFit
    from publisher.render.fonts import MissingGlyph

    problems = []
    checked: set[tuple[str, str, str]] = set()
    for index, campaign in enumerate(schedule.campaigns):
        if not campaign.enabled:
            continue
        try:
            collection = loaded.get(campaign.collection) or files.collection(campaign.collection)
            theme = files.theme_for(campaign, collection)
        except (ConfigError, NotFound):
            continue  # reported with the file itself
        if (collection.name, theme.name, campaign.format) in checked:
            continue
        checked.add((collection.name, theme.name, campaign.format))
        check_text_shaping()
        renderer = CardRenderer(theme, files.assets)
        for quote in collection.without_drafts().quotes:
            try:
                renderer.render(collection, quote, campaign.format, encode=False)
            except (TextDoesNotFit, MissingGlyph) as exc:
                named = str(exc) if f'"{quote.id}"' in str(exc) else f'quote "{quote.id}": {exc}'
                problems.append(source.problem(("campaigns", index, "format"), f"{campaign.name}: {named}"))
    return problems


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
