"""Building each account's platform from schedule.toml and the environment (the only place secrets are read)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.config import Account, BlueskyAccount, OutboxAccount, Schedule, XAccount, secret_set
from publisher.errors import BadArgument, MissingCredentials, PublisherError
from publisher.platforms import rules_for
from publisher.platforms.base import Platform, UnavailablePlatform
from publisher.redact import register
from publisher.store import Store

if TYPE_CHECKING:
    from publisher.webfonts import ThemeFonts

X_API_BASE_ENV = "PUBLISHER_X_API_BASE"  # for tests against a local X API: the base URL replacing api.twitter.com
TIMEOUT_ENV = "PUBLISHER_HTTP_TIMEOUT"  # seconds; the default (30) suits real networks
X_TIMELINE_LAG_ENV = "PUBLISHER_X_TIMELINE_LAG"  # for tests against a local X API: seconds it takes to show a post


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


def x_timeline_lag(env: dict[str, str]) -> timedelta | None:
    """PUBLISHER_X_TIMELINE_LAG in seconds, or None (unset) for the X adapter's own (TIMELINE_LAG)."""
    value = env.get(X_TIMELINE_LAG_ENV)
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise BadArgument(f"{X_TIMELINE_LAG_ENV}={value!r} is not a number of seconds from 0 to 3600 (unset it to "
                          "allow for real X, or give e.g. 2)")
    return timedelta(seconds=seconds)


def platform_for(name: str, account: Account, root: Path, store: Store, env: dict[str, str],
                 now: Callable[[], datetime], fonts: ThemeFonts | None = None) -> Platform:
    """``fonts``: what an outbox's timeline page is set in (see ``timeline_fonts``)."""
    rules = rules_for(account.rules_name)
    timeout = http_timeout(env)
    if isinstance(account, OutboxAccount):
        from publisher.platforms.outbox import OutboxPlatform

        return OutboxPlatform(root / account.directory, name, rules, now, fonts)
    if isinstance(account, BlueskyAccount):
        from publisher.platforms.bluesky import BlueskyPlatform

        register(env.get(account.password_env))
        password = env.get(account.password_env) if secret_set(env, account.password_env) else None
        return BlueskyPlatform.from_account(name, account.service, account.handle, password,
                                            store, now, timeout, password_env=account.password_env)
    assert isinstance(account, XAccount)
    names = {"api_key": account.api_key_env, "api_secret": account.api_secret_env,
             "access_token": account.access_token_env, "access_token_secret": account.access_token_secret_env}
    register(*(env.get(variable) for variable in names.values()))
    missing = [variable for variable in names.values() if not secret_set(env, variable)]
    if missing:
        return UnavailablePlatform(rules, MissingCredentials(
            f"account {name}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in the "
            "environment", "export the X app's keys and the account's access token, then publisher login x " + name))
    from publisher.platforms.x import TIMELINE_LAG, XPlatform

    lag = x_timeline_lag(env)
    return XPlatform.from_account(name, {key: env[variable] for key, variable in names.items()}, now,
                                  api_base=env.get(X_API_BASE_ENV), timeout=timeout,
                                  timeline_lag=TIMELINE_LAG if lag is None else lag)


def platforms_for(schedule: Schedule, store: Store, env: dict[str, str], now: Callable[[], datetime],
                  accounts: list[str] | None = None, outbox: Path | None = None) -> dict[str, Platform]:
    """One platform per account (all, or those named). An account whose credentials are missing still gets
    one, which fails with the fix instead of posting. With ``outbox`` every account posts to a local outbox in
    that folder instead (dry runs), counted as the platform it stands for."""
    from publisher.platforms.outbox import OutboxPlatform

    names = [n for n in (accounts if accounts is not None else list(schedule.accounts)) if n in schedule.accounts]
    if outbox is not None:
        return {name: OutboxPlatform(outbox, name, rules_for(schedule.accounts[name].rules_name), now,
                                     timeline_fonts(schedule, name)) for name in names}
    return {name: platform_for(name, account, schedule.root, store, env, now,
                               timeline_fonts(schedule, name) if isinstance(account, OutboxAccount) else None)
            for name in names for account in [schedule.accounts[name]]}


def timeline_fonts(schedule: Schedule, account: str) -> ThemeFonts | None:
    """The fonts an outbox's timeline is set in: those of the theme of the first campaign posting there (its
    cards'), else the default theme's; None, for the system's fonts, when the theme cannot be loaded."""
    from publisher.project import DEFAULT_THEME, ProjectFiles
    from publisher.webfonts import ThemeFonts

    files = ProjectFiles(schedule.path)
    files.remember(schedule)
    campaign = next((c for c in schedule.campaigns if account in c.accounts), None)
    try:
        theme = (files.theme_for(campaign, files.collection(campaign.collection)) if campaign
                 else files.theme(DEFAULT_THEME))
    except PublisherError:  # validate and queue say what is wrong; the timeline only shows what was posted
        return None
    return ThemeFonts.of(theme, files.assets)
