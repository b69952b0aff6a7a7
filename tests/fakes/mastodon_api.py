"""A local fake of a Mastodon server's client API, for Mastodon.py's real HTTP code to talk to.

No Mastodon server can be installed here, so this one is written from the API documentation
(docs.joinmastodon.org, "methods/..." and "api/..." pages below) and, where the docs say less than the server
does, from the server's own source (github.com/mastodon/mastodon, files named beside each rule). It keeps the
rules a poster meets: bearer tokens with scopes (401, 403), the status length rule (422), media limits and
asynchronous processing (202, 206), replies to statuses that exist (404), Idempotency-Key, rate limits with
``X-RateLimit-*`` headers (429), the out-of-band OAuth code flow, and paged account timelines that show a new
status only ``timeline_lag`` seconds after it is made. For results, it counts favourites, boosts and replies
(quotes, on 4.5 and later, a test sets as ``status.quotes``), and answers ``GET /api/v1/statuses?id[]=`` only
as 4.3 and later do. Like the X fake it can be told to fail or hang on the
n-th request to a path. Every time-based rule runs on ``clock`` (default ``time.time``), so a test can move it.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import fnmatch
import html
import io
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import regex
from PIL import Image
from twitter_text.extract_urls import extract_urls_with_indices

OOB = "urn:ietf:wg:oauth:2.0:oob"
# api/oauth-scopes: the top-level scopes and the granular ones under them (admin scopes left out).
SCOPES = frozenset({
    "read", "write", "follow", "push", "profile",
    *(f"read:{s}" for s in ("accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists",
                            "mutes", "notifications", "search", "statuses")),
    *(f"write:{s}" for s in ("accounts", "blocks", "bookmarks", "conversations", "favourites", "filters",
                             "follows", "lists", "media", "mutes", "notifications", "reports", "statuses")),
})
# entities/Instance (methods/instance v2): the image types a default server accepts.
IMAGE_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
               "image/heic": "HEIF", "image/heif": "HEIF", "image/avif": "AVIF"}

# The error texts, as the server words them.
TOKEN_INVALID = "The access token is invalid"  # methods/statuses 401; Doorkeeper's invalid_token description
TOKEN_REVOKED = "The access token was revoked"  # Doorkeeper's description for a revoked token
OUT_OF_SCOPE = "This action is outside the authorized scopes"  # app/controllers/api/base_controller.rb
USER_REQUIRED = "This method requires an authenticated user"  # Api::BaseController#require_user!
NOT_FOUND = "Record not found"  # methods/statuses 404, methods/media 404
REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."  # statuses_controller#set_thread
TOO_MANY_REQUESTS = "Too many requests"  # config/initializers/rack_attack.rb: errors.429
NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"  # PostStatusService
TEXT_BLANK = "Validation failed: Text can't be blank"  # methods/statuses 422
UNVERIFIED_FILE = "File type of uploaded media could not be verified"  # api/v1/media_controller.rb
BAD_FILE_TYPE = "Validation failed: File content type is invalid, File is invalid"  # methods/media 422
INVALID_GRANT = ("The provided authorization grant is invalid, expired, revoked, does not match the redirection "
                 "URI used in the authorization request, or was issued to another client.")  # Doorkeeper (RFC 6749)
INVALID_CLIENT = ("Client authentication failed due to unknown client, no client authentication included, or "
                  "unsupported authentication method.")  # Doorkeeper (RFC 6749 5.2)

# config/initializers/rack_attack.rb and app/lib/rate_limiter.rb: bucket -> (limit, period in seconds). The
# statuses family counts created statuses only; the others count every /api request they match.
RATE_LIMITS: dict[str, tuple[int, int]] = {
    "per_token_api": (300, 300), "authenticated_api": (1_500, 300), "unauthenticated_api": (300, 300),
    "api_media": (30, 1_800), "statuses": (300, 10_800),
}

# app/models/account.rb: MENTION_RE, with Ruby's [[:word:]] spelt out (Letter | Mark | Decimal_Number |
# Connector_Punctuation, as api/guidelines says); twitter-text's end_mention_match refuses a mention followed by
# another at sign, a Latin accent or "://".
_WORD = r"[\p{L}\p{M}\p{Nd}\p{Pc}]"
_MENTION = regex.compile(
    rf"(?<![=/]|{_WORD})@((?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@{_WORD}+(?:[.-]+{_WORD}+)*)?)")
_END_MENTION = regex.compile(r"[@＠\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0253\u0254\u0256\u0257\u0259\u025b"
                             r"\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff]|://")


# (method, path, handler, token: public | optional | required, scopes any one of which will do)
ROUTES: tuple[tuple[str, re.Pattern[str], str, str, tuple[str, ...]], ...] = (
    ("GET", re.compile(r"/api/v1/instance"), "_instance_v1", "public", ()),
    ("GET", re.compile(r"/api/v2/instance"), "_instance_v2", "public", ()),
    ("POST", re.compile(r"/api/v1/apps"), "_create_app", "public", ()),
    ("GET", re.compile(r"/api/v1/apps/verify_credentials"), "_verify_app", "app", ()),
    ("GET", re.compile(r"/\.well-known/oauth-authorization-server"), "_oauth_metadata", "public", ()),
    ("POST", re.compile(r"/oauth/token"), "_oauth_token", "public", ()),
    ("POST", re.compile(r"/oauth/revoke"), "_oauth_revoke", "public", ()),
    ("GET", re.compile(r"/api/v1/accounts/verify_credentials"), "_verify_credentials", "required",
     ("profile", "read", "read:accounts")),
    ("GET", re.compile(r"/api/v1/accounts/(?P<id>[^/]+)/statuses"), "_account_statuses", "optional",
     ("read", "read:statuses")),
    ("GET", re.compile(r"/api/v1/accounts/(?P<id>[^/]+)"), "_account", "optional", ("read", "read:accounts")),
    ("POST", re.compile(r"/api/v1/statuses"), "_create_status", "required", ("write", "write:statuses")),
    ("GET", re.compile(r"/api/v1/statuses"), "_statuses", "optional", ("read", "read:statuses")),
    ("GET", re.compile(r"/api/v1/statuses/(?P<id>[^/]+)"), "_status", "optional", ("read", "read:statuses")),
    ("DELETE", re.compile(r"/api/v1/statuses/(?P<id>[^/]+)"), "_delete_status", "required",
     ("write", "write:statuses")),
    ("POST", re.compile(r"/api/v1/statuses/(?P<id>[^/]+)/(?P<action>favourite)"), "_interact", "required",
     ("write", "write:favourites")),
    ("POST", re.compile(r"/api/v1/statuses/(?P<id>[^/]+)/(?P<action>reblog)"), "_interact", "required",
     ("write", "write:statuses")),
    ("POST", re.compile(r"/api/v(?P<v>[12])/media"), "_create_media", "required", ("write", "write:media")),
    ("GET", re.compile(r"/api/v1/media/(?P<id>[^/]+)"), "_show_media", "required", ("write", "write:media")),
    ("PUT", re.compile(r"/api/v1/media/(?P<id>[^/]+)"), "_update_media", "required", ("write", "write:media")),
)


def status_length(text: str, spoiler_text: str = "", characters_reserved_per_url: int = 23) -> int:
    """How long the server counts a status (app/validators/status_length_validator.rb).

    Each URL with a scheme counts ``characters_reserved_per_url`` (twitter-text's extractor, as the server's),
    a mention ``@user@domain`` counts as ``@user``, the spoiler text counts in full, and the rest in graphemes.
    """
    entities: list[tuple[int, int, str]] = [
        (u["indices"][0], u["indices"][1], "x" * characters_reserved_per_url)
        for u in extract_urls_with_indices(text, extract_urls_without_protocol=False)]
    for match in _MENTION.finditer(text):
        domain = match.group(1).partition("@")[2]
        # app/lib/extractor.rb: a domain over MAX_DOMAIN_LENGTH (253) makes no mention, so it counts in full
        if not _END_MENTION.match(text, match.end()) and len(domain) <= 253:
            entities.append((match.start(), match.end(), "@" + match.group(1).split("@")[0]))
    entities.sort()
    countable, position = [], 0
    for start, end, replacement in entities:
        if start < position:  # Extractor.remove_overlapping_entities keeps the earlier one
            continue
        countable += [text[position:start], replacement]
        position = end
    countable.append(text[position:])
    return len(regex.findall(r"\X", spoiler_text + "".join(countable)))


@dataclass
class MastodonApp:
    name: str
    client_id: str
    client_secret: str
    scopes: frozenset[str]
    redirect_uris: list[str]
    website: str | None = None


@dataclass
class MastodonToken:
    value: str
    user: MastodonUser | None  # None: an app-only token (client_credentials)
    app: MastodonApp
    scopes: frozenset[str]
    revoked: bool = False


@dataclass
class MastodonStatus:
    """The server's record of a status; the API's Status entity is built from it."""

    id: str
    account_id: str
    text: str
    created_at: float
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    visibility: str = "public"
    language: str | None = "en"
    sensitive: bool = False
    spoiler_text: str = ""
    media_ids: list[str] = field(default_factory=list)
    application: str | None = None
    idempotency_key: str | None = None
    favourited_by: set[str] = field(default_factory=set)  # account ids
    reblogged_by: set[str] = field(default_factory=set)
    quotes: int = 0  # quotes_count (4.5 and later): set by a test


@dataclass
class MastodonMedia:
    id: str
    account_id: str
    mime_type: str
    size: int
    width: int
    height: int
    description: str | None = None
    focus: tuple[float, float] | None = None
    status_id: str | None = None  # set once attached: then it can be neither fetched, updated nor reused
    polls_left: int = 0  # 206 answers still to give before processing ends
    processed: bool = True


@dataclass
class MastodonUser:
    id: str
    username: str
    token: str  # the token add_user made, with the scopes it was asked for
    created_at: float
    statuses: list[MastodonStatus] = field(default_factory=list)  # oldest first


@dataclass
class MastodonFault:
    path: str  # e.g. /api/v1/statuses, or a pattern such as /api/v1/media/*
    nth: int  # the n-th request matching it (1-based, over all users)
    kind: str  # 500, 429, reset_before (drop the connection unread), accept_then_reset, accept_then_hang,
    #            accept_then_500, accept_then_garbage
    hang: float = 5.0
    seen: int = 0


@dataclass
class Exchange:
    """One request the fake answered (or dropped: status 0), for tests to inspect."""

    method: str
    path: str
    status: int
    idempotency_key: str | None = None


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, list[str]]  # query and body fields, as Rails merges them
    files: dict[str, tuple[str, bytes]]  # field -> (declared content type, bytes)
    authorization: str | None
    idempotency_key: str | None

    def value(self, key: str) -> str | None:
        values = self.params.get(key)
        return values[-1] if values else None

    def values(self, key: str) -> list[str]:
        return self.params.get(key, []) + self.params.get(key + "[]", [])


@dataclass
class _Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, {"error": message}, headers or {})


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(moment * 1000) % 1000:03d}Z"


class FakeMastodonAPI:
    def __init__(self, *, max_characters: int = 500, max_media_attachments: int = 4,
                 characters_reserved_per_url: int = 23, description_limit: int = 1_500,
                 image_size_limit: int = 16_777_216, async_media_over: int | None = 1_000_000,
                 processing_polls: int = 2, timeline_lag: float = 0.0, idempotency_ttl: float = 3_600,
                 version: str = "4.5.0", api_version: int | None = 7, oauth_metadata: bool = True,
                 rate_limits: dict[str, tuple[int, int]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_characters, self.max_media_attachments = max_characters, max_media_attachments
        self.characters_reserved_per_url, self.description_limit = characters_reserved_per_url, description_limit
        self.image_size_limit = image_size_limit
        self.async_media_over = async_media_over  # images over this many bytes answer 202 (None: never)
        self.processing_polls = processing_polls  # 206 answers to GET /api/v1/media/:id before the 200
        self.timeline_lag = timeline_lag  # seconds before a new status shows in GET /api/v1/accounts/:id/statuses
        self.idempotency_ttl = idempotency_ttl
        self.version, self.api_version, self.oauth_metadata = version, api_version, oauth_metadata
        self.rate_limits = {**RATE_LIMITS, **(rate_limits or {})}
        self.clock = clock
        self.users: dict[str, MastodonUser] = {}  # by account id
        self.tokens: dict[str, MastodonToken] = {}
        self.apps: dict[str, MastodonApp] = {}  # by client id
        self.statuses: dict[str, MastodonStatus] = {}
        self.media: dict[str, MastodonMedia] = {}
        self.faults: list[MastodonFault] = []
        self.counts: dict[str, int] = {}  # requests per path (trailing slash dropped)
        self.requests: list[tuple[str, str]] = []  # (method, path), as the X fake keeps them
        self.exchanges: list[Exchange] = []
        self.shown_from: dict[str, float] = {}  # status id -> when it shows in account timelines
        self.url = ""
        self._idempotency: dict[tuple[str, str], tuple[str, float]] = {}  # (account, key) -> (status, expiry)
        self._codes: dict[str, dict[str, Any]] = {}
        self.approves: tuple[MastodonUser, str] | None = None  # (who, the code shown) for the next app registered
        self._hits: dict[tuple[str, str, int], int] = {}  # (bucket, who, window) -> requests
        self._sequence = itertools.count()
        self._caller: MastodonToken | None = None  # the token of the request being answered
        self._lock = threading.RLock()

    # -- set-up and inspection -----------------------------------------------------------------------------

    def add_user(self, username: str, scopes: tuple[str, ...] = ("read", "write")) -> MastodonUser:
        """An account with a token for ``scopes``, as one made under Preferences > Development."""
        with self._lock:
            user = MastodonUser(self._new_id(self.clock()), username, "", self.clock())
            self.users[user.id] = user
            user.token = self.add_token(user, scopes)
            return user

    def add_token(self, user: MastodonUser, scopes: tuple[str, ...] = ("read", "write")) -> str:
        unknown = set(scopes) - SCOPES
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}")
        # Preferences > Development makes an application with the scopes chosen, and its token with the same
        app = self._register_app("Fake development app", frozenset(scopes), [OOB])
        token = MastodonToken(secrets.token_urlsafe(32), user, app, frozenset(scopes))
        with self._lock:
            self.tokens[token.value] = token
        return token.value

    def revoke(self, token: str) -> None:
        with self._lock:
            self.tokens[token].revoked = True

    def add_status(self, user: MastodonUser, text: str, age: float, reply_to: str | None = None,
                   visibility: str = "public") -> MastodonStatus:
        """A status made ``age`` seconds ago (by hand, or by an earlier thread), as if it had always been there."""
        with self._lock:
            made = self.clock() - age
            parent = self.statuses[reply_to] if reply_to else None
            status = MastodonStatus(self._new_id(made), user.id, text, made, reply_to,
                                    parent.account_id if parent else None, visibility, application=None)
            self._store(user, status)
            return status

    def authorize(self, client_id: str, user: MastodonUser, scopes: tuple[str, ...] | None = None,
                  redirect_uri: str = OOB) -> str:
        """What a person does on GET /oauth/authorize: approve the app; returns the code the page shows."""
        app = self.apps[client_id]
        granted = frozenset(scopes) if scopes is not None else app.scopes
        if not granted <= app.scopes or redirect_uri not in app.redirect_uris:
            raise ValueError("the app did not register these scopes or this redirect URI")
        code = secrets.token_urlsafe(24)
        self._codes[code] = {"app": app, "user": user, "scopes": granted, "redirect_uri": redirect_uri,
                             "expires": self.clock() + 600}  # Doorkeeper's default grant lifetime: 10 minutes
        return code

    def finish_processing(self, media_id: str) -> None:
        with self._lock:
            self.media[media_id].processed, self.media[media_id].polls_left = True, 0

    def thread(self, status_id: str) -> list[MastodonStatus]:
        """The chain of replies from the root down to ``status_id``."""
        chain = [self.statuses[status_id]]
        while chain[0].in_reply_to_id:
            chain.insert(0, self.statuses[chain[0].in_reply_to_id])
        return chain

    # -- server --------------------------------------------------------------------------------------------

    def start(self) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()  # headers and body go out as two writes: without this, each answer waits 40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def date_time_string(self, timestamp: float | None = None) -> str:
                return email.utils.formatdate(api.clock() if timestamp is None else timestamp, usegmt=True)

            def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (accept_then_hang)
                    self.close_connection = True

            def _drop(self) -> None:
                self.close_connection = True
                self.connection.shutdown(2)

            def _handle(self) -> None:
                path = urlsplit(self.path).path.rstrip("/") or "/"  # Mastodon.py asks for /api/v2/instance/
                fault = api._count(self.command, path)
                key = self.headers.get("Idempotency-Key")
                if fault and fault.kind == "reset_before":
                    api._log(Exchange(self.command, path, 0, key))
                    return self._drop()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if fault and fault.kind in ("500", "429"):
                    response = (_error(500, "Internal server error") if fault.kind == "500" else
                                _error(429, TOO_MANY_REQUESTS, api._limit_headers(1, 0, api.clock() + 2)))
                else:
                    request = _parse(self.command, self.path, path, self.headers, body)
                    with api._lock:
                        response = api._dispatch(request)
                if fault and fault.kind == "accept_then_reset":
                    api._log(Exchange(self.command, path, 0, key))
                    return self._drop()
                if fault and fault.kind == "accept_then_hang":
                    time.sleep(fault.hang)
                if fault and fault.kind == "accept_then_500":  # done, then an error answer all the same
                    response = _error(500, "Internal server error")
                api._log(Exchange(self.command, path, response.status, key))
                if fault and fault.kind == "accept_then_garbage":  # a body that is not JSON
                    return self._send(response.status, b"<html>upstream error</html>", response.headers)
                self._send(response.status, json.dumps(response.body).encode(), response.headers)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # stop() does not wait for a client's idle kept-alive connection
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _count(self, method: str, path: str) -> MastodonFault | None:
        with self._lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.requests.append((method, path))
            hit = None
            for fault in self.faults:
                if fnmatch.fnmatchcase(path, fault.path):
                    fault.seen += 1
                    hit = hit or (fault if fault.seen == fault.nth else None)
            return hit

    def _log(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    # -- requests ------------------------------------------------------------------------------------------

    def _dispatch(self, request: _Request) -> _Response:
        route = next(((name, match, mode, scopes) for method, pattern, name, mode, scopes in ROUTES
                      if method == request.method and (match := pattern.fullmatch(request.path))), None)
        token = self.tokens.get((request.authorization or "").removeprefix("Bearer ").strip())
        live = token if token and not token.revoked else None
        throttled, headers = self._throttle(request, live)  # Rack::Attack runs before any controller
        if throttled:
            return throttled
        if route is None:
            return _error(404, NOT_FOUND, headers)
        name, match, mode, scopes = route
        if mode in ("required", "app") or (mode == "optional" and request.authorization):
            if live is None:  # Doorkeeper: missing, unknown and revoked tokens are all 401
                message = TOKEN_REVOKED if token and token.revoked else TOKEN_INVALID
                return _error(401, message, {**headers, "WWW-Authenticate": (
                    f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{message}"')})
            if scopes and not live.scopes & set(scopes):
                return _error(403, OUT_OF_SCOPE, headers)
            if mode == "required" and live.user is None:
                return _error(422, USER_REQUIRED, headers)
        self._caller = live
        response: _Response = getattr(self, name)(request, live.user if live else None, **match.groupdict())
        response.headers = {**headers, **response.headers}
        return response

    def _throttle(self, request: _Request, token: MastodonToken | None) -> tuple[_Response | None, dict[str, str]]:
        """Rate limits (api/rate-limits; config/initializers/rack_attack.rb): fixed windows on the epoch. The
        headers tell of the bucket closest to its limit (app/controllers/concerns/rate_limit_headers.rb)."""
        if not request.path.startswith("/api"):
            return None, {}
        user = token.user if token else None
        buckets = [("per_token_api", token.value), ("authenticated_api", user.id)] if token and user else \
            [("unauthenticated_api", "127.0.0.1")]
        if user and request.method == "POST" and re.fullmatch(r"/api/v\d+/media", request.path):
            buckets.append(("api_media", user.id))
        now, closest = self.clock(), None
        for bucket, who in buckets:
            limit, period = self.rate_limits[bucket]
            window = (bucket, who, int(now // period))
            self._hits[window] = self._hits.get(window, 0) + 1
            reset = (int(now // period) + 1) * period
            if self._hits[window] > limit:
                return _error(429, TOO_MANY_REQUESTS, self._limit_headers(limit, 0, reset)), {}
            if closest is None or limit - self._hits[window] < closest[1]:
                closest = (limit, limit - self._hits[window], reset)
        assert closest is not None
        return None, self._limit_headers(*closest)

    @staticmethod
    def _limit_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
        # X-RateLimit-Reset is ISO 8601 with microseconds: Time#iso8601(6) in rack_attack.rb.
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}

    # -- instance and OAuth --------------------------------------------------------------------------------

    def _configuration(self) -> dict[str, Any]:
        return {
            "urls": {"streaming": self.url.replace("http", "ws", 1)},
            "statuses": {"max_characters": self.max_characters, "max_media_attachments": self.max_media_attachments,
                         "characters_reserved_per_url": self.characters_reserved_per_url},
            "media_attachments": {"supported_mime_types": sorted(IMAGE_TYPES), "description_limit":
                                  self.description_limit, "image_size_limit": self.image_size_limit,
                                  "image_matrix_limit": 33_177_600, "video_size_limit": 103_809_024,
                                  "video_frame_rate_limit": 120, "video_matrix_limit": 8_294_400},
            "polls": {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300,
                      "max_expiration": 2_629_746},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "translation": {"enabled": False},
        }

    def _instance_v1(self, request: _Request, user: MastodonUser | None) -> _Response:
        """methods/instance#v1 (V1::Instance): Mastodon.py reads ``version`` from here."""
        return _Response(200, {
            "uri": urlsplit(self.url).netloc, "title": "Fake Mastodon", "short_description": "", "description": "",
            "email": "admin@example.test", "version": self.version,
            "urls": {"streaming_api": self.url.replace("http", "ws", 1)},
            "stats": {"user_count": len(self.users), "status_count": len(self.statuses), "domain_count": 0},
            "thumbnail": None, "languages": ["en"], "registrations": False, "approval_required": False,
            "invites_enabled": False, "configuration": self._configuration(), "contact_account": None, "rules": []})

    def _instance_v2(self, request: _Request, user: MastodonUser | None) -> _Response:
        """methods/instance#v2 (entities/Instance): limits under ``configuration``; ``api_versions`` since 4.3."""
        body: dict[str, Any] = {
            "domain": urlsplit(self.url).netloc, "title": "Fake Mastodon", "version": self.version,
            "source_url": "https://github.com/mastodon/mastodon", "description": "",
            "usage": {"users": {"active_month": len(self.users)}},
            "thumbnail": {"url": f"{self.url}/packs/media/images/preview.png"}, "icon": [], "languages": ["en"],
            "configuration": self._configuration(),
            "registrations": {"enabled": False, "approval_required": False, "message": None, "url": None},
            "contact": {"email": "admin@example.test", "account": None}, "rules": []}
        if self.api_version is not None:
            body["api_versions"] = {"mastodon": self.api_version}
        return _Response(200, body)

    def _register_app(self, name: str, scopes: frozenset[str], redirect_uris: list[str],
                      website: str | None = None) -> MastodonApp:
        app = MastodonApp(name, secrets.token_urlsafe(32), secrets.token_urlsafe(32), scopes, redirect_uris, website)
        self.apps[app.client_id] = app
        return app

    def _create_app(self, request: _Request, user: MastodonUser | None) -> _Response:
        """methods/apps#create: redirect_uris one per line (or an array), scopes space-separated, default read."""
        name = (request.value("client_name") or "").strip()
        uris = [u for v in request.values("redirect_uris") for u in v.split()]
        scopes = frozenset((request.value("scopes") or "read").split())
        if not name:
            return _error(422, "Validation failed: Application name can't be blank")
        if not uris:
            return _error(422, "Validation failed: Redirect URI can't be blank")
        if not scopes <= SCOPES:  # the wording of this one is a guess
            return _error(422, "Validation failed: Scopes must be a list of valid scopes")
        app = self._register_app(name, scopes, uris, request.value("website"))
        if self.approves is not None:  # the person allows the application as soon as it exists
            user, code = self.approves
            self._codes[code] = {"app": app, "user": user, "scopes": app.scopes, "redirect_uri": uris[0],
                                 "expires": self.clock() + 600}
        return _Response(200, {"id": str(len(self.apps)), "name": app.name, "website": app.website,
                               "scopes": sorted(app.scopes), "redirect_uri": "\n".join(app.redirect_uris),
                               "redirect_uris": app.redirect_uris, "client_id": app.client_id,
                               "client_secret": app.client_secret, "client_secret_expires_at": 0})

    def _verify_app(self, request: _Request, user: MastodonUser | None) -> _Response:
        """methods/apps#verify_credentials: any live token; ``scopes`` (since 4.3) are its application's, as
        app/controllers/api/v1/apps/credentials_controller.rb renders doorkeeper_token.application."""
        assert self._caller is not None
        app = self._caller.app
        body: dict[str, Any] = {"id": app.client_id[:8], "name": app.name, "website": app.website,
                                "vapid_key": "BFake", "redirect_uri": "\n".join(app.redirect_uris),
                                "redirect_uris": app.redirect_uris}
        if tuple(int(n) for n in self.version.split(".")[:2]) >= (4, 3):
            body["scopes"] = sorted(app.scopes)
        return _Response(200, body)

    def _oauth_metadata(self, request: _Request, user: MastodonUser | None) -> _Response:
        """RFC 8414 metadata, served since 4.3 (methods/oauth#authorization-server-metadata)."""
        if not self.oauth_metadata:
            return _error(404, NOT_FOUND)
        return _Response(200, {
            "issuer": f"{self.url}/", "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{self.url}/oauth/authorize", "token_endpoint": f"{self.url}/oauth/token",
            "app_registration_endpoint": f"{self.url}/api/v1/apps", "revocation_endpoint": f"{self.url}/oauth/revoke",
            "scopes_supported": sorted(SCOPES), "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})

    def _client(self, request: _Request) -> MastodonApp | None:
        app = self.apps.get(request.value("client_id") or "")
        return app if app and secrets.compare_digest(app.client_secret, request.value("client_secret") or "") \
            else None

    def _oauth_token(self, request: _Request, user: MastodonUser | None) -> _Response:
        """methods/oauth#token: the code flow (out-of-band redirect) and client_credentials."""
        app, grant = self._client(request), request.value("grant_type")
        if grant not in ("authorization_code", "client_credentials"):  # the password grant went in 4.4
            return _Response(400, {"error": "unsupported_grant_type", "error_description":
                                   "The authorization grant type is not supported by the authorization server."})
        if app is None:
            return _Response(401, {"error": "invalid_client", "error_description": INVALID_CLIENT})
        if grant == "client_credentials":
            scopes, owner = frozenset((request.value("scope") or "read").split()), None
            if not scopes <= app.scopes:
                return _Response(400, {"error": "invalid_scope", "error_description": "The requested scope is "
                                       "invalid, unknown, or malformed."})
        else:
            code = self._codes.pop(request.value("code") or "", None)
            if (code is None or code["app"] is not app or code["expires"] < self.clock()
                    or code["redirect_uri"] != request.value("redirect_uri")):
                return _Response(400, {"error": "invalid_grant", "error_description": INVALID_GRANT})
            scopes, owner = code["scopes"], code["user"]
        token = MastodonToken(secrets.token_urlsafe(32), owner, app, scopes)
        self.tokens[token.value] = token
        return _Response(200, {"access_token": token.value, "token_type": "Bearer",
                               "scope": " ".join(sorted(scopes)), "created_at": int(self.clock())})

    def _oauth_revoke(self, request: _Request, user: MastodonUser | None) -> _Response:
        app = self._client(request)
        if app is None:
            return _Response(401, {"error": "invalid_client", "error_description": INVALID_CLIENT})
        token = self.tokens.get(request.value("token") or "")
        if token and token.app is app:
            token.revoked = True
        return _Response(200, {})  # RFC 7009: 200 whether or not the token was known

    # -- accounts and statuses -----------------------------------------------------------------------------

    def _account_json(self, user: MastodonUser, credentials: bool = False) -> dict[str, Any]:
        """entities/Account (CredentialAccount adds ``source`` and ``role``)."""
        last = max((s.created_at for s in user.statuses), default=None)
        account: dict[str, Any] = {
            "id": user.id, "username": user.username, "acct": user.username, "display_name": user.username,
            "locked": False, "bot": True, "discoverable": False, "indexable": False, "group": False,
            "created_at": _iso(user.created_at), "note": "", "url": f"{self.url}/@{user.username}",
            "uri": f"{self.url}/users/{user.username}", "avatar": f"{self.url}/avatars/original/missing.png",
            "avatar_static": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png", "followers_count": 0,
            "following_count": 0, "statuses_count": len(user.statuses),
            "last_status_at": datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d") if last else None,
            "hide_collections": False, "noindex": False, "emojis": [], "roles": [], "fields": []}
        if credentials:
            account["source"] = {"privacy": "public", "sensitive": False, "language": "en", "note": "",
                                 "fields": [], "follow_requests_count": 0}
            account["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
        return account

    def _content(self, text: str) -> str:
        """Plain text to the server's HTML: paragraphs, line breaks, and links marked up as api/guidelines says
        (mentions and hashtags are left as text)."""
        urls = sorted((u["indices"][0], u["indices"][1]) for u in
                      extract_urls_with_indices(text, extract_urls_without_protocol=False))
        out, position = [], 0
        for start, end in urls:
            url = text[start:end]
            scheme, rest = url.split("://", 1)
            shown, hidden = rest[:30], rest[30:]
            out += [html.escape(text[position:start]), f'<a href="{html.escape(url)}" target="_blank" rel="nofollow '
                    f'noopener" translate="no"><span class="invisible">{html.escape(scheme)}://</span><span class="'
                    f'{"ellipsis" if hidden else ""}">{html.escape(shown)}</span><span class="invisible">'
                    f'{html.escape(hidden)}</span></a>']
            position = end
        out.append(html.escape(text[position:]))
        paragraphs = re.split(r"\n{2,}", "".join(out).strip("\n"))
        return "".join(f"<p>{p.replace(chr(10), '<br />')}</p>" for p in paragraphs)

    def _status_json(self, status: MastodonStatus) -> dict[str, Any]:
        """entities/Status."""
        author = self.users[status.account_id]
        return {
            "id": status.id, "created_at": _iso(status.created_at), "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": status.in_reply_to_account_id, "sensitive": status.sensitive,
            "spoiler_text": status.spoiler_text, "visibility": status.visibility, "language": status.language,
            "uri": f"{self.url}/users/{author.username}/statuses/{status.id}",
            "url": f"{self.url}/@{author.username}/{status.id}",
            "replies_count": sum(1 for s in self.statuses.values() if s.in_reply_to_id == status.id),
            "reblogs_count": len(status.reblogged_by), "favourites_count": len(status.favourited_by),
            **({"quotes_count": status.quotes} if self._since("4.5") else {}), "edited_at": None,
            "favourited": False, "reblogged": False, "muted": False, "bookmarked": False, "pinned": False,
            "content": self._content(status.text), "filtered": [], "reblog": None,
            "application": {"name": status.application, "website": None} if status.application else None,
            "account": self._account_json(author),
            "media_attachments": [self._media_json(self.media[m]) for m in status.media_ids],
            "mentions": [], "tags": [], "emojis": [], "card": None, "poll": None, "quote": None,
            "quote_approval": {"automatic": ["public"], "manual": [], "current_user": "automatic"}}

    def _visible(self, status: MastodonStatus, viewer: MastodonUser | None) -> bool:
        return status.visibility in ("public", "unlisted") or (viewer is not None and viewer.id == status.account_id)

    def _verify_credentials(self, request: _Request, user: MastodonUser) -> _Response:
        return _Response(200, self._account_json(user, credentials=True))

    def _account(self, request: _Request, viewer: MastodonUser | None, id: str) -> _Response:
        return _Response(200, self._account_json(self.users[id])) if id in self.users else _error(404, NOT_FOUND)

    def _status(self, request: _Request, viewer: MastodonUser | None, id: str) -> _Response:
        """methods/statuses#get: seen at once, whatever the timeline lag; private ones are 404 to others."""
        status = self.statuses.get(id)
        if status is None or not self._visible(status, viewer):
            return _error(404, NOT_FOUND)
        return _Response(200, self._status_json(status))

    def _since(self, version: str) -> bool:
        return tuple(int(n) for n in self.version.split(".")[:2]) >= tuple(int(n) for n in version.split("."))

    def _statuses(self, request: _Request, viewer: MastodonUser | None) -> _Response:
        """methods/statuses#index (4.3): those of the ids that exist and may be seen; over 20 ids is a 422
        (DEFAULT_STATUSES_LIMIT). Before 4.3 there is no such route: 404."""
        if not self._since("4.3"):
            return _error(404, NOT_FOUND)
        ids = request.values("id")
        if len(ids) > 20:
            return _error(422, "Validation failed")
        found = [self.statuses[i] for i in dict.fromkeys(ids) if i in self.statuses]
        return _Response(200, [self._status_json(s) for s in found if self._visible(s, viewer)])

    def _delete_status(self, request: _Request, user: MastodonUser, id: str) -> _Response:
        """methods/statuses#delete: one's own status only."""
        status = self.statuses.get(id)
        if status is None or status.account_id != user.id:
            return _error(404, NOT_FOUND)
        del self.statuses[id]
        user.statuses.remove(status)
        return _Response(200, {**self._status_json(status), "text": status.text})

    def _interact(self, request: _Request, user: MastodonUser, id: str, action: str) -> _Response:
        """methods/statuses#favourite and #boost: once per account, whoever repeats it."""
        status = self.statuses.get(id)
        if status is None or not self._visible(status, user):
            return _error(404, NOT_FOUND)
        (status.favourited_by if action == "favourite" else status.reblogged_by).add(user.id)
        return _Response(200, self._status_json(status))

    def _account_statuses(self, request: _Request, viewer: MastodonUser | None, id: str) -> _Response:
        """methods/accounts#statuses, newest first, paged as api/guidelines#pagination says, with a Link header.
        A status shows here only ``timeline_lag`` seconds after it was made."""
        user = self.users.get(id)
        if user is None:
            return _error(404, NOT_FOUND)
        try:
            limit = max(1, min(int(request.value("limit") or 20), 40))  # DEFAULT_STATUSES_LIMIT 20, MAX 40
            max_id, since_id, min_id = (int(request.value(k) or 0) or None for k in ("max_id", "since_id", "min_id"))
        except ValueError:
            return _error(400, "Invalid pagination parameter")
        now = self.clock()
        shown = [s for s in user.statuses if self.shown_from.get(s.id, 0) <= now and self._visible(s, viewer)]
        if request.value("exclude_replies") in ("1", "true"):
            shown = [s for s in shown if s.in_reply_to_id is None or s.in_reply_to_account_id == user.id]
        if request.value("only_media") in ("1", "true"):
            shown = [s for s in shown if s.media_ids]
        if request.value("pinned") in ("1", "true"):
            shown = []
        shown = [s for s in shown if (max_id is None or int(s.id) < max_id)
                 and (since_id is None or int(s.id) > since_id) and (min_id is None or int(s.id) > min_id)]
        shown.sort(key=lambda s: int(s.id))
        page = list(reversed(shown[:limit] if min_id is not None else shown[-limit:]))
        links = []
        base = f"{self.url}/api/v1/accounts/{id}/statuses"
        if len(page) == limit:
            links.append(f'<{base}?{urlencode({"limit": limit, "max_id": page[-1].id})}>; rel="next"')
        if page:
            links.append(f'<{base}?{urlencode({"limit": limit, "min_id": page[0].id})}>; rel="prev"')
        return _Response(200, [self._status_json(s) for s in page], {"Link": ", ".join(links)} if links else {})

    def _create_status(self, request: _Request, user: MastodonUser) -> _Response:
        """methods/statuses#create, checked in the order app/controllers/api/v1/statuses_controller.rb and
        app/services/post_status_service.rb check it."""
        parent_id = request.value("in_reply_to_id")
        parent = self.statuses.get(parent_id) if parent_id else None
        if parent_id and (parent is None or not self._visible(parent, user)):
            return _error(404, REPLY_NOT_FOUND)
        key = request.idempotency_key
        if key:  # a repeat within the hour returns the first status, whatever it asks (methods/statuses#create)
            earlier = self._idempotency.get((user.id, key))
            if earlier and earlier[1] > self.clock():
                return _Response(200, self._status_json(self.statuses[earlier[0]]))
        if request.value("scheduled_at") or request.values("poll[options]"):
            return _error(422, "scheduled statuses and polls are not supported by this fake")
        media_ids = request.values("media_ids")
        if len(media_ids) > self.max_media_attachments:
            return _error(422, f"Cannot attach more than {self.max_media_attachments} files")
        attachable = [m for m in media_ids if m in self.media and self.media[m].account_id == user.id
                      and self.media[m].status_id is None]
        missing = [m for m in media_ids if m not in attachable]
        if missing:
            return _error(422, f"Media {', '.join(missing)} not found or already attached to another post")
        if any(not self.media[m].processed for m in media_ids):
            return _error(422, NOT_READY)
        text, spoiler = request.value("status") or "", request.value("spoiler_text") or ""
        if not text.strip() and not media_ids:
            return _error(422, TEXT_BLANK)
        visibility = request.value("visibility") or "public"
        if visibility not in ("public", "unlisted", "private", "direct"):
            return _error(422, "Validation failed: Visibility is not included in the list")  # wording guessed
        if status_length(text, spoiler, self.characters_reserved_per_url) > self.max_characters:
            return _error(422, f"Validation failed: Text character limit of {self.max_characters} exceeded")
        limit, period = self.rate_limits["statuses"]  # app/lib/rate_limiter.rb: the statuses family
        now = self.clock()
        window = ("statuses", user.id, int(now // period))
        if self._hits.get(window, 0) >= limit:
            return _error(429, TOO_MANY_REQUESTS, self._limit_headers(limit, 0, (int(now // period) + 1) * period))
        self._hits[window] = self._hits.get(window, 0) + 1
        language = request.value("language")
        status = MastodonStatus(
            self._new_id(now), user.id, text, now, parent.id if parent else None,
            parent.account_id if parent else None, visibility,
            language if language and re.fullmatch(r"[a-z]{2,3}", language) else "en",
            request.value("sensitive") in ("1", "true", "True"), spoiler, media_ids,
            self._caller.app.name if self._caller else None, key)
        for media_id in media_ids:
            self.media[media_id].status_id = status.id
        self._store(user, status)
        self.shown_from[status.id] = now + self.timeline_lag
        if key:
            self._idempotency[(user.id, key)] = (status.id, now + self.idempotency_ttl)
        return _Response(200, self._status_json(status))

    def _store(self, user: MastodonUser, status: MastodonStatus) -> None:
        self.statuses[status.id] = status
        user.statuses.append(status)
        user.statuses.sort(key=lambda s: int(s.id))

    def _new_id(self, moment: float) -> str:
        """Snowflake-like ids (api/guidelines#id): milliseconds shifted left 16 bits, so they sort by time."""
        return str((int(moment * 1000) << 16) | (next(self._sequence) & 0xFFFF))

    # -- media ---------------------------------------------------------------------------------------------

    def _media_json(self, media: MastodonMedia) -> dict[str, Any]:
        """entities/MediaAttachment; ``url`` is null until processing ends (methods/media#v2)."""
        files = f"{self.url}/system/media_attachments/files/{media.id}"
        ext = IMAGE_TYPES[media.mime_type].lower()
        original = {"width": media.width, "height": media.height, "size": f"{media.width}x{media.height}",
                    "aspect": media.width / media.height}
        meta: dict[str, Any] = {"original": original, "small": original}
        if media.focus:
            meta["focus"] = {"x": media.focus[0], "y": media.focus[1]}
        return {"id": media.id, "type": "image", "url": f"{files}/original/{media.id}.{ext}" if media.processed
                else None, "preview_url": f"{files}/small/{media.id}.{ext}", "remote_url": None,
                "preview_remote_url": None, "text_url": None, "meta": meta, "description": media.description,
                "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}"}

    def _describe(self, media: MastodonMedia, request: _Request) -> _Response | None:
        description, focus = request.value("description"), request.value("focus")
        if description is not None and len(description) > self.description_limit:
            return _error(422, f"Validation failed: Description is too long (maximum is {self.description_limit} "
                               "characters)")
        if description is not None:
            media.description = description
        if focus:
            try:
                x, y = (float(part) for part in focus.split(","))
            except ValueError:
                return _error(422, "Validation failed: Focus is invalid")
            media.focus = (x, y)
        return None

    def _create_media(self, request: _Request, user: MastodonUser, v: str) -> _Response:
        """methods/media#v2: 200 when processed at once, 202 (``url`` null) when it goes on in the background.
        Since 4.0 a server processes images at once; here an image over ``async_media_over`` bytes takes the
        202 path, as video does there. v1 always answers when processed."""
        upload = request.files.get("file")
        if upload is None:
            return _error(422, "Validation failed: File can't be blank")
        declared, data = upload
        if declared not in IMAGE_TYPES:
            return _error(422, BAD_FILE_TYPE)
        if len(data) > self.image_size_limit:
            return _error(422, f"Validation failed: File file size must be less than "
                               f"{self.image_size_limit // 1_048_576} MB")
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height, kind = image.width, image.height, image.format
        except Exception:
            return _error(422, UNVERIFIED_FILE)
        if kind != IMAGE_TYPES[declared]:
            return _error(422, UNVERIFIED_FILE)
        slow = v == "2" and self.async_media_over is not None and len(data) > self.async_media_over
        media = MastodonMedia(self._new_id(self.clock()), user.id, declared, len(data), width, height,
                              polls_left=self.processing_polls if slow else 0, processed=not slow)
        refused = self._describe(media, request)
        if refused:
            return refused
        self.media[media.id] = media
        return _Response(202 if slow else 200, self._media_json(media))

    def _own_unattached(self, user: MastodonUser, id: str) -> MastodonMedia | None:
        # api/v1/media_controller.rb: current_account.media_attachments.where(status_id: nil).find(id)
        media = self.media.get(id)
        return media if media and media.account_id == user.id and media.status_id is None else None

    def _show_media(self, request: _Request, user: MastodonUser, id: str) -> _Response:
        """methods/media#get: 206 while processing, then 200."""
        media = self._own_unattached(user, id)
        if media is None:
            return _error(404, NOT_FOUND)
        if not media.processed and media.polls_left > 0:
            media.polls_left -= 1
        else:
            media.processed = True
        return _Response(200 if media.processed else 206, self._media_json(media))

    def _update_media(self, request: _Request, user: MastodonUser, id: str) -> _Response:
        """methods/media#update: description and focus of media not yet attached."""
        media = self._own_unattached(user, id)
        if media is None:
            return _error(404, NOT_FOUND)
        refused = self._describe(media, request)
        return refused or _Response(200 if media.processed else 206, self._media_json(media))


def _parse(method: str, raw_path: str, path: str, headers: Any, body: bytes) -> _Request:
    """Query string, then a form, multipart or JSON body, into one set of fields (as Rails merges params)."""
    params: dict[str, list[str]] = {k: list(v) for k, v in parse_qs(urlsplit(raw_path).query,
                                                                     keep_blank_values=True).items()}
    files: dict[str, tuple[str, bytes]] = {}
    content_type = headers.get("Content-Type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        for key, values in parse_qs(body.decode(), keep_blank_values=True).items():
            params.setdefault(key, []).extend(values)
    elif content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        for part in message.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            payload = bytes(part.get_payload(decode=True))
            if part.get_filename() is not None:
                files[name] = (part.get_content_type(), payload)
            else:
                params.setdefault(name, []).append(payload.decode())
    elif content_type.startswith("application/json") and body:
        for key, value in json.loads(body).items():
            if isinstance(value, list):
                params.setdefault(key, []).extend(str(v) for v in value)
            elif isinstance(value, bool):
                params.setdefault(key, []).append("true" if value else "false")
            elif value is not None and not isinstance(value, dict):
                params.setdefault(key, []).append(str(value))
    return _Request(method, path, params, files, headers.get("Authorization"), headers.get("Idempotency-Key"))
