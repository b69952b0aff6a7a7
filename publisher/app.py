"""The façade both the CLI and the daemon call: one project folder, its schedule and its collections."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from publisher.config import Schedule, load_schedule, schedule_from_source
from publisher.errors import ConfigError, NotFound, Problem, display_path
from publisher.importer import ImportReport, import_quotes
from publisher.quotes import Collection, collection_from_source, load_collection
from publisher.schema import SLUG_RE, suggest
from publisher.tomlsource import read_toml


@dataclass
class ValidationSummary:
    schedules: list[Schedule] = field(default_factory=list)
    collections: list[Collection] = field(default_factory=list)

    def __str__(self) -> str:
        parts = []
        for schedule in self.schedules:
            parts.append(f"{schedule.path.name} ({_plural(len(schedule.campaigns), 'campaign')}, "
                         f"{_plural(len(schedule.accounts), 'account')})")
        if self.collections:
            quotes = sum(len(c.quotes) for c in self.collections)
            parts.append(f"{_plural(len(self.collections), 'collection')} ({_plural(quotes, 'quote')})")
        return "OK: " + ", ".join(parts) if parts else "OK: nothing to check"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


class Project:
    """A folder holding schedule.toml and the quotes/ it names."""

    def __init__(self, config_path: Path):
        self.config_path = config_path

    @property
    def root(self) -> Path:
        return self.config_path.parent

    @property
    def quotes_dir(self) -> Path:
        """From [paths] when schedule.toml says so; read leniently so a broken schedule still lists quotes."""
        try:
            configured = tomllib.loads(self.config_path.read_text("utf-8"))["paths"]["quotes"]
        except (OSError, ValueError, KeyError, TypeError):
            configured = "quotes"
        return self.root / (configured if isinstance(configured, str) else "quotes")

    def schedule(self) -> Schedule:
        if not self.config_path.exists():
            raise NotFound(f"{self.config_path}: no schedule here (run publisher in the project folder, "
                           "or give --config PATH)")
        return load_schedule(self.config_path)

    def collection_names(self) -> list[str]:
        return sorted(p.stem for p in self.quotes_dir.glob("*.toml"))

    def collection_path(self, name: str) -> Path:
        if not SLUG_RE.fullmatch(name):
            raise NotFound(f'"{name}" is not a collection name (use lowercase letters, digits and hyphens)')
        return self.quotes_dir / f"{name}.toml"

    def collection(self, name: str) -> Collection:
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

    def validate(self, paths: list[Path] | None = None) -> ValidationSummary:
        """Check the given files (default: schedule.toml and every collection); every problem is reported."""
        if not paths:
            paths = [self.config_path, *sorted(self.quotes_dir.glob("*.toml"))]
        files: list[Path] = []
        for path in paths:
            files.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
        summary = ValidationSummary()
        problems: list[Problem] = []
        for path in files:
            try:
                source = read_toml(path)
                if "collection" in source.data or "quotes" in source.data:
                    summary.collections.append(collection_from_source(source))
                else:
                    summary.schedules.append(schedule_from_source(source))
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)
        return summary

    def import_file(self, source: Path, collection: str, *, title: str | None = None,
                    attribution: str | None = None) -> ImportReport:
        return import_quotes(source, self.collection_path(collection), title=title, attribution=attribution)
