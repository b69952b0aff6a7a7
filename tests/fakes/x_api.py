"""A local fake of the X API v2, enforcing X's real rules, for tweepy's real HTTP code to talk to.

Checks the OAuth 1.0a signature (HMAC-SHA1 over the api.twitter.com URL the client signed), 280 weighted
characters (twitter-text v3), at most 4 media that were uploaded (v2 media flow), alt text at most 1000
characters, duplicate content (403), that a reply's parent exists, a posting rate limit (429 with
x-rate-limit-reset), and optional reply restrictions; it can be told to fail or hang on the n-th request. Like
X, it can show a new post in the account's timeline only ``timeline_lag`` seconds after making it (duplicate
checks and replies see it at once). It serves posts' ``public_metrics`` (``GET /2/tweets?ids=``, 1 to 100 ids,
a post it cannot find reported in ``errors``), as a test sets them with ``set_metrics``.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from oauthlib.oauth1.rfc5849 import signature
from twitter_text import parse_tweet
from twitter_text.config import config

SIGNED_HOST = "https://api.twitter.com"
CONSUMER_KEY, CONSUMER_SECRET = "fake-consumer-key", "fake-consumer-secret-x9"
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
REPLY_REFUSED = ("Reply to this conversation is not allowed because you have not been mentioned or otherwise "
                 "engaged by the author of the post you are replying to.")


@dataclass
class XUser:
    id: str
    username: str
    token: str
    token_secret: str
    tweets: list[dict[str, Any]] = field(default_factory=list)
    post_times: list[float] = field(default_factory=list)  # X limits posting per user


@dataclass
class XFault:
    path: str  # e.g. /2/tweets
    nth: int  # the n-th request to it (1-based, counted over all users)
    kind: str  # 500, 429, reset_before (drop the connection unread), accept_then_reset, accept_then_hang,
    #            accept_then_empty, accept_then_500, accept_then_garbage, accept_then_broken_chunks, echo_auth
    hang: float = 5.0


class FakeXAPI:
    def __init__(self, posts_per_window: int = 300, window: int = 900, timeline_lag: float = 0.0):
        self.users: dict[str, XUser] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.faults: list[XFault] = []
        self.counts: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        self.restrict_replies = False
        self.posts_per_window, self.window = posts_per_window, window
        self.timeline_lag = timeline_lag  # seconds before a new post shows in GET /2/users/:id/tweets
        self.shown_from: dict[str, float] = {}  # post id -> when it shows in the timeline (absent: at once)
        self.metrics: dict[str, dict[str, int]] = {}  # post id -> public_metrics a test set
        self._ids = itertools.count(1_900_000_000_000_000_000)
        self._lock = threading.Lock()

    def add_user(self, username: str) -> XUser:
        user = XUser(str(next(self._ids)), username, f"token-{username}", f"token-secret-{username}-7")
        self.users[user.token] = user
        return user

    def add_tweet(self, user: XUser, text: str, age: float, reply_to: str | None = None) -> dict[str, Any]:
        """A post made ``age`` seconds ago (by hand, or by an earlier thread), as if it had always been there."""
        tweet: dict[str, Any] = {"id": str(next(self._ids)), "text": text, "edit_history_tweet_ids": [],
                                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - age)),
                                 "media": []}
        if reply_to is not None:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": reply_to}]
        user.tweets.append(tweet)
        return tweet

    def set_metrics(self, tweet_id: str, likes: int = 0, reposts: int = 0, replies: int | None = None,
                    quotes: int = 0) -> None:
        """A post's public metrics from now on; ``replies`` None: the replies to it that the fake holds."""
        counts = {"like_count": likes, "retweet_count": reposts, "quote_count": quotes}
        self.metrics[tweet_id] = counts if replies is None else {**counts, "reply_count": replies}

    def delete_tweet(self, tweet_id: str) -> None:
        for user in self.users.values():
            user.tweets = [t for t in user.tweets if t["id"] != tweet_id]

    def credentials(self, user: XUser) -> dict[str, str]:
        return {"PUBLISHER_X_API_KEY": CONSUMER_KEY, "PUBLISHER_X_API_SECRET": CONSUMER_SECRET,
                "PUBLISHER_X_ACCESS_TOKEN": user.token, "PUBLISHER_X_ACCESS_TOKEN_SECRET": user.token_secret}

    # -- server --------------------------------------------------------------------------------------------

    def start(self) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                path = urlsplit(self.path).path
                with api._lock:
                    api.counts[path] = api.counts.get(path, 0) + 1
                    nth = api.counts[path]
                    api.requests.append((self.command, path))
                fault = next((f for f in api.faults if f.path == path and f.nth == nth), None)
                length = int(self.headers.get("Content-Length") or 0)
                if fault and fault.kind == "reset_before":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                body = self.rfile.read(length) if length else b""
                if fault and fault.kind in ("500", "429"):
                    headers = {"x-rate-limit-reset": str(int(time.time()) + 2)} if fault.kind == "429" else {}
                    return self._reply(int(fault.kind), {"title": "fault", "detail": "injected", "status": 500},
                                       headers)
                user = api._authenticate(self.command, self.path, self.headers, body)
                if user is None:
                    return self._reply(401, {"title": "Unauthorized", "detail": "Unauthorized", "status": 401})
                status, payload, headers = api._route(self.command, path, self.headers, body, user,
                                                      urlsplit(self.path).query)
                if fault and fault.kind == "accept_then_reset":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault and fault.kind == "accept_then_hang":
                    time.sleep(fault.hang)
                if fault and fault.kind == "accept_then_500":  # written, then an error answer all the same
                    return self._reply(500, {"title": "fault", "detail": "injected", "status": 500})
                if fault and fault.kind == "accept_then_empty":  # JSON, but without the data asked for
                    return self._reply(200, {"data": {}})
                if fault and fault.kind == "accept_then_garbage":  # a body that is not JSON
                    data = b"<html>upstream error</html>"
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if fault and fault.kind == "accept_then_broken_chunks":  # a chunked body that breaks off
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"zz\r\n{\"data\"\r\n")
                    self.close_connection = True
                    return
                if fault and fault.kind == "echo_auth":  # an error that quotes the request's credentials back
                    return self._reply(400, {"title": "Invalid Request", "status": 400,
                                             "detail": f"bad request: {self.headers.get('Authorization')}",
                                             "errors": [{"message": f"bad: {self.headers.get('Authorization')}"}]})
                self._reply(status, payload, headers)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # stop() does not wait for a client's idle kept-alive connection
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- rules ---------------------------------------------------------------------------------------------

    def _authenticate(self, method: str, raw_path: str, headers: Any, body: bytes) -> XUser | None:
        """OAuth 1.0a: the signature must be right for the URL the client signed (api.twitter.com)."""
        header = headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return None
        oauth = {k: unquote(v.strip('"')) for k, v in
                 (item.strip().split("=", 1) for item in header[len("OAuth "):].split(","))}
        user = self.users.get(oauth.get("oauth_token", ""))
        if user is None or oauth.get("oauth_consumer_key") != CONSUMER_KEY:
            return None
        if oauth.get("oauth_signature_method") != "HMAC-SHA1":
            return None
        query = urlsplit(raw_path).query
        form = body.decode() if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded") else ""
        params = [(k, v) for k, v in oauth.items() if k != "oauth_signature" and k != "realm"]
        params += parse_qsl(query, keep_blank_values=True) + parse_qsl(form, keep_blank_values=True)
        base = signature.signature_base_string(
            method, signature.base_string_uri(SIGNED_HOST + urlsplit(raw_path).path),
            signature.normalize_parameters(params))
        with warnings.catch_warnings():  # the plain-function form is deprecated but does exactly this
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = signature.sign_hmac_sha1(base, CONSUMER_SECRET, user.token_secret)
        return user if expected == oauth.get("oauth_signature") else None

    def _route(self, method: str, path: str, headers: Any, body: bytes, user: XUser,
               query: str = "") -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "GET" and path == "/2/users/me":
            return 200, {"data": {"id": user.id, "name": user.username, "username": user.username}}, {}
        if method == "GET" and path == f"/2/users/{user.id}/tweets":
            now = time.time()
            shown = [t for t in user.tweets if self.shown_from.get(t["id"], now) <= now]
            newest_first = [{k: v for k, v in t.items() if k != "media"} for t in reversed(shown)][:100]
            return 200, {"data": newest_first, "meta": {"result_count": len(newest_first)}}, {}
        if method == "POST" and path == "/2/media/upload":
            return self._upload(headers, body, user)
        if method == "POST" and path == "/2/media/metadata":
            return self._metadata(json.loads(body or b"{}"), user)
        if method == "POST" and path == "/2/tweets":
            return self._create(json.loads(body or b"{}"), user)
        if method == "GET" and path == "/2/tweets":
            return self._lookup(dict(parse_qsl(query, keep_blank_values=True)))
        return 404, {"title": "Not Found", "status": 404}, {}

    @staticmethod
    def _bad(detail: str, status: int = 400) -> tuple[int, dict[str, Any], dict[str, str]]:
        title = {400: "Invalid Request", 403: "Forbidden"}.get(status, "Error")
        return status, {"title": title, "detail": detail, "status": status, "errors": [{"message": detail}]}, {}

    def _lookup(self, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """GET /2/tweets: the posts found, in the order asked, and an error for each id not found."""
        ids = [i for i in params.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            return self._bad(f"The number of values in the `ids` query parameter list [{len(ids)}] is not between "
                             "1 and 100")
        if not all(i.isdigit() for i in ids):
            return self._bad("The `ids` query parameter value is not valid")
        all_tweets = {t["id"]: t for u in self.users.values() for t in u.tweets}
        fields = params.get("tweet.fields", "").split(",")
        data, errors = [], []
        for tweet_id in ids:
            tweet = all_tweets.get(tweet_id)
            if tweet is None:
                errors.append({"value": tweet_id, "detail": f"Could not find tweet with ids: [{tweet_id}].",
                               "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                               "resource_id": tweet_id, "type": "https://api.twitter.com/2/problems/resource-not-found"})
                continue
            found = {"id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}
            if "public_metrics" in fields:
                replies = sum(1 for t in all_tweets.values()
                              if {"type": "replied_to", "id": tweet_id} in t.get("referenced_tweets", []))
                found["public_metrics"] = {"retweet_count": 0, "reply_count": replies, "like_count": 0,
                                           "quote_count": 0, "bookmark_count": 0, "impression_count": 0,
                                           **self.metrics.get(tweet_id, {})}
            data.append(found)
        return 200, {**({"data": data} if data else {}), **({"errors": errors} if errors else {})}, {}

    def _upload(self, headers: Any, body: bytes, user: XUser) -> tuple[int, dict[str, Any], dict[str, str]]:
        content_type = headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            return self._bad("media upload must be multipart/form-data")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                  for part in message.iter_parts()}
        media = fields.get("media")
        if not media:
            return self._bad("no media field")
        if len(media) > 5_000_000:
            return self._bad("image over 5 MB")
        if not media.startswith(b"\x89PNG\r\n\x1a\n"):
            return self._bad("not a PNG")
        media_id = str(next(self._ids))
        self.media[media_id] = {"owner": user.id, "size": len(media), "alt": None, "used": False}
        return 200, {"data": {"id": media_id, "media_key": f"3_{media_id}", "size": len(media),
                              "expires_after_secs": 86400}}, {}

    def _metadata(self, payload: dict[str, Any], user: XUser) -> tuple[int, dict[str, Any], dict[str, str]]:
        media = self.media.get(str(payload.get("id")))
        if media is None or media["owner"] != user.id:
            return self._bad("unknown media id")
        alt = payload.get("metadata", {}).get("alt_text", {}).get("text", "")
        if len(alt) > 1000:
            return self._bad("alt text is over 1000 characters")
        media["alt"] = alt
        return 200, {"data": {"id": payload["id"], "associated_metadata": payload["metadata"]}}, {}

    def _create(self, payload: dict[str, Any], user: XUser) -> tuple[int, dict[str, Any], dict[str, str]]:
        text = payload.get("text", "")
        if parse_tweet(text, config["version3"]).weightedLength > 280:
            return self._bad("text is over 280 weighted characters")
        media_ids = payload.get("media", {}).get("media_ids", [])
        if len(media_ids) > 4:
            return self._bad("at most 4 media")
        if any(self.media.get(m, {}).get("owner") != user.id for m in media_ids):
            return self._bad("unknown media id")
        parent = payload.get("reply", {}).get("in_reply_to_tweet_id")
        all_tweets = {t["id"]: t for u in self.users.values() for t in u.tweets}
        if parent is not None and parent not in all_tweets:
            return self._bad("the post you are replying to does not exist")
        if parent is not None and self.restrict_replies:
            return self._bad(REPLY_REFUSED, 403)
        if any(t["text"] == text for t in user.tweets):
            return self._bad(DUPLICATE, 403)
        now = time.time()
        with self._lock:
            user.post_times = [t for t in user.post_times if now - t < self.window]
            if len(user.post_times) >= self.posts_per_window:
                reset = int(min(user.post_times) + self.window)
                return 429, {"title": "Too Many Requests", "status": 429}, {"x-rate-limit-reset": str(reset)}
            user.post_times.append(now)
        tweet: dict[str, Any] = {"id": str(next(self._ids)), "text": text, "edit_history_tweet_ids": [],
                                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))}
        if parent is not None:
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent}]
        tweet["media"] = [{"id": m, "alt": self.media[m]["alt"]} for m in media_ids]
        self.shown_from[tweet["id"]] = now + self.timeline_lag
        user.tweets.append(tweet)
        public = {k: v for k, v in tweet.items() if k not in ("media",)}
        return 201, {"data": {"id": public["id"], "text": text, "edit_history_tweet_ids": [public["id"]]}}, {}
