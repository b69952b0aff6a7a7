"""Fonts, logos and card themes: a project's own ``assets/`` folder over the defaults that ship inside publisher.

A file in the project's folder wins over the bundled one of the same name (``assets/themes/campaign.toml``,
``assets/fonts/Inter-Bold.otf``, ``assets/logos/mark.png``), so a project holds only what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath

from .errors import PublisherError


@cache
def bundled_dir() -> Path:
    """The defaults inside the installed package (``publisher/bundled``): a real folder, as fonts need paths."""
    folder = resources.files("publisher") / "bundled"
    if not isinstance(folder, Path) or not folder.is_dir():
        raise PublisherError(f"publisher's bundled fonts and themes are missing ({folder}): reinstall publisher from "
                             "a wheel or a checkout (a zipped install cannot give fonts a file path)")
    return folder


@dataclass(frozen=True)
class Assets:
    """Where a theme, font or logo named by a project is found: its ``assets/`` folder first, then the bundle."""

    folder: Path | None
    bundled: Path = field(default_factory=bundled_dir)

    @classmethod
    def bundled_only(cls) -> Assets:
        return cls(None)

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.bundled,) if self.folder is None else (self.folder, self.bundled)

    def find(self, name: str) -> Path | None:
        """The file a relative name like ``fonts/Inter-Bold.otf`` means, or None (also for names that climb out)."""
        relative = PurePosixPath(name.replace("\\", "/"))
        if not name or relative.is_absolute() or ".." in relative.parts:
            return None
        for root in self.roots:
            candidate = root / relative
            if candidate.is_file():
                return candidate
        return None

    def font(self, name: str) -> Path:
        """A font by file name; where none exists, the project's path for it (so a read error names that)."""
        return self.find(f"fonts/{name}") or (self.folder or self.bundled) / "fonts" / name

    def names(self, subfolder: str, *suffixes: str) -> list[str]:
        """The file names in ``subfolder`` of either root with one of these suffixes, sorted, each once."""
        found: set[str] = set()
        for root in self.roots:
            folder = root / subfolder
            if folder.is_dir():
                found.update(p.name for p in folder.iterdir()
                             if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file())
        return sorted(found)

    def theme_path(self, name: str) -> Path | None:
        return self.find(f"themes/{name}.toml")

    def theme_names(self) -> list[str]:
        return [name.removesuffix(".toml") for name in self.names("themes", ".toml")]
