"""Shared pieces of the file schemas: strict models, value checks, and pydantic errors as one-line Problems."""

from __future__ import annotations

import difflib
import re
import types
import typing
import unicodedata
import zoneinfo
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from publisher.errors import Problem
from publisher.text import BIDI_CONTROLS
from publisher.tomlsource import KeyPath, TomlSource


class StrictModel(BaseModel):
    """Unknown keys are errors and values are never coerced ("3" is not 3)."""

    # defer_build: a model builds its validator when first used, so a command pays only for the files it reads
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Invalid(ValueError):
    """A value check failed; ``fix`` says what to write instead."""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix


SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Letters, digits, marks and underscores, not all digits: what both X and Bluesky turn into a hashtag.
HASHTAG_RE = re.compile(r"(?=.*[^\W\d])[\w\u200c\u200d]+", re.UNICODE)
MAX_HASHTAG = 64
X_HANDLE_RE = re.compile(r"@[A-Za-z0-9_]{1,15}")
ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
TIME_RE = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
BLUESKY_HANDLE_RE = re.compile(r"(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z][a-zA-Z0-9-]*")


def _slug(value: str) -> str:
    if not SLUG_RE.fullmatch(value) or len(value) > 64:
        suggestion = "-".join(re.findall(r"[a-z0-9]+", value.lower()))[:64] or "my-name"
        raise Invalid(f'"{value}" is not a slug', f'use at most 64 lowercase letters, digits and hyphens, e.g. '
                      f'"{suggestion}"')
    return value


def _hashtag(value: str) -> str:
    if value.startswith("#"):
        raise Invalid(f'hashtag "{value}" starts with "#"', f'write it without the "#": "{value.lstrip("#")}"')
    if not HASHTAG_RE.fullmatch(value) or len(value) > MAX_HASHTAG:
        raise Invalid(
            f'"{value}" is not a valid hashtag',
            "use letters, digits and underscores only, not all digits, at most 64 characters",
        )
    return value


def _mention(value: str) -> str:
    if not X_HANDLE_RE.fullmatch(value):
        raise Invalid(f'"{value}" is not an X handle', 'write "@" then 1-15 letters, digits or underscores')
    return value


_UK = 'write "Europe/London": UK time, GMT in winter and BST in summer'
_CENTRAL_EUROPE = ('write the zone of your city, e.g. "Europe/Paris" or "Europe/Berlin": Central European time, CET in '
                   "winter and CEST in summer")
_EASTERN_EUROPE = ('write the zone of your city, e.g. "Europe/Athens" or "Europe/Helsinki": Eastern European time, EET '
                   "in winter and EEST in summer")
_US_EASTERN = 'write "America/New_York": US Eastern time, EST in winter and EDT in summer'
_US_CENTRAL = ('write "America/Chicago": US Central time, CST in winter and CDT in summer; for China Standard Time, '
               '"Asia/Shanghai"')
_US_MOUNTAIN = ('write "America/Denver": US Mountain time, MST in winter and MDT in summer; for Arizona, on MST all '
                'year, "America/Phoenix"')
_US_PACIFIC = 'write "America/Los_Angeles": US Pacific time, PST in winter and PDT in summer'
_AUSTRALIA_EAST = ('write "Australia/Sydney": Australian Eastern time, AEST in winter and AEDT in summer; for '
                   'Queensland, on AEST all year, "Australia/Brisbane"')
# The abbreviations people write for the time of a place (in any case), and the zone they mean: the closest name by
# spelling is no help ("BST" is nearest "MST").
_ABBREVIATIONS = {
    "BST": _UK, "GMT": _UK, "UK": _UK,
    "IST": 'write "Asia/Kolkata" for India Standard Time; for Irish time, "Europe/Dublin"; for Israel time, '
           '"Asia/Jerusalem"',
    "CET": _CENTRAL_EUROPE, "CEST": _CENTRAL_EUROPE, "MEZ": _CENTRAL_EUROPE, "MESZ": _CENTRAL_EUROPE,
    "EET": _EASTERN_EUROPE, "EEST": _EASTERN_EUROPE,
    "WET": 'write "Europe/Lisbon": Western European time, WET in winter and WEST in summer',
    "WEST": 'write "Europe/Lisbon": Western European time, WET in winter and WEST in summer',
    "MSK": 'write "Europe/Moscow": Moscow time',
    "EST": _US_EASTERN, "EDT": _US_EASTERN, "ET": _US_EASTERN,
    "CST": _US_CENTRAL, "CDT": _US_CENTRAL, "CT": _US_CENTRAL,
    "MST": _US_MOUNTAIN, "MDT": _US_MOUNTAIN, "MT": _US_MOUNTAIN,
    "PST": _US_PACIFIC, "PDT": _US_PACIFIC, "PT": _US_PACIFIC,
    "AKST": 'write "America/Anchorage": Alaska time', "AKDT": 'write "America/Anchorage": Alaska time',
    "HST": 'write "Pacific/Honolulu": Hawaii time', "AST": 'write "America/Halifax": Atlantic time',
    "ADT": 'write "America/Halifax": Atlantic time', "NST": 'write "America/St_Johns": Newfoundland time',
    "AEST": _AUSTRALIA_EAST, "AEDT": _AUSTRALIA_EAST,
    "ACST": 'write "Australia/Adelaide": Australian Central time',
    "ACDT": 'write "Australia/Adelaide": Australian Central time',
    "AWST": 'write "Australia/Perth": Australian Western time',
    "NZST": 'write "Pacific/Auckland": New Zealand time', "NZDT": 'write "Pacific/Auckland": New Zealand time',
    "JST": 'write "Asia/Tokyo": Japan time', "KST": 'write "Asia/Seoul": Korea time',
    "HKT": 'write "Asia/Hong_Kong": Hong Kong time', "SGT": 'write "Asia/Singapore": Singapore time',
    "PKT": 'write "Asia/Karachi": Pakistan time', "SAST": 'write "Africa/Johannesburg": South Africa time',
    "WAT": 'write "Africa/Lagos": West Africa time', "EAT": 'write "Africa/Nairobi": East Africa time',
    "BRT": 'write "America/Sao_Paulo": Brasília time',
}
# Names zoneinfo takes as a fixed offset all year, where most who write them live with summer time (New York, Denver,
# London): valid, so a schedule that uses one keeps working, but validate says what they mean and the zone to write.
_FIXED_ABBREVIATIONS = {
    "EST": ('"EST" is UTC-5 all year, without the summer time (EDT) of US Eastern time',
            _US_EASTERN + ', or "Etc/GMT+5" to keep UTC-5 all year'),
    "MST": ('"MST" is UTC-7 all year, without the summer time (MDT) of US Mountain time', _US_MOUNTAIN),
    "GMT": ('"GMT" is UTC+0 all year, without the summer time (BST) of UK time',
            _UK + ', or "UTC" to keep GMT all year'),
}


def fixed_offset_note(value: str) -> str | None:
    """What a timezone that never changes for summer time ("GMT", "EST", "MST") means, and what to write for the
    time of the place; None for any other."""
    if value not in _FIXED_ABBREVIATIONS:
        return None
    message, fix = _FIXED_ABBREVIATIONS[value]
    return f"{message} ({fix})"


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        known = sorted(zoneinfo.available_timezones())
        same_but_case = [name for name in known if name.casefold() == value.strip().casefold()]
        close = same_but_case or difflib.get_close_matches(value, known, n=1, cutoff=0.6)
        hint = _ABBREVIATIONS.get(value.strip().upper()) or (
            f'did you mean "{close[0]}"?' if close else 'use an IANA name such as "Europe/London"')
        raise Invalid(f'unknown timezone "{value}"', hint) from None
    return value


def _time_of_day(value: str) -> str:
    if not TIME_RE.fullmatch(value):
        raise Invalid(f'"{value}" is not a time of day', 'write HH:MM on the 24-hour clock, e.g. "08:30"')
    return value


def _env_name(value: str) -> str:
    if not ENV_NAME_RE.fullmatch(value):
        # The value may itself be a pasted secret: never repeat it.
        raise Invalid(
            "must be the NAME of an environment variable, not the secret itself",
            'write a name in capitals, digits and underscores, e.g. "PUBLISHER_MY_SECRET"; put the secret in '
            "that variable",
        )
    return value




# Control characters but tab and line feed, and the bidi controls: one search finds whether a text has any.
_UNCLEAN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "]")


def clean_text(value: str) -> str:
    """Text that shows what it says: no control characters (but line breaks and tabs), no bidi overrides."""
    found = _UNCLEAN.search(value)
    if found is None:
        return value
    for position, char in enumerate(value[found.start():], start=found.start() + 1):
        if char in BIDI_CONTROLS:
            raise Invalid(f"contains the bidi control character U+{ord(char):04X} (character {position}), which "
                          "can make readers see the text in another order", "delete it: right-to-left text needs "
                          "no control characters")
        if unicodedata.category(char) == "Cc" and char not in "\n\t":
            raise Invalid(f"contains the control character U+{ord(char):04X} (character {position})",
                          "delete it; text copied from a PDF or a web page sometimes brings them in")
    return value


# Letters that draw nothing (Hangul fillers, the blank Braille pattern): used to fake an empty-looking post.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def shows_nothing(value: str) -> bool:
    """Whether the text would look empty: only spaces, format characters, lone marks and blank letters."""
    return all(unicodedata.category(c) in ("Cf", "Zs", "Zl", "Zp", "Cc", "Mn", "Me") or c in _BLANK_LETTERS
               or c.isspace() for c in value)


def not_blank(value: str) -> str:
    clean_text(value)
    if shows_nothing(value):
        raise Invalid("is empty" if not value.strip() else "has only invisible characters", "write some text")
    return value


def _bluesky_handle_or_empty(value: str) -> str:
    if value and not BLUESKY_HANDLE_RE.fullmatch(value.removeprefix("@")):
        raise Invalid(f'"{value}" is not a Bluesky handle',
                      'write the full handle, e.g. "example.bsky.social", or "" to leave the mention out on Bluesky')
    return value


def _bluesky_handle(value: str) -> str:
    if not BLUESKY_HANDLE_RE.fullmatch(value.removeprefix("@")):
        raise Invalid(f'"{value}" is not a Bluesky handle', 'write the full handle, e.g. "example.bsky.social"')
    return value.removeprefix("@")


def _host_name(host: str) -> None:
    """Raise ValueError unless ``host`` is an IP address or a name the HTTP client can encode (IDNA 2008)."""
    import ipaddress

    import idna  # httpx's own, so a name passing here is one it can connect to

    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            idna.encode(host, uts46=True)
        except idna.IDNAError as exc:
            raise ValueError(str(exc)) from None


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    fix = 'e.g. "https://bsky.social"'
    if "@" in value.split("//", 1)[-1].split("/", 1)[0]:  # never echoed: it may hold a password
        raise Invalid("has a user name or password in it, and secrets must not be written in schedule.toml",
                      "write only the server's address; the account's secret goes in the environment variable its "
                      "*_env key names")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value, re.IGNORECASE):
        raise Invalid(f'"{value}" is not an http(s) URL', fix)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises for a port out of range
        _host_name(parts.hostname or "")
    except (ValueError, UnicodeError) as exc:
        raise Invalid(f'"{value}" is not a usable URL ({exc})', fix) from None
    value = value[: len(parts.scheme)].lower() + value[len(parts.scheme):]
    host = parts.hostname or ""
    if value.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
        raise Invalid(f'"{value}" is plain http:// to another machine: the account\'s secret would cross the '
                      "network unencrypted", "use https://; plain http:// is only for a server on this machine")
    return value.rstrip("/")


Slug = Annotated[str, AfterValidator(_slug)]
Hashtag = Annotated[str, AfterValidator(_hashtag)]
Mention = Annotated[str, AfterValidator(_mention)]
Timezone = Annotated[str, AfterValidator(_timezone)]
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
EnvName = Annotated[str, AfterValidator(_env_name)]
BlueskyHandle = Annotated[str, AfterValidator(_bluesky_handle)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]  # https, or http to this machine only
MAX_QUOTE_CHARACTERS = 2000  # far more than any card holds at a readable size; longer is a pasted document


def quote_text(value: str) -> str:
    not_blank(value)
    if len(value) > MAX_QUOTE_CHARACTERS:
        raise Invalid(f"is {len(value):,} characters long, more than a card can hold",
                      f"keep a quote to at most {MAX_QUOTE_CHARACTERS:,} characters: split it into several quotes")
    return value


Text = Annotated[str, AfterValidator(not_blank)]
QuoteText = Annotated[str, AfterValidator(quote_text)]
CleanText = Annotated[str, AfterValidator(clean_text)]  # may be empty
BlueskyHandleOrEmpty = Annotated[str, AfterValidator(_bluesky_handle_or_empty)]


def _mastodon_handle_or_empty(value: str) -> str:
    if value and not re.fullmatch(r"@?[A-Za-z0-9_]+(?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?@[\w-]+(?:\.[\w-]+)+", value):
        raise Invalid(f'"{value}" is not a Mastodon handle',
                      'write it as "@user@server.example", or "" to leave the mention out on Mastodon')
    return value


MastodonHandleOrEmpty = Annotated[str, AfterValidator(_mastodon_handle_or_empty)]

_TOML_TYPE_NAMES = {
    str: "text", bool: "true/false", int: "a whole number", float: "a number", list: "a list", dict: "a table",
}
_EXPECTED = {
    "string_type": ("text", 'put it in double quotes: "..."'),
    "int_type": ("a whole number", "write digits without quotes, e.g. 3"),
    "bool_type": ("true or false", "write true or false without quotes"),
    "list_type": ("a list", 'write it in brackets, e.g. ["a", "b"]'),
    "dict_type": ("a table", "write it as a [table] or { key = value }"),
    "model_type": ("a table", "write it as a [table] or { key = value }"),
    "model_attributes_type": ("a table", "write it as a [table] or { key = value }"),
}


# Fixes for pydantic's own checks, by the start of their error type.
_HINTS = {
    "datetime": "write a local date and time without quotes, e.g. 2026-12-09T08:30:00",
    "date": "write a date without quotes, e.g. 2026-12-09",
    "float": "write a number without quotes, e.g. 10.5",
    "int": "write digits without quotes, e.g. 3",
    "less_than": "give a smaller value",
    "greater_than": "give a larger value",
    "too_long": "remove some",
}


def toml_type_name(value: object) -> str:
    return next((name for kind, name in _TOML_TYPE_NAMES.items() if isinstance(value, kind)),
                type(value).__name__)


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes and container item types an annotation may hold."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys a table at ``loc`` (inside ``model``) may hold; used for "did you mean"."""
    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for kind in current:
            origin = typing.get_origin(kind)
            if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(part, str):
                field = kind.model_fields.get(part)
                if field is not None:
                    nxt.extend(_unwrap(field.annotation))
            elif origin is list and isinstance(part, int):
                nxt.extend(_unwrap(typing.get_args(kind)[0]))
            elif origin is dict and isinstance(part, str):
                nxt.extend(_unwrap(typing.get_args(kind)[1]))
        current = nxt
    return sorted({k for kind in current if isinstance(kind, type) and issubclass(kind, BaseModel)
                   for k in kind.model_fields})


def _missing_fix(model: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    """For a table missing at the top of the file, the header to write and its required keys: "add a [[quotes]]
    table with id = ... and text = ..." (``quotes = ...`` would have them write an inline list of tables)."""
    field = model.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    if field is None:
        return None
    for kind in _unwrap(field.annotation):
        many = typing.get_origin(kind) is list
        table = next(iter(_unwrap(typing.get_args(kind)[0])), None) if many else kind
        if isinstance(table, type) and issubclass(table, BaseModel):
            header = f"[[{loc[0]}]]" if many else f"[{loc[0]}]"
            required = [f"{key} = ..." for key, item in table.model_fields.items() if item.is_required()]
            keys = ", ".join(required[:-1]) + " and " + required[-1] if len(required) > 1 else "".join(required)
            return f"add a {header} table" + (f" with {keys}" if keys else "")
    return None


def suggest(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def problems_from(error: ValidationError, source: TomlSource, model: type[BaseModel],
                  prefix: KeyPath = ()) -> list[Problem]:
    """Turn every pydantic error into a one-line Problem at the line of the key."""
    problems = []
    for err in _without_union_branches(error, source.data, prefix):
        loc: KeyPath = (*prefix, *err["loc"])
        kind = err["type"]
        name = str(loc[-1]) if loc else ""
        fix: str | None = None
        if kind == "missing":
            message, fix = "missing required key", _missing_fix(model, err["loc"]) or f"add {name} = ..."
            problems.append(source.problem(loc, message, fix))
            continue
        if kind == "extra_forbidden":
            choices = allowed_keys(model, err["loc"][:-1])
            fix = suggest(name, choices) or ("allowed keys: " + ", ".join(choices) if choices else None)
            problems.append(source.problem(loc, "unknown key", fix))
            continue
        if kind in _EXPECTED:
            expected, fix = _EXPECTED[kind]
            if len(err.get("expected", ())) > 1:
                expected, fix = " or ".join(dict.fromkeys(err["expected"])), None
            message = f"expected {expected}, got {toml_type_name(err['input'])}"
        elif kind == "too_short":
            message = f"needs at least {err['ctx']['min_length']} item(s), has {err['ctx']['actual_length']}"
            fix = "add one" if err["ctx"]["min_length"] == 1 else "add more"
        elif kind in ("greater_than_equal", "less_than_equal"):
            bound = err["ctx"].get("ge", err["ctx"].get("le"))
            message = f"must be {'at least' if kind == 'greater_than_equal' else 'at most'} {bound}, not {err['input']}"
        elif isinstance(err.get("ctx", {}).get("error"), Invalid):
            invalid: Invalid = err["ctx"]["error"]
            message, fix = invalid.message, invalid.fix
        else:
            message = err["msg"].removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
            fix = next((hint for prefix, hint in _HINTS.items() if kind.startswith(prefix)), None)
        problems.append(source.problem(loc, message, fix))
    return list(dict.fromkeys(problems))



def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _is_union_tag(part: Any, data: Any) -> bool:
    """Whether a part of a pydantic error location names a branch of a union (``list[str]``,
    ``function-after[_colour(), str]``) rather than a key of the data."""
    return isinstance(part, str) and not (isinstance(data, dict) and part in data) and (
        "[" in part or part in ("str", "int", "float", "bool"))


def _without_union_branches(error: ValidationError, data: Any, prefix: KeyPath) -> list[dict[str, Any]]:
    """The errors, their locations cleaned of union branch names. Where a union failed, one error says so:
    the deepest branch's errors if it got inside the value (an item of a list), else one "expected X or Y"."""
    base = data
    for part in prefix:
        base = _child(base, part)
    cleaned: list[tuple[dict[str, Any], int | None]] = []
    for details in error.errors():
        err: dict[str, Any] = dict(details)
        node, union_at = base, None
        loc: list[Any] = []
        for part in err["loc"]:
            if _is_union_tag(part, node):
                union_at = len(loc)
                continue
            loc.append(part)
            node = _child(node, part)
        cleaned.append(({**err, "loc": tuple(loc)}, union_at))
    deeper = {err["loc"][:at] for err, at in cleaned if at is not None and len(err["loc"]) > at}
    # a branch that took the value's type and found it wrong ("#ggg" is not a colour) is the one to report
    deeper |= {err["loc"] for err, at in cleaned
               if at is not None and len(err["loc"]) == at and err["type"] not in _EXPECTED}
    value_errors = {err["loc"] for err, at in cleaned if at is not None and err["type"] not in _EXPECTED}
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    result: list[dict[str, Any]] = []
    for err, at in cleaned:
        at_union = at is not None and len(err["loc"]) == at
        if at_union and err["loc"] in deeper and not (err["loc"] in value_errors and err["type"] not in _EXPECTED):
            continue
        if at_union and err["type"] in _EXPECTED:
            first = merged.get(err["loc"])
            if first is not None:
                first["expected"].append(_EXPECTED[err["type"]][0])
                continue
            err = merged[err["loc"]] = {**err, "expected": [_EXPECTED[err["type"]][0]]}
        result.append(err)
    return result
