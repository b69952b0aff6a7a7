"""The platform interface and the values that cross it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from publisher.errors import MissingCredentials


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
    """One post as it will be sent."""

    text: str
    images: tuple[Image, ...] = ()


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
    def post(self, draft: Draft, reply_to: ReplyTo | None) -> PostRef: ...


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

    def post(self, draft: Draft, reply_to: ReplyTo | None) -> PostRef:
        raise self.error
