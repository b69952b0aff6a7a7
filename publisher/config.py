"""``schedule.toml``: defaults, paths, accounts and campaigns, validated at load (see docs/schedule.md).

Secrets never live here: an account names the environment variable that holds its secret (``password_env``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from publisher.errors import ConfigError, Problem
from publisher.platforms.base import PlatformAccount
from publisher.platforms.base import secret_set as secret_set  # where the rest of publisher finds it
from publisher.schema import (
    Invalid,
    Slug,
    StrictModel,
    TimeOfDay,
    Timezone,
    clean_text,
    problems_from,
    shows_nothing,
    suggest,
)
from publisher.tomlsource import TomlSource, in_file_order, read_toml, toml_files

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Keys that would hold a secret; the *_env form names a variable instead and is allowed.
SECRET_KEY_RE = re.compile(
    r"(^|_)(pass(word|wd)?|secret|token|api_?key|consumer_key|bearer|credentials?)(_|$)", re.IGNORECASE
)


def _day(value: str) -> str:
    if value not in DAYS:
        hint = suggest(value.lower()[:3], DAYS) or "use " + ", ".join(DAYS)
        raise Invalid(f'"{value}" is not a day', hint)
    return value


Day = Annotated[str, AfterValidator(_day)]


class Paths(StrictModel):
    """Where the project keeps things, relative to the folder of schedule.toml."""

    quotes: str = "quotes"
    assets: str = "assets"
    state: str = "state"
    sources: str = "sources"  # the documents quotes are taken from ([[sources]] in a collection)


# An [accounts.NAME] table, as its platform's module models it (publisher.platforms).
Account = PlatformAccount


class Slots(StrictModel):
    days: list[Day] = Field(min_length=1)
    times: list[TimeOfDay] = Field(min_length=1)


def _template_check(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        clean_text(value)
        if value and shows_nothing(value):
            raise Invalid("shows nothing: it would post an empty-looking part", 'write some text, or "" for none')
        try:
            fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(value)
                      if name is not None]
        except ValueError as exc:
            raise Invalid(f"is not a valid template ({exc})", "write {name} for a value and {{ }} for braces") from None
        names = [name for name, _, _ in fields]
        for name, spec, conversion in fields:
            if spec or conversion:  # {date:%Y} fails at posting time; {thread_number:>9999999999} eats memory
                raise Invalid(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} "
                              "has a format or conversion, which templates do not take", f"write {{{name}}}")
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise Invalid(f"unknown placeholder {{{unknown[0]}}}", "use " + ", ".join(f"{{{a}}}" for a in allowed))
        return value

    return check


# {date} is the thread's slot date in the campaign's timezone, {thread_number} its number in the campaign: what
# makes intros and outros differ from thread to thread (X refuses a post identical to an earlier one).
THREAD_FIELDS = ("date", "thread_number")
INTRO_FIELDS = ("title", "count", "hashtags", "campaign", *THREAD_FIELDS)
CAPTION_FIELDS = ("text", "attribution", "hashtags", "mentions", "title", "id", "source", "page", *THREAD_FIELDS)
DEFAULT_CAPTION = "“{text}”\n\n{hashtags} {mentions}"
IntroTemplate = Annotated[str, AfterValidator(_template_check(INTRO_FIELDS))]
CaptionTemplate = Annotated[str, AfterValidator(_template_check(CAPTION_FIELDS))]


def _cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    for part in value.split(";"):
        try:
            trigger = CronTrigger.from_crontab(part.strip(), timezone="UTC")
        except ValueError as exc:
            raise Invalid(f'"{value}" is not a cron expression ({exc})',
                          'write five fields: minute hour day month weekday, e.g. "30 8 * * mon-fri"') from None
        if trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None:  # e.g. 31 February
            raise Invalid(f'"{part.strip()}" never fires: no month has that day',
                          "check the day and month fields")
    return value


_DURATION = re.compile(r"(\d+)\s*([mhd])")


def parse_duration(text: str) -> timedelta:
    """"45m", "2h", "1d" (or a combination, "1h30m")."""
    units = {"m": "minutes", "h": "hours", "d": "days"}
    found = _DURATION.findall(text)
    if not found or _DURATION.sub("", text).strip():
        raise ValueError(text)
    return sum((timedelta(**{units[unit]: int(n)}) for n, unit in found), timedelta())


LONGEST_DURATION = timedelta(days=366)
# Campaign dates stay well inside the calendar, so slot arithmetic with timezones never runs off its ends.
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2199, 12, 31)


def _duration(value: str) -> str:
    try:
        length = parse_duration(value)
    except (ValueError, OverflowError):
        raise Invalid(f'"{value}" is not a duration', 'write e.g. "45m", "2h" or "1d"') from None
    if length > LONGEST_DURATION:
        raise Invalid(f'"{value}" is longer than a year', 'write at most "366d"')
    return value


def _in_range(value: date) -> None:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise Invalid(f"{value.isoformat()} is outside the years publisher schedules",
                      f"give a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}")


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise Invalid("must be a local date and time, without an offset",
                      "write 2026-12-01T09:00:00; it is read in the campaign's timezone")
    _in_range(value.date())
    return value


def _campaign_date(value: date) -> date:
    _in_range(value)
    return value


Cron = Annotated[str, AfterValidator(_cron)]
Duration = Annotated[str, AfterValidator(_duration)]


class Defaults(StrictModel):
    timezone: Timezone = "UTC"
    keep_cards: Duration = "90d"  # how long the store keeps the card images of finished threads
    # when each post's figures are read, after it was posted ([] turns the daemon's readings off)
    results_at: list[Duration] = Field(default_factory=lambda: ["1h", "24h", "7d", "30d"], max_length=20)


LocalDateTime = Annotated[datetime, AfterValidator(_naive)]
CampaignDate = Annotated[date, AfterValidator(_campaign_date)]


class Campaign(StrictModel):
    name: Slug
    collection: Slug
    accounts: list[str] = Field(min_length=1)
    quotes_per_thread: int = Field(default=1, ge=1, le=25)
    slots: Slots | None = None
    cron: Cron | None = None
    once: list[LocalDateTime] = Field(default_factory=list)
    start: CampaignDate | None = None
    end: CampaignDate | None = None
    threads_per_slot: int = Field(default=1, ge=1, le=5)
    catch_up: Literal["skip", "post_late"] = "post_late"
    max_lateness: Duration | None = None
    cooldown_days: int = Field(default=30, ge=1, le=3650)
    timezone: Timezone | None = None
    enabled: bool = True
    approval: bool = False  # sign-off: its threads wait as awaiting_approval until a person approves them
    intro: IntroTemplate | None = None
    outro: IntroTemplate | None = None
    caption: CaptionTemplate = DEFAULT_CAPTION
    numbering: bool = False
    format: Literal["square", "portrait", "story", "landscape"] = "square"
    theme: Slug | None = None
    order: Literal["sequential", "shuffle", "evergreen", "best"] = "sequential"
    require_verified: bool = False  # only quotes publisher verify finds word for word in their source
    split: bool = True
    mentions: bool = True
    x_mentions: bool = True
    x_monthly_budget: float | None = Field(default=None, ge=0)

    @property
    def repeats(self) -> bool:
        """Whether the campaign goes round its collection for ever (evergreen, best) rather than use each quote
        once."""
        return self.order in ("evergreen", "best")


class _ScheduleShape(StrictModel):
    """The file's shape; accounts are checked one by one against their platform's model."""

    defaults: Defaults = Defaults()
    paths: Paths = Paths()
    accounts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    campaigns: list[Campaign] = Field(default_factory=list)


class Schedule(BaseModel):
    """A validated schedule.toml, with paths resolved against its folder."""

    model_config = ConfigDict(defer_build=True)

    path: Path
    defaults: Defaults
    paths: Paths
    accounts: dict[str, Account]
    campaigns: list[Campaign]

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def quotes_dir(self) -> Path:
        return self.root / self.paths.quotes

    @property
    def state_dir(self) -> Path:
        return self.root / self.paths.state

    def campaign(self, name: str) -> Campaign | None:
        return next((c for c in self.campaigns if c.name == name), None)

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's own timezone: calendar months for budgets, times typed on the command line."""
        return ZoneInfo(self.defaults.timezone)

    def zone_of(self, campaign: Campaign) -> ZoneInfo:
        return ZoneInfo(campaign.timezone or self.defaults.timezone)

    def unset_secrets(self, env: dict[str, str], enabled_only: bool = True) -> dict[str, list[str]]:
        """Per account used by an (enabled) campaign: the secret variables not set in ``env`` (names only)."""
        used = dict.fromkeys(a for c in self.campaigns if c.enabled or not enabled_only for a in c.accounts)
        unset = {name: [v for v in self.accounts[name].secret_variables if not secret_set(env, v)]
                 for name in used if name in self.accounts}
        return {name: variables for name, variables in unset.items() if variables}


def load_schedule(path: Path) -> Schedule:
    """Read and validate schedule.toml, including what it names (collections, accounts)."""
    return schedule_from_source(read_toml(path))


def schedule_from_source(source: TomlSource) -> Schedule:
    path = source.path
    problems = _secret_problems(source, source.data, ())
    shape: _ScheduleShape | None = None
    try:
        shape = _ScheduleShape.model_validate(_without_secrets(source.data))
    except ValidationError as exc:
        problems += problems_from(exc, source, _ScheduleShape)
    accounts: dict[str, Account] = {}
    raw_accounts = source.data.get("accounts")
    if isinstance(raw_accounts, dict):
        for name, raw in raw_accounts.items():
            account = _validate_account(source, name, raw, problems)
            if account is not None:
                accounts[name] = account
    # The campaigns' references are checked even where the shape is refused (a bad slot day hides no unknown
    # account), but a key is reported once: by the first check that refuses it.
    refused = {problem.key for problem in problems}
    problems += [problem for problem in _reference_problems(source) if problem.key not in refused]
    if problems or shape is None:
        raise ConfigError(in_file_order(problems))
    return Schedule(path=path, defaults=shape.defaults, paths=shape.paths, accounts=accounts,
                    campaigns=shape.campaigns)


def _env_key_for(table: dict[str, Any], key: str) -> tuple[str, str] | None:
    """The ``*_env`` key (and a variable name) that should replace a secret written as ``key`` in an account of
    a platform with secrets; None where no secret belongs at all."""
    from publisher.platforms import known

    platform = known().get(str(table.get("platform")))
    keys = platform.secret_keys if platform is not None else {}
    return keys.get(key.lower()) or keys.get("")


def _secret_problems(source: TomlSource, value: object, key_path: tuple[str | int, ...]) -> list[Problem]:
    """A secret written inline is refused, wherever it is; the message never repeats the value."""
    problems: list[Problem] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if SECRET_KEY_RE.search(key) and not key.endswith("_env"):
                instead = _env_key_for(value, key)
                problems.append(source.problem(
                    (*key_path, key), "secrets must not be written in schedule.toml",
                    f'delete it, put the secret in an environment variable and write {instead[0]} = "{instead[1]}" '
                    "here" if instead else "delete it: no secret belongs here; an account's secrets go in "
                    "environment variables that its *_env keys name, as publisher help schedule says"))
            else:
                problems += _secret_problems(source, item, (*key_path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _secret_problems(source, item, (*key_path, index))
    return problems


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()
                if not (SECRET_KEY_RE.search(k) and not k.endswith("_env"))}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _validate_account(source: TomlSource, name: str, raw: object, problems: list[Problem]) -> Account | None:
    key_path: tuple[str | int, ...] = ("accounts", name)
    if not isinstance(raw, dict):
        return None  # the shape check has already reported it
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        problems.append(source.problem(key_path, f'account name "{name}" has spaces or punctuation',
                                       "use letters, digits, - and _"))
    from publisher.platforms import known

    platform = raw.get("platform")
    kind = known().get(platform) if isinstance(platform, str) else None
    if kind is None:
        choices = ", ".join(f'"{p}"' for p in known())
        hint = suggest(platform, list(known())) if isinstance(platform, str) else None
        message = "missing platform" if platform is None else f"unknown platform {platform!r}"
        problems.append(source.problem((*key_path, "platform"), message, hint or f"write platform = one of {choices}"))
        return None
    try:
        return kind.account_model.model_validate(_without_secrets(raw))
    except ValidationError as exc:
        problems += problems_from(exc, source, kind.account_model, key_path)
        return None


def _is_date(value: object) -> TypeGuard[date]:
    return isinstance(value, date) and not isinstance(value, datetime)  # a datetime is a date too, to Python


def _reference_problems(source: TomlSource) -> list[Problem]:
    """What the campaigns name and the types cannot check: collections and accounts that exist, unique names, one
    of slots and cron, an end after the start. Read from the file's data, not the model, so that a value refused
    elsewhere in a campaign hides nothing here; a value of the wrong type is the schema's to report."""
    problems = []
    paths = source.data.get("paths", {})
    folder = paths.get("quotes", "quotes") if isinstance(paths, dict) else None
    quotes_dir = source.path.parent / folder if isinstance(folder, str) else None
    known_collections = [p.stem for p in toml_files(quotes_dir)] if quotes_dir is not None else []
    raw_accounts = source.data.get("accounts", {})
    campaigns = source.data.get("campaigns")
    seen: set[str] = set()
    for index, campaign in enumerate(campaigns if isinstance(campaigns, list) else []):
        if not isinstance(campaign, dict):
            continue
        if "slots" in campaign and "cron" in campaign:
            problems.append(source.problem(("campaigns", index, "cron"), "slots and cron both given",
                                           "keep one of them (once = [...] may go with either)"))
        start, end = campaign.get("start"), campaign.get("end")
        if _is_date(start) and _is_date(end) and end < start:
            problems.append(source.problem(("campaigns", index, "end"), f"{end} is before start",
                                           "end is the last day the campaign posts"))
        name = campaign.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(source.problem(("campaigns", index, "name"), f'duplicate campaign "{name}"',
                                               "campaign names must be unique"))
            seen.add(name)
        collection = campaign.get("collection")
        if isinstance(collection, str) and quotes_dir is not None and collection not in known_collections:
            hint = suggest(collection, known_collections)
            problems.append(source.problem(
                ("campaigns", index, "collection"), f'no collection "{collection}" in {quotes_dir.name}/',
                hint or f"create {quotes_dir.name}/{collection}.toml or run publisher import"))
        accounts = campaign.get("accounts")
        for a_index, account in enumerate(accounts if isinstance(accounts, list) else []):
            if isinstance(account, str) and isinstance(raw_accounts, dict) and account not in raw_accounts:
                hint = suggest(account, list(raw_accounts))
                problems.append(source.problem(("campaigns", index, "accounts", a_index),
                                               f'no account "{account}"',
                                               hint or f"add an [accounts.{account}] table"))
    return problems
