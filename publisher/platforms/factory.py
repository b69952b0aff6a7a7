"""Building each account's platform from schedule.toml and the environment (the only place secrets are read)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher.config import Schedule
from publisher.errors import BadArgument, NotFound, display_path
from publisher.platforms import counted_as, kind, rules_of
from publisher.platforms.base import Platform, PlatformContext, PlatformKind, ResultsReader
from publisher.schema import suggest

TIMEOUT_ENV = "PUBLISHER_HTTP_TIMEOUT"  # seconds; the default (30) suits real networks
PageFonts = Callable[[str, Path], str]  # a page's HTML and folder -> the CSS of its fonts, written beside it


def http_timeout(env: dict[str, str]) -> float:
    """PUBLISHER_HTTP_TIMEOUT in seconds (default 30)."""
    value = env.get(TIMEOUT_ENV) or "30"
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise BadArgument(f"{TIMEOUT_ENV}={value!r} is not a number of seconds from 0 to 600 (unset it for the "
                          "default, 30, or give e.g. 60)")
    return seconds


def platforms_for(schedule: Schedule, store: Any, env: dict[str, str], now: Callable[[], datetime],
                  accounts: list[str] | None = None, outbox: Path | None = None,
                  page_fonts: Callable[[str], PageFonts | None] = lambda account: None) -> dict[str, Platform]:
    """One platform per account (all, or those named), through its platform's module. An account whose
    credentials are missing still gets one, which fails with the fix instead of posting. With ``outbox`` every
    account posts to a local outbox in that folder instead (dry runs), counted as the platform it stands for.
    ``page_fonts``: for an account, what an outbox's timeline page is set in (None: the system's fonts)."""
    from publisher.platforms.outbox import OutboxPlatform

    names = [n for n in (accounts if accounts is not None else list(schedule.accounts)) if n in schedule.accounts]
    timeout = http_timeout(env)
    made: dict[str, Platform] = {}
    for name in names:
        account = schedule.accounts[name]
        context = PlatformContext(schedule.root, store, env, now, timeout, page_fonts(name))
        if outbox is not None:
            made[name] = OutboxPlatform(outbox, name, counted_as(account), now, context.page_fonts,
                                        rules_of(account, store))
        else:
            made[name] = kind(account.platform).connect(name, account, context)
    return made


def readers_for(schedule: Schedule, store: Any, env: dict[str, str], now: Callable[[], datetime]
                ) -> dict[str, ResultsReader | None]:
    """How each account's posts' figures are read; None for an account whose posts have no audience, or whose
    reading is off."""
    timeout = http_timeout(env)
    return {name: kind(account.platform).results(name, account, PlatformContext(schedule.root, store, env, now,
                                                                                  timeout))
            for name, account in schedule.accounts.items()}


def login_kind(schedule: Schedule, platform: str, account_name: str) -> PlatformKind:
    """The platform of an account ``publisher login PLATFORM ACCOUNT`` names, checked against schedule.toml."""
    if (account := schedule.accounts.get(account_name)) is None:
        names = list(schedule.accounts)
        raise NotFound(f'no account "{account_name}" in {display_path(schedule.path)} '
                       f"({suggest(account_name, names) or 'accounts: ' + ', '.join(names)})")
    its = kind(account.platform)
    if account.platform != platform:
        raise BadArgument(f'account "{account_name}" is {its.article} account, not {platform} (publisher login '
                          f"{account.platform} {account_name})" if its.can_login else
                          f'account "{account_name}" is {its.article}: it needs no login')
    return its
