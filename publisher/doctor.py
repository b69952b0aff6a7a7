"""``publisher doctor``: is this machine and this project ready to post? One check per line, each failure with
its fix. Reads everything and changes nothing (no store is created, no folder made, nothing logged in); with
``online`` it also logs each account in, as ``publisher login`` does, and says who it is or what to fix."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from publisher import __version__
from publisher.assets import Assets, bundled_dir
from publisher.config import Campaign, Schedule
from publisher.errors import PublisherError, display_path
from publisher.platforms import kind
from publisher.project import ProjectFiles
from publisher.quotes import Collection
from publisher.text import counted
from publisher.themes import Theme

if TYPE_CHECKING:
    from publisher.store import Store

# A clock before this is wrong (a dead RTC battery, a fresh VM): slots would fire at the wrong time, TLS would fail.
EARLIEST_SANE_CLOCK = datetime(2026, 1, 1, tzinfo=UTC)
LIBRARIES = ("Pillow", "atproto", "tweepy", "Mastodon.py", "APScheduler")
ONLINE_TIMEOUT = 10.0  # seconds a server has to answer each request of doctor --online (PUBLISHER_HTTP_TIMEOUT wins)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self, marks: tuple[str, str] = ("✓", "✗")) -> str:
        fix = f" ({self.fix})" if self.fix and not self.ok else ""
        return f"{marks[0] if self.ok else marks[1]} {self.name}: {self.detail}{fix}"

    def as_json(self) -> dict[str, object]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": (self.fix or None) if not self.ok
                else None}


def run_checks(files: ProjectFiles, env: dict[str, str] | None = None, online: bool = False) -> Iterator[Check]:
    """Every check, machine first, then the project (when there is one); each as soon as it is known. ``online``:
    then each account's login too (the only checks that touch the network)."""
    env = dict(os.environ) if env is None else env
    yield _python()
    yield _libraries()
    yield _shaping()
    yield _bundle()
    yield _clock()
    if not files.config_path.is_file():
        yield Check("project", False, f"no {display_path(files.config_path)} here",
                    "run publisher init to start a project, or cd into one, or run publisher --config PATH doctor")
        return
    try:
        schedule = files.schedule()
    except PublisherError as exc:
        yield Check("schedule", False, exc.lines()[0], "publisher validate lists every problem")
        return
    campaigns = [c for c in schedule.campaigns if c.enabled]
    yield Check("schedule", True, f"{display_path(files.config_path)}: {counted(len(campaigns), 'enabled campaign')}, "
                f"{counted(len(schedule.accounts), 'account')}")
    project_checks: list[tuple[str, Callable[[], Iterator[Check]]]] = [
        ("validate", lambda: iter([_validate(files)])),
        ("timezone data", lambda: iter([_timezones([schedule.defaults.timezone,
                                                    *(c.timezone for c in campaigns if c.timezone)])])),
        ("fonts", lambda: _fonts(files, campaigns)),
        ("credentials", lambda: _credentials(schedule, env)),
        ("state", lambda: _state(files)),
    ]
    if online:
        project_checks.append(("logins", lambda: _logins(files, schedule, env)))
    for name, checks in project_checks:
        try:
            yield from checks()
        except PublisherError as exc:  # a check that cannot finish (a damaged font, say) fails, and the rest go on
            yield Check(name, False, exc.lines()[0])


def _validate(files: ProjectFiles) -> Check:
    """What ``publisher validate`` says: every quote laid out on its campaign's card, every post composed."""
    from publisher.errors import ConfigError
    from publisher.validation import validate

    try:
        summary = validate(files)
    except ConfigError as exc:
        lines = exc.lines()
        more = f" and {len(lines) - 1} more" if len(lines) > 1 else ""
        return Check("validate", False, f"{lines[0]}{more}", "publisher validate lists every problem")
    return Check("validate", True, str(summary).removeprefix("OK: "))


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("Python", ok, f"{platform.python_version()} ({sys.executable})",
                 "publisher needs Python 3.11 or newer")


def _libraries() -> Check:
    import importlib

    from publisher.compat import import_twitter_text

    pins = _pins()
    found, problems = [f"publisher {__version__}"], []
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        found.append(f"{name} {version}")
        wanted = pins.get(name.lower())
        if wanted and version != wanted:
            problems.append(f"{name} is {version}, publisher is tested with {wanted}")
    # Imported, not only installed: a library whose own imports fail (a module its packaging forgot) is found here.
    for module in ("PIL.ImageFont", "apscheduler.schedulers.background", "tweepy", "atproto", "uvicorn",
                   "starlette.applications", "jinja2"):
        try:
            importlib.import_module(module)
        except Exception as exc:
            problems.append(f"cannot import {module}: {type(exc).__name__}: {exc}")
    try:
        import_twitter_text()
    except Exception as exc:
        problems.append(f"cannot import twitter_text: {type(exc).__name__}: {exc}")
    if problems:
        return Check("libraries", False, "; ".join(problems), "reinstall publisher (pipx reinstall publisher, or "
                     "scripts/install in a checkout) so its exact versions are installed")
    return Check("libraries", True, ", ".join(found))


def _pins() -> dict[str, str]:
    """The exact versions publisher's metadata asks for (``atproto==0.0.73``): their quirks are what it handles."""
    try:
        requirements = metadata.requires("publisher") or []
    except metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*==\s*([^;,\s]+)", requirement.strip())
        if match:
            pins[match[1].lower()] = match[2]
    return pins


def _shaping() -> Check:
    from PIL import features

    raqm = features.version("raqm")
    if not raqm:
        return Check("text shaping", False, "Pillow has no raqm, so Arabic, Hebrew and Indic text would be drawn "
                     "wrong and kerning lost", "Debian/Ubuntu: sudo apt-get install libfribidi0 libraqm0; macOS: "
                     "brew install fribidi libraqm; then run publisher doctor again")
    return Check("text shaping", True, f"raqm {raqm}, FriBiDi {features.version('fribidi') or '(built in)'}, "
                 f"HarfBuzz {features.version('harfbuzz') or '(built in)'}")


def _bundle() -> Check:
    try:
        assets = Assets.bundled_only()
    except PublisherError as exc:
        return Check("bundled fonts and themes", False, exc.lines()[0], "reinstall publisher")
    from publisher.themes import load_theme

    fonts, themes = assets.names("fonts", ".ttf", ".otf", ".ttc"), assets.theme_names()
    if len(themes) < 3:
        return Check("bundled fonts and themes", False, f"only {counted(len(themes), 'theme')} in {bundled_dir()}",
                     "reinstall publisher")
    for theme in themes:  # each names its fonts and logo: loading checks they are there and readable
        try:
            load_theme(bundled_dir() / "themes" / f"{theme}.toml", assets)
        except PublisherError as exc:
            return Check("bundled fonts and themes", False, f"publisher's own theme {theme} is damaged: "
                         f"{exc.lines()[0]}", "reinstall publisher")
    return Check("bundled fonts and themes", True, f"{counted(len(fonts), 'font')}, {counted(len(themes), 'theme')} "
                 f"({', '.join(themes)}) in {bundled_dir()}")


def _clock(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> Check:
    now = datetime.now(UTC)
    shown = now.strftime("%Y-%m-%d %H:%M UTC")
    if now < EARLIEST_SANE_CLOCK:
        return Check("clock", False, f"the system clock says {shown}, before publisher was released",
                     "set the date and time, and turn on time sync (sudo timedatectl set-ntp true)")
    synced = None
    if shutil.which("timedatectl"):
        try:
            answer = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                         text=True, timeout=5)
            synced = {"yes": True, "no": False}.get(answer.stdout.strip()) if answer.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            synced = None
    if synced is False:
        return Check("clock", False, f"{shown}, not synchronised with a time server: slots may fire early or late",
                     "turn on time sync (sudo timedatectl set-ntp true)")
    how = "synchronised with a time server" if synced else "synchronisation not reported by this system"
    return Check("clock", True, f"{shown} ({how})")


def _timezones(names: list[str]) -> Check:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    shown = []
    for name in dict.fromkeys(names):
        try:
            local = datetime.now(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            return Check("timezone data", False, f'no data for the timezone "{name}"',
                         "pip install --upgrade tzdata in publisher's environment, or the system's tzdata package")
        shown.append(f"{name} {local:%H:%M %Z}")
    source = f"tzdata {metadata.version('tzdata')}" if _installed("tzdata") else "the system's zoneinfo"
    return Check("timezone data", True, f"{', '.join(shown)} (from {source})")


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _fonts(files: ProjectFiles, campaigns: list[Campaign]) -> Iterator[Check]:
    """Every character of every collection the project uses, in its theme's fonts (bundled, the project's or the
    machine's): a character no font draws would stop its card at posting time."""
    try:
        collections = files.collections()
    except PublisherError as exc:
        yield Check("collections", False, exc.lines()[0], "publisher validate lists every problem")
        return
    for collection in collections:
        users = [None, *(c for c in campaigns if c.collection == collection.collection.name)]
        try:
            themes = {theme.theme.name: theme for theme in (files.theme_for(c, collection) for c in users)}
        except PublisherError as exc:
            yield Check(f"fonts for {collection.collection.name}", False, exc.lines()[0],
                        "publisher validate lists every problem")
            continue
        for theme in themes.values():
            yield _collection_fonts(files, collection, theme)


def _collection_fonts(files: ProjectFiles, collection: Collection, theme: Theme) -> Check:
    from publisher.render.breaks import clusters
    from publisher.render.fonts import FontBook, MissingGlyph

    fonts = theme.fonts
    books = [FontBook(files.assets, name, fonts.fallback)
             for name in dict.fromkeys([fonts.quote, fonts.highlight or fonts.quote, fonts.attribution])]
    meta = collection.collection
    texts = [meta.title, meta.attribution, *(q.text for q in collection.quotes),
             *(q.attribution or "" for q in collection.quotes)]
    used: dict[str, None] = {}
    missing: dict[str, None] = {}
    for cluster in dict.fromkeys(c for text in texts for c in clusters(text) if not c.isspace()):
        for book in books:
            try:
                used[Path(book.font_for(cluster)).name] = None
            except MissingGlyph:
                missing[cluster] = None
    name = f"fonts for {meta.name} ({theme.theme.name})"
    if missing:
        shown = ", ".join(f"{c!r} U+{ord(c[0]):04X}" for c in list(missing)[:5])
        return Check(name, False, f"{counted(len(missing), 'character')} no font draws ({shown})",
                     "add a font that has them to assets/fonts/ and to the theme's fonts.fallback, or install one, "
                     "such as Debian's fonts-noto-extra")
    return Check(name, True, f"every character of {counted(len(collection.quotes), 'quote')} has a font: "
                 f"{', '.join(sorted(used))}")


def _used_accounts(schedule: Schedule) -> list[str]:
    """The accounts some enabled campaign posts to, in the order the campaigns name them."""
    return list(dict.fromkeys(a for c in schedule.campaigns if c.enabled for a in c.accounts))


def _credentials(schedule: Schedule, env: dict[str, str]) -> Iterator[Check]:
    used = _used_accounts(schedule)
    for name in used:
        account = schedule.accounts.get(name)
        if account is None:
            continue  # the schedule check has said so
        variables = account.secret_variables
        unset = [v for v in variables if not env.get(v, "").strip()]
        label = f"account {name} ({account.platform})"
        if not variables:
            yield Check(label, True, "a local outbox: needs no credentials")
        elif unset:
            helped = kind(account.platform).getting_secrets(name)
            yield Check(label, False, f"{', '.join(unset)} not set in the environment",
                        (f"{helped}, then " if helped else "") + "export " + " ".join(f"{v}=..." for v in unset)
                        + ("" if helped else "; publisher help schedule says where each comes from"))
        else:
            yield Check(label, True, f"{', '.join(variables)} set (values not shown)")
    unused = [n for n in schedule.accounts if n not in used]
    if unused:
        yield Check("other accounts", True, f"{', '.join(unused)}: no enabled campaign uses them (not checked)")


def _logins(files: ProjectFiles, schedule: Schedule, env: dict[str, str]) -> Iterator[Check]:
    """Each account an enabled campaign posts to, logged in through its platform's adapter, as publisher login
    does: who it is, or the platform's error with its fix. Each request has ONLINE_TIMEOUT seconds."""
    from publisher.platforms.factory import TIMEOUT_ENV, platforms_for
    from publisher.redact import redact

    env = {TIMEOUT_ENV: str(ONLINE_TIMEOUT), **env}  # the user's own PUBLISHER_HTTP_TIMEOUT wins
    with _sessions(files) as store:
        for name in _used_accounts(schedule):
            account = schedule.accounts.get(name)
            if account is None:
                continue  # the schedule check has said so
            label = f"login {name} ({account.platform})"
            try:
                who = platforms_for(schedule, store, env, lambda: datetime.now(UTC), [name])[name].login()
            except PublisherError as exc:
                fix = getattr(exc, "fix", None)
                yield Check(label, False, str(exc) if fix else exc.lines()[0], fix or "")
            except Exception as exc:  # a platform's bug (another package's, say) must not stop the other accounts
                yield Check(label, False, redact(f"unexpected {type(exc).__name__}: {exc}"),
                            f"a bug in the {account.platform} platform's adapter, not in your settings: run publisher "
                            f"--debug login {account.platform} {name} for the traceback, and report it")
            else:
                yield Check(label, True, who)


@contextmanager
def _sessions(files: ProjectFiles) -> Iterator[Store]:
    """The store the logins keep their sessions in: the project's, if it is there and usable (a saved Bluesky
    session is reused, not a new one made), else one in memory, so that doctor still creates no file."""
    from publisher.store import Store

    path = files.store_path()
    store = None
    if path.is_file():
        try:
            store = Store.open(path)
        except PublisherError:
            store = None  # the store check has said what is wrong with it
    store = store or Store.empty()
    try:
        yield store
    finally:
        store.close()


def _state(files: ProjectFiles) -> Iterator[Check]:
    from publisher.lock import StoreLock
    from publisher.store import inspect_store

    store = files.store_path()
    folder = store.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        yield Check("state folder", False, f"{display_path(folder)} cannot be made ({display_path(existing or folder)} "
                    "is not a folder)", "set [paths] state in schedule.toml to a folder publisher may write")
        return
    if not os.access(existing, os.W_OK | os.X_OK):
        yield Check("state folder", False, f"{display_path(existing)} is not writable by {_user()}",
                    "check its owner and permissions, or set [paths] state in schedule.toml to another folder")
        return
    yield Check("state folder", True, f"{display_path(folder)} is writable" +
                ("" if folder.exists() else " (not made yet: the first queue add makes it)"))
    if not store.exists():
        yield Check("store", True, f"{display_path(store)} not made yet (the first queue add makes it)")
    else:
        try:
            yield Check("store", True, f"{display_path(store)}: {inspect_store(store)}, integrity check passed")
        except PublisherError as exc:
            yield Check("store", False, " ".join(exc.lines()[0].split()))
    try:
        holder = StoreLock(store).holder()
    except OSError as exc:
        yield Check("daemon lock", False, f"{display_path(store.with_suffix('.lock'))}: {exc.strerror}",
                    "check its permissions: it must be readable and writable by the user publisher runs as")
        return
    if holder is None:
        yield Check("daemon", True, "not running (publisher run starts it; publisher help deploy says how to run it "
                    "as a service)")
    else:
        who = holder.get("command", "publisher")
        yield Check("daemon", True, f"{who} holds the lock (pid {holder.get('pid', '?')}, since "
                    f"{holder.get('since', '?')})")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"
