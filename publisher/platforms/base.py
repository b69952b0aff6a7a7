"""The platform interface and the values that cross it.

``PlatformKind`` is everything publisher knows of one platform, and the only place it knows it: the keys of its
``[accounts.NAME]`` tables, its text rules, its cost, its links, its mentions, how it shows rich text, and how to
connect an account's adapter (``Platform``: login, prepare, publish, find). Each platform's module has one, as
``PLATFORM``, and the registry (``publisher.platforms``) finds them through an entry-point group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from publisher.schema import StrictModel
from publisher.timeline import PostLinks

if TYPE_CHECKING:
    from publisher.config import Campaign
    from publisher.errors import MissingCredentials
    from publisher.quotes import Collection, Quote


@dataclass(frozen=True)
class Limits:
    max_length: int
    unit: str  # what max_length counts: "graphemes" or "weighted characters"
    max_bytes: int | None = None
    max_images: int = 4
    max_alt: int = 1000
    max_image_bytes: int = 1_000_000


@dataclass(frozen=True)
class Measure:
    """A text's length by a platform's own rules, against its limit."""

    length: int
    limit: int
    unit: str
    bytes: int | None = None
    byte_limit: int | None = None

    @property
    def fits(self) -> bool:
        return self.length <= self.limit and (self.byte_limit is None or (self.bytes or 0) <= self.byte_limit)

    def __str__(self) -> str:
        text = f"{self.length}/{self.limit} {self.unit}"
        if self.byte_limit is not None and (self.bytes or 0) > self.byte_limit:
            text += f", {self.bytes}/{self.byte_limit} bytes"
        return text


class PlatformRules(Protocol):
    """How a platform counts text and what it accepts."""

    name: str
    label: str
    limits: Limits

    def measure(self, text: str) -> Measure: ...


@dataclass(frozen=True)
class Image:
    """A card ready to attach: PNG bytes, alt text and pixel size."""

    data: bytes
    alt: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Draft:
    """One post as it will be sent; ``key`` names the part it is (the same for every attempt of it), for a
    platform that recognises a repeat by a key of the client's (Mastodon's Idempotency-Key)."""

    text: str
    images: tuple[Image, ...] = ()
    key: str = ""
    language: str | None = None  # the words' language (ISO 639), for a platform that labels posts with it


@dataclass(frozen=True)
class PostRef:
    """Where a post landed: the platform's id (X post id, Bluesky at-uri), its cid on Bluesky, and a link."""

    id: str
    url: str | None = None
    cid: str | None = None


@dataclass(frozen=True)
class ReplyTo:
    """The thread a post continues: its first post and the post it answers."""

    root: PostRef
    parent: PostRef


class Platform(Protocol):
    """One account on one platform. ``post`` sends one draft, reply-chained, and says where it landed.

    The engine uses the same thing in three steps so that nothing is ever sent twice: ``prepare`` does what is
    safe to repeat (uploads) and returns a JSON-able record of the post, stored before ``publish`` sends it;
    after an unknown outcome, ``find`` looks for it (None: certainly not there). ``idempotent`` platforms may
    simply publish the same prepared post again; ``prepared_ttl`` is how long a prepared post stays usable.
    """

    @property
    def rules(self) -> PlatformRules: ...
    @property
    def idempotent(self) -> bool: ...
    @property
    def prepared_ttl(self) -> timedelta | None: ...

    def login(self) -> str: ...
    def prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]: ...
    def publish(self, prepared: dict[str, Any]) -> PostRef: ...
    def find(self, prepared: dict[str, Any]) -> PostRef | None: ...


class UnavailablePlatform:
    """An account that cannot post (its credentials are missing): every call fails with the fix."""

    idempotent = True
    prepared_ttl: timedelta | None = None

    def __init__(self, rules: PlatformRules, error: MissingCredentials):
        self.rules = rules
        self.error = error

    def login(self) -> str:
        raise self.error

    def prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]:
        raise self.error

    def publish(self, prepared: dict[str, Any]) -> PostRef:
        raise self.error

    def find(self, prepared: dict[str, Any]) -> PostRef | None:
        raise self.error


def secret_set(env: Mapping[str, str], variable: str) -> bool:
    """Whether an account's secret is in the environment: a value of only spaces is no secret."""
    return bool(env.get(variable, "").strip())


class PlatformAccount(StrictModel):
    """One ``[accounts.NAME]`` table. Each platform's module gives the model of its own keys, ``platform`` first
    (as ``Literal["its name"]``)."""

    # Keys that change only how results are read, not what is posted or where: left out of a thread's revision,
    # so setting one never sends an approved thread back for sign-off.
    reading_keys: ClassVar[frozenset[str]] = frozenset()

    platform: str

    @property
    def rules_name(self) -> str:
        """The platform whose rules its posts are counted, faceted and priced by: its own (an outbox: the one
        it imitates)."""
        return self.platform

    @property
    def secret_variables(self) -> list[str]:
        """The environment variables holding its secrets (names, never values)."""
        return []

    @property
    def destination(self) -> str:
        """Where its posts go, in words."""
        return self.platform


@dataclass(frozen=True)
class Figures:
    """What a post achieved, as its platform counts it: None for a figure the platform does not give (never 0)."""

    likes: int | None = None
    reposts: int | None = None  # reposts, retweets, boosts
    replies: int | None = None
    quotes: int | None = None


class ResultsReader(Protocol):
    """Reads the figures of an account's posts, ``batch`` posts a call. ``read`` takes posts' ids as the
    platform gave them (``PostRef.id``) and returns the figures of each it found (a deleted post is left out);
    it raises publisher's errors (``Transient``, ``NeedsAttention``...) as the adapter's calls do.
    ``price_per_post``: what reading one post costs (US dollars) on a platform that costs_money, else None."""

    batch: int
    price_per_post: float | None

    def read(self, post_ids: list[str]) -> dict[str, Figures]: ...


class LimitsCache(Protocol):
    """Where a platform keeps what it learnt of a server for a while (the store): by key, as JSON-able data."""

    def cached(self, key: str, max_age: timedelta) -> dict[str, Any] | None: ...
    def cache(self, key: str, value: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class PlatformContext:
    """What an account's adapter is made with. ``env`` is the only place secrets are read from; ``store`` keeps
    sessions and what was learnt of servers; ``page_fonts`` (an outbox's timeline page): the CSS of the fonts a
    page's text is set in, written beside it (None: the system's fonts)."""

    root: Path
    store: Any
    env: Mapping[str, str]
    now: Callable[[], datetime]
    timeout: float
    page_fonts: Callable[[str, Path], str] | None = None


class PlatformKind:
    """What publisher knows of one platform, behind one interface (see the module's docstring). The defaults are
    a platform's with no cost, no mentions and no rich text of its own."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""  # "Bluesky": how people name it
    article: ClassVar[str] = ""  # "a Bluesky": for "account bsky is a Bluesky account"
    account_model: ClassVar[type[PlatformAccount]] = PlatformAccount
    # A secret written inline under one of these keys: the *_env key to use instead, and its default variable
    # ("" matches any secret-looking key of this platform).
    secret_keys: ClassVar[Mapping[str, tuple[str, str]]] = {}
    can_login: ClassVar[bool] = True  # publisher login NAME ACCOUNT checks (or gets) its credentials
    costs_money: ClassVar[bool] = False  # each post is priced (cost), within a campaign's monthly budget
    has_audience: ClassVar[bool] = True  # people see its posts (an outbox's are files): results have figures
    reading_off: ClassVar[str] = "its platform gives none"  # why an account's figures are not read, and the fix
    refuses_repeats: ClassVar[bool] = False  # it refuses a post identical to one the account already made
    caption_column: ClassVar[str | None] = None  # the column of ready-to-paste posts in a pack's captions.csv
    posting_by_hand: ClassVar[str] = ""  # how a volunteer posts a card with its alt text there (a pack's README)
    links: ClassVar[PostLinks] = PostLinks()

    def counted_as(self, account: PlatformAccount | None) -> PlatformKind:
        """The platform whose rules an account of this one follows: itself (an outbox: the one it imitates)."""
        return self

    def rules(self, account: PlatformAccount | None = None, cache: LimitsCache | None = None) -> PlatformRules:
        """How it counts text and what it accepts, for this account (None: its defaults); ``cache`` holds what
        was learnt of the account's server, if anything."""
        raise NotImplementedError

    def refresh(self, account: PlatformAccount, cache: LimitsCache, timeout: float) -> None:
        """Learn what the rules depend on from the server, if it is stale in ``cache`` (best effort)."""

    def cost(self, text: str, images: int) -> float | None:
        """What one post costs (US dollars), for a platform that costs_money."""
        return None

    def mentions(self, campaign: Campaign, collection: Collection, quote: Quote | None,
                 warnings: list[str]) -> list[str]:
        """The @mentions a post of this quote carries here (the collection's are written as X handles)."""
        return []

    def facets(self, text: str) -> list[dict[str, Any]]:
        """The rich text a post's record carries here (Bluesky's facets), for previews and outboxes."""
        return []

    def connect(self, name: str, account: PlatformAccount, context: PlatformContext) -> Platform:
        """The adapter posting as this account."""
        raise NotImplementedError

    def reads_results(self, account: PlatformAccount) -> bool:
        """Whether this account's posts' figures are read (without making the reader, which may be costly)."""
        return self.has_audience

    def results(self, name: str, account: PlatformAccount, context: PlatformContext) -> ResultsReader | None:
        """How to read the figures of this account's posts, or None: its posts have no audience (an outbox), or
        reading them is off (X's reads cost money: off unless the account turns them on)."""
        return None

    def getting_secrets(self, name: str) -> str | None:
        """How a person gets this account's secrets with publisher's help, if it can help (a login flow)."""
        return None

    def login_said(self) -> str:
        """What publisher login adds after "credentials work (...)" for this platform."""
        return "."

    def authorization(self, name: str, account: PlatformAccount, env: Mapping[str, str]) -> Authorization | None:
        """How to get an account that has no credentials yet its token (an OAuth flow), or None: there is none,
        or the account has its credentials already."""
        return None


@dataclass(frozen=True)
class Authorization:
    """An OAuth flow by hand: the user opens ``url``, allows publisher and pastes the code the server shows;
    ``finish`` turns that code into the token, which goes in the environment variable ``variable``."""

    url: str
    variable: str
    finish: Callable[[str], str]
