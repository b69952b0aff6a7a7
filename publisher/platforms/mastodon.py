"""Mastodon (and any server speaking its client API: GoToSocial, Akkoma, ...): the server's own limits and
counting, and the posting adapter (Mastodon.py, imported lazily).

Exactly once: every send of a part carries an ``Idempotency-Key`` made from the part, so a repeat within the
server's hour returns the status already made; after an unknown outcome the part is looked for among the
account's own recent statuses before anything is sent again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import field_validator

from publisher.errors import (
    AuthError,
    MissingCredentials,
    OutcomeUnknown,
    RateLimited,
    Rejected,
    Transient,
)
from publisher.faults import checkpoint
from publisher.platforms.base import (
    Authorization,
    Draft,
    Figures,
    LimitsCache,
    Measure,
    Platform,
    PlatformAccount,
    PlatformContext,
    PlatformKind,
    PostRef,
    ReplyTo,
    ResultsReader,
    UnavailablePlatform,
    secret_set,
)
from publisher.platforms.base import Limits as BaseLimits
from publisher.schema import EnvName, HttpUrl, Invalid
from publisher.text import grapheme_count, trim_alt
from publisher.timeline import PostLinks

if TYPE_CHECKING:
    from publisher.config import Campaign
    from publisher.quotes import Collection, Quote

SCOPES = ("write:statuses", "write:media", "read:accounts", "read:statuses")
OOB = "urn:ietf:wg:oauth:2.0:oob"  # the out-of-band flow: the server shows the code, the user pastes it
LIMITS_FOR = timedelta(days=1)  # how long what the server said of its limits is trusted before asking again
LAST_KNOWN = timedelta(days=36500)  # a server down when asked again: what it said last still stands
RECENT_STATUSES = 40  # how far back a status whose outcome is unknown is looked for (the API's largest page)
MEDIA_LIFETIME = timedelta(hours=6)  # an uploaded image not attached yet is uploaded again after this
DESCRIBED_AT_MOST = 1500  # a server's image description limit when it does not say (Mastodon's own)
PROCESSING_POLL = 0.25  # seconds before asking again whether an image is processed (doubling, at most 5 s)
STATUSES_PER_LOOKUP = 20  # GET /api/v1/statuses takes at most DEFAULT_STATUSES_LIMIT ids (422 above)
PROCESSING_WAIT = 60.0  # seconds an image may take to process before the upload counts as failed (retried)


@dataclass(frozen=True)
class ServerLimits:
    """What a server accepts, as ``/api/v2/instance`` says (``configuration``), else Mastodon's defaults."""

    max_characters: int = 500
    characters_reserved_per_url: int = 23
    max_media_attachments: int = 4
    description_limit: int = DESCRIBED_AT_MOST
    image_size_limit: int = 16_777_216

    @classmethod
    def from_instance(cls, instance: Mapping[str, Any]) -> ServerLimits:
        """The limits in an instance entity (v2, or v1's ``configuration``), those it leaves out at the defaults."""
        configuration = instance.get("configuration") or {}
        statuses = configuration.get("statuses") or {}
        media = configuration.get("media_attachments") or {}
        default = cls()

        def number(section: Mapping[str, Any], key: str, fallback: int) -> int:
            value = section.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else fallback

        return cls(number(statuses, "max_characters", default.max_characters),
                   number(statuses, "characters_reserved_per_url", default.characters_reserved_per_url),
                   number(statuses, "max_media_attachments", default.max_media_attachments),
                   number(media, "description_limit", default.description_limit),
                   number(media, "image_size_limit", default.image_size_limit))


# What the server counts (app/validators/status_length_validator.rb, app/lib/extractor.rb, app/models/account.rb):
# twitter-text's URLs with a scheme, and mentions as Account::MENTION_RE finds them ([[:word:]] spelt out).
_WORD = r"[\p{L}\p{M}\p{Nd}\p{Pc}]"
_MENTION = (rf"(?<![=/]|{_WORD})@((?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@{_WORD}+(?:[.-]+{_WORD}+)*)?)")
# twitter-text's end_mention_match: no mention when an at sign, a Latin accent or "://" follows
_END_MENTION = (r"[@＠\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268"
                r"\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff]|://")
MAX_DOMAIN_LENGTH = 253  # Extractor::MAX_DOMAIN_LENGTH: a longer domain is no mention, and counts in full


def _entities(text: str) -> list[tuple[int, int, str | None]]:
    """The server's entities, overlaps removed as Extractor.remove_overlapping_entities does: (start, end, the
    mention's local name, or None for a URL)."""
    import regex

    from publisher.compat import import_twitter_text

    import_twitter_text()
    from twitter_text import extract_urls_with_indices

    found: list[tuple[int, int, str | None]] = [
        (url["indices"][0], url["indices"][1], None)
        for url in extract_urls_with_indices(text, extract_urls_without_protocol=False)]
    if "@" in text or "＠" in text:
        for match in regex.finditer(_MENTION, text):
            name, _, domain = match.group(1).partition("@")
            if not regex.match(_END_MENTION, text[match.end():]) and len(domain) <= MAX_DOMAIN_LENGTH:
                found.append((match.start(), match.end(), name))
    kept: list[tuple[int, int, str | None]] = []
    for entity in sorted(found, key=lambda e: e[0]):
        if not kept or kept[-1][1] <= entity[0]:
            kept.append(entity)
    return kept


class MastodonRules:
    """Counting as the server counts: each URL written with its scheme counts ``characters_reserved_per_url``, a
    mention of a remote account (``@user@domain``) counts as ``@user``, everything else counts by grapheme."""

    name = "mastodon"
    label = "Mastodon"

    def __init__(self, limits: ServerLimits | None = None):
        self.server = limits or ServerLimits()
        self.limits = BaseLimits(max_length=self.server.max_characters, unit="characters",
                                 max_images=self.server.max_media_attachments, max_alt=self.server.description_limit,
                                 max_image_bytes=self.server.image_size_limit)

    def countable(self, text: str) -> str:
        """The text as the server counts it: each entity rewritten to what it counts as."""
        out, position = [], 0
        for start, end, name in _entities(text):
            out += [text[position:start], "x" * self.server.characters_reserved_per_url if name is None
                    else "@" + name]
            position = end
        out.append(text[position:])
        return "".join(out)

    def measure(self, text: str) -> Measure:
        return Measure(grapheme_count(self.countable(text)), self.server.max_characters, "characters")


# -- posting ------------------------------------------------------------------------------------------------

def _status(exc: Any) -> int | None:
    """The HTTP status of a Mastodon.py error (its args: message, status, reason, error), if it carries one."""
    args: tuple[Any, ...] = getattr(exc, "args", ())
    return args[1] if len(args) > 1 and isinstance(args[1], int) else None


def _said(exc: Any) -> str:
    """The server's own words in a Mastodon.py error (the ``error`` of its answer), else the error itself."""
    args: tuple[Any, ...] = getattr(exc, "args", ())
    for arg in reversed(args):
        if isinstance(arg, str) and arg and not arg.startswith("Mastodon API returned error"):
            return arg
    return str(exc)


@dataclass(frozen=True)
class _Call:
    """What a call to the server is, for its errors: the stage (prepare, login or find, where nothing can have
    been posted; publish, where a status may have been made) and the scope it needs."""

    stage: str
    scope: str
    where: str
    account: str
    variable: str


@contextmanager
def _mapped_errors(call: _Call, reset: Callable[[], datetime | None]) -> Iterator[None]:
    """Every Mastodon.py and requests error becomes one of ours, here and only here."""
    import requests
    from mastodon import errors as sdk

    where, publishing = call.where, call.stage == "publish"
    new_token = f"publisher login mastodon {call.account} gets a new one (unset {call.variable} first)"
    try:
        yield
    except sdk.MastodonRatelimitError as exc:
        raise RateLimited(f"{where} rate limit reached", reset() or datetime.now(UTC) + timedelta(minutes=5)) \
            from exc
    except sdk.MastodonUnauthorizedError as exc:
        raise AuthError(f"{where} refused the token in {call.variable} ({_said(exc)})",
                        f"the token may have been revoked: {new_token}") from exc
    except sdk.MastodonNotFoundError as exc:
        raise Rejected(f"{where} answered 404: {_said(exc)}",
                       "the status this one replies to, or the server's API, is not there") from exc
    except sdk.MastodonAPIError as exc:
        status, said = _status(exc), _said(exc)
        if status == 403:
            raise AuthError(f"{where} refused it (403): {said}",
                            f"the token in {call.variable} lacks the scope {call.scope}: {new_token}, with "
                            f"{' '.join(SCOPES)}") from exc
        if status == 422:
            raise Rejected(f"{where} refused it: {said}", _fix_for(said)) from exc
        if status is None or status < 400 or status >= 500:  # a server error, or an answer that is not JSON
            what = f"answered {status}" if status and status >= 500 else "gave an answer publisher could not read"
            if publishing:
                raise OutcomeUnknown(f"{where} {what} after the post was sent") from exc
            raise Transient(f"{where} {what}") from exc
        raise Rejected(f"{where} refused it ({status}): {said}") from exc
    except (sdk.MastodonReadTimeout, requests.exceptions.Timeout) as exc:
        if publishing:
            raise OutcomeUnknown(f"{where} did not answer in time after the post was sent") from exc
        raise Transient(f"{where} did not answer in time") from exc
    except (sdk.MastodonNetworkError, requests.exceptions.ConnectionError) as exc:
        refused = "NewConnectionError" in repr(exc) or "Connection refused" in str(exc)
        if publishing and not refused:
            raise OutcomeUnknown(f"the connection to {where} failed after the post was sent") from exc
        raise Transient(f"could not connect to {where}",
                        "check the instance in schedule.toml and the network") from exc
    except (sdk.MastodonError, requests.exceptions.RequestException, ValueError) as exc:
        if publishing:  # an answer we could not read: the status may have been made
            raise OutcomeUnknown(f"{where} gave an answer publisher could not read after the post was sent "
                                 f"({type(exc).__name__})") from exc
        raise Transient(f"{where} gave an answer publisher could not read ({type(exc).__name__})") from exc


def _fix_for(said: str) -> str:
    text = said.lower()
    if "media" in text or "description" in text or "file" in text:
        return "the server takes fewer images or shorter descriptions than expected: publisher queue recompose"
    if "character limit" in text or "too long" in text:
        return "shorten the campaign's intro, outro or caption (or the quote), then publisher queue recompose"
    return "see the server's reason; publisher queue recompose after fixing the text"


class _Text(HTMLParser):
    """A status's HTML content as plain text (links whole: Mastodon keeps the parts it hides in the page)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(content: str) -> str:
    parser = _Text()
    parser.feed(content)
    return "".join(parser.parts)


def _same_text(ours: str, theirs_html: str) -> bool:
    """A status is ours if its words are ours, whatever white space and markup the server made of them."""
    return " ".join(ours.split()) == " ".join(plain_text(theirs_html).split())


def _granted(scope: str, granted: list[str]) -> bool:
    return scope in granted or scope.split(":")[0] in granted  # "write" holds every write:... (api/oauth-scopes)


class MastodonPlatform:
    """One account on one server. Exactly once: an ``Idempotency-Key`` per part, and a search of the account's
    own statuses after an unknown outcome before any send again."""

    idempotent = True  # a repeat with the same key within the server's hour returns the first status
    prepared_ttl: timedelta | None = MEDIA_LIFETIME

    def __init__(self, client: Any, account: str, settings: MastodonAccount, limits: ServerLimits,
                 now: Callable[[], datetime], where: str, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.account = account
        self.settings = settings
        self.rules = MastodonRules(limits)
        self.now = now
        self.where = where
        self.sleep = sleep  # while the server processes an image
        self._me: tuple[str, str] | None = None

    @classmethod
    def from_account(cls, name: str, settings: MastodonAccount, token: str, limits: ServerLimits,
                     now: Callable[[], datetime], timeout: float) -> MastodonPlatform:
        from urllib.parse import urlsplit

        from mastodon import Mastodon

        client = Mastodon(access_token=token, api_base_url=settings.instance, ratelimit_method="throw",
                          request_timeout=timeout, version_check_mode="none", user_agent="publisher")
        return cls(client, name, settings, limits, now, f"Mastodon at {urlsplit(settings.instance).netloc}")

    def _errors(self, stage: str, scope: str) -> Any:
        return _mapped_errors(_Call(stage, scope, self.where, self.account, self.settings.token_env), self._reset)

    def _reset(self) -> datetime | None:
        """When the server's rate limit resets, on our clock (Mastodon.py keeps it as a time on this machine's)."""
        reset = getattr(self.client, "ratelimit_reset", None)
        if not isinstance(reset, int | float):
            return None
        return self.now() + timedelta(seconds=max(0.0, reset - time.time()))

    def me(self) -> tuple[str, str]:
        """The account's id and acct (@user@server), asked once."""
        if self._me is None:
            from urllib.parse import urlsplit

            with self._errors("login", "read:accounts"):
                account = self.client.account_verify_credentials()
            self._me = (str(account["id"]), f"@{account['acct']}@{urlsplit(self.settings.instance).hostname}")
        return self._me

    def login(self) -> str:
        """Who the token is for, once its application is known to hold every scope publisher needs (a server of
        4.3 or later says which its application has; an older one, or one that does not say, is taken on trust)."""
        who = self.me()[1]
        try:
            with self._errors("login", "read"):
                application = self.client.app_verify_credentials()
        except Rejected:
            return who  # no such endpoint here (an older server, or another kind)
        granted = application.get("scopes") if isinstance(application, Mapping) else None
        if isinstance(granted, list):
            missing = [scope for scope in SCOPES if not _granted(scope, [str(g) for g in granted])]
            if missing:
                raise AuthError(f"{self.where}: the token in {self.settings.token_env} ({who}) lacks the scope"
                                f"{'s' if len(missing) > 1 else ''} {' '.join(missing)}",
                                f"publisher login mastodon {self.account} gets one with {' '.join(SCOPES)} (unset "
                                f"{self.settings.token_env} first)")
        return who

    def _upload(self, data: bytes, description: str) -> str:
        """One image with its description; while the server answers 202/206 it is processing: wait, and ask again
        (Mastodon.py's own wait sleeps 5 s a poll, and turns every error into the same one)."""
        with self._errors("prepare", "write:media"):
            media = self.client.media_post(data, mime_type="image/png", file_name="card.png",
                                            description=description, synchronous=False)
        pause, waited = PROCESSING_POLL, 0.0
        while media.get("url") is None:
            if waited >= PROCESSING_WAIT:
                raise Transient(f"{self.where} was still processing an image after {waited:.0f} s")
            self.sleep(pause)
            waited += pause
            pause = min(pause * 2, 5.0)
            with self._errors("prepare", "write:media"):
                media = self.client.media(media["id"])
        return str(media["id"])

    def prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]:
        """Upload the images with their descriptions, waiting while the server processes them."""
        self.me()  # the token is checked before anything is uploaded
        media_ids = []
        for image in draft.images:
            checkpoint("mastodon:upload:before")
            media_ids.append(self._upload(image.data, trim_alt(image.alt, self.rules.server.description_limit)))
            checkpoint("mastodon:upload:after")
        # the part and its revision (draft.key), and a random part: another store, or this one made afresh, never
        # sends a key the server may still hold for a status of theirs (it would answer with that status)
        made_here = secrets.token_hex(8)
        key = hashlib.sha256(f"publisher {self.account} {draft.key or draft.text} {made_here}".encode()).hexdigest()
        key = key[:32]
        return {"text": draft.text, "media_ids": media_ids, "reply_to": reply_to.parent.id if reply_to else None,
                "idempotency_key": key, "prepared_at": self.now().isoformat(),
                "language": self.settings.language or draft.language}

    def publish(self, prepared: dict[str, Any]) -> PostRef:
        checkpoint("mastodon:create:before")
        with self._errors("publish", "write:statuses"):
            status = self.client.status_post(
                prepared["text"], in_reply_to_id=prepared["reply_to"], media_ids=prepared["media_ids"] or None,
                visibility=self.settings.visibility, language=prepared.get("language"),
                idempotency_key=prepared["idempotency_key"])
        checkpoint("mastodon:create:after")
        if not status or "id" not in status:
            raise OutcomeUnknown(f"{self.where} answered the post without saying where it is")
        replies_to = str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None
        if replies_to != prepared["reply_to"] or not _same_text(prepared["text"], status.get("content", "")):
            raise Rejected(f"{self.where} answered with status {status['id']}, which is not this part (another "
                           "text, or a reply to another status): nothing was posted",
                           "publisher queue retry the thread; if it happens again, report it with the server's "
                           "software and version")
        return PostRef(str(status["id"]), status.get("url") or status.get("uri"))

    def find(self, prepared: dict[str, Any]) -> PostRef | None:
        """Look for the status among the account's most recent ones: the same words, replying to the expected
        status (or to none), made after the part was first sent. None only when the search worked and it is not
        there (the server shows a status in the account's list as soon as it is made)."""
        user_id, _ = self.me()
        armed = datetime.fromisoformat(prepared.get("armed_at") or prepared["prepared_at"]) - timedelta(minutes=5)
        checkpoint("mastodon:find:before")
        with self._errors("find", "read:statuses"):
            statuses = self.client.account_statuses(user_id, limit=RECENT_STATUSES, exclude_reblogs=True)
        checkpoint("mastodon:find:after")
        for status in statuses or []:
            created = status.get("created_at")
            if isinstance(created, str):
                created = datetime.fromisoformat(created.replace("Z", "+00:00"))
            replies_to = str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None
            if (replies_to == prepared["reply_to"] and _same_text(prepared["text"], status.get("content", ""))
                    and isinstance(created, datetime) and created >= armed):
                return PostRef(str(status["id"]), status.get("url") or status.get("uri"))
        return None


class MastodonResults:
    """Reads statuses' figures, 20 a call (``GET /api/v1/statuses?id[]=``, Mastodon 4.3+); a server without that
    (404) is asked one status at a time. Quotes are counted only by servers that say so (``quotes_count``, 4.5)."""

    batch = STATUSES_PER_LOOKUP
    price_per_post: float | None = None

    def __init__(self, poster: MastodonPlatform | None, missing: MissingCredentials | None = None):
        self.poster, self.missing = poster, missing
        self.many = True  # whether the server has GET /api/v1/statuses

    def read(self, post_ids: list[str]) -> dict[str, Figures]:
        from mastodon.errors import MastodonNotFoundError

        if self.poster is None:
            raise self.missing or MissingCredentials("no Mastodon token")
        client, wanted = self.poster.client, list(dict.fromkeys(post_ids))
        found: list[Any] = []
        with self.poster._errors("read", "read:statuses"):
            for start in range(0, len(wanted), self.batch):
                chunk = wanted[start:start + self.batch]
                try:
                    found += client.statuses(chunk) if self.many else []
                except MastodonNotFoundError:  # a server before 4.3
                    self.many = False
                if not self.many:
                    found += [status for status in map(self._one, chunk) if status is not None]
        return {str(s["id"]): Figures(_count(s, "favourites_count"), _count(s, "reblogs_count"),
                                      _count(s, "replies_count"), _count(s, "quotes_count")) for s in found}

    def _one(self, status_id: str) -> Any:
        from mastodon.errors import MastodonNotFoundError

        assert self.poster is not None
        try:
            return self.poster.client.status(status_id)
        except MastodonNotFoundError:
            return None  # deleted


def _count(status: Mapping[str, Any], key: str) -> int | None:
    value = status.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- what publisher knows of Mastodon -----------------------------------------------------------------------

class MastodonAccount(PlatformAccount):
    platform: Literal["mastodon"]
    instance: HttpUrl
    token_env: EnvName = "PUBLISHER_MASTODON_TOKEN"
    visibility: Literal["public", "unlisted", "private"] = "public"
    language: str | None = None  # ISO 639 code of the posts; default: the collection's language

    @field_validator("instance")
    @classmethod
    def _a_server(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise Invalid(f'"{value}" is not a server\'s address (it goes on to a page of it)',
                          f'give the server alone, e.g. "{parts.scheme}://{parts.netloc}"')
        return value.rstrip("/")

    @field_validator("language")
    @classmethod
    def _a_language(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2,3}", value):
            raise Invalid(f'"{value}" is not a language code', 'write an ISO 639 code such as "en" or "cy"')
        return value

    @property
    def secret_variables(self) -> list[str]:
        return [self.token_env]

    @property
    def destination(self) -> str:
        return f"Mastodon on {self.instance} ({self.visibility})"


class Mastodon(PlatformKind):
    name = "mastodon"
    label = "Mastodon"
    article = "a Mastodon"
    account_model = MastodonAccount
    secret_keys: ClassVar[Mapping[str, tuple[str, str]]] = {"": ("token_env", "PUBLISHER_MASTODON_TOKEN")}
    caption_column = "mastodon_post"
    posting_by_hand = 'attach the image, choose "Edit" (or "Add alt text") on it, paste the alt text, then the post.'
    links = PostLinks()  # a reader's own server decides where a tag links: shown, not linked

    def rules(self, account: PlatformAccount | None = None, cache: LimitsCache | None = None) -> MastodonRules:
        """The server's own limits, as last learnt and kept in ``cache`` (asked again after a day); Mastodon's
        defaults before it was ever asked."""
        learnt = cache.cached(_limits_key(account), LAST_KNOWN) if cache is not None and isinstance(
            account, MastodonAccount) else None
        known = {key: value for key, value in (learnt or {}).items() if key in ServerLimits.__dataclass_fields__}
        return MastodonRules(ServerLimits(**known))

    def refresh(self, account: PlatformAccount, cache: LimitsCache, timeout: float) -> None:
        """Ask the server for its limits (``/api/v2/instance``, needing no login) when what is kept is a day old.
        Best effort: a server that cannot be asked leaves the rules as they were."""
        if not isinstance(account, MastodonAccount) or cache.cached(_limits_key(account), LIMITS_FOR) is not None:
            return
        limits = ask_limits(account.instance, min(timeout, 10.0))
        if limits is not None:
            cache.cache(_limits_key(account), limits.__dict__)

    def mentions(self, campaign: Campaign, collection: Collection, quote: Quote | None,
                 warnings: list[str]) -> list[str]:
        """The collection's X handles mapped to Mastodon handles ([collection.mastodon_handles]), or left out."""
        if not campaign.mentions:
            return []
        mapped = []
        for handle in collection.mentions_for(quote):
            target = collection.collection.mastodon_handles.get(handle)
            if target is None:
                warnings.append(f"{handle} has no Mastodon handle, so it is left out on Mastodon "
                                f'(map it in [collection.mastodon_handles], or "" to silence this)')
            elif target:
                mapped.append("@" + target.lstrip("@"))
        return mapped

    def connect(self, name: str, account: PlatformAccount, context: PlatformContext) -> Platform:
        from publisher.redact import register

        assert isinstance(account, MastodonAccount)
        register(context.env.get(account.token_env))
        if not secret_set(context.env, account.token_env):
            return UnavailablePlatform(self.rules(account, context.store), MissingCredentials(
                f"account {name}: {account.token_env} is not set in the environment",
                f"publisher login mastodon {name} gets a token from {account.instance}, then export it as "
                f"{account.token_env}"))
        if context.store is not None:
            self.refresh(account, context.store, context.timeout)
        limits = self.rules(account, context.store).server
        return MastodonPlatform.from_account(name, account, context.env[account.token_env].strip(), limits,
                                             context.now, context.timeout)

    def results(self, name: str, account: PlatformAccount, context: PlatformContext) -> ResultsReader | None:
        poster = self.connect(name, account, context)
        if isinstance(poster, UnavailablePlatform):
            return MastodonResults(None, poster.error)
        assert isinstance(poster, MastodonPlatform)
        return MastodonResults(poster)

    def getting_secrets(self, name: str) -> str | None:
        return f"publisher login mastodon {name} gets a token from the server"

    def authorization(self, name: str, account: PlatformAccount, env: Mapping[str, str]) -> Authorization | None:
        """The out-of-band OAuth flow, for an account whose token variable is not set: publisher registers an
        application on the server (asking for SCOPES), the user allows it there and pastes the code shown."""
        if not isinstance(account, MastodonAccount) or secret_set(env, account.token_env):
            return None
        from mastodon import Mastodon as Client

        call = _Call("login", "read", f"Mastodon at {account.instance}", name, account.token_env)
        loopback = account.instance.startswith("http://")  # HttpUrl allows plain http to this machine only
        with _mapped_errors(call, lambda: None):
            client_id, client_secret = Client.create_app("publisher", scopes=list(SCOPES), redirect_uris=OOB,
                                                         api_base_url=account.instance, user_agent="publisher")
            client = Client(client_id=client_id, client_secret=client_secret, api_base_url=account.instance,
                            version_check_mode="none", user_agent="publisher")
            url = client.auth_request_url(redirect_uris=OOB, scopes=list(SCOPES), skip_server_info=True,
                                          allow_http=loopback)

        def finish(code: str) -> str:
            from mastodon.errors import MastodonIllegalArgumentError

            with _mapped_errors(call, lambda: None):
                try:
                    token = client.log_in(code=code, redirect_uri=OOB, scopes=list(SCOPES), allow_http=loopback)
                except MastodonIllegalArgumentError as exc:  # Mastodon.py's word for a code the server refused
                    raise AuthError(f"{call.where} refused the code: it may be mistyped, used already or expired",
                                    f"run publisher login mastodon {name} again and paste the new code") from exc
            return str(token)

        return Authorization(url, account.token_env, finish)


def _limits_key(account: PlatformAccount | None) -> str:
    return f"mastodon-limits {getattr(account, 'instance', '')}"


def ask_limits(instance: str, timeout: float) -> ServerLimits | None:
    """The server's limits from ``/api/v2/instance`` (older servers: ``/api/v1/instance``), or None."""
    import requests

    for path in ("/api/v2/instance", "/api/v1/instance"):
        try:
            answer = requests.get(instance.rstrip("/") + path, timeout=timeout,
                                  headers={"User-Agent": "publisher"})
            if answer.status_code == 200:
                return ServerLimits.from_instance(answer.json())
        except (requests.exceptions.RequestException, ValueError):
            return None
    return None


PLATFORM = Mastodon()
