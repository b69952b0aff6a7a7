"""Bluesky: counting (graphemes and bytes), facets, the posting adapter and the results reader (atproto, imported
lazily)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import field_validator

from publisher.errors import (
    AuthError,
    MissingCredentials,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from publisher.faults import checkpoint
from publisher.platforms.base import (
    Draft,
    Figures,
    Limits,
    Measure,
    Platform,
    PlatformAccount,
    PlatformContext,
    PlatformKind,
    PlatformRules,
    PostRef,
    ReplyTo,
    ResultsReader,
    secret_set,
)
from publisher.richtext import segments
from publisher.schema import BlueskyHandle, EnvName, HttpUrl, Invalid, _http_url
from publisher.text import grapheme_count, trim_alt
from publisher.timeline import PostLinks

if TYPE_CHECKING:
    from publisher.config import Campaign
    from publisher.quotes import Collection, Quote

LIMITS = Limits(max_length=300, unit="graphemes", max_bytes=3000, max_alt=2000)


class BlueskyRules:
    name = "bluesky"
    label = "Bluesky"
    limits = LIMITS

    def measure(self, text: str) -> Measure:
        return Measure(grapheme_count(text), LIMITS.max_length, LIMITS.unit, len(text.encode("utf-8")),
                       LIMITS.max_bytes)


def build_facets(text: str, dids: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """The text and its facets (UTF-8 byte offsets) for hashtags, links and mentions, built with atproto's
    TextBuilder. A mention whose handle has no DID in ``dids`` stays plain text."""
    from atproto import client_utils

    builder = client_utils.TextBuilder()
    for segment in segments(text):
        if segment.kind == "tag" and len(segment.value) <= 64:
            builder.tag(segment.text, segment.value)
        elif segment.kind == "link":
            builder.link(segment.text, segment.value)
        elif segment.kind == "mention" and segment.value.lower() in dids:
            builder.mention(segment.text, dids[segment.value.lower()])
        else:
            builder.text(segment.text)
    facets = [f.model_dump(exclude_none=True, by_alias=True) for f in builder.build_facets()]
    return builder.build_text(), facets


# -- posting ------------------------------------------------------------------------------------------------

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
POST_COLLECTION = "app.bsky.feed.post"
HTTP_TIMEOUT = 30.0  # seconds; the SDK's default of 5 s is too short for image uploads
LOGINS_PER_DAY = 10  # our own ceiling, far below the entryway's 100/day lockout


def make_tid(microseconds: int, clock_id: int) -> str:
    """A record key: 53 bits of microseconds since the epoch and 10 bits of clock id, base32-sortable."""
    value = ((microseconds & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


class SessionStore(Protocol):
    def session(self, account: str) -> str | None: ...
    def save_session(self, account: str, session: str) -> None: ...
    def record_login(self, account: str) -> int: ...
    def logins_last_day(self, account: str) -> int: ...
    def first_login_last_day(self, account: str) -> datetime | None: ...
    def cached_did(self, handle: str) -> str | None: ...
    def cache_did(self, handle: str, did: str) -> None: ...


@contextmanager
def _mapped_errors(stage: str, where: str = "Bluesky", account: str = "ACCOUNT") -> Iterator[None]:
    """Every SDK and transport error becomes one of ours, here and only here. ``stage`` is prepare, login,
    publish or find: a failure while publishing may have written the post, one while preparing cannot have."""
    import httpx
    from atproto_client import exceptions as sdk

    try:
        yield
    except httpx.TransportError as exc:  # e.g. the server closed the connection without answering
        if stage == "publish" and not isinstance(exc, _connect_errors()):
            raise OutcomeUnknown(f"the connection to {where} failed after the post was sent ({_describe(exc)})"
                                 ) from exc
        if not isinstance(exc, _connect_errors()):  # it connected, then the exchange broke off
            raise Transient(f"the connection to {where} broke off ({_describe(exc)})",
                            "a problem at the server or the network between: it is tried again later") from exc
        raise Transient(f"could not connect to {where} ({_describe(exc)})",
                        "check the service URL in schedule.toml and the network") from exc
    except sdk.RateLimitExceededError as exc:
        retry_at = exc.reset_at or datetime.now(UTC) + timedelta(seconds=60)
        raise RateLimited("Bluesky rate limit reached", retry_at) from exc
    except sdk.UnauthorizedError as exc:
        if stage == "login":
            raise AuthError(f"{where} refused the app password ({_error_text(exc)})",
                            "check that the variable holds an app password of this handle (Settings, Privacy "
                            f"and security, App passwords), then publisher login bluesky {account}") from exc
        raise AuthError(f"{where} refused the session ({_error_text(exc)})",
                        f"run publisher login bluesky {account}") from exc
    except sdk.BadRequestError as exc:
        if stage == "login":  # e.g. no such handle, or an account taken down or deactivated
            raise AuthError(f"{where} refused the login ({_error_text(exc)})",
                            "check the handle in schedule.toml and that the account is active; then publisher "
                            f"login bluesky {account}") from exc
        what = "the request for figures" if stage == "read" else "the post"
        raise Rejected(f"{where} refused {what}: {_error_text(exc)}", _fix_for(_error_text(exc))) from exc
    except sdk.InvokeTimeoutError as exc:
        if stage == "publish":
            raise OutcomeUnknown(f"{where} did not answer in time after the post was sent") from exc
        raise Transient(f"{where} did not answer in time") from exc
    except sdk.NetworkError as exc:
        not_sent = exc.response is None and isinstance(exc.__cause__, _connect_errors())
        if stage == "publish" and not not_sent:
            raise OutcomeUnknown(f"the connection to {where} failed after the post was sent ({_describe(exc)})"
                                 ) from exc
        if exc.response is not None:  # it answered, with a gateway or server error
            raise Transient(f"{where} answered HTTP {exc.response.status_code} ({_describe(exc)})",
                            "a problem at the server or a proxy in front of it: it is tried again later") from exc
        raise Transient(f"could not connect to {where} ({_describe(exc)})",
                        "check the service URL in schedule.toml and the network") from exc
    except sdk.RequestException as exc:
        if stage == "publish":
            raise OutcomeUnknown(f"{where} answered {_describe(exc)} to the post") from exc
        raise Transient(f"{where} answered {_describe(exc)}") from exc
    except (sdk.AtProtocolError, httpx.HTTPError, ValueError) as exc:
        if isinstance(exc, ValueError) and not _unreadable_answer(exc):
            raise  # a bug of ours, not the server's: the poster stops the part as unexpected
        if stage == "publish":  # an answer we could not read: the post may have been written
            raise OutcomeUnknown(f"{where} gave an answer publisher could not read after the post was sent "
                                 f"({_describe(exc)})") from exc
        raise Transient(f"{where} gave an answer publisher could not read ({_describe(exc)})") from exc


def _unreadable_answer(exc: ValueError) -> bool:
    """Whether a ValueError is the SDK failing to read an answer (JSON that is not, a shape the lexicon does not
    allow) rather than one of ours: raised inside the SDK or its JSON and model code."""
    import pydantic

    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | pydantic.ValidationError):
        return True
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = frame.tb_frame.f_code.co_filename if frame is not None else ""
    return any(f"{os.sep}{package}{os.sep}" in where for package in ("atproto_client", "pydantic", "pydantic_core"))


def _describe(exc: BaseException) -> str:
    """An exception in a few words, even one with no message of its own (then its cause says more)."""
    text = str(exc).strip()
    if not text and exc.__cause__ is not None and exc.__cause__ is not exc:
        return _describe(exc.__cause__)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _connect_errors() -> tuple[type[BaseException], ...]:
    import httpx

    return (httpx.ConnectError, httpx.ConnectTimeout)


def _error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    message = getattr(content, "message", None) or getattr(content, "error", None)
    return str(message or exc)


def _fix_for(message: str) -> str | None:
    if "grapheme" in message or "string too big" in message:
        return "shorten the post (publisher validate shows its length)"
    if "blob too big" in message:
        return "the image is over the server's size limit"
    return None


class BlueskyPlatform:
    """One Bluesky account. Exactly-once by record key: each part's record is frozen with its rkey before the
    first attempt and written with putRecord, so a retry can only ever write the same post to the same place."""

    rules = BlueskyRules()
    idempotent = True
    prepared_ttl: timedelta | None = None  # a frozen record is never rebuilt

    def __init__(self, client: Any, account: str, handle: str, password: str | None, sessions: SessionStore,
                 now: Callable[[], datetime], language: str = "en", password_env: str = "the app password variable",
                 where: str = "Bluesky"):
        self.client = client
        self.account = account
        self.handle = handle
        self.password = password
        self.password_env = password_env
        self.where = where
        self.sessions = sessions
        self.now = now
        self.language = language
        self._did: str | None = None
        self._clock_id = int.from_bytes(os.urandom(2), "big") & 0x3FF
        self._last_tid_us = 0

    @classmethod
    def from_account(cls, name: str, service: str, handle: str, password: str | None, sessions: SessionStore,
                     now: Callable[[], datetime], timeout: float = HTTP_TIMEOUT,
                     password_env: str = "PUBLISHER_BSKY_APP_PASSWORD") -> BlueskyPlatform:
        from urllib.parse import urlsplit

        from atproto import Client
        from atproto_client.request import Request

        parts = urlsplit(service)
        host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        return cls(Client(base_url=service, request=Request(timeout=timeout)), name, handle, password, sessions,
                   now, password_env=password_env, where=f"Bluesky at {host}")

    # -- session -------------------------------------------------------------------------------------------

    def login(self) -> str:
        """Reuse the saved session (the SDK refreshes it); log in with the app password only when it is gone."""
        if self._did:
            return self._did

        def save(event: Any, session: Any) -> None:
            self.sessions.save_session(self.account, self.client.export_session_string())

        self.client.on_session_change(save)
        saved = self.sessions.session(self.account)
        if saved:
            from atproto_client import exceptions as sdk

            try:
                with _mapped_errors("prepare", self.where, self.account):
                    self.client.login(session_string=saved, fetch_bsky_profile=False)
                self._did = self._session_did()
                return self._did
            except (AuthError, sdk.AtProtocolError, ValueError):
                pass  # the saved session expired for good or cannot be read: log in with the password
        if not self.password:
            raise MissingCredentials(f"account {self.account}: {self.password_env} is not set in the environment",
                                     f"export {self.password_env} with an app password of {self.handle}")
        if self.sessions.logins_last_day(self.account) >= LOGINS_PER_DAY:
            since = self.sessions.first_login_last_day(self.account)
            after = f" after {since + timedelta(days=1):%Y-%m-%d %H:%M} UTC" if since else " tomorrow"
            raise AuthError(f"account {self.account} has logged in {LOGINS_PER_DAY} times in 24 hours",
                            "stopping before Bluesky locks the account out; check that the state folder is kept "
                            f"between runs; the next login is possible{after}")
        try:
            with _mapped_errors("login", self.where, self.account):
                self.client.login(self.handle, self.password, fetch_bsky_profile=False)
        except Transient:
            raise  # never reached the server: not a login attempt
        except PlatformError:
            self.sessions.record_login(self.account)  # the server saw it: it counts toward its limit
            raise
        self.sessions.record_login(self.account)
        self.sessions.save_session(self.account, self.client.export_session_string())
        self._did = self._session_did()
        return self._did

    def _session_did(self) -> str:
        # login() returns the profile, which a PDS without an AppView cannot give; the session has the DID.
        return str(self.client._session.did)

    # -- the three steps -----------------------------------------------------------------------------------

    def _next_tid(self) -> str:
        now_us = int(self.now().timestamp() * 1_000_000)
        self._last_tid_us = max(now_us, self._last_tid_us + 1)
        return make_tid(self._last_tid_us, self._clock_id)

    def _resolve_mentions(self, text: str) -> dict[str, str]:
        dids = {}
        for segment in segments(text):
            if segment.kind != "mention":
                continue
            handle = segment.value.lower()
            did = self.sessions.cached_did(handle)
            if did is None:
                try:
                    with _mapped_errors("prepare", self.where, self.account):
                        did = str(self.client.resolve_handle(handle).did)
                    self.sessions.cache_did(handle, did)
                except Rejected:
                    continue  # unresolvable: the mention stays plain text
            dids[handle] = did
        return dids

    def prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]:
        """Upload the images (content-addressed, so a repeat is harmless), resolve mentions, and freeze the
        record under a fresh record key. The result is stored before ``publish`` is ever called."""
        from atproto import models
        from atproto_client.models.utils import get_model_as_dict

        did = self.login()
        images = []
        for image in draft.images:
            checkpoint("bluesky:upload:before")
            with _mapped_errors("prepare", self.where, self.account):
                blob = self.client.upload_blob(image.data).blob
            checkpoint("bluesky:upload:after")
            images.append(models.AppBskyEmbedImages.Image(
                alt=trim_alt(image.alt, LIMITS.max_alt), image=blob,
                aspect_ratio=models.AppBskyEmbedDefs.AspectRatio(width=image.width, height=image.height)))
        text, facets = build_facets(draft.text, self._resolve_mentions(draft.text))
        reply = None
        if reply_to:
            reply = models.AppBskyFeedPost.ReplyRef(
                root=models.ComAtprotoRepoStrongRef.Main(uri=reply_to.root.id, cid=reply_to.root.cid or ""),
                parent=models.ComAtprotoRepoStrongRef.Main(uri=reply_to.parent.id, cid=reply_to.parent.cid or ""))
        record = models.AppBskyFeedPost.Record(
            text=text, created_at=self.now().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            facets=[models.AppBskyRichtextFacet.Main.model_validate(f) for f in facets] or None,
            embed=models.AppBskyEmbedImages.Main(images=images) if images else None, reply=reply,
            langs=[self.language])
        return {"repo": did, "rkey": self._next_tid(), "record": get_model_as_dict(record)}

    def _ref(self, uri: str, cid: str, rkey: str) -> PostRef:
        return PostRef(id=uri, url=f"https://bsky.app/profile/{self.handle}/post/{rkey}", cid=cid)

    def publish(self, prepared: dict[str, Any]) -> PostRef:
        """Write the frozen record at its key; ``swapRecord: null`` means it must not already hold another."""
        self.login()
        body = {"repo": prepared["repo"], "collection": POST_COLLECTION, "rkey": prepared["rkey"],
                "record": prepared["record"], "swapRecord": None}
        checkpoint("bluesky:create:before")
        try:
            with _mapped_errors("publish", self.where, self.account):
                response = self.client.invoke_procedure(
                    "com.atproto.repo.putRecord", content=json.dumps(body).encode("utf-8"),
                    headers={"Content-Type": "application/json"})
        except Rejected as exc:
            if "swap" not in str(exc).lower():
                raise
            found = self.find(prepared)  # something is at our key already: ours from an earlier try, or not
            if found is None:
                raise
            return found
        checkpoint("bluesky:create:after")
        content = response.content
        return self._ref(str(_field(content, "uri")), str(_field(content, "cid")), prepared["rkey"])

    def find(self, prepared: dict[str, Any]) -> PostRef | None:
        """Read our record key back: our post (same text and creation time), nothing, or someone else's."""
        from atproto_client import exceptions as sdk

        self.login()
        checkpoint("bluesky:find:before")
        try:
            with _mapped_errors("find", self.where, self.account):
                response = self.client.com.atproto.repo.get_record(
                    {"repo": prepared["repo"], "collection": POST_COLLECTION, "rkey": prepared["rkey"]})
        except Rejected as exc:
            if isinstance(exc.__cause__, sdk.BadRequestError) and "not" in str(exc).lower():
                checkpoint("bluesky:find:after")
                return None  # RecordNotFound: it was never written
            raise
        checkpoint("bluesky:find:after")
        value = response.value
        mine = prepared["record"]
        if _field(value, "text") == mine["text"] and _field(value, "created_at", "createdAt") == mine["createdAt"]:
            return self._ref(str(response.uri), str(response.cid), prepared["rkey"])
        raise Rejected(f"a different post already sits at record key {prepared['rkey']}",
                       "this should not happen; check the account's posts, then run publisher queue retry")


def _field(value: Any, *names: str) -> Any:
    for name in names:
        if isinstance(value, dict) and name in value:
            return value[name]
        if hasattr(value, name):
            return getattr(value, name)
    return None


# -- reading results --------------------------------------------------------------------------------------

POSTS_PER_LOOKUP = 25  # app.bsky.feed.getPosts takes at most 25 uris
PUBLIC_APPVIEW = "https://public.api.bsky.app"  # Bluesky's own AppView: answers getPosts without a login


class BlueskyResults:
    """Reads posts' figures from an AppView (``app.bsky.feed.getPosts``), 25 a call: the public one without a
    login, or the account's PDS, which proxies to its AppView, with the saved session (``login`` first)."""

    batch = POSTS_PER_LOOKUP
    price_per_post: float | None = None

    def __init__(self, client: Any, where: str, account: str = "ACCOUNT", login: Callable[[], object] | None = None):
        self.client = client
        self.where = where
        self.account = account
        self.login = login

    def read(self, post_ids: list[str]) -> dict[str, Figures]:
        """The figures of each post the AppView has; a deleted post is not in its answer, so it is left out."""
        from atproto import models

        if self.login is not None:
            self.login()
        wanted = list(dict.fromkeys(post_ids))
        figures: dict[str, Figures] = {}
        for start in range(0, len(wanted), self.batch):
            with _mapped_errors("read", self.where, self.account):
                response = self.client.invoke_query(
                    "app.bsky.feed.getPosts", params=models.AppBskyFeedGetPosts.Params(
                        uris=wanted[start:start + self.batch]))
            posts = _field(response.content, "posts")
            if not isinstance(posts, list):
                raise Transient(f"{self.where} gave an answer publisher could not read (getPosts without posts)")
            for post in posts:
                if isinstance(post, dict) and isinstance(post.get("uri"), str):
                    figures[post["uri"]] = Figures(_count(post, "likeCount"), _count(post, "repostCount"),
                                                   _count(post, "replyCount"), _count(post, "quoteCount"))
        return figures


def _count(post: dict[str, Any], key: str) -> int | None:
    value = post.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- what publisher knows of Bluesky ----------------------------------------------------------------------

class BlueskyAccount(PlatformAccount):
    reading_keys: ClassVar[frozenset[str]] = frozenset({"appview"})

    platform: Literal["bluesky"]
    handle: BlueskyHandle
    password_env: EnvName = "PUBLISHER_BSKY_APP_PASSWORD"
    service: HttpUrl = "https://bsky.social"
    appview: str = PUBLIC_APPVIEW  # where figures are read: an AppView's URL, or "pds" (through service)

    @field_validator("appview")
    @classmethod
    def _an_appview(cls, value: str) -> str:
        if value == "pds":
            return value
        try:
            return _http_url(value)
        except Invalid as exc:
            raise Invalid(exc.message, f'e.g. "{PUBLIC_APPVIEW}", or "pds" to read through the account\'s PDS'
                          ) from None

    @property
    def secret_variables(self) -> list[str]:
        return [self.password_env]

    @property
    def destination(self) -> str:
        return f"Bluesky @{self.handle} on {self.service}"


class Bluesky(PlatformKind):
    name = "bluesky"
    label = "Bluesky"
    article = "a Bluesky"
    account_model = BlueskyAccount
    secret_keys: ClassVar[Mapping[str, tuple[str, str]]] = {"": ("password_env", "PUBLISHER_BSKY_APP_PASSWORD")}
    caption_column = "bluesky_post"
    posting_by_hand = 'attach the image, tap "ALT" on it, paste the alt text, then paste the post.'
    links = PostLinks("https://bsky.app/hashtag/{}", "https://bsky.app/profile/{}")

    def rules(self, account: PlatformAccount | None = None, cache: Any = None) -> PlatformRules:
        return BlueskyRules()

    def mentions(self, campaign: Campaign, collection: Collection, quote: Quote | None,
                 warnings: list[str]) -> list[str]:
        """The collection's X handles mapped to Bluesky handles ([collection.bluesky_handles]), or left out."""
        if not campaign.mentions:
            return []
        mapped = []
        for handle in collection.mentions_for(quote):
            target = collection.collection.bluesky_handles.get(handle)
            if target is None:
                warnings.append(f"{handle} has no Bluesky handle, so it is left out on Bluesky "
                                f'(map it in [collection.bluesky_handles], or "" to silence this)')
            elif target:
                mapped.append("@" + target.lstrip("@"))
        return mapped

    def facets(self, text: str) -> list[dict[str, Any]]:
        return build_facets(text, {})[1]

    def connect(self, name: str, account: PlatformAccount, context: PlatformContext) -> Platform:
        from publisher.redact import register

        assert isinstance(account, BlueskyAccount)
        register(context.env.get(account.password_env))
        password = context.env.get(account.password_env) if secret_set(context.env, account.password_env) else None
        return BlueskyPlatform.from_account(name, account.service, account.handle, password, context.store,
                                            context.now, context.timeout, password_env=account.password_env)

    def results(self, name: str, account: PlatformAccount, context: PlatformContext) -> ResultsReader | None:
        """From the account's ``appview``: the public AppView needs no login; "pds" reads through the account's own
        PDS with its saved session, as posting does."""
        from urllib.parse import urlsplit

        from atproto import Client
        from atproto_client.request import Request

        assert isinstance(account, BlueskyAccount)
        if account.appview == "pds":
            poster = self.connect(name, account, context)
            assert isinstance(poster, BlueskyPlatform)
            return BlueskyResults(poster.client, poster.where, name, poster.login)
        client = Client(base_url=account.appview, request=Request(timeout=context.timeout))
        return BlueskyResults(client, f"the Bluesky AppView at {urlsplit(account.appview).netloc}", name)

    def login_said(self) -> str:
        return "; session saved."


PLATFORM = Bluesky()
