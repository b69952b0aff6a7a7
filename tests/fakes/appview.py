"""An HTTP-level stand-in for a Bluesky AppView, answering ``app.bsky.feed.getPosts`` from the reference PDS's own
records, for publisher's results reader to talk to through atproto's real HTTP code.

The reference AppView (``@atproto/bsky``) indexes the whole network from the firehose into Postgres; this fake
reads instead, at each request, the records of the accounts a test names (``watch``) with
``com.atproto.repo.listRecords``: their likes and reposts of a post, their posts replying to it (as ``parent``)
and their posts quoting it (``app.bsky.embed.record``, or ``recordWithMedia``). It answers in the AppView's shape
(``posts: [{uri, cid, author, record, likeCount, repostCount, replyCount, quoteCount, indexedAt}]``), leaves out
posts that are not there (deleted), and refuses more than 25 uris (400), as the lexicon does. It can be told to
answer the n-th request with an error status (``fail``).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from fakes.local_pds import LAUNCHER, LocalPDS, free_port

MAX_URIS = 25  # app.bsky.feed.getPosts: uris maxLength


@dataclass
class AppViewFault:
    nth: int  # the n-th getPosts request (1-based)
    status: int  # e.g. 429 (with ratelimit-reset), 500, 502


class FakeAppView:
    def __init__(self, pds_url: str = "", watched: tuple[str, ...] = ()):
        self.pds_url = pds_url
        self.watched: list[str] = list(watched)  # the DIDs whose likes, reposts, replies and quotes count
        self.faults: list[AppViewFault] = []
        self.calls: list[list[str]] = []  # the uris of each getPosts request, in order
        self.authorizations: list[str | None] = []  # each request's Authorization header (a PDS proxy signs)
        self.url = ""
        self._lock = threading.Lock()

    def watch(self, *dids: str) -> None:
        self.watched += [did for did in dids if did not in self.watched]

    # -- server --------------------------------------------------------------------------------------------

    def start(self) -> str:
        view = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/xrpc/app.bsky.feed.getPosts":
                    return self._reply(404, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})
                uris = parse_qs(parts.query).get("uris", [])
                with view._lock:
                    view.calls.append(uris)
                    view.authorizations.append(self.headers.get("Authorization"))
                    nth = len(view.calls)
                fault = next((f for f in view.faults if f.nth == nth), None)
                if fault is not None:
                    headers = {"ratelimit-limit": "3000", "ratelimit-remaining": "0",
                               "ratelimit-reset": str(int(time.time()) + 30)} if fault.status == 429 else {}
                    return self._reply(fault.status, {"error": "Injected", "message": f"fault {fault.status}"},
                                       headers)
                if not uris:
                    return self._reply(400, {"error": "InvalidRequest", "message": 'Error: Params must have the '
                                                                                   'property "uris"'})
                if len(uris) > MAX_URIS:
                    return self._reply(400, {"error": "InvalidRequest",
                                             "message": f"Error: uris must not have more than {MAX_URIS} elements"})
                if not all(uri.startswith("at://") for uri in uris):
                    return self._reply(400, {"error": "InvalidRequest", "message": "Error: uris must be valid at-uris"})
                self._reply(200, {"posts": view.posts(uris)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # stop() does not wait for a client's idle kept-alive connection
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- answers -------------------------------------------------------------------------------------------

    def posts(self, uris: list[str]) -> list[dict[str, Any]]:
        """The post views of those uris that exist, in the order asked (each once)."""
        with httpx.Client(base_url=self.pds_url, timeout=30) as pds:
            records = {did: self._records(pds, did) for did in self.watched}
            views = []
            for uri in dict.fromkeys(uris):
                did, collection, rkey = uri.removeprefix("at://").split("/", 2)
                found = pds.get("/xrpc/com.atproto.repo.getRecord",
                                params={"repo": did, "collection": collection, "rkey": rkey})
                if found.status_code != 200 or collection != "app.bsky.feed.post":
                    continue  # deleted (RecordNotFound), or not a post
                described = pds.get("/xrpc/com.atproto.repo.describeRepo", params={"repo": did}).json()
                views.append(self._view(found.json(), {"did": did, "handle": described["handle"]}, records))
            return views

    @staticmethod
    def _records(pds: httpx.Client, did: str) -> dict[str, list[dict[str, Any]]]:
        """The account's likes, reposts and posts: their record values."""
        kept: dict[str, list[dict[str, Any]]] = {}
        for collection in ("app.bsky.feed.like", "app.bsky.feed.repost", "app.bsky.feed.post"):
            values, cursor = [], None
            while True:
                params: dict[str, Any] = {"repo": did, "collection": collection, "limit": 100}
                if cursor:
                    params["cursor"] = cursor
                page = pds.get("/xrpc/com.atproto.repo.listRecords", params=params).json()
                values += [record["value"] for record in page.get("records", [])]
                cursor = page.get("cursor")
                if not cursor or not page.get("records"):
                    break
            kept[collection] = values
        return kept

    @staticmethod
    def _view(found: dict[str, Any], author: dict[str, str], records: dict[str, dict[str, list[dict[str, Any]]]]
              ) -> dict[str, Any]:
        uri = found["uri"]

        def quoted(post: dict[str, Any]) -> str | None:
            embed = post.get("embed") or {}
            if embed.get("$type") == "app.bsky.embed.record":
                return str((embed.get("record") or {}).get("uri"))
            if embed.get("$type") == "app.bsky.embed.recordWithMedia":
                return str(((embed.get("record") or {}).get("record") or {}).get("uri"))
            return None

        likes = reposts = replies = quotes = 0
        for kept in records.values():
            likes += sum(1 for like in kept["app.bsky.feed.like"] if like["subject"]["uri"] == uri)
            reposts += sum(1 for repost in kept["app.bsky.feed.repost"] if repost["subject"]["uri"] == uri)
            posts = kept["app.bsky.feed.post"]
            replies += sum(1 for post in posts if ((post.get("reply") or {}).get("parent") or {}).get("uri") == uri)
            quotes += sum(1 for post in posts if quoted(post) == uri)
        return {"uri": uri, "cid": found["cid"], "author": {**author, "labels": []}, "record": found["value"],
                "replyCount": replies, "repostCount": reposts, "likeCount": likes, "quoteCount": quotes,
                "bookmarkCount": 0, "indexedAt": datetime.now(UTC).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"), "labels": []}


def start_pds_using(appview: FakeAppView, data_dir: Path) -> LocalPDS:
    """The reference PDS with ``appview`` as its AppView (PDS_BSKY_APP_VIEW_URL): it proxies the app.bsky.* calls
    of its accounts there, signed with a service token; the fake then reads this PDS's records."""
    pds = LocalPDS(data_dir)
    env = {**os.environ, "PDS_BSKY_APP_VIEW_URL": appview.url, "PDS_BSKY_APP_VIEW_DID": "did:web:localhost"}
    pds.process = subprocess.Popen(
        ["node", str(LAUNCHER), str(free_port()), str(free_port()), str(data_dir)], cwd=LAUNCHER.parent, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert pds.process.stdout is not None
    line = pds.process.stdout.readline()
    if not line:
        error = pds.process.stderr.read() if pds.process.stderr else ""
        raise RuntimeError(f"the PDS did not start: {error[-2000:]}")
    pds.url = json.loads(line)["url"]
    appview.pds_url = pds.url
    return pds
