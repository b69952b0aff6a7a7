"""X: weighted counting by the twitter-text rules, the posting cost, and the posting adapter (tweepy, lazily)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from publisher.errors import (
    AuthError,
    BadArgument,
    DuplicateContent,
    MissingCredentials,
    NotYetVisible,
    OutcomeUnknown,
    PublisherError,
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
    UnavailablePlatform,
    secret_set,
)
from publisher.richtext import has_link
from publisher.schema import EnvName, Mention
from publisher.text import trim_alt
from publisher.timeline import PostLinks

if TYPE_CHECKING:
    from publisher.config import Campaign
    from publisher.quotes import Collection, Quote

LIMITS = Limits(max_length=280, unit="weighted characters", max_alt=1000, max_image_bytes=5_000_000)
# Pay-per-use prices (April 2026), US dollars.
PRICE_PER_POST = 0.015
PRICE_PER_POST_WITH_URL = 0.20
PRICE_PER_ALT_TEXT = 0.005
PRICE_PER_OWNED_READ = 0.001  # reading one of the account's own posts; X charges each post once per UTC day


def weighted_length(text: str, emoji_parsing: bool = True) -> int:
    """twitter-text's weighted length: config v3 (emoji count 2 each) by default; v2 counts every code point."""
    from publisher.compat import import_twitter_text

    import_twitter_text()
    from twitter_text import parse_tweet
    from twitter_text.config import config

    options = config["version3"] if emoji_parsing else {**config["version2"], "emoji_parsing_enabled": False}
    return int(parse_tweet(text, options).weightedLength)


class XRules:
    name = "x"
    label = "X"
    limits = LIMITS

    def measure(self, text: str) -> Measure:
        return Measure(weighted_length(text), LIMITS.max_length, LIMITS.unit)


def post_cost(text: str, images: int) -> float:
    """What one post costs on X's pay-per-use API: the post, plus one metadata call per image's alt text."""
    return (PRICE_PER_POST_WITH_URL if has_link(text) else PRICE_PER_POST) + images * PRICE_PER_ALT_TEXT


# -- posting ------------------------------------------------------------------------------------------------

API = "https://api.twitter.com"
HTTP_TIMEOUT = 30.0  # seconds; tweepy's Client sets none
MEDIA_ID_LIFETIME = timedelta(hours=12)  # X keeps uploaded media 24 h; re-upload well before then
RECENT_POSTS = 50  # how far back reconciliation looks for a post whose outcome is unknown
CLOCK_SKEW = timedelta(minutes=5)  # how far X's clock and ours may disagree when matching a post to an attempt
# How long X may take to show a new post in GET /2/users/:id/tweets. X documents no bound (its timelines are
# eventually consistent): an assumption, chosen long, as waiting costs minutes and trusting too soon a duplicate.
TIMELINE_LAG = timedelta(minutes=5)
_REPLY_REFUSED = ("not allowed", "mentioned", "engaged", "reply")


def _session_adapter(timeout: float, base: str | None) -> Any:
    """A transport for tweepy's requests session with a timeout, and (for tests only) a local server as host;
    tweepy has already signed the request, so its real OAuth and HTTP code run either way."""
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            kwargs["timeout"] = kwargs.get("timeout") or timeout
            if base and request.url.startswith(API):
                request.url = base.rstrip("/") + request.url[len(API):]
            return super().send(request, **kwargs)

    return TimeoutAdapter()


def _reset_time(response: Any) -> datetime:
    reset = response.headers.get("x-rate-limit-reset") if response is not None else None
    if reset and str(reset).isdigit():
        return datetime.fromtimestamp(int(reset), UTC)
    return datetime.now(UTC) + timedelta(minutes=15)  # X's window when it gives no reset


@contextmanager
def _mapped_errors(stage: str, where: str = "X at api.twitter.com") -> Iterator[None]:
    """Every tweepy and requests error becomes one of ours, here and only here. ``where`` names the server a
    connection failure is about."""
    import requests
    import tweepy

    try:
        yield
    except tweepy.TooManyRequests as exc:
        raise RateLimited("X rate limit reached", _reset_time(exc.response)) from exc
    except tweepy.Unauthorized as exc:
        raise AuthError("X refused the credentials (401)",
                        "check the four PUBLISHER_X_* variables and that the app has read and write access") from exc
    except tweepy.Forbidden as exc:
        detail = " ".join(exc.api_messages) or str(exc)
        if "duplicate" in detail.lower():
            raise DuplicateContent("X refused this post as duplicate content: the account has already posted "
                                   f"the same text ({detail})") from exc
        if stage == "publish" and any(word in detail.lower() for word in _REPLY_REFUSED):
            raise Rejected(f"X refused the reply: {detail}",
                           "X restricts API replies for some accounts; the rest of this thread stays queued. "
                           "Post it by hand from the preview, then run publisher queue cancel") from exc
        raise Rejected(f"X refused it (403): {detail}") from exc
    except (tweepy.BadRequest, tweepy.NotFound) as exc:
        raise Rejected(f"X refused it: {' '.join(exc.api_messages) or exc}") from exc
    except tweepy.TwitterServerError as exc:
        if stage == "publish":
            raise OutcomeUnknown(f"X answered {exc.response.status_code} to the post") from exc
        raise Transient(f"X answered {exc.response.status_code}") from exc
    except tweepy.HTTPException as exc:
        raise Transient(f"X answered {exc.response.status_code}") from exc
    except (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError) as exc:
        raise Transient(f"could not reach {where} ({type(exc).__name__})",
                        "check the network (and PUBLISHER_X_API_BASE, if set)") from exc
    except requests.exceptions.ConnectionError as exc:
        refused = "NewConnectionError" in repr(exc) or "Connection refused" in str(exc)
        if stage == "publish" and not refused:
            raise OutcomeUnknown(f"the connection to {where} failed after the post was sent ({type(exc).__name__})"
                                 ) from exc
        raise Transient(f"could not reach {where} ({type(exc).__name__})",
                        "check the network (and PUBLISHER_X_API_BASE, if set)") from exc
    except requests.exceptions.Timeout as exc:
        if stage == "publish":
            raise OutcomeUnknown("X did not answer in time after the post was sent") from exc
        raise Transient("X did not answer in time") from exc
    except (requests.exceptions.RequestException, tweepy.TweepyException, json.JSONDecodeError,
            UnicodeDecodeError) as exc:
        # anything else on the way back (a broken chunked body, undecodable content, JSON that is not): an answer
        # we could not read, so a post may have been written. Any other ValueError is a bug of ours: not caught
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if stage == "publish":
            raise OutcomeUnknown(f"X gave an answer publisher could not read after the post was sent ({what})") from exc
        raise Transient(f"X gave an answer publisher could not read ({what})") from exc


def _same_text(ours: str, theirs: str) -> bool:
    """X rewrites links to t.co: compare with every link blanked out."""
    pattern = r"https?://\S+"
    return re.sub(pattern, "<link>", ours).strip() == re.sub(pattern, "<link>", theirs).strip()


def _duration(lag: timedelta) -> str:
    seconds = lag.total_seconds()
    amount, unit = (seconds / 60, "minute") if seconds >= 60 else (seconds, "second")
    return f"{amount:g} {unit}" + ("" if amount == 1 else "s")


class XPlatform:
    """One X account. X has no idempotency key, so a part is sent again only once a search has shown it is not
    there: after an unknown outcome ``find`` searches the account's 50 most recent posts. X shows a new post in
    that timeline late, so a search that finds nothing is trusted only once the part's last send (``sent_at``) is
    ``timeline_lag`` old; before that ``find`` raises NotYetVisible and the poster looks again then. Never twice,
    on two assumptions: X shows every post within ``timeline_lag``, and the part is still among the account's
    ``RECENT_POSTS`` most recent posts when it is looked for; beyond them only X's duplicate check is left."""

    rules = XRules()
    idempotent = False
    prepared_ttl: timedelta | None = MEDIA_ID_LIFETIME

    def __init__(self, client: Any, account: str, now: Callable[[], datetime], where: str = "X at api.twitter.com",
                 timeline_lag: timedelta = TIMELINE_LAG):
        self.client = client
        self.account = account
        self.now = now
        self.where = where  # the server, as connection failures name it
        self.timeline_lag = timeline_lag
        self._me: tuple[str, str] | None = None

    @classmethod
    def from_account(cls, name: str, credentials: dict[str, str], now: Callable[[], datetime],
                     api_base: str | None = None, timeout: float = HTTP_TIMEOUT,
                     timeline_lag: timedelta = TIMELINE_LAG) -> XPlatform:
        import tweepy

        client = tweepy.Client(consumer_key=credentials["api_key"], consumer_secret=credentials["api_secret"],
                               access_token=credentials["access_token"],
                               access_token_secret=credentials["access_token_secret"])
        adapter = _session_adapter(timeout, api_base)
        client.session.mount("https://", adapter)
        client.session.mount("http://", adapter)
        where = f"X at {urlsplit(api_base).netloc}" if api_base else "X at api.twitter.com"
        return cls(client, name, now, where, timeline_lag)

    def _auth(self) -> Any:
        import tweepy

        c = self.client
        return tweepy.OAuth1UserHandler(c.consumer_key, c.consumer_secret, c.access_token,
                                        c.access_token_secret).apply_auth()

    def _call(self, method: str, route: str, **kwargs: Any) -> dict[str, Any]:
        """A v2 call tweepy has no method for, through its authenticated session, with its error classes."""
        import tweepy

        response = self.client.session.request(method, API + route, auth=self._auth(), **kwargs)
        for status, error in ((400, tweepy.BadRequest), (401, tweepy.Unauthorized), (403, tweepy.Forbidden),
                              (404, tweepy.NotFound)):
            if response.status_code == status:
                raise error(response)
        if response.status_code == 429:
            raise tweepy.TooManyRequests(response)
        if response.status_code >= 500:
            raise tweepy.TwitterServerError(response)
        if not 200 <= response.status_code < 300:
            raise tweepy.HTTPException(response)
        data: dict[str, Any] = response.json().get("data", {})
        return data

    def me(self) -> tuple[str, str]:
        """The account's user id and username (asked once)."""
        if self._me is None:
            with _mapped_errors("prepare", self.where):
                user = self.client.get_me(user_auth=True).data
            self._me = (str(user.id), str(user.username))
        return self._me

    def login(self) -> str:
        return "@" + self.me()[1]

    def prepare(self, draft: Draft, reply_to: ReplyTo | None) -> dict[str, Any]:
        """Upload the images and their alt text (v2 media endpoints)."""
        self.me()  # checks the credentials before anything is uploaded, and gives the username for links
        media_ids = []
        for image in draft.images:
            checkpoint("x:upload:before")
            with _mapped_errors("prepare", self.where):
                media = self._call("POST", "/2/media/upload", data={"media_category": "tweet_image",
                                                                    "media_type": "image/png"},
                                   files={"media": ("card.png", image.data, "image/png")})
                self._call("POST", "/2/media/metadata", json={
                    "id": media["id"], "metadata": {"alt_text": {"text": trim_alt(image.alt, LIMITS.max_alt)}}})
            checkpoint("x:upload:after")
            media_ids.append(str(media["id"]))
        return {"text": draft.text, "media_ids": media_ids, "reply_to": reply_to.parent.id if reply_to else None,
                "prepared_at": self.now().isoformat()}

    def _url(self, post_id: str) -> str:
        username = self._me[1] if self._me else "i/web"
        return f"https://x.com/{username}/status/{post_id}"

    def publish(self, prepared: dict[str, Any]) -> PostRef:
        checkpoint("x:create:before")
        with _mapped_errors("publish", self.where):
            response = self.client.create_tweet(text=prepared["text"], media_ids=prepared["media_ids"] or None,
                                                in_reply_to_tweet_id=prepared["reply_to"], user_auth=True)
        checkpoint("x:create:after")
        data = getattr(response, "data", None)
        if not isinstance(data, dict) or "id" not in data:
            raise OutcomeUnknown("X answered the post without saying where it is")
        post_id = str(data["id"])
        return PostRef(id=post_id, url=self._url(post_id))

    def find(self, prepared: dict[str, Any]) -> PostRef | None:
        """Look for the post among the account's recent posts: the same text, replying to the expected parent
        (or to nothing), and created after it was first sent (less a little clock skew), so that an older post
        with the same text, such as yesterday's identical intro, is never taken for it. Returns None only when the
        lookup worked, it is not there, and it was last sent long enough ago to show; raises NotYetVisible when
        it was sent too recently to be sure, and another PlatformError if the lookup itself fails."""
        user_id, _ = self.me()
        armed = datetime.fromisoformat(prepared.get("armed_at") or prepared["prepared_at"]) - CLOCK_SKEW
        checkpoint("x:find:before")
        with _mapped_errors("find", self.where):
            response = self.client.get_users_tweets(user_id, max_results=RECENT_POSTS, user_auth=True,
                                                    tweet_fields=["referenced_tweets", "created_at"])
        checkpoint("x:find:after")
        expected_parents = [prepared["reply_to"]] if prepared["reply_to"] else []
        for tweet in response.data or []:
            parents = [str(r.id) for r in (tweet.referenced_tweets or []) if r.type == "replied_to"]
            created = tweet.created_at
            if (_same_text(prepared["text"], tweet.text) and parents == expected_parents
                    and created is not None and created >= armed):
                return PostRef(id=str(tweet.id), url=self._url(str(tweet.id)))
        last_sent = prepared.get("sent_at") or prepared.get("armed_at")  # neither: never sent, nothing to wait for
        shows_by = datetime.fromisoformat(last_sent) + self.timeline_lag if last_sent else None
        if shows_by is not None and self.now() < shows_by:
            raise NotYetVisible(f"it is not among the account's recent posts yet, and X can take up to "
                                f"{_duration(self.timeline_lag)} to show a new post", shows_by)
        return None


# -- reading results --------------------------------------------------------------------------------------

TWEETS_PER_LOOKUP = 100  # GET /2/tweets takes at most 100 ids


class XResults:
    """Reads the public metrics of the account's posts, 100 a call (``GET /2/tweets``), with its credentials."""

    batch = TWEETS_PER_LOOKUP
    price_per_post: float | None = PRICE_PER_OWNED_READ

    def __init__(self, client: Any, where: str = "X at api.twitter.com"):
        self.client = client
        self.where = where

    def read(self, post_ids: list[str]) -> dict[str, Figures]:
        """The figures of each post X still has; one X cannot find (deleted) comes back as an error: left out."""
        wanted = list(dict.fromkeys(post_ids))
        figures: dict[str, Figures] = {}
        for start in range(0, len(wanted), self.batch):
            with _mapped_errors("read", self.where):
                response = self.client.get_tweets(wanted[start:start + self.batch], tweet_fields=["public_metrics"],
                                                  user_auth=True)
            for tweet in response.data or []:
                metrics = tweet.public_metrics or {}
                figures[str(tweet.id)] = Figures(_count(metrics, "like_count"), _count(metrics, "retweet_count"),
                                                 _count(metrics, "reply_count"), _count(metrics, "quote_count"))
        return figures


def _count(metrics: Mapping[str, Any], key: str) -> int | None:
    value = metrics.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class UnavailableResults:
    """An account whose credentials are missing: reading fails with the fix, as posting does."""

    batch = TWEETS_PER_LOOKUP
    price_per_post: float | None = PRICE_PER_OWNED_READ

    def __init__(self, error: PublisherError):
        self.error = error

    def read(self, post_ids: list[str]) -> dict[str, Figures]:
        raise self.error


# -- what publisher knows of X ----------------------------------------------------------------------------

API_BASE_ENV = "PUBLISHER_X_API_BASE"  # for tests against a local X API: the base URL replacing api.twitter.com
TIMELINE_LAG_ENV = "PUBLISHER_X_TIMELINE_LAG"  # for tests against a local X API: seconds it takes to show a post


def timeline_lag(env: dict[str, str]) -> timedelta:
    """PUBLISHER_X_TIMELINE_LAG in seconds, else how long real X may take to show a post (TIMELINE_LAG)."""
    value = env.get(TIMELINE_LAG_ENV)
    if not value:
        return TIMELINE_LAG
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise BadArgument(f"{TIMELINE_LAG_ENV}={value!r} is not a number of seconds from 0 to 3600 (unset it to "
                          "allow for real X, or give e.g. 2)")
    return timedelta(seconds=seconds)


class XAccount(PlatformAccount):
    reading_keys: ClassVar[frozenset[str]] = frozenset({"x_results"})

    platform: Literal["x"]
    handle: Mention | None = None
    x_results: bool = False  # reading results costs money on X (PRICE_PER_OWNED_READ a post a day): off by default
    api_key_env: EnvName = "PUBLISHER_X_API_KEY"
    api_secret_env: EnvName = "PUBLISHER_X_API_SECRET"
    access_token_env: EnvName = "PUBLISHER_X_ACCESS_TOKEN"
    access_token_secret_env: EnvName = "PUBLISHER_X_ACCESS_TOKEN_SECRET"

    @property
    def secret_variables(self) -> list[str]:
        return [self.api_key_env, self.api_secret_env, self.access_token_env, self.access_token_secret_env]

    @property
    def destination(self) -> str:
        who = self.handle if self.handle else f"the account whose token is in ${self.access_token_env}"
        return f"X {who}"


class X(PlatformKind):
    name = "x"
    label = "X"
    article = "an X"
    account_model = XAccount
    secret_keys: ClassVar[Mapping[str, tuple[str, str]]] = {
        "api_key": ("api_key_env", "PUBLISHER_X_API_KEY"), "consumer_key": ("api_key_env", "PUBLISHER_X_API_KEY"),
        "api_secret": ("api_secret_env", "PUBLISHER_X_API_SECRET"),
        "consumer_secret": ("api_secret_env", "PUBLISHER_X_API_SECRET"),
        "access_token": ("access_token_env", "PUBLISHER_X_ACCESS_TOKEN"),
        "access_token_secret": ("access_token_secret_env", "PUBLISHER_X_ACCESS_TOKEN_SECRET"),
        "token_secret": ("access_token_secret_env", "PUBLISHER_X_ACCESS_TOKEN_SECRET")}
    costs_money = True
    reading_off = (f"X charges for reads (${PRICE_PER_OWNED_READ:g} a post a day): set x_results = true on the "
                   "account to read them")
    refuses_repeats = True
    caption_column = "x_post"
    posting_by_hand = 'attach the image, tap "Add description" (or "+Alt"), paste the alt text, then paste the post.'
    links = PostLinks("https://x.com/hashtag/{}", "https://x.com/{}")

    def rules(self, account: PlatformAccount | None = None, cache: Any = None) -> PlatformRules:
        return XRules()

    def cost(self, text: str, images: int) -> float | None:
        return post_cost(text, images)

    def mentions(self, campaign: Campaign, collection: Collection, quote: Quote | None,
                 warnings: list[str]) -> list[str]:
        """The collection's handles are X handles: as written (unless the campaign's x_mentions is off)."""
        return collection.mentions_for(quote) if campaign.mentions and campaign.x_mentions else []

    def connect(self, name: str, account: PlatformAccount, context: PlatformContext) -> Platform:
        credentials = _credentials(name, account, context)
        if isinstance(credentials, MissingCredentials):
            return UnavailablePlatform(XRules(), credentials)
        return XPlatform.from_account(name, credentials, context.now, api_base=context.env.get(API_BASE_ENV),
                                      timeout=context.timeout, timeline_lag=timeline_lag(dict(context.env)))

    def reads_results(self, account: PlatformAccount) -> bool:
        return isinstance(account, XAccount) and account.x_results

    def results(self, name: str, account: PlatformAccount, context: PlatformContext) -> ResultsReader | None:
        """Off unless the account sets ``x_results = true``: each post read costs PRICE_PER_OWNED_READ a day."""
        assert isinstance(account, XAccount)
        if not self.reads_results(account):
            return None
        credentials = _credentials(name, account, context)
        if isinstance(credentials, MissingCredentials):
            return UnavailableResults(credentials)
        poster = XPlatform.from_account(name, credentials, context.now, api_base=context.env.get(API_BASE_ENV),
                                        timeout=context.timeout)
        return XResults(poster.client, poster.where)


def _credentials(name: str, account: PlatformAccount, context: PlatformContext) -> dict[str, str] | MissingCredentials:
    """The account's four secrets from the environment (registered for redaction), or what is missing, with the fix."""
    from publisher.redact import register

    assert isinstance(account, XAccount)
    names = {"api_key": account.api_key_env, "api_secret": account.api_secret_env,
             "access_token": account.access_token_env, "access_token_secret": account.access_token_secret_env}
    register(*(context.env.get(variable) for variable in names.values()))
    missing = [variable for variable in names.values() if not secret_set(context.env, variable)]
    if missing:
        return MissingCredentials(
            f"account {name}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in the "
            "environment", f"export the X app's keys and the account's access token, then publisher login x {name}")
    return {key: context.env[variable] for key, variable in names.items()}


PLATFORM = X()
