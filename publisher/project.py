"""A project folder: ``schedule.toml`` and the collections, themes and state folder it names.

Finding and loading files, nothing more. The schedule is parsed once per ``ProjectFiles`` (a command, or a
daemon's run); collections are read each time they are asked for, so a running daemon sees edits to them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from publisher.assets import Assets
from publisher.errors import BadArgument, NotFound, PublisherError, display_path
from publisher.quotes import Collection, load_collection
from publisher.schema import SLUG_RE, suggest
from publisher.themes import Theme, load_theme
from publisher.tomlsource import toml_files

if TYPE_CHECKING:  # the schedule's models are built only by commands that read it
    from publisher.config import Campaign, Schedule

DEFAULT_THEME = "campaign"


def require_schedule(config_path: Path, given_by: str | None = None) -> None:
    """Refuse, the same way for every command, to work outside a project folder. ``given_by`` names where an
    explicit path came from (``--config`` or ``PUBLISHER_CONFIG``)."""
    if given_by:
        fix = f"give the path of a schedule.toml with {given_by}"
    else:
        fix = ("run publisher in your project folder (the one holding schedule.toml), give --config PATH, or start a "
               "project with publisher init")
    if config_path.is_dir():
        raise NotFound(f"{config_path.resolve()} is a folder, not a schedule: {fix}")
    if not config_path.exists():
        if not given_by and config_path.parent.resolve() == Path.cwd().resolve():
            raise NotFound(f"no {config_path.name} in {Path.cwd()}: {fix}")
        raise NotFound(f"no schedule file at {display_path(config_path)}"
                       + (f" ({given_by})" if given_by else "") + f": {fix}")


_TABLE = re.compile(r"\[\s*([A-Za-z0-9_.\"' -]*?)\s*\]")
_KEY_VALUE = re.compile(r"([A-Za-z0-9_.\"' -]+?)\s*=\s*(.*)")
_TEXT = re.compile(r'"([^"\\]*)"|\'([^\']*)\'')


def scan_paths(text: str) -> dict[str, str] | None:
    """[paths] of a schedule.toml that is not valid TOML, read line by line: {} if it names none, None if it names
    some in a way this cannot read for sure (then nobody should guess where the store is)."""
    table, found = "", {}
    for line in text.splitlines():
        bare = line.strip()
        if not bare or bare.startswith("#"):
            continue
        if bare.startswith("["):
            header = _TABLE.fullmatch(bare.split("#")[0].strip())
            table = header.group(1).replace(" ", "") if header else "?"
            continue
        pair = _KEY_VALUE.fullmatch(bare)
        if pair is None:
            continue
        key = f"{table}.{pair.group(1).replace(' ', '')}".lstrip(".")
        if key != "paths" and not key.startswith("paths."):
            continue
        value = _TEXT.match(pair.group(2).strip())
        name = key.removeprefix("paths.")
        if name not in ("quotes", "assets", "state") or value is None:
            return None
        found[name] = value.group(1) if value.group(1) is not None else value.group(2)
    return found


class ProjectFiles:
    """A folder holding schedule.toml and the quotes/ and assets/ it names."""

    def __init__(self, config_path: Path):
        self.config_path = config_path

    @property
    def root(self) -> Path:
        return self.config_path.parent

    @cached_property
    def _paths(self) -> dict[str, Any]:
        """[paths] of the schedule, read on their own (checked with the rest by the commands that read the
        schedule): leniently, so quotes can still be listed and rendered, and the queue still found and stopped,
        while the rest of the file is broken; and quickly, for a command that needs nothing else of it."""
        raw = self._raw()
        if raw is not None:
            paths = raw.get("paths", {})
            return paths if isinstance(paths, dict) else {}
        try:  # not even TOML: [paths] read line by line, or, if it cannot be, no guess at where the store is
            text = self.config_path.read_text("utf-8-sig")
        except (OSError, ValueError):
            return {}
        scanned = scan_paths(text)
        if scanned is None:  # reading the schedule says what is wrong with the file
            return self.schedule().paths.model_dump()
        return scanned

    def _raw(self) -> dict[str, Any] | None:
        """schedule.toml as plain TOML, unchecked; {} when there is no such file, None when it is not TOML."""
        if not self.config_path.is_file():  # a pipe would never end; schedule() has said what is wrong
            return {}
        try:
            return tomllib.loads(self.config_path.read_text("utf-8-sig"))  # as read_toml reads it: a BOM is no error
        except (OSError, ValueError):
            return None

    def fallback_zone(self, campaign_name: str | None = None) -> ZoneInfo:
        """The timezone a campaign's times are shown in while schedule.toml cannot be read: its own or the
        defaults' if those still read as timezones, else UTC."""
        raw = self._raw() or {}
        campaigns = raw.get("campaigns")
        found = next((c for c in campaigns if isinstance(c, dict) and c.get("name") == campaign_name), {}) \
            if isinstance(campaigns, list) else {}
        defaults = raw.get("defaults")
        for name in (found.get("timezone"), defaults.get("timezone") if isinstance(defaults, dict) else None):
            if isinstance(name, str):
                try:
                    return ZoneInfo(name)
                except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
                    continue
        return ZoneInfo("UTC")

    def _configured_dir(self, key: str) -> Path:
        configured = self._paths.get(key, key)
        return self.root / (configured if isinstance(configured, str) else key)

    @property
    def quotes_dir(self) -> Path:
        return self._configured_dir("quotes")

    @property
    def sources_dir(self) -> Path:
        return self._configured_dir("sources")

    @property
    def assets_dir(self) -> Path:
        return self._configured_dir("assets")

    @cached_property
    def assets(self) -> Assets:
        """The project's assets/ over publisher's bundled fonts, logo and themes."""
        return Assets(self.assets_dir)

    @property
    def themes_dir(self) -> Path:
        return self.assets_dir / "themes"

    def theme_paths(self) -> list[Path]:
        """Every theme this project can use: its own, and the bundled ones it does not replace."""
        return [path for name in self.assets.theme_names() if (path := self.assets.theme_path(name))]

    @cached_property
    def _schedule(self) -> Schedule:
        from publisher.config import load_schedule

        require_schedule(self.config_path)
        return load_schedule(self.config_path)

    def schedule(self) -> Schedule:
        return self._schedule

    def remember(self, schedule: Schedule) -> None:
        """Use this schedule, already read and checked (by validate), rather than reading the file again."""
        if schedule.path.resolve() == self.config_path.resolve():
            self.__dict__["_schedule"] = schedule

    def store_path(self, dry_run: bool = False) -> Path:
        """The store; dry runs keep their own beside it, so a rehearsal never marks real posts done. Found
        from a broken schedule.toml too: the emergency stop (queue cancel, hold) must never depend on it."""
        return self._configured_dir("state") / ("dry-run/publisher.db" if dry_run else "publisher.db")

    def campaign(self, name: str | None) -> Campaign:
        """The named campaign; without a name, the first enabled one."""
        schedule = self.schedule()
        if name is None:
            enabled = [c for c in schedule.campaigns if c.enabled]
            if not enabled:
                fix = ("set enabled = true on one of: " + ", ".join(c.name for c in schedule.campaigns)
                       if schedule.campaigns else "add a [[campaigns]] table")
                raise NotFound(f"{display_path(schedule.path)} has no enabled campaign ({fix})")
            return enabled[0]
        found = schedule.campaign(name)
        if found is None:
            names = [c.name for c in schedule.campaigns]
            raise NotFound(f'no campaign "{name}" in {display_path(schedule.path)} '
                           f"({suggest(name, names) or 'campaigns: ' + ', '.join(names)})")
        return found

    # -- collections ---------------------------------------------------------------------------------------

    def _holding(self, names: list[str], quote_ids: Sequence[str]) -> list[str]:
        """The one collection holding every one of these quotes; else why not, said as an error (a collection
        that cannot be read holds none)."""
        held: dict[str, set[str]] = {}
        for name in names:
            try:
                collection = load_collection(self.collection_path(name))
            except PublisherError:
                continue
            held[name] = {q.id for q in collection.quotes}
        missing = [quote_id for quote_id in quote_ids if not any(quote_id in ids for ids in held.values())]
        if missing:
            every = sorted(set().union(*held.values()))
            hint = suggest(missing[0], every) or "publisher quotes lists every quote's id"
            raise NotFound(f"no collection here has a quote {missing[0]} ({hint})")
        holding = [name for name, ids in held.items() if set(quote_ids) <= ids]
        if len(holding) == 1:
            return holding
        where = "; ".join(f"{quote_id} is in {', '.join(n for n, ids in held.items() if quote_id in ids)}"
                          for quote_id in dict.fromkeys(quote_ids))
        raise NotFound(f"say which collection with --collection: {where}")

    def collection_names(self) -> list[str]:
        return [p.stem for p in toml_files(self.quotes_dir) if SLUG_RE.fullmatch(p.stem)]

    def collection_path(self, name: str) -> Path:
        if not SLUG_RE.fullmatch(name) or len(name) > 64:
            raise BadArgument(f'"{name[:80]}" is not a collection name (use at most 64 lowercase letters, digits and '
                              "hyphens)")
        return self.quotes_dir / f"{name}.toml"

    def collection(self, name: str | None = None, holding: Sequence[str] = ()) -> Collection:
        """The named collection; without a name, the only one there is, or the only one holding every id of
        ``holding``."""
        if name is None:
            names = self.collection_names()
            if len(names) > 1 and holding:
                names = self._holding(names, holding)
            if len(names) != 1:
                raise NotFound("say which collection with --collection (" +
                               (", ".join(names) if names else "there are none; run publisher import") + ")")
            name = names[0]
        path = self.collection_path(name)
        if not (path.exists() or path.is_symlink()):  # a broken link is reported by read_toml
            known = self.collection_names()
            hint = suggest(name, known) or ("collections here: " + ", ".join(known) if known else
                                            "run publisher import to create one")
            raise NotFound(f'no collection "{name}" in {display_path(self.quotes_dir)} ({hint})')
        collection = load_collection(path)
        if collection.sources:  # {page} is the page verify found, where it has checked the quote
            from publisher.verification import kept_pages

            collection = collection.with_pages(kept_pages(self, collection))
        return collection

    def collections(self, name: str | None = None) -> list[Collection]:
        names = [name] if name else self.collection_names()
        if not names:
            raise NotFound(f"no collections in {display_path(self.quotes_dir)} (run publisher import to create one)")
        return [self.collection(n) for n in names]

    # -- themes --------------------------------------------------------------------------------------------

    def theme_names(self) -> list[str]:
        return self.assets.theme_names()

    def theme(self, name: str) -> Theme:
        own = self.themes_dir / f"{name}.toml"
        path = own if own.is_symlink() else self.assets.theme_path(name)  # a broken link: read_toml says so
        if not SLUG_RE.fullmatch(name) or path is None:
            known = self.theme_names()
            hint = suggest(name, known) or "themes: " + (", ".join(known) or "none")
            raise NotFound(f'no theme "{name}" in {display_path(self.themes_dir)} or publisher\'s bundled themes '
                           f"({hint})")
        return load_theme(path, self.assets)

    def theme_for(self, campaign: Campaign | None, collection: Collection, override: str | None = None) -> Theme:
        """The theme a campaign's cards use: given, else the campaign's, the collection's, or the default."""
        return self.theme(override or (campaign.theme if campaign else None) or collection.collection.theme
                          or DEFAULT_THEME)
