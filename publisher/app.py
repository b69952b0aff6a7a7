"""The façade both the CLI and the daemon call: one project folder, its schedule, collections and themes."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.config import Schedule, load_schedule, schedule_from_source
from publisher.errors import ConfigError, NotFound, Problem, display_path
from publisher.importer import ImportReport, import_quotes
from publisher.quotes import Collection, collection_from_source, load_collection
from publisher.schema import SLUG_RE, suggest
from publisher.tomlsource import TomlSource, read_toml

if TYPE_CHECKING:
    from publisher.config import Campaign
    from publisher.pack import PackReport
    from publisher.platforms.base import Platform
    from publisher.poster import ThreadOutcome
    from publisher.preview import PreviewReport
    from publisher.render.batch import RenderReport
    from publisher.store import Store
    from publisher.themes import Theme

DEFAULT_THEME = "campaign"


@dataclass
class ValidationSummary:
    schedules: list[Schedule] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)
    themes: list[Theme] = field(default_factory=list)

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


class Project:
    """A folder holding schedule.toml and the quotes/ and assets/ it names."""

    def __init__(self, config_path: Path, now: Callable[[], datetime] | None = None):
        self.config_path = config_path
        self.now = now or (lambda: datetime.now(UTC))

    @property
    def root(self) -> Path:
        return self.config_path.parent

    def _configured_dir(self, key: str) -> Path:
        """A [paths] entry, read leniently so that a broken schedule still lets quotes be listed and rendered."""
        try:
            configured = tomllib.loads(self.config_path.read_text("utf-8"))["paths"][key]
        except (OSError, ValueError, KeyError, TypeError):
            configured = key
        return self.root / (configured if isinstance(configured, str) else key)

    @property
    def quotes_dir(self) -> Path:
        return self._configured_dir("quotes")

    @property
    def assets_dir(self) -> Path:
        return self._configured_dir("assets")

    @property
    def themes_dir(self) -> Path:
        return self.assets_dir / "themes"

    def schedule(self) -> Schedule:
        if not self.config_path.exists():
            raise NotFound(f"{self.config_path}: no schedule here (run publisher in the project folder, "
                           "or give --config PATH)")
        return load_schedule(self.config_path)

    # -- collections ---------------------------------------------------------------------------------------

    def collection_names(self) -> list[str]:
        return sorted(p.stem for p in self.quotes_dir.glob("*.toml"))

    def collection_path(self, name: str) -> Path:
        if not SLUG_RE.fullmatch(name):
            raise NotFound(f'"{name}" is not a collection name (use lowercase letters, digits and hyphens)')
        return self.quotes_dir / f"{name}.toml"

    def collection(self, name: str | None = None) -> Collection:
        """The named collection; without a name, the only one there is."""
        if name is None:
            names = self.collection_names()
            if len(names) != 1:
                raise NotFound("say which collection with --collection (" +
                               (", ".join(names) if names else "there are none; run publisher import") + ")")
            name = names[0]
        path = self.collection_path(name)
        if not path.exists():
            known = self.collection_names()
            hint = suggest(name, known) or ("collections here: " + ", ".join(known) if known else
                                            "run publisher import to create one")
            raise NotFound(f'no collection "{name}" in {display_path(self.quotes_dir)} ({hint})')
        return load_collection(path)

    def collections(self, name: str | None = None) -> list[Collection]:
        names = [name] if name else self.collection_names()
        if not names:
            raise NotFound(f"no collections in {display_path(self.quotes_dir)} (run publisher import to create one)")
        return [self.collection(n) for n in names]

    def import_file(self, source: Path, collection: str, *, title: str | None = None,
                    attribution: str | None = None) -> ImportReport:
        return import_quotes(source, self.collection_path(collection), title=title, attribution=attribution)

    # -- themes and cards ----------------------------------------------------------------------------------

    def theme_names(self) -> list[str]:
        return sorted(p.stem for p in self.themes_dir.glob("*.toml"))

    def theme(self, name: str) -> Theme:
        from publisher.themes import load_theme

        path = self.themes_dir / f"{name}.toml"
        if not SLUG_RE.fullmatch(name) or not path.exists():
            known = self.theme_names()
            hint = suggest(name, known) or "themes: " + (", ".join(known) or "none")
            raise NotFound(f'no theme "{name}" in {display_path(self.themes_dir)} ({hint})')
        return load_theme(path, self.assets_dir)

    def render(self, collection: Collection, quote_ids: Sequence[str], formats: Sequence[str], out_dir: Path,
               theme_name: str | None = None, progress: Callable[[int], None] | None = None) -> RenderReport:
        from publisher.render import check_text_shaping
        from publisher.render.batch import render_to_files

        check_text_shaping()
        for quote_id in quote_ids:
            if collection.quote(quote_id) is None:
                hint = suggest(quote_id, [q.id for q in collection.quotes]) or "publisher quotes lists the ids"
                raise NotFound(f'no quote "{quote_id}" in collection "{collection.name}" ({hint})')
        theme = self.theme(theme_name or collection.collection.theme or DEFAULT_THEME)
        return render_to_files(collection, theme, self.assets_dir, quote_ids or [q.id for q in collection.quotes],
                               formats, out_dir, progress=progress)

    def pack(self, out: Path, collection_name: str | None = None, campaign_name: str | None = None,
             formats: Sequence[str] = (), theme_name: str | None = None, skip_failing: bool = False,
             progress: Callable[[int], None] | None = None) -> PackReport:
        """Write the image pack of a collection (or a campaign's collection, with its captions) to ``out``."""
        from publisher.config import Campaign
        from publisher.pack import build_pack
        from publisher.render import FORMAT_NAMES, check_text_shaping

        if campaign_name:
            campaign = self.campaign(self.schedule(), campaign_name)
            collection = self.collection(campaign.collection)
        else:
            collection = self.collection(collection_name)
            campaign = Campaign(name="pack", collection=collection.name, accounts=["pack"])
        theme = self.theme(theme_name or campaign.theme or collection.collection.theme or DEFAULT_THEME)
        check_text_shaping()
        source = display_path(self.collection_path(collection.name))
        return build_pack(collection, campaign, theme, self.assets_dir, list(formats or FORMAT_NAMES), out,
                          skip_failing, progress, source)

    # -- threads -------------------------------------------------------------------------------------------

    def campaign(self, schedule: Schedule, name: str | None) -> Campaign:
        """The named campaign; without a name, the first enabled one."""
        if name is None:
            enabled = [c for c in schedule.campaigns if c.enabled]
            if not enabled:
                raise NotFound(f"{display_path(schedule.path)} has no enabled campaign (add a [[campaigns]] table)")
            return enabled[0]
        found = schedule.campaign(name)
        if found is None:
            names = [c.name for c in schedule.campaigns]
            raise NotFound(f'no campaign "{name}" in {display_path(schedule.path)} '
                           f"({suggest(name, names) or 'campaigns: ' + ', '.join(names)})")
        return found

    def preview(self, campaign_name: str | None, threads: int, out_dir: Path) -> PreviewReport:
        """Write the dry-run preview of the campaign's next threads; no network."""
        from zoneinfo import ZoneInfo

        from publisher.preview import write_preview
        from publisher.render import check_text_shaping

        schedule = self.schedule()
        campaign = self.campaign(schedule, campaign_name)
        collection = self.collection(campaign.collection)
        theme = self.theme(campaign.theme or collection.collection.theme or DEFAULT_THEME)
        check_text_shaping()
        zone = ZoneInfo(campaign.timezone or schedule.defaults.timezone)
        used, history = 0, []
        if self.store_path(schedule).exists():  # continue after what is already queued; never create the store
            store = self.store(schedule)
            used, history = store.cursor(campaign.name), store.quote_history(campaign.name)
            store.close()
        return write_preview(schedule, campaign, collection, theme, self.assets_dir, out_dir, threads, used=used,
                             now=self.now().astimezone(zone), history=history)

    # -- the queue and posting -----------------------------------------------------------------------------

    def store_path(self, schedule: Schedule, dry_run: bool = False) -> Path:
        """The store; a dry-run daemon keeps its own beside it, so a rehearsal never marks real posts done."""
        return schedule.state_dir / ("dry-run/publisher.db" if dry_run else "publisher.db")

    def store(self, schedule: Schedule | None = None, dry_run: bool = False) -> Store:
        from publisher.store import Store

        return Store.open(self.store_path(schedule or self.schedule(), dry_run), self.now)

    def queue_add(self, campaign_name: str | None, due_at: datetime | None = None, slot: str | None = None,
                  schedule: Schedule | None = None, store: Store | None = None) -> int | None:
        """Queue the campaign's next thread, due at ``due_at`` (default now)."""
        from publisher.queue import enqueue
        from publisher.render import check_text_shaping

        schedule = schedule or self.schedule()
        campaign = self.campaign(schedule, campaign_name)
        collection = self.collection(campaign.collection)
        theme = self.theme(campaign.theme or collection.collection.theme or DEFAULT_THEME)
        check_text_shaping()
        own_store = store is None
        store = store or self.store(schedule)
        try:
            return enqueue(store, schedule, campaign, collection, theme, self.assets_dir, due_at or self.now(), slot)
        finally:
            if own_store:
                store.close()

    def platforms(self, schedule: Schedule, store: Store, accounts: Sequence[str] | None = None,
                  env: dict[str, str] | None = None, dry_run: bool = False) -> dict[str, Platform]:
        """One platform per account, credentials from the environment; an account whose credentials are
        missing still gets an entry, which fails with the fix instead of posting. With ``dry_run`` every
        account posts to an outbox under ``<state>/dry-run/`` instead."""
        from publisher.platforms import rules_for
        from publisher.platforms.factory import platform_for
        from publisher.platforms.outbox import OutboxPlatform

        env = dict(os.environ) if env is None else env
        names = [n for n in (accounts if accounts is not None else list(schedule.accounts)) if n in schedule.accounts]
        if dry_run:
            folder = schedule.state_dir / "dry-run"
            return {name: OutboxPlatform(folder, name, rules_for(schedule.accounts[name].rules_name), self.now)
                    for name in names}
        return {name: platform_for(name, schedule.accounts[name], schedule.root, store, env, self.now)
                for name in names}

    def threads_needing_attention(self) -> list[int]:
        schedule = self.schedule()
        if not self.store_path(schedule).exists():
            return []
        store = self.store(schedule)
        try:
            return [t.id for t in store.threads(("needs_attention",))]
        finally:
            store.close()

    def post_due(self, dry_run: bool = False) -> tuple[list[ThreadOutcome], Path | None]:
        """Post every thread that is due now. With ``dry_run``, post them to an outbox under the state folder
        instead, working on a copy of the queue, so that nothing is sent and the queue is unchanged."""
        from publisher.lock import StoreLock
        from publisher.poster import Poster

        schedule = self.schedule()
        store = self.store(schedule)
        try:
            if dry_run:
                platforms = self.platforms(schedule, store, dry_run=True)
                return Poster(store.copy_in_memory(), platforms, self.now).post_due(), schedule.state_dir / "dry-run"
            with StoreLock(self.store_path(schedule)) as lock:
                lock.acquire("publisher post")
                return Poster(store, self.platforms(schedule, store), self.now).post_due(), None
        finally:
            store.close()

    def login(self, account_name: str) -> str:
        """Check an account's credentials (saving the Bluesky session); returns who it is."""
        schedule = self.schedule()
        if account_name not in schedule.accounts:
            names = list(schedule.accounts)
            raise NotFound(f'no account "{account_name}" in {display_path(schedule.path)} '
                           f"({suggest(account_name, names) or 'accounts: ' + ', '.join(names)})")
        store = self.store(schedule)
        try:
            return self.platforms(schedule, store, [account_name])[account_name].login()
        finally:
            store.close()

    # -- validation ----------------------------------------------------------------------------------------

    def validate(self, paths: list[Path] | None = None) -> ValidationSummary:
        """Check the given files (default: schedule, collections and themes); every problem is reported."""
        if not paths:
            paths = [self.config_path, *sorted(self.quotes_dir.glob("*.toml")), *sorted(self.themes_dir.glob("*.toml"))]
        files: list[Path] = []
        for path in paths:
            files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
        summary = ValidationSummary()
        problems: list[Problem] = []
        collection_sources: list[tuple[TomlSource, Collection]] = []
        schedule_sources: list[tuple[TomlSource, Schedule]] = []
        for path in files:
            try:
                source = read_toml(path)
                if "theme" in source.data:
                    from publisher.themes import theme_from_source

                    summary.themes.append(theme_from_source(source, self.assets_dir))
                elif "collection" in source.data or "quotes" in source.data:
                    collection = collection_from_source(source)
                    summary.collections.append(collection)
                    collection_sources.append((source, collection))
                else:
                    schedule = schedule_from_source(source)
                    summary.schedules.append(schedule)
                    schedule_sources.append((source, schedule))
            except ConfigError as exc:
                problems.extend(exc.problems)
        themes = self.theme_names()
        for source, collection in collection_sources:
            wanted = collection.collection.theme
            if wanted and wanted not in themes:
                problems.append(source.problem(("collection", "theme"), f'no theme "{wanted}"',
                                               suggest(wanted, themes) or "themes: " + ", ".join(themes)))
        for source, schedule in schedule_sources:
            problems += self._thread_problems(source, schedule, {c.name: c for c in summary.collections})
        if problems:
            raise ConfigError(problems)
        return summary

    def _thread_problems(self, source: TomlSource, schedule: Schedule,
                         loaded: dict[str, Collection]) -> list[Problem]:
        """Every quote of every campaign composed for every account: what no platform would accept."""
        from publisher.compose import compose_thread
        from publisher.platforms import rules_for

        problems = []
        for index, campaign in enumerate(schedule.campaigns):
            collection = loaded.get(campaign.collection)
            if collection is None:
                try:
                    collection = self.collection(campaign.collection)
                except (ConfigError, NotFound):
                    continue  # reported with the collection itself
            seen: set[str] = set()
            for name in campaign.accounts:
                account = schedule.accounts[name]
                quotes = [[q] for q in collection.quotes]
                if campaign.intro or campaign.outro:
                    quotes[0] = collection.quotes[: campaign.quotes_per_thread]
                for batch in quotes:
                    thread = compose_thread(campaign, collection, batch, name, account, rules_for(account.rules_name),
                                            DEFAULT_THEME)
                    for problem in thread.problems:
                        if problem not in seen:
                            seen.add(problem)
                            problems.append(source.problem(("campaigns", index), f"{campaign.name}: {problem}"))
        return problems
